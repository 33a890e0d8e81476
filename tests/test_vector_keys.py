"""Cased keys for lowercase vectors, and spacy-ner.cfg's use of them."""

from pathlib import Path

import numpy
import spacy
from spacy.tokens import DocBin
from spacy.training.initialize import init_nlp
from spacy.util import load_config, registry
from spacy.vectors import Vectors

from spacy_kd_ner.vector_keys import (
    add_cased_vector_keys,
    cased_variants,
    create_cased_vector_keys_v1,
)

CONFIG = Path(__file__).parent.parent / "configs" / "spacy-ner.cfg"
WORDS = ["london", "new york", "eu", "the", "London"]


def make_nlp():
    nlp = spacy.blank("en")
    for word in WORDS:
        nlp.vocab.strings.add(word)
    data = numpy.arange(len(WORDS) * 2, dtype="f").reshape(len(WORDS), 2)
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data, keys=WORDS)
    return nlp


def test_cased_variants():
    assert cased_variants("new york") == {"New York", "New york", "NEW YORK"}
    assert cased_variants("eu") == {"Eu", "EU"}
    assert cased_variants("123") == set()


def test_add_cased_vector_keys():
    nlp = make_nlp()
    vectors = nlp.vocab.vectors
    rows_before = vectors.shape
    added = add_cased_vector_keys(vectors, nlp.vocab.strings)
    # london: LONDON (London has a row of its own and keeps it); new york: 3;
    # eu: Eu, EU; the: The, THE; London: LONDON exists by then.
    assert added == 1 + 3 + 2 + 2
    assert vectors.shape == rows_before
    find = vectors.find
    assert find(key="LONDON") == find(key="london")
    assert find(key="London") == 4 != find(key="london")
    assert find(key="New York") == find(key="NEW YORK") == find(key="new york")
    assert find(key="EU") == find(key="eu")
    # A second run adds nothing.
    assert add_cased_vector_keys(vectors, nlp.vocab.strings) == 0


def test_callback_registered_and_saved(tmp_path):
    assert registry.callbacks.get("spacy-kd-ner.CasedVectorKeys.v1") is (
        create_cased_vector_keys_v1
    )
    nlp = create_cased_vector_keys_v1()(make_nlp())
    nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert loaded.vocab["EU"].has_vector
    numpy.testing.assert_array_equal(
        loaded.vocab["EU"].vector, loaded.vocab["eu"].vector
    )


def test_spacy_ner_config_finds_cased_words(tmp_path):
    vectors_dir = tmp_path / "vectors"
    make_nlp().to_disk(vectors_dir)
    nlp = spacy.blank("en")
    doc = nlp.make_doc("The EU met in London and New York .")
    doc.ents = [
        doc.char_span(4, 6, label="ORG"),
        doc.char_span(14, 20, label="LOC"),
    ]
    DocBin(docs=[doc]).to_disk(tmp_path / "train.spacy")
    overrides = {
        "paths.train": str(tmp_path / "train.spacy"),
        "paths.dev": str(tmp_path / "train.spacy"),
        "paths.vectors": str(vectors_dir),
    }
    config = load_config(CONFIG, overrides=overrides)
    assert config["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"]
    nlp = init_nlp(config)
    assert nlp.pipe_names == ["tok2vec", "ner"]
    assert nlp.vocab.vectors.find(key="EU") == nlp.vocab.vectors.find(key="eu")
    assert nlp.vocab.vectors.find(key="EU") >= 0
    nlp("The EU met in London .")  # runs with the aliased keys


def test_floret_vectors_untouched():
    nlp = spacy.blank("en")
    vectors = Vectors(
        strings=nlp.vocab.strings,
        mode="floret",
        data=numpy.zeros((10, 2), dtype="f"),
        minn=1,
        maxn=2,
    )
    assert add_cased_vector_keys(vectors, nlp.vocab.strings) == 0
