"""scripts/train.py: the project's teacher and student command lines."""

import sys
from pathlib import Path

import pytest
import srsly
from typer.testing import CliRunner

import commands as scripts_commands
import train


@pytest.fixture
def train_script():
    return train


def option(argv, name):
    return argv[argv.index(name) + 1]


@pytest.mark.parametrize(
    "variant,beta,gamma,pl,annotated",
    [
        ("baseline", "1.0", "0.0", "false", False),
        ("kd", "0.5", "0.5", "false", True),
        ("pl", "1.0", "0.0", "true", True),
        ("kd-pl", "0.5", "0.5", "true", True),
    ],
)
def test_student_variants(train_script, variant, beta, gamma, pl, annotated):
    argv = train_script.student_command(
        variant,
        Path("training/s"),
        labeled=Path("corpus/splits/labeled-750-1.spacy"),
        annotated=Path("corpus/annotated/750-1"),
        dev=Path("corpus/dev.spacy"),
        vectors=Path("vectors/v"),
        max_steps=3000,
        system_seed=1,
        gpu_id=-1,
    )
    assert argv[:5] == [sys.executable, "-m", "spacy", "train", "configs/student.cfg"]
    loss = "--components.kd_ner.loss"
    assert option(argv, f"{loss}.beta") == beta
    assert option(argv, f"{loss}.gamma") == gamma
    assert option(argv, f"{loss}.pseudo_labels") == pl
    assert option(argv, "--system.seed") == "1"
    if annotated:
        assert option(argv, "--paths.train") == "corpus/annotated/750-1/labeled"
        assert option(argv, "--paths.unlabeled") == "corpus/annotated/750-1/unlabeled"
    else:
        assert option(argv, "--paths.train") == "corpus/splits/labeled-750-1.spacy"
        assert "--paths.unlabeled" not in argv


def test_run_names(train_script):
    assert train_script.run_name("teacher", 750, 1, "", None) == "teacher-750-1"
    assert (
        train_script.run_name("student-kd-pl", 150, 2, "ensemble", 0)
        == "student-kd-pl-ensemble-150-2-s0"
    )


def invoke(train_script, monkeypatch, args, tmp_path):
    """The commands that `scripts/train.py ARGS` runs, without running them
    (each "takes" 12 s), in tmp_path."""
    commands = []

    def run(argv):
        commands.append(argv)
        return 12.0

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_script, "run", run)
    monkeypatch.setattr(scripts_commands, "run", run)
    result = CliRunner().invoke(train_script.app, args)
    assert result.exit_code == 0, result.output
    return commands


def test_students_runs_train_then_evaluate(train_script, monkeypatch, tmp_path):
    commands = invoke(
        train_script,
        monkeypatch,
        ["students", "baseline,kd-pl", "--size", "30", "--seed", "1", "--vectors",
         "v", "--system-seed", "2", "--test", "t.spacy", "--results", "r",
         "--max-steps", "48"],
        tmp_path,
    )  # fmt: skip
    assert [c[3] for c in commands] == ["train", "kd-ner", "train", "kd-ner"]
    assert option(commands[0], "--output") == "training/student-baseline-30-1-s2"
    assert commands[1][5:8] == [
        "training/student-baseline-30-1-s2/model-best",
        "t.spacy",
        "--output",
    ]
    assert option(commands[3], "--output") == "r/student-kd-pl-30-1-s2.json"
    timing = srsly.read_json(tmp_path / "r/train/student-kd-pl-30-1-s2.json")
    assert timing["seconds"] == 12.0 and timing["seconds_per_step"] == 0.25
    assert timing["train_command"].startswith("python -m spacy train ")
    assert timing["run"]["commit"] is None  # tmp_path is no git checkout


def test_unknown_variant_is_a_message(train_script):
    result = CliRunner().invoke(
        train_script.app, ["students", "kd,typo", "--size", "1", "--seed", "1",
                           "--vectors", "v"]
    )  # fmt: skip
    assert result.exit_code == 1
    assert "typo" in result.output and "Traceback" not in result.output


def test_teacher_names_by_system_seed(train_script, monkeypatch, tmp_path):
    commands = invoke(
        train_script,
        monkeypatch,
        ["teacher", "--size", "750", "--seed", "1", "--weights", "w",
         "--system-seeds", "0,3", "--tag", "context"],
        tmp_path,
    )  # fmt: skip
    outputs = [option(c, "--output") for c in commands]
    assert outputs == [
        "training/teacher-context-750-1",
        "training/teacher-context-750-1-s3",
    ]


def test_teacher_precision(train_script, monkeypatch, tmp_path):
    commands = invoke(
        train_script,
        monkeypatch,
        ["teacher", "--size", "750", "--seed", "1", "--weights", "w",
         "--precision", "fp32"],
        tmp_path,
    )  # fmt: skip
    assert option(commands[0], "--system.precision") == "fp32"


def test_students_side_by_side(monkeypatch, capfd):
    """Two sequences at a time: each line prefixed by its name, OMP threads
    split between them, and a failure reported after the others finish."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(scripts_commands.os, "cpu_count", lambda: 4)
    show = "import os; print(os.environ['OMP_NUM_THREADS'])"
    sequences = {
        "a": [[sys.executable, "-c", show], [sys.executable, "-c", "print('a2')"]],
        "b": [[sys.executable, "-c", "import sys; sys.exit(3)"]],
        "c": [[sys.executable, "-c", "print('c1')"]],
    }
    with pytest.raises(SystemExit) as exit_info:
        scripts_commands.run_side_by_side(sequences, jobs=2)
    assert exit_info.value.code == 3
    out = capfd.readouterr().out
    assert "[a] 2\n" in out and "[a] a2\n" in out and "[c] c1\n" in out
    assert "[b] Command failed with exit code 3" in out


def test_training_record_has_the_best_models_dev_scores(
    train_script, monkeypatch, tmp_path
):
    best = tmp_path / "training" / "spacy-ner-30-1" / "model-best"
    best.mkdir(parents=True)
    performance = {"ents_f": 0.8, "ents_p": 0.9, "ents_r": 0.7, "ner_loss": 3.0}
    srsly.write_json(best / "meta.json", {"performance": performance})
    commands = invoke(
        train_script,
        monkeypatch,
        ["spacy-ner", "--size", "30", "--seed", "1", "--vectors", "v",
         "--test", "t.spacy", "--results", "r", "--max-steps", "24"],
        tmp_path,
    )  # fmt: skip
    assert option(commands[0], "--paths.train") == "corpus/splits/labeled-30-1.spacy"
    assert option(commands[1], "--output") == "r/spacy-ner-30-1.json"
    record = srsly.read_json(tmp_path / "r/train/spacy-ner-30-1.json")
    assert record["dev"] == pytest.approx({"ents_p": 0.9, "ents_r": 0.7, "ents_f": 0.8})
    assert record["seconds_per_step"] == 0.5


def test_student_pool_overrides_the_annotated_unlabeled(train_script):
    settings = dict(
        labeled=Path("l.spacy"),
        annotated=Path("corpus/annotated/750-1"),
        dev=Path("d.spacy"),
        vectors=Path("v"),
        max_steps=10,
        system_seed=0,
        gpu_id=-1,
    )
    pooled = train_script.student_command(
        "kd-pl", Path("o"), pool=Path("corpus/annotated-ood/tweets/750-1"), **settings
    )
    assert option(pooled, "--paths.train") == "corpus/annotated/750-1/labeled"
    assert option(pooled, "--paths.unlabeled") == "corpus/annotated-ood/tweets/750-1"
    baseline = train_script.student_command(
        "baseline", Path("o"), pool=Path("p"), **settings
    )
    assert "--paths.unlabeled" not in baseline
