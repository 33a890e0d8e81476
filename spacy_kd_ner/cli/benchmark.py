"""`kd-ner benchmark`: words/s by batch size, parameters, size and peak memory
of one or more pipelines, each in a process of its own, in float32 and, for
the pipelines named by `--bf16`, in bfloat16 as well."""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.cli._util import Arg, Opt, string_to_list
from wasabi import Printer, msg

from ..benchmark import MaxDocs, benchmark_pipelines
from ..errors import InputError
from ..evaluation import write_metrics
from ..pipelines import PipelineLoadError, check_pipeline_path
from ..precision import cpu_supports_bf16
from ._app import kd_app
from ._util import code_opt, fail_on_known_errors, split_commas

BF16_SUFFIX = "-bf16"


@kd_app.command("benchmark")
@fail_on_known_errors
def benchmark_cli(
    data_path: Path = Arg(
        ..., help="Docs to run: a .spacy file or a directory of them", exists=True
    ),
    models: List[str] = Opt(
        ...,
        "--model",
        "-m",
        help="A pipeline as NAME=PATH (or PATH); repeat for several",
    ),
    bf16: Optional[str] = Opt(
        None,
        "--bf16",
        help="Comma-separated --model names to benchmark in bfloat16 as well, "
        "as NAME-bf16 (skipped with a warning on a CPU without AMX or "
        "AVX512-BF16)",
    ),
    batch_sizes: str = Opt(
        "1,32,64,128", "--batch-sizes", "-b", help="Comma-separated batch sizes"
    ),
    n_runs: int = Opt(
        3,
        "--n-runs",
        "-n",
        min=1,
        help="Timed runs per batch size (the median is reported)",
    ),
    n_threads: Optional[int] = Opt(
        None,
        "--threads",
        "-t",
        min=1,
        help="torch (and BLAS) threads; default: leave as is",
    ),
    max_docs: Optional[int] = Opt(
        None,
        "--max-docs",
        min=1,
        help="Time at most this many docs at every batch size",
    ),
    max_docs_bs1: int = Opt(
        300,
        "--max-docs-bs1",
        min=0,
        help="Time at most this many docs at batch size 1 (0: no limit)",
    ),
    min_seconds: float = Opt(
        0.0,
        "--min-seconds",
        min=0.0,
        help="Repeat each timed run's docs until it has taken this long, so "
        "that a fast pipeline is timed long enough on few docs",
    ),
    warmup_docs: int = Opt(
        32, "--warmup-docs", min=0, help="Docs to warm up on before each batch size"
    ),
    in_process: bool = Opt(
        False,
        "--in-process",
        help="Run all pipelines in this process (no per-pipeline peak memory)",
    ),
    output: Optional[Path] = Opt(
        None, "--output", "-o", help="Output JSON file", dir_okay=False
    ),
    code_path: Optional[Path] = code_opt(),
):
    """
    Benchmark the CPU inference speed (words/s of nlp.pipe on pre-tokenized
    docs, median of --n-runs), parameter count, size on disk and peak memory
    of pipelines. Each pipeline runs in a fresh process, so peak memory is its
    own (on top of the interpreter, spaCy, torch and spaCy's plugins:
    baseline_rss_mb). Every --model runs in float32 (a teacher's
    with_precision layers are set to fp32, whatever its saved precision);
    --bf16 NAME adds NAME-bf16, the same pipeline in bfloat16: its
    with_precision layers set to bf16, or, in a pipeline without them (the
    student, spaCy's ner), every torch call under CPU autocast. The JSON
    records each entry's precision. On a CPU without AMX or AVX512-BF16,
    torch would emulate bfloat16 (slower than float32, not a peer worth
    stating): the bf16 entries are left out with a warning.
    """
    sizes = string_to_list(batch_sizes, intify=True)
    if not sizes or any(bs < 1 for bs in sizes):
        msg.fail(f"Invalid batch sizes: {batch_sizes}", exits=1)
    benchmark(
        data_path,
        parse_model_specs(models),
        bf16=[] if bf16 is None else split_commas(bf16, "pipeline name"),
        batch_sizes=sizes,
        n_runs=n_runs,
        n_threads=n_threads,
        max_docs=doc_limits(sizes, max_docs, max_docs_bs1 or None),
        min_seconds=min_seconds,
        warmup_docs=warmup_docs,
        isolate=not in_process,
        output=output,
        code_path=code_path,
        silent=False,
    )


def parse_model_specs(specs: List[str]) -> Dict[str, str]:
    """Parse `NAME=PATH` strings (a bare `PATH` is named after its last part).

    specs (List[str]): The strings.
    RETURNS (Dict[str, str]): Names to paths, in the given order.
    """
    models: Dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).name, spec
        if not name or not path:
            msg.fail(f"Invalid --model {spec!r}: expected NAME=PATH", exits=1)
        if name in models:
            msg.fail(f"Duplicate pipeline name: {name}", exits=1)
        check_pipeline(name, path)
        models[name] = path
    return models


def check_pipeline(name: str, path: str) -> None:
    """Fail, naming the pipeline, unless `path` is a saved pipeline directory
    or an installed pipeline package (`check_pipeline_path`): found here, not
    in a worker process."""
    try:
        check_pipeline_path(path)
    except PipelineLoadError as err:
        msg.fail(f"--model {name}: {err}", exits=1)


def doc_limits(
    batch_sizes: List[int], max_docs: Optional[int], max_docs_bs1: Optional[int]
) -> MaxDocs:
    """The per-batch-size doc limits from the CLI's two options.

    RETURNS (Dict[int, Optional[int]]): Batch size to doc limit (None: all).
    """
    limits: Dict[int, Optional[int]] = {bs: max_docs for bs in batch_sizes}
    if max_docs_bs1 is not None and 1 in limits:
        limits[1] = max_docs_bs1 if max_docs is None else min(max_docs, max_docs_bs1)
    return limits


def bf16_peers(
    models: Dict[str, str], names: Sequence[str]
) -> Tuple[Dict[str, str], Dict[str, str]]:
    """The pipelines to benchmark when `names` also run in bfloat16: every
    entry of `models`, each of `names` followed by NAME-bf16 (the same path).

    models (Dict[str, str]): Names to paths (`parse_model_specs`).
    names (Sequence[str]): Names of `models` to add in bfloat16.
    RETURNS (Tuple[Dict[str, str], Dict[str, str]]): Names to paths, in
        order, and the bf16 entries' names to "bf16" (for
        `benchmark_pipelines`' `precisions`).
    RAISES InputError: A name that is not in `models`, named twice, or whose
        NAME-bf16 is already a name of `models`.
    """
    unknown = [name for name in names if name not in models]
    if unknown:
        raise InputError(
            f"--bf16 {', '.join(unknown)}: no such --model (the models: "
            f"{', '.join(models)})."
        )
    if len(set(names)) < len(names):
        raise InputError(f"--bf16 names a pipeline twice: {', '.join(names)}.")
    taken = [name + BF16_SUFFIX for name in names if name + BF16_SUFFIX in models]
    if taken:
        raise InputError(
            f"--bf16 would add {', '.join(taken)}, already a --model name: "
            "rename that --model."
        )
    entries: Dict[str, str] = {}
    precisions: Dict[str, str] = {}
    for name, path in models.items():
        entries[name] = path
        if name in names:
            entries[name + BF16_SUFFIX] = path
            precisions[name + BF16_SUFFIX] = "bf16"
    return entries, precisions


def benchmark(
    data_path: Path,
    models: Dict[str, str],
    *,
    bf16: Sequence[str] = (),
    batch_sizes: List[int],
    n_runs: int = 3,
    n_threads: Optional[int] = None,
    max_docs: MaxDocs = None,
    min_seconds: float = 0.0,
    warmup_docs: int = 32,
    isolate: bool = True,
    output: Optional[Path] = None,
    code_path: Optional[Path] = None,
    silent: bool = True,
) -> Dict[str, Dict[str, Any]]:
    """Run `benchmark_pipelines`, print a table and save the results.

    models (Dict[str, str]): Names to pipeline paths, run in float32.
    bf16 (Sequence[str]): Names of `models` to run in bfloat16 as well, as
        NAME-bf16 (`bf16_peers`); left out, with a warning, where the CPU
        lacks AMX and AVX512-BF16 (`precision.cpu_supports_bf16`).
    RETURNS (Dict[str, Dict[str, Any]]): Pipeline name to its results.
    RAISES InputError: A bad `bf16` name (`bf16_peers`).
    """
    printer = Printer(no_print=silent, pretty=not silent)
    entries, precisions = bf16_peers(models, bf16)
    if precisions and not cpu_supports_bf16():
        printer.warn(
            f"Skipping {', '.join(precisions)}: this CPU has neither AMX nor "
            "AVX512-BF16, so torch would emulate bfloat16, slower than float32."
        )
        entries, precisions = dict(models), {}
    results = benchmark_pipelines(
        entries,
        data_path,
        batch_sizes=batch_sizes,
        n_runs=n_runs,
        warmup_docs=warmup_docs,
        n_threads=n_threads,
        max_docs=max_docs,
        min_seconds=min_seconds,
        code_path=code_path,
        isolate=isolate,
        precisions=precisions,
    )
    print_results(results, batch_sizes, printer)
    if output is not None:
        write_metrics(results, output)
        printer.good(f"Saved results to {output}")
    return results


def _num(value: Optional[float], fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_results(
    results: Dict[str, Dict[str, Any]], batch_sizes: List[int], printer: Printer
) -> None:
    """Print precision, words/s per batch size, parameters, size and peak
    memory."""
    rows = []
    for name, result in results.items():
        wps = result["words_per_second"]
        rows.append(
            [name, result["precision"]]
            + [_num(wps.get(str(bs)), ",.0f") for bs in batch_sizes]
            + [
                _num(result["n_params"] / 1e6, ".2f"),
                _num(result["size_mb"], ".1f"),
                _num(result["peak_rss_mb"], ".0f"),
            ]
        )
    header = (
        ["pipeline", "precision"]
        + [f"bs={bs} w/s" for bs in batch_sizes]
        + ["params (M)", "disk MB", "peak RSS MB"]
    )
    threads = {result["n_threads"] for result in results.values()}
    printer.table(
        rows,
        header=header,
        aligns=["l", "l"] + ["r"] * (len(header) - 2),
        title=f"Inference speed (words/s, median; torch threads: {sorted(threads)})",
    )
