"""scripts/annotate.py and scripts/commands.py: a split's annotation commands."""

import sys

import pytest
from typer.testing import CliRunner

import annotate
import commands


def invoke(monkeypatch, args):
    ran = []
    monkeypatch.setattr(annotate, "run", lambda argv: ran.append(argv[4:]))
    result = CliRunner().invoke(annotate.app, args)
    assert result.exit_code == 0, result.output
    return ran


def test_split_annotates_labeled_and_pool(monkeypatch):
    ran = invoke(
        monkeypatch,
        ["split", "--size", "30", "--seed", "2", "--teachers", "a,b", "--output", "o"],
    )
    assert ran == [
        ["annotate", "a,b", "corpus/splits/labeled-30-2.spacy", "o/30-2/labeled",
         "--overwrite", "--gpu-id", "-1"],
        ["annotate", "a,b", "corpus/splits/unlabeled.spacy", "o/30-2/unlabeled",
         "--overwrite", "--gpu-id", "-1"],
    ]  # fmt: skip


def test_split_writes_stats_under_results(monkeypatch):
    args = ["split", "--size", "30", "--seed", "2", "--teachers", "t", "--output"]
    ran = invoke(monkeypatch, [*args, "o", "--results", "r"])
    stats = [argv[argv.index("--stats") + 1] for argv in ran]
    assert stats == ["r/annotate/30-2-labeled.json", "r/annotate/30-2-unlabeled.json"]


def test_split_with_test_in_context(monkeypatch):
    args = ["split", "--size", "30", "--seed", "2", "--teachers", "t", "--output"]
    ran = invoke(monkeypatch, [*args, "o", "--test", "--context-window", "2"])
    assert [argv[2] for argv in ran] == [
        "corpus/splits/labeled-30-2.spacy",
        "corpus/splits/unlabeled.spacy",
        "corpus/test.spacy",
    ]
    sources = [argv[argv.index("--context-source") + 1] for argv in ran]
    assert sources == ["corpus/train.spacy", "corpus/train.spacy", "corpus/test.spacy"]


def test_merge_averages_each_part(monkeypatch):
    args = ["merge", "--size", "30", "--seed", "2", "--inputs", "x,y", "--output", "m"]
    ran = invoke(monkeypatch, args)
    assert ran[2] == ["merge-annotations", "x/30-2/test,y/30-2/test", "m/30-2/test",
                      "--overwrite"]  # fmt: skip


def test_run_stops_with_the_commands_exit_code(capsys):
    commands.run([sys.executable, "-c", "print('hi')"])
    assert "python -c" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        commands.run([sys.executable, "-c", "raise SystemExit(3)"])
    assert exit_info.value.code == 3
