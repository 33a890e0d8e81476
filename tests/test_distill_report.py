"""scripts/distill_report.py: a distill run's tables from its results files."""

import pytest
import srsly

from distill_report import render
from report import replace_results_block

RUN = {"command": "c", "commit": "abcdef1234", "dirty": False, "date": "2026-12-02"}


def metrics(f, per_type):
    return {
        "micro": {"p": f, "r": f, "f": f, "support": sum(per_type.values())},
        "per_type": {
            label: {"p": f, "r": f, "f": f, "support": n}
            for label, n in per_type.items()
        },
        "n_docs": 3,
        "run": RUN,
    }


def test_render_tables_with_types_by_gold_count(tmp_path):
    srsly.write_json(
        tmp_path / "teacher.json", metrics(0.5, {"geo-loc": 2, "person": 5})
    )
    srsly.write_json(tmp_path / "student-kd-pl.json", metrics(0.25, {"person": 5}))
    srsly.write_json(
        tmp_path / "agreement-unlabeled.json", metrics(0.75, {"person": 4})
    )
    markdown = render(tmp_path, tmp_path)
    lines = markdown.splitlines()
    assert lines[0] == "|  | gold | teacher | kd-pl |"
    assert "| **micro F1** | 7 | 50.00 | 25.00 |" in lines
    person, geo = (
        lines.index("| person F1 | 5 | 50.00 | 25.00 |"),
        lines.index("| geo-loc F1 | 2 | 50.00 | – |"),
    )
    assert person < geo
    assert "| unlabeled pool | 3 | 4 | 75.00 | 75.00 | 75.00 |" in lines
    assert lines[-1].startswith("Source: `./` teacher.json, student-kd-pl.json")
    assert "`abcdef1`" in lines[-1]


def test_render_refuses_files_without_run_records(tmp_path):
    data = metrics(0.5, {"person": 1})
    del data["run"]
    srsly.write_json(tmp_path / "teacher.json", data)
    with pytest.raises(ValueError, match="no run record"):
        render(tmp_path, tmp_path)
    with pytest.raises(ValueError, match="No distill metrics"):
        render(tmp_path / "empty", tmp_path)


def test_named_blocks_leave_the_others_alone():
    text = (
        "a\n<!-- results:start -->\nx\n<!-- results:end -->\n"
        "<!-- w:start -->\ny\n<!-- w:end -->\n"
    )
    new = replace_results_block(text, "Z", "README.md", name="w")
    assert new == text.replace("w:start -->\ny\n", "w:start -->\n\nZ\n\n")
    with pytest.raises(ValueError, match="<!-- v:start -->"):
        replace_results_block(text, "Z", "README.md", name="v")


def test_render_dev_scores_without_a_test_set(tmp_path):
    srsly.write_json(tmp_path / "agreement-unlabeled.json", metrics(0.5, {"x": 2}))
    (tmp_path / "train").mkdir()
    dev = {"ents_p": 0.5, "ents_r": 0.25, "ents_f": 1 / 3}
    srsly.write_json(tmp_path / "train" / "student-kd-pl.json", {"dev": dev})
    lines = render(tmp_path, tmp_path).splitlines()
    assert "| kd-pl | 50.00 | 25.00 | 33.33 |" in lines
    assert not any(line.startswith("|  | gold") for line in lines)  # no test


def test_readme_block_has_micro_scores_only(tmp_path):
    srsly.write_json(tmp_path / "teacher.json", metrics(0.5, {"person": 5}))
    lines = render(tmp_path, tmp_path, full=False).splitlines()
    assert "| **micro F1** | 5 | 50.00 |" in lines
    assert not any("person F1" in line for line in lines)
