"""scripts/ood_report.py: the out-of-domain tables from results files."""

import pytest
import srsly
from typer.testing import CliRunner

from ood_report import app, render

RUN = {"command": "c", "commit": "abcdef1234", "dirty": False, "date": "2026-12-02"}


def scores(r, p=0.5, per_type=None):
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "micro": {"p": p, "r": r, "f": f, "support": 10},
        "per_type": {
            label: {"p": p, "r": value, "f": f, "support": 5}
            for label, value in (per_type or {}).items()
        },
        "run": RUN,
    }


def write(directory, name, data):
    directory.mkdir(parents=True, exist_ok=True)
    srsly.write_json(directory / f"{name}.json", data)


@pytest.fixture
def results(tmp_path):
    ood, conll = tmp_path / "ood", tmp_path / "ood" / "conll"
    write(ood, "teacher-750-1", scores(0.80, per_type={"PER": 0.9, "ORG": 0.6}))
    write(ood, "student-baseline-750-1-s0", scores(0.40))
    write(ood, "student-kd-pl-750-1-s0", scores(0.50))
    write(ood, "student-kd-pl-tweets-750-1-s0", scores(0.78))
    write(ood, "student-kd-pl-perturbed-750-1-s0", scores(0.60))
    write(conll, "teacher-750-1", scores(0.87, p=0.87))
    write(conll, "student-kd-pl-750-1-s0", scores(0.874, p=0.874))
    write(conll, "student-kd-pl-tweets-750-1-s0", scores(0.870, p=0.870))
    write(conll, "student-kd-pl-perturbed-750-1-s0", scores(0.860, p=0.860))
    write(ood, "teacher-150-1", scores(0.1))  # another split: not read
    return ood


def test_scores_table_has_conll_f1_and_recall_per_type(results):
    lines = render(results, "750-1", 0, results).splitlines()
    assert lines[0] == (
        "| model | CoNLL test F1 | tweets R | P | F1 | PER R | LOC R | ORG R |"
    )
    assert "| teacher | 87.00 | 80.00 | 50.00 | 61.54 | 90.00 | – | 60.00 |" in lines
    assert "| baseline (gold only) | – | 40.00 | 50.00 | 44.44 | – | – | – |" in lines
    assert not any(line.startswith("| spaCy ner") for line in lines)


def test_gaps_table_against_teacher_baseline_and_the_conll_pool_student(results):
    lines = render(results, "750-1", 0, results).splitlines()
    # tweets: 78 - 80 = -2 (within 3), (78 - 40) / (80 - 40) = 95% kept,
    # CoNLL 87.0 - 87.4 = -0.4 (within 0.5)
    assert "| kd-pl, CoNLL pool + tweets | -2.00 (met) | 95% | -0.40 (met) |" in lines
    perturbed = "| kd-pl, CoNLL pool + perturbed copy | -20.00 (missed) | 50% |"
    assert f"{perturbed} -1.40 (missed) |" in lines
    assert "| kd-pl, CoNLL pool | -30.00 (missed) | 25% |  |" in lines


def test_sources_line_names_both_directories(results):
    last = render(results, "750-1", 0, results).splitlines()[-1]
    assert last.startswith("Source: `./` teacher-750-1.json")
    assert "`conll/` teacher-750-1.json" in last and "`abcdef1`" in last


def test_conll_scores_from_another_directory(results, tmp_path):
    grid = tmp_path / "paper"
    write(grid, "teacher-750-1", scores(0.5, p=0.5))
    lines = render(results, "750-1", 0, results, conll_dir=grid).splitlines()
    assert any(line.startswith("| teacher | 50.00 |") for line in lines)


def test_a_split_without_results_is_a_message(results, tmp_path):
    result = CliRunner().invoke(
        app, [str(results), str(tmp_path / "o.md"), "--split", "300-2"]
    )
    assert result.exit_code == 1
    assert "No out-of-domain results for the split 300-2" in result.output
    assert "teacher-300-2.json" in result.output


def test_cli_writes_the_report_and_the_readme_block(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# R\n<!-- ood:start -->\nstale block\n<!-- ood:end -->\nrest\n", "utf8"
    )
    output = tmp_path / "metrics" / "ood.md"
    args = [str(results), str(output), "--readme", str(readme)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert output.read_text("utf8").startswith("# Out of domain:")
    text = readme.read_text("utf8")
    assert "stale block" not in text and "| kd-pl, CoNLL pool + tweets |" in text
    assert "| model | CoNLL test F1 |" not in text
    assert text.endswith("<!-- ood:end -->\nrest\n")


def test_files_without_run_records_are_refused(results, tmp_path):
    data = scores(0.5)
    del data["run"]
    write(results, "student-kd-pl-tweets-750-1-s0", data)
    result = CliRunner().invoke(app, [str(results), str(tmp_path / "o.md")])
    assert result.exit_code == 1 and "run record" in result.output
