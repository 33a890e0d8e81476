"""Read CoNLL-2003 style NER files into spaCy Docs and write them as DocBins.

The reader takes one token per line, the word in the first column and the NER
tag (IOB1 or IOB2) in the last one: ``WORD NER``, ``WORD POS NER`` or ``WORD
POS CHUNK NER``. Blank lines end sentences and ``-DOCSTART-`` lines (in any of
their forms) mark document boundaries. Each sentence becomes one Doc, with
``doc.ents`` set from the tags through spaCy's ``iob_to_biluo`` and
``biluo_tags_to_spans``. ``doc.user_data`` keeps where the sentence came from:
``conll_doc`` (the number of ``-DOCSTART-`` lines before it), ``conll_sent``
(its index in the file) and ``conll_line`` (the 1-based line of its first
token).
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

import spacy
from spacy.tokens import Doc, DocBin
from spacy.training.iob_utils import biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab

from .docbins import read_corpus

DOCSTART = "-DOCSTART-"
# Number of columns a token line may have: WORD NER, WORD POS NER (CoNLL-2002)
# and WORD POS CHUNK NER (CoNLL-2003).
N_COLUMNS = (2, 3, 4)
TAG_RE = re.compile(r"^(?:O|[BI]-\S+)$")
USER_DATA_KEYS = ("conll_doc", "conll_sent", "conll_line")


class ConllFormatError(ValueError):
    """A line of a CoNLL file that cannot be read. The message names the file,
    the 1-based line number and shows the line."""

    def __init__(self, path: Union[str, Path], line_no: int, line: str, reason: str):
        self.path = str(path)
        self.line_no = line_no
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line_no}: {reason}: {line!r}")


class ConversionMismatchError(RuntimeError):
    """The DocBin that was written does not hold what was read."""


@dataclass
class ConversionStats:
    """Counts of a CoNLL file (what was read) or of a DocBin (what was written).

    sentences (int): Sentences, one Doc each.
    tokens (int): Tokens.
    entities (int): Entities of any type.
    docstarts (Optional[int]): ``-DOCSTART-`` lines followed by at least one
        sentence (lines after the last sentence of a file mark no document);
        None for Docs that do not record them (a DocBin written without user
        data).
    entities_per_type (Dict[str, int]): Entities per label.
    """

    sentences: int = 0
    tokens: int = 0
    entities: int = 0
    docstarts: Optional[int] = 0
    entities_per_type: Dict[str, int] = field(default_factory=dict)

    def add_entity(self, label: str) -> None:
        self.entities += 1
        self.entities_per_type[label] = self.entities_per_type.get(label, 0) + 1

    def matches(self, other: "ConversionStats") -> bool:
        """Whether two counts agree; `docstarts` only where both know it."""
        return (
            self.sentences == other.sentences
            and self.tokens == other.tokens
            and self.entities == other.entities
            and self.entities_per_type == other.entities_per_type
            and (
                self.docstarts is None
                or other.docstarts is None
                or self.docstarts == other.docstarts
            )
        )

    def to_dict(self) -> Dict[str, object]:
        return {
            "sentences": self.sentences,
            "tokens": self.tokens,
            "entities": self.entities,
            "docstarts": self.docstarts,
            "entities_per_type": dict(sorted(self.entities_per_type.items())),
        }

    @classmethod
    def from_docs(cls, docs: Iterable[Doc]) -> "ConversionStats":
        """Count sentences, tokens and entities of Docs made by `read_conll`;
        `docstarts` comes from their ``user_data["conll_doc"]`` (None where no
        Doc has it).

        docs (Iterable[Doc]): The documents.
        RETURNS (ConversionStats): The counts.
        """
        stats = cls(docstarts=None)
        labels: Counter = Counter()
        for doc in docs:
            stats.sentences += 1
            stats.tokens += len(doc)
            labels.update(ent.label_ for ent in doc.ents)
            doc_index = doc.user_data.get("conll_doc")
            if doc_index is not None:
                stats.docstarts = max(stats.docstarts or 0, doc_index)
        stats.entities = sum(labels.values())
        stats.entities_per_type = dict(sorted(labels.items()))
        return stats


def _split_line(path: Path, line_no: int, line: str) -> List[str]:
    columns = line.split()
    if columns[0] == DOCSTART:
        return columns
    if len(columns) not in N_COLUMNS:
        raise ConllFormatError(
            path,
            line_no,
            line,
            f"expected {' or '.join(map(str, N_COLUMNS))} whitespace-separated "
            f"columns (WORD ... NER), found {len(columns)}",
        )
    tag = columns[-1]
    if not TAG_RE.match(tag):
        raise ConllFormatError(
            path, line_no, line, f"NER tag {tag!r} is not O, B-<type> or I-<type>"
        )
    return columns


def _count_entities(tags: List[str], stats: ConversionStats) -> None:
    """Count entities straight from IOB1/IOB2 tags, independently of spaCy's
    conversion: a B- tag starts an entity, and so does an I- tag that does not
    follow a tag of the same type."""
    prev_type = None
    for tag in tags:
        if tag == "O":
            prev_type = None
            continue
        prefix, label = tag.split("-", 1)
        if prefix == "B" or label != prev_type:
            stats.add_entity(label)
        prev_type = label


def _read_sentences(path: Path) -> Iterator[Tuple[List[str], List[str], int, int]]:
    """Yield (words, tags, DOCSTART lines before it, line number of its first
    token) for each sentence."""
    words: List[str] = []
    tags: List[str] = []
    first_line = 0
    docstarts = 0
    n_columns = 0
    # utf-8-sig drops a byte order mark; universal newlines handle CRLF.
    with path.open("r", encoding="utf-8-sig") as file_:
        for line_no, raw in enumerate(file_, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if words:
                    yield words, tags, docstarts, first_line
                    words, tags = [], []
                continue
            columns = _split_line(path, line_no, line)
            if columns[0] == DOCSTART:
                if words:
                    yield words, tags, docstarts, first_line
                    words, tags = [], []
                docstarts += 1
                continue
            if not n_columns:
                n_columns = len(columns)
            elif len(columns) != n_columns:
                raise ConllFormatError(
                    path,
                    line_no,
                    line,
                    f"found {len(columns)} columns where the file's first token "
                    f"line has {n_columns}",
                )
            if not words:
                first_line = line_no
            words.append(columns[0])
            tags.append(columns[-1])
    if words:
        yield words, tags, docstarts, first_line


def read_conll(
    path: Union[str, Path],
    vocab: Optional[Vocab] = None,
    *,
    stats: Optional[ConversionStats] = None,
) -> Iterator[Doc]:
    """Read a CoNLL NER file, one Doc per sentence, as a stream.

    path (Union[str, Path]): The CoNLL file (IOB1 or IOB2 tags).
    vocab (Optional[Vocab]): The vocab of the Docs; by default that of
        ``spacy.blank("en")``.
    stats (Optional[ConversionStats]): Updated in place with the counts read
        from the file (entities counted from the tags, not from the Docs).
    YIELDS (Doc): The sentences, with ``doc.ents`` set.
    """
    path = Path(path)
    if vocab is None:
        vocab = spacy.blank("en").vocab
    for i, (words, tags, docstarts, line_no) in enumerate(_read_sentences(path)):
        if stats is not None:
            stats.sentences += 1
            stats.tokens += len(words)
            stats.docstarts = docstarts
            _count_entities(tags, stats)
        spaces = [True] * (len(words) - 1) + [False]
        doc = Doc(vocab, words=words, spaces=spaces)
        doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(tags))
        doc.user_data["conll_doc"] = docstarts
        doc.user_data["conll_sent"] = i
        doc.user_data["conll_line"] = line_no
        yield doc


def read_docbin(path: Union[str, Path], vocab: Optional[Vocab] = None) -> Iterator[Doc]:
    """Read the Docs of a ``.spacy`` file, or of a directory of them
    (`docbins.docbin_paths`), user data kept.

    path (Union[str, Path]): The DocBin file or directory.
    vocab (Optional[Vocab]): By default that of ``spacy.blank("en")``.
    YIELDS (Doc): The documents.
    RAISES FileNotFoundError: Nothing exists at `path`.
    RAISES ValueError: A directory without ``.spacy`` files.
    """
    if vocab is None:
        vocab = spacy.blank("en").vocab
    yield from read_corpus(path, vocab)


def docbin_stats(
    path: Union[str, Path], vocab: Optional[Vocab] = None
) -> ConversionStats:
    """Count what a ``.spacy`` file written by `convert_conll` holds.

    path (Union[str, Path]): The DocBin file.
    vocab (Optional[Vocab]): By default that of ``spacy.blank("en")``.
    RETURNS (ConversionStats): The counts.
    """
    return ConversionStats.from_docs(read_docbin(path, vocab))


def convert_conll(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    vocab: Optional[Vocab] = None,
    store_user_data: bool = False,
) -> ConversionStats:
    """Convert a CoNLL NER file to a ``.spacy`` DocBin, one Doc per sentence,
    then read the DocBin back and check that it holds what was read.

    input_path (Union[str, Path]): The CoNLL file.
    output_path (Union[str, Path]): The ``.spacy`` file to write; its parent
        directories are created.
    vocab (Optional[Vocab]): By default that of ``spacy.blank("en")``.
    store_user_data (bool): Keep ``doc.user_data`` (``conll_doc``,
        ``conll_sent``, ``conll_line``) in the DocBin. Off by default: srsly
        packs each Doc's user data separately, which slows down writing the
        DocBin and every later read of it (each training epoch). Without it
        the DocBin holds no document boundaries, so the check of
        ``docstarts`` is skipped.
    RETURNS (ConversionStats): The counts read, which the DocBin matches.
    """
    read, _ = convert_conll_counts(
        input_path, output_path, vocab=vocab, store_user_data=store_user_data
    )
    return read


def convert_conll_counts(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    vocab: Optional[Vocab] = None,
    store_user_data: bool = False,
) -> Tuple[ConversionStats, ConversionStats]:
    """`convert_conll`, returning the counts read from the CoNLL file and the
    counts read back from the DocBin written (``docstarts`` None without user
    data). Raises `ConversionMismatchError` if they differ.

    RETURNS (Tuple[ConversionStats, ConversionStats]): (read, written).
    """
    input_path = Path(input_path)
    output_path = Path(output_path)
    if vocab is None:
        vocab = spacy.blank("en").vocab
    read = ConversionStats()
    doc_bin = DocBin(store_user_data=store_user_data)
    for doc in read_conll(input_path, vocab, stats=read):
        doc_bin.add(doc)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(output_path)
    written = docbin_stats(output_path, vocab)
    if not written.matches(read):
        raise ConversionMismatchError(
            f"{output_path} does not hold what was read from {input_path}: "
            f"read {read.to_dict()}, wrote {written.to_dict()}"
        )
    return read, written


def conversion_plan(
    input_path: Union[str, Path], output_path: Union[str, Path]
) -> List[Tuple[Path, Path]]:
    """Pair each input file with the ``.spacy`` file it converts to.

    input_path (Union[str, Path]): A CoNLL file, or a directory whose ``*.txt``
        files are converted.
    output_path (Union[str, Path]): For a file, the ``.spacy`` file to write
        (or an existing directory to write ``<stem>.spacy`` into); for a
        directory, the directory to write ``<stem>.spacy`` files into.
    RETURNS (List[Tuple[Path, Path]]): (input file, output file) pairs.
    """
    input_path = Path(input_path)
    output_path = Path(output_path)
    if not input_path.exists():
        raise FileNotFoundError(f"Input path not found: {input_path}")
    if input_path.is_dir():
        inputs = sorted(p for p in input_path.glob("*.txt") if p.is_file())
        if not inputs:
            raise FileNotFoundError(f"No *.txt files in directory {input_path}")
        if output_path.exists() and not output_path.is_dir():
            raise ValueError(
                f"Output path {output_path} is a file, but the input {input_path} "
                f"is a directory: give a directory to write <stem>.spacy files into"
            )
        return [(p, output_path / f"{p.stem}.spacy") for p in inputs]
    if output_path.is_dir():
        return [(input_path, output_path / f"{input_path.stem}.spacy")]
    return [(input_path, output_path)]
