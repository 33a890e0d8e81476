"""What every input format's conversion to a DocBin shares: the counts of what
was read and of what was written (`ConversionStats`), reading a text file line
by line with errors that name the file and line (`read_lines`), and writing
a DocBin that is read back and checked against what was read
(`write_checked_docbin`).

The readers of each format (``conll.py``: columns; ``jsonl.py``: JSONL spans
and plain text) count what they read; the DocBin written is counted from its
docs, independently of the reader.
"""

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Type,
    Union,
)

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .docbins import read_corpus
from .errors import KdNerError

# What a tag looks like (O, or a BILUO, IOB or IOBES prefix and a type): the
# values of a CoNLL NER column, and what an entity label should not be.
TAG_RE = re.compile(r"^(?:O|[BILUES]-\S+)$")


class InputFormatError(KdNerError, ValueError):
    """An input file that cannot be converted. The message names the file
    and, where one line is at fault, its 1-based number and the line."""

    def __init__(
        self,
        path: Union[str, Path],
        line_no: Optional[int],
        line: Optional[str],
        reason: str,
    ):
        self.path = str(path)
        self.line_no = line_no
        self.line = line
        self.reason = reason
        if line_no is None:
            message = f"{self.path}: {reason}"
        else:
            message = f"{self.path}:{line_no}: {reason}: {line!r}"
        super().__init__(message)


class ConversionMismatchError(RuntimeError):
    """The DocBin that was written does not hold what was read."""


@dataclass
class ConversionStats:
    """Counts of an input file (what was read) or of a DocBin (what was
    written).

    docs (int): Docs (a CoNLL sentence, a JSONL record, a line of text).
    tokens (int): Tokens.
    entities (int): Entities of any type.
    docstarts (Optional[int]): CoNLL ``-DOCSTART-`` lines followed by at least
        one sentence (lines after the last sentence of a file mark no
        document); None for inputs that have none (JSONL, text) and for Docs
        that do not record them (a DocBin written without user data).
    entities_per_type (Dict[str, int]): Entities per label.
    unlabeled (int): Docs without entity annotation (a JSONL record without
        ``"spans"``, a line of text): ``doc.has_annotation("ENT_IOB")`` is
        False. The others are labeled, all ``O`` where they hold no entity.
    skipped (Dict[str, int]): Records of the input not converted, per reason
        (``"blank line"``, ``"answer reject"``). Not compared.
    ner_column (Optional[int]): The 0-based column the CoNLL tags were read
        from; None where unknown (another format, a DocBin, a file without
        token lines). Not compared.
    """

    docs: int = 0
    tokens: int = 0
    entities: int = 0
    docstarts: Optional[int] = 0
    entities_per_type: Dict[str, int] = field(default_factory=dict)
    unlabeled: int = 0
    skipped: Dict[str, int] = field(default_factory=dict, compare=False)
    ner_column: Optional[int] = field(default=None, compare=False)

    @property
    def labeled(self) -> int:
        """Docs with entity annotation."""
        return self.docs - self.unlabeled

    def add_entity(self, label: str) -> None:
        self.entities += 1
        self.entities_per_type[label] = self.entities_per_type.get(label, 0) + 1

    def add_doc(self, n_tokens: int, labels: Optional[Iterable[str]]) -> None:
        """Count a doc: its tokens, and its entities' labels (None: the doc
        has no entity annotation)."""
        self.docs += 1
        self.tokens += n_tokens
        if labels is None:
            self.unlabeled += 1
            return
        for label in labels:
            self.add_entity(label)

    def skip(self, reason: str) -> None:
        """Count a record of the input that is not converted."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def tag_like_labels(self) -> List[str]:
        """The entity labels that look like tags (``B-PER``, ``O``), sorted:
        most likely tags given where entity types (``PER``) belong."""
        return sorted(label for label in self.entities_per_type if TAG_RE.match(label))

    def matches(self, other: "ConversionStats") -> bool:
        """Whether two counts agree; `docstarts` only where both know it."""
        return (
            self.docs == other.docs
            and self.tokens == other.tokens
            and self.entities == other.entities
            and self.entities_per_type == other.entities_per_type
            and self.unlabeled == other.unlabeled
            and (
                self.docstarts is None
                or other.docstarts is None
                or self.docstarts == other.docstarts
            )
        )

    def to_dict(self) -> Dict[str, object]:
        return {
            "docs": self.docs,
            "tokens": self.tokens,
            "entities": self.entities,
            "docstarts": self.docstarts,
            "entities_per_type": dict(sorted(self.entities_per_type.items())),
            "unlabeled": self.unlabeled,
            "skipped": dict(sorted(self.skipped.items())),
        }

    @classmethod
    def from_docs(cls, docs: Iterable[Doc]) -> "ConversionStats":
        """Count docs, tokens and entities of Docs (`count`); `docstarts`
        comes from the CoNLL reader's ``user_data["conll_doc"]`` (None where
        no Doc has it).

        docs (Iterable[Doc]): The documents.
        RETURNS (ConversionStats): The counts.
        """
        stats = cls(docstarts=None)
        for doc in docs:
            stats.count(doc)
        return stats

    def count(self, doc: Doc) -> None:
        """Count a Doc as it is: its tokens, its entities (none, and the doc
        unlabeled, without entity annotation), and its
        ``user_data["conll_doc"]`` where it has one."""
        labeled = doc.has_annotation("ENT_IOB")
        self.add_doc(len(doc), [e.label_ for e in doc.ents] if labeled else None)
        doc_index = doc.user_data.get("conll_doc")
        if doc_index is not None:
            self.docstarts = max(self.docstarts or 0, doc_index)


def _codec(encoding: str) -> str:
    """The codec to open a file of `encoding` with: UTF-8 drops a byte order
    mark."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _decode_error(
    path: Path,
    encoding: str,
    error: UnicodeDecodeError,
    error_class: Type[InputFormatError],
) -> InputFormatError:
    """Locate the first line of `path` that does not decode: its number, the
    bytes at fault and their offset in the file."""
    offset = 0
    with path.open("rb") as file_:
        for line_no, raw in enumerate(file_, start=1):
            try:
                raw.decode(_codec(encoding) if line_no == 1 else encoding)
            except UnicodeDecodeError as err:
                bad = raw[err.start : err.end]
                line = raw.decode(encoding, "backslashreplace").rstrip("\r\n")
                return error_class(
                    path,
                    line_no,
                    line,
                    f"not {encoding} text: byte {bad.hex(' ')} at byte offset "
                    f"{offset + err.start} of the file does not decode; re-encode "
                    f"the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) or give "
                    f"its encoding (--encoding latin-1)",
                )
            offset += len(raw)
    return error_class(
        path, None, None, f"not {encoding} text ({error}); give its encoding"
    )


def read_lines(
    path: Union[str, Path],
    encoding: str = "utf-8",
    error_class: Type[InputFormatError] = InputFormatError,
) -> Iterator[Tuple[int, str]]:
    """The lines of a text file; universal newlines handle CRLF, and a UTF-8
    byte order mark is dropped.

    path (Union[str, Path]): The file.
    encoding (str): Its encoding.
    error_class (Type[InputFormatError]): The error to raise (the format's).
    YIELDS (Tuple[int, str]): The 1-based line number, and the line without
        its end.
    RAISES InputFormatError: An unknown encoding, or bytes that do not decode
        (naming the line, the bytes and their offset).
    """
    path = Path(path)
    try:
        codec = _codec(encoding)
    except LookupError:
        raise error_class(path, None, None, f"unknown encoding {encoding!r}") from None
    try:
        with path.open("r", encoding=codec) as file_:
            for line_no, raw in enumerate(file_, start=1):
                yield line_no, raw.rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise _decode_error(path, encoding, err, error_class) from None


def docbin_stats(
    path: Union[str, Path], vocab: Optional[Vocab] = None
) -> ConversionStats:
    """Count what a ``.spacy`` file holds (`ConversionStats.from_docs`).

    path (Union[str, Path]): The DocBin file.
    vocab (Optional[Vocab]): The vocab to read the docs into; by default an
        empty one.
    RETURNS (ConversionStats): The counts.
    RAISES DocBinError: The file is not a DocBin.
    """
    return ConversionStats.from_docs(read_corpus(path, vocab or Vocab()))


def write_checked_docbin(
    docs: Iterable[Doc],
    read: ConversionStats,
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    vocab: Vocab,
    store_user_data: bool,
    no_docs: Callable[[], InputFormatError],
) -> ConversionStats:
    """Write the docs a reader makes of `input_path` to a DocBin, then read it
    back and check that it holds what the reader counted.

    docs (Iterable[Doc]): The reader's docs; it counts them into `read` as it
        goes. All are built before anything is written, so that a reader's
        error leaves no output.
    read (ConversionStats): The reader's counts, complete once `docs` is
        exhausted.
    input_path (Union[str, Path]): The input, for the messages.
    output_path (Union[str, Path]): The ``.spacy`` file; its parent
        directories are created.
    vocab (Vocab): The vocab to read the DocBin back into.
    store_user_data (bool): Keep ``doc.user_data`` in the DocBin.
    no_docs (Callable[[], InputFormatError]): Makes the error raised,
        nothing written, if the reader made no doc (called once `read` is
        complete).
    RETURNS (ConversionStats): The counts of the DocBin written
        (``docstarts`` None without user data; `read`'s ``ner_column``).
    RAISES ConversionMismatchError: The DocBin does not hold what was read.
    """
    output_path = Path(output_path)
    doc_bin = DocBin(store_user_data=store_user_data, docs=docs)
    if not read.docs:
        raise no_docs()
    output_path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(output_path)
    written = docbin_stats(output_path, vocab)
    written.ner_column = read.ner_column
    if not written.matches(read):
        raise ConversionMismatchError(
            f"{output_path} does not hold what was read from {input_path}: "
            f"read {read.to_dict()}, wrote {written.to_dict()}"
        )
    return written
