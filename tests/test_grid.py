import sys
from pathlib import Path

import pytest
import srsly
from weasel.cli.run import get_lock_entry

from spacy_kd_ner.grid import GRID_LOCK, GridError, grid_steps, run_grid

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


def test_project_paper_grid_names_per_split_commands():
    # The paper workflow's grid runs commands of project.yml once per size and
    # seed: each must exist and depend on the cell's size and seed.
    import shlex

    from weasel.util import load_project_config

    root = Path(__file__).parent.parent
    config = load_project_config(root, interpolate=False)
    commands = {c["name"]: c for c in config["commands"]}
    assert "paper-grid" in config["workflows"]["paper"]
    (script,) = commands["paper-grid"]["script"]
    args = shlex.split(script)
    names = args[args.index("--commands") + 1].split(",")
    assert names[0] == "train-teacher" and "evaluate" in names
    for name in names:
        text = str(commands[name])
        assert "${vars.labeled_size}" in text and "${vars.seed}" in text, name


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
