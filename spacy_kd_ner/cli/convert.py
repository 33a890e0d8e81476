"""`kd-ner convert`: CoNLL-2003 NER files to .spacy DocBins, one Doc per sentence."""

import time
from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..conll import ConversionStats, conversion_plan, convert_conll_counts
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
):
    """
    Convert CoNLL-2003 NER data (WORD [POS CHUNK] NER per line, IOB1 or IOB2
    tags, blank lines between sentences, -DOCSTART- lines between documents)
    to .spacy DocBins with one Doc per sentence. Each DocBin is read back and
    its counts checked against the input's.
    """
    for src, dest in conversion_plan(input_path, output_path):
        start = time.time()
        read, written = convert_conll_counts(src, dest, store_user_data=store_user_data)
        msg.divider(f"{src} -> {dest}")
        print_stats(read, written)
        msg.good(
            f"Wrote {written.sentences:,} docs; the DocBin read back matches the "
            f"input ({time.time() - start:.1f}s)"
        )


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
