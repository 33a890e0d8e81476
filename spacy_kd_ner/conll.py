"""Read CoNLL-style NER files into spaCy Docs and write them as DocBins.

The reader takes one token per line, whitespace-separated columns, the word in
the first one: ``WORD NER``, ``WORD POS NER``, ``WORD POS CHUNK NER`` or any
other number of columns. The NER column is given (``ner_column``, 0-based as
Python indexes: the word is column 0, -1 the last column) or detected: the
last column whose values are all tags (``O``, or ``B-``, ``I-``, ``L-``,
``U-``, ``E-``, ``S-`` and a type: IOB1, IOB2, BILUO and IOBES, one scheme or
another per file) and that is not a chunk column (all types phrase types such
as ``NP``, ``VP``: a ``WORD POS CHUNK`` file has no NER column and is refused
unless its column is given). A tag splits on its first dash, as spaCy's
``split_bilu_label`` does: ``B-geo-loc`` is the type ``geo-loc``.

Blank lines end sentences and ``-DOCSTART-`` lines (in any of their forms)
mark document boundaries. Each sentence becomes one Doc, with ``doc.ents`` set
from the tags through spaCy's ``iob_to_biluo`` and ``biluo_tags_to_spans``.
``doc.user_data`` keeps where the sentence came from: ``conll_doc`` (the
number of ``-DOCSTART-`` lines before it), ``conll_sent`` (its index in the
file) and ``conll_line`` (the 1-based line of its first token).

Files are read as UTF-8 (a byte order mark dropped) unless another encoding is
given; a byte that does not decode is a `ConllFormatError` naming the file,
the line and the byte offset.
"""

from itertools import islice
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

import spacy
from spacy.tokens import Doc
from spacy.training.iob_utils import biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab

from .conversion import (
    TAG_RE,
    ConversionStats,
    InputFormatError,
    read_lines,
    write_checked_docbin,
)
from .docbins import read_corpus

DOCSTART = "-DOCSTART-"
TAG_FORMS = "O, or B-, I-, L-, U-, E- or S- and a type"
# The phrase types of CoNLL-2000 chunking, as CoNLL-2003's third column uses
# them: a column of tags over these types only holds chunks, not entities.
CHUNK_TYPES = frozenset(
    ("ADJP", "ADVP", "CONJP", "INTJ", "LST", "NP", "PP", "PRT", "SBAR", "UCP", "VP")
)
# IOBES prefixes as their BILUO equivalents.
IOBES_TO_BILUO = {"E": "L", "S": "U"}
USER_DATA_KEYS = ("conll_doc", "conll_sent", "conll_line")
# The token lines `looks_like_conll` reads.
SNIFF_LINES = 10


class ConllFormatError(InputFormatError):
    """A CoNLL file that cannot be read. The message names the file and, where
    one line is at fault, its 1-based number and the line."""


def _token_lines(
    path: Path, lines: Iterable[Tuple[int, str]]
) -> Iterator[Tuple[int, str, Optional[List[str]]]]:
    """Yield (line number, line, columns) of each line of `path`: columns
    None for a blank line, ``[DOCSTART, ...]`` for a document boundary.
    RAISES ConllFormatError: a token line with fewer than 2 columns, or with
    another number of columns than the file's first token line."""
    n_columns = 0
    for line_no, line in lines:
        if not line.strip():
            yield line_no, line, None
            continue
        columns = line.split()
        if columns[0] == DOCSTART:
            yield line_no, line, columns
            continue
        if len(columns) < 2:
            raise ConllFormatError(
                path,
                line_no,
                line,
                f"expected at least 2 whitespace-separated columns (WORD ... NER), "
                f"found {len(columns)}",
            )
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
        yield line_no, line, columns


def _file_lines(path: Path, encoding: str) -> Iterator[Tuple[int, str]]:
    return read_lines(path, encoding, ConllFormatError)


# Per column after the word: the first (line number, line, value) that is not
# a tag, and the types of its tags.
_ColumnScan = Tuple[int, Dict[int, Tuple[int, str, str]], Dict[int, Set[str]]]


def _scan_columns(path: Path, lines: Iterable[Tuple[int, str]]) -> _ColumnScan:
    """The number of columns of `lines`' token lines (0 without any), and
    per column after the word its first value that is not a tag and the types
    of its tags. RAISES ConllFormatError: a malformed line."""
    not_tag: Dict[int, Tuple[int, str, str]] = {}
    types: Dict[int, Set[str]] = {}
    n_columns = 0
    for line_no, line, columns in _token_lines(path, lines):
        if columns is None or columns[0] == DOCSTART:
            continue
        n_columns = len(columns)
        for i in range(1, n_columns):
            if i in not_tag:
                continue
            value = columns[i]
            if TAG_RE.match(value):
                if value != "O":
                    types.setdefault(i, set()).add(value.split("-", 1)[1])
            else:
                not_tag[i] = (line_no, line, value)
    return n_columns, not_tag, types


def detect_ner_column(path: Union[str, Path], *, encoding: str = "utf-8") -> int:
    """Find the NER column of a CoNLL file: the last column (after the word)
    whose values are all tags and that is not a chunk column (tags over
    `CHUNK_TYPES` only).

    path (Union[str, Path]): The CoNLL file.
    encoding (str): The file's encoding.
    RETURNS (int): The 0-based column; -1 for a file without token lines.
    RAISES ConllFormatError: No such column (naming the last column's first
        value that is not a tag, or the chunk column to give explicitly), or a
        malformed line.
    """
    path = Path(path)
    n_columns, not_tag, types = _scan_columns(path, _file_lines(path, encoding))
    if not n_columns:
        return -1
    tag_columns = [i for i in range(1, n_columns) if i not in not_tag]
    chunks = [i for i in tag_columns if types.get(i) and types[i] <= CHUNK_TYPES]
    ner = [i for i in tag_columns if i not in chunks]
    if ner:
        return ner[-1]
    if chunks:
        column = chunks[-1]
        raise ConllFormatError(
            path,
            None,
            None,
            f"no NER column: column {column} holds chunk tags (types "
            f"{', '.join(sorted(types[column]))}), not entities, and no other "
            f"column holds only tags; pass --ner-column {column} to read the "
            f"chunks as entities",
        )
    line_no, line, value = not_tag[n_columns - 1]
    raise ConllFormatError(
        path,
        line_no,
        line,
        f"no NER column: the last column holds {value!r}, which is not a tag "
        f"({TAG_FORMS}), and no other column holds only tags",
    )


def looks_like_conll(
    path: Union[str, Path], *, encoding: str = "utf-8"
) -> Tuple[bool, str]:
    """Whether a file looks like CoNLL columns: its first `SNIFF_LINES` token
    lines (not blank, not ``-DOCSTART-``) have one number of columns, at
    least 2, and a column after the word holds only tags there (NER or chunk
    tags: `read_conll` then names a line at fault, or the missing NER
    column). A file without token lines counts as CoNLL (`read_conll` finds
    no sentence in it).

    path (Union[str, Path]): The file.
    encoding (str): Its encoding.
    RETURNS (Tuple[bool, str]): Whether it does, and why.
    RAISES ConllFormatError: Bytes of those lines that do not decode.
    """
    path = Path(path)
    sample = islice(
        (
            (line_no, line)
            for line_no, line in _file_lines(path, encoding)
            if line.strip() and line.split()[0] != DOCSTART
        ),
        SNIFF_LINES,
    )
    # Decoded first, so that an encoding error is raised, not taken for
    # another format.
    sample_lines = list(sample)
    try:
        n_columns, not_tag, _ = _scan_columns(path, sample_lines)
    except ConllFormatError as err:
        return False, f"not CoNLL columns: line {err.line_no}: {err.reason}"
    if not n_columns:
        return True, "no token lines"
    tag_columns = [i for i in range(1, n_columns) if i not in not_tag]
    if tag_columns:
        return True, (
            f"{n_columns} columns, column {tag_columns[-1]} holds tags in its "
            f"first {len(sample_lines)} token lines"
        )
    line_no, _, value = not_tag[n_columns - 1]
    return False, (
        f"not CoNLL columns: no column after the word holds only tags (line "
        f"{line_no}: {value!r})"
    )


def _count_entities(tags: List[str], stats: ConversionStats) -> None:
    """Count entities straight from BILUO or IOB1/IOB2 tags (IOBES mapped to
    BILUO), independently of spaCy's conversion: a B- or U- tag starts an
    entity, and so does an I- or L- tag that does not follow a tag of the
    same type."""
    prev_type = None
    for tag in tags:
        if tag == "O":
            prev_type = None
            continue
        prefix, label = tag.split("-", 1)
        if prefix in ("B", "U") or label != prev_type:
            stats.add_entity(label)
        prev_type = label


def _to_biluo_prefix(tag: str) -> str:
    """An IOBES tag's BILUO spelling (E- as L-, S- as U-); other tags as they
    are."""
    prefix = IOBES_TO_BILUO.get(tag[:1])
    return tag if prefix is None or tag[1:2] != "-" else prefix + tag[1:]


def _resolve_column(
    path: Path, line_no: int, line: str, ner_column: int, n_columns: int
) -> int:
    column = ner_column + n_columns if ner_column < 0 else ner_column
    if column == 0:
        raise ConllFormatError(
            path,
            line_no,
            line,
            f"NER column {ner_column} is column 0, the word; columns are 0-based",
        )
    if not 0 < column < n_columns:
        raise ConllFormatError(
            path,
            line_no,
            line,
            f"NER column {ner_column} is out of range for a file of {n_columns} "
            f"columns (0-based, the word is column 0, -1 the last column)",
        )
    return column


def _read_sentences(
    path: Path, ner_column: int, encoding: str
) -> Iterator[Tuple[List[str], List[str], int, int, int]]:
    """Yield (words, BILUO-or-IOB tags, DOCSTART lines before it, line number
    of its first token, the 0-based NER column) for each sentence."""
    words: List[str] = []
    tags: List[str] = []
    first_line = 0
    docstarts = 0
    column = 0
    for line_no, line, columns in _token_lines(path, _file_lines(path, encoding)):
        if columns is None or columns[0] == DOCSTART:
            if words:
                yield words, tags, docstarts, first_line, column
                words, tags = [], []
            if columns is not None:
                docstarts += 1
            continue
        if not column:
            column = _resolve_column(path, line_no, line, ner_column, len(columns))
        tag = columns[column]
        if not TAG_RE.match(tag):
            raise ConllFormatError(
                path,
                line_no,
                line,
                f"the NER column {column} holds {tag!r}, which is not a tag "
                f"({TAG_FORMS})",
            )
        if not words:
            first_line = line_no
        words.append(columns[0])
        tags.append(_to_biluo_prefix(tag))
    if words:
        yield words, tags, docstarts, first_line, column


def read_conll(
    path: Union[str, Path],
    vocab: Optional[Vocab] = None,
    *,
    stats: Optional[ConversionStats] = None,
    ner_column: Optional[int] = None,
    encoding: str = "utf-8",
) -> Iterator[Doc]:
    """Read a CoNLL NER file, one Doc per sentence, as a stream.

    path (Union[str, Path]): The CoNLL file (IOB1, IOB2, BILUO or IOBES tags).
    vocab (Optional[Vocab]): The vocab of the Docs; by default that of
        ``spacy.blank("en")``.
    stats (Optional[ConversionStats]): Updated in place with the counts read
        from the file (entities counted from the tags, not from the Docs) and
        the NER column.
    ner_column (Optional[int]): The column of the tags, 0-based as Python
        indexes (the word is column 0; -1 is the last column); None: detected
        (`detect_ner_column`, a first pass over the file).
    encoding (str): The file's encoding.
    YIELDS (Doc): The sentences, with ``doc.ents`` set.
    RAISES ConllFormatError: A line that cannot be read, bytes that do not
        decode, no NER column, or a value of the NER column that is not a tag.
    """
    path = Path(path)
    if vocab is None:
        vocab = spacy.blank("en").vocab
    if ner_column is None:
        ner_column = detect_ner_column(path, encoding=encoding)
    sentences = _read_sentences(path, ner_column, encoding)
    for i, (words, tags, docstarts, line_no, column) in enumerate(sentences):
        if stats is not None:
            stats.docs += 1
            stats.tokens += len(words)
            stats.docstarts = docstarts
            stats.ner_column = column
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


def convert_conll(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    vocab: Optional[Vocab] = None,
    store_user_data: bool = False,
    ner_column: Optional[int] = None,
    encoding: str = "utf-8",
) -> ConversionStats:
    """Convert a CoNLL NER file to a ``.spacy`` DocBin, one Doc per sentence,
    then read the DocBin back and check that it holds what was read.

    input_path (Union[str, Path]): The CoNLL file.
    output_path (Union[str, Path]): The ``.spacy`` file to write; its parent
        directories are created. Nothing is written if the input cannot be
        read or holds no sentence.
    vocab (Optional[Vocab]): By default that of ``spacy.blank("en")``.
    store_user_data (bool): Keep ``doc.user_data`` (``conll_doc``,
        ``conll_sent``, ``conll_line``) in the DocBin. Off by default: srsly
        packs each Doc's user data separately, which slows down writing the
        DocBin and every later read of it (each training epoch). Without it
        the DocBin holds no document boundaries, so the check of
        ``docstarts`` is skipped.
    ner_column (Optional[int]): The column of the tags (0-based, -1 the last);
        None: detected (`detect_ner_column`).
    encoding (str): The input's encoding.
    RETURNS (ConversionStats): The counts read, which the DocBin matches.
    RAISES ConllFormatError: The input cannot be read (`read_conll`), or holds
        no sentence (empty, or only blank and ``-DOCSTART-`` lines).
    """
    read, _ = convert_conll_counts(
        input_path,
        output_path,
        vocab=vocab,
        store_user_data=store_user_data,
        ner_column=ner_column,
        encoding=encoding,
    )
    return read


def convert_conll_counts(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    vocab: Optional[Vocab] = None,
    store_user_data: bool = False,
    ner_column: Optional[int] = None,
    encoding: str = "utf-8",
) -> Tuple[ConversionStats, ConversionStats]:
    """`convert_conll`, returning the counts read from the CoNLL file and the
    counts read back from the DocBin written (``docstarts`` None without user
    data). Raises `ConversionMismatchError` if they differ, and
    `ConllFormatError` as `convert_conll` does.

    RETURNS (Tuple[ConversionStats, ConversionStats]): (read, written).
    """
    if vocab is None:
        vocab = spacy.blank("en").vocab
    read = ConversionStats()
    docs = read_conll(
        input_path, vocab, stats=read, ner_column=ner_column, encoding=encoding
    )

    def no_docs() -> ConllFormatError:
        return ConllFormatError(
            input_path,
            None,
            None,
            "no sentences to convert (the file is empty or holds only blank and "
            "-DOCSTART- lines); nothing written",
        )

    written = write_checked_docbin(
        docs,
        read,
        input_path,
        output_path,
        vocab=vocab,
        store_user_data=store_user_data,
        no_docs=no_docs,
    )
    return read, written
