"""Run the grid's cells as Ray tasks (`grid.py --ray`; the ``ray`` extra).

A cell (one labeled size and seed: teacher, annotations, students, spaCy
ner) is a chain of commands whose later steps read what the earlier ones
trained, so a cell is the unit Ray schedules: one task per cell, with the
CPUs and GPUs it asks for, running the cell's project commands in order in
the project directory, its output appended to `logs/grid/<size>-<seed>.log`.
Cells run side by side as the cluster's resources allow. A cell whose command
fails is retried (`retries`: its pending commands again, in order); one that
still fails is reported with its log and the grid goes on with the others.

What a task needs is the project directory at the same path on every node
that runs cells (one machine, or a shared file system): the commands read
the corpus and write models and `results/` there, and the driver updates the
grid lock from those outputs once a cell is done. Only the driver writes the
locks: the tasks run the commands' scripts as weasel would
(`weasel.util.split_command`, ``python`` as the worker's interpreter), not
`spacy project run`, whose lock file cells side by side would overwrite.
"""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from weasel.util import split_command

LOG_DIR = Path("logs") / "grid"

# A command of a cell: its name, script lines and dependencies (paths
# relative to the project directory), as project.yml resolves them.
CellCommand = Tuple[str, List[str], List[str]]


class CellError(RuntimeError):
    """A command of a cell failed (a missing dependency, a non-zero exit)."""


@dataclass(frozen=True)
class RayGridOptions:
    """How `grid.run_grid` runs its cells on Ray.

    address (Optional[str]): The cluster to join (`ray.init(address=...)`);
        None: a new local Ray instance (or the one this process started).
    cpus_per_cell (float): CPUs Ray reserves for each cell.
    gpus_per_cell (float): GPUs Ray reserves for each cell (the commands then
        see them as CUDA_VISIBLE_DEVICES; pass --vars.gpu_id 0).
    retries (int): How often a failed cell is run again.
    """

    address: Optional[str] = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    retries: int = 2

    def __post_init__(self) -> None:
        if self.cpus_per_cell <= 0 or self.gpus_per_cell < 0 or self.retries < 0:
            raise ValueError(
                f"cpus_per_cell must be > 0, gpus_per_cell and retries >= 0, got "
                f"{self.cpus_per_cell}, {self.gpus_per_cell}, {self.retries}."
            )


def log_path(size: int, seed: int) -> Path:
    """A cell's log, relative to the project directory."""
    return LOG_DIR / f"{size}-{seed}.log"


def run_cell(project_dir: str, commands: Sequence[CellCommand], log: str) -> None:
    """Run a cell's commands in order in `project_dir`, appending their
    output to `log` (Ray runs this as a task).

    RAISES CellError: A command's dependency is missing or a script line
        exits with a non-zero status (the message names it and the log).
    """
    root = Path(project_dir)
    log_file = root / log
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a", encoding="utf8") as out:
        for name, script, deps in commands:
            missing = [dep for dep in deps if not (root / dep).exists()]
            if missing:
                raise CellError(
                    f"'{name}' misses its dependency {missing[0]} (log: {log})"
                )
            for line in script:
                argv = split_command(line)
                if argv and argv[0] in ("python", "python3"):
                    argv[0] = sys.executable
                out.write(f"\n$ {line}\n")
                out.flush()
                status = subprocess.run(
                    argv, cwd=root, stdout=out, stderr=subprocess.STDOUT
                ).returncode
                if status != 0:
                    raise CellError(
                        f"'{name}' exited with status {status} (log: {log})"
                    )


def run_cells_on_ray(
    project_dir: Path,
    cells: Sequence[Tuple[Tuple[int, int], Sequence[CellCommand]]],
    options: RayGridOptions,
) -> Iterator[Tuple[int, Optional[str]]]:
    """Run cells as Ray tasks, yielding each as it finishes.

    project_dir (Path): The project directory, the same path on every node.
    cells (Sequence): Per cell its (size, seed) and its pending commands.
    options (RayGridOptions): The cluster, each cell's resources, retries.
    YIELDS (Tuple[int, Optional[str]]): The cell's index in `cells`, and None
        where it succeeded, else why it failed (after its retries).
    RAISES ImportError: Ray is not installed (the message says how).
    """
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=options.address, log_to_driver=False)
    try:
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        task = ray.remote(run_cell).options(
            num_cpus=options.cpus_per_cell,
            num_gpus=options.gpus_per_cell,
            max_retries=options.retries,
            retry_exceptions=[CellError],
        )
        pending: Dict[Any, int] = {
            task.remote(str(project_dir.resolve()), commands, str(log_path(*cell))): i
            for i, (cell, commands) in enumerate(cells)
        }
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done)
            try:
                ray.get(done)
            except ray.exceptions.RayTaskError as err:
                cause = err.cause if isinstance(err.cause, CellError) else err
                yield index, str(cause)
            except ray.exceptions.RayError as err:
                yield index, f"its Ray worker failed: {err}"
            else:
                yield index, None
    finally:
        if started:
            ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(
            "The grid on Ray needs Ray: pip install 'spacy-kd-ner[ray]'."
        ) from None
    return ray
