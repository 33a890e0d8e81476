"""Annotate a split's corpora with its teacher(s), or merge two annotations.

    python scripts/annotate.py split --size 750 --seed 1 --teachers T1,T2 \
        --output corpus/annotated-ensemble [--test] [--context-window 2]
    python scripts/annotate.py merge --size 750 --seed 1 \
        --inputs corpus/annotated-ensemble,corpus/annotated-context \
        --output corpus/annotated-combined

`split` runs `kd-ner annotate` over the labeled split and the unlabeled pool
(and, with `--test`, the test set, so that the teacher can be scored as
`evaluate-annotations` scores it) into `<output>/<size>-<seed>/{labeled,
unlabeled,test}`. Several teachers annotate as an ensemble (the mean of
their distributions). With `--context-window N` each sentence is read inside
N sentences on each side of its document (the source of labeled and pool
sentences is the train set, of test sentences the test set). `merge` averages
the annotations of the same docs by `kd-ner merge-annotations`.
"""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

from commands import corpus_option, gpu_option, kd_ner, run, seed_option, size_option

app = typer.Typer(add_completion=False, no_args_is_help=True)
PARTS = ("labeled", "unlabeled", "test")


def split_inputs(corpus: Path, size: int, seed: int) -> Dict[str, Tuple[Path, Path]]:
    """Each part of a split: its corpus and the corpus of its documents."""
    labeled = corpus / "splits" / f"labeled-{size}-{seed}.spacy"
    train, test = corpus / "train.spacy", corpus / "test.spacy"
    pool = corpus / "splits" / "unlabeled.spacy"
    return {
        "labeled": (labeled, train),
        "unlabeled": (pool, train),
        "test": (test, test),
    }


@app.command()
def split(
    size: int = size_option(),
    seed: int = seed_option(),
    teachers: str = typer.Option(..., help="Comma-separated teacher pipelines"),
    output: Path = typer.Option(..., help="Annotations go to <output>/<size>-<seed>"),
    test: bool = typer.Option(False, "--test", help="Annotate the test set too"),
    context_window: Optional[int] = typer.Option(None, help="Sentences each side"),
    corpus: Path = corpus_option(),
    gpu_id: int = gpu_option(),
    results: Optional[Path] = typer.Option(
        None, help="Write each part's counts and speed to <results>/annotate/"
    ),
) -> None:
    """Annotate a split's labeled sentences and pool (and test) with teachers."""
    parts = PARTS if test else PARTS[:2]
    inputs = split_inputs(corpus, size, seed)
    for part in parts:
        source, context = inputs[part]
        command = [
            "annotate", teachers, str(source), str(output / f"{size}-{seed}" / part),
            "--overwrite", "--gpu-id", str(gpu_id),
        ]  # fmt: skip
        if context_window is not None:
            command += ["--context-source", str(context)]
            command += ["--context-window", str(context_window)]
        if results is not None:
            stats = results / "annotate" / f"{size}-{seed}-{part}.json"
            command += ["--stats", str(stats)]
        run(kd_ner(*command))


@app.command()
def merge(
    size: int = size_option(),
    seed: int = seed_option(),
    inputs: str = typer.Option(..., help="Comma-separated annotation directories"),
    output: Path = typer.Option(..., help="Merged annotations' directory"),
) -> None:
    """Average several annotations of a split's labeled, pool and test docs."""
    dirs: List[Path] = [Path(p) for p in inputs.split(",") if p]
    for part in PARTS:
        merged = ",".join(str(d / f"{size}-{seed}" / part) for d in dirs)
        target = output / f"{size}-{seed}" / part
        run(kd_ner("merge-annotations", merged, str(target), "--overwrite"))


if __name__ == "__main__":
    app()
