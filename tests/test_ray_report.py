"""scripts/ray_report.py and ray_speed.py: annotation on Ray against one
process, measured and extrapolated."""

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

import ray_report
import ray_speed
from ray_report import POOL, projection, render

RUN = {"command": "c", "commit": "abcdef1234", "dirty": False, "date": "2026-12-03"}


def stats(docs_per_second, workers=0, startup=0.0):
    return {
        "docs_annotated": 10_000,
        "docs_per_second": docs_per_second,
        "workers": workers,
        "startup_seconds": startup,
        "run": RUN,
    }


@pytest.fixture
def results(tmp_path):
    directory = tmp_path / "results" / "ray"
    directory.mkdir(parents=True)
    for name, data in {
        "single": stats(50.0),
        "ray-1": stats(48.0, 1, 10.0),
        "ray-2": stats(86.4, 2, 12.0),
        "ceiling-ray-2": stats(1_000.0, 2, 3.0),
    }.items():
        srsly.write_json(directory / f"{name}.json", data)
    return directory


def test_projection_scales_the_one_worker_rate_by_the_measured_efficiency(results):
    runs = ray_report.read_runs(results)
    # efficiency 86.4 / (2 * 48) = 0.9
    rate, hours, bound = projection(runs, 8)
    assert rate == pytest.approx(48 * 8 * 0.9)
    assert hours == pytest.approx((12.0 + POOL / rate) / 3600)
    assert bound == "teachers"
    rate, hours, bound = projection(runs, 512)
    assert (rate, bound) == (1_000.0, "driver")


def test_render_tables_and_sources(results, tmp_path):
    markdown = render(results, tmp_path)
    assert "| `ray-2` | 2 | 10,000 | 12.0 | 86.4 | 1.73x |" in markdown
    assert "| `single` | in process | 10,000 | 0.0 | 50.0 | 1.00x |" in markdown
    assert "driver's ceiling" in markdown
    assert "| 8 | 346 |" in markdown
    assert "`results/ray/`" in markdown and "`abcdef1`" in markdown


def test_report_without_runs_is_a_message(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        ray_report.app, [str(tmp_path / "empty"), str(tmp_path / "out.md")]
    )
    assert result.exit_code == 1 and "single.json" in result.output


def test_report_into_a_document_block(results, tmp_path):
    doc = tmp_path / "ray.md"
    doc.write_text("# Ray\n\n<!-- ray:start -->\nold\n<!-- ray:end -->\n")
    result = CliRunner().invoke(
        ray_report.app, [str(results), str(tmp_path / "out.md"), "--doc", str(doc)]
    )
    assert result.exit_code == 0, result.output
    assert "old" not in doc.read_text() and "86.4" in doc.read_text()


@pytest.mark.ray
def test_ray_speed_measures_each_setting(tmp_path, tiny_teacher_dir, monkeypatch):
    pytest.importorskip("ray")
    nlp = spacy.blank("en")
    pool = tmp_path / "pool.spacy"
    DocBin(docs=[nlp.make_doc(f"John went to Paris {i} .") for i in range(30)]).to_disk(
        pool
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        ray_speed.app,
        [str(tiny_teacher_dir), str(pool), "--workers", "1", "--results", "ray"],
    )
    assert result.exit_code == 0, result.output
    for name, workers in (("single", 0), ("ray-1", 1), ("ceiling-ray-1", 1)):
        data = srsly.read_json(tmp_path / "ray" / f"{name}.json")
        assert data["docs_written"] == 30 and data["workers"] == workers
    assert not (tmp_path / "training" / "ray-speed").exists()
