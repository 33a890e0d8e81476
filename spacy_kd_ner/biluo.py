"""BILUO tags, the one home of the scheme: tag names, which tag sequences are
valid, decoding scores into valid sequences, per-token tag distributions and
the teacher's pseudo-labels.

A component over the entity types ``L1..Ln`` scores the tags ``biluo_tag_names``
lists: "O", then ``B-``, ``I-``, ``L-``, ``U-`` of each type in order; a tag id
is an index into that list.

Imports: the generic linear-chain CRF maths of ``models.crf``, which knows no
tag names and takes the masks built here as arguments. Nothing in ``models``
imports this module; the pipe, the loss and ``teacher_eval`` do.
"""

from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, cast

import numpy
import torch
from thinc.api import NumpyOps
from thinc.types import Floats1d, Floats2d, Ints1d
from torch import Tensor

from .models.crf import marginals, masked_potentials, viterbi_numpy

# Docs per padded group of `constrained_decode` (sorted by length).
DECODE_GROUP = 32

BILUO_PREFIXES = ("B", "I", "L", "U")
"""The prefixes of the tags of an entity type, in tag-id order."""

Potentials = Tuple[Floats2d, Floats1d, Floats1d]
"""A CRF's (transitions, start, end) scores as arrays: (K, K), (K,), (K,)."""


class BILUOConstraints(NamedTuple):
    """Which tag sequences are valid BILUO: a (transitions, start, end) triple
    of masks, as ``models.crf.masked_potentials`` takes them.

    transitions (Tensor): Bool (K, K); ``[i, j]`` is True if tag j may follow
        tag i.
    start (Tensor): Bool (K,); True if the tag may start a sequence.
    end (Tensor): Bool (K,); True if the tag may end a sequence.
    """

    transitions: Tensor
    start: Tensor
    end: Tensor


def biluo_tag_names(labels: Iterable[str]) -> List[str]:
    """The BILUO tags over entity types, in tag-id order.

    labels (Iterable[str]): The entity types, e.g. ("LOC", "PER").
    RETURNS (List[str]): "O", then B-, I-, L- and U- of each type.
    """
    tags = ["O"]
    for label in labels:
        tags.extend(f"{prefix}-{label}" for prefix in BILUO_PREFIXES)
    return tags


def _parse_tag(tag: str) -> Tuple[str, str]:
    """Split a BILUO tag name into its prefix and entity label.

    tag (str): The tag name, e.g. "O" or "B-PER".
    RETURNS (Tuple[str, str]): The prefix ("O", "B", "I", "L" or "U") and the
        label ("" for "O").
    RAISES ValueError: The name is not "O" or <prefix>-<label>.
    """
    if tag == "O":
        return "O", ""
    prefix, sep, label = tag.partition("-")
    if prefix not in BILUO_PREFIXES or not sep or not label:
        raise ValueError(
            f"Malformed BILUO tag {tag!r}: expected 'O' or one of "
            f"{', '.join(p + '-<label>' for p in BILUO_PREFIXES)}."
        )
    return prefix, label


def tag_label(tag: str) -> str:
    """The entity type of a BILUO tag name: "PER" for "B-PER", "" for "O".

    RAISES ValueError: A malformed tag name.
    """
    return _parse_tag(tag)[1]


def tag_labels(tag_names: Sequence[str]) -> List[str]:
    """The entity types of BILUO tag names, in order of first appearance: the
    inverse of `biluo_tag_names`.

    tag_names (Sequence[str]): The tag names, e.g. ["O", "B-LOC", ...].
    RETURNS (List[str]): The types, e.g. ["LOC", "PER"].
    RAISES ValueError: A malformed tag name.
    """
    labels = (_parse_tag(tag)[1] for tag in tag_names)
    return list(dict.fromkeys(label for label in labels if label))


def biluo_constraints(tag_names: Sequence[str]) -> BILUOConstraints:
    """Build the masks of valid BILUO starts, transitions and ends.

    A sequence starts with O, B-x or U-x and ends with O, L-x or U-x. After O,
    L-x or U-x comes O, B-y or U-y (any y); after B-x or I-x comes I-x or L-x
    (same x).

    tag_names (Sequence[str]): The K tag names, in tag-id order.
    RETURNS (BILUOConstraints): The bool masks of what is allowed.
    RAISES ValueError: No tag names, or a malformed one.
    """
    if not tag_names:
        raise ValueError("biluo_constraints needs at least one tag name.")
    parsed = [_parse_tag(tag) for tag in tag_names]
    start = [prefix in ("O", "B", "U") for prefix, _ in parsed]
    end = [prefix in ("O", "L", "U") for prefix, _ in parsed]
    transitions = [
        [
            prefix_j in ("I", "L") and label_j == label_i
            if prefix_i in ("B", "I")
            else prefix_j in ("O", "B", "U")
            for prefix_j, label_j in parsed
        ]
        for prefix_i, label_i in parsed
    ]
    return BILUOConstraints(
        transitions=torch.tensor(transitions, dtype=torch.bool),
        start=torch.tensor(start, dtype=torch.bool),
        end=torch.tensor(end, dtype=torch.bool),
    )


def constrained_decode(
    log_scores: Sequence[Floats2d],
    constraints: BILUOConstraints,
    potentials: Optional[Potentials] = None,
) -> List[Ints1d]:
    """Find the best valid BILUO tag sequence of each doc.

    Runs the Viterbi in numpy (``models.crf.viterbi_numpy``): at inference a
    batch is often one short doc, where torch's per-op overhead outweighs the
    work. Docs are decoded in padded groups of similar length
    (`DECODE_GROUP` docs, by length), so one long doc pads only its group.

    log_scores (Sequence[Floats2d]): Per doc, (n_tokens, K) scores: a CRF's
        emissions, or log-probabilities.
    constraints (BILUOConstraints): The valid sequences over the K tags.
    potentials (Optional[Potentials]): A CRF's learned (transitions, start,
        end) scores; None: zero scores, so that the best valid sequence is the
        per-token argmax whenever that is valid.
    RETURNS (List[Ints1d]): Per doc, its n_tokens tag ids (int64); empty docs
        give empty arrays.
    """
    result = [cast(Ints1d, numpy.zeros((0,), dtype="int64")) for _ in log_scores]
    keep = sorted(
        (i for i, s in enumerate(log_scores) if len(s)),
        key=lambda i: len(log_scores[i]),
    )
    if not keep:
        return result
    n_tags = log_scores[keep[0]].shape[1]
    trans, start, end = (
        p.numpy() for p in _masked_float64(potentials, n_tags, constraints)
    )
    for group in range(0, len(keep), DECODE_GROUP):
        docs = keep[group : group + DECODE_GROUP]
        seqs = [numpy.asarray(log_scores[i], dtype="float64") for i in docs]
        emissions = NumpyOps().pad(seqs)
        paths = viterbi_numpy(emissions, [len(s) for s in seqs], trans, start, end)
        for i, path in zip(docs, paths):
            result[i] = cast(Ints1d, path)
    return result


def tag_distributions(
    emissions: List[Floats2d],
    constraints: BILUOConstraints,
    potentials: Optional[Potentials] = None,
) -> List[Floats2d]:
    """Compute each token's distribution over the tags.

    emissions (List[Floats2d]): Per doc, (n_tokens, K) emission scores.
    constraints (BILUOConstraints): The valid sequences over the K tags.
    potentials (Optional[Potentials]): A CRF's (transitions, start, end)
        scores. Given: the CRF's marginals over valid sequences, computed in
        float64 so that long docs' rows still sum to 1. None: the softmax of
        each token's emissions.
    RETURNS (List[Floats2d]): Per doc, (n_tokens, K) float32 distributions.
    """
    if potentials is None:
        return [
            cast(Floats2d, _softmax(numpy.asarray(e, "float32"))) for e in emissions
        ]
    lengths = [len(e) for e in emissions]
    result = [cast(Floats2d, numpy.zeros_like(e, dtype="float32")) for e in emissions]
    keep = [i for i, n in enumerate(lengths) if n > 0]
    if not keep:
        return result
    n_tags = emissions[keep[0]].shape[1]
    masked = _masked_float64(potentials, n_tags, constraints)
    E = torch.zeros(len(keep), max(lengths), n_tags, dtype=torch.float64)
    for row, i in enumerate(keep):
        E[row, : lengths[i]] = torch.from_numpy(numpy.asarray(emissions[i]))
    L = torch.tensor([lengths[i] for i in keep], dtype=torch.long)
    with torch.no_grad():
        probs = marginals(E, L, *masked).numpy().astype("float32")
    for row, i in enumerate(keep):
        result[i] = cast(Floats2d, probs[row, : lengths[i]])
    return result


def pseudo_labels(teacher: Floats2d, constraints: BILUOConstraints) -> Ints1d:
    """The teacher's best valid BILUO sequence: the constrained Viterbi path
    over its log-probabilities with zero transition scores, which is the
    per-token argmax whenever that is a valid sequence.

    teacher (Floats2d): The teacher's (n_tokens, K) distribution.
    constraints (BILUOConstraints): The valid sequences over the K tags.
    RETURNS (Ints1d): The n_tokens tag ids.
    """
    log_p = numpy.log(numpy.asarray(teacher, dtype="float32").clip(min=1e-30))
    return constrained_decode([log_p.clip(min=-1e4)], constraints)[0]


def log_softmax(X: Floats2d) -> Floats2d:
    """Row-wise log-softmax, in float64.

    X (Floats2d): (n_tokens, K) scores.
    RETURNS (Floats2d): The (n_tokens, K) log-probabilities.
    """
    array = numpy.asarray(X, dtype="float64")
    shifted = array - array.max(axis=-1, keepdims=True)
    log_z = numpy.log(numpy.exp(shifted).sum(axis=-1, keepdims=True))
    return cast(Floats2d, shifted - log_z)


def _softmax(X: numpy.ndarray) -> numpy.ndarray:
    exp = numpy.exp(X - X.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _masked_float64(
    potentials: Optional[Potentials], n_tags: int, constraints: BILUOConstraints
) -> Tuple[Tensor, Tensor, Tensor]:
    """The (transitions, start, end) scores as float64 tensors with the invalid
    entries masked; zero scores where `potentials` is None."""
    if potentials is None:
        given = [torch.zeros(n_tags, n_tags), torch.zeros(n_tags), torch.zeros(n_tags)]
    else:
        given = [torch.as_tensor(numpy.asarray(p)) for p in potentials]
    with torch.no_grad():
        trans, start, end = (p.double() for p in given)
        return masked_potentials(trans, start, end, constraints)
