"""`perturb`: perturbed copies of an unlabeled pool (issue 26)."""

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from perturb import app, entity_bank, perturb_docs, swap_entities


@pytest.fixture
def docs():
    nlp = spacy.blank("en")
    return [
        nlp.make_doc(f"Peter Smith visited New York on day {i} .") for i in range(200)
    ]


def test_no_perturbation_copies_the_words(docs):
    copies, counts = perturb_docs(docs, lower=0.0, drop=0.0, seed=1)
    assert [c.text for c in copies] == [d.text for d in docs]
    assert (counts.docs, counts.lowered, counts.words_dropped, counts.unchanged) == (
        200, 0, 0, 200,
    )  # fmt: skip


def test_lower_all_lowercases_every_doc_and_keeps_tokens(docs):
    copies, counts = perturb_docs(docs, lower=1.0, drop=0.0, seed=1)
    for doc, copy in zip(docs, copies):
        assert [t.text for t in copy] == [t.text.lower() for t in doc]
        assert copy.text == doc.text.lower()
    assert counts.lowered == 200 and counts.unchanged == 0


def test_rates_are_drawn_near_their_probabilities(docs):
    copies, counts = perturb_docs(docs, lower=0.5, drop=0.1, seed=3)
    n_words = sum(len(d) for d in docs)
    assert 70 <= counts.lowered <= 130
    assert 0.05 * n_words <= counts.words_dropped <= 0.15 * n_words
    assert sum(len(c) for c in copies) == n_words - counts.words_dropped
    lowered = [c for c in copies if c.text == c.text.lower()]
    assert len(lowered) == counts.lowered


def test_dropped_words_keep_order_and_one_word_survives():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc("a b c d e f")] + [nlp.make_doc("x")] * 50
    copies, _ = perturb_docs(docs, lower=0.0, drop=0.9, seed=2)
    assert all(len(c) >= 1 for c in copies)
    words = [t.text for t in copies[0]]
    assert words == sorted(words) and set(words) <= set("abcdef")
    assert not copies[0][-1].whitespace_


def test_same_seed_same_copies_other_seed_other_copies(docs):
    def texts(seed):
        return [c.text for c in perturb_docs(docs, lower=0.5, drop=0.1, seed=seed)[0]]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_copies_carry_no_entities_and_empty_docs_stay():
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Peter lives in Paris")
    doc.ents = [doc.char_span(0, 5, label="PER")]
    copies, counts = perturb_docs(
        [doc, Doc(nlp.vocab, words=[])], lower=0.0, drop=0.0, seed=1
    )
    assert not copies[0].has_annotation("ENT_IOB")
    assert len(copies[1]) == 0 and counts.unchanged == 2


@pytest.mark.parametrize("lower,drop", [(-0.1, 0.0), (1.5, 0.0), (0.0, 1.0)])
def test_bad_probabilities_are_refused(docs, lower, drop):
    with pytest.raises(ValueError, match="lower must be"):
        perturb_docs(docs, lower=lower, drop=drop, seed=1)


def test_cli_writes_the_copies_and_counts(tmp_path, docs):
    source = tmp_path / "pool.spacy"
    DocBin(docs=docs).to_disk(source)
    output = tmp_path / "out" / "perturbed.spacy"
    result = CliRunner().invoke(
        app, [str(source), str(output), "--lower", "1", "--drop", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "200 perturbed docs" in result.output and "200 lowercased" in result.output
    copies = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    assert [c.text for c in copies] == [d.text.lower() for d in docs]


def test_cli_missing_input_is_a_message(tmp_path):
    result = CliRunner().invoke(
        app, [str(tmp_path / "nope.spacy"), str(tmp_path / "o.spacy")]
    )
    assert result.exit_code == 1
    assert "nope.spacy" in result.output and "Traceback" not in result.output


def test_cli_bad_probability_is_a_message(tmp_path, docs):
    source = tmp_path / "pool.spacy"
    DocBin(docs=docs).to_disk(source)
    result = CliRunner().invoke(
        app, [str(source), str(tmp_path / "o.spacy"), "--drop", "1"]
    )
    assert result.exit_code == 1 and "drop" in result.output


def _with_ents(nlp, text, ents):
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(*span) for span in ents]
    return doc


def test_entity_bank_holds_each_label_s_distinct_words_sorted():
    nlp = spacy.blank("en")
    docs = [
        _with_ents(nlp, "Ann met Bob Ray", [(0, 3, "PER"), (8, 15, "PER")]),
        _with_ents(nlp, "Ann went to Rome", [(0, 3, "PER"), (12, 16, "LOC")]),
    ]
    assert entity_bank(docs) == {"LOC": [("Rome",)], "PER": [("Ann",), ("Bob", "Ray")]}


def test_swapped_copies_replace_each_entity_by_one_of_its_label():
    nlp = spacy.blank("en")
    doc = _with_ents(nlp, "so Ann went to Rome today", [(3, 6, "PER"), (15, 19, "LOC")])
    bank = {"PER": [("Bob", "Ray"), ("Eve",)], "LOC": [("New", "York")]}
    copies, counts = swap_entities([doc], bank, copies=20, lower=0.0, seed=1)
    assert len(copies) == 20 and counts.docs == 1 and counts.copies == 20
    texts = {c.text for c in copies}
    assert texts == {
        "so Bob Ray went to New York today",
        "so Eve went to New York today",
    }
    assert all(not c.has_annotation("ENT_IOB") for c in copies)


def test_swapped_entities_are_lowercased_at_the_rate_and_the_rest_is_kept():
    nlp = spacy.blank("en")
    doc = _with_ents(nlp, "I saw Ann .", [(6, 9, "PER")])
    copies, counts = swap_entities(
        [doc], {"PER": [("Eve",)]}, copies=400, lower=0.25, seed=2
    )
    n_lower = sum(c.text == "I saw eve ." for c in copies)
    assert n_lower + sum(c.text == "I saw Eve ." for c in copies) == 400
    assert 60 <= n_lower <= 140 and counts.lowered == n_lower


def test_docs_without_entities_get_no_copies_and_are_counted():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc("nothing here"), _with_ents(nlp, "Ann", [(0, 3, "PER")])]
    copies, counts = swap_entities(docs, {"PER": [("Eve",)]}, copies=3, seed=1)
    assert [c.text for c in copies] == ["Eve"] * 3
    assert (counts.docs, counts.without_entities, counts.copies) == (2, 1, 3)


def test_a_label_missing_from_the_bank_is_an_error():
    nlp = spacy.blank("en")
    doc = _with_ents(nlp, "Ann", [(0, 3, "PER")])
    with pytest.raises(ValueError, match="PER"):
        swap_entities([doc], {"LOC": [("Rome",)]}, copies=1, seed=1)


def test_same_seed_same_swaps():
    nlp = spacy.blank("en")
    doc = _with_ents(nlp, "Ann is here", [(0, 3, "PER")])
    bank = {"PER": [(name,) for name in "ABCDEFGH"]}

    def texts(seed):
        return [c.text for c in swap_entities([doc], bank, copies=10, seed=seed)[0]]

    assert texts(1) == texts(1) and texts(1) != texts(2)
