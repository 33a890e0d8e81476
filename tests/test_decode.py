"""The numpy Viterbi used at inference agrees with the batched torch one; the
stored CRF distributions are proper distributions on long docs too."""

import numpy
import torch

from spacy_kd_ner.models.crf import biluo_constraints, masked_potentials, viterbi_decode
from spacy_kd_ner.models.decode import (
    constrained_decode,
    tag_distributions,
    viterbi_numpy,
)

TAGS = ["O"] + [f"{p}-{t}" for t in ("LOC", "PER") for p in "BILU"]


def test_numpy_viterbi_equals_torch_viterbi():
    rng = numpy.random.default_rng(0)
    constraints = biluo_constraints(TAGS)
    K = len(TAGS)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        E = torch.tensor(rng.normal(scale=3, size=(1, n, K)))
        potentials = [torch.tensor(rng.normal(size=s)) for s in ((K, K), (K,), (K,))]
        masked = masked_potentials(*potentials, constraints)
        expected = viterbi_decode(E, torch.tensor([n]), *masked)[0]
        got = viterbi_numpy(*(x.numpy() for x in (E[0], *masked)))
        assert list(got) == list(expected)


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
    # Forward-backward sums grow with the length: a 3,000-token doc in float32
    # drifted ~1% off; the stored distributions must stay distributions.
    rng = numpy.random.default_rng(2)
    constraints = biluo_constraints(TAGS)
    K = len(TAGS)
    potentials = tuple(
        torch.tensor(rng.normal(scale=2, size=s), dtype=torch.float32)
        for s in ((K, K), (K,), (K,))
    )
    scores = [rng.normal(scale=8, size=(n, K)).astype("float32") for n in (3000, 0, 7)]
    probs = tag_distributions(scores, constraints, potentials)
    assert [p.shape for p in probs] == [(3000, K), (0, K), (7, K)]
    for p in probs:
        assert p.dtype == numpy.float32
        numpy.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
