"""The maths of a linear-chain CRF, as plain torch functions, and a numpy
Viterbi for one sequence.

It knows no tag names: which transitions, starts and ends are allowed comes in
as bool masks (``masked_potentials``); ``spacy_kd_ner.biluo`` builds them for
BILUO tags and imports this module, never the reverse. This module imports
nothing of the package.

The torch functions are batched: ``emissions`` is a float tensor of shape
``(B, T, K)`` (B sequences padded to T positions, K tags) and ``lengths`` is a
long tensor of shape ``(B,)`` with ``1 <= lengths[b] <= T``. Positions at or
after ``lengths[b]`` are padding: their values never change a result, and they
get no gradient. The potentials are ``transitions`` ``(K, K)`` (score of tag
``j`` following tag ``i`` at ``[i, j]``), ``start`` ``(K,)`` and ``end``
``(K,)``. Scores must be finite: to forbid tag sequences, pass the potentials
through ``masked_potentials`` first, which uses ``NEG`` rather than -inf. All
computations work in log space, loop over time only, and keep the dtype and
device of the emissions. They raise ValueError on shapes or lengths that do
not fit.
"""

from typing import List, Sequence, Tuple

import numpy
import torch
from torch import Tensor

NEG = -1e4
"""Score given to forbidden transitions, starts and ends. It is finite, so
logsumexp and its gradients never see ``-inf - -inf``, but far enough below any
real score that forbidden paths weigh exactly zero after exponentiation."""

_UNLABELLED_TAG = -1e9
"""Emission given to the tags that a partial label rules out in
``sequence_nll``. It is far below ``NEG`` so that even a gold path that crosses
forbidden transitions outweighs every path that contradicts the labels."""

_MIN_SHIFTED = -80.0
"""Floor of a score minus its row maximum before exponentiation in
``_logsumexp``. exp(-80) is below the resolution of float32 and float64 next to
the maximum's exp(0) = 1, so the floor changes no value, but it keeps ``exp``
off the slow path that CPUs take for underflowing results, which scores at
``NEG`` would otherwise take."""


def masked_potentials(
    transitions: Tensor,
    start: Tensor,
    end: Tensor,
    allowed: Tuple[Tensor, Tensor, Tensor],
) -> Tuple[Tensor, Tensor, Tensor]:
    """Set the forbidden transitions, starts and ends to ``NEG``.

    Forbidden entries get no gradient; allowed ones pass through unchanged.

    transitions (Tensor): Float (K, K) transition scores.
    start (Tensor): Float (K,) start scores.
    end (Tensor): Float (K,) end scores.
    allowed (Tuple[Tensor, Tensor, Tensor]): Bool (K, K), (K,) and (K,) masks,
        True where a transition, start or end is allowed; e.g.
        ``biluo.biluo_constraints``.
    RETURNS (Tuple[Tensor, Tensor, Tensor]): The masked transitions, start and
        end scores.
    """
    device = transitions.device
    allowed_transitions, allowed_start, allowed_end = allowed
    return (
        transitions.masked_fill(~allowed_transitions.to(device), NEG),
        start.masked_fill(~allowed_start.to(device), NEG),
        end.masked_fill(~allowed_end.to(device), NEG),
    )


def _logsumexp(scores: Tensor, dim: int) -> Tensor:
    """Compute log(sum(exp(scores))) along one axis, for finite scores.

    scores (Tensor): Float scores, all finite.
    dim (int): The axis to reduce.
    RETURNS (Tensor): The reduced scores, differentiable.
    """
    top = scores.amax(dim=dim, keepdim=True).detach()
    shifted = (scores - top).clamp(min=_MIN_SHIFTED)
    return shifted.exp().sum(dim=dim).log() + top.squeeze(dim)


def _prepare(
    emissions: Tensor, lengths: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> Tuple[Tensor, Tensor, int]:
    """Check the shapes, and zero the emissions at padding positions.

    emissions (Tensor): Float (B, T, K) emission scores.
    lengths (Tensor): Long (B,) sequence lengths.
    transitions (Tensor): Float (K, K) transition scores.
    start (Tensor): Float (K,) start scores.
    end (Tensor): Float (K,) end scores.
    RETURNS (Tuple[Tensor, Tensor, int]): The emissions with zeros at padding,
        the bool (B, T) mask of real positions, and the shortest length.
    """
    if emissions.dim() != 3:
        raise ValueError(f"emissions must be (B, T, K), got {tuple(emissions.shape)}")
    n_seqs, n_steps, n_tags = emissions.shape
    if lengths.shape != (n_seqs,):
        raise ValueError(f"lengths must be ({n_seqs},), got {tuple(lengths.shape)}")
    if (
        transitions.shape != (n_tags, n_tags)
        or start.shape != (n_tags,)
        or end.shape != (n_tags,)
    ):
        raise ValueError(
            f"Potentials must be ({n_tags}, {n_tags}), ({n_tags},), ({n_tags},); got "
            f"{tuple(transitions.shape)}, {tuple(start.shape)}, {tuple(end.shape)}"
        )
    min_length = int(lengths.min())
    if min_length < 1 or int(lengths.max()) > n_steps:
        raise ValueError(f"lengths must lie in [1, {n_steps}], got {lengths.tolist()}")
    positions = torch.arange(n_steps, device=emissions.device)
    mask = positions.unsqueeze(0) < lengths.to(emissions.device).unsqueeze(1)
    return emissions.masked_fill(~mask.unsqueeze(2), 0.0), mask, min_length


def _forward(
    emissions: Tensor, mask: Tensor, min_length: int, transitions: Tensor, start: Tensor
) -> List[Tensor]:
    """Run the forward algorithm in log space.

    emissions (Tensor): Float (B, T, K) emission scores.
    mask (Tensor): Bool (B, T), True at real positions.
    min_length (int): The shortest sequence length; no step before it needs
        masking.
    transitions (Tensor): Float (K, K) transition scores.
    start (Tensor): Float (K,) start scores.
    RETURNS (List[Tensor]): One float (B, K) tensor per position t, the log
        total score of all prefixes ending in each tag at t. At padding
        positions it repeats the last real position's values.
    """
    # Unbinding once, rather than indexing per step, keeps the backward pass
    # linear in T.
    steps = emissions.unbind(dim=1)
    alpha = start.unsqueeze(0) + steps[0]
    alphas = [alpha]
    for t in range(1, len(steps)):
        scores = alpha.unsqueeze(2) + transitions.unsqueeze(0)
        step = _logsumexp(scores, dim=1) + steps[t]
        alpha = step if t < min_length else torch.where(mask[:, t, None], step, alpha)
        alphas.append(alpha)
    return alphas


def log_partition(
    emissions: Tensor, lengths: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> Tensor:
    """Compute the log partition function (log Z) of each sequence.

    emissions (Tensor): Float (B, T, K) emission scores.
    lengths (Tensor): Long (B,) sequence lengths, each in [1, T].
    transitions (Tensor): Float (K, K) transition scores.
    start (Tensor): Float (K,) start scores.
    end (Tensor): Float (K,) end scores.
    RETURNS (Tensor): Float (B,) log Z, differentiable w.r.t. all float inputs.
    """
    emissions, mask, min_length = _prepare(emissions, lengths, transitions, start, end)
    alpha = _forward(emissions, mask, min_length, transitions, start)[-1]
    return _logsumexp(alpha + end.unsqueeze(0), dim=1)


def sequence_nll(
    emissions: Tensor,
    lengths: Tensor,
    tags: Tensor,
    transitions: Tensor,
    start: Tensor,
    end: Tensor,
) -> Tensor:
    """Compute the negative log-likelihood of (partially) labelled sequences.

    The NLL is log Z minus the log Z of the lattice restricted to the labels:
    the given tag at labelled positions, any tag at missing ones. For fully
    labelled sequences that is log Z minus the score of the gold path; its
    gradient w.r.t. the emissions is the marginals minus the one-hot gold tags.

    emissions (Tensor): Float (B, T, K) emission scores.
    lengths (Tensor): Long (B,) sequence lengths, each in [1, T].
    tags (Tensor): Long (B, T) gold tag ids, -1 where the tag is unknown.
        Values at padding positions are ignored.
    transitions (Tensor): Float (K, K) transition scores.
    start (Tensor): Float (K,) start scores.
    end (Tensor): Float (K,) end scores.
    RETURNS (Tensor): Float (B,) NLL per sequence, differentiable w.r.t. all
        float inputs.
    """
    emissions, mask, min_length = _prepare(emissions, lengths, transitions, start, end)
    if tags.shape != mask.shape:
        raise ValueError(f"tags must be {tuple(mask.shape)}, got {tuple(tags.shape)}")
    tags = tags.to(emissions.device).masked_fill(~mask, -1)
    labelled = torch.nn.functional.one_hot(tags.clamp(min=0), emissions.shape[2])
    allowed = (tags < 0).unsqueeze(2) | labelled.bool()
    restricted = emissions.masked_fill(~allowed, _UNLABELLED_TAG)
    # One forward pass over both lattices, stacked along the batch.
    alpha = _forward(
        torch.cat([emissions, restricted]),
        torch.cat([mask, mask]),
        min_length,
        transitions,
        start,
    )[-1]
    log_z, log_z_gold = _logsumexp(alpha + end.unsqueeze(0), dim=1).chunk(2)
    return log_z - log_z_gold


def viterbi_decode(
    emissions: Tensor, lengths: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> List[List[int]]:
    """Find the highest-scoring tag sequence of each sequence.

    Runs without gradient tracking.

    emissions (Tensor): Float (B, T, K) emission scores.
    lengths (Tensor): Long (B,) sequence lengths, each in [1, T].
    transitions (Tensor): Float (K, K) transition scores.
    start (Tensor): Float (K,) start scores.
    end (Tensor): Float (K,) end scores.
    RETURNS (List[List[int]]): The best tag ids of each sequence, lengths[b]
        of them for sequence b.
    """
    with torch.no_grad():
        emissions, mask, min_length = _prepare(
            emissions, lengths, transitions, start, end
        )
        n_seqs, n_steps, n_tags = emissions.shape
        # At padding positions each tag points back to itself, so backtracking
        # from the last position carries the last real tag through the padding.
        identity = torch.arange(n_tags, device=emissions.device).expand(n_seqs, -1)
        steps = emissions.unbind(dim=1)
        score = start.unsqueeze(0) + steps[0]
        backpointers = []
        for t in range(1, n_steps):
            scores = score.unsqueeze(2) + transitions.unsqueeze(0)
            best, previous = scores.max(dim=1)
            step = best + steps[t]
            if t < min_length:
                score = step
            else:
                active = mask[:, t, None]
                score = torch.where(active, step, score)
                previous = torch.where(active, previous, identity)
            backpointers.append(previous)
        tag = (score + end.unsqueeze(0)).argmax(dim=1)
        path = [tag]
        for previous in reversed(backpointers):
            tag = previous.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        best_paths = torch.stack(path[::-1], dim=1).tolist()
    return [seq[:length] for seq, length in zip(best_paths, lengths.tolist())]


def viterbi_numpy(
    emissions: numpy.ndarray,
    lengths: Sequence[int],
    transitions: numpy.ndarray,
    start: numpy.ndarray,
    end: numpy.ndarray,
) -> List[numpy.ndarray]:
    """Find the highest-scoring tag path of each sequence of a padded batch, in
    numpy: what ``viterbi_decode`` computes, without torch's per-op overhead
    (at inference a batch is often one short doc). One step of the recursion
    covers the whole batch; past its length a sequence keeps its score.

    emissions (numpy.ndarray): Float (B, T, K) emission scores, padded.
    lengths (Sequence[int]): The B sequence lengths, each in [1, T].
    transitions (numpy.ndarray): Float (K, K); ``[i, j]`` scores tag j after i.
    start (numpy.ndarray): Float (K,) start scores.
    end (numpy.ndarray): Float (K,) end scores.
    RETURNS (List[numpy.ndarray]): Per sequence, its (length,) int64 best tag
        ids.
    """
    n_seqs, n_steps, n_tags = emissions.shape
    n_real = numpy.asarray(lengths)
    score = start + emissions[:, 0]
    backpointers = numpy.empty((max(n_steps - 1, 0), n_seqs, n_tags), "int64")
    shortest = int(n_real.min())
    for t in range(1, n_steps):
        candidates = score[:, :, None] + transitions
        previous = candidates.argmax(axis=1)
        step = candidates.max(axis=1) + emissions[:, t]
        if t < shortest:
            score = step
            backpointers[t - 1] = previous
        else:
            active = (n_real > t)[:, None]
            score = numpy.where(active, step, score)
            backpointers[t - 1] = numpy.where(active, previous, numpy.arange(n_tags))
    best = (score + end).argmax(axis=1)
    paths = numpy.empty((n_seqs, n_steps), dtype="int64")
    paths[:, -1] = best
    rows = numpy.arange(n_seqs)
    for t in range(n_steps - 2, -1, -1):
        best = backpointers[t, rows, best]
        paths[:, t] = best
    return [paths[b, :n] for b, n in enumerate(n_real.tolist())]


def marginals(
    emissions: Tensor, lengths: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> Tensor:
    """Compute each token's posterior tag marginals by forward-backward.

    Differentiable when gradients are enabled; also works under
    ``torch.no_grad``.

    emissions (Tensor): Float (B, T, K) emission scores.
    lengths (Tensor): Long (B,) sequence lengths, each in [1, T].
    transitions (Tensor): Float (K, K) transition scores.
    start (Tensor): Float (K,) start scores.
    end (Tensor): Float (K,) end scores.
    RETURNS (Tensor): Float (B, T, K) marginals; each real position's row sums
        to 1, padding rows are zeros.
    """
    emissions, mask, min_length = _prepare(emissions, lengths, transitions, start, end)
    alphas = _forward(emissions, mask, min_length, transitions, start)
    end_scores = end.unsqueeze(0).expand_as(alphas[0])
    # beta at t: log total score of the suffixes after t, given the tag at t.
    # At the last real position and after it, that is just the end score.
    steps = emissions.unbind(dim=1)
    beta = end_scores
    betas = [beta]
    for t in range(len(steps) - 2, -1, -1):
        following = (steps[t + 1] + beta).unsqueeze(1)
        step = _logsumexp(transitions.unsqueeze(0) + following, dim=2)
        beta = (
            step
            if t + 1 < min_length
            else torch.where(mask[:, t + 1, None], step, end_scores)
        )
        betas.append(beta)
    log_z = _logsumexp(alphas[-1] + end_scores, dim=1)
    log_marginals = torch.stack(alphas, dim=1) + torch.stack(betas[::-1], dim=1)
    log_marginals = log_marginals - log_z[:, None, None]
    return log_marginals.masked_fill(~mask.unsqueeze(2), float("-inf")).exp()
