"""`kd-ner grid`: run project commands for every labeled size and seed."""

from pathlib import Path

import typer
from spacy.cli._util import Arg, Opt, string_to_list
from wasabi import msg
from weasel.util import parse_config_overrides

from ..grid import GRID_LOCK, GridError, GridStep, run_grid
from ._app import kd_app


@kd_app.command(
    "grid", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
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
):
    """
    Run project COMMANDS for every labeled size and seed, as `spacy project run
    COMMAND --vars.labeled_size SIZE --vars.seed SEED` would: cell by cell, the
    commands in the given order. A step whose script, dependencies and outputs
    are unchanged since it last ran (recorded in project.grid.lock) is skipped,
    so an interrupted grid resumes where it stopped. Other project variables
    are overridden for every cell as with `spacy project run`, e.g.
    --vars.teacher packaged:all-mpnet-base-v2.
    """
    try:
        ran = run_grid(
            project_dir,
            string_to_list(commands),
            string_to_list(sizes, intify=True),
            string_to_list(seeds, intify=True),
            overrides=parse_config_overrides(ctx.args),
            force=force,
            on_skip=_print_skip,
        )
    except GridError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Grid done: {len(ran)} steps ran (lock: {project_dir / GRID_LOCK})")


def _print_skip(step: GridStep) -> None:
    msg.info(
        f"Skipping '{step.command}' for size {step.size}, seed {step.seed}: "
        "nothing changed"
    )
