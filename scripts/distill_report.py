"""Render a `distill` run's results: per-type test F1 and agreement.

Run as ``python scripts/distill_report.py RESULTS_DIR OUTPUT.md [--readme
README.md --block NAME]`` from the project directory.

`scripts/distill.py` writes, under its results directory, ``<model>.json``
(`kd-ner evaluate` on the test set: teacher, spacy-ner, student-baseline,
student-kd-pl), ``agreement-<part>.json`` (the kd-pl student scored against
the teacher's entities), ``train/<model>.json`` and ``annotate/<part>.json``.
This renders them as Markdown tables: test micro P/R/F1 and F1 per type
(with the gold count of each type), dev scores of the best models
(``train/<model>.json``), agreement, words/s (``speed.json``,
`report.py`'s speed table), and a line naming the files, commits and dates
(`report.py`'s `render_sources`). With --readme, the micro test scores
and the agreement table replace the lines between ``<!-- NAME:start -->``
and ``<!-- NAME:end -->`` of the README.
"""

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import typer
from spacy.cli._util import Arg, Opt
from wasabi import msg

from report import (
    check_run_record,
    markdown_table,
    pct,
    read_json,
    read_speed,
    render_sources,
    render_speed_table,
    speed_ratios,
    write_markdown,
)

MODELS = {
    "teacher": "teacher",
    "spacy-ner": "spaCy ner",
    "student-baseline": "baseline",
    "student-kd-pl": "kd-pl",
}
PARTS = {"unlabeled": "unlabeled pool", "test": "test set"}
SPEED = "speed.json"


def read_results(results_dir: Path) -> Dict[str, Dict[str, Any]]:
    """The metrics files of a distill run that exist, by name (`MODELS`,
    then `agreement-<part>`), each checked to carry its run record.

    RAISES ValueError: No metrics file at all, or one without a run record.
    """
    names = [*MODELS, *(f"agreement-{part}" for part in PARTS)]
    found = {}
    for name in names:
        path = results_dir / f"{name}.json"
        if path.exists():
            data = read_json(path)
            check_run_record(data, path)
            found[name] = data
    if not found:
        raise ValueError(f"No distill metrics files in {results_dir}.")
    return found


def render_test_table(
    results: Mapping[str, Mapping[str, Any]], per_type: bool = True
) -> Optional[str]:
    """Test micro P/R/F1 and, with `per_type`, F1 per type (rows; most
    frequent gold type first) per model (columns); None without test
    scores."""
    models = [name for name in MODELS if name in results]
    if not models:
        return None
    support: Dict[str, int] = {}
    for name in models:
        for label, scores in results[name]["per_type"].items():
            support[label] = max(support.get(label, 0), int(scores["support"]))
    header = ["", "gold", *(MODELS[name] for name in models)]
    rows: List[Sequence[str]] = []
    for key, title in (("p", "micro P"), ("r", "micro R"), ("f", "micro F1")):
        cells = [pct(results[name]["micro"][key]) for name in models]
        gold = f"{results[models[0]]['micro']['support']:,}"
        rows.append([f"**{title}**", gold, *cells])
    labels = sorted(support, key=lambda lab: (-support[lab], lab)) if per_type else []
    for label in labels:
        cells = [
            pct(results[name]["per_type"].get(label, {}).get("f")) for name in models
        ]
        rows.append([f"{label} F1", f"{support[label]:,}", *cells])
    return markdown_table(header, rows, "lr" + "r" * len(models))


def render_agreement_table(
    results: Mapping[str, Mapping[str, Any]],
) -> Optional[str]:
    """The kd-pl student against its teacher's entities, per part: micro
    P/R/F1 and the entities compared; None without agreement files."""
    rows = []
    for part, title in PARTS.items():
        data = results.get(f"agreement-{part}")
        if data is None:
            continue
        micro = data["micro"]
        rows.append(
            [
                title,
                f"{data['n_docs']:,}",
                f"{micro['support']:,}",
                pct(micro["p"]),
                pct(micro["r"]),
                pct(micro["f"]),
            ]
        )
    if not rows:
        return None
    header = ["kd-pl vs its teacher", "docs", "teacher entities", "P", "R", "F1"]
    return markdown_table(header, rows, "lrrrrr")


def render_dev_table(results_dir: Path) -> Optional[str]:
    """Dev P/R/F1 of each model's best checkpoint (`train/<model>.json`, as
    `spacy train` scored it: what a user without a test set has); None
    without training records."""
    rows = []
    for name, title in MODELS.items():
        path = results_dir / "train" / f"{name}.json"
        dev = read_json(path).get("dev") if path.exists() else None
        if dev:
            scores = [pct(dev.get(key)) for key in ("ents_p", "ents_r", "ents_f")]
            rows.append([title, *scores])
    if not rows:
        return None
    return markdown_table(["dev (best model)", "P", "R", "F1"], rows, "lrrr")


def render(results_dir: Path, base: Path, full: bool = True) -> str:
    """The Markdown tables of a distill run and their sources line.

    results_dir (Path): The run's results directory.
    base (Path): The directory of the document that links the files.
    full (bool): Also F1 per type, the dev scores and the speed table;
        False: test micro scores and agreement only (a README's block).
    RETURNS (str): The Markdown.
    """
    results = read_results(results_dir)
    parts = [
        table
        for table in (
            render_test_table(results, per_type=full),
            render_dev_table(results_dir) if full else None,
            render_agreement_table(results),
        )
        if table is not None
    ]
    records = {
        results_dir / f"{name}.json": data["run"] for name, data in results.items()
    }
    speed_path = results_dir / SPEED
    if full and speed_path.exists():
        speed = read_speed(speed_path)
        student = "student" if "student" in speed else None
        ratios = speed_ratios(speed, student) if student else {}
        parts.append(render_speed_table(speed, student, ratios))
        records[speed_path] = check_run_record(read_json(speed_path), speed_path)
    parts.append(render_sources(records, base))
    return "\n\n".join(parts)


app = typer.Typer(add_completion=False)


@app.command()
def distill_report_cli(
    results_dir: Path = Arg(..., help="A distill run's results", file_okay=False),
    output: Path = Arg(..., help="Output Markdown file", dir_okay=False),
    readme: Optional[Path] = Opt(
        None, "--readme", "-r", help="Also put the tables into this document"
    ),
    block: str = Opt(
        "distill", "--block", "-b", help="The README's <!-- BLOCK:start --> marker"
    ),
) -> None:
    """
    Render a distill run's results (test F1 per type of teacher, spaCy ner,
    baseline and kd-pl; the student's agreement with its teacher) as
    Markdown (with the dev scores and speed); with --readme the micro test
    scores and the agreement also go between the README's block markers.
    """
    try:
        write_markdown(
            output,
            f"Distill: `{results_dir}`",
            lambda base: render(results_dir, base),
            readme,
            block,
            render_readme=lambda base: render(results_dir, base, full=False),
        )
    except (OSError, ValueError) as err:
        msg.fail("Cannot write the distill report", str(err), exits=1)
    msg.good(f"Saved {output}" + (f" and updated {readme}" if readme else ""))


if __name__ == "__main__":
    app()
