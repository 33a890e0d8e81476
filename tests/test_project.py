"""project.yml: what its workflows promise, checked on the file itself."""

import re
import shlex
from pathlib import Path

import pytest
from weasel.util import load_project_config

from report import parse_run_name

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def config() -> dict:
    return load_project_config(ROOT, interpolate=False)


@pytest.fixture(scope="module")
def commands(config) -> dict:
    return {c["name"]: c for c in config["commands"]}


def test_workflows_name_commands(config, commands):
    for workflow, steps in config["workflows"].items():
        for step in steps:
            assert step in commands, (workflow, step)


def test_scripts_exist(commands):
    for command in commands.values():
        for line in command["script"]:
            for script in re.findall(r"python (scripts/\S+\.py)", line):
                assert (ROOT / script).is_file(), (command["name"], script)


def test_one_spelling_of_the_cli(commands):
    lines = [line for c in commands.values() for line in c["script"]]
    assert not [line for line in lines if "spacy_kd_ner" in line]
    assert any(line.startswith("python -m spacy kd-ner ") for line in lines)


def test_paper_grid_passes_on_the_vars_of_its_commands(commands):
    # `spacy project run paper --vars.teacher X` must reach the cells: the grid
    # passes on every variable its commands use but size and seed, and writes
    # the cells' results under results/paper (and skips the cells whose results
    # exist there), with the students of vars.paper_variants.
    (script,) = commands["paper-grid"]["script"]
    args = shlex.split(script)
    names = args[args.index("--commands") + 1].split(",")
    used = set()
    for name in names:
        text = str(commands[name]["script"])
        assert "${vars.labeled_size}" in text and "${vars.seed}" in text, name
        used.update(re.findall(r"\$\{vars\.(\w+)\}", text))
    assert {"teacher", "student_system_seed", "results"} <= used
    assert args[args.index("--vars.results") + 1] == "results/paper"
    assert args[args.index("--results") + 1] == "results/paper"
    variants = args[args.index("--vars.student_variants") + 1]
    assert variants == "${vars.paper_variants}"
    for var in used - {"labeled_size", "seed", "results", "student_variants"}:
        assert f"--vars.{var} ${{vars.{var}}}" in script, var


def test_every_model_runs_on_gpu_id(commands):
    # `--vars.gpu_id 0` puts every training, annotation and evaluation on the
    # GPU, the smoke workflow's too (tests/test_gpu.py checks the pipe there).
    runs = ("spacy train ", "kd-ner annotate ", "kd-ner evaluate ", "scripts/train.py")
    lines = [
        (name, line)
        for name, command in commands.items()
        for line in command["script"]
        if any(run in line for run in runs) or "scripts/annotate.py split" in line
    ]
    assert len(lines) > 15
    for name, line in lines:
        assert "--gpu-id ${vars.gpu_id}" in line, (name, line)


def test_students_outputs_are_report_run_names(commands):
    # A second run of a split's students (--vars.student_system_seed 1) writes
    # names that the report reads as a second run of the same student.
    values = {"labeled_size": "750", "seed": "2", "student_system_seed": "3"}
    outputs = commands["students"]["outputs"]
    assert len(outputs) == 2
    for output, variant in zip(outputs, ("baseline", "kd-pl")):
        name = Path(output).stem
        for var, value in values.items():
            name = name.replace(f"${{vars.{var}}}", value)
        assert parse_run_name(name) == (f"student-{variant}", 750, 2, 3)


def test_docs_project_md_is_what_spacy_project_document_writes(tmp_path):
    # The command table in docs/project.md is rendered from project.yml:
    # `python -m spacy project document . --output docs/project.md`.
    from weasel.cli.document import project_document

    rendered = tmp_path / "project.md"
    project_document(ROOT, rendered)
    assert (ROOT / "docs" / "project.md").read_text() == rendered.read_text()


def test_no_paths_joined_by_interpolation():
    # Two bare "${vars.x}" items in a row come out of weasel's interpolation
    # as one "a, b" path (a missing dependency, or an output never checked).
    interpolated = load_project_config(ROOT)
    for command in interpolated["commands"]:
        for path in [*command.get("deps", []), *command.get("outputs", [])]:
            assert ", " not in path, (command["name"], path)
