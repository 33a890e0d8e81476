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


@pytest.mark.parametrize(
    "grid,a_var", [("paper-grid", "teacher"), ("paper-reseed", "student_system_seed")]
)
def test_project_paper_grids_pass_on_the_vars_of_their_commands(grid, a_var):
    # `spacy project run paper --vars.teacher X` must reach the cells: each
    # grid's script passes on every variable its commands use, but size and seed.
    import re

    from weasel.util import load_project_config

    root = Path(__file__).parent.parent
    config = load_project_config(root, interpolate=False)
    commands = {c["name"]: c for c in config["commands"]}
    (script,) = commands[grid]["script"]
    names = script.split("--commands ")[1].split()[0].split(",")
    used = set()
    for name in names:
        used.update(re.findall(r"\$\{vars\.(\w+)\}", str(commands[name]["script"])))
    assert a_var in used
    for var in used - {"labeled_size", "seed"}:
        assert f"--vars.{var} ${{vars.{var}}}" in script, var


def test_project_runs_every_model_on_gpu_id():
    # `--vars.gpu_id 0` must put every training, annotation and evaluation on
    # the GPU, the smoke workflow's too (tests/test_gpu.py checks the pipe
    # there).
    from weasel.util import load_project_config

    root = Path(__file__).parent.parent
    config = load_project_config(root, interpolate=False)
    runs = ("spacy train ", "spacy_kd_ner annotate ", "spacy_kd_ner evaluate ")
    lines = [
        (command["name"], line)
        for command in config["commands"]
        for line in command.get("script", [])
        if any(run in line for run in runs)
    ]
    assert len(lines) > 40
    for name, line in lines:
        assert line.endswith("--gpu-id ${vars.gpu_id}"), (name, line)


def test_project_paper_reseeds_every_student_of_the_grid_after_it():
    import shlex

    from weasel.util import load_project_config

    root = Path(__file__).parent.parent
    config = load_project_config(root, interpolate=False)
    commands = {c["name"]: c for c in config["commands"]}
    paper = config["workflows"]["paper"]
    assert paper.index("paper-reseed") == paper.index("paper-grid") + 1
    grids = {}
    for name in ("paper-grid", "paper-reseed"):
        args = shlex.split(commands[name]["script"][0])
        grids[name] = args
        assert args[args.index("--sizes") + 1] == "${vars.paper_sizes}"
        assert args[args.index("--seeds") + 1] == "${vars.paper_seeds}"
    trained = grids["paper-grid"][grids["paper-grid"].index("--commands") + 1]
    reseeded = grids["paper-reseed"][grids["paper-reseed"].index("--commands") + 1]
    students = [c for c in trained.split(",") if c.startswith("train-student-")]
    assert len(students) == 4
    assert reseeded.split(",") == [c.replace("train-", "reseed-", 1) for c in students]


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


def test_project_reseed_students_differ_only_in_system_seed_and_names():
    # reseed-student-<variant> must train what train-student-<variant> trains,
    # with another system seed, into names that the report reads as a second
    # run of the same student (`<model>-<size>-<seed>-s<k>`).
    from weasel.util import load_project_config

    from report import parse_run_name

    root = Path(__file__).parent.parent
    config = load_project_config(root, interpolate=False)
    commands = {c["name"]: c for c in config["commands"]}
    variants = ("baseline", "kd", "pl", "kd-pl")
    assert config["workflows"]["reseed"] == [f"reseed-student-{v}" for v in variants]
    cell = "${vars.labeled_size}-${vars.seed}"
    suffix = "-s${vars.student_system_seed}"
    values = {"${vars.labeled_size}": "750", "${vars.seed}": "2"}
    values["${vars.student_system_seed}"] = "3"
    for variant in variants:
        command = commands[f"reseed-student-{variant}"]
        train, evaluate = command["script"]
        (original,) = commands[f"train-student-{variant}"]["script"]
        name = f"student-{variant}-{cell}"
        expected = original.replace(f"training/{name} ", f"training/{name}{suffix} ")
        expected = expected.replace(
            " --gpu-id", " --system.seed ${vars.student_system_seed} --gpu-id"
        )
        assert train == expected, variant
        model, metrics = command["outputs"]
        assert evaluate.split() == [
            "python",
            "-m",
            "spacy_kd_ner",
            "evaluate",
            model,
            "corpus/test.spacy",
            "--output",
            metrics,
            "--gpu-id",
            "${vars.gpu_id}",
        ]
        for var, value in values.items():
            metrics = metrics.replace(var, value)
        assert parse_run_name(Path(metrics).stem) == (f"student-{variant}", 750, 2, 3)
