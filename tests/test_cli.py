"""The `kd-ner` commands as a user runs them: a known error prints its
message and exits with status 1, without a traceback; a bug keeps its
traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import spacy_kd_ner.cli.convert as convert_module
from spacy_kd_ner.cli import kd_app
from spacy_kd_ner.cli._util import KNOWN_ERRORS, fail_on_known_errors
from spacy_kd_ner.errors import KdNerError

ROOT = Path(__file__).parent.parent
COMMANDS = [
    "annotate",
    "benchmark",
    "context",
    "convert",
    "evaluate",
    "evaluate-annotations",
    "merge-annotations",
    "vectors",
    "word-priors",
]


def words(text: str) -> str:
    """The text with its line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture
def bad_conll(tmp_path) -> Path:
    path = tmp_path / "bad.txt"
    path.write_text("Peter NNP B-NP B-PER\nlives VBZ B-VP X-PER\n", encoding="utf8")
    return path


def test_known_error_prints_message_and_exits_1(bad_conll, tmp_path):
    result = CliRunner().invoke(
        kd_app, ["convert", str(bad_conll), str(tmp_path), "--ner-column", "3"]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    output = words(result.output)
    assert f"{bad_conll}:2:" in output and "X-PER" in output
    assert "Traceback" not in result.output


def test_known_error_through_spacy_cli(bad_conll, tmp_path):
    """`python -m spacy kd-ner convert` on a malformed file: one line on
    the terminal, no traceback, exit status 1."""
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "kd-ner", "convert", str(bad_conll)]
        + [str(tmp_path / "out.spacy"), "--ner-column", "3"],
        capture_output=True,
        text=True,
        cwd=ROOT,  # this checkout's spacy_kd_ner
    )
    assert result.returncode == 1
    assert f"{bad_conll}:2:" in words(result.stdout + result.stderr)
    assert "Traceback" not in result.stdout + result.stderr


def test_bug_keeps_its_traceback(bad_conll, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(convert_module, "convert_file", broken)
    result = CliRunner().invoke(kd_app, ["convert", str(bad_conll), str(tmp_path)])
    assert isinstance(result.exception, RuntimeError)


@pytest.mark.parametrize("error", KNOWN_ERRORS)
def test_every_known_error_class_is_caught(error, capsys):
    @fail_on_known_errors
    def command():
        raise error.__new__(error)

    with pytest.raises(SystemExit) as info:
        command()
    assert info.value.code == 1


def test_every_command_fails_on_known_errors():
    """Every kd-ner command wears the decorator (typer keeps the wrapper)."""
    commands = {c.name: c.callback for c in kd_app.registered_commands}
    assert sorted(commands) == sorted(COMMANDS)
    for name, callback in commands.items():
        assert callback.__wrapped__ is not None, name


def test_known_error_subclass_keeps_its_builtin_base():
    class Bad(KdNerError, ValueError):
        pass

    with pytest.raises(ValueError):
        raise Bad("x")


def test_evaluate_of_a_training_dir_names_model_best(tmp_path):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    for name in ("model-last", "model-best"):
        (tmp_path / "teacher").mkdir(exist_ok=True)
        nlp.to_disk(tmp_path / "teacher" / name)
    DocBin(docs=[nlp("Peter")]).to_disk(tmp_path / "gold.spacy")
    result = CliRunner().invoke(
        kd_app, ["evaluate", str(tmp_path / "teacher"), str(tmp_path / "gold.spacy")]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    output = words(result.output)
    assert f"Did you mean {tmp_path / 'teacher' / 'model-best'}?" in output


def test_every_user_error_class_is_a_known_error():
    # A command prints the message of any KdNerError; the package's error
    # classes for bad inputs all are one (a consistency check is a bug).
    import importlib
    import inspect
    import pkgutil

    import spacy_kd_ner
    from spacy_kd_ner.errors import KdNerError

    bugs = {"ConversionMismatchError"}
    found = []
    for info in pkgutil.walk_packages(spacy_kd_ner.__path__, "spacy_kd_ner."):
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name and issubclass(obj, Exception):
                found.append(name)
                if name not in bugs:
                    assert issubclass(obj, KdNerError), name
    assert {"AnnotateError", "ConllFormatError", "DocBinError", "InputError"} <= set(
        found
    )
