"""Average the teacher distributions of several annotated corpora of the same docs.

`annotate` with several pipelines averages an ensemble's distributions, but
all its teachers read the docs the same way. Teachers that read them
differently (one trained on sentences, one on sentences in their document's
context, see ``context.py``) are annotated separately; `merge_annotations`
then averages their stored distributions token by token, with weights, into
one annotated corpus that a student, `evaluate-annotations` or another merge
reads like any `annotate` output.

The inputs must hold the same docs in the same order: the same words and the
same entity annotation (gold, or its absence), and distributions over the
same tags. Anything else is an error that names the input and the doc; the
output keeps the first input's docs (gold and user data) with the merged
distributions. It is written as `annotate` writes its output
(``annotated_corpus.ShardWriter``), and an interrupted merge of the same
inputs, weights and shard size resumes from its last complete shard. The
inputs are known by their manifests' content (which records every shard's
checksum), not by their modification times: an input annotated anew since
refuses the resume (or, with ``overwrite``, the merge starts afresh). The
inputs are read verified (``annotated_corpus.read_annotated``).
"""

import math
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union, cast

import numpy
from spacy.tokens import Doc
from spacy.vocab import Vocab
from thinc.types import Floats2d

from .annotated_corpus import (
    FORMAT,
    MANIFEST,
    AnnotateError,
    ShardWriter,
    check_not_nested,
    file_id,
    read_annotated,
    read_manifest,
)
from .doc_text import doc_preview
from .scores import get_teacher_scores, set_teacher_scores


@dataclass
class MergeStats:
    """What `merge_annotations` read and wrote.

    docs (int): Docs read from each input and written.
    tokens (int): Tokens in the output.
    docs_with_gold (int): Output docs with gold entity annotation.
    shards (int): Shards in the output.
    weights (List[float]): Each input's weight, normalised to sum to 1.
    tags (List[str]): The tag list of the distributions.
    seconds (float): Wall time.
    shards_resumed (int): Shards kept from an interrupted merge.
    """

    docs: int = 0
    tokens: int = 0
    docs_with_gold: int = 0
    shards: int = 0
    weights: List[float] = field(default_factory=list)
    tags: List[str] = field(default_factory=list)
    seconds: float = 0.0
    shards_resumed: int = 0


def merge_annotations(
    inputs: Sequence[Union[str, Path]],
    output_path: Union[str, Path],
    *,
    weights: Optional[Sequence[float]] = None,
    shard_size: int = 2000,
    overwrite: bool = False,
) -> MergeStats:
    """Write the weighted mean of the inputs' teacher distributions.

    inputs (Sequence[Union[str, Path]]): Two or more annotated corpora
        (`annotate` or `merge_annotations` output directories) of the same docs.
    output_path (Union[str, Path]): The output directory of shards.
    weights (Optional[Sequence[float]]): One positive weight per input
        (normalised); equal weights by default.
    shard_size (int): Docs per output shard.
    overwrite (bool): Replace a complete earlier output at `output_path`.
    RETURNS (MergeStats): The counts.
    RAISES AnnotateError: Fewer than two inputs, bad weights or shard size,
        an output that is an input, lies inside one or holds one, an output
        that `ShardWriter` refuses (another run writes it, `check_output`, an
        interrupted merge of other inputs or weights), inputs that are not
        complete annotated corpora, do not verify against their manifests or
        do not hold the same docs and tags, or an input that changed during
        the merge.
    """
    start_time = time.time()
    paths = [Path(p) for p in inputs]
    if len(paths) < 2:
        raise AnnotateError(
            f"Merging needs at least two annotated corpora, got {len(paths)}."
        )
    if shard_size < 1:
        raise AnnotateError(f"shard_size must be positive, got {shard_size}.")
    norm = normalised_weights(weights, len(paths))
    output_path = Path(output_path)
    if any(p.resolve() == output_path.resolve() for p in paths):
        raise AnnotateError(f"The output {output_path} is one of the inputs.")
    check_not_nested(paths, output_path)
    with ShardWriter(output_path, overwrite=overwrite) as writer:
        manifests = [read_manifest(p) for p in paths]
        tags = _common_tags(paths, manifests)
        stats = MergeStats(weights=norm, tags=tags)
        writer.begin(
            {
                "format": FORMAT,
                "input": [file_id(p / MANIFEST) for p in paths],
                "model": [model for m in manifests for model in _models(m)],
                "component": manifests[0]["component"],
                "tags": tags,
                "shard_size": shard_size,
                "merged": [
                    {
                        "input": str(path),
                        "weight": weight,
                        "model": m["model"],
                        "context": m.get("context"),
                    }
                    for path, m, weight in zip(paths, manifests, norm)
                ],
            }
        )
        rows = _aligned(paths, manifests)
        n_read = 0
        while True:
            chunk = list(islice(rows, shard_size))
            if not chunk:
                break
            if writer.can_resume():
                writer.resume([row[0] for row in chunk])
            else:
                writer.write(
                    [
                        _merged(paths, row, norm, tags, n_read + i)
                        for i, row in enumerate(chunk)
                    ]
                )
            n_read += len(chunk)
        totals = writer.totals()
        stats.docs = totals["n_docs"]
        stats.tokens = totals["n_tokens"]
        stats.docs_with_gold = totals["n_docs_with_gold"]
        if stats.docs != manifests[0]["n_docs"]:
            raise AnnotateError(
                f"Read {stats.docs:,} docs but the manifests list "
                f"{manifests[0]['n_docs']:,}: an input changed during the merge."
            )
        stats.shards = len(writer.shards)
        stats.shards_resumed = writer.n_resumed
        stats.seconds = time.time() - start_time
        writer.publish(
            {"input": [str(p) for p in paths]}, {"seconds": round(stats.seconds, 2)}
        )
        return stats


def normalised_weights(weights: Optional[Sequence[float]], n: int) -> List[float]:
    """`n` weights summing to 1: equal ones by default, else the given
    positive finite weights, one per input, scaled."""
    if weights is None:
        return [1.0 / n] * n
    values = [float(w) for w in weights]
    if len(values) != n:
        raise AnnotateError(
            f"Got {len(values)} weights for {n} annotated corpora: give one per corpus."
        )
    bad = [w for w in values if not (math.isfinite(w) and w > 0)]
    if bad:
        raise AnnotateError(f"Weights must be positive numbers, got {values}.")
    total = sum(values)
    return [w / total for w in values]


def _models(manifest: Dict[str, Any]) -> List[str]:
    """The teachers of an annotated corpus, as a list."""
    model = manifest["model"]
    return list(model) if isinstance(model, list) else [model]


def _common_tags(
    paths: Sequence[Path], manifests: Sequence[Dict[str, Any]]
) -> List[str]:
    tags = list(manifests[0]["tags"])
    for path, manifest in zip(paths[1:], manifests[1:]):
        if list(manifest["tags"]) != tags:
            raise AnnotateError(
                f"The annotated corpora have different tags: {paths[0]} has "
                f"{tags}, {path} has {list(manifest['tags'])}. Their teachers "
                f"must be trained with the same entity labels."
            )
    return tags


def _aligned(
    paths: Sequence[Path], manifests: Sequence[Dict[str, Any]]
) -> Iterator[Tuple[Doc, ...]]:
    """The inputs' docs side by side, checked to be equally many."""
    counts = [m["n_docs"] for m in manifests]
    if len(set(counts)) > 1:
        listed = ", ".join(f"{p}: {n:,}" for p, n in zip(paths, counts))
        raise AnnotateError(
            f"The annotated corpora hold different numbers of docs ({listed}): "
            f"merge annotations of the same input corpus."
        )
    vocab = Vocab()
    yield from zip(*(read_annotated(p, vocab) for p in paths))


def _merged(
    paths: Sequence[Path],
    docs: Sequence[Doc],
    weights: Sequence[float],
    tags: List[str],
    index: int,
) -> Doc:
    """The first doc, carrying the weighted mean of all the docs' scores."""
    first = docs[0]
    words = [t.text for t in first]
    gold = _entity_array(first)
    total = numpy.zeros((len(first), len(tags)), dtype="float32")
    for path, doc, weight in zip(paths, docs, weights):
        if [t.text for t in doc] != words:
            raise AnnotateError(
                f"Doc {index} differs between the annotated corpora: "
                f"{paths[0]} has {doc_preview(first)}, {path} has "
                f"{doc_preview(doc)}. Merge annotations of the same input corpus."
            )
        if not numpy.array_equal(_entity_array(doc), gold):
            raise AnnotateError(
                f"Doc {index} ({doc_preview(first)}) has different entity annotation "
                f"in {paths[0]} and {path}: merge annotations of the same input "
                f"corpus."
            )
        probs, _ = get_teacher_scores(doc, tags)
        total += weight * numpy.asarray(probs)
    set_teacher_scores(first, tags, cast(Floats2d, total))
    return first


def _entity_array(doc: Doc) -> numpy.ndarray:
    return doc.to_array(["ENT_IOB", "ENT_TYPE"])
