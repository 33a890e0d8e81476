import sys
from pathlib import Path

import pytest
import srsly
from weasel.cli.run import get_lock_entry

from grid import GRID_LOCK, GridError, grid_steps, run_grid

WRITE = (
    "{python} -c \"import pathlib; p = pathlib.Path('out/${{vars.labeled_size}}-"
    "${{vars.seed}}.txt'); p.parent.mkdir(exist_ok=True); "
    "p.write_text(pathlib.Path('data.txt').read_text() + ' ${{vars.seed}}')\""
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data.txt").write_text("data")
    config = {
        "vars": {"labeled_size": 750, "seed": 1},
        "commands": [
            {
                "name": "write",
                "script": [WRITE.format(python=sys.executable)],
                "deps": ["data.txt"],
                "outputs": ["out/${vars.labeled_size}-${vars.seed}.txt"],
            }
        ],
    }
    srsly.write_yaml(tmp_path / "project.yml", config)
    return tmp_path


def test_grid_steps_order():
    steps = grid_steps(["a", "b"], [150, 300], [1, 2])
    assert [s.key for s in steps[:4]] == ["a:150:1", "b:150:1", "a:150:2", "b:150:2"]
    assert len(steps) == 8
    assert steps[0].overrides == {"vars.labeled_size": 150, "vars.seed": 1}


def test_grid_steps_empty():
    with pytest.raises(GridError):
        grid_steps(["a"], [], [1])


def test_run_grid_runs_every_cell_then_skips(project: Path):
    ran = run_grid(project, ["write"], [150, 300], [1, 2])
    assert len(ran) == 4
    assert (project / "out" / "300-2.txt").read_text() == "data 2"
    assert sorted(srsly.read_yaml(project / GRID_LOCK)) == [
        "write:150:1",
        "write:150:2",
        "write:300:1",
        "write:300:2",
    ]
    skipped: list = []
    ran = run_grid(project, ["write"], [150, 300], [1, 2], on_skip=skipped.append)
    assert ran == []
    assert len(skipped) == 4
    assert len(run_grid(project, ["write"], [150], [1], force=True)) == 1


def test_run_grid_reruns_changed_cells(project: Path):
    run_grid(project, ["write"], [150, 300], [1])
    (project / "out" / "300-1.txt").unlink()
    ran = run_grid(project, ["write"], [150, 300], [1])
    assert [s.key for s in ran] == ["write:300:1"]
    (project / "data.txt").write_text("new data")
    assert len(run_grid(project, ["write"], [150, 300], [1])) == 2
    assert (project / "out" / "150-1.txt").read_text() == "new data 1"


def test_run_grid_unknown_command_fails_before_running(project: Path):
    with pytest.raises(GridError, match="Unknown command 'trian'"):
        run_grid(project, ["write", "trian"], [150], [1])
    assert not (project / "out").exists()


@pytest.fixture
def marked_project(project: Path) -> Path:
    """The project with a second variable, `mark`, that the script writes."""
    config = srsly.read_yaml(project / "project.yml")
    config["vars"]["mark"] = "plain"
    config["commands"][0]["script"] = [
        WRITE.format(python=sys.executable).replace(
            "${vars.seed}')", "${vars.seed} ${vars.mark}')"
        )
    ]
    srsly.write_yaml(project / "project.yml", config)
    return project


def test_run_grid_overrides_other_vars_in_every_cell(marked_project: Path):
    run_grid(marked_project, ["write"], [150, 300], [1])
    assert (marked_project / "out" / "150-1.txt").read_text() == "data 1 plain"
    ran = run_grid(
        marked_project, ["write"], [150, 300], [1], overrides={"vars.mark": "teal"}
    )
    assert len(ran) == 2  # the scripts changed, so no cell is up to date
    for size in (150, 300):
        text = (marked_project / "out" / f"{size}-1.txt").read_text()
        assert text == "data 1 teal"


def test_run_grid_keeps_an_entry_per_set_of_outputs(project: Path):
    # A variable that sends the outputs elsewhere (student_system_seed in
    # project.yml) gets lock entries of its own: going back to a value
    # already run skips its cells.
    config = srsly.read_yaml(project / "project.yml")
    config["vars"]["run"] = "a"
    command = config["commands"][0]
    run = ("${vars.seed}.txt", "${vars.seed}-${vars.run}.txt")
    command["script"] = [command["script"][0].replace(*run)]
    command["outputs"] = [command["outputs"][0].replace(*run)]
    srsly.write_yaml(project / "project.yml", config)
    assert len(run_grid(project, ["write"], [150], [1, 2])) == 2
    b = {"vars.run": "b"}
    assert len(run_grid(project, ["write"], [150], [1, 2], overrides=b)) == 2
    assert (project / "out" / "150-2-b.txt").read_text() == "data 2"
    assert run_grid(project, ["write"], [150], [1, 2]) == []
    assert run_grid(project, ["write"], [150], [1, 2], overrides=b) == []
    keys = sorted(srsly.read_yaml(project / GRID_LOCK))
    assert [key.split("@")[0] for key in keys] == ["write:150:1"] * 2 + [
        "write:150:2"
    ] * 2
    assert [key for key in keys if "@" not in key] == ["write:150:1", "write:150:2"]
    (project / "out" / "150-1-b.txt").unlink()
    ran = run_grid(project, ["write"], [150], [1, 2], overrides=b)
    assert [(step.size, step.seed) for step in ran] == [(150, 1)]


@pytest.mark.parametrize(
    "overrides,error",
    [
        ({"vars.seed": 3}, "--vars.seed' cannot be overridden"),
        ({"vars.labeled_size": 3}, "--vars.labeled_size' cannot be overridden"),
        ({"vars.mrak": "x"}, "'--vars.mrak' names no variable .*vars.mark"),
        ({"training.seed": 1}, "'--training.seed' names no variable"),
    ],
)
def test_run_grid_refuses_overrides_it_cannot_apply(
    marked_project: Path, overrides: dict, error: str
):
    with pytest.raises(GridError, match=error):
        run_grid(marked_project, ["write"], [150], [1], overrides=overrides)
    assert not (marked_project / "out").exists()


def test_grid_cli_passes_vars_overrides(marked_project: Path):
    from typer.testing import CliRunner

    from grid import app

    args = [str(marked_project), "-c", "write", "-n", "150", "-s", "2"]
    result = CliRunner().invoke(app, [*args, "--vars.mark", "teal"])
    assert result.exit_code == 0, result.output
    assert (marked_project / "out" / "150-2.txt").read_text() == "data 2 teal"
    result = CliRunner().invoke(app, [*args, "--vars.seed", "5"])
    assert result.exit_code == 1
    assert "cannot be overridden" in result.output


def test_run_grid_keeps_project_lock_for_the_default_cell(project: Path):
    # `spacy project run write` (the project's vars: 750, seed 1), then a grid:
    # weasel's project.lock must still describe the default cell afterwards.
    from weasel.cli.run import project_run

    project_run(project, "write")
    lock_path = project / "project.lock"
    before = srsly.read_yaml(lock_path)["write"]
    run_grid(project, ["write"], [150, 300], [1])
    assert srsly.read_yaml(lock_path)["write"] == before
    # The default cell itself is recorded, as `spacy project run` would.
    (project / "data.txt").write_text("changed")
    run_grid(project, ["write"], [750], [1])
    after = srsly.read_yaml(lock_path)["write"]
    assert after != before
    assert after["deps"] == get_lock_entry(project, after_command(project))["deps"]


def after_command(project: Path) -> dict:
    from weasel.util import load_project_config

    config = load_project_config(project)
    return next(c for c in config["commands"] if c["name"] == "write")


@pytest.fixture
def two_step_project(project: Path) -> Path:
    """`write` (a model, not kept) then `score` (a result under results/)."""
    config = srsly.read_yaml(project / "project.yml")
    score = (
        f"{sys.executable} -c \"import pathlib; p = pathlib.Path('results/"
        "${vars.labeled_size}-${vars.seed}.json'); p.parent.mkdir(exist_ok=True); "
        "p.write_text(pathlib.Path('out/${vars.labeled_size}-${vars.seed}.txt')"
        '.read_text())"'
    )
    config["commands"].append(
        {
            "name": "score",
            "script": [score],
            "deps": ["out/${vars.labeled_size}-${vars.seed}.txt"],
            "outputs": ["results/${vars.labeled_size}-${vars.seed}.json"],
        }
    )
    srsly.write_yaml(project / "project.yml", config)
    return project


def test_run_grid_skips_cells_whose_results_exist_on_a_fresh_clone(
    two_step_project: Path,
):
    project = two_step_project
    run_grid(project, ["write", "score"], [150, 300], [1], results=Path("results"))
    # A fresh clone: the results are committed, the models and locks are not.
    for path in [project / GRID_LOCK, project / "project.lock", project / "out"]:
        if path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        elif path.exists():
            path.unlink()
    (project / "results" / "300-1.json").unlink()
    skipped: list = []
    ran = run_grid(
        project,
        ["write", "score"],
        [150, 300],
        [1],
        results=Path("results"),
        on_skip=skipped.append,
    )
    # The finished cell is skipped whole; the other runs from its first step.
    assert [s.key for s in ran] == ["write:300:1", "score:300:1"]
    assert [s.key for s in skipped] == ["write:150:1", "score:150:1"]
    assert (project / "results" / "300-1.json").read_text() == "data 1"
    # Without `results` only the locks decide: the 150 cell runs again.
    ran = run_grid(project, ["write", "score"], [150, 300], [1])
    assert [s.key for s in ran] == ["write:150:1", "score:150:1"]
