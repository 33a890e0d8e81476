"""Decoding tag scores into valid BILUO sequences and tag distributions."""

from typing import List, Optional, Sequence, Tuple, cast

import numpy
import torch
from thinc.types import Floats1d, Floats2d, Ints1d

from .crf import BILUOConstraints, marginals, masked_potentials

TorchPotentials = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Potentials = Tuple[Floats2d, Floats1d, Floats1d]


def constrained_decode(
    log_scores: Sequence[Floats2d],
    constraints: BILUOConstraints,
    potentials: Optional[Potentials] = None,
) -> List[Ints1d]:
    """Best valid BILUO tag sequence per doc, given per-token scores and (for a
    CRF) learned transition potentials; zero transitions otherwise.

    This runs at inference on every batch, often of one short doc, where
    torch's per-op overhead outweighs the work: so the Viterbi runs in numpy,
    one doc at a time (crf.viterbi_decode is the batched torch reference; the
    tests check both agree)."""
    result = [cast(Ints1d, numpy.zeros((0,), dtype="int64")) for _ in log_scores]
    keep = [i for i, s in enumerate(log_scores) if len(s) > 0]
    if not keep:
        return result
    K = log_scores[keep[0]].shape[1]
    if potentials is None:
        given = (torch.zeros(K, K), torch.zeros(K), torch.zeros(K))
    else:
        given = tuple(  # type: ignore[assignment]
            torch.as_tensor(numpy.asarray(p)) for p in potentials
        )
    with torch.no_grad():
        masked = masked_potentials(given[0], given[1], given[2], constraints)
    trans, start, end = (p.numpy().astype("float64") for p in masked)
    for i in keep:
        emissions = numpy.asarray(log_scores[i], dtype="float64")
        result[i] = cast(Ints1d, viterbi_numpy(emissions, trans, start, end))
    return result


def viterbi_numpy(
    emissions: numpy.ndarray,
    transitions: numpy.ndarray,
    start: numpy.ndarray,
    end: numpy.ndarray,
) -> numpy.ndarray:
    """The best tag path of one sequence: emissions (T, K), transitions[i, j]
    the score of tag j after tag i, start/end (K,). RETURNS (T,) int64."""
    n_steps = emissions.shape[0]
    score = start + emissions[0]
    backpointers = numpy.empty((max(n_steps - 1, 0), emissions.shape[1]), "int64")
    for t in range(1, n_steps):
        candidates = score[:, None] + transitions
        backpointers[t - 1] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + emissions[t]
    best = int((score + end).argmax())
    path = numpy.empty((n_steps,), dtype="int64")
    path[-1] = best
    for t in range(n_steps - 2, -1, -1):
        best = int(backpointers[t, best])
        path[t] = best
    return path


def tag_distributions(
    emissions: List[Floats2d],
    constraints: BILUOConstraints,
    potentials: Optional[TorchPotentials] = None,
) -> List[Floats2d]:
    """Per-token tag distributions: the CRF's marginals over valid sequences
    when there are potentials, else the softmax of each token's emissions."""
    if potentials is None:
        return [
            cast(Floats2d, _softmax(numpy.asarray(e, "float32"))) for e in emissions
        ]
    lengths = [len(e) for e in emissions]
    result = [cast(Floats2d, numpy.zeros_like(e, dtype="float32")) for e in emissions]
    keep = [i for i, n in enumerate(lengths) if n > 0]
    if not keep:
        return result
    K = emissions[keep[0]].shape[1]
    # In float64: the log-space sums of forward-backward grow with the length,
    # and in float32 a 2,000-token doc's marginals drift ~1% off summing to 1.
    masked = [p.double() for p in masked_potentials(*potentials, constraints)]
    E = torch.zeros(len(keep), max(lengths), K, dtype=torch.float64)
    for row, i in enumerate(keep):
        E[row, : lengths[i]] = torch.from_numpy(numpy.asarray(emissions[i]))
    L = torch.tensor([lengths[i] for i in keep], dtype=torch.long)
    with torch.no_grad():
        probs = marginals(E, L, *masked).numpy().astype("float32")
    for row, i in enumerate(keep):
        result[i] = cast(Floats2d, probs[row, : lengths[i]])
    return result


def log_softmax(X: Floats2d) -> Floats2d:
    """Row-wise log-softmax of a (n_tokens, n_tags) array."""
    array = numpy.asarray(X, dtype="float64")
    shifted = array - array.max(axis=-1, keepdims=True)
    log_z = numpy.log(numpy.exp(shifted).sum(axis=-1, keepdims=True))
    return cast(Floats2d, shifted - log_z)


def _softmax(X: numpy.ndarray) -> numpy.ndarray:
    exp = numpy.exp(X - X.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)
