"""`kd-ner convert`: CoNLL, JSONL, plain-text and .spacy inputs to .spacy
DocBins, counts read and written."""

import time
from pathlib import Path
from typing import List, Optional

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..conversion import ConversionStats
from ..formats import AUTO, Conversion, conversion_plan, convert_file, missing_splits
from ._app import kd_app
from ._util import fail_on_known_errors


@kd_app.command("convert")
@fail_on_known_errors
def convert_cli(
    input_path: Path = Arg(
        ...,
        help="Input file (CoNLL, JSONL, plain text or .spacy), or a directory of "
        "*.txt and *.jsonl files",
        exists=True,
    ),
    output_path: Path = Arg(
        ..., help="Output .spacy file, or the directory for <stem>.spacy files"
    ),
    format: str = Opt(
        AUTO,
        "--format",
        "-f",
        help="Input format: auto, conll, jsonl, text or spacy. auto: .jsonl and "
        ".json are jsonl, .spacy is spacy; else conll if the first token lines "
        "are columns with a tag column, jsonl if the first line is a JSON "
        "object, else text",
    ),
    lang: str = Opt(
        "en",
        "--lang",
        "-l",
        help="Language whose tokenizer (spacy.blank) splits plain text and JSONL "
        "texts without tokens",
    ),
    store_user_data: bool = Opt(
        False,
        "--user-data",
        "-u",
        help="Keep doc.user_data (CoNLL's conll_doc, conll_sent, conll_line) in "
        "the DocBins; slower to write and read",
    ),
    ner_column: Optional[int] = Opt(
        None,
        "--ner-column",
        "-c",
        help="Column of the CoNLL NER tags, 0-based as Python indexes (the word "
        "is column 0, -1 the last column); default: the last column of tags "
        "that are not chunk tags",
    ),
    encoding: str = Opt(
        "utf-8", "--encoding", "-e", help="Encoding of the input files, e.g. latin-1"
    ),
):
    """
    Convert NER data to .spacy DocBins: CoNLL columns (WORD [POS CHUNK ...]
    NER per line; IOB1, IOB2, BILUO or IOBES tags, types split on their first
    dash; one Doc per sentence; the NER column detected unless --ner-column
    gives it), JSONL with spans (spaCy's or Prodigy's: {"text", "spans":
    [{"start", "end", "label"}], "tokens"?, "answer"?}, one Doc per record; a
    record without "spans" is unlabeled, one whose answer is not "accept" is
    skipped and counted), plain text (one unlabeled Doc per line, blank lines
    skipped and counted) or a .spacy DocBin (copied through). The format is
    chosen (--format auto) and printed. Each DocBin is read back and its
    counts checked against the input's. A bad input is an error naming
    file:line (for JSONL, the first 10 bad records and their total: a
    misaligned, overlapping or out-of-text span, a missing label, invalid
    JSON), and nothing is written for it; so is an input without docs (the
    files before it are written). For a directory with train, dev or test
    files, a missing one is a warning naming it and what was written.
    """
    convert(
        input_path,
        output_path,
        format=format,
        lang=lang,
        store_user_data=store_user_data,
        ner_column=ner_column,
        encoding=encoding,
    )


def convert(
    input_path: Path,
    output_path: Path,
    *,
    format: str = AUTO,
    lang: str = "en",
    store_user_data: bool = False,
    ner_column: Optional[int] = None,
    encoding: str = "utf-8",
) -> List[Conversion]:
    """Convert each file of `conversion_plan` (`convert_file`), printing its
    format, counts and warnings, then warn of the split files missing from a
    directory (`missing_splits`).

    input_path (Path): An input file, or a directory of ``*.txt`` and
        ``*.jsonl`` files.
    output_path (Path): The ``.spacy`` file or the output directory.
    format (str): ``auto`` or the inputs' format.
    lang (str): The language of the tokenizer and vocab.
    store_user_data (bool): Keep ``doc.user_data`` in the DocBins.
    ner_column (Optional[int]): The column of CoNLL tags (0-based, -1 the
        last); None: detected in each file.
    encoding (str): The inputs' encoding.
    RETURNS (List[Conversion]): Each file converted.
    RAISES KdNerError: An input that cannot be read or holds no doc; the
        files converted before it stay written.
    """
    done: List[Conversion] = []
    for src, dest in conversion_plan(input_path, output_path):
        start = time.time()
        conversion = convert_file(
            src,
            dest,
            format=format,
            lang=lang,
            store_user_data=store_user_data,
            ner_column=ner_column,
            encoding=encoding,
        )
        msg.divider(f"{src} -> {dest}")
        msg.info(f"Read as {conversion.format} ({conversion.reason})")
        if conversion.format == "conll":
            how = "detected" if ner_column is None else "given"
            msg.info(
                f"NER tags from column {conversion.read.ner_column} (0-based, {how})"
            )
        print_stats(conversion.read, conversion.written)
        warn_of(conversion.read)
        msg.good(
            f"Wrote {conversion.written.docs:,} docs; the DocBin read back matches "
            f"the input ({time.time() - start:.1f}s)"
        )
        done.append(conversion)
    missing = missing_splits(input_path)
    if missing:
        msg.warn(
            f"No {', '.join(path.name for path in missing)} in {input_path}: "
            f"wrote only {', '.join(str(c.output_path) for c in done)}"
        )
    return done


def print_stats(read: ConversionStats, written: ConversionStats) -> None:
    """Print the counts read from an input and from the DocBin written."""

    def fmt(n: Optional[int]) -> str:
        return "-" if n is None else f"{n:,}"

    labels = sorted(set(read.entities_per_type) | set(written.entities_per_type))
    table = [("docs", fmt(read.docs), fmt(written.docs))]
    if read.unlabeled or written.unlabeled:
        table += [
            ("  labeled", fmt(read.labeled), fmt(written.labeled)),
            ("  unlabeled", fmt(read.unlabeled), fmt(written.unlabeled)),
        ]
    table += [
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
    if read.docstarts is not None:
        table.append(("-DOCSTART-", fmt(read.docstarts), fmt(written.docstarts)))
    msg.table(table, header=("", "read", "written"), aligns=("l", "r", "r"))


def warn_of(read: ConversionStats) -> None:
    """Warn of the records of an input that were skipped, of labeled and
    unlabeled docs in one input, and of labels that look like tags."""
    if read.skipped:
        reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(read.skipped.items()))
        msg.warn(f"Skipped {sum(read.skipped.values()):,} lines: {reasons}")
    if read.labeled and read.unlabeled:
        msg.warn(
            f"{read.labeled:,} labeled and {read.unlabeled:,} unlabeled docs: "
            f'records without "spans" have no entity annotation (not O)'
        )
    tag_like = read.tag_like_labels()
    if tag_like:
        msg.warn(
            f"Labels that look like tags, not entity types: {', '.join(tag_like)} "
            f"(kept as they are; a span's label is its type: PER, not B-PER)"
        )
