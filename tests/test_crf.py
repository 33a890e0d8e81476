"""Check the CRF maths against brute-force enumeration of every tag sequence."""

import itertools
from typing import List, Optional, Sequence, Tuple

import pytest
import torch
from spacy.tokens import Doc
from spacy.training.iob_utils import biluo_tags_to_spans
from spacy.vocab import Vocab

from spacy_kd_ner.biluo import biluo_constraints
from spacy_kd_ner.models.crf import (
    NEG,
    log_partition,
    marginals,
    masked_potentials,
    sequence_nll,
    viterbi_decode,
)

TAGS_1 = ["O", "B-X", "I-X", "L-X", "U-X"]
TAGS_2 = ["B-PER", "I-PER", "L-PER", "U-PER", "O", "B-ORG", "I-ORG", "L-ORG", "U-ORG"]
LENGTHS = [4, 1, 3, 2]
T = max(LENGTHS)

Potentials = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def make_inputs(
    n_tags: int, seed: int, lengths: Sequence[int] = LENGTHS, scale: float = 1.0
) -> Tuple[torch.Tensor, torch.Tensor, Potentials]:
    """Random float64 emissions (garbage at padding), lengths and potentials."""
    gen = torch.Generator().manual_seed(seed)
    emissions = scale * torch.randn(
        len(lengths), max(lengths), n_tags, generator=gen, dtype=torch.float64
    )
    for b, length in enumerate(lengths):
        emissions[b, length:] = 1e3 * torch.randn(
            max(lengths) - length, n_tags, generator=gen, dtype=torch.float64
        )
    potentials = (
        scale * torch.randn(n_tags, n_tags, generator=gen, dtype=torch.float64),
        scale * torch.randn(n_tags, generator=gen, dtype=torch.float64),
        scale * torch.randn(n_tags, generator=gen, dtype=torch.float64),
    )
    return emissions, torch.tensor(lengths), potentials


def get_potentials(tags: List[str], seed: int, constrained: bool):
    """Random inputs, with the potentials masked when ``constrained``."""
    emissions, lengths, potentials = make_inputs(len(tags), seed)
    if constrained:
        potentials = masked_potentials(*potentials, biluo_constraints(tags))
    return emissions, lengths, potentials


def enumerate_paths(
    emissions: torch.Tensor, length: int, potentials: Potentials
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Every tag sequence of one sequence's real positions, and its score."""
    transitions, start, end = potentials
    n_tags = emissions.shape[1]
    paths = torch.tensor(list(itertools.product(range(n_tags), repeat=length)))
    steps = torch.arange(length)
    scores = emissions[steps, paths].sum(dim=1) + start[paths[:, 0]]
    scores = scores + end[paths[:, -1]]
    scores = scores + transitions[paths[:, :-1], paths[:, 1:]].sum(dim=1)
    return paths, scores


def is_valid_biluo(tag_names: Sequence[str]) -> bool:
    """Whether a sequence of BILUO tag names is well formed."""
    previous = "O"
    for name in list(tag_names) + ["O"]:
        prefix, _, label = name.partition("-")
        if previous[0] in "BI":
            if prefix not in "IL" or label != previous[2:]:
                return False
        elif prefix in "IL":
            return False
        previous = name
    return True


def one_hot_gold(tags: torch.Tensor, lengths: torch.Tensor, n_tags: int):
    """One-hot gold tags, zeros at padding."""
    mask = torch.arange(tags.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    tags = tags.masked_fill(~mask, 0)
    one_hot = torch.nn.functional.one_hot(tags, n_tags).double()
    return one_hot * mask.unsqueeze(2)


def random_tags(
    lengths: torch.Tensor, n_tags: int, seed: int, p_missing: float = 0.0
) -> torch.Tensor:
    """Random gold tags, -1 with probability ``p_missing``, garbage at padding."""
    gen = torch.Generator().manual_seed(seed)
    tags = torch.randint(n_tags, (len(lengths), int(lengths.max())), generator=gen)
    missing = torch.rand(tags.shape, generator=gen) < p_missing
    tags = tags.masked_fill(missing, -1)
    for b, length in enumerate(lengths.tolist()):
        tags[b, length:] = 12345
    return tags


def test_masked_potentials():
    constraints = biluo_constraints(TAGS_1)
    _, _, potentials = make_inputs(len(TAGS_1), seed=0)
    potentials = tuple(p.requires_grad_() for p in potentials)
    masked = masked_potentials(*potentials, constraints)
    for raw, out, allowed in zip(potentials, masked, constraints):
        assert out.dtype == raw.dtype
        assert torch.equal(out[allowed], raw[allowed])
        assert bool((out[~allowed] == NEG).all())
    sum(out.sum() for out in masked).backward()
    for raw, allowed in zip(potentials, constraints):
        assert raw.grad is not None
        assert torch.equal(raw.grad, allowed.double())


@pytest.mark.parametrize("tags", [TAGS_1, TAGS_2])
@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition(tags: List[str], constrained: bool):
    emissions, lengths, potentials = get_potentials(
        tags, seed=1, constrained=constrained
    )
    log_z = log_partition(emissions, lengths, *potentials)
    assert log_z.shape == (len(LENGTHS),)
    for b, length in enumerate(LENGTHS):
        _, scores = enumerate_paths(emissions[b], length, potentials)
        assert torch.allclose(log_z[b], torch.logsumexp(scores, dim=0))


@pytest.mark.parametrize("tags", [TAGS_1, TAGS_2])
def test_log_partition_over_valid_sequences(tags: List[str]):
    emissions, lengths, potentials = make_inputs(len(tags), seed=2)
    masked = masked_potentials(*potentials, biluo_constraints(tags))
    log_z = log_partition(emissions, lengths, *masked)
    for b, length in enumerate(LENGTHS):
        paths, scores = enumerate_paths(emissions[b], length, potentials)
        valid = torch.tensor([is_valid_biluo([tags[i] for i in p]) for p in paths])
        assert torch.allclose(log_z[b], torch.logsumexp(scores[valid], dim=0))


@pytest.mark.parametrize("tags", [TAGS_1, TAGS_2])
@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("p_missing", [0.0, 0.5])
def test_sequence_nll(tags: List[str], constrained: bool, p_missing: float):
    emissions, lengths, potentials = get_potentials(
        tags, seed=3, constrained=constrained
    )
    gold = random_tags(lengths, len(tags), seed=4, p_missing=p_missing)
    nll = sequence_nll(emissions, lengths, gold, *potentials)
    assert nll.shape == (len(LENGTHS),)
    for b, length in enumerate(LENGTHS):
        paths, scores = enumerate_paths(emissions[b], length, potentials)
        labels = gold[b, :length]
        compatible = ((paths == labels) | (labels < 0)).all(dim=1)
        expected = torch.logsumexp(scores, 0) - torch.logsumexp(scores[compatible], 0)
        assert torch.allclose(nll[b], expected)
        if p_missing == 0.0:
            assert int(compatible.sum()) == 1


def test_sequence_nll_all_missing_is_zero():
    emissions, lengths, potentials = make_inputs(len(TAGS_2), seed=5)
    gold = torch.full((len(LENGTHS), T), -1)
    nll = sequence_nll(emissions, lengths, gold, *potentials)
    assert torch.allclose(nll, torch.zeros_like(nll))


@pytest.mark.parametrize("tags", [TAGS_1, TAGS_2])
@pytest.mark.parametrize("constrained", [False, True])
def test_viterbi_decode(tags: List[str], constrained: bool):
    for seed in range(5):
        emissions, lengths, potentials = get_potentials(tags, seed, constrained)
        decoded = viterbi_decode(emissions, lengths, *potentials)
        assert [len(path) for path in decoded] == LENGTHS
        for b, length in enumerate(LENGTHS):
            paths, scores = enumerate_paths(emissions[b], length, potentials)
            assert decoded[b] == paths[scores.argmax()].tolist()


def test_viterbi_decode_with_grad_inputs():
    emissions, lengths, potentials = make_inputs(len(TAGS_1), seed=6)
    emissions.requires_grad_()
    decoded = viterbi_decode(emissions, lengths, *potentials)
    assert all(isinstance(tag, int) for path in decoded for tag in path)


@pytest.mark.parametrize("tags", [TAGS_1, TAGS_2])
def test_viterbi_decode_is_valid_biluo(tags: List[str]):
    constraints = biluo_constraints(tags)
    vocab = Vocab()
    lengths = [1, 2, 3, 5, 8, 13, 21, 2]
    for seed in range(40):
        # Large scores, so the unconstrained optimum is usually invalid.
        emissions, lengths_t, potentials = make_inputs(
            len(tags), seed, lengths=lengths, scale=5.0
        )
        masked = masked_potentials(*potentials, constraints)
        for path in viterbi_decode(emissions, lengths_t, *masked):
            names = [tags[i] for i in path]
            assert is_valid_biluo(names), names
            doc = Doc(vocab, words=[f"w{i}" for i in range(len(names))])
            spans = biluo_tags_to_spans(doc, names)
            n_entity_tokens = sum(name != "O" for name in names)
            assert sum(len(span) for span in spans) == n_entity_tokens


def test_is_valid_biluo_helper():
    assert is_valid_biluo(["O", "B-X", "I-X", "L-X", "U-X"])
    assert not is_valid_biluo(["B-X"])
    assert not is_valid_biluo(["I-X", "L-X"])
    assert not is_valid_biluo(["B-PER", "L-ORG"])


@pytest.mark.parametrize("tags", [TAGS_1, TAGS_2])
@pytest.mark.parametrize("constrained", [False, True])
def test_marginals(tags: List[str], constrained: bool):
    emissions, lengths, potentials = get_potentials(
        tags, seed=7, constrained=constrained
    )
    with torch.no_grad():
        probs = marginals(emissions, lengths, *potentials)
    assert probs.shape == emissions.shape
    for b, length in enumerate(LENGTHS):
        paths, scores = enumerate_paths(emissions[b], length, potentials)
        weights = torch.softmax(scores, dim=0)
        expected = torch.zeros(length, len(tags), dtype=torch.float64)
        for t in range(length):
            expected[t].index_add_(0, paths[:, t], weights)
        assert torch.allclose(probs[b, :length], expected)
        assert torch.allclose(probs[b, :length].sum(dim=1), torch.ones(length).double())
        assert bool((probs[b, length:] == 0).all())


@pytest.mark.parametrize("p_missing", [0.0, 0.5])
@pytest.mark.parametrize("constrained", [False, True])
def test_sequence_nll_gradcheck(p_missing: float, constrained: bool):
    emissions, lengths, potentials = make_inputs(len(TAGS_1), seed=8)
    gold = random_tags(lengths, len(TAGS_1), seed=9, p_missing=p_missing)
    constraints = biluo_constraints(TAGS_1)

    def nll(emissions, transitions, start, end):
        potentials = (transitions, start, end)
        if constrained:
            potentials = masked_potentials(*potentials, constraints)
        return sequence_nll(emissions, lengths, gold, *potentials)

    inputs = tuple(x.clone().requires_grad_() for x in (emissions, *potentials))
    assert torch.autograd.gradcheck(nll, inputs)


def test_log_partition_and_marginals_gradcheck():
    emissions, lengths, potentials = make_inputs(len(TAGS_1), seed=10)
    inputs = tuple(x.clone().requires_grad_() for x in (emissions, *potentials))

    def log_z(emissions, transitions, start, end):
        return log_partition(emissions, lengths, transitions, start, end)

    def probs(emissions, transitions, start, end):
        return marginals(emissions, lengths, transitions, start, end)

    assert torch.autograd.gradcheck(log_z, inputs)
    assert torch.autograd.gradcheck(probs, inputs)


@pytest.mark.parametrize("constrained", [False, True])
def test_nll_gradient_is_marginals_minus_gold(constrained: bool):
    emissions, lengths, potentials = get_potentials(TAGS_2, 11, constrained)
    gold = random_tags(lengths, len(TAGS_2), seed=12)
    emissions.requires_grad_()
    sequence_nll(emissions, lengths, gold, *potentials).sum().backward()
    expected = marginals(emissions, lengths, *potentials)
    expected = expected - one_hot_gold(gold, lengths, len(TAGS_2))
    assert emissions.grad is not None
    assert torch.allclose(emissions.grad, expected)


def _padded_garbage(
    emissions: torch.Tensor, lengths: torch.Tensor, garbage: Optional[float]
) -> torch.Tensor:
    """Copy of ``emissions`` with padding set to ``garbage`` (noise if None)."""
    out = emissions.clone()
    for b, length in enumerate(lengths.tolist()):
        if garbage is None:
            out[b, length:] = -1e5 * torch.rand_like(out[b, length:])
        else:
            out[b, length:] = garbage
    return out


@pytest.mark.parametrize("garbage", [None, float("nan"), float("inf")])
def test_padding_does_not_matter(garbage: Optional[float]):
    emissions, lengths, potentials = get_potentials(TAGS_2, seed=13, constrained=True)
    gold = random_tags(lengths, len(TAGS_2), seed=14, p_missing=0.3)
    padded = _padded_garbage(emissions, lengths, garbage).requires_grad_()
    log_z = log_partition(padded, lengths, *potentials)
    nll = sequence_nll(padded, lengths, gold, *potentials)
    probs = marginals(padded, lengths, *potentials)
    decoded = viterbi_decode(padded, lengths, *potentials)
    (nll.sum() + log_z.sum() + probs.sum()).backward()
    assert padded.grad is not None
    for b, length in enumerate(LENGTHS):
        alone = emissions[b : b + 1, :length]
        alone_lengths = torch.tensor([length])
        alone_gold = gold[b : b + 1, :length]
        assert torch.allclose(
            log_z[b], log_partition(alone, alone_lengths, *potentials)
        )
        expected_nll = sequence_nll(alone, alone_lengths, alone_gold, *potentials)
        assert torch.allclose(nll[b], expected_nll)
        expected_probs = marginals(alone, alone_lengths, *potentials)
        assert torch.allclose(probs[b, :length], expected_probs[0])
        assert decoded[b] == viterbi_decode(alone, alone_lengths, *potentials)[0]
        assert bool((padded.grad[b, length:] == 0).all())
        assert bool(torch.isfinite(padded.grad[b, :length]).all())


def test_all_length_one():
    emissions, lengths, potentials = make_inputs(len(TAGS_1), seed=15, lengths=[1, 1])
    log_z = log_partition(emissions, lengths, *potentials)
    transitions, start, end = potentials
    expected = torch.logsumexp(emissions[:, 0] + start + end, dim=1)
    assert torch.allclose(log_z, expected)
    best = (emissions[:, 0] + start + end).argmax(dim=1)
    assert viterbi_decode(emissions, lengths, *potentials) == [[int(i)] for i in best]
    probs = marginals(emissions, lengths, *potentials)
    assert torch.allclose(probs[:, 0], torch.softmax(emissions[:, 0] + start + end, 1))


def test_float32():
    emissions, lengths, potentials = get_potentials(TAGS_2, seed=16, constrained=True)
    emissions = emissions.float()
    potentials = tuple(p.float() for p in potentials)
    gold = random_tags(lengths, len(TAGS_2), seed=17, p_missing=0.3)
    log_z = log_partition(emissions, lengths, *potentials)
    nll = sequence_nll(emissions, lengths, gold, *potentials)
    probs = marginals(emissions, lengths, *potentials)
    assert log_z.dtype == nll.dtype == probs.dtype == torch.float32
    assert bool((nll >= -1e-4).all())
    assert torch.allclose(probs.sum(dim=2), (probs.sum(dim=2) > 0.5).float(), atol=1e-5)
    decoded = viterbi_decode(emissions, lengths, *potentials)
    assert all(is_valid_biluo([TAGS_2[i] for i in path]) for path in decoded)


def test_bad_lengths_raise():
    emissions, _, potentials = make_inputs(len(TAGS_1), seed=18)
    with pytest.raises(ValueError, match="lengths"):
        log_partition(emissions, torch.tensor([4, 0, 3, 2]), *potentials)
    with pytest.raises(ValueError, match="lengths"):
        log_partition(emissions, torch.tensor([5, 1, 3, 2]), *potentials)
