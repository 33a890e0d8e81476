"""The project's report: test F1 over labeled sizes and seeds, per-type F1 of
the best student, speed and size, as Markdown with PNG plots.

Run as ``python scripts/report.py METRICS_DIR OUTPUT.md --speed SPEED.json``
from the project directory.

Inputs are what the other commands write:

- a directory of metrics JSON files from `evaluate` (`evaluation.evaluate_ner`:
  `micro`, `per_type`, ... with scores as fractions), named
  `<model>-<size>-<seed>.json` where `model` is one of `MODELS` and `size`
  (labeled sentences) and `seed` (the labeled split) are integers, e.g.
  `student-kd-pl-750-1.json`; `<model>-<size>-<seed>-s<k>.json` is the same
  model trained again with `--system.seed k` (the files without the suffix
  are system seed 0, the configs' default). Metrics files with other names
  (`student-full.json`) go to an "other runs" table. Speed results (the
  `benchmark` JSON) found in the directory are skipped, as are JSON files that
  are neither;
- optionally the speed JSON from `benchmark` (`{pipeline: {words_per_second:
  {"1": ...}, precision, n_params, n_vectors, size_mb, peak_rss_mb, ...}}`;
  a pipeline without `precision` ran in fp32, as every pipeline did before
  `benchmark` recorded it). A pipeline benchmarked in both precisions has
  two entries (`teacher`, `teacher-bf16`), and the student's speed-up is
  stated against each.

F1 is seqeval's micro F1 on the test set, shown in percent. Mean and standard
deviation are over the seeds of one labeled size, each seed counting once: a
model with several system seeds on a split counts with their mean there, so
that one split's extra runs do not weigh more than the other splits. The
standard deviation is the sample one (n - 1 in the denominator) and is left
out for a single seed.
Pipelines whose benchmark name contains "random" or "speed-only" are labeled
"speed only": their weights are random and only their cost means something.

With a README (`--readme`), the headline tables (test F1 by labeled size of
teacher, spaCy ner, baseline, kd-pl and the other students present; words/s at
batch sizes 1 and 128 and the student's speed-ups) and one line naming their
files, commits and dates replace what lies between the README's lines
`<!-- results:start -->` and `<!-- results:end -->`. Every file read must then
carry the run record ("run": command, commit, dirty, date, machine) that
`evaluate` and `benchmark` write: results in the README can be traced to what
produced them.
"""

import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import srsly
import typer
from spacy.cli._util import Arg, Opt
from spacy.util import SimpleFrozenDict
from wasabi import msg

MODELS: Tuple[str, ...] = (
    "teacher",
    "spacy-ner",
    "student-baseline",
    "student-kd",
    "student-pl",
    "student-kd-pl",
)
STUDENTS: Tuple[str, ...] = MODELS[2:]
MODEL_TITLES: Dict[str, str] = {
    "teacher": "teacher",
    "spacy-ner": "spaCy ner",
    "student-baseline": "baseline",
    "student-kd": "kd",
    "student-pl": "pl",
    "student-kd-pl": "kd-pl",
}
# Longest names first, so that "student-kd-pl-750-1" is not read as "student-kd".
RUN_NAME = re.compile(
    r"^(?P<model>"
    + "|".join(re.escape(m) for m in sorted(MODELS, key=len, reverse=True))
    + r")-(?P<size>\d+)-(?P<seed>\d+)(?:-s(?P<system_seed>\d+))?$"
)
SPEED_ONLY_MARKERS = ("random", "speed-only", "speed_only")
SPEED_ONLY_NOTE = "speed only: random weights"
F1_PLOT = "f1_by_size.png"
SPEED_PLOT = "speed_by_batch_size.png"
PRECISIONS: Tuple[str, ...] = ("fp32", "bf16")
# The README's table always has these columns; the other models where present.
HEADLINE_MODELS: Tuple[str, ...] = (
    "teacher",
    "spacy-ner",
    "student-baseline",
    "student-kd-pl",
)
HEADLINE_BATCH_SIZES: Tuple[int, ...] = (1, 128)
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"
# More files than this in one directory are named by count, first and last.
MAX_NAMED_SOURCES = 12
PathLike = Union[str, Path]


@dataclass(frozen=True)
class Run:
    """One metrics file.

    name (str): The file name without `.json`.
    path (Path): The file.
    metrics (Dict[str, Any]): Its content (`evaluate_ner`'s dict).
    model (Optional[str]): One of `MODELS`, for a `<model>-<size>-<seed>` name.
    size (Optional[int]): The labeled size, idem.
    seed (Optional[int]): The seed, idem.
    system_seed (int): The training's `system.seed`: k for a name that ends in
        `-s<k>`, else 0.
    """

    name: str
    path: Path
    metrics: Dict[str, Any]
    model: Optional[str] = None
    size: Optional[int] = None
    seed: Optional[int] = None
    system_seed: int = 0

    @property
    def f1(self) -> float:
        """Micro F1 (seqeval), a fraction."""
        return float(self.metrics["micro"]["f"])

    def type_f1(self) -> Dict[str, float]:
        """Per-type F1 (seqeval), fractions.

        RETURNS (Dict[str, float]): Entity type to F1.
        """
        return {
            label: float(row["f"])
            for label, row in self.metrics.get("per_type", {}).items()
        }


@dataclass
class Runs:
    """The metrics files of a directory.

    grid (List[Run]): Files named `<model>-<size>-<seed>[-s<k>].json`.
    other (List[Run]): Other metrics files.
    skipped (List[Path]): JSON files that hold no metrics (speed results...).
    """

    grid: List[Run] = field(default_factory=list)
    other: List[Run] = field(default_factory=list)
    skipped: List[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    """Mean and sample standard deviation of some values.

    mean (float): The mean.
    std (Optional[float]): The sample standard deviation; None for one value.
    n (int): The number of values.
    """

    mean: float
    std: Optional[float]
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stats":
        """Summarize values.

        values (Sequence[float]): At least one value.
        RETURNS (Stats): Their mean, sample standard deviation and count.
        """
        if not values:
            raise ValueError("Cannot summarize no values.")
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(mean=statistics.fmean(values), std=std, n=len(values))


@dataclass
class Report:
    """What `write_report` produced.

    markdown (str): The report.
    output (Path): Where it was written.
    plots (List[Path]): The PNG files.
    f1 (Dict[int, Dict[str, Stats]]): `summarize_f1` of the grid runs.
    best_students (Dict[int, str]): Labeled size to the best student.
    ratios (Dict[str, Dict[str, Optional[float]]]): `speed_ratios` (empty
        without speed results or without a student among them).
    runs (Runs): The metrics files read.
    headline (str): `render_headline`'s tables; with a README, followed by the
        line of their sources (`render_sources`), as written into it.
    readme (Optional[Path]): The README updated, if any.
    """

    markdown: str
    output: Path
    plots: List[Path]
    f1: Dict[int, Dict[str, Stats]]
    best_students: Dict[int, str]
    ratios: Dict[str, Dict[str, Optional[float]]]
    runs: Runs
    headline: str = ""
    readme: Optional[Path] = None


class RunName(NamedTuple):
    """What a `<model>-<size>-<seed>[-s<system_seed>]` name says."""

    model: str
    size: int
    seed: int
    system_seed: int = 0


def parse_run_name(name: str) -> Optional[RunName]:
    """Read `<model>-<size>-<seed>` or `<model>-<size>-<seed>-s<system_seed>`
    (a file name without `.json`).

    name (str): The name.
    RETURNS (Optional[RunName]): Model, size, seed and system seed (0 without
        the suffix), or None for a name of another form.
    """
    match = RUN_NAME.match(name)
    if match is None:
        return None
    return RunName(
        match.group("model"),
        int(match.group("size")),
        int(match.group("seed")),
        int(match.group("system_seed") or 0),
    )


def read_json(path: PathLike) -> Any:
    """Read a JSON file; a malformed one raises an error that names it.

    path (Union[str, Path]): The file.
    RETURNS (Any): Its content.
    """
    try:
        return srsly.read_json(path)
    except ValueError as e:
        raise ValueError(f"Malformed JSON in {path}: {e}") from e


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_speed_results(data: Any) -> bool:
    """Whether `data` looks like `benchmark`'s JSON: pipeline names to dicts
    with `words_per_second`, beside the run record ("run").

    data (Any): A JSON value.
    RETURNS (bool): Whether it is speed results.
    """
    if not isinstance(data, dict):
        return False
    pipelines = [v for k, v in data.items() if k != "run"]
    return bool(pipelines) and all(
        isinstance(v, dict) and isinstance(v.get("words_per_second"), dict)
        for v in pipelines
    )


def check_metrics(data: Any, path: PathLike) -> Dict[str, Any]:
    """Check that a metrics dict has what the report reads: a numeric
    `micro.f` and, where present, `per_type` rows with a numeric `f`.

    data (Any): The JSON content.
    path (Union[str, Path]): Its file, for the error message.
    RETURNS (Dict[str, Any]): `data`.
    """
    micro = data.get("micro") if isinstance(data, dict) else None
    if not isinstance(micro, dict):
        raise ValueError(f"{path} holds no metrics: expected a 'micro' object")
    if not _is_number(micro.get("f")):
        raise ValueError(
            f"{path}: 'micro.f' is {micro.get('f')!r}, not a number (no "
            "entities in the gold data or the predictions?)"
        )
    per_type = data.get("per_type", {})
    if not isinstance(per_type, dict) or not all(
        isinstance(row, dict) and _is_number(row.get("f")) for row in per_type.values()
    ):
        raise ValueError(f"{path}: 'per_type' must map labels to {{'f': number}}")
    return data


def read_runs(metrics_dir: PathLike, *, exclude: Sequence[PathLike] = ()) -> Runs:
    """Read the metrics JSON files (`*.json`, not recursive) of a directory.

    metrics_dir (Union[str, Path]): The directory.
    exclude (Sequence[Union[str, Path]]): Files not to read (the speed JSON).
    RETURNS (Runs): Grid runs sorted by (model order, size, seed, system
        seed), other runs sorted by name, and the JSON files skipped (speed
        results, or JSON without a 'micro' object).
    """
    directory = Path(metrics_dir)
    if not directory.exists():
        raise FileNotFoundError(f"No metrics directory at {directory}")
    if not directory.is_dir():
        raise NotADirectoryError(f"Not a directory: {directory}")
    excluded = {Path(p).resolve() for p in exclude}
    runs = Runs()
    seen: Dict[RunName, Path] = {}
    for path in sorted(directory.glob("*.json")):
        if not path.is_file() or path.resolve() in excluded:
            continue
        data = read_json(path)
        if is_speed_results(data) or not (isinstance(data, dict) and "micro" in data):
            runs.skipped.append(path)
            continue
        metrics = check_metrics(data, path)
        parsed = parse_run_name(path.stem)
        if parsed is None:
            runs.other.append(Run(path.stem, path, metrics))
        elif parsed in seen:
            raise ValueError(
                f"{seen[parsed].name} and {path.name} are the same run "
                f"({parsed.model}, {parsed.size} labeled, seed {parsed.seed}, "
                f"system seed {parsed.system_seed}): no suffix means system "
                "seed 0; keep one of them"
            )
        else:
            seen[parsed] = path
            runs.grid.append(Run(path.stem, path, metrics, *parsed))
    if not runs.grid and not runs.other:
        raise ValueError(
            f"No metrics JSON files in {directory}: expected files written by "
            "`evaluate --output`, named <model>-<size>-<seed>.json with model "
            f"one of {', '.join(MODELS)}"
        )
    runs.grid.sort(
        key=lambda r: (MODELS.index(r.model or ""), r.size, r.seed, r.system_seed)
    )
    runs.other.sort(key=lambda r: r.name)
    return runs


def _by_seed(runs: Sequence[Run]) -> Dict[int, Dict[str, Dict[int, List[Run]]]]:
    """Grid runs grouped by labeled size, model and seed: the runs of one
    seed are its system seeds."""
    grouped: Dict[int, Dict[str, Dict[int, List[Run]]]] = {}
    for run in runs:
        if run.model is None or run.size is None or run.seed is None:
            continue
        by_model = grouped.setdefault(run.size, {})
        by_model.setdefault(run.model, {}).setdefault(run.seed, []).append(run)
    return grouped


def summarize_f1(runs: Sequence[Run]) -> Dict[int, Dict[str, Stats]]:
    """Mean and standard deviation of micro F1 over seeds; a seed with several
    system seeds counts once, with their mean F1.

    runs (Sequence[Run]): Grid runs.
    RETURNS (Dict[int, Dict[str, Stats]]): Labeled size (ascending) to model
        (in `MODELS` order, only those with runs) to the stats of its F1.
    """
    grouped = _by_seed(runs)
    return {
        size: {
            model: Stats.of(
                [
                    statistics.fmean(run.f1 for run in seed_runs)
                    for seed_runs in grouped[size][model].values()
                ]
            )
            for model in MODELS
            if model in grouped[size]
        }
        for size in sorted(grouped)
    }


# The paper's claims as gaps of the distilled student, seed by seed, with
# their targets in F1 points and the largest labeled size each holds at
# (issue 27; None: every size): ">= target" is met.
GAPS: Tuple[Tuple[str, str, float, Optional[int]], ...] = (
    ("student-kd-pl", "teacher", -1.0, None),
    ("student-kd-pl", "student-baseline", 5.0, 750),
    ("student-kd-pl", "spacy-ner", 5.0, 1500),
)


def summarize_gaps(runs: Sequence[Run]) -> Dict[int, Dict[Tuple[str, str], Stats]]:
    """F1 differences (points) of model pairs (`GAPS`), paired by seed: the
    difference on each seed that has both (a seed's system seeds averaged
    first), then their mean and standard deviation.

    runs (Sequence[Run]): Grid runs.
    RETURNS (Dict[int, Dict[Tuple[str, str], Stats]]): Labeled size
        (ascending) to (model, other) to the stats of model - other.
    """
    grouped = _by_seed(runs)
    gaps: Dict[int, Dict[Tuple[str, str], Stats]] = {}
    for size in sorted(grouped):
        by_model = grouped[size]
        for model, other, _, _ in GAPS:
            if model not in by_model or other not in by_model:
                continue
            seeds = sorted(set(by_model[model]) & set(by_model[other]))
            diffs = [
                100
                * (
                    statistics.fmean(r.f1 for r in by_model[model][seed])
                    - statistics.fmean(r.f1 for r in by_model[other][seed])
                )
                for seed in seeds
            ]
            if diffs:
                gaps.setdefault(size, {})[(model, other)] = Stats.of(diffs)
    return gaps


def render_gaps_table(gaps: Mapping[int, Mapping[Tuple[str, str], Stats]]) -> str:
    """The gaps of `summarize_gaps` with their targets: a row per size, a
    column per pair, "(met)" or "(missed)" against the pair's target at the
    sizes it holds at, the bare gap elsewhere."""
    rows = []
    for size, by_pair in gaps.items():
        cells = []
        for model, other, target, up_to in GAPS:
            stats = by_pair.get((model, other))
            if stats is None:
                cells.append("–")
                continue
            spread = "" if stats.std is None else f" ± {stats.std:.2f}"
            verdict = "met" if stats.mean >= target else "missed"
            applies = up_to is None or size <= up_to
            cells.append(
                f"{stats.mean:+.2f}{spread}" + (f" ({verdict})" if applies else "")
            )
        rows.append([str(size), *cells])
    header = ["labeled"] + [
        f"{MODEL_TITLES[model]} − {MODEL_TITLES[other]} (≥ {target:+.0f}"
        + ("" if up_to is None else f" to {up_to}")
        + ")"
        for model, other, target, up_to in GAPS
    ]
    return markdown_table(header, rows, "r" * len(header))


def system_seed_counts(runs: Sequence[Run]) -> Dict[int, Dict[str, int]]:
    """How many system seeds each model has per seed (the most of any seed).

    runs (Sequence[Run]): Grid runs.
    RETURNS (Dict[int, Dict[str, int]]): Labeled size (ascending) to model (in
        `MODELS` order) to the largest number of system seeds of one seed.
    """
    grouped = _by_seed(runs)
    return {
        size: {
            model: max(len(seed_runs) for seed_runs in grouped[size][model].values())
            for model in MODELS
            if model in grouped[size]
        }
        for size in sorted(grouped)
    }


def best_student(f1_by_model: Mapping[str, Stats]) -> Optional[str]:
    """The student with the highest mean F1 (the first in `MODELS` order on a
    tie).

    f1_by_model (Mapping[str, Stats]): Model to F1 stats (one labeled size).
    RETURNS (Optional[str]): The student, or None without students.
    """
    students = [m for m in STUDENTS if m in f1_by_model]
    if not students:
        return None
    return max(students, key=lambda m: (f1_by_model[m].mean, -STUDENTS.index(m)))


def per_type_f1(runs: Sequence[Run], model: str, size: int) -> Dict[str, Stats]:
    """Per-type F1 of one model at one labeled size, over its seeds (a seed
    with several system seeds counts once, with their mean).

    runs (Sequence[Run]): Grid runs.
    model (str): The model.
    size (int): The labeled size.
    RETURNS (Dict[str, Stats]): Entity type (sorted) to the stats of its F1;
        a type missing from a run counts as F1 0 there (seqeval lists every
        type of the gold data or the predictions).
    """
    seeds = _by_seed(runs).get(size, {}).get(model, {})
    per_seed = [[run.type_f1() for run in seed_runs] for seed_runs in seeds.values()]
    labels = sorted({label for seed in per_seed for s in seed for label in s})
    return {
        label: Stats.of(
            [statistics.fmean(s.get(label, 0.0) for s in seed) for seed in per_seed]
        )
        for label in labels
    }


def read_speed(path: PathLike) -> Dict[str, Dict[str, Any]]:
    """Read and check `benchmark`'s JSON.

    path (Union[str, Path]): The file.
    RETURNS (Dict[str, Dict[str, Any]]): Pipeline name to its results.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No speed results at {path}")
    data = read_json(path)
    if not is_speed_results(data):
        raise ValueError(
            f"{path} holds no speed results: expected {{pipeline: "
            "{'words_per_second': {batch size: words/s}, ...}} as `benchmark` "
            "writes"
        )
    data = {name: result for name, result in data.items() if name != "run"}
    for name, result in data.items():
        if precision_of(result) not in PRECISIONS:
            raise ValueError(
                f"{path}: pipeline {name!r} has precision "
                f"{result['precision']!r}; expected one of {', '.join(PRECISIONS)}"
            )
        for bs, wps in result["words_per_second"].items():
            if not str(bs).isdigit() or not (wps is None or _is_number(wps)):
                raise ValueError(
                    f"{path}: pipeline {name!r} has words_per_second "
                    f"{bs!r}: {wps!r}; expected a batch size and a number"
                )
    return data


def precision_of(result: Mapping[str, Any]) -> str:
    """The precision a benchmarked pipeline ran in.

    result (Mapping[str, Any]): Its entry in `read_speed`'s dict.
    RETURNS (str): Its "precision", "fp32" where it has none.
    """
    return str(result.get("precision", "fp32"))


def batch_sizes(speed: Mapping[str, Mapping[str, Any]]) -> List[int]:
    """Every batch size in speed results, ascending.

    speed (Mapping[str, Mapping[str, Any]]): `read_speed`'s dict.
    RETURNS (List[int]): The batch sizes.
    """
    return sorted({int(bs) for r in speed.values() for bs in r["words_per_second"]})


def is_speed_only(name: str) -> bool:
    """Whether a benchmarked pipeline is "speed only" (random weights).

    name (str): Its name in the speed results.
    RETURNS (bool): Whether the name contains one of `SPEED_ONLY_MARKERS`.
    """
    return any(marker in name.lower() for marker in SPEED_ONLY_MARKERS)


def find_student(
    speed: Mapping[str, Any], student: Optional[str] = None
) -> Optional[str]:
    """The pipeline to compare the others against.

    speed (Mapping[str, Any]): `read_speed`'s dict.
    student (Optional[str]): A name in it; by default "student" if present,
        else the first name that starts with "student".
    RETURNS (Optional[str]): The name, or None when no name fits.
    """
    if student is not None:
        if student not in speed:
            raise ValueError(
                f"No pipeline {student!r} in the speed results: {', '.join(speed)}"
            )
        return student
    if "student" in speed:
        return "student"
    return next((name for name in speed if name.startswith("student")), None)


def _wps(result: Mapping[str, Any], bs: int) -> Optional[float]:
    value = result["words_per_second"].get(str(bs))
    return None if value is None else float(value)


def speed_ratios(
    speed: Mapping[str, Mapping[str, Any]], student: str
) -> Dict[str, Dict[str, Optional[float]]]:
    """How many times faster the student is than every other pipeline, and how
    many times fewer parameters it has.

    speed (Mapping[str, Mapping[str, Any]]): `read_speed`'s dict.
    student (str): The student's name in it.
    RETURNS (Dict[str, Dict[str, Optional[float]]]): Other pipeline to
        {str(batch size): student words/s / its words/s, ..., "params": its
        n_params / the student's}; None where a figure is missing.
    """
    mine = speed[student]
    ratios: Dict[str, Dict[str, Optional[float]]] = {}
    for name, other in speed.items():
        if name == student:
            continue
        row: Dict[str, Optional[float]] = {}
        for bs in batch_sizes(speed):
            a, b = _wps(mine, bs), _wps(other, bs)
            row[str(bs)] = a / b if a is not None and b else None
        p_mine, p_other = mine.get("n_params"), other.get("n_params")
        row["params"] = p_other / p_mine if p_mine and p_other is not None else None
        ratios[name] = row
    return ratios


def _pyplot_free_figure(width: float, height: float) -> Any:
    """A Matplotlib figure drawn with the Agg backend, without pyplot's
    global state (safe in any process, no display)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover
        raise ImportError(
            "The report's plots need matplotlib: pip install matplotlib "
            "(or spacy-kd-ner[project])"
        ) from e
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def plot_f1_by_size(f1: Mapping[int, Mapping[str, Stats]], path: PathLike) -> Path:
    """Plot mean test F1 against labeled size, one line per model, with the
    standard deviation over seeds as error bars.

    f1 (Mapping[int, Mapping[str, Stats]]): `summarize_f1`'s dict.
    path (Union[str, Path]): The PNG file to write.
    RETURNS (Path): The file.
    """
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    figure = _pyplot_free_figure(7, 4.5)
    ax = figure.add_subplot(1, 1, 1)
    sizes = sorted(f1)
    for model in MODELS:
        points = [(s, f1[s][model]) for s in sizes if model in f1[s]]
        if not points:
            continue
        ax.errorbar(
            [s for s, _ in points],
            [st.mean * 100 for _, st in points],
            yerr=[(st.std or 0.0) * 100 for _, st in points],
            label=MODEL_TITLES[model],
            marker="o",
            capsize=3,
            color=f"C{MODELS.index(model)}",
            linestyle="--" if model in ("teacher", "spacy-ner") else "-",
        )
    if len(sizes) > 1:
        ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("labeled training sentences")
    ax.set_ylabel("test F1 (%)")
    ax.set_title("Entity F1 against labeled size (mean ± std over seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return _save(figure, path)


def plot_speed(speed: Mapping[str, Mapping[str, Any]], path: PathLike) -> Path:
    """Plot words/s against batch size (both log scale), one line per
    pipeline.

    speed (Mapping[str, Mapping[str, Any]]): `read_speed`'s dict.
    path (Union[str, Path]): The PNG file to write.
    RETURNS (Path): The file.
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter, ScalarFormatter

    figure = _pyplot_free_figure(7, 4.5)
    ax = figure.add_subplot(1, 1, 1)
    sizes = batch_sizes(speed)
    for name, result in speed.items():
        points = [(bs, _wps(result, bs)) for bs in sizes]
        xs = [bs for bs, wps in points if wps]
        ys = [wps for _, wps in points if wps]
        if not xs:
            continue
        label = f"{name} ({SPEED_ONLY_NOTE})" if is_speed_only(name) else name
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.set_xlabel("batch size")
    ax.set_ylabel("words per second (CPU)")
    ax.set_title("Inference speed against batch size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return _save(figure, path)


def _save(figure: Any, path: PathLike) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    return out


def pct(value: Optional[float]) -> str:
    """A fraction as a percentage with two decimals; "–" for None or NaN."""
    return "–" if value is None or math.isnan(value) else f"{value * 100:.2f}"


def format_stats(stats: Optional[Stats], n_expected: Optional[int] = None) -> str:
    """`mean ± std` in percent, with `(n=k)` when there are fewer values than
    `n_expected`; "–" without stats.

    stats (Optional[Stats]): Stats of fractions.
    n_expected (Optional[int]): The number of seeds of the row.
    RETURNS (str): The table cell.
    """
    if stats is None:
        return "–"
    text = pct(stats.mean)
    if stats.std is not None:
        text += f" ± {stats.std * 100:.2f}"
    if n_expected is not None and stats.n < n_expected:
        text += f" (n={stats.n})"
    return text


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _ratio(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1f}x"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], aligns: str
) -> str:
    """A Markdown table; `aligns` holds one "l" or "r" per column."""
    marks = [":---" if a == "l" else "---:" for a in aligns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _link(target: Path, base: Path) -> str:
    return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()


def _pipeline_title(name: str) -> str:
    return f"{name} ({SPEED_ONLY_NOTE})" if is_speed_only(name) else name


def render_f1_table(
    f1: Mapping[int, Mapping[str, Stats]], models: Sequence[str]
) -> str:
    """The Markdown table of test F1: a row per labeled size, with its number
    of seeds, a column per model.

    f1 (Mapping[int, Mapping[str, Stats]]): `summarize_f1`'s dict.
    models (Sequence[str]): The columns, names of `MODELS`.
    RETURNS (str): The table; "–" where a model has no runs.
    """
    rows = []
    for size, by_model in f1.items():
        n_seeds = max(stats.n for stats in by_model.values())
        rows.append(
            [str(size), str(n_seeds)]
            + [format_stats(by_model.get(m), n_seeds) for m in models]
        )
    return markdown_table(
        ["labeled", "seeds"] + [MODEL_TITLES[m] for m in models],
        rows,
        "r" * (2 + len(models)),
    )


def render_f1_section(
    runs: Runs,
    f1: Mapping[int, Mapping[str, Stats]],
    best: Mapping[int, str],
    f1_plot: Optional[str] = None,
) -> List[str]:
    """The Markdown of the F1 tables (grid, best student per type, others).

    RETURNS (List[str]): Paragraphs.
    """
    parts: List[str] = []
    if f1:
        parts += [
            "## Test F1 by labeled size",
            "Micro F1 (%) on the test set, seqeval (entity level, "
            "conlleval-compatible), mean ± standard deviation over seeds "
            "(sample standard deviation; none for a single seed; `(n=k)`: "
            "fewer seeds than the row's). Teacher: transformer + `kd_ner`; "
            "spaCy ner: spaCy's CNN `ner` (`configs/spacy-ner.cfg`); "
            "baseline/kd/pl/kd-pl: the LSTM-CNN-CRF student trained on gold "
            "only, + soft targets, + pseudo-labels, + both.",
            render_f1_table(f1, MODELS),
        ]
        gaps = summarize_gaps(runs.grid)
        if gaps:
            parts += [
                "Gaps in F1 points, paired by seed (mean ± standard deviation "
                "of the per-seed differences), against the paper's claims: "
                "the distilled student about as good as its teacher (≥ −1), "
                "well above the same student on gold alone and spaCy's `ner` "
                "(≥ +5; claimed up to 750 and 1,500 labeled sentences).",
                render_gaps_table(gaps),
            ]
        repeated = [
            f"{size} labeled: "
            + ", ".join(f"{MODEL_TITLES[m]} {n}" for m, n in counts.items() if n > 1)
            for size, counts in system_seed_counts(runs.grid).items()
            if max(counts.values()) > 1
        ]
        if repeated:
            parts.append(
                "Trained with several system seeds (`<model>-<size>-<seed>-s<k>` "
                "files; each seed counts once, with the mean of its system "
                "seeds), the most on one seed: " + "; ".join(repeated) + "."
            )
        if f1_plot is not None:
            parts.append(f"![Test F1 against labeled size]({f1_plot})")
        parts.append("## Per-type F1 of the best student")
        if not best:
            parts.append("No student runs.")
        for size, model in best.items():
            comparison = [model] + [
                m for m in ("teacher", "spacy-ner") if m in f1[size]
            ]
            table = {m: per_type_f1(runs.grid, m, size) for m in comparison}
            labels = sorted({label for t in table.values() for label in t})
            rows = []
            for m in comparison:
                title = MODEL_TITLES[m] + (" (best student)" if m == model else "")
                rows.append(
                    [title, str(f1[size][m].n)]
                    + [format_stats(table[m].get(label)) for label in labels]
                    + [format_stats(f1[size][m])]
                )
            parts += [
                f"### {size} labeled sentences: {MODEL_TITLES[model]} "
                f"(mean F1 {pct(f1[size][model].mean)})",
                markdown_table(
                    ["model", "seeds"] + labels + ["micro"],
                    rows,
                    "lr" + "r" * (len(labels) + 1),
                ),
            ]
    if runs.other:
        labels = sorted({label for r in runs.other for label in r.type_f1()})
        rows = []
        for run in runs.other:
            micro = run.metrics["micro"]
            type_f1 = run.type_f1()
            rows.append(
                [run.name, pct(micro.get("p")), pct(micro.get("r")), pct(run.f1)]
                + [pct(type_f1.get(label)) for label in labels]
            )
        parts += [
            "## Other runs",
            "Metrics files not named `<model>-<size>-<seed>.json` (%, seqeval).",
            markdown_table(
                ["run", "P", "R", "F1"] + labels, rows, "l" + "r" * (3 + len(labels))
            ),
        ]
    return parts


def render_speed_section(
    speed: Mapping[str, Mapping[str, Any]],
    student: Optional[str],
    ratios: Mapping[str, Mapping[str, Optional[float]]],
    speed_plot: Optional[str] = None,
) -> List[str]:
    """The Markdown of the speed and size tables.

    RETURNS (List[str]): Paragraphs.
    """
    sizes = batch_sizes(speed)
    threads = sorted({str(r.get("n_threads")) for r in speed.values()})
    rows = []
    for name, result in speed.items():
        n_params = result.get("n_params")
        n_vectors = result.get("n_vectors")
        rows.append(
            [_pipeline_title(name), precision_of(result)]
            + [_num(_wps(result, bs), ",.0f") for bs in sizes]
            + [
                _num(None if n_params is None else n_params / 1e6, ".2f"),
                _num(None if n_vectors is None else n_vectors / 1e6, ".2f"),
                _num(result.get("size_mb"), ".1f"),
                _num(result.get("peak_rss_mb"), ".0f"),
                _num(result.get("baseline_rss_mb"), ".0f"),
            ]
        )
    parts = [
        "## Speed and size",
        "Inference on CPU: words per second of `nlp.pipe` on "
        "pre-tokenized test docs (median of the timed runs), torch threads: "
        f"{', '.join(threads)}. Precision: fp32, or bf16 (matrix products in "
        "bfloat16: a teacher's `with_precision` layers set to bf16, any other "
        "pipeline under torch's CPU autocast). Params: model weights (M); "
        "vectors: floats in "
        "the static vectors table (M); disk: the pipeline directory (MB); "
        "peak RSS: the benchmark process's peak memory (MB), of which "
        "baseline is the interpreter, spaCy, torch and plugins before the "
        f"pipeline loads. `{SPEED_ONLY_NOTE}`: a model of that shape whose "
        "accuracy means nothing.",
        markdown_table(
            ["pipeline", "precision"]
            + [f"bs={bs} w/s" for bs in sizes]
            + ["params (M)", "vectors (M)", "disk MB", "peak RSS MB", "baseline MB"],
            rows,
            "ll" + "r" * (len(sizes) + 5),
        ),
    ]
    if speed_plot is not None:
        parts.append(f"![Words per second against batch size]({speed_plot})")
    if student is None:
        parts.append(
            "No pipeline named `student*` in the speed results: no speed-ups "
            "(name one with `--student`)."
        )
    elif ratios:
        rows = [
            [_pipeline_title(name), precision_of(speed[name])]
            + [_ratio(row.get(str(bs))) for bs in sizes]
            + [_ratio(row.get("params"))]
            for name, row in ratios.items()
        ]
        parts += [
            f"### Speed-up of `{student}` ({precision_of(speed[student])})",
            f"Words/s of `{student}` divided by the other pipeline's, by batch "
            f"size; params: the other pipeline's parameters divided by "
            f"`{student}`'s.",
            markdown_table(
                ["against", "precision"] + [f"bs={bs}" for bs in sizes] + ["params"],
                rows,
                "ll" + "r" * (len(sizes) + 1),
            ),
        ]
    return parts


def headline_models(f1: Mapping[int, Mapping[str, Stats]]) -> List[str]:
    """The columns of the README's F1 table: `HEADLINE_MODELS`, and the other
    students where they have runs, in `MODELS` order.

    f1 (Mapping[int, Mapping[str, Stats]]): `summarize_f1`'s dict.
    RETURNS (List[str]): Model names.
    """
    present = {m for by_model in f1.values() for m in by_model}
    return [m for m in MODELS if m in HEADLINE_MODELS or m in present]


def headline_batch_sizes(speed: Mapping[str, Mapping[str, Any]]) -> List[int]:
    """The batch sizes of the README's speed table: those of
    `HEADLINE_BATCH_SIZES` that were measured, else the smallest and largest.

    speed (Mapping[str, Mapping[str, Any]]): `read_speed`'s dict.
    RETURNS (List[int]): Batch sizes, ascending.
    """
    sizes = batch_sizes(speed)
    chosen = [bs for bs in HEADLINE_BATCH_SIZES if bs in sizes]
    return chosen or sorted({sizes[0], sizes[-1]})


def render_speed_table(
    speed: Mapping[str, Mapping[str, Any]],
    student: Optional[str],
    ratios: Mapping[str, Mapping[str, Optional[float]]],
) -> str:
    """The README's speed table: the precision and words/s of each pipeline
    at `headline_batch_sizes`, and how many times faster the student is (a
    pipeline in both precisions has a row for each).

    speed (Mapping[str, Mapping[str, Any]]): `read_speed`'s dict.
    student (Optional[str]): The pipeline compared against; None: no ratios.
    ratios (Mapping[str, Mapping[str, Optional[float]]]): `speed_ratios`.
    RETURNS (str): The table, the student's row first.
    """
    sizes = headline_batch_sizes(speed)
    header = ["pipeline", "precision"] + [f"words/s, batch {bs}" for bs in sizes]
    if student is not None:
        header += [f"`{student}` faster, batch {bs}" for bs in sizes]
    names = [student] if student is not None else []
    names += [name for name in speed if name != student]
    rows = []
    for name in names:
        row = [_pipeline_title(name), precision_of(speed[name])]
        row += [_num(_wps(speed[name], bs), ",.0f") for bs in sizes]
        if student is not None:
            ratio = ratios.get(name, {})
            row += [_ratio(ratio.get(str(bs))) for bs in sizes]
        rows.append(row)
    return markdown_table(header, rows, "ll" + "r" * (len(header) - 2))


def render_headline(
    f1: Mapping[int, Mapping[str, Stats]],
    speed: Optional[Mapping[str, Mapping[str, Any]]] = None,
    student: Optional[str] = None,
    ratios: Mapping[str, Mapping[str, Optional[float]]] = SimpleFrozenDict(),
    gaps: Mapping[int, Mapping[Tuple[str, str], Stats]] = SimpleFrozenDict(),
) -> str:
    """The README's tables: test F1 (%) by labeled size of `headline_models`
    (mean ± std over seeds), the gaps of `summarize_gaps` against their
    targets, then, with speed results, `render_speed_table`.

    f1 (Mapping[int, Mapping[str, Stats]]): `summarize_f1`'s dict.
    speed (Optional[Mapping[str, Mapping[str, Any]]]): `read_speed`'s dict.
    student (Optional[str]): The pipeline of `speed` compared against.
    ratios (Mapping[str, Mapping[str, Optional[float]]]): `speed_ratios`.
    gaps (Mapping[int, Mapping[Tuple[str, str], Stats]]): `summarize_gaps`.
    RETURNS (str): Markdown, the tables separated by a blank line.
    """
    parts = [render_f1_table(f1, headline_models(f1))] if f1 else []
    if gaps:
        parts.append(render_gaps_table(gaps))
    if speed:
        parts.append(render_speed_table(speed, student, ratios))
    return "\n\n".join(parts)


def check_run_record(data: Any, path: PathLike) -> Dict[str, Any]:
    """The run record of a results file (the "run" object that `evaluate` and
    `benchmark` write): a figure without one cannot be traced.

    data (Any): The file's JSON content.
    path (Union[str, Path]): The file, for the error message.
    RETURNS (Dict[str, Any]): The record, with at least "commit" and "date".
    """
    record = data.get("run") if isinstance(data, dict) else None
    if not isinstance(record, dict):
        raise ValueError(
            f"{path} has no run record (a 'run' object: command, commit, "
            "date, machine): write it again with `evaluate --output` or "
            "`benchmark --output`, which add one"
        )
    if "commit" not in record or not isinstance(record.get("date"), str):
        raise ValueError(f"{path}: its run record has no 'commit' or no 'date'")
    return record


def run_records(
    runs: Runs, speed_path: Optional[PathLike] = None
) -> Dict[Path, Dict[str, Any]]:
    """The run records of every metrics file read and of the speed results.

    runs (Runs): `read_runs`'s result.
    speed_path (Optional[Union[str, Path]]): `benchmark`'s JSON.
    RETURNS (Dict[Path, Dict[str, Any]]): File to its run record: grid runs,
        other runs, then the speed results.
    """
    records = {
        run.path: check_run_record(run.metrics, run.path)
        for run in [*runs.grid, *runs.other]
    }
    if speed_path is not None:
        path = Path(speed_path)
        records[path] = check_run_record(read_json(path), path)
    return records


def _commit_title(record: Mapping[str, Any]) -> str:
    commit = record.get("commit")
    if not commit:
        return "none (not a git checkout)"
    return f"`{str(commit)[:7]}`" + (" (dirty)" if record.get("dirty") else "")


def render_sources(records: Mapping[Path, Mapping[str, Any]], base: Path) -> str:
    """One line naming results files (their directories relative to `base`),
    the commits and the dates of their run records.

    records (Mapping[Path, Mapping[str, Any]]): `run_records`' dict.
    base (Path): The directory of the document that links the files.
    RETURNS (str): "Source: `dir/` a.json, b.json; commit `abc1234`; run
        2026-12-01." (commits and dates: every distinct one, sorted; a
        directory of more than `MAX_NAMED_SOURCES` files by count, first and
        last name).
    """
    by_dir: Dict[str, List[str]] = {}
    for path in records:
        by_dir.setdefault(_link(path.parent, base), []).append(path.name)
    files = "; ".join(
        f"`{directory}/` "
        + (
            ", ".join(names)
            if len(names) <= MAX_NAMED_SOURCES
            else f"{len(names)} files ({names[0]} … {names[-1]})"
        )
        for directory, names in by_dir.items()
    )
    commits = sorted({_commit_title(record) for record in records.values()})
    dates = sorted({str(record["date"])[:10] for record in records.values()})
    return (
        f"Source: {files}; {'commit' if len(commits) == 1 else 'commits'} "
        f"{', '.join(commits)}; run {dates[0]}"
        + (f" to {dates[-1]}" if len(dates) > 1 else "")
        + "."
    )


def replace_results_block(
    text: str, block: str, path: PathLike, name: str = "results"
) -> str:
    """Put `block` between the lines `<!-- NAME:start -->` and
    `<!-- NAME:end -->` of a document (`RESULTS_START` and `RESULTS_END` for
    the default name), instead of what was there; the same block twice gives
    the same text.

    text (str): The document (a README).
    block (str): The Markdown to put there.
    path (Union[str, Path]): The document's file, for the error message.
    name (str): The block's name in its markers.
    RETURNS (str): The new text.
    """
    start_line, end_line = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == start_line]
    ends = [i for i, line in enumerate(lines) if line.strip() == end_line]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(
            f"{path} needs one line {start_line} and, below it, one line "
            f"{end_line} around the generated results; found "
            f"{len(starts)} start and {len(ends)} end lines"
            + (", end first" if starts and ends and ends[0] < starts[0] else "")
        )
    middle = "\n" + block.strip("\n") + "\n\n"
    return "".join(lines[: starts[0] + 1]) + middle + "".join(lines[ends[0] :])


def write_markdown(
    output: Path,
    title: str,
    render: Callable[[Path], str],
    readme: Optional[Path] = None,
    block: str = "results",
    render_readme: Optional[Callable[[Path], str]] = None,
) -> None:
    """Write `render(output.parent)` under a `title` heading to `output`, and
    with a `readme`, `render_readme(readme.parent)` (by default `render`'s)
    into its `block` (`replace_results_block`): each rendering links files
    relative to the document it goes into.

    RAISES OSError, ValueError: A file cannot be written, or the README lacks
        the block's markers.
    """
    markdown = render(output.parent)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f"# {title}\n\n{markdown}\n", "utf8")
    if readme is not None:
        text = readme.read_text(encoding="utf8")
        markdown = (render_readme or render)(readme.parent)
        rendered = replace_results_block(text, markdown, readme, block)
        readme.write_text(rendered, "utf8")


def write_report(
    metrics_dir: PathLike,
    output: PathLike,
    *,
    speed_path: Optional[PathLike] = None,
    plots_dir: Optional[PathLike] = None,
    student: Optional[str] = None,
    plots: bool = True,
    readme: Optional[PathLike] = None,
    block: str = "results",
) -> Report:
    """Read the metrics (and speed results), draw the plots and write the
    Markdown report; optionally put the headline tables into a README.

    metrics_dir (Union[str, Path]): The directory of metrics JSON files.
    output (Union[str, Path]): The Markdown file to write.
    speed_path (Optional[Union[str, Path]]): `benchmark`'s JSON.
    plots_dir (Optional[Union[str, Path]]): Where to write the PNGs; by
        default the output's directory. The report links them relatively.
    student (Optional[str]): The pipeline of the speed results to compare the
        others against (default: `find_student`).
    plots (bool): Draw the plots (needs matplotlib).
    readme (Optional[Union[str, Path]]): A document whose lines between
        `RESULTS_START` and `RESULTS_END` become `render_headline`'s tables
        and `render_sources`' line. Every metrics file and the speed results
        then need a run record, the directory grid runs, and the document
        both markers; otherwise nothing is written.
    block (str): The README block's name (`replace_results_block`).
    RETURNS (Report): The report and what went into it.
    """
    output = Path(output)
    speed = read_speed(speed_path) if speed_path is not None else None
    runs = read_runs(metrics_dir, exclude=[speed_path] if speed_path else [])
    f1 = summarize_f1(runs.grid)
    best = {size: m for size, by in f1.items() if (m := best_student(by))}
    ratios: Dict[str, Dict[str, Optional[float]]] = {}
    student_name = None
    if speed is not None:
        student_name = find_student(speed, student)
        if student_name is not None:
            ratios = speed_ratios(speed, student_name)
    headline = render_headline(
        f1, speed, student_name, ratios, summarize_gaps(runs.grid)
    )
    readme_path = new_readme = None
    if readme is not None:
        readme_path = Path(readme)
        if not f1:
            raise ValueError(
                f"No <model>-<size>-<seed>.json files in {metrics_dir}: nothing "
                f"for the table of {readme_path}"
            )
        sources = render_sources(run_records(runs, speed_path), readme_path.parent)
        headline += "\n\n" + sources
        new_readme = replace_results_block(
            readme_path.read_text(encoding="utf8"), headline, readme_path, block
        )
    plot_dir = Path(plots_dir) if plots_dir is not None else output.parent
    plot_paths: List[Path] = []
    f1_link = speed_link = None
    if plots and f1:
        plot_paths.append(plot_f1_by_size(f1, plot_dir / F1_PLOT))
        f1_link = _link(plot_paths[-1], output.parent)
    if plots and speed is not None:
        plot_paths.append(plot_speed(speed, plot_dir / SPEED_PLOT))
        speed_link = _link(plot_paths[-1], output.parent)
    parts = [
        "# spacy-kd-ner: results",
        f"From {len(runs.grid) + len(runs.other)} metrics files in "
        f"`{Path(metrics_dir).as_posix()}`"
        + (
            f" and the speed results `{Path(speed_path).as_posix()}`"
            if speed_path
            else ""
        )
        + ".",
    ]
    parts += render_f1_section(runs, f1, best, f1_link)
    if speed is not None:
        parts += render_speed_section(speed, student_name, ratios, speed_link)
    markdown = "\n\n".join(parts) + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown, encoding="utf8")
    if readme_path is not None and new_readme is not None:
        readme_path.write_text(new_readme, encoding="utf8")
    return Report(
        markdown=markdown,
        output=output,
        plots=plot_paths,
        f1=f1,
        best_students=best,
        ratios=ratios,
        runs=runs,
        headline=headline,
        readme=readme_path,
    )


app = typer.Typer(add_completion=False)


@app.command()
def report_cli(
    metrics_dir: Path = Arg(
        ..., help="Directory of metrics JSON files from `evaluate`", file_okay=False
    ),
    output: Path = Arg(..., help="Output Markdown file", dir_okay=False),
    speed: Optional[Path] = Opt(
        None, "--speed", "-s", help="Speed JSON from `benchmark`", dir_okay=False
    ),
    plots_dir: Optional[Path] = Opt(
        None,
        "--plots-dir",
        "-p",
        help="Where to write the PNG plots (default: the output's directory)",
        file_okay=False,
    ),
    student: Optional[str] = Opt(
        None,
        "--student",
        help="Pipeline of the speed JSON to compare the others against "
        "(default: 'student', else the first named student*)",
    ),
    no_plots: bool = Opt(False, "--no-plots", help="Do not draw the plots"),
    readme: Optional[Path] = Opt(
        None,
        "--readme",
        "-r",
        help=f"Put the headline tables and their sources between the lines "
        f"{RESULTS_START} and {RESULTS_END} of this file",
        exists=True,
        dir_okay=False,
    ),
    block: str = Opt(
        "results",
        "--block",
        "-b",
        help="The README block to replace: the lines between <!-- BLOCK:start "
        "--> and <!-- BLOCK:end -->",
    ),
):
    """
    Write a Markdown report of the metrics files named
    <model>-<size>-<seed>.json (model: teacher, spacy-ner, student-baseline,
    student-kd, student-pl, student-kd-pl): mean and standard deviation over
    seeds of the test F1 per labeled size, the per-type F1 of the best
    student, other metrics files in a table of their own, and, with --speed,
    words/s by batch size, size and memory of each pipeline and the student's
    speed-ups. Plots (PNG, matplotlib): F1 against labeled size, words/s
    against batch size. With --readme, the README's tables (F1 of teacher,
    spaCy ner and students by labeled size; words/s at batch 1 and 128 and the
    student's speed-ups) and a line naming their files, commits and dates
    replace the text between its markers; every file then needs the run
    record that `evaluate` and `benchmark` write.
    """
    try:
        result = write_report(
            metrics_dir,
            output,
            speed_path=speed,
            plots_dir=plots_dir,
            student=student,
            plots=not no_plots,
            readme=readme,
            block=block,
        )
    except (OSError, ValueError) as e:
        msg.fail("Cannot write the report", str(e), exits=1)
        raise  # not reached: msg.fail exits
    for path in result.runs.skipped:
        msg.info(f"Skipped {path}: no metrics in it")
    for path in result.plots:
        msg.good(f"Saved plot {path}")
    msg.good(f"Saved report {result.output}")
    if result.readme is not None:
        msg.good(f"Updated the results in {result.readme}")


if __name__ == "__main__":
    app()
