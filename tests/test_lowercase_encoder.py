"""LSTMCNNEncoder.v3: with lowercase, the encoder is blind to case."""

import numpy
import spacy
from spacy.tokens import Doc
from spacy.util import fix_random_seed, registry
from test_word_dropout import ENCODER

WORDS = ["Anna", "visited", "Rome", "today"]


def encoded(version: str, words_list, **config):
    """The encoder's outputs for docs of `words_list`, from the same seed."""
    fix_random_seed(0)
    name = f"spacy-kd-ner.LSTMCNNEncoder.{version}"
    model = registry.resolve({"m": {"@architectures": name, **ENCODER, **config}})
    model = model["m"]
    vocab = spacy.blank("en").vocab
    docs = [Doc(vocab, words=words) for words in words_list]
    model.initialize(X=docs)
    return model.predict(docs)


def test_v3_lowercase_gives_every_casing_the_same_features():
    casings = [WORDS, [w.lower() for w in WORDS], [w.upper() for w in WORDS]]
    first, *others = encoded("v3", casings, lowercase=True)
    for other in others:
        numpy.testing.assert_allclose(first, other, rtol=1e-6)


def test_v3_cased_tells_casings_apart_and_is_v2():
    casings = [WORDS, [w.lower() for w in WORDS]]
    cased, lower = encoded("v3", casings, lowercase=False)
    assert not numpy.allclose(cased, lower)
    for a, b in zip(encoded("v2", casings), [cased, lower]):
        numpy.testing.assert_array_equal(a, b)
