"""`kd-ner convert`: CoNLL NER files to .spacy DocBins, one Doc per sentence."""

import time
from pathlib import Path
from typing import List, Optional, Tuple

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..conll import (
    ConversionStats,
    conversion_plan,
    convert_conll_counts,
    missing_splits,
)
from ._app import kd_app
from ._util import fail_on_known_errors


@kd_app.command("convert")
@fail_on_known_errors
def convert_cli(
    input_path: Path = Arg(
        ..., help="CoNLL file, or a directory of *.txt CoNLL files", exists=True
    ),
    output_path: Path = Arg(
        ..., help="Output .spacy file, or the directory for <stem>.spacy files"
    ),
    store_user_data: bool = Opt(
        False,
        "--user-data",
        "-u",
        help="Keep doc.user_data (conll_doc, conll_sent, conll_line) in the "
        "DocBins; slower to write and read",
    ),
    ner_column: Optional[int] = Opt(
        None,
        "--ner-column",
        "-c",
        help="Column of the NER tags, 0-based as Python indexes (the word is "
        "column 0, -1 the last column); default: the last column of tags that "
        "are not chunk tags",
    ),
    encoding: str = Opt(
        "utf-8", "--encoding", "-e", help="Encoding of the input files, e.g. latin-1"
    ),
):
    """
    Convert CoNLL NER data (WORD [POS CHUNK ...] NER per line, whitespace- or
    TAB-separated; IOB1, IOB2, BILUO or IOBES tags, types split on their first
    dash; blank lines between sentences, -DOCSTART- lines between documents)
    to .spacy DocBins with one Doc per sentence. Each DocBin is read back and
    its counts checked against the input's. The NER column is detected (a
    WORD POS CHUNK file has none and is refused) unless --ner-column gives it.
    An input without sentences is an error that names it (the files before it
    are written, it is not). For a directory with train.txt, dev.txt or
    test.txt, a missing one is a warning naming it and what was written.
    """
    convert(
        input_path,
        output_path,
        store_user_data=store_user_data,
        ner_column=ner_column,
        encoding=encoding,
    )


def convert(
    input_path: Path,
    output_path: Path,
    *,
    store_user_data: bool = False,
    ner_column: Optional[int] = None,
    encoding: str = "utf-8",
) -> List[Tuple[Path, ConversionStats]]:
    """Convert each file of `conversion_plan`, printing its counts, then warn
    of the split files missing from a directory (`missing_splits`).

    input_path (Path): A CoNLL file or a directory of ``*.txt`` files.
    output_path (Path): The ``.spacy`` file or the output directory.
    store_user_data (bool): Keep ``doc.user_data`` in the DocBins.
    ner_column (Optional[int]): The column of the tags (0-based, -1 the last);
        None: detected in each file.
    encoding (str): The inputs' encoding.
    RETURNS (List[Tuple[Path, ConversionStats]]): Each file written and its
        counts.
    RAISES ConllFormatError: An input that cannot be read or holds no
        sentence; the files converted before it stay written.
    """
    written_files: List[Tuple[Path, ConversionStats]] = []
    for src, dest in conversion_plan(input_path, output_path):
        start = time.time()
        read, written = convert_conll_counts(
            src,
            dest,
            store_user_data=store_user_data,
            ner_column=ner_column,
            encoding=encoding,
        )
        msg.divider(f"{src} -> {dest}")
        how = "detected" if ner_column is None else "given"
        msg.info(f"NER tags from column {read.ner_column} (0-based, {how})")
        print_stats(read, written)
        msg.good(
            f"Wrote {written.sentences:,} docs; the DocBin read back matches the "
            f"input ({time.time() - start:.1f}s)"
        )
        written_files.append((dest, written))
    missing = missing_splits(input_path)
    if missing:
        msg.warn(
            f"No {', '.join(path.name for path in missing)} in {input_path}: "
            f"wrote only {', '.join(str(dest) for dest, _ in written_files)}"
        )
    return written_files


def print_stats(read: ConversionStats, written: ConversionStats) -> None:
    """Print the counts read from a CoNLL file and from the DocBin written."""

    def fmt(n: Optional[int]) -> str:
        return "-" if n is None else f"{n:,}"

    labels = sorted(set(read.entities_per_type) | set(written.entities_per_type))
    table = [
        ("sentences", fmt(read.sentences), fmt(written.sentences)),
        ("tokens", fmt(read.tokens), fmt(written.tokens)),
        ("entities", fmt(read.entities), fmt(written.entities)),
    ]
    table += [
        (
            f"  {label}",
            fmt(read.entities_per_type.get(label, 0)),
            fmt(written.entities_per_type.get(label, 0)),
        )
        for label in labels
    ]
    table.append(("-DOCSTART-", fmt(read.docstarts), fmt(written.docstarts)))
    msg.table(table, header=("", "read", "written"), aligns=("l", "r", "r"))
