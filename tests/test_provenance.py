"""The run record that metrics files carry."""

import json
import subprocess
import sys
import types

from spacy_kd_ner.evaluation import write_metrics
from spacy_kd_ner.provenance import run_record


def test_run_record_in_a_git_checkout(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["kd-ner", "evaluate", "model dir", "x.spacy"])
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    record = run_record()
    assert record["commit"] == head
    assert record["dirty"] is False
    assert record["command"] == "kd-ner evaluate 'model dir' x.spacy"
    assert record["machine"]["cores"] >= 1
    assert record["machine"]["torch_threads"] >= 1
    assert record["date"].endswith("+00:00")
    (tmp_path / "f.txt").write_text("b")
    assert run_record()["dirty"] is True


def test_run_record_outside_git(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    record = run_record()
    assert record["commit"] is None
    assert record["dirty"] is None


def test_write_metrics_adds_the_run(tmp_path):
    out = tmp_path / "m.json"
    write_metrics({"micro": {"f": 0.5}}, out)
    loaded = json.loads(out.read_text())
    assert loaded["micro"] == {"f": 0.5}
    assert set(loaded["run"]) == {"command", "commit", "dirty", "date", "machine"}


def test_run_record_of_a_module_run(tmp_path):
    """`python -m spacy kd-ner ...` is recorded as such, not as __main__.py."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__main__.py").write_text(
        "from spacy_kd_ner.provenance import run_record\n"
        "print(run_record()['command'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "pkg", "evaluate", "a b"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "python -m pkg evaluate 'a b'"
