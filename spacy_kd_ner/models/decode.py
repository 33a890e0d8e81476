"""Decoding tag scores into valid BILUO sequences and tag distributions."""

from typing import List, Optional, Tuple, cast

import numpy
import torch
from thinc.types import Floats2d, Ints1d

from .crf import BILUOConstraints, marginals, masked_potentials, viterbi_decode

TorchPotentials = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def constrained_decode(
    log_scores: List[torch.Tensor],
    constraints: BILUOConstraints,
    potentials: Optional[TorchPotentials] = None,
) -> List[Ints1d]:
    """Best valid BILUO tag sequence per doc, given per-token scores and (for a
    CRF) learned transition potentials; zero transitions otherwise."""
    lengths = [len(s) for s in log_scores]
    result = [cast(Ints1d, numpy.zeros((0,), dtype="int64")) for _ in log_scores]
    keep = [i for i, n in enumerate(lengths) if n > 0]
    if not keep:
        return result
    K = log_scores[keep[0]].shape[1]
    if potentials is None:
        potentials = (torch.zeros(K, K), torch.zeros(K), torch.zeros(K))
    masked = masked_potentials(*potentials, constraints)
    E = torch.zeros(len(keep), max(lengths), K)
    for row, i in enumerate(keep):
        E[row, : lengths[i]] = log_scores[i]
    L = torch.tensor([lengths[i] for i in keep], dtype=torch.long)
    with torch.no_grad():
        paths = viterbi_decode(E, L, *masked)
    for row, i in enumerate(keep):
        result[i] = cast(Ints1d, numpy.asarray(paths[row], dtype="int64"))
    return result


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
    masked = masked_potentials(*potentials, constraints)
    E = torch.zeros(len(keep), max(lengths), K)
    for row, i in enumerate(keep):
        E[row, : lengths[i]] = torch.from_numpy(numpy.asarray(emissions[i]))
    L = torch.tensor([lengths[i] for i in keep], dtype=torch.long)
    with torch.no_grad():
        probs = marginals(E, L, *masked).numpy()
    for row, i in enumerate(keep):
        result[i] = cast(Floats2d, probs[row, : lengths[i]])
    return result


def _softmax(X: numpy.ndarray) -> numpy.ndarray:
    exp = numpy.exp(X - X.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)
