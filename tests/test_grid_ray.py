"""The grid's cells as Ray tasks, on a local cluster started here (2 CPUs):
every cell lands, a failing one is retried and then reported while the
others land, and a second run skips what is done. Skipped without the `ray`
extra (CI installs it)."""

import sys
from pathlib import Path

import pytest
import srsly

from grid import GRID_LOCK, GridError, run_grid
from grid_ray import RayGridOptions, log_path

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray

# Writes results/<size>-<seed>.json; fails on its first try for size 300
# (a marker file counts the tries), always for size 999.
WRITE = (
    "{python} -c \"import pathlib, sys; size = '${{vars.labeled_size}}'; "
    "tries = pathlib.Path('tries-' + size + '-${{vars.seed}}'); "
    "tries.write_text(tries.read_text() + 'x' if tries.exists() else 'x'); "
    "print('try', len(tries.read_text())); "
    "sys.exit(1) if size == '999' or (size == '300' and len(tries.read_text()) == 1)"
    " else None; "
    "p = pathlib.Path('results/' + size + '-${{vars.seed}}.json'); "
    "p.parent.mkdir(exist_ok=True); p.write_text('{{}}')\""
)
REPORT = "{python} -c \"print('report')\""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


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
                "outputs": ["results/${vars.labeled_size}-${vars.seed}.json"],
            },
            {
                "name": "report",
                "script": [REPORT.format(python=sys.executable)],
                "deps": ["results/${vars.labeled_size}-${vars.seed}.json"],
            },
        ],
    }
    srsly.write_yaml(tmp_path / "project.yml", config)
    return tmp_path


def test_cells_land_and_a_flaky_one_is_retried(local_ray, project):
    ran = run_grid(
        project,
        ["write", "report"],
        [150, 300],
        [1, 2],
        results=Path("results"),
        ray=RayGridOptions(retries=1),
    )
    assert len(ran) == 8
    for size in (150, 300):
        for seed in (1, 2):
            assert (project / "results" / f"{size}-{seed}.json").exists()
            assert f"write:{size}:{seed}" in srsly.read_yaml(project / GRID_LOCK)
    assert (project / "tries-300-1").read_text() == "xx"
    log = (project / log_path(300, 1)).read_text()
    assert log.count("try ") == 2 and "report" in log
    skipped: list = []
    again = run_grid(
        project,
        ["write", "report"],
        [150, 300],
        [1, 2],
        results=Path("results"),
        on_skip=skipped.append,
        ray=RayGridOptions(),
    )
    assert again == [] and len(skipped) == 8


def test_a_failing_cell_is_reported_and_the_others_land(local_ray, project):
    with pytest.raises(GridError, match=r"(?s)1 of 2 cells failed.*size 999, seed 1"):
        run_grid(project, ["write"], [150, 999], [1], ray=RayGridOptions(retries=2))
    assert (project / "results" / "150-1.json").exists()
    assert (project / "tries-999-1").read_text() == "xxx"
    lock = srsly.read_yaml(project / GRID_LOCK)
    assert "write:150:1" in lock and "write:999:1" not in lock


def test_ray_grid_options_are_checked():
    with pytest.raises(ValueError, match="cpus_per_cell"):
        RayGridOptions(cpus_per_cell=0)
