import json

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_kd_ner.cli import kd_app
from spacy_kd_ner.evaluation import (
    EvaluationError,
    evaluate_ner,
    load_docs,
    spans_to_iob2,
    to_iob2,
    write_metrics,
)

# (words, IOB2 gold tags); None marks a token without gold annotation.
GOLD = [
    (
        ["Barack", "Obama", "visited", "Paris", "yesterday", "."],
        ["B-PER", "I-PER", "O", "B-LOC", "O", "O"],
    ),
    (
        ["Angela", "Merkel", "met", "Macron", "in", "Berlin", "."],
        ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O"],
    ),
    (
        ["Flights", "from", "Rome", "Milan", "and", "Oslo", "."],
        ["O", "O", "B-LOC", "B-LOC", "O", "B-LOC", "O"],
    ),
    (
        ["Reuters", "says", "IBM", "rose", "."],
        ["B-ORG", "O", None, None, "O"],
    ),
]
# A doc without any entity annotation: both scorers skip it.
UNANNOTATED = ["Nothing", "here", "about", "Berlin", "."]

# Errors of every kind against GOLD:
#   "Obama" PER             wrong boundary  (fp PER; gold "Barack Obama" fn PER)
#   "Paris" ORG             wrong type      (fp ORG; gold LOC fn)
#   "Angela Merkel" PER     right           (tp PER)
#   "met" MISC              spurious        (fp MISC)
#   "Macron"                missed          (fn PER)
#   "Berlin" LOC            right           (tp LOC), also in UNANNOTATED (ignored)
#   "Rome Milan" LOC        two adjacent entities merged (fp LOC; fn LOC x2)
#   "Oslo" LOC              right           (tp LOC)
#   "Reuters" ORG           right           (tp ORG)
#   "IBM" ORG               over missing gold annotation: ignored
ERROR_PATTERNS = [
    {"label": "PER", "pattern": "Obama"},
    {"label": "ORG", "pattern": "Paris"},
    {"label": "PER", "pattern": [{"ORTH": "Angela"}, {"ORTH": "Merkel"}]},
    {"label": "MISC", "pattern": "met"},
    {"label": "LOC", "pattern": "Berlin"},
    {"label": "LOC", "pattern": [{"ORTH": "Rome"}, {"ORTH": "Milan"}]},
    {"label": "LOC", "pattern": "Oslo"},
    {"label": "ORG", "pattern": "Reuters"},
    {"label": "ORG", "pattern": "IBM"},
]
# tp: Merkel, Berlin, Oslo, Reuters; fp: Obama, Paris/ORG, met, Rome Milan;
# fn: Barack Obama, Paris/LOC, Macron, Rome, Milan.
TP, FP, FN = 4, 4, 5


# An entity ruler that never matches here: a pipeline that predicts nothing.
NO_MATCH = [{"label": "PER", "pattern": "Zyxwvut"}]


def make_gold(nlp):
    docs = [Doc(nlp.vocab, words=words, ents=tags) for words, tags in GOLD]
    docs.append(Doc(nlp.vocab, words=UNANNOTATED))
    return docs


def make_ruler_nlp(patterns):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(patterns)
    return nlp


def perfect_patterns(gold_docs):
    patterns = []
    for doc in gold_docs:
        for ent in doc.ents:
            pattern = [{"ORTH": t.text} for t in ent]
            patterns.append({"label": ent.label_, "pattern": pattern})
    return patterns


@pytest.fixture
def nlp_errors():
    return make_ruler_nlp(ERROR_PATTERNS)


def test_to_iob2():
    assert to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "B-LOC",
        "B-ORG",
    ]


def test_spans_to_iob2_adjacent_entities():
    nlp = spacy.blank("en")
    doc = make_gold(nlp)[2]
    assert spans_to_iob2(doc, doc.ents) == GOLD[2][1]


def test_seqeval_agrees_with_spacy(nlp_errors):
    metrics = evaluate_ner(nlp_errors, make_gold(nlp_errors), batch_size=2)
    micro, spacy_scores = metrics["micro"], metrics["spacy"]
    assert micro["p"] == pytest.approx(TP / (TP + FP), abs=1e-9)
    assert micro["r"] == pytest.approx(TP / (TP + FN), abs=1e-9)
    assert micro["support"] == TP + FN
    assert abs(micro["f"] - spacy_scores["ents_f"]) < 1e-9
    assert abs(micro["p"] - spacy_scores["ents_p"]) < 1e-9
    assert abs(micro["r"] - spacy_scores["ents_r"]) < 1e-9
    assert set(metrics["per_type"]) == set(spacy_scores["ents_per_type"])
    assert set(metrics["per_type"]) == {"PER", "LOC", "ORG", "MISC"}
    for label, scores in metrics["per_type"].items():
        theirs = spacy_scores["ents_per_type"][label]
        for key in ("p", "r", "f"):
            assert abs(scores[key] - theirs[key]) < 1e-9, (label, key)
    assert metrics["per_type"]["LOC"]["support"] == 5
    assert metrics["per_type"]["MISC"]["support"] == 0
    assert metrics["per_type"]["MISC"]["p"] == 0.0
    assert metrics["n_docs"] == 5
    assert metrics["n_docs_unannotated"] == 1
    assert metrics["n_tokens"] == sum(len(w) for w, _ in GOLD) + len(UNANNOTATED)
    assert metrics["n_pred_ents_ignored"] == 1
    assert metrics["n_gold_ents"] == TP + FN
    assert metrics["n_pred_ents"] == TP + FP
    assert metrics["words_per_second"] > 0


def test_perfect_predictions():
    nlp = spacy.blank("en")
    gold = make_gold(nlp)
    nlp = make_ruler_nlp(perfect_patterns(gold))
    metrics = evaluate_ner(nlp, make_gold(nlp))
    assert metrics["micro"]["f"] == 1.0
    assert metrics["micro"]["p"] == 1.0
    assert metrics["spacy"]["ents_f"] == pytest.approx(1.0)
    assert all(s["f"] == 1.0 for s in metrics["per_type"].values())


def test_no_entities_anywhere():
    nlp = make_ruler_nlp(NO_MATCH)
    gold = [Doc(nlp.vocab, words=["a", "b"], ents=["O", "O"])]
    metrics = evaluate_ner(nlp, gold)
    assert metrics["micro"]["f"] is None
    assert metrics["spacy"]["ents_f"] is None
    assert metrics["per_type"] == {}


def test_predictions_do_not_see_gold(nlp_errors):
    # A pipeline that predicts nothing scores zero recall: the gold entities
    # must not leak into the docs the pipeline gets.
    nlp = make_ruler_nlp(NO_MATCH)
    metrics = evaluate_ner(nlp, make_gold(nlp))
    assert metrics["micro"]["r"] == 0.0
    assert metrics["n_pred_ents"] == 0


def test_path_input_and_json(tmp_path, nlp_errors):
    data = tmp_path / "gold.spacy"
    DocBin(docs=make_gold(nlp_errors)).to_disk(data)
    assert len(load_docs(data, nlp_errors.vocab)) == 5
    from_docs = evaluate_ner(nlp_errors, make_gold(nlp_errors))
    from_path = evaluate_ner(nlp_errors, data)
    assert from_path["micro"] == from_docs["micro"]
    assert from_path["per_type"] == from_docs["per_type"]
    out = tmp_path / "sub" / "metrics.json"
    write_metrics(from_path, out)
    loaded = json.loads(out.read_text())
    # srsly (ujson) writes floats with 10 decimals.
    assert loaded["micro"] == pytest.approx(from_path["micro"], abs=1e-9)
    assert loaded["spacy"]["ents_f"] == pytest.approx(from_path["spacy"]["ents_f"])


def test_load_docs_skips_hidden_directories(tmp_path, nlp_errors):
    """A directory's hidden work dir (annotate's `.<name>.partial`) is not read."""
    docs = make_gold(nlp_errors)
    DocBin(docs=docs[:2]).to_disk(tmp_path / "a.spacy")
    (tmp_path / "sub").mkdir()
    DocBin(docs=docs[2:]).to_disk(tmp_path / "sub" / "b.spacy")
    partial = tmp_path / ".x.partial"
    partial.mkdir()
    DocBin(docs=docs).to_disk(partial / "shard.spacy")
    DocBin(docs=docs).to_disk(tmp_path / ".hidden.spacy")
    loaded = load_docs(tmp_path, nlp_errors.vocab)
    assert [d.text for d in loaded] == [d.text for d in docs]


@pytest.mark.parametrize("precision", [None, "bf16"])
def test_evaluate_cli(tmp_path, nlp_errors, precision):
    """Scores and settings are saved; --precision is recorded (a pipeline
    without torch scores the same in it), an unknown one refused."""
    model = tmp_path / "model"
    nlp_errors.to_disk(model)
    data = tmp_path / "gold.spacy"
    DocBin(docs=make_gold(nlp_errors)).to_disk(data)
    out = tmp_path / "metrics.json"
    args = ["evaluate", str(model), str(data), "--output", str(out), "-b", "2"]
    options = [] if precision is None else ["--precision", precision]
    result = CliRunner().invoke(kd_app, args + options)
    assert result.exit_code == 0, result.output
    assert "ALL (micro)" in result.output
    metrics = json.loads(out.read_text())
    assert metrics["micro"]["p"] == pytest.approx(TP / (TP + FP))
    assert metrics["micro"]["f"] == pytest.approx(metrics["spacy"]["ents_f"])
    assert metrics["batch_size"] == 2
    assert metrics["precision"] == precision
    result = CliRunner().invoke(kd_app, args + ["--precision", "half"])
    assert result.exit_code == 1
    assert "precision must be one of fp32, bf16, auto" in result.output


@pytest.mark.parametrize("pipes", [[], ["sentencizer"], ["span_ruler"]])
def test_pipeline_that_sets_no_entities_is_refused(pipes):
    """A pipeline none of whose components assigns doc.ents would score 0 (or
    null) everywhere: an error that names its components instead."""
    nlp = spacy.blank("en")
    for name in pipes:
        nlp.add_pipe(name)
    with pytest.raises(EvaluationError, match="no component that assigns doc.ents"):
        evaluate_ner(nlp, make_gold(nlp))


def test_disabled_entity_component_is_refused():
    nlp = make_ruler_nlp(NO_MATCH)
    nlp.disable_pipe("entity_ruler")
    with pytest.raises(EvaluationError, match="entity_ruler.*disabled"):
        evaluate_ner(nlp, make_gold(nlp))


@pytest.mark.parametrize("docs", [[], [[]]])
def test_empty_corpus_is_refused(tmp_path, nlp_errors, docs):
    """A corpus without docs, or whose docs have no tokens, gives an error
    that names it, not null scores."""
    path = tmp_path / "empty.spacy"
    DocBin(docs=[Doc(nlp_errors.vocab, words=w) for w in docs]).to_disk(path)
    with pytest.raises(EvaluationError, match=f"{path}.*nothing to score"):
        evaluate_ner(nlp_errors, path)
    with pytest.raises(EvaluationError, match="nothing to score"):
        evaluate_ner(nlp_errors, [])


@pytest.mark.parametrize("case", ["blank", "empty"])
def test_evaluate_cli_fails_on_nothing_to_score(tmp_path, case):
    nlp = spacy.blank("en") if case == "blank" else make_ruler_nlp(NO_MATCH)
    nlp.to_disk(tmp_path / "model")
    docs = make_gold(nlp) if case == "blank" else []
    DocBin(docs=docs).to_disk(tmp_path / "gold.spacy")
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        kd_app,
        ["evaluate", str(tmp_path / "model"), str(tmp_path / "gold.spacy")]
        + ["--output", str(out)],
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    output = " ".join(result.output.split())
    assert ("doc.ents" if case == "blank" else "nothing to score") in output
    assert str(tmp_path / "model") in output
    assert not out.exists()


def test_corpus_directory_without_docbins_is_refused(tmp_path, nlp_errors):
    with pytest.raises(EvaluationError, match="No .spacy files under"):
        evaluate_ner(nlp_errors, tmp_path)
    with pytest.raises(EvaluationError, match="No corpus at"):
        evaluate_ner(nlp_errors, tmp_path / "missing.spacy")
