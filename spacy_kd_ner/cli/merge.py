"""`kd-ner merge-annotations`: several teachers' annotations averaged into one."""

from pathlib import Path
from typing import List, Optional

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..annotated_corpus import AnnotateError
from ..merge import merge_annotations
from ._app import kd_app
from ._util import (
    annotated_output_arg,
    fail_on_known_errors,
    overwrite_opt,
    shard_size_opt,
    split_commas,
)


@kd_app.command("merge-annotations")
@fail_on_known_errors
def merge_annotations_cli(
    inputs: str = Arg(
        ...,
        help="Annotated corpora (`annotate` output directories) of the same "
        "docs, comma-separated",
    ),
    output_path: Path = annotated_output_arg(),
    weights: Optional[str] = Opt(
        None,
        "--weights",
        "-w",
        help="One positive weight per input, comma-separated (default: equal)",
    ),
    shard_size: int = shard_size_opt(),
    overwrite: bool = overwrite_opt(),
):
    """
    Average the teacher distributions of several annotated corpora of the
    same docs, token by token, with weights: the way to ensemble teachers
    that read the docs differently (a sentence teacher's or an ensemble's
    annotation with a context teacher's, `annotate --context-source`). The
    inputs must hold the same docs in the same order, with the same entity
    annotation and tags. The output keeps the first input's docs and is read
    like an `annotate` output (training corpus, `evaluate-annotations`).
    """
    paths = [Path(p) for p in split_commas(inputs, "input")]
    stats = merge_annotations(
        paths,
        output_path,
        weights=None if weights is None else _weights(weights),
        shard_size=shard_size,
        overwrite=overwrite,
    )
    rows = [(str(p), f"{w:.3f}") for p, w in zip(paths, stats.weights)]
    msg.table(rows, header=("input", "weight"), aligns=("l", "r"))
    counts = [
        ("docs read from each input and written", f"{stats.docs:,}"),
        ("  with gold entities", f"{stats.docs_with_gold:,}"),
        ("tokens", f"{stats.tokens:,}"),
        ("shards", f"{stats.shards:,}"),
        ("tags", f"{len(stats.tags)}"),
    ]
    msg.table(counts, aligns=("l", "r"))
    msg.good(
        f"Merged {len(paths)} annotations of {stats.docs:,} docs in "
        f"{stats.seconds:.1f}s -> {output_path}"
    )


def _weights(value: str) -> List[float]:
    try:
        return [float(item) for item in split_commas(value, "weight")]
    except ValueError:
        raise AnnotateError(f"Weights must be numbers, got {value!r}.") from None
