"""The report: F1 mean/std over seeds, best student per type, other runs,
speed table and ratios, PNG plots, errors on bad inputs; the README's tables
from a results directory with run records."""

import re

import pytest
import srsly
from typer.testing import CliRunner

from report import (
    MODEL_TITLES,
    MODELS,
    RESULTS_END,
    RESULTS_START,
    Stats,
    app,
    best_student,
    find_student,
    parse_run_name,
    read_runs,
    read_speed,
    render_headline,
    render_sources,
    render_speed_section,
    render_speed_table,
    replace_results_block,
    speed_ratios,
    summarize_f1,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# F1 at size 100, seed 1; seed 2 adds 0.02, size 200 adds 0.05.
BASE_F1 = {
    "teacher": 0.80,
    "spacy-ner": 0.72,
    "student-baseline": 0.70,
    "student-kd": 0.75,
    "student-pl": 0.74,
    "student-kd-pl": 0.78,
}
SIZES = (100, 200)
SEEDS = (1, 2)


def f1_of(model, size, seed):
    return BASE_F1[model] + (0.05 if size == 200 else 0.0) + 0.02 * (seed - 1)


def make_metrics(f1, per_type=None):
    per_type = per_type or {"LOC": f1, "PER": f1 - 0.10}
    return {
        "micro": {"p": f1 + 0.01, "r": f1 - 0.01, "f": f1, "support": 100},
        "macro": {"p": f1, "r": f1, "f": f1, "support": 100},
        "per_type": {
            label: {"p": f, "r": f, "f": f, "support": 50}
            for label, f in per_type.items()
        },
        "spacy": {"ents_p": f1, "ents_r": f1, "ents_f": f1, "ents_per_type": {}},
        "n_docs": 10,
    }


def speed_result(wps, n_params, **extra):
    result = {
        "batch_sizes": [int(bs) for bs in wps],
        "words_per_second": {str(bs): v for bs, v in wps.items()},
        "n_threads": 1,
        "n_params": n_params,
        "n_vectors": 500_000,
        "size_mb": 12.5,
        "baseline_rss_mb": 400.0,
        "peak_rss_mb": 480.0,
    }
    result.update(extra)
    return result


SPEED = {
    "student": speed_result({1: 1000.0, 32: 8000.0}, 3_000_000),
    "teacher": speed_result({1: 100.0, 32: 200.0}, 22_700_000),
    "spacy-ner": speed_result({1: 2000.0, 32: 8000.0}, 1_500_000),
    "bert-base-random": speed_result({1: 20.0, 32: 100.0}, 109_500_000),
}


@pytest.fixture
def metrics_dir(tmp_path):
    path = tmp_path / "metrics"
    path.mkdir()
    for model in MODELS:
        for size in SIZES:
            for seed in SEEDS:
                metrics = make_metrics(f1_of(model, size, seed))
                srsly.write_json(path / f"{model}-{size}-{seed}.json", metrics)
    srsly.write_json(path / "student-full.json", make_metrics(0.875))
    srsly.write_json(path / "speed.json", SPEED)
    return path


def row_of(markdown, first_cell, after=""):
    """The cells of the first table row that starts with `first_cell`, after
    the text `after`."""
    for line in markdown[markdown.index(after) :].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"No row {first_cell!r} in:\n{markdown}")


@pytest.mark.parametrize(
    "name,expected",
    [
        ("student-kd-pl-750-1", ("student-kd-pl", 750, 1, 0)),
        ("student-kd-750-12", ("student-kd", 750, 12, 0)),
        ("student-pl-150-3", ("student-pl", 150, 3, 0)),
        ("spacy-ner-3000-2", ("spacy-ner", 3000, 2, 0)),
        ("teacher-300-1", ("teacher", 300, 1, 0)),
        ("student-kd-pl-750-1-s1", ("student-kd-pl", 750, 1, 1)),
        ("student-baseline-750-3-s12", ("student-baseline", 750, 3, 12)),
        ("student-full", None),
        ("teacher-750", None),
        ("student-kd-pl-750-x", None),
        ("student-kd-pl-750-1-s", None),
        ("student-kd-pl-750-1-1", None),
        ("other-750-1", None),
    ],
)
def test_parse_run_name(name, expected):
    assert parse_run_name(name) == expected


def test_stats():
    stats = Stats.of([0.80, 0.82])
    assert stats.mean == pytest.approx(0.81)
    assert stats.std == pytest.approx(0.0141421356)
    assert stats.n == 2
    assert Stats.of([0.5]).std is None


def test_report_f1_tables(metrics_dir, tmp_path):
    output = tmp_path / "out" / "report.md"
    report = write_report(metrics_dir, output, speed_path=metrics_dir / "speed.json")
    markdown = output.read_text(encoding="utf8")
    assert markdown == report.markdown
    # Mean and sample std over the 2 seeds, in percent.
    for size, bonus in ((100, 0.0), (200, 5.0)):
        expected = [str(size), "2"] + [
            f"{BASE_F1[m] * 100 + bonus + 1:.2f} ± 1.41" for m in MODELS
        ]
        assert row_of(markdown, str(size)) == expected
    assert report.f1[200]["teacher"].mean == pytest.approx(0.86)
    assert report.f1[200]["teacher"].std == pytest.approx(0.0141421356)
    assert report.f1[100]["teacher"].n == 2
    header = row_of(markdown, "labeled")
    assert header == ["labeled", "seeds", "teacher", "spaCy ner"] + [
        "baseline",
        "kd",
        "pl",
        "kd-pl",
    ]
    # The best student by mean F1, per type (PER = micro - 10 points here),
    # beside the teacher and spaCy's ner.
    assert report.best_students == {100: "student-kd-pl", 200: "student-kd-pl"}
    assert "### 200 labeled sentences: kd-pl (mean F1 84.00)" in markdown
    assert row_of(markdown, "kd-pl (best student)")[1:] == [
        "2",
        "79.00 ± 1.41",
        "69.00 ± 1.41",
        "79.00 ± 1.41",
    ]
    assert row_of(markdown, "model") == ["model", "seeds", "LOC", "PER", "micro"]
    # The metrics file of another name has a table of its own.
    assert "## Other runs" in markdown
    assert row_of(markdown, "student-full")[:4] == [
        "student-full",
        "88.50",
        "86.50",
        "87.50",
    ]
    # The speed JSON in the metrics directory is not a run.
    assert len(report.runs.grid) == len(MODELS) * len(SIZES) * len(SEEDS)
    assert [r.name for r in report.runs.other] == ["student-full"]


def test_report_plots(metrics_dir, tmp_path):
    output = tmp_path / "report.md"
    plots_dir = tmp_path / "plots"
    report = write_report(
        metrics_dir,
        output,
        speed_path=metrics_dir / "speed.json",
        plots_dir=plots_dir,
    )
    assert [p.name for p in report.plots] == [
        "f1_by_size.png",
        "speed_by_batch_size.png",
    ]
    for path in report.plots:
        assert path.parent == plots_dir
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
    # Embedded with links relative to the report.
    assert "](plots/f1_by_size.png)" in report.markdown
    assert "](plots/speed_by_batch_size.png)" in report.markdown


def test_report_speed(metrics_dir, tmp_path):
    report = write_report(
        metrics_dir,
        tmp_path / "report.md",
        speed_path=metrics_dir / "speed.json",
        plots=False,
    )
    markdown = report.markdown
    assert report.plots == [] and "![" not in markdown
    assert report.ratios["teacher"] == {
        "1": pytest.approx(10.0),
        "32": pytest.approx(40.0),
        "params": pytest.approx(22.7 / 3.0),
    }
    assert report.ratios["bert-base-random"]["32"] == pytest.approx(80.0)
    assert set(report.ratios) == {"teacher", "spacy-ner", "bert-base-random"}
    ratios = "### Speed-up of `student`"
    assert row_of(markdown, "teacher", ratios)[1:] == ["fp32", "10.0x", "40.0x"] + [
        "7.6x"
    ]
    assert row_of(markdown, "spacy-ner", ratios)[2:] == ["0.5x", "1.0x", "0.5x"]
    bert = "bert-base-random (speed only: random weights)"
    assert row_of(markdown, bert, ratios)[2:] == ["50.0x", "80.0x", "36.5x"]
    assert row_of(markdown, bert, "## Speed and size")[2:4] == ["20", "100"]
    assert row_of(markdown, "student") == [
        "student",
        "fp32",
        "1,000",
        "8,000",
        "3.00",
        "0.50",
        "12.5",
        "480",
        "400",
    ]
    assert row_of(markdown, "pipeline")[1:4] == ["precision", "bs=1 w/s", "bs=32 w/s"]


def test_bf16_peers_are_rows_with_ratios(tmp_path):
    """A pipeline benchmarked in fp32 and bf16 has a row for each, and the
    student's speed-up is stated against both."""
    speed = {
        "student": speed_result({1: 1000.0, 128: 20000.0}, 3_000_000),
        "teacher": speed_result({1: 100.0, 128: 250.0}, 22_700_000),
        "teacher-bf16": speed_result(
            {1: 200.0, 128: 1000.0}, 22_700_000, precision="bf16"
        ),
    }
    path = tmp_path / "speed.json"
    srsly.write_json(path, speed)
    speed = read_speed(path)
    student = find_student(speed)
    ratios = speed_ratios(speed, student)
    table = render_speed_table(speed, student, ratios)
    assert row_of(table, "pipeline")[1] == "precision"
    assert row_of(table, "teacher")[1:] == ["fp32", "100", "250", "10.0x", "80.0x"]
    assert row_of(table, "teacher-bf16")[1:] == [
        "bf16",
        "200",
        "1,000",
        "5.0x",
        "20.0x",
    ]
    section = "\n\n".join(render_speed_section(speed, student, ratios))
    assert "### Speed-up of `student` (fp32)" in section
    assert row_of(section, "teacher-bf16", "### Speed-up")[1:3] == ["bf16", "5.0x"]
    speed["teacher"]["precision"] = "auto"
    srsly.write_json(path, speed)
    with pytest.raises(ValueError, match="precision 'auto'; expected one of fp32"):
        read_speed(path)


def test_speed_ratios_named_student():
    ratios = speed_ratios(SPEED, "spacy-ner")
    assert ratios["student"]["1"] == pytest.approx(2.0)
    assert "spacy-ner" not in ratios


def test_report_uneven_seeds(tmp_path):
    path = tmp_path / "metrics"
    path.mkdir()
    for seed, f1 in ((1, 0.6), (2, 0.7), (3, 0.8)):
        srsly.write_json(path / f"student-kd-300-{seed}.json", make_metrics(f1))
    srsly.write_json(path / "teacher-300-1.json", make_metrics(0.9))
    report = write_report(path, tmp_path / "report.md", plots=False)
    assert row_of(report.markdown, "300") == [
        "300",
        "3",
        "90.00 (n=1)",
        "–",
        "–",
        "70.00 ± 10.00",
        "–",
        "–",
    ]
    assert "## Other runs" not in report.markdown
    assert "## Speed and size" not in report.markdown
    # Without students there is no best one.
    for seed in (1, 2, 3):
        (path / f"student-kd-300-{seed}.json").unlink()
    report = write_report(path, tmp_path / "report.md", plots=False)
    assert report.best_students == {}
    assert "No student runs." in report.markdown


def test_report_system_seeds_count_once_per_seed(tmp_path):
    """Seed 1 has kd-pl with system seeds 0, 1 and 2, seed 2 only system seed
    0: the mean is over seeds, of the mean of seed 1's three runs."""
    path = tmp_path / "metrics"
    path.mkdir()
    per_type = {
        "student-kd-pl-300-1": (0.60, {"LOC": 0.7, "PER": 0.5}),
        "student-kd-pl-300-1-s1": (0.70, {"LOC": 0.8}),
        "student-kd-pl-300-1-s2": (0.80, {"LOC": 0.9, "PER": 0.7}),
        "student-kd-pl-300-2": (0.90, {"LOC": 0.9, "PER": 0.9}),
        "student-baseline-300-1": (0.50, None),
        "student-baseline-300-2": (0.60, None),
    }
    for name, (f1, types) in per_type.items():
        srsly.write_json(path / f"{name}.json", make_metrics(f1, types))
    report = write_report(path, tmp_path / "report.md", plots=False)
    stats = report.f1[300]["student-kd-pl"]
    assert stats.n == 2
    assert stats.mean == pytest.approx((0.70 + 0.90) / 2)
    assert stats.std == pytest.approx(0.1414213562)
    assert row_of(report.markdown, "300")[-1] == "80.00 ± 14.14"
    assert [(r.seed, r.system_seed) for r in report.runs.grid[-3:]] == [
        (1, 1),
        (1, 2),
        (2, 0),
    ]
    # Per type, a type missing from a run counts 0 there: PER of seed 1 is
    # (0.5 + 0 + 0.7) / 3 = 0.4.
    assert row_of(report.markdown, "kd-pl (best student)") == [
        "kd-pl (best student)",
        "2",
        "85.00 ± 7.07",
        "65.00 ± 35.36",
        "80.00 ± 14.14",
    ]
    assert (
        "Trained with several system seeds (`<model>-<size>-<seed>-s<k>` files; "
        "each seed counts once, with the mean of its system seeds), the most on "
        "one seed: 300 labeled: kd-pl 3." in report.markdown
    )
    # One run per seed: no such line.
    for name in ("student-kd-pl-300-1-s1", "student-kd-pl-300-1-s2"):
        (path / f"{name}.json").unlink()
    report = write_report(path, tmp_path / "report.md", plots=False)
    assert "several system seeds" not in report.markdown


def test_report_refuses_the_same_run_twice(tmp_path):
    path = tmp_path / "metrics"
    path.mkdir()
    for name in ("student-kd-300-1", "student-kd-300-1-s0"):
        srsly.write_json(path / f"{name}.json", make_metrics(0.5))
    same = r"are the same run \(student-kd, 300 labeled, seed 1, system seed 0\)"
    with pytest.raises(ValueError, match=same):
        write_report(path, tmp_path / "report.md", plots=False)


def test_best_student_ignores_teacher():
    f1 = {
        "teacher": Stats(0.9, None, 1),
        "student-pl": Stats(0.7, None, 1),
        "student-kd": Stats(0.7, None, 1),
    }
    assert best_student(f1) == "student-kd"
    assert best_student({"teacher": Stats(0.9, None, 1)}) is None


def test_malformed_json_names_the_file(metrics_dir, tmp_path):
    bad = metrics_dir / "student-kd-100-3.json"
    bad.write_text('{"micro": {"f": 0.5', encoding="utf8")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        read_runs(metrics_dir)
    result = CliRunner().invoke(
        app, [str(metrics_dir), str(tmp_path / "r.md"), "--no-plots"]
    )
    assert result.exit_code == 1
    assert bad.name in result.output


def test_metrics_without_f1_names_the_file(tmp_path):
    (tmp_path / "m").mkdir()
    metrics = make_metrics(0.5)
    metrics["micro"]["f"] = None
    srsly.write_json(tmp_path / "m" / "teacher-100-1.json", metrics)
    with pytest.raises(ValueError, match="teacher-100-1.json"):
        read_runs(tmp_path / "m")


def test_missing_or_empty_metrics_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="No metrics directory"):
        write_report(tmp_path / "missing", tmp_path / "r.md")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No metrics JSON files"):
        write_report(tmp_path / "empty", tmp_path / "r.md")
    # A directory with speed results only holds no metrics either.
    srsly.write_json(tmp_path / "empty" / "speed.json", SPEED)
    with pytest.raises(ValueError, match="No metrics JSON files"):
        write_report(tmp_path / "empty", tmp_path / "r.md")
    assert not (tmp_path / "r.md").exists()


def test_bad_speed_json(metrics_dir, tmp_path):
    bad = tmp_path / "speed.json"
    bad.write_text("[1, 2", encoding="utf8")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        write_report(metrics_dir, tmp_path / "r.md", speed_path=bad, plots=False)
    srsly.write_json(bad, make_metrics(0.5))
    with pytest.raises(ValueError, match="no speed results"):
        write_report(metrics_dir, tmp_path / "r.md", speed_path=bad, plots=False)
    with pytest.raises(ValueError, match="No pipeline 'nope'"):
        write_report(
            metrics_dir,
            tmp_path / "r.md",
            speed_path=metrics_dir / "speed.json",
            student="nope",
            plots=False,
        )


def test_report_cli(metrics_dir, tmp_path):
    output = tmp_path / "report.md"
    result = CliRunner().invoke(
        app,
        [
            str(metrics_dir),
            str(output),
            "--speed",
            str(metrics_dir / "speed.json"),
            "--plots-dir",
            str(tmp_path / "png"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert output.exists()
    assert (tmp_path / "png" / "f1_by_size.png").read_bytes()[:8] == PNG_MAGIC
    assert "](png/speed_by_batch_size.png)" in output.read_text(encoding="utf8")


def test_speed_json_with_run_record(metrics_dir, tmp_path):
    """benchmark writes its run record beside the pipelines: not a pipeline."""
    speed = srsly.read_json(metrics_dir / "speed.json")
    speed["run"] = {"command": "kd-ner benchmark", "commit": None}
    path = tmp_path / "speed.json"
    srsly.write_json(path, speed)
    report = write_report(metrics_dir, tmp_path / "r.md", speed_path=path, plots=False)
    assert set(report.ratios) == {"teacher", "spacy-ner", "bert-base-random"}
    assert "run" not in report.markdown.split("### Speed")[1].split("|")


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def run_record(commit=COMMIT, date="2026-12-01T20:35:40+00:00", dirty=False):
    return {
        "command": "kd-ner evaluate model corpus/test.spacy --output x.json",
        "commit": commit,
        "dirty": dirty,
        "date": date,
        "machine": {"cpu": "test", "cores": 2, "torch_threads": 1, "gpu": None},
    }


@pytest.fixture
def results_dir(tmp_path):
    """What the `all` workflow leaves in results/all: one split (750, seed 1)
    of every model and the speed results, each with its run record."""
    path = tmp_path / "results" / "all"
    path.mkdir(parents=True)
    for model in MODELS:
        metrics = make_metrics(BASE_F1[model])
        metrics["run"] = run_record()
        srsly.write_json(path / f"{model}-750-1.json", metrics)
    speed = {
        "student": speed_result({1: 1000.0, 32: 8000.0, 128: 20000.0}, 3_000_000),
        "teacher": speed_result({1: 100.0, 32: 200.0, 128: 250.0}, 22_700_000),
        "spacy-ner": speed_result({1: 2000.0, 32: 8000.0, 128: 10000.0}, 1_500_000),
        "run": run_record(date="2026-12-02T08:00:00+00:00"),
    }
    srsly.write_json(path / "speed.json", speed)
    return path


README = f"""# Title

Some prose.

{RESULTS_START}
old table
{RESULTS_END}

More prose.
"""


def test_readme_gets_the_headline_from_results(results_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf8")
    images = tmp_path / "docs" / "images"
    kwargs = dict(speed_path=results_dir / "speed.json", plots_dir=images)
    report = write_report(results_dir, tmp_path / "r.md", readme=readme, **kwargs)
    text = readme.read_text(encoding="utf8")
    assert report.readme == readme and report.headline in text
    before, block = text.split(RESULTS_START + "\n")
    block, after = block.split(RESULTS_END + "\n")
    assert before == "# Title\n\nSome prose.\n\n"
    assert after == "\nMore prose.\n"
    assert "old table" not in block
    # every model has a column (test_report_f1_tables checks the titles)
    assert row_of(block, "labeled")[2:] == [MODEL_TITLES[m] for m in MODELS]
    assert row_of(block, "750") == ["750", "1"] + [
        "80.00",
        "72.00",
        "70.00",
        "75.00",
        "74.00",
        "78.00",
    ]
    speed_header = row_of(block, "pipeline")
    assert speed_header[1:4] == ["precision", "words/s, batch 1", "words/s, batch 128"]
    assert [row_of(block, n)[1:] for n in ("student", "teacher", "spacy-ner")] == [
        ["fp32", "1,000", "20,000", "–", "–"],
        ["fp32", "100", "250", "10.0x", "80.0x"],
        ["fp32", "2,000", "10,000", "0.5x", "2.0x"],
    ]
    (sources,) = [line for line in block.splitlines() if line.startswith("Source:")]
    assert sources == (
        "Source: `results/all/` teacher-750-1.json, spacy-ner-750-1.json, "
        "student-baseline-750-1.json, student-kd-750-1.json, "
        "student-pl-750-1.json, student-kd-pl-750-1.json, speed.json; "
        "commit `0123456`; run 2026-12-01 to 2026-12-02."
    )
    for name in ("f1_by_size.png", "speed_by_batch_size.png"):
        assert (images / name).read_bytes()[:8] == PNG_MAGIC
    # Idempotent: the same results give the same README.
    write_report(results_dir, tmp_path / "r.md", readme=readme, **kwargs)
    assert readme.read_text(encoding="utf8") == text


def test_headline_mean_std_and_only_the_students_present(tmp_path):
    path = tmp_path / "results"
    path.mkdir()
    for model in ("teacher", "spacy-ner", "student-baseline", "student-kd-pl"):
        for seed in SEEDS:
            metrics = make_metrics(f1_of(model, 100, seed))
            srsly.write_json(path / f"{model}-100-{seed}.json", metrics)
    srsly.write_json(path / "teacher-200-1.json", make_metrics(0.9))
    markdown = render_headline(summarize_f1(read_runs(path).grid))
    assert row_of(markdown, "labeled")[2:] == ["teacher", "spaCy ner", "baseline"] + [
        "kd-pl"
    ]
    assert row_of(markdown, "100") == [
        "100",
        "2",
        "81.00 ± 1.41",
        "73.00 ± 1.41",
        "71.00 ± 1.41",
        "79.00 ± 1.41",
    ]
    assert row_of(markdown, "200") == ["200", "1", "90.00", "–", "–", "–"]
    assert "pipeline" not in markdown  # no speed results, no speed table


def test_render_sources_several_commits_dates_and_many_files(tmp_path):
    records = {
        tmp_path / "r" / f"teacher-{size}-1.json": run_record(date=f"2026-12-{d:02d}")
        for d, size in enumerate(range(100, 1500, 100), start=1)
    }
    records[tmp_path / "speed.json"] = run_record(commit="f" * 40, dirty=True)
    records[tmp_path / "x.json"] = run_record(commit=None)
    line = render_sources(records, tmp_path)
    assert line == (
        "Source: `r/` 14 files (teacher-100-1.json … teacher-1400-1.json); "
        "`./` speed.json, x.json; commits `0123456`, `fffffff` (dirty), none "
        "(not a git checkout); run 2026-12-01 to 2026-12-14."
    )


@pytest.mark.parametrize(
    "text,error",
    [
        ("# no markers\n", "found 0 start and 0 end lines"),
        (f"{RESULTS_START}\n", "found 1 start and 0 end lines"),
        (f"{RESULTS_END}\n{RESULTS_START}\n", "end first"),
        (f"{RESULTS_START}\n{RESULTS_START}\n{RESULTS_END}\n", "found 2 start"),
    ],
)
def test_replace_results_block_needs_both_markers(text, error):
    with pytest.raises(ValueError, match=f"README.md needs one line .*{error}"):
        replace_results_block(text, "| table |", "README.md")


def test_readme_without_markers_is_a_clear_error(results_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# No markers here\n", encoding="utf8")
    output = tmp_path / "r.md"
    args = [str(results_dir), str(output), "--no-plots", "--readme", str(readme)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert RESULTS_START in result.output and "Traceback" not in result.output
    assert readme.read_text(encoding="utf8") == "# No markers here\n"
    assert not output.exists()


@pytest.mark.parametrize("name", ["student-kd-750-1.json", "speed.json"])
def test_results_without_run_record_name_the_file(results_dir, tmp_path, name):
    data = srsly.read_json(results_dir / name)
    del data["run"]
    srsly.write_json(results_dir / name, data)
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf8")
    speed = results_dir / "speed.json"
    with pytest.raises(ValueError, match=f"{re.escape(name)} has no run record"):
        write_report(
            results_dir, tmp_path / "r.md", speed_path=speed, readme=readme, plots=False
        )
    args = [str(results_dir), str(tmp_path / "r.md"), "--speed", str(speed)]
    result = CliRunner().invoke(app, [*args, "--no-plots", "--readme", str(readme)])
    assert result.exit_code == 1
    assert name in result.output and "Traceback" not in result.output
    assert readme.read_text(encoding="utf8") == README
    # Without --readme, the report itself reads files without a record.
    assert write_report(results_dir, tmp_path / "r.md", speed_path=speed, plots=False)


def test_gaps_are_paired_by_seed_with_their_targets(tmp_path):
    from report import render_gaps_table, summarize_gaps

    path = tmp_path / "paired"
    path.mkdir()
    # Seed 1: kd-pl 0.80 vs teacher 0.82 (-2.0); seed 2: 0.86 vs 0.85 (+1.0);
    # seed 3 has no teacher and is left out of that pair. Baseline -7, -5.
    f1 = {
        ("teacher", 1): 0.82, ("teacher", 2): 0.85,
        ("student-kd-pl", 1): 0.80, ("student-kd-pl", 2): 0.86,
        ("student-kd-pl", 3): 0.90, ("student-baseline", 1): 0.73,
        ("student-baseline", 2): 0.81,
    }  # fmt: skip
    for (model, seed), value in f1.items():
        srsly.write_json(path / f"{model}-150-{seed}.json", make_metrics(value))
    gaps = summarize_gaps(read_runs(path).grid)[150]
    teacher = gaps[("student-kd-pl", "teacher")]
    assert teacher.mean == pytest.approx(-0.5) and teacher.n == 2
    assert teacher.std == pytest.approx(2.1213, abs=1e-4)  # sd of (-2, +1)
    assert gaps[("student-kd-pl", "student-baseline")].mean == pytest.approx(6.0)
    assert ("student-kd-pl", "spacy-ner") not in gaps
    table = render_gaps_table({150: gaps, 1500: gaps})
    assert "| 150 | -0.50 ± 2.12 (met) | +6.00 ± 1.41 (met) | – |" in table
    # The baseline's target holds up to 750 labeled sentences only (issue 27):
    # at 1,500 the gap is shown without a verdict.
    assert "| 1500 | -0.50 ± 2.12 (met) | +6.00 ± 1.41 | – |" in table
    assert "(≥ +5 to 750)" in table and "(≥ +5 to 1500)" in table
