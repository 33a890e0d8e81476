"""LSTMCNNEncoder.v3: with freeze_words, training leaves the word table as
the static vectors started it; everything else still learns."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import fix_random_seed, registry
from test_package import TRAIN_DATA
from test_word_dropout import ENCODER
from test_word_table import vectors_table, write_vectors_dir
from thinc.api import Adam

from spacy_kd_ner.models.lstm_cnn import _torch_module

WORDS = [["Paris", "and", "London"], ["the", "Berlin", "in", "munich"]]


def trained_tables(freeze_words: bool, *, with_vectors: bool = True):
    """The word and char tables before and after three training steps."""
    fix_random_seed(0)
    name = "spacy-kd-ner.LSTMCNNEncoder.v3"
    config = {"@architectures": name, **ENCODER, "freeze_words": freeze_words}
    model = registry.resolve({"m": config})["m"]
    nlp = spacy.blank("en")
    if with_vectors:
        nlp.vocab.vectors = vectors_table()
    docs = [Doc(nlp.vocab, words=words) for words in WORDS]
    model.initialize(X=docs)
    module = _torch_module(model)
    tables = [module.words.weight, module.chars.embed.weight]
    before = [table.detach().clone() for table in tables]
    optimizer = Adam(0.01)
    for _ in range(3):
        Y, backprop = model.begin_update(docs)
        backprop([numpy.ones_like(y) for y in Y])
        model.finish_update(optimizer)
    after = [table.detach() for table in tables]
    return before, after


def test_v3_freeze_words_keeps_the_word_table():
    (words0, chars0), (words1, chars1) = trained_tables(True)
    numpy.testing.assert_array_equal(words0.numpy(), words1.numpy())
    assert not numpy.allclose(chars0.numpy(), chars1.numpy())


def test_v3_without_freeze_words_fine_tunes_the_word_table():
    (words0, _), (words1, _) = trained_tables(False)
    assert not numpy.allclose(words0.numpy(), words1.numpy())


def test_v3_freeze_words_needs_static_vectors():
    with pytest.raises(ValueError, match="freeze_words needs static vectors"):
        trained_tables(True, with_vectors=False)


def test_kd_ner_trains_a_frozen_word_table_from_a_vectors_directory(tmp_path):
    """The pipe copies the vectors in after the encoder's own init (which
    finds none in the pipeline): the frozen table is the vectors' rows."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    encoder = {"@architectures": "spacy-kd-ner.LSTMCNNEncoder.v3", **ENCODER}
    nlp.add_pipe(
        "kd_ner", config={"model": {"encoder": {**encoder, "freeze_words": True}}}
    )
    nlp.config["initialize"]["components"]["kd_ner"] = {
        "vectors": str(write_vectors_dir(tmp_path / "vectors"))
    }
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents})
        for text, ents in TRAIN_DATA
    ]
    nlp.initialize(lambda: examples)
    module = _torch_module(nlp.get_pipe("kd_ner").model.get_ref("encoder"))
    before = module.words.weight.detach().clone()
    for _ in range(3):
        nlp.update(examples)
    numpy.testing.assert_array_equal(
        before.numpy(), module.words.weight.detach().numpy()
    )
