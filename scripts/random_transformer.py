"""BERT-shaped transformers with random weights, saved like ``save_pretrained``.

Two uses: a tiny teacher for smoke runs and tests (no download, seconds to
train), and a BERT-base-shaped model for speed comparisons with the paper
(random weights cost exactly what BERT-base costs; its accuracy means
nothing: label it "speed only"). Both take the packaged MiniLM's uncased
WordPiece tokenizer, which is BERT-base-uncased's vocabulary.
"""

import shutil
from pathlib import Path
from typing import Dict, Union

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
    RETURNS (Path): The directory, loadable with AutoModel/AutoTokenizer and as
        the teacher config's `paths.teacher`.
    """
    if shape not in SHAPES:
        raise ValueError(f"Unknown shape {shape!r}: choose one of {list(SHAPES)}.")
    import torch
    from transformers import BertConfig, BertModel

    from .models.transformer import PACKAGED_MINILM, resolve_transformer_name

    source = Path(resolve_transformer_name(PACKAGED_MINILM))
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
