"""BILUO tag names and constraints; the numpy Viterbi used at inference agrees
with the batched torch one; the stored CRF distributions are proper
distributions on long docs too."""

import itertools

import numpy
import pytest
import torch

from spacy_kd_ner.biluo import (
    DECODE_GROUP,
    BILUOConstraints,
    biluo_constraints,
    biluo_tag_names,
    constrained_decode,
    tag_distributions,
    tag_labels,
)
from spacy_kd_ner.models.crf import masked_potentials, viterbi_decode, viterbi_numpy

TAGS = ["O"] + [f"{p}-{t}" for t in ("LOC", "PER") for p in "BILU"]
TAGS_2 = ["B-PER", "I-PER", "L-PER", "U-PER", "O", "B-ORG", "I-ORG", "L-ORG", "U-ORG"]


def test_biluo_tag_names():
    assert biluo_tag_names(["LOC", "PER"]) == TAGS
    assert biluo_tag_names([]) == ["O"]


def test_biluo_constraints_pairs():
    constraints = biluo_constraints(TAGS_2)
    assert isinstance(constraints, BILUOConstraints)
    assert constraints.transitions.dtype == torch.bool
    assert constraints.transitions.shape == (9, 9)
    idx = {tag: i for i, tag in enumerate(TAGS_2)}

    def allowed(a: str, b: str) -> bool:
        return bool(constraints.transitions[idx[a], idx[b]])

    for a, b in [
        ("O", "O"),
        ("O", "B-PER"),
        ("O", "U-ORG"),
        ("B-PER", "I-PER"),
        ("B-PER", "L-PER"),
        ("I-ORG", "I-ORG"),
        ("I-ORG", "L-ORG"),
        ("L-PER", "B-ORG"),
        ("L-PER", "O"),
        ("U-ORG", "U-ORG"),
        ("U-PER", "B-PER"),
    ]:
        assert allowed(a, b), (a, b)
    for a, b in [
        ("O", "I-PER"),
        ("O", "L-ORG"),
        ("B-PER", "O"),
        ("B-PER", "B-PER"),
        ("B-PER", "I-ORG"),
        ("B-PER", "L-ORG"),
        ("B-PER", "U-PER"),
        ("I-PER", "O"),
        ("I-ORG", "L-PER"),
        ("L-PER", "I-PER"),
        ("L-PER", "L-PER"),
        ("U-ORG", "I-ORG"),
    ]:
        assert not allowed(a, b), (a, b)
    starts = {tag for tag in TAGS_2 if constraints.start[idx[tag]]}
    ends = {tag for tag in TAGS_2 if constraints.end[idx[tag]]}
    assert starts == {"O", "B-PER", "U-PER", "B-ORG", "U-ORG"}
    assert ends == {"O", "L-PER", "U-PER", "L-ORG", "U-ORG"}


@pytest.mark.parametrize("bad", ["X-PER", "B-", "BPER", "", "o", "B_PER", "-PER"])
def test_biluo_constraints_malformed(bad: str):
    with pytest.raises(ValueError, match=repr(bad)):
        biluo_constraints(["O", "B-PER", bad])


def test_numpy_viterbi_equals_torch_viterbi():
    """A padded batch of mixed lengths: the same paths as the torch Viterbi,
    and as each doc decoded alone."""
    rng = numpy.random.default_rng(0)
    constraints = biluo_constraints(TAGS)
    K = len(TAGS)
    for _ in range(100):
        lengths = rng.integers(1, 12, size=int(rng.integers(1, 6)))
        E = torch.tensor(rng.normal(scale=3, size=(len(lengths), max(lengths), K)))
        potentials = [torch.tensor(rng.normal(size=s)) for s in ((K, K), (K,), (K,))]
        masked = masked_potentials(*potentials, constraints)
        expected = viterbi_decode(E, torch.tensor(lengths), *masked)
        numpy_masked = [x.numpy() for x in masked]
        got = viterbi_numpy(E.numpy(), lengths, *numpy_masked)
        assert [list(path) for path in got] == expected
        for b, n in enumerate(lengths):
            alone = viterbi_numpy(
                E[b : b + 1, :n].numpy(), lengths[b : b + 1], *numpy_masked
            )
            assert list(alone[0]) == expected[b]


def _path_score(path, emissions, trans, start, end):
    total = start[path[0]] + end[path[-1]]
    total += sum(emissions[t, tag] for t, tag in enumerate(path))
    return total + sum(trans[i, j] for i, j in zip(path[:-1], path[1:]))


def test_numpy_viterbi_is_the_brute_force_best():
    rng = numpy.random.default_rng(2)
    K = 3
    for _ in range(50):
        lengths = rng.integers(1, 5, size=3)
        E = rng.normal(scale=2, size=(3, max(lengths), K))
        potentials = rng.normal(size=(K, K)), rng.normal(size=K), rng.normal(size=K)
        got = viterbi_numpy(E, lengths, *potentials)
        for b, n in enumerate(lengths):
            best = max(
                itertools.product(range(K), repeat=int(n)),
                key=lambda path: _path_score(path, E[b], *potentials),  # noqa: B023
            )
            assert tuple(got[b]) == best


def test_constrained_decode_batch_with_empty_docs_is_valid():
    rng = numpy.random.default_rng(1)
    constraints = biluo_constraints(TAGS)
    scores = [
        torch.tensor(rng.normal(scale=5, size=(n, len(TAGS)))) for n in (0, 1, 5, 0, 9)
    ]
    paths = constrained_decode([s.float() for s in scores], constraints)
    assert [len(p) for p in paths] == [0, 1, 5, 0, 9]
    for path in paths:
        if len(path):
            assert constraints.start[path[0]] and constraints.end[path[-1]]
            assert all(
                constraints.transitions[a, b] for a, b in zip(path[:-1], path[1:])
            )


def test_crf_distributions_of_long_docs_sum_to_one():
    # Forward-backward sums grow with the length: the stored distributions
    # must stay distributions.
    rng = numpy.random.default_rng(2)
    constraints = biluo_constraints(TAGS)
    K = len(TAGS)
    potentials = tuple(
        rng.normal(scale=2, size=s).astype("float32") for s in ((K, K), (K,), (K,))
    )
    scores = [rng.normal(scale=8, size=(n, K)).astype("float32") for n in (3000, 0, 7)]
    probs = tag_distributions(scores, constraints, potentials)
    assert [p.shape for p in probs] == [(3000, K), (0, K), (7, K)]
    for p in probs:
        assert p.dtype == numpy.float32
        numpy.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_biluo_constraints_dashed_lowercase_labels():
    # A tag splits on its first dash, as spaCy's split_bilu_label does: the
    # label of "B-geo-loc" is "geo-loc", never "loc".
    tags = biluo_tag_names(["geo", "geo-loc"])
    assert tags[5:] == ["B-geo-loc", "I-geo-loc", "L-geo-loc", "U-geo-loc"]
    constraints = biluo_constraints(tags)
    idx = {tag: i for i, tag in enumerate(tags)}

    def allowed(a: str, b: str) -> bool:
        return bool(constraints.transitions[idx[a], idx[b]])

    assert allowed("B-geo-loc", "I-geo-loc") and allowed("I-geo-loc", "L-geo-loc")
    assert allowed("L-geo-loc", "B-geo") and allowed("U-geo", "U-geo-loc")
    assert not allowed("B-geo-loc", "L-geo") and not allowed("B-geo", "L-geo-loc")
    assert not allowed("I-geo", "I-geo-loc")
    assert bool(constraints.start[idx["U-geo-loc"]])
    assert not bool(constraints.end[idx["I-geo-loc"]])


def test_tag_labels_inverts_biluo_tag_names():
    assert tag_labels(TAGS) == ["LOC", "PER"]
    assert tag_labels(TAGS_2) == ["PER", "ORG"]
    assert tag_labels(biluo_tag_names(["B", "A"])) == ["B", "A"]
    assert tag_labels(["O"]) == []
    with pytest.raises(ValueError, match="Malformed BILUO tag 'X-PER'"):
        tag_labels(["O", "X-PER"])


def test_constrained_decode_groups_equal_each_doc_alone():
    """More docs than one padded group, lengths mixed (empty ones too), out of
    length order: each doc's path is the one it gets decoded alone."""
    rng = numpy.random.default_rng(3)
    constraints = biluo_constraints(TAGS)
    K = len(TAGS)
    potentials = tuple(
        rng.normal(size=s).astype("float32") for s in ((K, K), (K,), (K,))
    )
    scores = [
        rng.normal(scale=3, size=(int(n), K)).astype("float32")
        for n in rng.integers(0, 40, size=3 * DECODE_GROUP + 5)
    ]
    together = constrained_decode(scores, constraints, potentials)
    for doc_scores, path in zip(scores, together):
        alone = constrained_decode([doc_scores], constraints, potentials)[0]
        assert list(path) == list(alone)
