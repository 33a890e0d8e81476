"""Teachers without kd_ner: a pipeline's entities (one-hot, smoothed) or
scored spans (soft) as distributions, label maps, drops counted; spaCy's own
`ner` through `kd-ner annotate`; the misuse cases."""

import json
from typing import Dict, List, Tuple

import numpy
import pytest
import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span, SpanGroup
from spacy.training import Example, biluo_tags_to_spans
from spacy.util import fix_random_seed
from test_distillation import get_pipe, make_student
from thinc.api import Adam
from typer.testing import CliRunner

import spacy_kd_ner.annotated_corpus as annotated_corpus_module
from spacy_kd_ner.annotate import annotate_corpus, annotate_docs
from spacy_kd_ner.annotated_corpus import MANIFEST, AnnotateError, read_annotated
from spacy_kd_ner.biluo import biluo_constraints, biluo_tag_names, pseudo_labels
from spacy_kd_ner.cli import kd_app
from spacy_kd_ner.corpus import DistillationCorpus
from spacy_kd_ner.scores import EXTENSION, get_teacher_scores
from spacy_kd_ner.teachers import TeacherOptions, smooth_rows

Entity = Tuple[int, int, str]
SPACY_LABELS = TeacherOptions(label_map={"PERSON": "PER", "GPE": "LOC"})


def ruler(patterns: List[Tuple[str, str]]) -> Language:
    """A blank pipeline whose entity_ruler tags each (label, phrase)."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": label, "pattern": text} for label, text in patterns])
    return nlp


def docs_of(*texts: str) -> List[Doc]:
    nlp = spacy.blank("en")
    return [nlp.make_doc(text) for text in texts]


def decoded(doc: Doc) -> List[Entity]:
    """The entities of the stored rows' constrained decoding (pseudo-labels)."""
    probs, tags = get_teacher_scores(doc)
    ids = pseudo_labels(probs, biluo_constraints(tags))
    spans = biluo_tags_to_spans(doc, [tags[i] for i in ids])
    return [(s.start, s.end, s.label_) for s in spans]


def stored(doc: Doc) -> numpy.ndarray:
    return doc._.get(EXTENSION)["probs"].astype("float32")


def one_hot(tags: List[str], tag_names: List[str]) -> numpy.ndarray:
    rows = numpy.zeros((len(tags), len(tag_names)), dtype="float32")
    for i, tag in enumerate(tags):
        rows[i, tag_names.index(tag)] = 1.0
    return rows


def test_entities_become_one_hot_rows_over_sorted_labels():
    nlp = ruler([("PER", "Peter"), ("geo-loc", "New York")])
    (doc,) = docs_of("Peter flew to New York")
    assert list(annotate_docs(nlp, [doc])) == [doc]
    tag_names = biluo_tag_names(["PER", "geo-loc"])  # sorted: upper case first
    assert doc._.get(EXTENSION)["tags"] == tag_names
    expected = ["U-PER", "O", "O", "B-geo-loc", "L-geo-loc"]
    numpy.testing.assert_array_equal(stored(doc), one_hot(expected, tag_names))
    assert decoded(doc) == [(0, 1, "PER"), (3, 5, "geo-loc")]
    assert not doc.has_annotation("ENT_IOB")  # the input doc's gold untouched


def test_label_smoothing_by_hand():
    """9 tags, eps = 0.2: the tag gets 0.8, each of the 8 others 0.025."""
    nlp = ruler([("PER", "Peter"), ("geo-loc", "London")])
    (doc,) = docs_of("Peter visits London")
    options = TeacherOptions(label_smoothing=0.2)
    list(annotate_docs(nlp, [doc], options=options))
    rows = numpy.full((3, 9), 0.025, dtype="float32")
    rows[0, 4] = rows[1, 0] = rows[2, 8] = 0.8  # U-PER, O, U-geo-loc
    numpy.testing.assert_allclose(stored(doc), rows, atol=1e-3)  # float16
    numpy.testing.assert_allclose(get_teacher_scores(doc)[0].sum(axis=1), 1.0)
    assert decoded(doc) == [(0, 1, "PER"), (2, 3, "geo-loc")]
    # A soft row: (1 - eps) p + eps (1 - p) / (K - 1), still summing to 1.
    soft = smooth_rows(numpy.array([[0.5, 0.3, 0.2]]), 0.1)
    numpy.testing.assert_allclose(soft, [[0.475, 0.305, 0.22]], rtol=1e-6)


def test_label_map_drops_and_counts_per_label(tmp_path):
    nlp = ruler(
        [("PERSON", "Peter"), ("GPE", "London"), ("NORP", "German"), ("DATE", "today")]
    )
    texts = ("Peter met a German in London today", "German Peter")
    path = tmp_path / "input.spacy"
    DocBin(docs=docs_of(*texts)).to_disk(path)
    out = tmp_path / "annotated"
    stats = annotate_corpus(nlp, path, out, options=SPACY_LABELS)
    assert stats.dropped_entities == {"DATE": 1, "NORP": 2}
    assert stats.teacher_kind == "entities"
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["tags"] == biluo_tag_names(["LOC", "PER"])
    assert manifest["component"] is None
    assert manifest["teacher"] == {
        "kind": "entities",
        "labels": ["LOC", "PER"],
        "label_map": {"PERSON": "PER", "GPE": "LOC"},
        "label_smoothing": 0.0,
        "components": ["entity_ruler"],
    }
    assert [decoded(doc) for doc in read_annotated(out)] == [
        [(0, 1, "PER"), (5, 6, "LOC")],
        [(1, 2, "PER")],
    ]
    # --labels narrows the tag list further: a mapped label outside it too is
    # dropped, counted under the teacher's label; annotate_docs warns.
    options = TeacherOptions(labels=("PER",), label_map=SPACY_LABELS.label_map)
    docs = docs_of(*texts)
    with pytest.warns(UserWarning, match="Dropped 4 .* DATE 1, GPE 1, NORP 2"):
        list(annotate_docs(nlp, docs, options=options))
    assert docs[0]._.get(EXTENSION)["tags"] == biluo_tag_names(["PER"])
    assert decoded(docs[0]) == [(0, 1, "PER")]


# The spans each text gets from the `kd_test_scored_spans` component:
# (start, end, label, score).
SCORED_SPANS: Dict[str, List[Tuple[int, int, str, float]]] = {
    "Anna met Bob in New York today": [
        (0, 1, "PER", 0.9),
        (2, 3, "PER", 0.4),
        (4, 6, "LOC", 0.7),
        (6, 7, "DATE", 0.95),
    ],
    "New York City": [(0, 2, "LOC", 0.6), (0, 3, "LOC", 0.7), (2, 3, "PER", 0.2)],
    "A bad score": [(0, 1, "PER", 1.5)],
}
UNSCORED = "No scores here"


@Language.component("kd_test_scored_spans", assigns=["doc.spans"])
def scored_spans(doc: Doc) -> Doc:
    """Set doc.spans["sc"] as spaCy's spancat does: spans and their scores
    (none for `UNSCORED`)."""
    if doc.text == UNSCORED:
        doc.spans["sc"] = SpanGroup(doc, spans=[doc[0:1]])
        return doc
    given = SCORED_SPANS.get(doc.text, [])
    spans = [Span(doc, start, end, label=label) for start, end, label, _ in given]
    scores = numpy.array([score for *_, score in given], dtype="float32")
    doc.spans["sc"] = SpanGroup(doc, spans=spans, attrs={"scores": scores})
    return doc


def spans_teacher() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("kd_test_scored_spans")
    return nlp


SPANS = TeacherOptions(labels=("PER", "LOC"), spans_key="sc")
# O, B-LOC, I-LOC, L-LOC, U-LOC, B-PER, I-PER, L-PER, U-PER
SPAN_TAGS = biluo_tag_names(["LOC", "PER"])


def test_scored_spans_become_soft_rows_by_hand():
    """Each token: its span's score on its tag, O the rest; the DATE span is
    dropped; the decoding gives the spans above 0.5."""
    (doc,) = docs_of("Anna met Bob in New York today")
    with pytest.warns(UserWarning, match="DATE 1"):
        list(annotate_docs(spans_teacher(), [doc], options=SPANS))
    assert doc._.get(EXTENSION)["tags"] == SPAN_TAGS
    rows = numpy.zeros((7, 9), dtype="float32")
    rows[:, 0] = [0.1, 1.0, 0.6, 1.0, 0.3, 0.3, 1.0]
    rows[0, 8], rows[2, 8] = 0.9, 0.4  # U-PER
    rows[4, 1], rows[5, 3] = 0.7, 0.7  # B-LOC, L-LOC
    numpy.testing.assert_allclose(stored(doc), rows, atol=1e-3)
    assert decoded(doc) == [(0, 1, "PER"), (4, 6, "LOC")]


def test_overlapping_spans_pool_their_scores_by_hand():
    (doc,) = docs_of("New York City")
    list(annotate_docs(spans_teacher(), [doc], options=SPANS))
    rows = numpy.zeros((3, 9), dtype="float32")
    rows[0, 1] = 1.0  # B-LOC: 0.6 + 0.7, divided by 1.3
    rows[1, 3], rows[1, 2] = 0.6 / 1.3, 0.7 / 1.3  # L-LOC, I-LOC
    rows[2, 3], rows[2, 8], rows[2, 0] = 0.7, 0.2, 0.1  # L-LOC, U-PER, O
    numpy.testing.assert_allclose(stored(doc), rows, atol=1e-3)
    assert decoded(doc) == [(0, 3, "LOC")]


def test_spans_teacher_misuse():
    nlp = spans_teacher()
    with pytest.raises(AnnotateError, match=r"no doc.spans\['other'\].*\['sc'\]"):
        list(annotate_docs(nlp, docs_of("New York City"), options=TeacherOptions(
            labels=("LOC",), spans_key="other")))  # fmt: skip
    with pytest.raises(AnnotateError, match="'A'.*score 1.5.*in \\[0, 1\\]"):
        list(annotate_docs(nlp, docs_of("A bad score"), options=SPANS))
    with pytest.raises(
        AnnotateError, match="one per span: found no scores for 1 spans"
    ):
        list(annotate_docs(nlp, docs_of(UNSCORED), options=SPANS))
    with pytest.raises(AnnotateError, match="kd_test_scored_spans.*no labels"):
        list(annotate_docs(nlp, [], options=TeacherOptions(spans_key="sc")))


def test_an_ensemble_of_entity_teachers_votes():
    one, other = ruler([("PER", "Peter")]), ruler([("LOC", "Peter")])
    (doc,) = docs_of("Peter")
    options = TeacherOptions(labels=("LOC", "PER"))
    list(annotate_docs([one, other], [doc], options=options))
    numpy.testing.assert_allclose(stored(doc)[0, [4, 8]], [0.5, 0.5])  # U-LOC, U-PER


def kd_ner_pipeline() -> Language:
    nlp = make_student()
    examples = [Example(doc, doc) for doc in docs_of("Anna visited Rome")]
    nlp.initialize(lambda: examples)
    return nlp


def test_options_refused_for_a_kd_ner_teacher():
    with pytest.raises(AnnotateError, match="has a kd_ner component.*--label-map"):
        list(annotate_docs(kd_ner_pipeline(), [], options=SPACY_LABELS))


@pytest.mark.parametrize("eps", [-0.1, 0.5, float("nan")])
def test_label_smoothing_out_of_range(eps):
    with pytest.raises(AnnotateError, match="--label-smoothing must be at least 0"):
        TeacherOptions(label_smoothing=eps)


def test_resume_needs_the_same_smoothing(tmp_path, monkeypatch):
    nlp = tmp_path / "ruler"
    ruler([("PER", "Peter")]).to_disk(nlp)
    path = tmp_path / "input.spacy"
    DocBin(docs=docs_of("Peter", "Peter ran", "no one")).to_disk(path)
    out = tmp_path / "annotated"
    write_shard = annotated_corpus_module.write_shard

    def stop_after_this_one(*args):
        monkeypatch.setattr(annotated_corpus_module, "write_shard", interrupted)
        return write_shard(*args)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(annotated_corpus_module, "write_shard", stop_after_this_one)
    smoothed = TeacherOptions(label_smoothing=0.1)
    with pytest.raises(KeyboardInterrupt):
        annotate_corpus(nlp, path, out, shard_size=2, options=smoothed)
    monkeypatch.undo()
    with pytest.raises(AnnotateError, match="teacher's settings changed.*--overwrite"):
        annotate_corpus(nlp, path, out, shard_size=2)
    stats = annotate_corpus(nlp, path, out, shard_size=2, options=smoothed)
    assert stats.shards_resumed == 1 and stats.shards == 2
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["teacher"]["label_smoothing"] == 0.1


NER_TRAIN = [
    ("Peter lives in London .", [(0, 5, "PERSON"), (15, 21, "GPE")]),
    ("Anna moved to Paris .", [(0, 4, "PERSON"), (14, 19, "GPE")]),
    ("Google hired Peter .", [(0, 6, "ORG"), (13, 18, "PERSON")]),
    ("The weather is nice .", []),
]


@pytest.fixture(scope="module")
def spacy_ner_dir(tmp_path_factory):
    """spaCy's own ner (PERSON, GPE, ORG), overfitted in-process, on disk."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents})
        for text, ents in NER_TRAIN
    ]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    path = tmp_path_factory.mktemp("spacy-ner") / "ner"
    nlp.to_disk(path)
    return path


def test_spacy_ner_teacher_through_the_cli(tmp_path, spacy_ner_dir):
    texts = [text for text, _ in NER_TRAIN] + ["Anna lives in London ."]
    path = tmp_path / "input.spacy"
    DocBin(docs=docs_of(*texts)).to_disk(path)
    out, stats_path = tmp_path / "annotated", tmp_path / "stats.json"
    result = run_annotate(
        spacy_ner_dir,
        path,
        out,
        "--label-map",
        "PERSON=PER,GPE=LOC",
        "--stats",
        stats_path,
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["tags"] == biluo_tag_names(["LOC", "PER"])
    assert manifest["teacher"]["kind"] == "entities"
    assert manifest["teacher"]["components"] == ["ner"]
    # The decoded rows are the teacher's entities, mapped; ORG ones dropped.
    teacher = spacy.load(spacy_ner_dir)
    mapping = {"PERSON": "PER", "GPE": "LOC"}
    expected, n_org = [], 0
    for doc in teacher.pipe(texts):
        n_org += sum(ent.label_ == "ORG" for ent in doc.ents)
        expected.append(
            [
                (e.start, e.end, mapping[e.label_])
                for e in doc.ents
                if e.label_ in mapping
            ]
        )
    assert sum(map(len, expected)) >= 6  # it learned its data
    assert [decoded(doc) for doc in read_annotated(out)] == expected
    assert n_org > 0
    assert srsly.read_json(stats_path)["dropped_entities"] == {"ORG": n_org}
    assert "dropped ORG" in result.output and "Dropped" in result.output
    # A student over the same labels trains on them through the reader.
    student = make_student(beta=0.0, gamma=1.0)
    reader = DistillationCorpus(out, shuffle=False)
    student.initialize(lambda: reader(student))
    optimizer = Adam(0.02)
    losses = [student.update(list(reader(student)), sgd=optimizer)["kd_ner"]]
    for _ in range(10):
        losses.append(student.update(list(reader(student)), sgd=optimizer)["kd_ner"])
    assert losses[-1] < losses[0]
    assert get_pipe(student).tag_names == manifest["tags"]


def run_annotate(*args):
    """`kd-ner annotate` with these arguments, through typer's runner."""
    return CliRunner().invoke(kd_app, ["annotate", *map(str, args)])


def check_refused(result, out, *messages):
    """Exit 1 with the messages, no traceback, nothing left beside `out`."""
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for message in messages:
        assert message in text, text
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*"))  # no lock, no work dir


@pytest.fixture(scope="module")
def ruler_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ruler") / "ruler"
    ruler([("PERSON", "Peter"), ("GPE", "London")]).to_disk(path)
    return path


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("teachers-input") / "input.spacy"
    DocBin(docs=docs_of("Peter lives in London .")).to_disk(path)
    return path


@pytest.mark.parametrize(
    "label_map,message",
    [
        ("PERSON", "Cannot read 'PERSON' in the label map 'PERSON'"),
        ("=PER", "Cannot read '=PER'"),
        ("PERSON=PER,PERSON=LOC", "maps 'PERSON' twice"),
    ],
)
def test_cli_refuses_a_malformed_label_map(
    tmp_path, ruler_dir, corpus_path, label_map, message
):
    out = tmp_path / "out" / "annotated"
    out.parent.mkdir()
    result = run_annotate(ruler_dir, corpus_path, out, "--label-map", label_map)
    check_refused(result, out, message)


def test_cli_refuses_a_pipeline_without_labels(tmp_path, ruler_dir, corpus_path):
    plain = tmp_path / "sentencizer"
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(plain)
    out = tmp_path / "out" / "annotated"
    result = run_annotate(plain, corpus_path, out)
    check_refused(
        result,
        out,
        f"Cannot tell the entity labels of the teacher pipeline {plain}",
        "none of its components ['sentencizer'] declares that it assigns doc.ents",
        "--labels",
    )
    result = run_annotate(ruler_dir, corpus_path, out, "--label-map", "ORG=ORG")
    check_refused(
        result, out, "none of their labels ['GPE', 'PERSON'] is in the label map"
    )


def test_cli_refuses_an_ensemble_of_kd_ner_and_a_plain_pipeline(
    tmp_path, ruler_dir, corpus_path
):
    kd_ner_dir = tmp_path / "kd_ner"
    kd_ner_pipeline().to_disk(kd_ner_dir)
    out = tmp_path / "out" / "annotated"
    result = run_annotate(f"{kd_ner_dir},{ruler_dir}", corpus_path, out)
    check_refused(
        result,
        out,
        "The teachers are of different kinds",
        f"{kd_ner_dir} is of kind 'kd_ner', {ruler_dir} of kind 'entities'",
        "merge-annotations",
    )
