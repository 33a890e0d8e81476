"""Document context for the teacher: each sentence read inside its neighbours.

A CoNLL sentence is often ambiguous alone: in "JAPAN 2 SYRIA 1" the names are
teams (ORG) only because the document is a football report, and "Hendry"
is a person because a sentence before said "Stephen Hendry". A teacher that
reads each sentence inside a window of the sentences around it in its source
document, trained and run that way, labels the sentence better; the student,
which reads sentences alone, learns from those labels.

Every sentence doc knows where it comes from through the user data that
``kd-ner convert --user-data`` writes (``conll_doc``: the number of its
document, ``conll_sent``: its index in the converted file) and that ``kd-ner
split`` keeps. A `ContextSource` holds the converted file the sentences come
from and builds each sentence's *window doc*: up to ``window`` sentences
before it and after it within the same document, and the sentence itself. A
window doc's entity annotation is the sentence's own on the sentence's tokens
(gold, or missing for an unlabeled doc) and missing on the context, so that
a teacher learns from, and is scored on, the sentence only;
``user_data[TARGET]`` holds the sentence's token offsets in the window.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union, cast

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .conll import read_docbin
from .doc_text import doc_preview
from .errors import KdNerError

TARGET = "kd_ner_target"
"""``user_data`` key of a window doc: (start, end) of its sentence's tokens."""
DOC_KEY = "conll_doc"
SENT_KEY = "conll_sent"


class ContextError(KdNerError, ValueError):
    """A sentence whose context cannot be found, or a bad context setting."""


@dataclass
class ContextCounts:
    """What `write_window_docs` read and wrote.

    docs (int): Sentence docs read, one window doc written for each.
    sentence_tokens (int): Tokens of the sentences.
    context_tokens (int): Tokens of context added around them.
    entities_read (int): Entities of the sentence docs.
    entities_written (int): Entities of the window docs (the same ones).
    """

    docs: int = 0
    sentence_tokens: int = 0
    context_tokens: int = 0
    entities_read: int = 0
    entities_written: int = 0


class ContextSource:
    """The sentences of a converted corpus, to put other sentences in context.

    sentences (Iterable[Doc]): The converted file's docs in file order, each
        with ``conll_doc`` and ``conll_sent`` in its user data.
    window (int): Sentences of context on each side (0: none).
    name (str): How errors name the source (e.g. its path).
    """

    def __init__(self, sentences: Iterable[Doc], window: int, name: str = "source"):
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise ContextError(
                f"The context window must be a number of sentences >= 0, got "
                f"{window!r}."
            )
        self.window = window
        self.name = name
        self.sentences: List[Doc] = list(sentences)
        self._documents: List[int] = []
        for i, doc in enumerate(self.sentences):
            document, index = _provenance(doc)
            if document is None or index != i:
                raise ContextError(
                    f"Sentence {i} of the context source {name} ({doc_preview(doc)}) "
                    f"does not record its place: its user data has "
                    f"{DOC_KEY}={document!r}, {SENT_KEY}={index!r}, expected "
                    f"{SENT_KEY}={i}. The source must be a whole file converted "
                    f"with `kd-ner convert --user-data`."
                )
            self._documents.append(document)

    @classmethod
    def from_disk(cls, path: Union[str, Path], window: int) -> "ContextSource":
        """The source from a ``.spacy`` file written by ``convert --user-data``.

        path (Union[str, Path]): The file.
        window (int): Sentences of context on each side.
        RETURNS (ContextSource): The source, named by `path`.
        RAISES ContextError: No file at `path`, or one whose docs do not
            record their place.
        """
        path = Path(path)
        if not path.is_file():
            raise ContextError(f"No context source at {path}: expected a .spacy file.")
        return cls(read_docbin(path), window, name=str(path))

    def bounds(self, index: int) -> Tuple[int, int]:
        """The window of a sentence of the source: up to `window` sentences
        on each side, within its document.

        index (int): The sentence's index in the source.
        RETURNS (Tuple[int, int]): Its first and last (inclusive) sentence.
        """
        document = self._documents[index]
        lo = index
        while lo > max(0, index - self.window) and self._documents[lo - 1] == document:
            lo -= 1
        hi = index
        last = min(len(self.sentences) - 1, index + self.window)
        while hi < last and self._documents[hi + 1] == document:
            hi += 1
        return lo, hi

    def window_doc(self, doc: Doc, vocab: Optional[Vocab] = None) -> Doc:
        """The window doc of a sentence doc of this source (see the module
        docstring): its words in context, its entity annotation on its own
        tokens, missing on the context, and ``user_data[TARGET]``.

        doc (Doc): A sentence of the source (``conll_sent`` in its user data),
            with the same words as the source has there.
        vocab (Optional[Vocab]): The window doc's vocab; by default `doc`'s.
        RETURNS (Doc): The window doc.
        """
        index = self._locate(doc)
        lo, hi = self.bounds(index)
        words: List[str] = []
        spaces: List[bool] = []
        ents: List[Optional[str]] = []
        start = 0
        for i in range(lo, hi + 1):
            sentence = doc if i == index else self.sentences[i]
            if i == index:
                start = len(words)
                ents.extend(_iob_tags(doc))
            else:
                ents.extend([None] * len(sentence))
            words.extend(token.text for token in sentence)
            spaces.extend(bool(token.whitespace_) for token in sentence)
            if i < hi and len(sentence):
                spaces[-1] = True
        window = Doc(
            vocab or doc.vocab,
            words=words,
            spaces=spaces,
            ents=cast(List[str], ents),  # None: missing, as spaCy reads it
        )
        window.user_data[TARGET] = (start, start + len(doc))
        return window

    def _locate(self, doc: Doc) -> int:
        document, index = _provenance(doc)
        if index is None:
            raise ContextError(
                f"The doc {doc_preview(doc)} does not say where it comes from: its "
                f"user data has no {SENT_KEY!r}. Convert the corpus with `kd-ner "
                f"convert --user-data` (`kd-ner split` keeps it) to read its docs "
                f"in context."
            )
        if not 0 <= index < len(self.sentences):
            raise ContextError(
                f"The doc {doc_preview(doc)} is sentence {index}, but the context "
                f"source {self.name} has {len(self.sentences)} sentences: is it "
                f"the file this doc was converted from?"
            )
        source = self.sentences[index]
        if [t.text for t in source] != [t.text for t in doc] or (
            document is not None and document != self._documents[index]
        ):
            raise ContextError(
                f"The doc {doc_preview(doc)} is sentence {index} of document "
                f"{document}, but that sentence of the context source "
                f"{self.name} is {doc_preview(source)} (document "
                f"{self._documents[index]}): is it the file this doc was "
                f"converted from?"
            )
        return index


def target_bounds(window: Doc) -> Tuple[int, int]:
    """Where a window doc's sentence lies in it.

    window (Doc): A window doc (from `ContextSource.window_doc`).
    RETURNS (Tuple[int, int]): The (start, end) token offsets of its sentence.
    RAISES ContextError: The doc is not a window doc.
    """
    bounds = window.user_data.get(TARGET)
    if bounds is None:
        raise ContextError(
            f"The doc {doc_preview(window)} is not a window doc: no {TARGET!r} in "
            f"its user data."
        )
    start, end = bounds
    return int(start), int(end)


def write_window_docs(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    source: ContextSource,
) -> ContextCounts:
    """Write the window doc of every doc of a ``.spacy`` file (e.g. a labeled
    split, for the teacher to train on) and count what was read and written.

    input_path (Union[str, Path]): Sentence docs of `source`, with user data.
    output_path (Union[str, Path]): The ``.spacy`` file to write.
    source (ContextSource): The file the sentences come from.
    RETURNS (ContextCounts): The counts.
    """
    counts = ContextCounts()
    windows = []
    for doc in read_docbin(input_path):
        window = source.window_doc(doc)
        start, end = target_bounds(window)
        counts.docs += 1
        counts.sentence_tokens += end - start
        counts.context_tokens += len(window) - (end - start)
        counts.entities_read += len(doc.ents)
        counts.entities_written += len(window.ents)
        windows.append(window)
    if counts.entities_written != counts.entities_read:
        raise ContextError(
            f"Read {counts.entities_read} entities from {input_path} but the "
            f"window docs hold {counts.entities_written}."
        )
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(store_user_data=True, docs=windows).to_disk(output_path)
    return counts


def _provenance(doc: Doc) -> Tuple[Optional[int], Optional[int]]:
    data: Dict = doc.user_data
    document, index = data.get(DOC_KEY), data.get(SENT_KEY)
    return (
        None if document is None else int(document),
        None if index is None else int(index),
    )


def _iob_tags(doc: Doc) -> List[Optional[str]]:
    """The doc's entity annotation as IOB tags, None where it is missing."""
    tags: List[Optional[str]] = []
    for token in doc:
        if token.ent_iob_ == "":
            tags.append(None)
        elif token.ent_iob_ == "O":
            tags.append("O")
        else:
            tags.append(f"{token.ent_iob_}-{token.ent_type_}")
    return tags
