"""Run project commands over a grid of labeled sizes and seeds.

Run as ``python scripts/grid.py . --commands a,b --sizes ... --seeds ...`` from
the project directory.

spaCy projects (weasel) have no loops: a command runs once per `spacy project
run`, with its `vars`. The paper's protocol repeats the per-split commands
(split, teacher, annotations, students, evaluation) for every labeled size and
seed. `run_grid` does that by running each command through weasel's own
`project_run` with the overrides `vars.labeled_size` and `vars.seed`, so the
commands in `project.yml` stay the single definition of what a step does.
Other variables (the teacher, its learning rate...) are overridden for every
cell as `spacy project run` does; a grid run inside `spacy project run` only
sees the ones its script passes on.

Weasel's lock file has one entry per command name, which each cell of the grid
would overwrite, so it cannot tell which cells are up to date. The grid keeps
its own lock (`project.grid.lock`), with weasel's lock entries (script, deps
and outputs with their checksums) keyed by command, size and seed: a cell's
command is skipped when its entry is unchanged, as `spacy project run` does
for a single command. Where other overrides send a command's outputs elsewhere
(`--vars.student_system_seed 2` trains into `...-s2`), the key also holds a
digest of those outputs, so that each set keeps its own entry and going back
to a value already run skips its cells. In weasel's `project.lock` the grid
only records the cell of the project's own `vars` (what `spacy project run`
runs); for other cells it puts the entry back as it was, so that `spacy
project run all` after a grid still skips what is up to date.

Trained models are not committed, results are: on a fresh clone neither lock
knows anything. With `results` (`--results results/paper`), a cell whose
commands' outputs under that directory all exist is finished and skipped
whole; a cell with some of them missing runs again from its first command,
since the models its later commands need are gone.

With `ray` (`--ray`), the cells run as Ray tasks side by side, each with
the CPUs and GPUs it asks for (`grid_ray.py`): a failed cell is retried, then
reported while the others go on.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import srsly
import typer
from spacy.cli._util import Arg, Opt, string_to_list
from wasabi import msg
from weasel.cli.run import get_lock_entry, project_run
from weasel.util import (
    SimpleFrozenDict,
    get_hash,
    load_project_config,
    parse_config_overrides,
    working_dir,
)

from grid_ray import RayGridOptions, log_path, run_cells_on_ray

PROJECT_LOCK = "project.lock"
GRID_LOCK = "project.grid.lock"
SIZE_VAR = "vars.labeled_size"
SEED_VAR = "vars.seed"


class GridError(ValueError):
    """The grid cannot run: an unknown command or an empty grid."""


@dataclass(frozen=True)
class GridStep:
    """One command of one cell of the grid.

    command (str): The project command.
    size (int): The labeled size.
    seed (int): The seed.
    """

    command: str
    size: int
    seed: int

    @property
    def key(self) -> str:
        """The step's key in the grid lock (see `_lock_key`)."""
        return f"{self.command}:{self.size}:{self.seed}"

    @property
    def overrides(self) -> Dict[str, Any]:
        """The project variables of this cell."""
        return {SIZE_VAR: self.size, SEED_VAR: self.seed}


def grid_steps(
    commands: Sequence[str], sizes: Sequence[int], seeds: Sequence[int]
) -> List[GridStep]:
    """The steps of the grid, cell by cell: for each size, for each seed, every
    command in order (a cell's teacher comes before its students)."""
    if not commands or not sizes or not seeds:
        raise GridError("The grid needs at least one command, size and seed.")
    return [
        GridStep(command, size, seed)
        for size in sizes
        for seed in seeds
        for command in commands
    ]


def check_overrides(project_dir: Path, overrides: Mapping[str, Any]) -> None:
    """Refuse overrides that the grid would ignore or that name no variable of
    project.yml: weasel itself would silently add a misspelt one."""
    defined = _read_yaml(project_dir / "project.yml").get("vars", {})
    for key in overrides:
        if key in (SIZE_VAR, SEED_VAR):
            raise GridError(
                f"'--{key}' cannot be overridden: the grid sets it for every cell "
                "(use --sizes and --seeds)."
            )
        name = key[len("vars.") :] if key.startswith("vars.") else None
        if name not in defined:
            raise GridError(
                f"Override '--{key}' names no variable of "
                f"{project_dir / 'project.yml'}; available: "
                + ", ".join(f"vars.{var}" for var in sorted(defined))
            )


def _command(
    project_dir: Path, step: GridStep, overrides: Mapping[str, Any]
) -> Dict[str, Any]:
    config = load_project_config(project_dir, overrides=dict(overrides))
    commands = {cmd["name"]: cmd for cmd in config.get("commands", [])}
    if step.command not in commands:
        raise GridError(
            f"Unknown command '{step.command}' in {project_dir / 'project.yml'}; "
            f"available: {', '.join(sorted(commands))}"
        )
    return commands[step.command]


def result_outputs(
    project_dir: Path,
    commands: Sequence[str],
    overrides: Mapping[str, Any],
    results: Path,
) -> List[Path]:
    """The outputs of `commands` (with `overrides`) that lie under `results`,
    as paths relative to the project directory."""
    found = []
    root = Path(results)
    for name in commands:
        command = _command(project_dir, GridStep(name, 0, 0), overrides)
        for output in command.get("outputs", []):
            path = Path(output)
            if path == root or root in path.parents:
                found.append(path)
    return found


def _read_yaml(path: Path) -> Dict[str, Any]:
    return srsly.read_yaml(path) if path.exists() else {}


def _restore_project_lock(project_dir: Path, name: str, before: Dict[str, Any]) -> None:
    """Put weasel's lock entry of command `name` back as it was in `before`."""
    lock_path = project_dir / PROJECT_LOCK
    data = _read_yaml(lock_path)
    if name in before:
        data[name] = before[name]
    else:
        data.pop(name, None)
    srsly.write_yaml(lock_path, data)


def _lock_key(project_dir: Path, step: GridStep, command: Dict[str, Any]) -> str:
    """The step's key in the grid lock: `step.key`, plus a digest of the
    command's outputs where the overrides change them."""
    outputs = command.get("outputs", [])
    if outputs == _command(project_dir, step, step.overrides).get("outputs", []):
        return step.key
    return f"{step.key}@{get_hash(outputs)[:8]}"


def _lock_hash(project_dir: Path, command: Dict[str, Any]) -> str:
    with working_dir(project_dir) as current_dir:
        return get_hash(get_lock_entry(current_dir, command))


def run_grid(
    project_dir: Path,
    commands: Sequence[str],
    sizes: Sequence[int],
    seeds: Sequence[int],
    *,
    overrides: Mapping[str, Any] = SimpleFrozenDict(),
    force: bool = False,
    results: Optional[Path] = None,
    run: Callable[..., None] = project_run,
    on_skip: Callable[[GridStep], None] = lambda step: None,
    ray: Optional[RayGridOptions] = None,
) -> List[GridStep]:
    """Run `commands` for every (size, seed), skipping steps that are up to date.

    project_dir (Path): The project directory (with project.yml).
    commands (Sequence[str]): Project commands, run in this order per cell.
    sizes (Sequence[int]): Labeled sizes (`vars.labeled_size`).
    seeds (Sequence[int]): Seeds (`vars.seed`).
    overrides (Mapping[str, Any]): Other project variables, for every cell
        (e.g. {"vars.teacher": "bert-base-cased"}).
    force (bool): Run every step, up to date or not.
    results (Optional[Path]): The committed results directory (relative to
        project_dir): a cell whose outputs under it all exist is skipped whole
        (`result_outputs`); None: only the locks decide.
    run (Callable): Runs one command with overrides (weasel's `project_run`).
    on_skip (Callable[[GridStep], None]): Called for each skipped step.
    ray (Optional[RayGridOptions]): Run the cells as Ray tasks, side by side
        (`grid_ray.py`): a cell's steps from its first one not up to date on
        (later steps read what it makes), the locks written here as each cell
        finishes (weasel's project.lock is left alone); None: one step after
        the other through `run`.
    RETURNS (List[GridStep]): The steps that ran.
    RAISES GridError: An unknown command, an empty grid, a bad override; on
        Ray, cells that failed after their retries (once the others are
        done, their locks written).
    """
    steps = grid_steps(commands, sizes, seeds)
    check_overrides(project_dir, overrides)
    cells = [(step, {**overrides, **step.overrides}) for step in steps]
    for step, step_overrides in cells:  # fail on a typo before hours of training
        _command(project_dir, step, step_overrides)
    lock_path = project_dir / GRID_LOCK
    lock: Dict[str, str] = _read_yaml(lock_path)
    ran = []
    finished = set()
    if results is not None and not force:
        cell_overrides = {(step.size, step.seed): ov for step, ov in cells}
        for cell, cell_vars in cell_overrides.items():
            outputs = result_outputs(project_dir, commands, cell_vars, results)
            if outputs and all((project_dir / path).exists() for path in outputs):
                finished.add(cell)

    def up_to_date(step: GridStep, command: Dict[str, Any], key: str) -> bool:
        return (step.size, step.seed) in finished or (
            not force and lock.get(key) == _lock_hash(project_dir, command)
        )

    if ray is not None:
        return _run_cells_on_ray(project_dir, cells, lock, up_to_date, on_skip, ray)
    for step, step_overrides in cells:
        command = _command(project_dir, step, step_overrides)
        key = _lock_key(project_dir, step, command)
        if up_to_date(step, command, key):
            on_skip(step)
            continue
        project_lock = _read_yaml(project_dir / PROJECT_LOCK)
        run(project_dir, step.command, overrides=step_overrides, force=True)
        if command["script"] != _command(project_dir, step, {})["script"]:
            _restore_project_lock(project_dir, step.command, project_lock)
        lock[key] = _lock_hash(project_dir, command)
        srsly.write_yaml(lock_path, lock)
        ran.append(step)
    return ran


def _run_cells_on_ray(
    project_dir: Path,
    cells: Sequence[Tuple[GridStep, Dict[str, Any]]],
    lock: Dict[str, str],
    up_to_date: Callable[[GridStep, Dict[str, Any], str], bool],
    on_skip: Callable[[GridStep], None],
    options: RayGridOptions,
) -> List[GridStep]:
    """`run_grid` on Ray: each cell's pending steps as one task."""
    pending: Dict[Tuple[int, int], List[Tuple[GridStep, Dict[str, Any], str]]] = {}
    for step, step_overrides in cells:
        command = _command(project_dir, step, step_overrides)
        key = _lock_key(project_dir, step, command)
        cell = (step.size, step.seed)
        if cell not in pending and up_to_date(step, command, key):
            on_skip(step)
            continue
        pending.setdefault(cell, []).append((step, command, key))
    tasks = [
        (cell, [(c["name"], c["script"], c.get("deps", [])) for _, c, _ in steps])
        for cell, steps in pending.items()
    ]
    ran: List[GridStep] = []
    failed = []
    lock_path = project_dir / GRID_LOCK
    for index, error in run_cells_on_ray(project_dir, tasks, options):
        cell = tasks[index][0]
        if error is not None:
            failed.append(f"size {cell[0]}, seed {cell[1]}: {error}")
            msg.fail(f"Cell size {cell[0]}, seed {cell[1]} failed: {error}")
            continue
        for step, command, key in pending[cell]:
            lock[key] = _lock_hash(project_dir, command)
            ran.append(step)
        srsly.write_yaml(lock_path, lock)
        msg.good(f"Cell size {cell[0]}, seed {cell[1]} done ({log_path(*cell)})")
    if failed:
        raise GridError(
            f"{len(failed)} of {len(tasks)} cells failed after "
            f"{options.retries} retries (the others are done):\n" + "\n".join(failed)
        )
    return ran


app = typer.Typer(add_completion=False)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def grid_cli(
    ctx: typer.Context,  # only read for the --vars.* overrides
    project_dir: Path = Arg(
        ..., help="Project directory (with project.yml)", exists=True, file_okay=False
    ),
    commands: str = Opt(
        ..., "--commands", "-c", help="Comma-separated project commands, in order"
    ),
    sizes: str = Opt(
        "150,300,750,1500,3000", "--sizes", "-n", help="Comma-separated labeled sizes"
    ),
    seeds: str = Opt("1,2,3", "--seeds", "-s", help="Comma-separated seeds"),
    force: bool = Opt(False, "--force", "-F", help="Run steps that are up to date"),
    results: Optional[Path] = Opt(
        None,
        "--results",
        "-r",
        help="Committed results directory: cells whose outputs under it all "
        "exist are skipped whole (a fresh clone resumes from them)",
    ),
    use_ray: bool = Opt(
        False, "--ray", help="Run the cells as Ray tasks, side by side (ray extra)"
    ),
    ray_address: Optional[str] = Opt(
        None, "--ray-address", help="With --ray: the cluster to join (default: local)"
    ),
    cpus_per_cell: float = Opt(
        1.0, "--cpus-per-cell", help="With --ray: CPUs per cell"
    ),
    gpus_per_cell: float = Opt(
        0.0, "--gpus-per-cell", help="With --ray: GPUs per cell"
    ),
    retries: int = Opt(2, "--retries", help="With --ray: retries of a failed cell"),
):
    """
    Run project COMMANDS for every labeled size and seed, as `spacy project run
    COMMAND --vars.labeled_size SIZE --vars.seed SEED` would: cell by cell, the
    commands in the given order. A step whose script, dependencies and outputs
    are unchanged since it last ran (recorded in project.grid.lock) is skipped,
    so an interrupted grid resumes where it stopped. Other project variables
    are overridden for every cell as with `spacy project run`, e.g.
    --vars.teacher packaged:all-mpnet-base-v2. With --ray, each cell is a Ray
    task with the CPUs and GPUs it asks for, cells run side by side, a failed
    cell is retried and then reported, the others go on (logs/grid/).
    """
    try:
        ray = None
        if use_ray:
            ray = RayGridOptions(ray_address, cpus_per_cell, gpus_per_cell, retries)
        ran = run_grid(
            project_dir,
            string_to_list(commands),
            string_to_list(sizes, intify=True),
            string_to_list(seeds, intify=True),
            overrides=parse_config_overrides(ctx.args),
            force=force,
            results=results,
            on_skip=_print_skip,
            ray=ray,
        )
    except (GridError, ValueError, ImportError) as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Grid done: {len(ran)} steps ran (lock: {project_dir / GRID_LOCK})")


def _print_skip(step: GridStep) -> None:
    msg.info(
        f"Skipping '{step.command}' for size {step.size}, seed {step.seed}: "
        "up to date, or its cell's results exist"
    )


if __name__ == "__main__":
    app()
