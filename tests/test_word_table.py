"""The student's own word table: initialized from static vectors, then
independent of any vectors table, so that a trained student saves, loads and
joins another pipeline (`add_pipe(source=...)`) without them."""

import warnings
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.strings import get_string_id
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vectors import Vectors
from test_package import TINY, TRAIN_DATA, train_tiny
from thinc.api import fix_random_seed

from spacy_kd_ner.errors import InputError, KdNerError
from spacy_kd_ner.models.lstm_cnn import (
    N_RESERVED_ROWS,
    OutdatedStudentError,
    featurize,
)
from spacy_kd_ner.models.pytorch_lstm_cnn import UNKNOWN_WORD_ID

TEXTS = [text for text, _ in TRAIN_DATA] + ["John met Peter in Berlin .", "", "Xyz ."]
# Rows 0-5 belong to these words; row 6 to none (an unused row); "berlin"
# and "munich" share row 2, as a pruned table maps a word to a kept row.
ROW_WORDS = {"london": 0, "paris": 1, "berlin": 2, "munich": 2, "the": 3}
ROW_WORDS.update({"in": 4, "vectoronly": 5})
N_ROWS = 7


def vectors_table() -> Vectors:
    data = numpy.random.default_rng(0).normal(size=(N_ROWS, 50)).astype("float32")
    vectors = Vectors(data=data)
    for word, row in ROW_WORDS.items():
        vectors.add(get_string_id(word), row=row)
    return vectors


def write_vectors_dir(path: Path) -> Path:
    """Write `vectors_table` as a spaCy vectors directory at path, as `spacy
    init vectors` writes one."""
    nlp = spacy.blank("en")
    for word in ROW_WORDS:
        nlp.vocab.strings.add(word)
    nlp.vocab.vectors = vectors_table()
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory) -> Path:
    return write_vectors_dir(tmp_path_factory.mktemp("vectors") / "vectors")


def entities(nlp: Language, texts=TEXTS) -> list:
    return [[(e.text, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


def word_ids(nlp: Language, words) -> list:
    """The encoder's word ids for the words (in a vocab of their own, so that
    the pipeline's strings stay as they are)."""
    encoder = nlp.get_pipe("kd_ner").model.get_ref("encoder")
    features = featurize(encoder, [Doc(spacy.blank("en").vocab, words=words)])
    return features.word_ids.tolist()


@pytest.fixture(scope="module")
def student(vectors_dir) -> Language:
    return train_tiny(vectors_dir=str(vectors_dir))


def test_student_fits_and_pipeline_holds_no_vectors(student):
    assert entities(student, TEXTS[:3]) == [
        [(text[s:e], label) for s, e, label in ents] for text, ents in TRAIN_DATA
    ]
    assert student.vocab.vectors.shape[0] == 0
    assert "vectoronly" not in student.vocab.strings
    encoder = student.get_pipe("kd_ner").model.get_ref("encoder")
    assert encoder.attrs["word_ids"] == "table"


def test_word_table_copies_used_rows_and_keys(student):
    encoder = student.get_pipe("kd_ner").model.get_ref("encoder")
    weight = encoder.layers[0].shims[0]._model.words.weight
    # Row 6 of the table is no key's: left out.
    assert weight.shape[0] == N_RESERVED_ROWS + N_ROWS - 1
    keys = encoder.attrs["word_keys"]
    assert keys.dtype == numpy.uint64 and (numpy.diff(keys) > 0).all()
    assert len(keys) == len(ROW_WORDS)


def test_unknown_words_and_case(student):
    ids = word_ids(student, ["London", "london", "LONDON", "Berlin", "Munich"])
    assert ids[0] == ids[1] == ids[2] >= N_RESERVED_ROWS
    assert ids[3] == ids[4] != ids[0]
    assert word_ids(student, ["Xyzzy", "vectoronly"])[0] == UNKNOWN_WORD_ID
    assert word_ids(student, ["vectoronly"])[0] != UNKNOWN_WORD_ID


def test_word_table_rows_start_as_the_vectors(vectors_dir):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("kd_ner", config=TINY)
    nlp.config["initialize"]["components"]["kd_ner"] = {"vectors": str(vectors_dir)}
    doc = nlp.make_doc("Paris")
    nlp.initialize(lambda: [Example.from_dict(doc, {"entities": [(0, 5, "LOC")]})])
    encoder = nlp.get_pipe("kd_ner").model.get_ref("encoder")
    weight = encoder.layers[0].shims[0]._model.words.weight.detach().numpy()
    table = vectors_table()
    for word in ROW_WORDS:
        (row,) = word_ids(nlp, [word.title()])
        numpy.testing.assert_array_equal(weight[row], table[get_string_id(word)])


def test_source_into_another_pipeline_without_vectors(student):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlp.add_pipe("kd_ner", source=student)
    assert entities(nlp) == entities(student)


def test_save_load_same_predictions(student, tmp_path):
    docs = [student.make_doc(text) for text in TEXTS[:4]]
    scores = student.get_pipe("kd_ner").predict(docs)
    student.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert entities(loaded) == entities(student)
    reloaded = loaded.get_pipe("kd_ner").predict(
        [loaded.make_doc(text) for text in TEXTS[:4]]
    )
    for a, b in zip(scores, reloaded):
        numpy.testing.assert_allclose(a, b, atol=1e-5)
    from_bytes = spacy.blank("en")
    from_bytes.add_pipe("kd_ner", config=TINY)
    from_bytes.from_bytes(student.to_bytes())
    assert entities(from_bytes) == entities(student)


def test_saved_student_has_no_vectors(student, tmp_path):
    student.to_disk(tmp_path / "model")
    assert (tmp_path / "model" / "vocab" / "vectors").stat().st_size < 1000
    strings = (tmp_path / "model" / "vocab" / "strings.json").read_text("utf8")
    assert "vectoronly" not in strings
    loaded = spacy.load(tmp_path / "model")
    assert loaded.vocab.vectors.shape[0] == 0
    assert word_ids(loaded, ["vectoronly"]) == word_ids(student, ["vectoronly"])


def test_pipeline_vectors_start_the_table_too():
    """Without the component setting, the encoder copies the pipeline's own
    vectors, and then no longer reads them."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.vocab.vectors = vectors_table()
    nlp.add_pipe("kd_ner", config=TINY)
    doc = nlp.make_doc("Paris")
    nlp.initialize(lambda: [Example.from_dict(doc, {"entities": [(0, 5, "LOC")]})])
    before = word_ids(nlp, ["Paris", "Munich", "Xyzzy"])
    nlp.vocab.vectors = Vectors()
    assert word_ids(nlp, ["Paris", "Munich", "Xyzzy"]) == before
    assert before[2] == UNKNOWN_WORD_ID


def test_outdated_student_is_refused(student, tmp_path):
    """A student saved when the encoder read the pipeline's vectors (word_ids
    "vectors") is refused with a KdNerError saying to retrain."""
    old = spacy.blank("en")
    old.add_pipe("kd_ner", config=TINY)
    old.from_bytes(student.to_bytes())
    old.get_pipe("kd_ner").model.get_ref("encoder").attrs["word_ids"] = "vectors"
    old.to_disk(tmp_path / "old")
    loaded = spacy.load(tmp_path / "old")
    with pytest.raises(OutdatedStudentError, match="Retrain the student") as error:
        loaded("Peter lives in London .")
    assert isinstance(error.value, KdNerError)


def test_missing_vectors_are_clear(tmp_path):
    with pytest.raises(InputError, match="Static vectors not found"):
        train_tiny(vectors_dir=str(tmp_path / "missing"), n_iter=0)
    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(InputError, match="holds no static vectors"):
        train_tiny(vectors_dir=str(tmp_path / "blank"), n_iter=0)
