"""A doc's bare token copy and its preview in messages."""

import spacy
from spacy.tokens import Doc

from spacy_kd_ner.doc_text import PREVIEW_CHARS, doc_preview, unannotated_copy


def test_unannotated_copy():
    nlp = spacy.blank("en")
    doc = Doc(
        nlp.vocab, words=["Peter", "lives", "\n", "here"], ents=["B-PER"] + ["O"] * 3
    )
    doc.user_data["key"] = 1
    other = spacy.blank("en").vocab
    copy = unannotated_copy(other, doc)
    assert copy.vocab is other
    assert [t.text for t in copy] == [t.text for t in doc]
    assert copy.text == doc.text
    assert not copy.has_annotation("ENT_IOB") and not copy.user_data


def test_doc_preview():
    nlp = spacy.blank("en")
    assert doc_preview(nlp.make_doc("It's short")) == repr("It's short")
    exact = nlp.make_doc("x" * PREVIEW_CHARS)
    assert doc_preview(exact) == repr("x" * PREVIEW_CHARS)
    long = doc_preview(nlp.make_doc("y" * 100))
    assert long == repr("y" * (PREVIEW_CHARS - 3) + "...")
    assert doc_preview(Doc(nlp.vocab)) == "''"
