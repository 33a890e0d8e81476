"""Word priors: a teacher asked about each word on its own (`teacher_priors`),
stored (`word_priors`), and read by the LSTM-CNN encoder v4 beside its word
embeddings."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import fix_random_seed, registry
from test_cli import words as unwrapped
from test_package import TRAIN_DATA
from test_word_dropout import ENCODER
from typer.testing import CliRunner

from spacy_kd_ner.cli import kd_app
from spacy_kd_ner.errors import InputError
from spacy_kd_ner.models.lstm_cnn import (
    Features,
    _torch_module,
    drop_words,
    featurize,
    set_word_priors,
)
from spacy_kd_ner.teacher_priors import compute_word_priors
from spacy_kd_ner.word_priors import (
    WordPriors,
    load_word_priors,
    save_word_priors,
    word_key,
)

V4 = "spacy-kd-ner.LSTMCNNEncoder.v4"


def ruler_teacher() -> spacy.language.Language:
    """A teacher that knows two names: an entity ruler on lowercase forms."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [
            {"label": "LOC", "pattern": [{"LOWER": "paris"}]},
            {"label": "PER", "pattern": [{"LOWER": "obama"}]},
        ]
    )
    return nlp


def priors_of(table: WordPriors, word: str) -> numpy.ndarray:
    at = list(table.keys).index(word_key(word))
    return table.priors[at].astype("float32")


def test_compute_word_priors_sums_each_types_tags_and_folds_case():
    table = compute_word_priors(
        ruler_teacher(), ["Paris", "paris", "the", "Obama", "  "], batch_size=2
    )
    assert table.n_words == 3  # paris, the, obama
    assert sorted(table.labels) == ["LOC", "PER"]
    loc, per = table.labels.index("LOC"), table.labels.index("PER")
    assert len(table.keys) == 2  # "the" has no prior: left out
    assert list(table.keys) == sorted(table.keys)
    assert priors_of(table, "PARIS")[loc] == 1.0
    assert priors_of(table, "paris")[per] == 0.0
    assert priors_of(table, "obama")[per] == 1.0


def test_compute_word_priors_min_prior_zero_keeps_every_word():
    table = compute_word_priors(ruler_teacher(), ["paris", "the"], min_prior=0.0)
    assert len(table.keys) == 2
    numpy.testing.assert_array_equal(priors_of(table, "the"), [0.0, 0.0])


def test_compute_word_priors_refuses_no_words_and_bad_min_prior():
    with pytest.raises(InputError, match="No words"):
        compute_word_priors(ruler_teacher(), ["", " "])
    with pytest.raises(InputError, match="min_prior"):
        compute_word_priors(ruler_teacher(), ["paris"], min_prior=1.5)


def test_word_priors_round_trip(tmp_path):
    table = compute_word_priors(ruler_teacher(), ["paris", "obama"])
    save_word_priors(table, tmp_path / "p.npz")
    loaded = load_word_priors(tmp_path / "p.npz")
    numpy.testing.assert_array_equal(loaded.keys, table.keys)
    numpy.testing.assert_array_equal(loaded.priors, table.priors)
    assert loaded.labels == table.labels and loaded.n_words == 2


def test_load_word_priors_names_the_file(tmp_path):
    with pytest.raises(InputError, match="not found: .*missing.npz"):
        load_word_priors(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not numpy", encoding="utf8")
    with pytest.raises(InputError, match="text.npz is not a word priors file"):
        load_word_priors(tmp_path / "text.npz")
    numpy.savez(tmp_path / "other.npz", keys=numpy.zeros(1, dtype="uint64"))
    with pytest.raises(InputError, match="other.npz .* no priors, labels"):
        load_word_priors(tmp_path / "other.npz")
    numpy.savez(
        tmp_path / "unsorted.npz",
        keys=numpy.array([5, 3], dtype="uint64"),
        priors=numpy.zeros((2, 1), dtype="float16"),
        labels=numpy.array(["PER"]),
    )
    with pytest.raises(InputError, match="unsorted.npz .*sorted"):
        load_word_priors(tmp_path / "unsorted.npz")


def encoder_v4(prior_dim: int, table: WordPriors = None):
    fix_random_seed(0)
    model = registry.resolve(
        {"m": {"@architectures": V4, **ENCODER, "prior_dim": prior_dim}}
    )["m"]
    if table is not None:
        set_word_priors(model, table)
    return model


def two_word_priors() -> WordPriors:
    keys = numpy.array(sorted([word_key("paris"), word_key("anna")]), dtype="uint64")
    priors = numpy.zeros((2, 2), dtype="float16")
    for i, key in enumerate(keys):
        priors[i] = [0.75, 0.0] if key == word_key("paris") else [0.0, 0.5]
    return WordPriors(keys=keys, priors=priors, labels=["LOC", "PER"])


def test_featurize_looks_each_tokens_lowercase_form_up():
    """Brute force: each token's row is the prior of its lowercase form, or
    zeros for a word the table does not have."""
    table = two_word_priors()
    model = encoder_v4(2, table)
    vocab = spacy.blank("en").vocab
    docs = [
        Doc(vocab, words=["Anna", "visited", "PARIS"]),
        Doc(vocab, words=[]),
        Doc(vocab, words=["paris", "Rome"]),
    ]
    model.initialize(X=docs)
    features = featurize(model, docs)
    by_key = dict(zip(table.keys.tolist(), table.priors.astype("float32")))
    tokens = [token.lower_ for doc in docs for token in doc]
    expected = [by_key.get(word_key(t), numpy.zeros(2, "float32")) for t in tokens]
    numpy.testing.assert_array_equal(features.priors, numpy.stack(expected))
    assert features.priors.dtype == numpy.float32


def test_featurize_without_priors_has_no_columns():
    model = registry.resolve({"m": {"@architectures": V4, **ENCODER}})["m"]
    docs = [Doc(spacy.blank("en").vocab, words=["Anna"])]
    model.initialize(X=docs)
    assert featurize(model, docs).priors.shape == (1, 0)


def test_the_priors_reach_the_encoders_output():
    table = two_word_priors()
    model = encoder_v4(2, table)
    docs = [Doc(spacy.blank("en").vocab, words=["Anna", "visited", "Paris"])]
    model.initialize(X=docs)
    features = featurize(model, docs)
    module = _torch_module(model).eval()
    import torch

    args = [torch.from_numpy(a) for a in features]
    with torch.no_grad():
        with_priors = module(*args).numpy()
        args[3] = torch.zeros_like(args[3])
        without = module(*args).numpy()
    assert not numpy.allclose(with_priors, without)


def test_drop_words_drops_the_priors_of_dropped_words():
    n = 2000
    features = Features(
        numpy.arange(10, 10 + n, dtype="int64"),
        numpy.ones((n, 3), dtype="int64"),
        numpy.array([n], dtype="int64"),
        numpy.ones((n, 2), dtype="float32"),
    )
    dropped = drop_words(features, 0.25)
    gone = dropped.word_ids == 1
    assert 0.2 < gone.mean() < 0.3
    assert (dropped.priors[gone] == 0).all() and (dropped.priors[~gone] == 1).all()


def test_set_word_priors_refuses_another_width():
    with pytest.raises(
        ValueError, match="2 columns .* prior_dim is 3: set prior_dim = 2"
    ):
        encoder_v4(3, two_word_priors())
    v3 = registry.resolve(
        {"m": {"@architectures": "spacy-kd-ner.LSTMCNNEncoder.v3", **ENCODER}}
    )["m"]
    with pytest.raises(
        ValueError, match="use spacy-kd-ner.LSTMCNNEncoder.v4 with prior_dim = 2"
    ):
        set_word_priors(v3, two_word_priors())


def student(prior_dim: int):
    nlp = spacy.blank("en")
    encoder = {"@architectures": V4, **ENCODER, "prior_dim": prior_dim}
    nlp.add_pipe("kd_ner", config={"model": {"encoder": encoder}})
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents})
        for text, ents in TRAIN_DATA
    ]
    return nlp, examples


def test_kd_ner_with_word_priors_trains_saves_and_loads(tmp_path):
    fix_random_seed(0)
    save_word_priors(two_word_priors(), tmp_path / "priors.npz")
    nlp, examples = student(2)
    nlp.config["initialize"]["components"]["kd_ner"] = {
        "word_priors": str(tmp_path / "priors.npz")
    }
    nlp.initialize(lambda: examples)
    for _ in range(3):
        nlp.update(examples)
    texts = [text for text, _ in TRAIN_DATA]
    before = [nlp.get_pipe("kd_ner").predict([nlp.make_doc(t)])[0] for t in texts]
    (tmp_path / "priors.npz").unlink()  # the saved student carries its priors
    nlp.to_disk(tmp_path / "student")
    loaded = spacy.load(tmp_path / "student")
    after = [loaded.get_pipe("kd_ner").predict([loaded.make_doc(t)])[0] for t in texts]
    for a, b in zip(before, after):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    encoder = loaded.get_pipe("kd_ner").model.get_ref("encoder")
    assert encoder.attrs["prior_labels"] == ["LOC", "PER"]


def test_kd_ner_with_prior_dim_needs_word_priors():
    nlp, examples = student(2)
    with pytest.raises(ValueError, match="prior_dim is 2.* none were given"):
        nlp.initialize(lambda: examples)


def test_word_priors_command(tmp_path):
    ruler_teacher().to_disk(tmp_path / "teacher")
    (tmp_path / "words.txt").write_text("Paris\nthe\n\nobama\n", encoding="utf8")
    result = CliRunner().invoke(
        kd_app,
        [
            "word-priors",
            str(tmp_path / "teacher"),
            str(tmp_path / "out" / "priors.npz"),
            "--words",
            str(tmp_path / "words.txt"),
            "--stats",
            str(tmp_path / "stats.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Kept 2 of 3 words" in unwrapped(result.output)
    assert len(load_word_priors(tmp_path / "out" / "priors.npz").keys) == 2
    import srsly

    stats = srsly.read_json(tmp_path / "stats.json")
    assert stats["kept"] == 2 and "run" in stats


def test_word_priors_command_names_a_bad_words_file(tmp_path):
    ruler_teacher().to_disk(tmp_path / "teacher")
    (tmp_path / "words.txt").write_bytes(b"\xff\xfe\xfa")
    result = CliRunner().invoke(
        kd_app,
        [
            "word-priors",
            str(tmp_path / "teacher"),
            str(tmp_path / "p.npz"),
            "--words",
            str(tmp_path / "words.txt"),
        ],
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "words.txt is not UTF-8" in unwrapped(result.output)
