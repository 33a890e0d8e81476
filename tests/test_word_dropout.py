"""LSTMCNNEncoder.v2: word dropout in training, never in prediction."""

from typing import Optional

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import fix_random_seed, registry
from spacy.vectors import Vectors
from test_word_table import vectors_table

from spacy_kd_ner.models.lstm_cnn import Features, drop_words
from spacy_kd_ner.models.pytorch_lstm_cnn import UNKNOWN_WORD_ID

ENCODER = {
    "hidden_size": 8,
    "depth": 1,
    "dropout": 0.0,
    "char_dim": 4,
    "char_filters": 6,
    "n_hash_rows": 100,
}
WORDS = [["Anna", "visited", "Rome", "today"], ["Bob", "lives", "in", "Paris"]]


def test_drop_words_rate_and_only_word_ids():
    word_ids = numpy.arange(10, 20010, dtype="int64")
    char_ids = numpy.ones((20000, 3), dtype="int64")
    lengths = numpy.array([20000])
    priors = numpy.zeros((20000, 0), dtype="float32")
    fix_random_seed(0)
    dropped, chars, lens, _ = drop_words(
        Features(word_ids, char_ids, lengths, priors), 0.25
    )
    unknown = dropped == UNKNOWN_WORD_ID
    assert 0.23 < unknown.mean() < 0.27
    assert (dropped[~unknown] == word_ids[~unknown]).all()
    assert chars is char_ids and lens is lengths
    kept = drop_words(Features(word_ids, char_ids, lengths, priors), 0.0).word_ids
    assert (kept == word_ids).all()


def encoder(version: str, vectors: Optional[Vectors] = None, **config):
    """An encoder initialized on docs of WORDS, whose vocab has `vectors`."""
    fix_random_seed(0)
    name = f"spacy-kd-ner.LSTMCNNEncoder.{version}"
    model = registry.resolve({"m": {"@architectures": name, **ENCODER, **config}})
    model = model["m"]
    vocab = spacy.blank("en").vocab
    if vectors is not None:
        vocab.vectors = vectors
    docs = [Doc(vocab, words=words) for words in WORDS]
    model.initialize(X=docs)
    return model, docs


def test_v2_without_dropout_is_v1():
    v1, docs = encoder("v1")
    v2, _ = encoder("v2", word_dropout=0.0)
    fix_random_seed(1)
    Y1, _ = v1.begin_update(docs)
    fix_random_seed(1)
    Y2, _ = v2.begin_update(docs)
    for a, b in zip(Y1, Y2):
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("word_ids", ["hash", "table"])
def test_v2_drops_words_in_training_only(word_ids):
    vectors = vectors_table() if word_ids == "table" else None
    plain, docs = encoder("v2", vectors, word_dropout=0.0)
    dropping, _ = encoder("v2", vectors, word_dropout=0.5)
    assert dropping.attrs["word_dropout"] == 0.5
    assert dropping.attrs["word_ids"] == word_ids
    for a, b in zip(plain.predict(docs), dropping.predict(docs)):
        numpy.testing.assert_array_equal(a, b)
    fix_random_seed(1)
    trained, _ = plain.begin_update(docs)
    fix_random_seed(1)
    dropped, _ = dropping.begin_update(docs)
    assert not all(numpy.array_equal(a, b) for a, b in zip(trained, dropped))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_v2_rejects_rates_outside_0_1(rate):
    with pytest.raises(ValueError, match=r"word_dropout must be in \[0, 1\)"):
        encoder("v2", word_dropout=rate)
