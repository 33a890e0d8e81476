"""Inference speed, size and memory of spaCy pipelines on pre-tokenized docs.

Speed is words per second of `nlp.pipe` over fresh, unannotated docs built from
the gold docs' words and spaces: the tokenizer never runs and building the docs
is not timed (spaCy's `spacy benchmark speed` times `make_doc` as well). Each
batch size is warmed up first, then timed `n_runs` times with
`time.perf_counter()` around `list(nlp.pipe(docs, batch_size=...))`, a run
repeating its docs until it has taken `min_seconds` (a fast pipeline is then
timed long enough on the few docs a slow one can afford); the median run is
reported beside all runs.

A pipeline runs in a precision: "fp32" or "bf16" (`BENCHMARK_PRECISIONS`),
through `precision.in_precision`: its `with_precision` layers (the
teacher's transformer) are set to it, and a pipeline without them (the
student, spaCy's `ner`) runs under CPU autocast to bfloat16 for "bf16". "fp32"
sets the layers to fp32 too, so that a teacher saved with precision "auto"
is timed in float32 on any CPU.

Memory is the process's peak resident set size (`ru_maxrss`), which only means
something per pipeline when each pipeline runs in a process of its own:
`benchmark_pipelines` starts a fresh `spawn` process for each one.

"MB" here is 2**20 bytes (MiB) for sizes on disk and in memory alike.
"""

import contextlib
import gc
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Union,
)

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import SimpleFrozenDict, import_file
from spacy.vocab import Vocab
from thinc.api import Model

from .doc_text import unannotated_copy
from .docbins import read_corpus
from .errors import InputError
from .pipelines import load_pipeline
from .precision import in_precision

DEFAULT_BATCH_SIZES = (1, 32, 64, 128)
BENCHMARK_PRECISIONS = ("fp32", "bf16")
MB = float(2**20)
MaxDocs = Union[None, int, Mapping[int, Optional[int]]]


def count_parameters(nlp: Language) -> int:
    """Count the weights of a pipeline's enabled components.

    Walks the Thinc model of every component that has one (`component.model`)
    and adds the size of every parameter that is set, plus the parameters of
    the torch modules that Thinc shims wrap (`PyTorchWrapper` keeps its module
    in `model.shims[0]._model`). Shared pieces count once: Thinc nodes and
    shims by identity, torch tensors by identity. Static vectors in
    `nlp.vocab.vectors` are not model parameters: see `count_vectors`. A
    transformer listener holds no weights of its own; the `transformer`
    component's model holds them.

    nlp (Language): The pipeline.
    RETURNS (int): The number of weights.
    """
    seen_nodes: Set[int] = set()
    seen_shims: Set[int] = set()
    seen_tensors: Set[int] = set()
    total = 0
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if not isinstance(model, Model):
            continue
        for node in model.walk():
            if id(node) in seen_nodes:
                continue
            seen_nodes.add(id(node))
            for name in node.param_names:
                if node.has_param(name):
                    total += int(node.get_param(name).size)
            for shim in node.shims:
                if id(shim) in seen_shims:
                    continue
                seen_shims.add(id(shim))
                module = getattr(shim, "_model", None)
                parameters = getattr(module, "parameters", None)
                if not callable(parameters):
                    continue
                for tensor in parameters():
                    if id(tensor) not in seen_tensors:
                        seen_tensors.add(id(tensor))
                        total += int(tensor.numel())
    return total


def count_vectors(nlp: Language) -> int:
    """The number of floats in the pipeline's static vectors table.

    nlp (Language): The pipeline.
    RETURNS (int): rows x width of `nlp.vocab.vectors` (0 without vectors).
    """
    return int(nlp.vocab.vectors.data.size)


def dir_size_mb(path: Union[str, Path]) -> float:
    """Size on disk of a file, or of all files under a directory.

    path (Union[str, Path]): The file or directory (e.g. a saved pipeline).
    RETURNS (float): The size in MB (2**20 bytes).
    """
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / MB
    if not path.is_dir():
        raise InputError(f"No file or directory at {path}")
    size = sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()
    )
    return size / MB


def peak_rss_mb() -> Optional[float]:
    """Peak resident set size of this process so far (not of its children).

    RETURNS (Optional[float]): MB (2**20 bytes), or None where the `resource`
        module is missing (Windows).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return maxrss / MB if sys.platform == "darwin" else maxrss / 1024.0


def check_benchmark_precision(precision: str) -> None:
    """Raise `InputError` unless `precision` is one of `BENCHMARK_PRECISIONS`
    (a benchmark states what it ran: never "auto")."""
    if precision not in BENCHMARK_PRECISIONS:
        raise InputError(
            f"A benchmark's precision is one of {', '.join(BENCHMARK_PRECISIONS)}, "
            f"got {precision!r}."
        )


def _fresh_docs(vocab: Vocab, docs: Sequence[Doc]) -> List[Doc]:
    return [unannotated_copy(vocab, doc) for doc in docs]


def _doc_limit(max_docs: MaxDocs, batch_size: int) -> Optional[int]:
    if max_docs is None or isinstance(max_docs, int):
        return max_docs
    return max_docs.get(batch_size)


@contextlib.contextmanager
def _limit_threads(n_threads: Optional[int]) -> Iterator[None]:
    """Limit torch's (and, where threadpoolctl is installed, BLAS/OpenMP)
    threads to `n_threads` inside the block, restoring them afterwards."""
    if n_threads is None:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with contextlib.ExitStack() as stack:
            try:
                from threadpoolctl import threadpool_limits

                stack.enter_context(threadpool_limits(limits=n_threads))
            except ImportError:
                pass
            yield
    finally:
        torch.set_num_threads(old)


def benchmark_speed(
    nlp: Language,
    docs: Sequence[Doc],
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    n_runs: int = 3,
    warmup_docs: int = 32,
    n_threads: Optional[int] = None,
    max_docs: MaxDocs = None,
    min_seconds: float = 0.0,
) -> Dict[str, Any]:
    """Measure words per second of `nlp.pipe` at several batch sizes.

    For each batch size: run the pipeline over the first
    max(`warmup_docs`, batch size) docs (untimed), then time `n_runs` runs over
    the first `max_docs` docs (all of them when there is no limit), each on
    freshly built docs. A run passes over those docs again (fresh docs, built
    untimed) until its timed seconds reach `min_seconds`, so that a fast
    pipeline is timed as long as a slow one on a short corpus.

    nlp (Language): The pipeline.
    docs (Sequence[Doc]): The docs whose words (and spaces) to process; their
        annotations are ignored.
    batch_sizes (Sequence[int]): The batch sizes to time.
    n_runs (int): Timed runs per batch size.
    warmup_docs (int): Docs to warm up on before each batch size.
    n_threads (Optional[int]): Set torch's thread count (and BLAS's, through
        threadpoolctl where installed) for the benchmark; None leaves it.
    max_docs (Union[None, int, Mapping[int, Optional[int]]]): A limit on the
        docs timed, for every batch size (int) or per batch size (mapping,
        e.g. {1: 300}); None times all docs.
    min_seconds (float): The least timed seconds of a run (whole passes).
    RETURNS (Dict[str, Any]): `batch_sizes` (List[int]), `words_per_second`
        ({str(batch size): median words/s}), `by_batch_size`
        ({str(batch size): {"batch_size", "n_docs", "n_words" (one pass),
        "n_runs", "warmup_docs", "words_per_second" (median),
        "words_per_second_runs", "seconds_runs", "passes_runs"}}),
        `min_seconds` and `n_threads` (torch's thread count while timing).
    """
    if n_runs < 1:
        raise InputError(f"n_runs must be at least 1, not {n_runs}")
    if min_seconds < 0:
        raise InputError(f"min_seconds must not be negative, not {min_seconds}")
    if any(bs < 1 for bs in batch_sizes):
        raise InputError(f"Batch sizes must be positive: {list(batch_sizes)}")
    docs = list(docs)
    if not any(len(doc) for doc in docs):
        raise InputError("Cannot benchmark speed on an empty corpus.")
    by_batch_size: Dict[str, Dict[str, Any]] = {}
    with _limit_threads(n_threads):
        import torch

        threads_used = torch.get_num_threads()
        for bs in batch_sizes:
            limit = _doc_limit(max_docs, bs)
            timed = docs[:limit] if limit is not None else docs
            n_words = sum(len(doc) for doc in timed)
            n_warm = min(len(docs), max(warmup_docs, bs))
            list(nlp.pipe(_fresh_docs(nlp.vocab, docs[:n_warm]), batch_size=bs))
            seconds: List[float] = []
            passes: List[int] = []
            for _ in range(n_runs):
                elapsed, n_passes = 0.0, 0
                gc.collect()
                while n_passes == 0 or elapsed < min_seconds:
                    elapsed += _time_pass(nlp, timed, bs)
                    n_passes += 1
                seconds.append(elapsed)
                passes.append(n_passes)
            wps = [n_words * n / s for n, s in zip(passes, seconds)]
            by_batch_size[str(bs)] = {
                "batch_size": bs,
                "n_docs": len(timed),
                "n_words": n_words,
                "n_runs": n_runs,
                "warmup_docs": n_warm,
                "words_per_second": statistics.median(wps),
                "words_per_second_runs": wps,
                "seconds_runs": seconds,
                "passes_runs": passes,
            }
    return {
        "batch_sizes": [int(bs) for bs in batch_sizes],
        "words_per_second": {
            k: v["words_per_second"] for k, v in by_batch_size.items()
        },
        "by_batch_size": by_batch_size,
        "min_seconds": min_seconds,
        "n_threads": threads_used,
    }


def _time_pass(nlp: Language, docs: Sequence[Doc], batch_size: int) -> float:
    """Seconds of one `nlp.pipe` pass over fresh copies of `docs` (copies
    built before the clock starts; the caller collects garbage once a run,
    not each pass: on a few docs a collection takes longer than the pass)."""
    run_docs = _fresh_docs(nlp.vocab, docs)
    start = time.perf_counter()
    list(nlp.pipe(run_docs, batch_size=batch_size))
    return time.perf_counter() - start


def benchmark_pipeline(
    model_path: Union[str, Path],
    corpus_path: Union[str, Path],
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    n_runs: int = 3,
    warmup_docs: int = 32,
    n_threads: Optional[int] = None,
    max_docs: MaxDocs = None,
    min_seconds: float = 0.0,
    code_path: Optional[Union[str, Path]] = None,
    precision: str = "fp32",
) -> Dict[str, Any]:
    """Load one saved pipeline and benchmark it in this process: speed
    (`benchmark_speed`) in `precision`, parameters, size on disk and peak
    memory. Peak memory is the whole process's, so it is per pipeline only in
    a fresh process (as `benchmark_pipelines` runs it).

    model_path (Union[str, Path]): A pipeline directory (or package name).
    corpus_path (Union[str, Path]): A `.spacy` file (or directory) of docs
        (`docbins.read_corpus`).
    batch_sizes, n_runs, warmup_docs, n_threads, max_docs, min_seconds: As
        for `benchmark_speed`.
    code_path (Optional[Union[str, Path]]): A Python file to import first
        (registered functions), as spaCy's `--code`.
    precision (str): "fp32" or "bf16" (`precision.in_precision`). The
        caller checks that the CPU supports bf16: torch emulates it elsewhere.
    RETURNS (Dict[str, Any]): `benchmark_speed`'s keys plus `model_path`,
        `pipeline`, `precision`, `precision_layers` (the `with_precision`
        layers set to it; 0: none, and in bf16 it ran under autocast), `n_params`,
        `n_vectors`, `size_mb` (None for a package name), `baseline_rss_mb`
        (peak RSS after the imports and a blank pipeline, before this pipeline
        loads) and `peak_rss_mb` (at the end).
    """
    check_benchmark_precision(precision)
    if code_path is not None:
        import_file("python_code", code_path)
    # Every pipeline pays for the imports that spaCy's entry points trigger
    # (spacy-transformers, say) when it first builds a Language: count them
    # in the baseline, not in the pipeline.
    spacy.blank("xx")
    rss_baseline = peak_rss_mb()
    nlp = load_pipeline(model_path)
    docs = list(read_corpus(corpus_path, Vocab()))
    with in_precision(nlp, precision) as n_layers:
        result = benchmark_speed(
            nlp,
            docs,
            batch_sizes=batch_sizes,
            n_runs=n_runs,
            warmup_docs=warmup_docs,
            n_threads=n_threads,
            max_docs=max_docs,
            min_seconds=min_seconds,
        )
    path = Path(model_path)
    result.update(
        {
            "model_path": str(model_path),
            "pipeline": list(nlp.pipe_names),
            "precision": precision,
            "precision_layers": n_layers,
            "n_params": count_parameters(nlp),
            "n_vectors": count_vectors(nlp),
            "size_mb": dir_size_mb(path) if path.exists() else None,
            "baseline_rss_mb": rss_baseline,
            "peak_rss_mb": peak_rss_mb(),
        }
    )
    return result


def benchmark_pipelines(
    model_paths: Mapping[str, Union[str, Path]],
    corpus_path: Union[str, Path],
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    n_runs: int = 3,
    warmup_docs: int = 32,
    n_threads: Optional[int] = None,
    max_docs: MaxDocs = None,
    min_seconds: float = 0.0,
    code_path: Optional[Union[str, Path]] = None,
    isolate: bool = True,
    precisions: Mapping[str, str] = SimpleFrozenDict(),
) -> Dict[str, Dict[str, Any]]:
    """Benchmark several saved pipelines on the same corpus, one at a time.

    With `isolate` (the default) each pipeline runs in a fresh process started
    with the `spawn` method, so that `peak_rss_mb` is that pipeline's (on top
    of the interpreter, spaCy, torch and spaCy's plugins, reported as
    `baseline_rss_mb`; the corpus also counts) and no pipeline warms caches
    for the next. Without it, all run in this process and the memory keys are
    None.

    model_paths (Mapping[str, Union[str, Path]]): Names (for the report) to
        pipeline directories.
    corpus_path (Union[str, Path]): A `.spacy` file (or directory) of docs.
    batch_sizes, n_runs, warmup_docs, n_threads, max_docs, min_seconds,
        code_path: As for `benchmark_pipeline`.
    isolate (bool): Run each pipeline in a process of its own.
    precisions (Mapping[str, str]): Names of `model_paths` to their precision
        ("fp32" or "bf16", as for `benchmark_pipeline`); "fp32" for the others.
    RETURNS (Dict[str, Dict[str, Any]]): For each name, `benchmark_pipeline`'s
        dict plus `isolated` (bool).
    """
    kwargs: Dict[str, Any] = {
        "batch_sizes": list(batch_sizes),
        "n_runs": n_runs,
        "warmup_docs": warmup_docs,
        "n_threads": n_threads,
        "max_docs": dict(max_docs) if isinstance(max_docs, Mapping) else max_docs,
        "min_seconds": min_seconds,
        "code_path": str(code_path) if code_path is not None else None,
    }
    unknown = sorted(set(precisions) - set(model_paths))
    if unknown:
        raise InputError(
            f"Precisions for pipelines that are not benchmarked: {', '.join(unknown)}"
        )
    for precision in precisions.values():
        check_benchmark_precision(precision)
    results: Dict[str, Dict[str, Any]] = {}
    for name, model_path in model_paths.items():
        kwargs["precision"] = precisions.get(name, "fp32")
        if isolate:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                future = pool.submit(
                    benchmark_pipeline, str(model_path), str(corpus_path), **kwargs
                )
                result = future.result()
        else:
            result = benchmark_pipeline(model_path, corpus_path, **kwargs)
            result["baseline_rss_mb"] = None
            result["peak_rss_mb"] = None
        result["isolated"] = isolate
        results[name] = result
    return results
