import json
import random

import pytest
import spacy
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_kd_ner.cli import kd_app
from spacy_kd_ner.evaluation import (
    EvaluationError,
    evaluate_ner,
    load_docs,
    map_gold_labels,
    score_ner,
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
    # "IBM" over missing gold, and "Berlin" in the doc without annotation
    assert metrics["n_pred_ents_ignored"] == 2
    assert metrics["n_pred_ents_ignored_by_reason"] == {
        "ignore_pred": 0,
        "unmapped_gold": 0,
        "missing_gold": 2,
    }
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


# Out of domain: WNUT-16-like gold types, a CoNLL-like pipeline (PER, LOC, ORG,
# MISC). (words, IOB2 gold tags); None marks a token without gold annotation.
WNUT_GOLD = [
    (
        ["@user", "Obama", "visits", "New", "York", "with", "Netflix", "today"],
        ["O", "B-person", "O", "B-geo-loc", "I-geo-loc", "O", "B-product", "O"],
    ),
    (
        ["Go", "Knicks", "at", "MSG", "tonight", "!!"],
        ["O", "B-sportsteam", "O", "B-facility", "O", "O"],
    ),
    (
        ["Apple", "and", "Google", "stock", "up"],
        ["B-company", "O", "B-company", "O", "O"],
    ),
    (
        ["watching", "Game", "of", "Thrones", "w/", "John"],
        ["O", "B-tvshow", "I-tvshow", "I-tvshow", "O", "B-person"],
    ),
    (["lol", "Paris", "rocks"], [None, "B-geo-loc", "O"]),
]
WNUT_MAP = {"person": "PER", "geo-loc": "LOC", "company": "ORG", "sportsteam": "ORG"}
WNUT_PATTERNS = [
    {"label": "PER", "pattern": "Obama"},  # tp PER
    {"label": "LOC", "pattern": [{"ORTH": "New"}, {"ORTH": "York"}]},  # tp LOC
    {"label": "ORG", "pattern": "Netflix"},  # over product: ignored (unmapped)
    {"label": "MISC", "pattern": "Go"},  # ignored (--ignore-pred)
    {"label": "ORG", "pattern": "Knicks"},  # tp ORG
    {"label": "LOC", "pattern": [{"ORTH": "MSG"}, {"ORTH": "tonight"}]},  # part over
    # facility: ignored (unmapped)
    {"label": "ORG", "pattern": "Apple"},  # tp ORG
    {"label": "PER", "pattern": "Google"},  # fp PER; gold company fn ORG
    {"label": "MISC", "pattern": "stock"},  # ignored (--ignore-pred)
    {"label": "LOC", "pattern": "Thrones"},  # inside tvshow: ignored (unmapped)
    {"label": "PER", "pattern": "w/"},  # spurious: fp PER
    {"label": "MISC", "pattern": "John"},  # ignored (--ignore-pred); gold fn PER
    {"label": "PER", "pattern": "lol"},  # over missing gold: ignored (missing)
    {"label": "LOC", "pattern": "Paris"},  # tp LOC
]
# Counted by hand: (tp, fp, fn) per mapped type.
WNUT_COUNTS = {"PER": (1, 2, 1), "LOC": (2, 0, 0), "ORG": (2, 0, 1)}
WNUT_IGNORED = {"ignore_pred": 3, "unmapped_gold": 3, "missing_gold": 1}


def make_wnut_gold(vocab):
    return [Doc(vocab, words=words, ents=tags) for words, tags in WNUT_GOLD]


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def assert_scores(metrics, counts):
    """Both scorers' micro and per-type P/R/F are those of (tp, fp, fn) counts."""
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    p, r, f = prf(tp, fp, fn)
    assert metrics["n_gold_ents"] == tp + fn
    assert metrics["n_pred_ents"] == tp + fp
    assert (metrics["micro"]["p"], metrics["micro"]["r"]) == pytest.approx((p, r))
    assert metrics["micro"]["f"] == pytest.approx(f)
    theirs = metrics["spacy"]
    assert (theirs["ents_p"], theirs["ents_r"], theirs["ents_f"]) == pytest.approx(
        (p, r, f)
    )
    assert set(metrics["per_type"]) == set(theirs["ents_per_type"]) == set(counts)
    for label, (tp, fp, fn) in counts.items():
        p, r, f = prf(tp, fp, fn)
        ours = metrics["per_type"][label]
        assert (ours["p"], ours["r"], ours["f"]) == pytest.approx((p, r, f)), label
        assert (ours["support"], ours["n_pred"]) == (tp + fn, tp + fp), label
        spacy_row = theirs["ents_per_type"][label]
        assert (spacy_row["p"], spacy_row["r"]) == pytest.approx((p, r)), label


def test_map_gold_labels_leaves_unmapped_types_missing():
    nlp = spacy.blank("en")
    mapped = map_gold_labels(make_wnut_gold(nlp.vocab)[3], WNUT_MAP)
    assert [t.text for t in mapped] == WNUT_GOLD[3][0]
    assert [(e.text, e.label_) for e in mapped.ents] == [("John", "PER")]
    assert [t.ent_iob_ for t in mapped] == ["O", "", "", "", "O", "B"]
    missing = map_gold_labels(make_wnut_gold(nlp.vocab)[4], WNUT_MAP)
    assert [t.ent_iob_ for t in missing] == ["", "B", "O"]


def test_out_of_domain_scores_by_hand():
    """Each prediction over an unmapped gold type, over missing gold or of an
    ignored label is left out, counted by reason; seqeval and spaCy's scorer
    agree with the hand counts."""
    nlp = make_ruler_nlp(WNUT_PATTERNS)
    metrics = evaluate_ner(
        nlp, make_wnut_gold(nlp.vocab), gold_label_map=WNUT_MAP, ignore_pred=["MISC"]
    )
    assert_scores(metrics, WNUT_COUNTS)
    assert metrics["n_pred_ents_ignored_by_reason"] == WNUT_IGNORED
    assert metrics["n_pred_ents_ignored"] == sum(WNUT_IGNORED.values())
    assert metrics["n_gold_ents_ignored"] == 3
    assert metrics["n_gold_ents_ignored_by_type"] == {
        "facility": 1,
        "product": 1,
        "tvshow": 1,
    }
    assert metrics["gold_label_map"] == WNUT_MAP
    assert metrics["gold_label_map_unused"] == []
    assert metrics["ignore_pred"] == ["MISC"]
    assert metrics["pipeline_labels"] == ["LOC", "MISC", "ORG", "PER"]
    assert metrics["reference"] == "gold"


def test_spacy_scorer_skips_predictions_over_missing_gold():
    """What the ignoring relies on: spaCy's get_ner_prf, given the mapped gold
    (unmapped types as missing annotation) and every prediction, counts none
    that overlaps the missing tokens."""
    nlp = make_ruler_nlp([p for p in WNUT_PATTERNS if p["label"] != "MISC"])
    golds = make_wnut_gold(nlp.vocab)
    preds = [nlp(Doc(nlp.vocab, words=words)) for words, _ in WNUT_GOLD]
    examples = [Example(p, map_gold_labels(g, WNUT_MAP)) for p, g in zip(preds, golds)]
    scores = get_ner_prf(examples)["ents_per_type"]
    counted = {label: (s["p"], s["r"]) for label, s in scores.items()}
    expected = {label: prf(*c)[:2] for label, c in WNUT_COUNTS.items()}
    assert counted == pytest.approx(expected)


def _brute_force(docs, label_map, ignore_pred):
    """(tp, fp, fn) per label and ignored predictions by reason, by the
    definition, over plain tuples: docs of (n_tokens, gold spans (start, end,
    type), missing token ids, predicted spans (start, end, label))."""
    counts, ignored = {}, {"ignore_pred": 0, "unmapped_gold": 0, "missing_gold": 0}
    for n, gold, missing, pred in docs:
        unmapped = {i for s, e, t in gold if t not in label_map for i in range(s, e)}
        golds = {(s, e, label_map[t]) for s, e, t in gold if t in label_map}
        if len(missing | unmapped) == n:  # no annotated token: not scored
            golds = set()
        kept = set()
        for s, e, label in pred:
            tokens = set(range(s, e))
            if label in ignore_pred:
                ignored["ignore_pred"] += 1
            elif tokens & unmapped:
                ignored["unmapped_gold"] += 1
            elif tokens & missing:
                ignored["missing_gold"] += 1
            else:
                kept.add((s, e, label))
        for span in kept | golds:
            row = counts.setdefault(span[2], [0, 0, 0])
            row[0 if span in kept & golds else 1 if span in kept else 2] += 1
    return {label: tuple(row) for label, row in counts.items()}, ignored


def _random_spans(rng, n, labels, taken):
    spans = []
    for start in range(n):
        if start in taken or rng.random() > 0.4:
            continue
        end = start + 1
        while end < n and end not in taken and rng.random() < 0.4:
            end += 1
        spans.append((start, end, rng.choice(labels)))
        taken.update(range(start, end))
    return spans


def test_out_of_domain_scores_against_brute_force():
    """Random tiny docs: both scorers' counts are the brute force's."""
    rng = random.Random(0)
    nlp = spacy.blank("en")
    label_map = {"person": "PER", "company": "ORG", "sportsteam": "ORG"}
    gold_types = ["person", "company", "sportsteam", "product", "other"]
    docs, golds, preds = [], [], []
    for _ in range(300):
        n = rng.randint(1, 6)
        missing = {i for i in range(n) if rng.random() < 0.1}
        gold = _random_spans(rng, n, gold_types, set(missing))
        pred = _random_spans(rng, n, ["PER", "ORG", "LOC", "MISC"], set())
        tags = [None if i in missing else "O" for i in range(n)]
        for s, e, t in gold:
            tags[s:e] = [f"B-{t}"] + [f"I-{t}"] * (e - s - 1)
        words = [f"w{i}" for i in range(n)]
        golds.append(Doc(nlp.vocab, words=words, ents=tags))
        pred_tags = ["O"] * n
        for s, e, t in pred:
            pred_tags[s:e] = [f"B-{t}"] + [f"I-{t}"] * (e - s - 1)
        preds.append(Doc(nlp.vocab, words=words, ents=pred_tags))
        docs.append((n, gold, missing, pred))
    counts, ignored = _brute_force(docs, label_map, {"MISC"})
    assert all(ignored.values())
    metrics = score_ner(preds, golds, gold_label_map=label_map, ignore_pred=["MISC"])
    assert_scores(metrics, counts)
    assert metrics["n_pred_ents_ignored_by_reason"] == ignored


def test_ignored_predictions_of_a_label_the_gold_has_are_refused():
    nlp = make_ruler_nlp(WNUT_PATTERNS)
    with pytest.raises(
        EvaluationError, match="ignored, but the gold holds such .*2 PER"
    ):
        evaluate_ner(
            nlp, make_wnut_gold(nlp.vocab), gold_label_map=WNUT_MAP, ignore_pred=["PER"]
        )
    # Without a map the gold types are the gold's own: none is PER.
    metrics = evaluate_ner(nlp, make_wnut_gold(nlp.vocab), ignore_pred=["PER"])
    assert metrics["n_pred_ents_ignored_by_reason"]["ignore_pred"] == 4


@pytest.fixture
def wnut_cli(tmp_path):
    """The `evaluate` arguments of the WNUT-like gold and pipeline, on disk."""
    nlp = make_ruler_nlp(WNUT_PATTERNS)
    nlp.to_disk(tmp_path / "model")
    data = tmp_path / "wnut.spacy"
    DocBin(docs=make_wnut_gold(nlp.vocab)).to_disk(data)
    return ["evaluate", str(tmp_path / "model"), str(data)]


def test_evaluate_cli_out_of_domain(tmp_path, wnut_cli):
    out = tmp_path / "metrics.json"
    args = wnut_cli + ["--output", str(out)]
    label_map = "person=PER,geo-loc=LOC,company=ORG,sportsteam=ORG"
    result = CliRunner().invoke(
        kd_app, args + ["--gold-label-map", label_map, "--ignore-pred", "MISC"]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Pred" in output
    assert (
        "7 predicted entities not counted: 3 of an ignored label (--ignore-pred); "
        "3 over a gold entity of a type the label map leaves out; 1 over gold "
        "tokens without entity annotation"
    ) in output
    assert (
        "3 gold entities of types the label map leaves out are ignored regions: "
        "facility 1, product 1, tvshow 1"
    ) in output
    assert "mistyped" not in output
    metrics = json.loads(out.read_text())
    assert_scores(metrics, WNUT_COUNTS)
    assert metrics["gold_label_map"] == WNUT_MAP
    assert metrics["n_pred_ents_ignored_by_reason"] == WNUT_IGNORED
    assert metrics["n_gold_ents_ignored_by_type"]["tvshow"] == 1


def test_evaluate_cli_warns_of_mistyped_labels(wnut_cli):
    args = wnut_cli + ["--gold-label-map"]
    result = CliRunner().invoke(kd_app, args + ["person=PERSON,geoloc=LOC"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert (
        "No gold entity has the type geoloc of the label map: mistyped? The gold "
        "types are: company, facility, geo-loc, person, product, sportsteam, tvshow"
    ) in output
    assert (
        "The pipeline does not predict PERSON of the label map or --ignore-pred: "
        "mistyped? Its labels are: LOC, MISC, ORG, PER"
    ) in output


@pytest.mark.parametrize(
    "options,message",
    [
        (["--gold-label-map", "PERSON"], "Cannot read 'PERSON' in the label map"),
        (["--gold-label-map", "=PER"], "Cannot read '=PER'"),
        (["--gold-label-map", "PER="], "Cannot read 'PER='"),
        (["--gold-label-map", "a=PER,a=LOC"], "maps 'a' twice"),
        (["--ignore-pred", "MISC,"], "Empty label in 'MISC,'"),
        (["--reference", "silver"], "--reference must be one of gold, teacher"),
        (
            ["--reference", "teacher", "--ignore-pred", "MISC"],
            "--gold-label-map and --ignore-pred apply to --reference gold only",
        ),
        (
            ["--gold-label-map", "person=PER", "--ignore-pred", "PER"],
            "The predictions of PER are ignored, but the gold holds such entities",
        ),
    ],
)
def test_evaluate_cli_refuses_misuse(tmp_path, wnut_cli, options, message):
    out = tmp_path / "metrics.json"
    args = wnut_cli + ["-o", str(out)]
    result = CliRunner().invoke(kd_app, args + options)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert message in " ".join(result.output.split())
    assert not out.exists()
