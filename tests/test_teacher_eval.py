"""Scores of the teacher distributions stored in an annotated corpus."""

import json

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training.iob_utils import biluo_tags_to_spans
from typer.testing import CliRunner

from spacy_kd_ner.annotate import annotate_corpus
from spacy_kd_ner.annotated_corpus import (
    FORMAT,
    AnnotateError,
    ShardWriter,
    read_annotated,
)
from spacy_kd_ner.doc_text import unannotated_copy
from spacy_kd_ner.evaluation import EvaluationError, score_ner
from spacy_kd_ner.scores import TeacherScoresError, set_teacher_scores
from spacy_kd_ner.teacher_eval import (
    GoldMatchError,
    evaluate_agreement,
    evaluate_annotations,
    match_gold,
    pseudo_label_doc,
    score_pseudo_labels,
)

TAGS = ["O"] + [f"{p}-{label}" for label in ("LOC", "PER") for p in "BILU"]


def _doc(nlp, words, gold, teacher, sharpness=4.0):
    """A doc with gold BILUO tags and teacher scores peaked on `teacher`."""
    doc = Doc(nlp.vocab, words=words)
    doc.ents = biluo_tags_to_spans(doc, gold)
    probs = numpy.full((len(words), len(TAGS)), 1.0)
    for i, tag in enumerate(teacher):
        probs[i, TAGS.index(tag)] += sharpness
    set_teacher_scores(doc, TAGS, probs / probs.sum(axis=1, keepdims=True))
    return doc


def test_pseudo_labels_of_the_teacher():
    nlp = spacy.blank("en")
    words = ["Peter", "Smith", "went", "to", "Paris"]
    gold = ["B-PER", "L-PER", "O", "O", "U-LOC"]
    doc = _doc(nlp, words, gold, gold)
    pred = pseudo_label_doc(doc)
    assert [(e.text, e.label_) for e in pred.ents] == [
        ("Peter Smith", "PER"),
        ("Paris", "LOC"),
    ]
    assert not pred.has_extension("kd_teacher") or pred._.kd_teacher is None
    # An invalid argmax (I- after O) is decoded to the best valid sequence.
    invalid = _doc(
        nlp,
        ["in", "New", "York"],
        ["O", "B-LOC", "L-LOC"],
        ["O", "I-LOC", "L-LOC"],
        1.0,
    )
    tags = [
        t.ent_iob_ + "-" + t.ent_type_ if t.ent_type_ else "O"
        for t in pseudo_label_doc(invalid)
    ]
    assert tags[0] == "O" and tags[1:] in (
        ["B-LOC", "I-LOC"],
        ["O", "B-LOC"],
        ["O", "O"],
    )


def test_scores_against_gold_by_hand():
    nlp = spacy.blank("en")
    docs = [
        # both entities right
        _doc(
            nlp,
            ["Peter", "Smith", "in", "Paris"],
            ["B-PER", "L-PER", "O", "U-LOC"],
            ["B-PER", "L-PER", "O", "U-LOC"],
        ),
        # a wrong type and a missed entity
        _doc(
            nlp, ["Anna", "saw", "Rome"], ["U-PER", "O", "U-LOC"], ["U-LOC", "O", "O"]
        ),
        # a spurious entity
        _doc(nlp, ["it", "rained"], ["O", "O"], ["U-PER", "O"]),
    ]
    scores = score_pseudo_labels(docs)
    # gold 4 entities, predicted 4 entities, 2 right
    assert scores["n_gold_ents"] == 4 and scores["n_pred_ents"] == 4
    assert scores["micro"]["p"] == pytest.approx(0.5)
    assert scores["micro"]["r"] == pytest.approx(0.5)
    assert scores["spacy"]["ents_f"] == pytest.approx(0.5)
    assert scores["per_type"]["LOC"]["p"] == pytest.approx(
        0.5
    )  # Paris right, Anna wrong
    assert scores["per_type"]["LOC"]["r"] == pytest.approx(
        0.5
    )  # Paris found, Rome missed


def test_doc_without_teacher_scores():
    nlp = spacy.blank("en")
    with pytest.raises(TeacherScoresError, match="no teacher scores \\(doc 'Peter"):
        score_pseudo_labels([Doc(nlp.vocab, words=["Peter"])])


@pytest.fixture(scope="module")
def gold_path(tmp_path_factory):
    nlp = spacy.blank("en")
    docs = []
    for text, ents in [
        ("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
        ("John met Mary in Paris .", [(0, 4, "PER"), (9, 13, "PER"), (17, 22, "LOC")]),
        ("It rained .", []),
    ]:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        docs.append(doc)
    path = tmp_path_factory.mktemp("teacher-eval") / "gold.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


def test_evaluate_annotations(tmp_path, tiny_teacher_dir, gold_path):
    out = tmp_path / "annotated"
    annotate_corpus(str(tiny_teacher_dir), gold_path, out)
    metrics = evaluate_annotations(out)
    assert metrics["n_docs"] == 3 and metrics["n_gold_ents"] == 5
    assert metrics["teacher"] == str(tiny_teacher_dir.resolve())
    assert metrics == {
        **score_pseudo_labels(read_annotated(out)),
        "teacher": metrics["teacher"],
        "source": str(out),
    }


def test_evaluate_annotations_cli(tmp_path, tiny_teacher_dir, gold_path):
    from spacy_kd_ner.cli import kd_app

    out = tmp_path / "annotated"
    runner = CliRunner()
    models = f"{tiny_teacher_dir},{tiny_teacher_dir}"
    result = runner.invoke(kd_app, ["annotate", models, str(gold_path), str(out)])
    assert result.exit_code == 0, result.output
    metrics_path = tmp_path / "metrics.json"
    result = runner.invoke(
        kd_app, ["evaluate-annotations", str(out), "--output", str(metrics_path)]
    )
    assert result.exit_code == 0, result.output
    assert "an ensemble of 2" in result.output and "ALL (micro)" in result.output
    saved = json.loads(metrics_path.read_text())
    assert saved["n_gold_ents"] == 5 and len(saved["teacher"]) == 2
    result = runner.invoke(kd_app, ["evaluate-annotations", str(tmp_path)])
    assert result.exit_code == 1
    assert "complete annotated corpus" in " ".join(result.output.split())


def test_evaluate_annotations_refuses_a_plain_corpus(gold_path):
    with pytest.raises(AnnotateError, match="not a complete annotated corpus"):
        evaluate_annotations(gold_path.parent)


def test_match_gold_by_words():
    nlp = spacy.blank("en")

    def gold(text, ents):
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        return doc

    golds = [
        gold("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
        gold("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
        gold("Kent won .", [(0, 4, "ORG")]),
        gold("Kent won .", [(0, 4, "LOC")]),
        gold("It rained .", []),
    ]
    docs = [
        nlp.make_doc(t)
        for t in ("It rained .", "Kent won .", "Peter lives in London .")
    ]
    pairs, n_ambiguous = match_gold(docs, golds)
    # the identical copies are one answer; the two "Kent won ." disagree
    assert n_ambiguous == 1
    assert [(doc.text, g.text) for doc, g in pairs] == [
        ("It rained .", "It rained ."),
        ("Peter lives in London .", "Peter lives in London ."),
    ]
    assert [(e.text, e.label_) for e in pairs[1][1].ents] == [
        ("Peter", "PER"),
        ("London", "LOC"),
    ]
    with pytest.raises(GoldMatchError, match="Doc 1 \\('Peter lives in Paris"):
        match_gold([docs[0], nlp.make_doc("Peter lives in Paris .")], golds)


def test_evaluate_annotations_of_a_pool_with_gold_elsewhere(
    tmp_path, tiny_teacher_dir, gold_path
):
    # The pool (gold entities removed) scored against the gold corpus it came
    # from scores exactly as the same docs annotated with their gold.
    nlp = spacy.blank("en")
    golds = list(DocBin().from_disk(gold_path).get_docs(nlp.vocab))
    pool_path = tmp_path / "pool.spacy"
    pool = [unannotated_copy(nlp.vocab, doc) for doc in reversed(golds[1:])]
    DocBin(docs=pool).to_disk(pool_path)
    annotate_corpus(str(tiny_teacher_dir), gold_path, tmp_path / "with-gold")
    annotate_corpus(str(tiny_teacher_dir), pool_path, tmp_path / "pool")
    assert evaluate_annotations(tmp_path / "pool")["n_gold_ents"] == 0
    metrics = evaluate_annotations(tmp_path / "pool", gold=gold_path)
    assert metrics["gold"] == str(gold_path)
    assert metrics["n_docs_ambiguous_gold"] == 0
    expected = score_pseudo_labels(list(read_annotated(tmp_path / "with-gold"))[1:])
    assert metrics["n_docs"] == 2 and metrics["n_gold_ents"] == 3
    for key in ("micro", "per_type", "spacy", "n_pred_ents"):
        assert metrics[key] == expected[key], key


def test_evaluate_annotations_cli_names_a_doc_without_gold(
    tmp_path, tiny_teacher_dir, gold_path
):
    from spacy_kd_ner.cli import kd_app

    nlp = spacy.blank("en")
    pool_path = tmp_path / "pool.spacy"
    DocBin(docs=[nlp.make_doc("Nobody wrote this .")]).to_disk(pool_path)
    out = tmp_path / "pool"
    annotate_corpus(str(tiny_teacher_dir), pool_path, out)
    args = ["evaluate-annotations", str(out), "--gold", str(gold_path)]
    result = CliRunner().invoke(kd_app, args)
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "Doc 0 ('Nobody wrote this .') has no gold doc" in output
    assert str(gold_path) in output


def test_evaluate_annotations_refuses_unreadable_gold(
    tmp_path, tiny_teacher_dir, gold_path
):
    out = tmp_path / "annotated"
    annotate_corpus(str(tiny_teacher_dir), gold_path, out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GoldMatchError, match="Cannot read the gold docs at .*empty"):
        evaluate_annotations(out, gold=tmp_path / "empty")
    (tmp_path / "bad.spacy").write_text("not a DocBin")
    with pytest.raises(GoldMatchError, match="Cannot read the gold docs at .*bad"):
        evaluate_annotations(out, gold=tmp_path / "bad.spacy")


def test_evaluate_annotations_verifies_the_shards(
    tmp_path, tiny_teacher_dir, gold_path
):
    out = tmp_path / "annotated"
    annotate_corpus(str(tiny_teacher_dir), gold_path, out, shard_size=2)
    shard = out / "shard-00000.spacy"
    DocBin(docs=list(read_annotated(gold_path))[1:]).to_disk(shard)
    with pytest.raises(AnnotateError, match="shard-00000.spacy.*checksum"):
        evaluate_annotations(out)


# Agreement without gold: a pipeline scored against the teacher's entities.
# (words, gold BILUO, teacher's peak BILUO); the gold differs from the teacher
# and is not read.
AGREEMENT_DOCS = [
    (
        ["Peter", "Smith", "went", "to", "Paris"],
        ["B-PER", "L-PER", "O", "O", "U-LOC"],
        ["B-PER", "L-PER", "O", "O", "O"],
    ),
    (["Anna", "saw", "Rome"], ["U-PER", "O", "U-LOC"], ["U-LOC", "O", "U-LOC"]),
    (["it", "rained"], ["O", "O"], ["U-PER", "O"]),
]
# The student is right by the gold everywhere. By the teacher: "Peter Smith"
# PER and "Rome" LOC agree; "Paris" LOC and "Anna" PER are the student's
# alone; "Anna" LOC and "it" PER the teacher's alone.
STUDENT_PATTERNS = [
    {"label": "PER", "pattern": [{"ORTH": "Peter"}, {"ORTH": "Smith"}]},
    {"label": "LOC", "pattern": "Paris"},
    {"label": "PER", "pattern": "Anna"},
    {"label": "LOC", "pattern": "Rome"},
]
TEACHER_SHA = "0123456789abcdef"


def _student(patterns=STUDENT_PATTERNS):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    return nlp


def _agreement_docs():
    nlp = spacy.blank("en")
    return [_doc(nlp, *doc) for doc in AGREEMENT_DOCS]


@pytest.fixture
def agreement_corpus(tmp_path):
    """An annotated corpus of AGREEMENT_DOCS, written as `annotate` writes one."""
    path = tmp_path / "annotated"
    docs = _agreement_docs()
    with ShardWriter(path) as writer:
        state = {"format": FORMAT, "model_sha256": TEACHER_SHA, "tags": TAGS}
        writer.begin({**state, "shard_size": 2})
        for i in range(0, len(docs), 2):
            writer.write(docs[i : i + 2])
        writer.publish({"model": "teacher-a"}, {})
    return path


def test_evaluate_agreement_by_hand(agreement_corpus):
    metrics = evaluate_agreement(_student(), agreement_corpus)
    assert metrics["reference"] == "teacher"
    assert metrics["teacher"] == "teacher-a"
    assert metrics["teacher_sha256"] == TEACHER_SHA
    assert metrics["source"] == str(agreement_corpus)
    # tp 2, fp 2, fn 2; per type tp 1, fp 1, fn 1
    assert metrics["n_gold_ents"] == 4 and metrics["n_pred_ents"] == 4
    assert metrics["micro"]["p"] == pytest.approx(0.5)
    assert metrics["micro"]["r"] == pytest.approx(0.5)
    assert metrics["spacy"]["ents_f"] == pytest.approx(0.5)
    for label in ("LOC", "PER"):
        assert metrics["per_type"][label]["p"] == pytest.approx(0.5)
        assert metrics["per_type"][label]["r"] == pytest.approx(0.5)
        assert metrics["spacy"]["ents_per_type"][label]["r"] == pytest.approx(0.5)
    # By the gold that the corpus also holds, the student is perfect.
    assert score_ner(
        [_student()(unannotated_copy(d.vocab, d)) for d in _agreement_docs()],
        _agreement_docs(),
    )["micro"]["f"] == pytest.approx(1.0)


def test_evaluate_agreement_of_the_teacher_itself(agreement_corpus):
    patterns = [
        {"label": ent.label_, "pattern": [{"ORTH": t.text} for t in ent]}
        for doc in _agreement_docs()
        for ent in pseudo_label_doc(doc).ents
    ]
    metrics = evaluate_agreement(_student(patterns), agreement_corpus)
    assert metrics["micro"]["f"] == 1.0 and metrics["spacy"]["ents_f"] == 1.0


def test_evaluate_agreement_of_a_spacy_file_with_scores(tmp_path):
    path = tmp_path / "scored.spacy"
    DocBin(docs=_agreement_docs(), store_user_data=True).to_disk(path)
    metrics = evaluate_agreement(_student(), path)
    assert metrics["micro"]["f"] == pytest.approx(0.5)
    assert metrics["teacher"] is None and metrics["teacher_sha256"] is None


def test_evaluate_agreement_refuses_docs_without_teacher_scores(tmp_path, gold_path):
    with pytest.raises(
        EvaluationError, match=f"Doc 0 \\('Peter lives in London .'\\) of {gold_path} "
    ):
        evaluate_agreement(_student(), gold_path)


def test_evaluate_agreement_refuses_other_labels(agreement_corpus):
    student = _student(STUDENT_PATTERNS + [{"label": "ORG", "pattern": "IBM"}])
    with pytest.raises(
        EvaluationError,
        match="predicts the labels \\['LOC', 'ORG', 'PER'\\], but the teacher of "
        f"{agreement_corpus} tags \\['LOC', 'PER'\\]",
    ):
        evaluate_agreement(student, agreement_corpus)


def test_evaluate_cli_against_the_teacher(tmp_path, agreement_corpus, gold_path):
    from spacy_kd_ner.cli import kd_app

    _student().to_disk(tmp_path / "student")
    out = tmp_path / "agreement.json"
    args = ["evaluate", str(tmp_path / "student")]
    runner = CliRunner()
    result = runner.invoke(
        kd_app, args + [str(agreement_corpus), "--reference", "teacher", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"Reference: the teacher entities of {agreement_corpus}" in output
    assert "(teacher: teacher-a)" in output
    metrics = json.loads(out.read_text())
    assert metrics["reference"] == "teacher" and metrics["teacher"] == "teacher-a"
    assert metrics["teacher_sha256"] == TEACHER_SHA
    assert metrics["micro"]["r"] == pytest.approx(0.5)
    assert "run" in metrics
    for data, message in [
        (gold_path, f"{gold_path} has no teacher scores"),
        (gold_path.parent, "not a complete annotated corpus"),
    ]:
        result = runner.invoke(kd_app, args + [str(data), "--reference", "teacher"])
        assert result.exit_code == 1
        assert message in " ".join(result.output.split())
    # The default reference is the gold: the same corpus scores by its gold.
    result = runner.invoke(kd_app, args + [str(agreement_corpus), "-o", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["reference"] == "gold" and metrics["micro"]["f"] == 1.0
