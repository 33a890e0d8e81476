"""`kd-ner split`: the fixed unlabeled pool and labeled splits of a train corpus."""

from pathlib import Path

from spacy.cli._util import Arg, Opt, string_to_list
from wasabi import msg

from ..split import (
    DEFAULT_POOL_SEED,
    DEFAULT_POOL_SIZE,
    SplitError,
    SplitReport,
    split_corpus,
)
from ._app import kd_app


@kd_app.command("split")
def split_cli(
    input_path: Path = Arg(
        ..., help="Train corpus: a .spacy file, one Doc per sentence", exists=True
    ),
    output_dir: Path = Arg(..., help="Output directory", file_okay=False),
    sizes: str = Opt(
        "150,300,750,1500,3000",
        "--sizes",
        "-n",
        help="Comma-separated labeled split sizes (sentences)",
    ),
    seeds: str = Opt("1", "--seeds", "-s", help="Comma-separated seeds"),
    pool_size: int = Opt(
        DEFAULT_POOL_SIZE, "--pool-size", "-p", min=0, help="Unlabeled pool size"
    ),
    pool_seed: int = Opt(
        DEFAULT_POOL_SEED, "--pool-seed", help="Seed of the unlabeled pool's draw"
    ),
):
    """
    Draw a fixed unlabeled pool (gold entities removed) once, with --pool-seed,
    and for each size and seed a labeled split from the sentences outside the
    pool: OUTPUT_DIR/unlabeled.spacy and OUTPUT_DIR/labeled-<size>-<seed>.spacy.
    Draws are deterministic (ranked by sha256 of "<seed>:<index>"); for one
    seed, smaller splits are part of larger ones.
    """
    try:
        report = split_corpus(
            input_path,
            output_dir,
            sizes=string_to_list(sizes, intify=True),
            seeds=string_to_list(seeds, intify=True),
            pool_size=pool_size,
            pool_seed=pool_seed,
        )
    except SplitError as err:
        msg.fail(str(err), exits=1)
    print_report(report, output_dir)


def print_report(report: SplitReport, output_dir: Path) -> None:
    """Print the counts of the written files."""
    msg.info(
        f"{report.n_input:,} docs read ({report.n_empty:,} empty), pool of "
        f"{report.n_pool:,}, {report.n_rest:,} outside the pool"
    )
    rows = [
        (name, f"{c['docs']:,}", f"{c['tokens']:,}", f"{c['entities']:,}")
        for name, c in report.files.items()
    ]
    msg.table(
        rows, header=("file", "docs", "tokens", "entities"), aligns=("l", "r", "r", "r")
    )
    msg.good(f"Wrote {len(report.files)} files to {output_dir}")
