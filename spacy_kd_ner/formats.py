"""Which format an input file is in, and its conversion to a checked DocBin,
whatever the format; which files an input directory holds.

The formats (`FORMATS`): ``conll`` (token-per-line columns, ``conll.py``),
``jsonl`` (records with spans, ``jsonl.py``), ``text`` (one unlabeled text
per line, ``jsonl.py``) and ``spacy`` (a DocBin, copied through with its
counts). ``auto`` chooses by the file's suffix (``.jsonl`` and ``.json``:
jsonl, ``.spacy``: spacy), then by its content: conll if its first token
lines look like columns with a tag column (`conll.looks_like_conll`), jsonl
if its first line that is not blank is a JSON object, else text.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .conll import convert_conll_counts, looks_like_conll
from .conversion import (
    ConversionStats,
    InputFormatError,
    read_lines,
    write_checked_docbin,
)
from .docbins import docbin_docs, load_docbin
from .errors import InputError
from .jsonl import JsonlFormatError, read_jsonl, read_text

AUTO = "auto"
FORMATS = ("conll", "jsonl", "text", "spacy")
SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".spacy": "spacy"}
# The files of an input directory that are converted.
DIRECTORY_SUFFIXES = (".txt", ".jsonl")
SPLITS = ("train", "dev", "test")


@dataclass
class Conversion:
    """One input file converted.

    input_path (Path): The input.
    output_path (Path): The ``.spacy`` file written.
    format (str): The input's format (one of `FORMATS`).
    reason (str): Why that format: given, or what `choose_format` saw.
    read (ConversionStats): The counts read from the input.
    written (ConversionStats): The counts read back from the DocBin, which
        match `read`.
    """

    input_path: Path
    output_path: Path
    format: str
    reason: str
    read: ConversionStats
    written: ConversionStats


def _first_line_is_json_object(path: Path, encoding: str) -> bool:
    for _, line in read_lines(path, encoding, JsonlFormatError):
        if line.strip():
            try:
                return isinstance(json.loads(line), dict)
            except json.JSONDecodeError:
                return False
    return False


def choose_format(
    path: Union[str, Path], format: str = AUTO, *, encoding: str = "utf-8"
) -> Tuple[str, str]:
    """The format to read an input file in (see the module docstring).

    path (Union[str, Path]): The input file.
    format (str): ``auto``, or one of `FORMATS` (then returned as given).
    encoding (str): The file's encoding, for a look at its content.
    RETURNS (Tuple[str, str]): The format, and why.
    RAISES InputError: `format` is not ``auto`` nor one of `FORMATS`.
    RAISES InputFormatError: The lines looked at do not decode.
    """
    path = Path(path)
    if format in FORMATS:
        return format, "given"
    if format != AUTO:
        raise InputError(
            f"Unknown format {format!r}: give one of {AUTO}, {', '.join(FORMATS)}"
        )
    suffix = path.suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix], f"the suffix {suffix}"
    conll, why = looks_like_conll(path, encoding=encoding)
    if conll:
        return "conll", why
    if _first_line_is_json_object(path, encoding):
        return "jsonl", "its first line is a JSON object"
    return "text", f"{why}; not JSON lines"


def blank_pipeline(lang: str) -> Language:
    """``spacy.blank(lang)``: the vocab and tokenizer of a conversion.

    lang (str): A language code spaCy knows (``en``, ``de``, ``xx``).
    RETURNS (Language): The blank pipeline.
    RAISES InputError: spaCy has no such language, or it needs a package
        that is not installed.
    """
    try:
        return spacy.blank(lang)
    except ImportError as err:
        raise InputError(
            f"Cannot make a blank pipeline of --lang {lang!r}: {err}"
        ) from None


def _no_docs(path: Path, format: str, read: ConversionStats) -> InputFormatError:
    skipped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(read.skipped.items()))
    why = f"skipped: {skipped}" if skipped else "the file is empty"
    return InputFormatError(
        path, None, None, f"no docs to convert as {format} ({why}); nothing written"
    )


def _docs(
    path: Path, format: str, nlp: Language, read: ConversionStats, encoding: str
) -> Iterator[Doc]:
    """The docs of an input that is not CoNLL, counted into `read`."""
    if format == "jsonl":
        return read_jsonl(path, nlp, stats=read, encoding=encoding)
    if format == "text":
        return read_text(path, nlp, stats=read, encoding=encoding)
    return _counted(docbin_docs(load_docbin(path), nlp.vocab, path), read)


def _counted(docs: Iterator[Doc], read: ConversionStats) -> Iterator[Doc]:
    """The docs of a DocBin, counted into `read` as they go by."""
    for doc in docs:
        read.count(doc)
        yield doc


def convert_file(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    format: str = AUTO,
    lang: str = "en",
    store_user_data: bool = False,
    ner_column: Optional[int] = None,
    encoding: str = "utf-8",
) -> Conversion:
    """Convert an input file of any format to a ``.spacy`` DocBin, then read
    the DocBin back and check that it holds what was read.

    input_path (Union[str, Path]): The input file.
    output_path (Union[str, Path]): The ``.spacy`` file to write; its parent
        directories are created. Nothing is written if the input cannot be
        read or holds no doc.
    format (str): ``auto`` (`choose_format`) or one of `FORMATS`.
    lang (str): The language whose tokenizer splits JSONL texts without
        ``"tokens"`` and plain texts, and whose vocab holds the docs.
    store_user_data (bool): Keep ``doc.user_data`` in the DocBin (CoNLL's
        ``conll_doc``, ``conll_sent``, ``conll_line``); a DocBin input keeps
        its own whatever this says.
    ner_column (Optional[int]): The column of CoNLL tags (0-based, -1 the
        last); None: detected. Only for CoNLL input.
    encoding (str): The input's encoding (not for a DocBin).
    RETURNS (Conversion): The format chosen and the counts.
    RAISES InputError: An unknown format or language, or `ner_column` for an
        input that is not CoNLL.
    RAISES InputFormatError: The input cannot be read in its format (a
        `ConllFormatError`, a `JsonlFormatError` naming its bad records), or
        holds no doc.
    RAISES DocBinError: A ``spacy`` input is not a DocBin.
    """
    input_path = Path(input_path)
    output_path = Path(output_path)
    nlp = blank_pipeline(lang)
    chosen, reason = choose_format(input_path, format, encoding=encoding)
    if ner_column is not None and chosen != "conll":
        raise InputError(
            f"--ner-column is for CoNLL input, but {input_path} is read as "
            f"{chosen} ({reason})"
        )
    if chosen == "conll":
        read, written = convert_conll_counts(
            input_path,
            output_path,
            vocab=nlp.vocab,
            store_user_data=store_user_data,
            ner_column=ner_column,
            encoding=encoding,
        )
        return Conversion(input_path, output_path, chosen, reason, read, written)
    read = ConversionStats(docstarts=None)
    written = write_checked_docbin(
        _docs(input_path, chosen, nlp, read, encoding),
        read,
        input_path,
        output_path,
        vocab=nlp.vocab,
        store_user_data=store_user_data or chosen == "spacy",
        no_docs=lambda: _no_docs(input_path, chosen, read),
    )
    return Conversion(input_path, output_path, chosen, reason, read, written)


def missing_splits(input_path: Union[str, Path]) -> List[Path]:
    """The split files (``train``, ``dev``, ``test``, each a ``.txt`` or a
    ``.jsonl`` file) missing from a directory that holds at least one of them.

    input_path (Union[str, Path]): An input file or directory.
    RETURNS (List[Path]): The missing files, named with the suffix of the
        first split present; empty for a file, or for a directory without any
        split file (its files are not splits).
    """
    input_path = Path(input_path)
    if not input_path.is_dir():
        return []
    present = {
        split: [
            path
            for path in (input_path / f"{split}{s}" for s in DIRECTORY_SUFFIXES)
            if path.is_file()
        ]
        for split in SPLITS
    }
    found = [paths[0] for paths in present.values() if paths]
    if not found:
        return []
    return [
        input_path / f"{split}{found[0].suffix}"
        for split in SPLITS
        if not present[split]
    ]


def conversion_plan(
    input_path: Union[str, Path], output_path: Union[str, Path]
) -> List[Tuple[Path, Path]]:
    """Pair each input file with the ``.spacy`` file it converts to.

    input_path (Union[str, Path]): An input file, or a directory whose
        ``*.txt`` and ``*.jsonl`` files are converted.
    output_path (Union[str, Path]): For a file, the ``.spacy`` file to write
        (or an existing directory to write ``<stem>.spacy`` into); for a
        directory, the directory to write ``<stem>.spacy`` files into.
    RETURNS (List[Tuple[Path, Path]]): (input file, output file) pairs.
    RAISES InputError: No input; a directory without input files, or whose
        output is a file; two inputs of one stem (``train.txt``,
        ``train.jsonl``); an output that is its input.
    """
    input_path = Path(input_path)
    output_path = Path(output_path)
    if not input_path.exists():
        raise InputError(f"Input path not found: {input_path}")
    if input_path.is_dir():
        inputs = sorted(
            p
            for p in input_path.iterdir()
            if p.suffix in DIRECTORY_SUFFIXES and p.is_file()
        )
        if not inputs:
            raise InputError(
                f"No {' or '.join('*' + s for s in DIRECTORY_SUFFIXES)} files in "
                f"directory {input_path}"
            )
        if output_path.exists() and not output_path.is_dir():
            raise InputError(
                f"Output path {output_path} is a file, but the input {input_path} "
                f"is a directory: give a directory to write <stem>.spacy files into"
            )
        plan = [(p, output_path / f"{p.stem}.spacy") for p in inputs]
    elif output_path.is_dir():
        plan = [(input_path, output_path / f"{input_path.stem}.spacy")]
    else:
        plan = [(input_path, output_path)]
    _check_plan(plan)
    return plan


def _check_plan(plan: List[Tuple[Path, Path]]) -> None:
    seen: Dict[Path, Path] = {}
    for src, dest in plan:
        if dest.resolve() == src.resolve():
            raise InputError(f"The output {dest} is the input: give another path")
        if dest in seen:
            raise InputError(
                f"{seen[dest]} and {src} would both be written to {dest}: "
                f"rename one, or convert them one at a time"
            )
        seen[dest] = src
