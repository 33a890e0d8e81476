"""The kd_ner component: training, decoding, serialization, robustness."""

import random

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.training.iob_utils import doc_to_biluo_tags
from spacy.vocab import Vocab
from thinc.api import Adam, fix_random_seed

from spacy_kd_ner.biluo import biluo_constraints
from spacy_kd_ner.pipeline import is_blank_token_text

TRAIN_DATA = [
    ("Who is Shaka Khan?", [(7, 17, "PER")]),
    ("I like London and Berlin.", [(7, 13, "LOC"), (18, 24, "LOC")]),
    (
        "Apple hired John Smith in Paris.",
        [(0, 5, "ORG"), (12, 22, "PER"), (26, 31, "LOC")],
    ),
    ("Google opened an office in New York City.", [(0, 6, "ORG"), (27, 40, "LOC")]),
]

TINY = {
    "model": {
        "encoder": {"hidden_size": 32, "depth": 1, "char_filters": 16, "dropout": 0.1}
    }
}


def make_nlp(config=TINY, crf=True, vectors=False) -> Language:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    if vectors:
        words = ["london", "berlin", "paris", "apple", "google", "the", "in"]
        rng = numpy.random.default_rng(0)
        data = rng.normal(size=(len(words), 50)).astype("float32")
        nlp.vocab.vectors = spacy.vocab.Vectors(
            data=data, keys=[nlp.vocab.strings.add(w) for w in words]
        )
    cfg = {"model": {**config["model"], "crf": crf}}
    nlp.add_pipe("kd_ner", config=cfg)
    return nlp


def train(nlp: Language, n_iter: int = 60) -> list:
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents})
        for text, ents in TRAIN_DATA
    ]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    history = []
    for _ in range(n_iter):
        random.shuffle(examples)
        losses: dict = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
        history.append(losses["kd_ner"])
    return history


def entities(doc: Doc) -> list:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


@pytest.fixture(scope="module")
def trained() -> Language:
    nlp = make_nlp()
    train(nlp, n_iter=40)
    return nlp


def test_overfits_and_predicts_entities(trained):
    for text, ents in TRAIN_DATA:
        assert entities(trained(text)) == ents


def test_loss_falls():
    history = train(make_nlp(), n_iter=20)
    assert numpy.mean(history[-5:]) < 0.3 * numpy.mean(history[:5])


@pytest.mark.parametrize("crf", [False])
def test_softmax_head_overfits(crf):
    nlp = make_nlp(crf=crf)
    train(nlp, n_iter=40)
    assert not nlp.get_pipe("kd_ner").model.has_ref("crf")
    for text, ents in TRAIN_DATA:
        assert entities(nlp(text)) == ents


def test_labels_and_label_data(trained):
    ner = trained.get_pipe("kd_ner")
    assert ner.labels == ("LOC", "ORG", "PER")
    assert ner.label_data == ["LOC", "ORG", "PER"]
    assert ner.tag_names[0] == "O" and len(ner.tag_names) == 13


def test_labels_from_initialize_argument():
    nlp = make_nlp()
    doc = nlp.make_doc("Berlin")
    examples = [Example.from_dict(doc, {"entities": [(0, 6, "LOC")]})]
    nlp.config["initialize"]["components"]["kd_ner"] = {"labels": ["LOC", "PER", "ORG"]}
    nlp.initialize(lambda: examples)
    assert nlp.get_pipe("kd_ner").labels == ("LOC", "ORG", "PER")


def test_save_load_same_output(trained, tmp_path):
    texts = [t for t, _ in TRAIN_DATA] + ["Berlin and Paris hired Khan.", "", "\u200b"]
    before = [entities(d) for d in trained.pipe(texts)]
    scores_before = trained.get_pipe("kd_ner").predict([trained.make_doc(texts[0])])
    trained.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert [entities(d) for d in loaded.pipe(texts)] == before
    scores_after = loaded.get_pipe("kd_ner").predict([loaded.make_doc(texts[0])])
    numpy.testing.assert_allclose(scores_after[0], scores_before[0], atol=1e-5)
    from_bytes = spacy.blank("en")
    from_bytes.add_pipe("kd_ner", config=TINY)
    from_bytes.from_bytes(trained.to_bytes())
    assert [entities(d) for d in from_bytes.pipe(texts)] == before


@pytest.mark.parametrize("batch_size", [1, 5, 128])
def test_pipe_equals_call(trained, batch_size):
    texts = [t for t, _ in TRAIN_DATA] * 3 + ["", " ", "Khan \u200b London"]
    piped = [entities(d) for d in trained.pipe(texts, batch_size=batch_size)]
    assert piped == [entities(trained(t)) for t in texts]


def test_one_doc_path_equals_batched(trained):
    """A doc alone gets the vectors it gets in a padded batch. (An empty doc
    alone never reaches the encoder: the pipe answers it without the model.)"""
    encoder = trained.get_pipe("kd_ner").model.get_ref("encoder")
    docs = [trained.make_doc(t) for t, _ in TRAIN_DATA] + [trained.make_doc("")]
    batched = encoder.predict(docs)
    for doc, expected in zip(docs[:-1], batched):
        (alone,) = encoder.predict([doc])
        assert alone.shape == expected.shape
        numpy.testing.assert_allclose(alone, expected, atol=1e-5)


STALE_DATA = [
    ("Angela Merkel visited Paris on Monday .", [(0, 13, "PER"), (22, 27, "LOC")]),
    ("Google opened an office in Zurich .", [(0, 6, "ORG"), (27, 33, "LOC")]),
    ("The Olympics start in Tokyo .", [(4, 12, "MISC"), (22, 27, "LOC")]),
    ("Barack Obama spoke to reporters .", [(0, 12, "PER")]),
]


def test_single_docs_see_weights_trained_in_process():
    """The default config, predicting before it is trained in the same
    process with spaCy's optimizer: one doc at a time predicts what a batch
    predicts (the weights in use are the trained ones, whatever the batch
    size)."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("kd_ner")
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents})
        for text, ents in STALE_DATA
    ]
    optimizer = nlp.initialize(lambda: examples)
    texts = [text for text, _ in STALE_DATA]
    # Predictions before and between updates, as spacy train's evaluations.
    list(nlp.pipe(texts, batch_size=1))
    for _ in range(200):
        losses = nlp.update(examples, sgd=optimizer, drop=0.0)
    assert losses["kd_ner"] < 0.1
    expected = [ents for _, ents in STALE_DATA]
    assert [entities(d) for d in nlp.pipe(texts, batch_size=4)] == expected
    assert [entities(d) for d in nlp.pipe(texts, batch_size=1)] == expected
    assert [entities(nlp(text)) for text in texts] == expected


def test_multiprocessing(trained):
    texts = [t for t, _ in TRAIN_DATA] * 2 + ["", "\u200b Khan"]
    piped = [entities(d) for d in trained.pipe(texts, n_process=2, batch_size=2)]
    assert piped == [entities(trained(t)) for t in texts]


def test_with_static_vectors():
    nlp = make_nlp(vectors=True)
    train(nlp, n_iter=40)
    encoder = nlp.get_pipe("kd_ner").model.get_ref("encoder")
    assert encoder.attrs["word_ids"] == "table"
    module = encoder.layers[0].shims[0]._model
    # 2 reserved rows (padding, unknown) + one per vector.
    assert module.words.weight.shape[0] == 2 + 7
    for text, ents in TRAIN_DATA:
        assert entities(nlp(text)) == ents


def test_encoder_of_inferred_width_with_static_vectors():
    """A concatenate's width is only known once its layers are: the encoder
    must not size its StaticVectors from the tag scores (the teacher config
    with GloVe beside the transformer)."""
    embed = {"@architectures": "spacy.MultiHashEmbed.v2", "rows": [100]}
    encoder = {
        "@layers": "concatenate.v1",
        "*": {
            "glove": {
                **embed,
                "width": 8,
                "attrs": ["NORM"],
                "include_static_vectors": True,
            },
            "shape": {
                **embed,
                "width": 4,
                "attrs": ["SHAPE"],
                "include_static_vectors": False,
            },
        },
    }
    nlp = make_nlp(config={"model": {"encoder": encoder}}, vectors=True)
    train(nlp, n_iter=2)
    ner = nlp.get_pipe("kd_ner")
    assert ner.model.get_ref("encoder").get_dim("nO") == 12
    (scores,) = ner.predict([nlp.make_doc("I like London.")])
    assert scores.shape == (4, len(ner.tag_names))


def test_vectors_width_mismatch_is_clear():
    nlp = make_nlp(
        config={"model": {"encoder": {"hidden_size": 8, "depth": 1, "word_dim": 20}}},
        vectors=True,
    )
    examples = [
        Example.from_dict(nlp.make_doc("Berlin"), {"entities": [(0, 6, "LOC")]})
    ]
    with pytest.raises(ValueError, match="width 50.*word_dim is 20"):
        nlp.initialize(lambda: examples)


def test_without_vectors_uses_hashing(trained):
    assert (
        trained.get_pipe("kd_ner").model.get_ref("encoder").attrs["word_ids"] == "hash"
    )


@pytest.mark.parametrize(
    "words",
    [
        [],
        [" ", "\n", "\t"],
        ["😀", "東京", "に", "行きました", "🇩🇪", "Zürich", "ﬁ"],
        ["a" * 500, "Berlin"],
        ["שלום", "Shaka", "Khan", "مرحبا", "\u200f", "London"],  # RTL, RL mark
        ["\x00", "Shaka", "\x07\x1b", "Khan", "\x7f"],  # control characters
        ["\ufeff", "Shaka", "\u200b", "Khan", "\u200d"],
    ],
)
def test_odd_input_gives_valid_output(trained, words):
    doc = Doc(trained.vocab, words=words) if words else trained.make_doc("")
    doc = trained(doc)
    tags = doc_to_biluo_tags(doc)
    assert len(tags) == len(doc)
    assert all(not is_blank_token_text(t.text) for e in doc.ents for t in e)


@pytest.mark.parametrize(
    "text", ["", " \n\t ", "😀 Shaka Khan 😀", "東京 London", "\x00\x07 Khan"]
)
def test_odd_texts_through_the_tokenizer(trained, text):
    doc = trained(text)
    assert doc.text == text
    assert all(not is_blank_token_text(t.text) for e in doc.ents for t in e)


def test_empty_text_and_batch_with_empty_docs(trained):
    assert len(trained("")) == 0
    docs = list(trained.pipe(["", "Who is Shaka Khan?", "", "   "]))
    assert entities(docs[1]) == [(7, 17, "PER")]


def test_long_doc(trained):
    rng = random.Random(0)
    n = 100_000
    words = [
        rng.choice(["Berlin", "and", "Shaka", "Khan", "hired", ".", "😀", "\u200b"])
        for _ in range(n)
    ]
    doc = trained(Doc(trained.vocab, words=words))
    assert len(doc) == n
    assert len(doc_to_biluo_tags(doc)) == n
    assert all(not is_blank_token_text(t.text) for e in doc.ents for t in e)


def test_decode_is_always_valid_biluo(trained):
    ner = trained.get_pipe("kd_ner")
    constraints = biluo_constraints(ner.tag_names)
    rng = numpy.random.default_rng(0)
    scores = [
        rng.normal(scale=5, size=(n, len(ner.tag_names))).astype("float32")
        for n in (1, 2, 7, 30)
    ]
    for tags in ner.decode(scores):
        assert constraints.start[tags[0]] and constraints.end[tags[-1]]
        for a, b in zip(tags[:-1], tags[1:]):
            assert constraints.transitions[a, b]


def test_distributions_sum_to_one(trained):
    ner = trained.get_pipe("kd_ner")
    docs = [trained.make_doc(t) for t, _ in TRAIN_DATA]
    for probs, doc in zip(ner.distributions(ner.predict(docs)), docs):
        assert probs.shape == (len(doc), len(ner.tag_names))
        numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_unknown_corpus_label_is_clear(trained):
    doc = trained.make_doc("Acme sells rockets")
    example = Example.from_dict(doc, {"entities": [(0, 4, "COMPANY")]})
    with pytest.raises(ValueError, match="'COMPANY'.*unknown to 'kd_ner'"):
        trained.get_pipe("kd_ner").update([example])


def test_add_label_after_initialize_is_refused(trained):
    with pytest.raises(ValueError, match="already initialized"):
        trained.get_pipe("kd_ner").add_label("PRODUCT")


def test_invalid_label_is_refused():
    nlp = make_nlp()
    with pytest.raises(ValueError, match="entity types"):
        nlp.get_pipe("kd_ner").add_label("B-PER")


def test_scorer_reports_ents(trained):
    examples = []
    for text, ents in TRAIN_DATA:
        examples.append(Example.from_dict(trained.make_doc(text), {"entities": ents}))
    scores = trained.evaluate(examples)
    assert scores["ents_f"] == 1.0
    assert set(scores["ents_per_type"]) == {"LOC", "ORG", "PER"}


def test_uninitialized_model_is_clear():
    nlp = make_nlp()
    ner = nlp.get_pipe("kd_ner")
    ner.add_label("PER")
    ner.model.get_ref("output_layer").set_dim("nO", 5)
    with pytest.raises(ValueError, match="not initialized"):
        ner.predict([Doc(Vocab(), words=["x"])])


def test_whitespace_tokens_are_never_entities(trained):
    ner = trained.get_pipe("kd_ner")
    doc = Doc(trained.vocab, words=["Shaka", "\n", "Khan", " ", "London"])
    n_tags = len(ner.tag_names)
    # Scores that put "U-PER" on every token: the space tokens must still be O.
    scores = numpy.zeros((len(doc), n_tags), dtype="float32")
    scores[:, ner.tag_names.index("U-PER")] = 50.0
    ner.set_annotations([doc], [scores])
    assert [e.text for e in doc.ents] == ["Shaka", "Khan", "London"]


BLANK_TOKENS = [
    "\u200b",  # zero-width space (Cf)
    "\u200b\u200b",
    "\ufeff",  # byte order mark (Cf)
    "\u200d",  # zero-width joiner (Cf)
    "\u200c\u2060",  # zero-width non-joiner, word joiner (Cf)
    "\u00a0",  # no-break space (Zs)
    "\u3000",  # ideographic space (Zs)
    "\u2028",  # line separator (Zl)
    "\u2029",  # paragraph separator (Zp)
    "\x00\x07",  # control characters (Cc)
    " \u200b\n",
]


@pytest.mark.parametrize("blank", BLANK_TOKENS)
def test_blank_tokens_never_open_close_or_sit_inside_entities(trained, blank):
    """Tokens whose text is only whitespace or invisible format characters
    are "O", whatever the scores: never the first, last or an inner token of
    an entity."""
    ner = trained.get_pipe("kd_ner")
    words = [blank, "Shaka", blank, "Khan", blank]
    doc = Doc(trained.vocab, words=words)
    tags = ner.tag_names
    scores = numpy.zeros((len(doc), len(tags)), dtype="float32")
    for i, tag in enumerate(["B-PER", "I-PER", "I-PER", "I-PER", "L-PER"]):
        scores[i, tags.index(tag)] = 50.0
    ner.set_annotations([doc], [scores])
    assert [doc[i].ent_iob_ for i in (0, 2, 4)] == ["O", "O", "O"]
    assert all(not is_blank_token_text(t.text) for e in doc.ents for t in e)


@pytest.mark.parametrize(
    "text,blank",
    [
        ("\u00ad", True),  # soft hyphen (Cf)
        ("", True),
        ("a\u200b", False),
        ("\u200bBob", False),
        ("👩\u200d💻", False),  # an emoji ZWJ sequence is visible
        ("-", False),
    ],
)
def test_is_blank_token_text(text, blank):
    assert is_blank_token_text(text) is blank


BOB_DATA = [
    ("Lena met Bob", [(0, 4, "PER"), (9, 12, "PER")]),
    ("Bob is here .", [(0, 3, "PER")]),
    ("I saw Bob and Lena today .", [(6, 9, "PER"), (14, 18, "PER")]),
    ("The cat sat .", []),
]


def test_zero_width_space_stays_outside_trained_entity():
    """A student trained to tag 'Bob' tags it, and leaves the zero-width
    spaces before it out of the entity."""
    nlp = make_nlp()
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents})
        for text, ents in BOB_DATA
    ]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    doc = nlp("\u200b\u200b Bob")
    assert [(e.text, e.label_) for e in doc.ents] == [("Bob", "PER")]
    doc = nlp("Lena met \u200bBob \ufeff")
    assert all(not is_blank_token_text(t.text) for e in doc.ents for t in e)


@pytest.mark.parametrize("enabled", [True, False])
def test_predict_leaves_torch_onednn_setting_alone(trained, enabled):
    import torch

    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        trained("Peter lives in London .")
        assert torch.backends.mkldnn.enabled == enabled
    finally:
        torch.backends.mkldnn.enabled = before


WNUT_LIKE = "".join(
    f"{line}\n"
    for line in [
        "I\tO",
        "love\tO",
        "Paris\tB-geo-loc",
        "\t",
        "Empire\tB-facility",
        "State\tI-facility",
        "in\tO",
        "New\tB-geo-loc",
        "York\tI-geo-loc",
        "",
        "@paul\tO",
        "in\tO",
        "Berlin\tB-geo-loc",
        "now\tO",
    ]
)


def test_dashed_lowercase_labels_convert_train_and_predict(tmp_path):
    from spacy.tokens import DocBin
    from spacy.training import Corpus

    from spacy_kd_ner.conll import convert_conll
    from spacy_kd_ner.scores import get_teacher_scores, set_teacher_scores

    src = tmp_path / "train.txt"
    src.write_text(WNUT_LIKE, encoding="utf8")
    convert_conll(src, tmp_path / "train.spacy")
    nlp = make_nlp()
    examples = list(Corpus(tmp_path / "train.spacy")(nlp))
    nlp.initialize(lambda: examples)
    ner = nlp.get_pipe("kd_ner")
    assert ner.labels == ("facility", "geo-loc")
    assert "B-geo-loc" in ner.tag_names and "U-facility" in ner.tag_names
    optimizer = Adam(0.01)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer, losses={})
    doc = nlp("I love Paris")
    assert [(e.text, e.label_) for e in doc.ents] == [("Paris", "geo-loc")]
    # The tag names and teacher scores over them round trip through a DocBin
    # and a saved pipeline.
    probs = numpy.full((len(doc), len(ner.tag_names)), 1 / len(ner.tag_names))
    set_teacher_scores(doc, ner.tag_names, probs)
    doc_bin = DocBin(store_user_data=True, docs=[doc])
    (back,) = DocBin().from_bytes(doc_bin.to_bytes()).get_docs(nlp.vocab)
    _, tags = get_teacher_scores(back, ner.tag_names)
    assert tags == ner.tag_names
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.get_pipe("kd_ner").labels == ("facility", "geo-loc")
    assert [(e.text, e.label_) for e in loaded("I love Paris").ents] == [
        ("Paris", "geo-loc")
    ]


def test_tag_like_label_is_refused():
    nlp = make_nlp()
    with pytest.raises(ValueError, match="'PER'"):
        nlp.get_pipe("kd_ner").add_label("B-PER")
