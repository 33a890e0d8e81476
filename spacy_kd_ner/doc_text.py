"""A doc's text apart from its annotations: a bare copy of its tokens, and the
short form that messages name it by."""

from spacy.tokens import Doc
from spacy.vocab import Vocab

PREVIEW_CHARS = 60


def unannotated_copy(vocab: Vocab, doc: Doc) -> Doc:
    """A new doc with the same words and spaces as `doc` and nothing else.

    A pipeline run on the copy never sees the original's annotations (gold
    entities, user data), and its tokens line up one to one with the
    original's: its tokenizer does not run.

    vocab (Vocab): The vocab of the new doc.
    doc (Doc): The doc whose tokens to copy.
    RETURNS (Doc): The new, unannotated doc.
    """
    return Doc(
        vocab,
        words=[token.text for token in doc],
        spaces=[bool(token.whitespace_) for token in doc],
    )


def doc_preview(doc: Doc) -> str:
    """How a message names a doc: its text, quoted (``repr``), cut to
    `PREVIEW_CHARS` characters with "..." at the end where it is longer.

    doc (Doc): The doc.
    RETURNS (str): The quoted text.
    """
    text = doc.text
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 3] + "..."
    return repr(text)
