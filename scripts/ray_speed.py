"""Measure annotation on Ray against one process (issue 28).

Run as ``python scripts/ray_speed.py TEACHER POOL --workers 1,2 --results
results/ray`` from the project directory.

Every run is `kd-ner annotate` over the same pool and teacher, one thread per
process (OMP_NUM_THREADS=1, one CPU per Ray worker), its output discarded
and its counts and timings written with `--stats` to RESULTS/<run>.json:

- ``single``: the teachers in the annotating process;
- ``ray-<N>``: on a local Ray instance with N workers (its start-up cost,
  Ray and the teachers loaded on every worker, is `startup_seconds`);
- ``ceiling-ray-<N>``: the largest N again, with a teacher that costs
  nothing (an entity ruler): what the driver itself sustains (reading,
  shipping docs to the workers and back, writing the shards), the bound that
  more workers cannot pass.

`ray_report.py` renders them.
"""

import os
import shutil
from pathlib import Path
from typing import List, Tuple, cast

import spacy
import typer
from spacy.cli._util import Arg, Opt
from spacy.pipeline import EntityRuler

from commands import kd_ner, run, split_list

app = typer.Typer(add_completion=False)


@app.command()
def main(
    teacher: Path = Arg(..., help="The teacher pipeline", exists=True),
    pool: Path = Arg(..., help="The unlabeled pool (.spacy)", exists=True),
    workers: str = Opt("1,2", "--workers", help="Ray worker counts to measure"),
    results: Path = Opt(Path("results/ray"), "--results", help="Stats directory"),
    work: Path = Opt(
        Path("training/ray-speed"), "--work", help="Scratch directory (removed)"
    ),
):
    """Annotate POOL with TEACHER in one process and on Ray with each number
    of workers, then with a free teacher on the most workers."""
    os.environ["OMP_NUM_THREADS"] = "1"
    counts = [int(n) for n in split_list(workers)]
    work.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    ruler = _free_teacher(work / "entity-ruler")
    runs: List[Tuple[str, str, List[str]]] = [("single", str(teacher), [])]
    runs += [(f"ray-{n}", str(teacher), _ray(n)) for n in counts]
    labels = ["--labels", "PER,LOC,ORG,MISC"]
    runs.append((f"ceiling-ray-{max(counts)}", str(ruler), _ray(max(counts)) + labels))
    try:
        for name, model, options in runs:
            out = work / name
            run(
                kd_ner(
                    "annotate", model, str(pool), str(out), "--overwrite",
                    "--stats", str(results / f"{name}.json"), *options,
                )
            )  # fmt: skip
            shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ray(n: int) -> List[str]:
    return ["--ray", "--num-workers", str(n), "--cpus-per-worker", "1"]


def _free_teacher(path: Path) -> Path:
    """An entity ruler with one pattern: a teacher whose work is nothing."""
    nlp = spacy.blank("en")
    ruler = cast(EntityRuler, nlp.add_pipe("entity_ruler"))
    ruler.add_patterns([{"label": "LOC", "pattern": "Paris"}])
    nlp.to_disk(path)
    return path


if __name__ == "__main__":
    app()
