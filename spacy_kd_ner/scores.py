"""Teacher scores carried by Docs.

``annotate`` stores each token's teacher distribution over BILUO tags on the
Doc, as float16, together with the tag list it refers to, in ``doc._.kd_teacher``.
Custom extension values live in ``doc.user_data``, so they round-trip through
``DocBin(store_user_data=True)``.

Importing this module changes nothing global. The extension is installed by
``install_extensions``, which a ``kd_ner`` component calls when it is made and
which every function here calls before it touches ``doc._``: a doc read from a
``DocBin`` in a fresh process carries its scores in ``user_data`` already, and
needs only the extension to be installed for them to be read.
"""

from typing import List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from thinc.types import Floats2d

from .doc_text import doc_preview
from .errors import KdNerError

EXTENSION = "kd_teacher"
TAGS = "tags"
PROBS = "probs"


class TeacherScoresError(KdNerError, ValueError):
    """A doc's teacher scores are missing or do not fit the student."""


def install_extensions() -> None:
    """Install ``doc._.kd_teacher`` (default None) unless it is installed;
    calling it again does nothing."""
    if not Doc.has_extension(EXTENSION):
        Doc.set_extension(EXTENSION, default=None)


def set_teacher_scores(doc: Doc, tag_names: Sequence[str], probs: Floats2d) -> None:
    """Store a distribution over tag_names on the doc, as float16.

    doc (Doc): The doc to annotate.
    tag_names (Sequence[str]): The tags the columns of `probs` refer to.
    probs (Floats2d): The (n_tokens, n_tags) distribution.
    RAISES TeacherScoresError: `probs` does not fit the doc and the tags.
    """
    install_extensions()
    array = numpy.asarray(probs)
    if array.shape != (len(doc), len(tag_names)):
        raise TeacherScoresError(
            f"Teacher scores of shape {array.shape} do not fit a doc of {len(doc)} "
            f"tokens and {len(tag_names)} tags ({_describe(doc)})."
        )
    doc._.set(EXTENSION, {TAGS: list(tag_names), PROBS: array.astype("float16")})


def has_teacher_scores(doc: Doc) -> bool:
    """Whether the doc carries teacher scores.

    doc (Doc): The doc.
    RETURNS (bool): True if ``set_teacher_scores`` (here or before a ``DocBin``
        round trip) stored scores on it.
    """
    install_extensions()
    return doc._.get(EXTENSION) is not None


def get_teacher_scores(
    doc: Doc, expected_tags: Optional[Sequence[str]] = None
) -> Tuple[Floats2d, List[str]]:
    """A doc's teacher distribution (float32, rows sum to 1) and its tag list.

    doc (Doc): A doc written by ``annotate``.
    expected_tags (Optional[Sequence[str]]): If given, the tag list the caller
        (a student) uses; scores over any other list raise an error.
    RETURNS (Tuple[Floats2d, List[str]]): The scores and their tag names.
    RAISES TeacherScoresError: The doc has no scores, or they are over other
        tags than `expected_tags`, or their shape does not fit the doc.
    """
    if not has_teacher_scores(doc):
        raise TeacherScoresError(
            f"The doc has no teacher scores ({_describe(doc)}): run `annotate` "
            f"with a teacher pipeline over the corpus first."
        )
    data = doc._.get(EXTENSION)
    tags = list(data[TAGS])
    if expected_tags is not None and tags != list(expected_tags):
        raise TeacherScoresError(
            f"The doc's teacher scores are over the tags {tags}, but the student "
            f"uses {list(expected_tags)} ({_describe(doc)}). Train the student "
            f"with the teacher's entity labels (e.g. `[initialize.components."
            f"kd_ner] labels`) or annotate with a matching teacher."
        )
    probs = numpy.asarray(data[PROBS], dtype="float32")
    if probs.shape != (len(doc), len(tags)):
        raise TeacherScoresError(
            f"The doc's teacher scores have shape {probs.shape}, expected "
            f"({len(doc)}, {len(tags)}) ({_describe(doc)})."
        )
    return probs / probs.sum(axis=1, keepdims=True).clip(min=1e-6), tags


def _describe(doc: Doc) -> str:
    return f"doc {doc_preview(doc)}"
