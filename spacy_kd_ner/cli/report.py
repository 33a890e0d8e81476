"""`kd-ner report`: Markdown report (F1 by labeled size, per-type F1, speed)
with PNG plots."""

from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..report import Report, write_report
from ._app import kd_app


@kd_app.command("report")
def report_cli(
    metrics_dir: Path = Arg(
        ..., help="Directory of metrics JSON files from `evaluate`", file_okay=False
    ),
    output: Path = Arg(..., help="Output Markdown file", dir_okay=False),
    speed: Optional[Path] = Opt(
        None, "--speed", "-s", help="Speed JSON from `benchmark`", dir_okay=False
    ),
    plots_dir: Optional[Path] = Opt(
        None,
        "--plots-dir",
        "-p",
        help="Where to write the PNG plots (default: the output's directory)",
        file_okay=False,
    ),
    student: Optional[str] = Opt(
        None,
        "--student",
        help="Pipeline of the speed JSON to compare the others against "
        "(default: 'student', else the first named student*)",
    ),
    no_plots: bool = Opt(False, "--no-plots", help="Do not draw the plots"),
):
    """
    Write a Markdown report of the metrics files named
    <model>-<size>-<seed>.json (model: teacher, spacy-ner, student-baseline,
    student-kd, student-pl, student-kd-pl): mean and standard deviation over
    seeds of the test F1 per labeled size, the per-type F1 of the best
    student, other metrics files in a table of their own, and, with --speed,
    words/s by batch size, size and memory of each pipeline and the student's
    speed-ups. Plots (PNG, matplotlib): F1 against labeled size, words/s
    against batch size.
    """
    report(
        metrics_dir,
        output,
        speed_path=speed,
        plots_dir=plots_dir,
        student=student,
        plots=not no_plots,
    )


def report(
    metrics_dir: Path,
    output: Path,
    *,
    speed_path: Optional[Path] = None,
    plots_dir: Optional[Path] = None,
    student: Optional[str] = None,
    plots: bool = True,
) -> Report:
    """Run `write_report`, turning bad inputs into a clear CLI error.

    RETURNS (Report): The report.
    """
    try:
        result = write_report(
            metrics_dir,
            output,
            speed_path=speed_path,
            plots_dir=plots_dir,
            student=student,
            plots=plots,
        )
    except (OSError, ValueError) as e:
        msg.fail("Cannot write the report", str(e), exits=1)
        raise  # not reached: msg.fail exits
    for path in result.runs.skipped:
        msg.info(f"Skipped {path}: no metrics in it")
    for path in result.plots:
        msg.good(f"Saved plot {path}")
    msg.good(f"Saved report {result.output}")
    return result
