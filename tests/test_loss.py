"""Check the distillation loss against finite differences and hand computations."""

import itertools
from typing import List, Optional

import numpy
import pytest
import torch
from thinc.api import Config, registry

import spacy_kd_ner.loss as loss_module
from spacy_kd_ner.biluo import biluo_constraints, pseudo_labels
from spacy_kd_ner.loss import (
    MISSING,
    DistillationLoss,
    TaggerScores,
    TagTargets,
    configure_distillation_loss_v1,
    kl_divergence,
)
from spacy_kd_ner.models.crf import masked_potentials, sequence_nll

TAGS = ["O", "B-LOC", "I-LOC", "L-LOC", "U-LOC", "B-PER", "I-PER", "L-PER", "U-PER"]
K = len(TAGS)
IDX = {tag: i for i, tag in enumerate(TAGS)}
CONSTRAINTS = biluo_constraints(TAGS)


@pytest.fixture
def float64(monkeypatch):
    """Make the loss compute in float64 (it pads into float32 tensors), so that
    finite differences can be compared tightly with its gradients."""

    def pad64(arrays: List[numpy.ndarray], max_len: Optional[int] = None):
        max_len = max(len(a) for a in arrays) if max_len is None else max_len
        out = numpy.zeros((len(arrays), max_len, arrays[0].shape[1]), dtype="float64")
        for i, a in enumerate(arrays):
            out[i, : len(a)] = a
        return torch.from_numpy(out)

    monkeypatch.setattr(loss_module, "_pad", pad64)


def tag_ids(*names: str) -> numpy.ndarray:
    return numpy.array([IDX[n] if n != "-" else MISSING for n in names], dtype="int64")


def random_teacher(rng: numpy.random.Generator, n: int, sharp: float = 2.0):
    logits = sharp * rng.normal(size=(n, K))
    probs = numpy.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def softmax(X: numpy.ndarray, axis: int = -1) -> numpy.ndarray:
    exp = numpy.exp(X - X.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)


def make_batch(seed: int = 0, crf: bool = True):
    """A batch of every kind of doc: labeled with a teacher, unlabeled with a
    teacher (pseudo-labels), partially labeled and longest without a teacher,
    and empty."""
    rng = numpy.random.default_rng(seed)
    lengths = [4, 3, 6, 0]
    emissions = [rng.normal(size=(n, K)) for n in lengths]
    truths = [
        TagTargets(
            gold=tag_ids("U-PER", "O", "B-LOC", "L-LOC"), teacher=random_teacher(rng, 4)
        ),
        TagTargets(gold=tag_ids("-", "-", "-"), teacher=random_teacher(rng, 3)),
        TagTargets(gold=tag_ids("O", "-", "-", "I-PER", "L-PER", "O")),
        TagTargets(gold=tag_ids()),
    ]
    potentials = None
    if crf:
        potentials = (
            rng.normal(size=(K, K)),
            rng.normal(size=(K,)),
            rng.normal(size=(K,)),
        )
    return TaggerScores(emissions, CONSTRAINTS, potentials), truths


def finite_differences(
    loss: DistillationLoss, scores: TaggerScores, truths, array, eps=1e-6
):
    grad = numpy.zeros_like(array)
    for index in numpy.ndindex(*array.shape):
        original = array[index]
        array[index] = original + eps
        plus = loss.get_loss(scores, truths)
        array[index] = original - eps
        minus = loss.get_loss(scores, truths)
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("crf", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_gradient_matches_finite_differences(float64, crf, temperature):
    scores, truths = make_batch(seed=1, crf=crf)
    loss = DistillationLoss(
        beta=0.3, gamma=0.7, temperature=temperature, pseudo_labels=True
    )
    grads, value = loss(scores, truths)
    assert value == pytest.approx(loss.get_loss(scores, truths))
    assert value > 0
    for emissions, d_emissions in zip(scores.emissions, grads.d_emissions):
        assert d_emissions.shape == emissions.shape
        if len(emissions):
            expected = finite_differences(loss, scores, truths, emissions)
            numpy.testing.assert_allclose(d_emissions, expected, rtol=1e-4, atol=1e-6)
    if not crf:
        assert grads.d_potentials is None
        return
    assert scores.potentials is not None and grads.d_potentials is not None
    for name, p, d_p in zip(
        ("trans", "start", "end"), scores.potentials, grads.d_potentials
    ):
        assert d_p.shape == p.shape
        expected = finite_differences(loss, scores, truths, p)
        numpy.testing.assert_allclose(d_p, expected, rtol=1e-4, atol=1e-6, err_msg=name)
    # Forbidden transitions get no gradient; allowed ones do.
    d_trans = grads.d_potentials[0]
    assert not d_trans[~CONSTRAINTS.transitions.numpy()].any()
    assert numpy.abs(d_trans[CONSTRAINTS.transitions.numpy()]).sum() > 0


@pytest.mark.parametrize("beta", [0.0, 0.4])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_kl_on_marginals_gradient_matches_finite_differences(
    float64, beta, temperature
):
    scores, truths = make_batch(seed=3, crf=True)
    loss = DistillationLoss(
        beta=beta,
        gamma=0.7,
        temperature=temperature,
        pseudo_labels=True,
        kl_on="marginals",
    )
    grads, value = loss(scores, truths)
    assert value > 0
    for emissions, d_emissions in zip(scores.emissions, grads.d_emissions):
        if len(emissions):
            expected = finite_differences(loss, scores, truths, emissions)
            numpy.testing.assert_allclose(d_emissions, expected, rtol=1e-4, atol=1e-6)
    assert scores.potentials is not None and grads.d_potentials is not None
    for name, p, d_p in zip(
        ("trans", "start", "end"), scores.potentials, grads.d_potentials
    ):
        expected = finite_differences(loss, scores, truths, p)
        numpy.testing.assert_allclose(d_p, expected, rtol=1e-4, atol=1e-6, err_msg=name)
    # Unlike the KL on emissions, the KL on marginals trains the transitions.
    assert numpy.abs(grads.d_potentials[0]).sum() > 0


def test_kl_on_marginals_value_by_enumeration(float64):
    """The student's marginals by brute force over every valid tag sequence of
    a 3-token doc: q_T(t_i = k) = sum over sequences with y_i = k of
    exp(score / T) / Z_T."""
    T = 2.0
    scores, truths = make_batch(seed=4, crf=True)
    assert scores.potentials is not None
    emissions = scores.emissions[1]  # 3 tokens, teacher, no gold
    teacher = truths[1].teacher
    assert teacher is not None
    trans, start, end = (numpy.asarray(p) for p in scores.potentials)
    valid = CONSTRAINTS.transitions.numpy()
    q = numpy.zeros((3, K))
    for seq in itertools.product(range(K), repeat=3):
        if not is_valid(list(seq)):
            continue
        score = (
            start[seq[0]]
            + end[seq[-1]]
            + sum(emissions[i, t] for i, t in enumerate(seq))
        )
        score += sum(trans[a, b] for a, b in zip(seq, seq[1:]))
        assert all(valid[a, b] for a, b in zip(seq, seq[1:]))
        for i, t in enumerate(seq):
            q[i, t] += numpy.exp(score / T)
    q /= q.sum(axis=1, keepdims=True)
    # A CRF teacher gives no mass to tags that no valid sequence has there.
    teacher = numpy.where(q > 0, teacher, 0.0)
    teacher /= teacher.sum(axis=1, keepdims=True)
    # The loss floors p at 1e-8 and q at 1e-12 (log of zero).
    p_T = softmax(numpy.log(teacher.clip(min=1e-8)) / T)
    expected = T**2 * (p_T * (numpy.log(p_T) - numpy.log(q.clip(min=1e-12)))).sum()
    loss = DistillationLoss(beta=0.0, gamma=1.0, temperature=T, kl_on="marginals")
    one = TaggerScores([emissions], CONSTRAINTS, scores.potentials)
    target = TagTargets(gold=truths[1].gold, teacher=teacher)
    assert loss.get_loss(one, [target]) == pytest.approx(expected, rel=1e-6)


def test_kl_on_marginals_needs_crf():
    scores, truths = make_batch(seed=5, crf=False)
    loss = DistillationLoss(gamma=0.5, kl_on="marginals")
    with pytest.raises(ValueError, match="needs a CRF student"):
        loss(scores, truths)


@pytest.mark.parametrize("crf", [False, True])
def test_float32_path_matches_float64(crf):
    """The real (float32) computation agrees with the float64 one closely."""
    scores, truths = make_batch(seed=2, crf=crf)
    scores.emissions = [e.astype("float32") for e in scores.emissions]
    loss = DistillationLoss(beta=0.5, gamma=0.5, temperature=2.0, pseudo_labels=True)
    grads32, value32 = loss(scores, truths)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loss_module, "_pad", lambda a, max_len=None: _pad64(a, max_len))
        grads64, value64 = loss(scores, truths)
    assert value32 == pytest.approx(value64, rel=1e-5)
    for d32, d64 in zip(grads32.d_emissions, grads64.d_emissions):
        assert d32.dtype == numpy.float32
        numpy.testing.assert_allclose(d32, d64, rtol=1e-3, atol=1e-5)


def _pad64(arrays, max_len=None):
    max_len = max(len(a) for a in arrays) if max_len is None else max_len
    out = numpy.zeros((len(arrays), max_len, arrays[0].shape[1]), dtype="float64")
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out)


def test_gamma_zero_crf_equals_sequence_nll(float64):
    """With gamma = 0 and labeled docs only, the loss is the CRF NLL, averaged
    over the docs, whether or not the docs carry teacher scores."""
    scores, truths = make_batch(seed=3, crf=True)
    labeled = [0, 2]
    scores = TaggerScores(
        [scores.emissions[i] for i in labeled], CONSTRAINTS, scores.potentials
    )
    truths = [truths[i] for i in labeled]
    loss = DistillationLoss(beta=1.0, gamma=0.0)
    _, value = loss(scores, truths)

    lengths = torch.tensor([len(e) for e in scores.emissions])
    E = torch.zeros(2, int(lengths.max()), K, dtype=torch.float64)
    tags = torch.full((2, int(lengths.max())), -1, dtype=torch.long)
    for i, (e, t) in enumerate(zip(scores.emissions, truths)):
        E[i, : len(e)] = torch.from_numpy(e)
        tags[i, : len(e)] = torch.from_numpy(t.gold)
    assert scores.potentials is not None
    potentials = [torch.from_numpy(p) for p in scores.potentials]
    nll = sequence_nll(E, lengths, tags, *masked_potentials(*potentials, CONSTRAINTS))
    assert value == pytest.approx(float(nll.sum()) / 2, rel=1e-9)
    # The teacher scores of the labeled doc change nothing at gamma = 0.
    truths[0] = TagTargets(gold=truths[0].gold)
    assert loss.get_loss(scores, truths) == pytest.approx(value, rel=1e-12)


def test_gamma_zero_softmax_equals_cross_entropy():
    scores, truths = make_batch(seed=4, crf=False)
    labeled = [0, 2]
    scores = TaggerScores([scores.emissions[i] for i in labeled], CONSTRAINTS)
    truths = [truths[i] for i in labeled]
    grads, value = DistillationLoss()(scores, truths)
    expected = 0.0
    for e, t, d in zip(scores.emissions, truths, grads.d_emissions):
        probs = softmax(e)
        known = t.gold != MISSING
        expected -= numpy.log(probs[known, t.gold[known]]).sum()
        # d CE / d logits = softmax - one-hot, on known tokens only, / n_docs
        one_hot = numpy.zeros_like(probs)
        one_hot[known, t.gold[known]] = 1.0
        numpy.testing.assert_allclose(
            d, (probs - one_hot) * known[:, None] / 2, rtol=1e-4, atol=1e-6
        )
    assert value == pytest.approx(expected / 2, rel=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_kl_divergence_temperature_scaling(temperature):
    rng = numpy.random.default_rng(5)
    student = rng.normal(size=(2, 3, K))
    teacher = softmax(rng.normal(size=(2, 3, K)))
    kl = kl_divergence(
        torch.from_numpy(student), torch.from_numpy(teacher), temperature
    )
    p_T = softmax(numpy.log(teacher) / temperature)
    q_T = softmax(student / temperature)
    by_hand = (p_T * (numpy.log(p_T) - numpy.log(q_T))).sum(-1)
    numpy.testing.assert_allclose(kl.numpy(), temperature**2 * by_hand, rtol=1e-6)
    if temperature == 1.0:
        plain = (teacher * (numpy.log(teacher) - numpy.log(softmax(student)))).sum(-1)
        numpy.testing.assert_allclose(kl.numpy(), plain, rtol=1e-6)


@pytest.mark.parametrize("crf", [False, True])
def test_distillation_term_value_and_gradient(float64, crf):
    """beta = 0: the loss is gamma * T^2 * KL summed over tokens, averaged over
    docs; its gradient w.r.t. the emissions is gamma * T * (q_T - p_T) / n_docs,
    and the CRF transitions get none."""
    T, gamma = 2.0, 1.0
    scores, truths = make_batch(seed=6, crf=crf)
    rows = [0, 1]
    scores = TaggerScores(
        [scores.emissions[i] for i in rows], CONSTRAINTS, scores.potentials
    )
    truths = [truths[i] for i in rows]
    grads, value = DistillationLoss(beta=0.0, gamma=gamma, temperature=T)(
        scores, truths
    )
    expected = 0.0
    for e, t, d in zip(scores.emissions, truths, grads.d_emissions):
        assert t.teacher is not None
        p_T = softmax(numpy.log(t.teacher) / T)
        q_T = softmax(e / T)
        expected += T**2 * (p_T * (numpy.log(p_T) - numpy.log(q_T))).sum()
        numpy.testing.assert_allclose(
            d, gamma * T * (q_T - p_T) / len(rows), rtol=1e-4, atol=1e-7
        )
    assert value == pytest.approx(gamma * expected / len(rows), rel=1e-6)
    if crf:
        assert grads.d_potentials is not None
        assert not any(d.any() for d in grads.d_potentials)


def is_valid(tag_seq: List[int]) -> bool:
    if not tag_seq:
        return True
    c = CONSTRAINTS
    return (
        bool(c.start[tag_seq[0]])
        and bool(c.end[tag_seq[-1]])
        and all(bool(c.transitions[a, b]) for a, b in zip(tag_seq, tag_seq[1:]))
    )


def test_pseudo_labels_are_teacher_argmax_when_valid():
    rng = numpy.random.default_rng(7)
    gold = tag_ids("B-PER", "I-PER", "L-PER", "O", "U-LOC", "O")
    teacher = 0.3 * random_teacher(rng, len(gold), sharp=1.0)
    teacher[numpy.arange(len(gold)), gold] += 0.7
    assert list(teacher.argmax(axis=1)) == list(gold)
    assert list(pseudo_labels(teacher, CONSTRAINTS)) == list(gold)


def test_pseudo_labels_are_best_valid_sequence_otherwise():
    rng = numpy.random.default_rng(8)
    n_invalid = 0
    for _ in range(20):
        teacher = random_teacher(rng, 4, sharp=3.0)
        argmax = [int(i) for i in teacher.argmax(axis=1)]
        labels = [int(i) for i in pseudo_labels(teacher, CONSTRAINTS)]
        assert is_valid(labels)
        if is_valid(argmax):
            assert labels == argmax
            continue
        n_invalid += 1
        # The best valid sequence by the teacher's log-probabilities.
        log_p = numpy.log(teacher)
        best = max(
            (seq for seq in itertools.product(range(K), repeat=4) if is_valid(seq)),
            key=lambda seq: sum(log_p[i, tag] for i, tag in enumerate(seq)),
        )
        assert labels == list(best)
    assert n_invalid > 5


def test_pseudo_labels_with_zero_probabilities():
    teacher = numpy.zeros((3, K), dtype="float32")
    teacher[0, IDX["I-PER"]] = 1.0  # invalid at the start: impossible argmax
    teacher[1:, IDX["O"]] = 1.0
    labels = [int(i) for i in pseudo_labels(teacher, CONSTRAINTS)]
    assert is_valid(labels)


def test_loss_uses_pseudo_labels_for_unlabeled_docs():
    """With pseudo_labels, a doc without gold is trained on the teacher's best
    sequence; without, it contributes nothing to the task loss."""
    rng = numpy.random.default_rng(9)
    gold = tag_ids("U-PER", "O", "B-LOC", "L-LOC")
    teacher = 0.2 * random_teacher(rng, 4)
    teacher[numpy.arange(4), gold] += 0.8
    emissions = [rng.normal(size=(4, K))]
    scores = TaggerScores(emissions, CONSTRAINTS)
    unlabeled = [TagTargets(gold=tag_ids("-", "-", "-", "-"), teacher=teacher)]
    as_gold = [TagTargets(gold=gold)]
    with_pl = DistillationLoss(pseudo_labels=True)
    assert with_pl.get_loss(scores, unlabeled) == pytest.approx(
        with_pl.get_loss(scores, as_gold)
    )
    assert DistillationLoss(pseudo_labels=False).get_loss(scores, unlabeled) == 0.0
    # Gold tags win over pseudo-labels when a doc has both.
    other = tag_ids("O", "O", "O", "O")
    both = [TagTargets(gold=other, teacher=teacher)]
    assert with_pl.get_loss(scores, both) == pytest.approx(
        with_pl.get_loss(scores, [TagTargets(gold=other)])
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"beta": -0.1},
        {"gamma": -1.0},
        {"beta": 0.0, "gamma": 0.0},
        {"temperature": 0.0},
        {"temperature": -1.0},
        {"temperature": float("nan")},
        {"temperature": float("inf")},
        {"gamma": float("inf")},
        {"beta": float("nan")},
        {"beta": 0.5, "gamma": float("-inf")},
        {"temperature": "nan"},
        {"gamma": "0.5"},
        {"gamma": 0.5, "kl_on": "logits"},
    ],
)
def test_invalid_settings_raise(kwargs):
    with pytest.raises(ValueError):
        DistillationLoss(**kwargs)
    with pytest.raises(ValueError):
        configure_distillation_loss_v1(**kwargs)


@pytest.mark.parametrize(
    "option,value",
    [
        ("temperature", "nan"),
        ("temperature", "NaN"),
        ("gamma", "inf"),
        ("gamma", "Infinity"),
        ("beta", "-inf"),
    ],
)
def test_non_finite_option_from_config_raises_clearly(option, value):
    """A non-finite option given as a config override (as `spacy train
    --components.kd_ner.loss.temperature nan` passes it: lowercase `nan` stays a
    string, `NaN` becomes a float) gets the same ValueError naming the option as
    a zero or negative value, not a TypeError."""
    config = Config().from_str(
        '[loss]\n@losses = "spacy-kd-ner.DistillationLoss.v1"\n'
        "beta = 0.5\ngamma = 0.5\ntemperature = 1.0\n",
        overrides={f"loss.{option}": value},
    )
    with pytest.raises(ValueError, match=f"DistillationLoss {option} must be"):
        registry.resolve(config)


def test_registered():
    config = {
        "loss": {
            "@losses": "spacy-kd-ner.DistillationLoss.v1",
            "beta": 0.5,
            "gamma": 0.5,
            "temperature": 2.0,
            "pseudo_labels": True,
        }
    }
    loss = registry.resolve(config)["loss"]
    assert isinstance(loss, DistillationLoss)
    assert (loss.beta, loss.gamma, loss.temperature, loss.pseudo_labels) == (
        0.5,
        0.5,
        2.0,
        True,
    )
    assert loss.needs_teacher
    assert not DistillationLoss().needs_teacher


@pytest.mark.parametrize("crf", [False, True])
def test_empty_docs(crf):
    """Empty docs get empty gradients and do not count in the average."""
    scores, truths = make_batch(seed=10, crf=crf)
    loss = DistillationLoss(beta=0.5, gamma=0.5, pseudo_labels=True)
    grads, value = loss(scores, truths)
    assert grads.d_emissions[3].shape == (0, K)
    kept = [0, 1, 2]
    scores_kept = TaggerScores(
        [scores.emissions[i] for i in kept], CONSTRAINTS, scores.potentials
    )
    grads_kept, value_kept = loss(scores_kept, [truths[i] for i in kept])
    assert value == pytest.approx(value_kept, rel=1e-6)
    for i in kept:
        numpy.testing.assert_allclose(grads.d_emissions[i], grads_kept.d_emissions[i])
    # A batch of empty docs only: zero loss, zero gradients of the right shapes.
    empty = TaggerScores(
        [numpy.zeros((0, K), dtype="float32")] * 2, CONSTRAINTS, scores.potentials
    )
    grads, value = loss(empty, [TagTargets(gold=tag_ids())] * 2)
    assert value == 0.0
    assert [d.shape for d in grads.d_emissions] == [(0, K), (0, K)]
    if crf:
        assert grads.d_potentials is not None
        assert [d.shape for d in grads.d_potentials] == [(K, K), (K,), (K,)]
        assert not any(d.any() for d in grads.d_potentials)


def test_teacher_on_shorter_doc_than_longest():
    """Regression: only a short doc carries teacher scores, the longest does
    not; the teacher scores must be padded to the batch's length."""
    rng = numpy.random.default_rng(11)
    scores = TaggerScores(
        [rng.normal(size=(6, K)), rng.normal(size=(2, K))], CONSTRAINTS
    )
    truths = [
        TagTargets(gold=tag_ids("O", "O", "U-PER", "O", "O", "O")),
        TagTargets(gold=tag_ids("-", "-"), teacher=random_teacher(rng, 2)),
    ]
    grads, value = DistillationLoss(beta=0.5, gamma=0.5)(scores, truths)
    assert numpy.isfinite(value)
    assert [d.shape for d in grads.d_emissions] == [(6, K), (2, K)]


def test_mismatched_batch_raises():
    scores, truths = make_batch(seed=12)
    with pytest.raises(ValueError, match="targets"):
        DistillationLoss()(scores, truths[:2])
