"""Render annotation on Ray against one process (issue 28).

Run as ``python scripts/ray_report.py RESULTS_DIR OUTPUT.md [--doc
docs/ray.md --block ray]`` from the project directory, after
`ray_speed.py`.

From RESULTS_DIR's ``single.json``, ``ray-<N>.json`` and
``ceiling-ray-<N>.json`` (`kd-ner annotate --stats`), this renders

- a table of the measured runs: workers, docs, start-up seconds, docs/s (of
  the annotation's wall time once the workers are up) and the speed-up over
  one process;
- what a pool of `POOL` docs would take on more workers, extrapolated from
  the one-worker rate and the efficiency measured with the most workers
  (their rate over that many one-worker rates), capped by the driver's
  ceiling (the free-teacher run); the cap names the bottleneck;
- a line naming the files, commits and dates.
"""

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import typer
from spacy.cli._util import Arg, Opt
from wasabi import msg

from report import (
    check_run_record,
    markdown_table,
    read_json,
    render_sources,
    write_markdown,
)

POOL = 100_000_000
PROJECTED_WORKERS = (2, 8, 32, 128, 512)
RAY_RUN = re.compile(r"^ray-(\d+)$")
CEILING_RUN = re.compile(r"^ceiling-ray-(\d+)$")


def read_runs(results_dir: Path) -> Dict[str, Dict[str, Any]]:
    """The stats files of RESULTS_DIR by run name, each with a run record.

    RAISES ValueError: No ``single.json`` or no ``ray-<N>.json``, or a file
        without a run record (named).
    """
    runs = {}
    for path in sorted(results_dir.glob("*.json")):
        data = read_json(path)
        check_run_record(data, path)
        runs[path.stem] = {**data, "path": path}
    if "single" not in runs or not any(RAY_RUN.match(name) for name in runs):
        raise ValueError(
            f"{results_dir} needs single.json and at least one ray-<N>.json "
            "(scripts/ray_speed.py writes them)"
        )
    return runs


def ray_rates(runs: Dict[str, Dict[str, Any]]) -> List[Tuple[int, float]]:
    """(workers, docs/s) of the ``ray-<N>`` runs, by workers."""
    rates = []
    for name, data in runs.items():
        match = RAY_RUN.match(name)
        if match:
            rates.append((int(match.group(1)), float(data["docs_per_second"])))
    return sorted(rates)


def projection(
    runs: Dict[str, Dict[str, Any]], workers: int
) -> Tuple[float, float, str]:
    """A pool of `POOL` docs on `workers` workers.

    RETURNS (Tuple[float, float, str]): The docs/s (the one-worker rate times
        `workers` times the measured efficiency, at most the ceiling), the
        hours (the start-up of the most workers measured included), and what
        bounds it ("teachers" or "driver").
    """
    rates = ray_rates(runs)
    one = dict(rates).get(1, rates[0][1] / rates[0][0])
    most, most_rate = rates[-1]
    efficiency = min(1.0, most_rate / (most * one))
    rate = one * workers * efficiency
    bound = "teachers"
    ceilings = [
        float(d["docs_per_second"]) for n, d in runs.items() if CEILING_RUN.match(n)
    ]
    if ceilings and rate > max(ceilings):
        rate, bound = max(ceilings), "driver"
    startup = float(runs[f"ray-{most}"]["startup_seconds"])
    return rate, (startup + POOL / rate) / 3600, bound


def _row_order(item: Tuple[str, Dict[str, Any]]) -> Tuple[int, int]:
    """Single process first, then the Ray runs by workers, then the ceilings."""
    name, data = item
    group = 2 if CEILING_RUN.match(name) else 0 if name == "single" else 1
    return group, int(data.get("workers", 0) or 0)


def render(results_dir: Path, base: Path) -> str:
    """The tables and the sources line, linking files relative to `base`."""
    runs = read_runs(results_dir)
    single = float(runs["single"]["docs_per_second"])
    rows = []
    for name, data in sorted(runs.items(), key=_row_order):
        rate = float(data["docs_per_second"])
        ceiling = bool(CEILING_RUN.match(name))
        rows.append(
            [
                f"`{name}`"
                + (" (free teacher: the driver's ceiling)" if ceiling else ""),
                str(data.get("workers", 0) or "in process"),
                f"{data['docs_annotated']:,}",
                f"{data.get('startup_seconds', 0.0):.1f}",
                f"{rate:,.1f}",
                "" if ceiling else f"{rate / single:.2f}x",
            ]
        )
    measured = markdown_table(
        ["run", "workers", "docs", "start-up s", "docs/s", "vs one process"],
        rows,
        "lrrrrr",
    )
    projected = []
    for workers in PROJECTED_WORKERS:
        rate, hours, bound = projection(runs, workers)
        projected.append([str(workers), f"{rate:,.0f}", f"{hours:,.1f}", bound])
    projected_table = markdown_table(
        ["workers (1 CPU each)", "docs/s", f"hours for {POOL:,} docs", "bound by"],
        projected,
        "rrrl",
    )
    records = {Path(d["path"]): check_run_record(d, d["path"]) for d in runs.values()}
    return "\n\n".join([measured, projected_table, render_sources(records, base)])


app = typer.Typer(add_completion=False)


@app.command()
def ray_report_cli(
    results_dir: Path = Arg(..., help="ray_speed.py's results", file_okay=False),
    output: Path = Arg(..., help="Output Markdown file", dir_okay=False),
    doc: Optional[Path] = Opt(
        None, "--doc", "-d", help="Also put the tables into this document"
    ),
    block: str = Opt("ray", "--block", "-b", help="Its <!-- BLOCK:start --> marker"),
) -> None:
    """Render the Ray annotation measurements and a projection to a large
    pool as Markdown; with --doc also between its block markers."""
    try:
        write_markdown(
            output,
            f"Annotation on Ray: `{results_dir}`",
            lambda base: render(results_dir, base),
            doc,
            block,
        )
    except (OSError, ValueError, KeyError) as err:
        msg.fail("Cannot write the Ray report", str(err), exits=1)
    msg.good(f"Saved {output}" + (f" and updated {doc}" if doc else ""))


if __name__ == "__main__":
    app()
