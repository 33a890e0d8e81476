"""The distillation loss: task loss on gold or pseudo-labels plus the
temperature-scaled KL divergence to the teacher's per-token distributions.

    L = beta * L_task + gamma * T^2 * KL(softmax(t / T) || softmax(s / T))

per doc, averaged over the docs of a batch. ``L_task`` is the CRF's sequence
negative log-likelihood (partial labels allowed: missing tags are marginalised
out) or, for a softmax head, the token cross-entropy. Docs without gold tags
that carry teacher scores get the teacher's best valid BILUO sequence as
pseudo-labels when ``pseudo_labels`` is set. The KL term applies to every doc
that carries teacher scores; it compares the teacher's distribution with

- ``kl_on = "emissions"`` (default, as the paper's code does): the softmax of
  the student's emissions, ``softmax(s / T)``. For a CRF student these are the
  scores before the transitions.
- ``kl_on = "marginals"`` (CRF students only): the student's CRF marginals
  at temperature T (emissions and transition scores divided by T), the
  distribution it actually predicts with. Costs a forward-backward per batch.
"""

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple, cast

import numpy
import torch
from thinc.api import registry
from thinc.loss import Loss
from thinc.types import Floats2d, Ints1d

from .biluo import BILUOConstraints, Potentials, pseudo_labels
from .models.crf import marginals, masked_potentials, sequence_nll

MISSING = -1
"""Tag id of a token whose gold tag is unknown."""
KL_ON = ("emissions", "marginals")
"""The student distributions that the KL term can compare with the teacher's."""


@dataclass
class TaggerScores:
    """What the tagger produced for a batch: emissions per doc and, with a CRF
    head, the transition potentials and the BILUO constraints over them."""

    emissions: List[Floats2d]
    constraints: BILUOConstraints
    potentials: Optional[Potentials] = None


@dataclass
class TagTargets:
    """What a doc offers to learn from: gold tag ids (MISSING where unknown)
    and, if annotated by a teacher, its per-token distribution."""

    gold: Ints1d
    teacher: Optional[Floats2d] = None

    @property
    def has_gold(self) -> bool:
        """Whether any token has a gold tag."""
        return bool((self.gold != MISSING).any())


@dataclass
class TaggerGrads:
    """The loss's gradients, as numpy arrays: of each doc's emissions and, with
    a CRF head, of the (transitions, start, end) potentials."""

    d_emissions: List[Floats2d]
    d_potentials: Optional[Potentials] = None


class DistillationLoss(Loss[TaggerScores, List[TagTargets], TaggerGrads, float]):
    """``beta * L_task + gamma * T^2 * KL``, averaged over the non-empty docs of
    a batch; see the module docstring."""

    def __init__(
        self,
        *,
        beta: float = 1.0,
        gamma: float = 0.0,
        temperature: float = 1.0,
        pseudo_labels: bool = False,
        kl_on: str = "emissions",
    ):
        """Check and keep the options.

        beta (float): Weight of the task loss, finite and >= 0.
        gamma (float): Weight of the KL term, finite and >= 0; beta + gamma > 0.
        temperature (float): The KL term's temperature T, finite and > 0.
        pseudo_labels (bool): Train docs without gold tags on the teacher's
            best valid BILUO sequence.
        kl_on (str): What the KL term compares the teacher with: "emissions"
            or "marginals" (CRF students only).
        RAISES ValueError: An option out of range, not finite, or not a number
            (a config's `nan` reaches here as a string).
        """
        beta = _finite_option("beta", beta, minimum=0.0)
        gamma = _finite_option("gamma", gamma, minimum=0.0)
        temperature = _finite_option("temperature", temperature, minimum=None)
        if beta == 0 and gamma == 0:
            raise ValueError("DistillationLoss needs beta > 0 or gamma > 0.")
        if kl_on not in KL_ON:
            raise ValueError(
                f"DistillationLoss kl_on must be one of {KL_ON}, got {kl_on!r}."
            )
        self.beta = beta
        self.gamma = gamma
        self.temperature = temperature
        self.pseudo_labels = pseudo_labels
        self.kl_on = kl_on

    @property
    def needs_teacher(self) -> bool:
        """Whether docs without gold tags must carry teacher scores."""
        return self.gamma > 0 or self.pseudo_labels

    def __call__(
        self, guesses: TaggerScores, truths: List[TagTargets]
    ) -> Tuple[TaggerGrads, float]:
        """Compute the gradients and the loss of a batch.

        guesses (TaggerScores): The tagger's scores, one doc each.
        truths (List[TagTargets]): The targets, one per doc.
        RETURNS (Tuple[TaggerGrads, float]): The gradients and the loss.
        RAISES ValueError: As many docs of scores as targets are needed;
            kl_on="marginals" with gamma > 0 needs CRF potentials.
        """
        return self._compute(guesses, truths, backward=True)

    def get_grad(self, guesses: TaggerScores, truths: List[TagTargets]) -> TaggerGrads:
        """The gradients of ``__call__``."""
        return self._compute(guesses, truths, backward=True)[0]

    def get_loss(self, guesses: TaggerScores, truths: List[TagTargets]) -> float:
        """The loss of ``__call__``, without a backward pass."""
        return self._compute(guesses, truths, backward=False)[1]

    def task_targets(
        self, truths: List[TagTargets], constraints: BILUOConstraints
    ) -> List[Ints1d]:
        """The tags the task loss trains each doc on.

        truths (List[TagTargets]): The docs' targets.
        constraints (BILUOConstraints): The valid sequences, for pseudo-labels.
        RETURNS (List[Ints1d]): Per doc, its gold tag ids or, if it has no gold
            tag, pseudo_labels is set and it has teacher scores, the teacher's
            best valid sequence.
        """
        targets = []
        for truth in truths:
            if truth.has_gold or not self.pseudo_labels or truth.teacher is None:
                targets.append(truth.gold)
            else:
                targets.append(pseudo_labels(truth.teacher, constraints))
        return targets

    def _compute(
        self, guesses: TaggerScores, truths: List[TagTargets], *, backward: bool
    ) -> Tuple[TaggerGrads, float]:
        if len(guesses.emissions) != len(truths):
            raise ValueError(
                f"DistillationLoss got {len(guesses.emissions)} docs of scores but "
                f"{len(truths)} targets."
            )
        lengths = [len(e) for e in guesses.emissions]
        keep = [i for i, n in enumerate(lengths) if n > 0]
        grads = TaggerGrads(
            [cast(Floats2d, numpy.zeros_like(e)) for e in guesses.emissions]
        )
        if guesses.potentials is not None:
            grads.d_potentials = tuple(  # type: ignore[assignment]
                numpy.zeros_like(p) for p in guesses.potentials
            )
        if not keep:
            return grads, 0.0
        E = _pad([guesses.emissions[i] for i in keep]).requires_grad_(backward)
        L = torch.tensor([lengths[i] for i in keep], dtype=torch.long)
        token_mask = torch.arange(E.shape[1])[None, :] < L[:, None]
        targets = self.task_targets([truths[i] for i in keep], guesses.constraints)
        tags = _pad_ids(targets, E.shape[1])
        total = E.new_zeros(())
        potentials = None
        masked = None
        if guesses.potentials is not None:
            trans, start, end = (
                torch.tensor(numpy.asarray(p)).to(E.dtype).requires_grad_(backward)
                for p in guesses.potentials
            )
            potentials = [trans, start, end]
            masked = masked_potentials(trans, start, end, guesses.constraints)
        elif self.gamma > 0 and self.kl_on == "marginals":
            raise ValueError(
                "DistillationLoss kl_on='marginals' needs a CRF student (the "
                "tagger's crf = true); a softmax head has no marginals to compare."
            )
        if self.beta > 0:
            if masked is not None:
                task = sequence_nll(E, L, tags, *masked).sum()
            else:
                log_probs = torch.log_softmax(E, dim=-1)
                known = (tags != MISSING) & token_mask
                picked = log_probs.gather(-1, tags.clamp(min=0).unsqueeze(-1))
                task = -(picked.squeeze(-1) * known).sum()
            total = total + self.beta * task
        if self.gamma > 0:
            teacher_rows = [
                j for j, i in enumerate(keep) if truths[i].teacher is not None
            ]
            if teacher_rows:
                P = _pad(
                    [truths[keep[j]].teacher for j in teacher_rows],  # type: ignore
                    max_len=E.shape[1],
                )
                if self.kl_on == "marginals":
                    assert masked is not None
                    kl = kl_divergence_marginals(
                        E[teacher_rows], L[teacher_rows], masked, P, self.temperature
                    )
                else:
                    kl = kl_divergence(E[teacher_rows], P, self.temperature)
                total = total + self.gamma * (kl * token_mask[teacher_rows]).sum()
        total = total / len(keep)
        if backward and total.requires_grad:
            total.backward()
            assert E.grad is not None
            d_E = E.grad.numpy()
            for row, i in enumerate(keep):
                grads.d_emissions[i] = cast(
                    Floats2d, d_E[row, : lengths[i]].astype("float32")
                )
            if potentials is not None:
                grads.d_potentials = tuple(  # type: ignore[assignment]
                    numpy.zeros(p.shape, dtype="float32")
                    if p.grad is None  # no term used them (beta = 0, KL on emissions)
                    else p.grad.numpy().astype("float32")
                    for p in potentials
                )
        return grads, float(total.detach())


def kl_divergence(
    student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float
) -> torch.Tensor:
    """T^2 * KL(softmax(log p / T) || softmax(s / T)) per token, where p are the
    teacher's probabilities (so log p are its logits up to a constant).

    student_logits (torch.Tensor): Float (..., K) student emissions s.
    teacher_probs (torch.Tensor): Float (..., K) teacher probabilities p,
        floored at 1e-8 before the log.
    temperature (float): T.
    RETURNS (torch.Tensor): The (...) divergences, differentiable w.r.t. s.
    """
    T = temperature
    log_p = torch.log(teacher_probs.clamp(min=1e-8))
    log_p_T = torch.log_softmax(log_p / T, dim=-1)
    log_q_T = torch.log_softmax(student_logits / T, dim=-1)
    return (T * T) * (log_p_T.exp() * (log_p_T - log_q_T)).sum(-1)


def kl_divergence_marginals(
    emissions: torch.Tensor,
    lengths: torch.Tensor,
    potentials: Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    teacher_probs: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """T^2 * KL(softmax(log p / T) || q_T) per token, where q_T are the CRF's
    marginals with emissions and (masked) transition scores divided by T.

    emissions (torch.Tensor): Float (B, T, K) student emissions.
    lengths (torch.Tensor): Long (B,) doc lengths.
    potentials (Tuple[torch.Tensor, torch.Tensor, torch.Tensor]): The masked
        (transitions, start, end) scores.
    teacher_probs (torch.Tensor): Float (B, T, K) teacher probabilities.
    temperature (float): T.
    RETURNS (torch.Tensor): The (B, T) divergences; padding positions give
        zeros.
    """
    T = temperature
    log_p_T = torch.log_softmax(torch.log(teacher_probs.clamp(min=1e-8)) / T, dim=-1)
    trans, start, end = (p / T for p in potentials)
    q_T = marginals(emissions / T, lengths, trans, start, end)
    log_q_T = torch.log(q_T.clamp(min=1e-12))
    return (T * T) * (log_p_T.exp() * (log_p_T - log_q_T)).sum(-1)


def _pad(arrays: List[Floats2d], max_len: Optional[int] = None) -> torch.Tensor:
    if max_len is None:
        max_len = max(len(a) for a in arrays)
    width = arrays[0].shape[1]
    out = numpy.zeros((len(arrays), max_len, width), dtype="float32")
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out)


def _finite_option(name: str, value: Any, *, minimum: Optional[float]) -> float:
    """`value` as a float, checked: a number (not a bool or a string), finite,
    and >= `minimum`, or > 0 where `minimum` is None.

    name (str): The option's name, for the error.
    value (Any): The option's value.
    minimum (Optional[float]): The smallest value allowed; None: positive.
    RETURNS (float): The value.
    RAISES ValueError: Any other value, with the option's name and value.
    """
    bound = "positive" if minimum is None else f">= {minimum:g}"
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (
        is_number
        and math.isfinite(value)
        and (value > 0 if minimum is None else value >= minimum)
    ):
        raise ValueError(
            f"DistillationLoss {name} must be a finite number {bound}, got {value!r}."
        )
    return float(value)


def _pad_ids(arrays: List[Ints1d], max_len: int) -> torch.Tensor:
    out = numpy.full((len(arrays), max_len), MISSING, dtype="int64")
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out)


@registry.losses("spacy-kd-ner.DistillationLoss.v1")
def configure_distillation_loss_v1(
    *,
    beta: float = 1.0,
    gamma: float = 0.0,
    temperature: float = 1.0,
    pseudo_labels: bool = False,
    kl_on: str = "emissions",
) -> DistillationLoss:
    """The student's loss. With the defaults (beta=1, gamma=0) it is the plain
    task loss on gold tags: baseline training. See the module docstring and
    ``DistillationLoss.__init__`` for the options.

    RETURNS (DistillationLoss): The loss.
    """
    return DistillationLoss(
        beta=beta,
        gamma=gamma,
        temperature=temperature,
        pseudo_labels=pseudo_labels,
        kl_on=kl_on,
    )
