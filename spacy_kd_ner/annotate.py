"""Run a trained teacher over a corpus once and keep its soft targets.

``annotate_corpus`` streams a ``.spacy`` corpus through a teacher pipeline
and writes the same docs, gold annotations untouched (docs without entity
annotation stay without it), each carrying the teacher's per-token
distribution over its BILUO tags (float16, with the tag list; see
``scores.py``). The teacher (``teachers.py``) is a pipeline with a ``kd_ner``
component (``transformer`` + ``kd_ner``: its distributions), or any other
pipeline that sets ``doc.ents`` (one-hot rows, optionally smoothed) or scored
spans (soft rows), its labels mapped to the student's. Several teachers of
one kind over the same tags (say, one fine-tuned per seed) make an ensemble:
each token's distribution is the mean of theirs.

The output is an annotated corpus (``annotated_corpus.py``): a directory of
shards that spaCy's ``Corpus`` reads as one corpus (``--paths.train OUTPUT``),
complete once it exists; an interrupted run with the same input, teachers and
shard size resumes from its last complete shard. The input files and the
teachers are known by their content (sha256 of the files, of a teacher's
pipeline directory), so a teacher replaced at the same path is another
teacher: its run refuses the interrupted one's shards (or, with
``overwrite``, starts afresh). How the distributions are made (the teacher's
kind, labels, label map, smoothing: ``Teacher.record``) is in the manifest as
``teacher`` and must match too. A run that fails before it wrote a shard
(e.g. on an unreadable input) leaves no work directory behind; one that fails
later keeps its shards for the next run to resume.

Memory stays flat: one input ``.spacy`` file and one shard of docs at a time.
With `ray_annotate.RayOptions` the teachers run on Ray workers, shard by
shard; reading, resuming, writing and publishing stay here, so the output is
the same.
"""

import hashlib
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Union,
    cast,
)

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from thinc.types import Floats2d

from .annotated_corpus import (
    FORMAT,
    AnnotateError,
    ShardWriter,
    check_not_nested,
    directory_sha256,
    file_id,
)
from .context import ContextSource, target_bounds
from .docbins import count_docbin_docs, docbin_paths, read_docbins
from .pipelines import load_pipeline
from .precision import check_precision, pipeline_precision, set_precision
from .scores import set_teacher_scores
from .teachers import (
    Teacher,
    TeacherOptions,
    dropped_counts,
    dropped_message,
    make_teachers,
)

if TYPE_CHECKING:
    from .ray_annotate import RayAnnotator, RayOptions

TeacherRef = Union[str, Path, Language]


@dataclass
class AnnotateStats:
    """What `annotate_corpus` read and wrote.

    docs_read (int): Docs read from the input.
    docs_written (int): Docs in the output (all shards, resumed ones included).
    docs_annotated (int): Docs that went through the teacher in this run.
    docs_with_gold (int): Output docs with gold entity annotation.
    tokens (int): Tokens in the output.
    shards (int): Shards in the output.
    shards_resumed (int): Shards kept from an interrupted run.
    seconds (float): Wall time of this run (loading the teacher included).
    teacher_seconds (float): Time spent running the teacher (all of them, for
        an ensemble); on Ray, the wall time of the annotation, the workers
        running side by side.
    size_bytes (int): Size of the output directory.
    tags (List[str]): The tag list of the stored distributions.
    precisions (List[str]): Each teacher's precision, "fp32" or "bf16".
    teacher_kind (str): "kd_ner", "entities" or "spans" (`teachers.py`).
    workers (int): Ray workers (0: the teachers ran in this process).
    startup_seconds (float): On Ray, the time to start it and load the
        teachers on every worker (not in `teacher_seconds`).
    dropped_entities (Dict[str, int]): Entities (or spans) of the teachers
        left out of the distributions, their label not in the tag list (or
        not in the label map), per teacher label; of the docs this run
        annotated (the shards it resumed were counted by the run that wrote
        them).
    """

    docs_read: int = 0
    docs_written: int = 0
    docs_annotated: int = 0
    docs_with_gold: int = 0
    tokens: int = 0
    shards: int = 0
    shards_resumed: int = 0
    seconds: float = 0.0
    teacher_seconds: float = 0.0
    size_bytes: int = 0
    tags: List[str] = field(default_factory=list)
    precisions: List[str] = field(default_factory=list)
    teacher_kind: str = ""
    workers: int = 0
    startup_seconds: float = 0.0
    dropped_entities: Dict[str, int] = field(default_factory=dict)

    @property
    def docs_per_second(self) -> float:
        """Docs (sentences, for CoNLL) annotated per second of teacher time
        (of all the teachers of an ensemble)."""
        seconds = self.teacher_seconds or self.seconds
        return self.docs_annotated / seconds if seconds > 0 else 0.0


def annotate_docs(
    nlp: Union[Language, Sequence[Language]],
    docs: Iterable[Doc],
    *,
    batch_size: int = 64,
    buffer_size: int = 1024,
    component: Optional[str] = None,
    context: Optional[ContextSource] = None,
    options: TeacherOptions = TeacherOptions(),
) -> Iterator[Doc]:
    """Set the teacher's distributions on docs, lazily and in order.

    Each doc's words go through the teacher (`teachers.make_teacher`: a
    pipeline up to its kd_ner component, or a whole pipeline that sets
    entities or scored spans), whose distributions over its `tag_names` are
    stored with `set_teacher_scores`. The docs themselves are not otherwise
    changed: gold entities, or their absence, stay as they are. Within a
    buffer the docs run sorted by length, so that batches waste little
    padding. Entities the teacher drops (`TeacherOptions`) are counted in a
    warning once the docs are done.

    nlp (Union[Language, Sequence[Language]]): The teacher pipeline, or
        several of one kind over the same tags, whose distributions are
        averaged.
    docs (Iterable[Doc]): The docs to annotate (in any vocab).
    batch_size (int): The batch size of `nlp.pipe` and of the kd_ner predict.
    buffer_size (int): How many docs to sort by length at a time.
    component (Optional[str]): The kd_ner component, if there are several.
    context (Optional[ContextSource]): Run the teachers on each doc's window
        doc (its sentence in the context of its source document) and keep
        the distributions of the doc's own tokens. The docs must be sentences
        of the source (see `context.py`).
    options (TeacherOptions): How a pipeline without kd_ner teaches: labels,
        label map, smoothing, spans key.
    YIELDS (Doc): The input docs, with teacher scores.
    """
    pipelines = [nlp] if isinstance(nlp, Language) else list(nlp)
    names = [str(i) for i in range(len(pipelines))]
    teachers = make_teachers(pipelines, names, component=component, options=options)
    docs = iter(docs)
    while True:
        chunk = list(islice(docs, buffer_size))
        if not chunk:
            break
        annotate_chunk(teachers, chunk, batch_size, context=context)
        yield from chunk
    dropped = dropped_counts(teachers)
    if dropped:
        warnings.warn(dropped_message(dropped), stacklevel=2)


def annotate_chunk(
    teachers: Sequence[Teacher],
    docs: List[Doc],
    batch_size: int,
    on_batch: Optional[Callable[[int], Any]] = None,
    context: Optional[ContextSource] = None,
) -> None:
    """Set on each doc the mean of the teachers' distributions: what every
    path (in memory, a shard of `annotate_corpus`, a Ray worker's shard)
    runs.

    teachers (Sequence[Teacher]): The teachers (`teachers.make_teachers`).
    docs (List[Doc]): The docs, changed in place (empty ones get no rows).
    batch_size (int): The teachers' batch size.
    on_batch (Optional[Callable[[int], Any]]): Called with the number of docs
        of each batch a teacher has run.
    context (Optional[ContextSource]): The teachers read each doc's window doc
        and the distributions of its own tokens are kept.
    """
    tags = teachers[0].tag_names
    non_empty = [doc for doc in docs if len(doc)]
    windows = [
        context.window_doc(doc) if context is not None else doc for doc in non_empty
    ]
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    inputs = [windows[i] for i in order]
    total = teachers[0].distributions(inputs, batch_size, on_batch)
    for teacher in teachers[1:]:
        probs = teacher.distributions(inputs, batch_size, on_batch)
        total = [a + b for a, b in zip(total, probs)]
    for i, summed in zip(order, total):
        start, end = (
            target_bounds(windows[i]) if context is not None else (0, len(windows[i]))
        )
        mean = summed[start:end] / len(teachers)
        set_teacher_scores(non_empty[i], tags, cast(Floats2d, mean))
    empty = cast(Floats2d, numpy.zeros((0, len(tags)), dtype="float32"))
    n_empty = 0
    for doc in docs:
        if not len(doc):
            set_teacher_scores(doc, tags, empty)
            n_empty += 1
    if on_batch is not None and n_empty:
        on_batch(n_empty * len(teachers))


def annotate_corpus(
    model: Union[TeacherRef, Sequence[TeacherRef]],
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    batch_size: int = 64,
    shard_size: int = 2000,
    component: Optional[str] = None,
    overwrite: bool = False,
    progress: bool = False,
    context: Optional[ContextSource] = None,
    precision: Optional[str] = None,
    options: TeacherOptions = TeacherOptions(),
    ray: Optional["RayOptions"] = None,
) -> AnnotateStats:
    """Annotate a corpus with a teacher's per-token distributions.

    model (Union[TeacherRef, Sequence[TeacherRef]]): The teacher pipeline or
        its path; or several, of one kind over the same tags, whose
        distributions are averaged (an ensemble).
    input_path (Union[str, Path]): A .spacy file or a directory of them
        (`docbins.docbin_paths`).
    output_path (Union[str, Path]): The output directory of shards.
    batch_size (int): Batch size of `nlp.pipe`.
    shard_size (int): Docs per output shard.
    component (Optional[str]): The kd_ner component, if there are several.
    overwrite (bool): Replace a complete earlier output at `output_path`.
    progress (bool): Show a progress bar.
    context (Optional[ContextSource]): Read each doc in the context of its
        source document (see `annotate_docs`).
    precision (Optional[str]): The teachers' precision on the CPU, "fp32",
        "bf16" or "auto" (`precision.set_precision`); None keeps their own.
    options (TeacherOptions): How a pipeline without kd_ner teaches: labels,
        label map, smoothing, spans key (`teachers.py`).
    ray (Optional[RayOptions]): Run the teachers on Ray workers
        (`ray_annotate.py`; the output is the same); None: in this process.
    RETURNS (AnnotateStats): The counts, the dropped entities among them.
    RAISES AnnotateError: Bad sizes, an input without docs to read or with an
        unreadable file (named), an output inside the input or the input
        inside the output, Ray options with a context, teachers built in memory
        or without Ray installed, a Ray worker that failed, a teacher that
        `teachers.make_teachers` refuses
        (no labels, options for a kd_ner teacher, teachers of different
        kinds or over different tags), an output
        that `ShardWriter` refuses (another run writes it, `check_output`, an
        interrupted run with another input, teacher or shard size), or an
        input that changed during the run.
    """
    if batch_size < 1 or shard_size < 1:
        raise AnnotateError(
            f"batch_size and shard_size must be positive, got {batch_size} and "
            f"{shard_size}."
        )
    if precision is not None:
        check_precision(precision)
    if ray is not None and context is not None:
        raise AnnotateError(
            "Annotating on Ray does not read docs in context yet: leave out "
            "--context-source or --ray."
        )
    start_time = time.time()
    output_path = Path(output_path)
    check_not_nested([Path(input_path)], output_path)
    with ShardWriter(output_path, overwrite=overwrite) as writer:
        try:
            files = docbin_paths(input_path)
            n_total = count_docbin_docs(files)
        except (OSError, ValueError) as err:
            raise AnnotateError(str(err)) from None
        input_ids = [file_id(p) for p in files]
        refs = [model] if isinstance(model, (str, Path, Language)) else list(model)
        pipelines = [r if isinstance(r, Language) else load_pipeline(r) for r in refs]
        if precision is not None:
            for teacher in pipelines:
                set_precision(teacher, precision)
        model_ids = [_model_id(r, nlp) for r, nlp in zip(refs, pipelines)]
        teachers = make_teachers(
            pipelines, model_ids, component=component, options=options
        )
        hashes = [teacher_sha256(r, nlp) for r, nlp in zip(refs, pipelines)]
        tags = teachers[0].tag_names
        writer.begin(
            {
                "format": FORMAT,
                "input": input_ids,
                "model_sha256": hashes[0] if len(hashes) == 1 else hashes,
                "component": teachers[0].component,
                "teacher": teachers[0].record(),
                "tags": tags,
                "shard_size": shard_size,
                "context": None
                if context is None
                else {"source": context.name, "window": context.window},
            }
        )
        stats = AnnotateStats(
            docs_read=n_total,
            tags=list(tags),
            precisions=[pipeline_precision(t.nlp) for t in teachers],
            teacher_kind=teachers[0].kind,
        )
        annotator = None
        if ray is not None:
            from .ray_annotate import RayAnnotator

            annotator = RayAnnotator(
                pipelines,
                hashes,
                ray,
                precision=precision,
                component=component,
                teacher_options=options,
            )
            stats.workers = ray.num_workers
            stats.startup_seconds = annotator.startup_seconds
        try:
            _annotate_shards(
                writer, teachers, files, stats, batch_size, progress, context, annotator
            )
        finally:
            if annotator is not None:
                annotator.close()
        if stats.docs_written != n_total:
            raise AnnotateError(
                f"Wrote {stats.docs_written} docs but the input has {n_total}: the "
                f"input changed during the run."
            )
        stats.seconds = time.time() - start_time
        writer.publish(
            {
                "input": [str(p) for p in files],
                "model": model_ids[0] if len(model_ids) == 1 else model_ids,
            },
            {
                "batch_size": batch_size,
                "seconds": round(stats.seconds, 2),
                "teacher_seconds": round(stats.teacher_seconds, 2),
            },
        )
    stats.size_bytes = sum(
        p.stat().st_size for p in output_path.iterdir() if p.is_file()
    )
    return stats


def _annotate_shards(
    writer: ShardWriter,
    teachers: Sequence[Teacher],
    files: List[Path],
    stats: AnnotateStats,
    batch_size: int,
    progress: bool,
    context: Optional[ContextSource],
    annotator: Optional["RayAnnotator"],
) -> None:
    """Write (or resume) the shards of `stats.docs_read` docs, and count. The
    shards an interrupted run wrote come first; the rest are annotated here,
    or by `annotator`'s Ray workers."""
    n_total = stats.docs_read
    shard_size = writer.state["shard_size"]
    bar = _progress_bar(n_total * len(teachers), progress)

    def update(n: int) -> None:
        if bar is not None:
            bar.update(n)

    def annotated_here(chunks: Iterator[List[Doc]]) -> Iterator[List[Doc]]:
        for chunk in chunks:
            teacher_start = time.time()
            annotate_chunk(teachers, chunk, batch_size, update, context)
            stats.teacher_seconds += time.time() - teacher_start
            yield chunk

    try:
        docs = read_docbins(files, teachers[0].nlp.vocab)
        chunks = (
            list(islice(docs, shard_size)) for _ in range(-(-n_total // shard_size))
        )
        rest: Iterator[List[Doc]] = iter(())
        for chunk in chunks:
            if not writer.can_resume():
                rest = chain([chunk], chunks)
                break
            writer.resume(chunk)
            update(len(chunk))
        if annotator is None:
            annotated = annotated_here(rest)
        else:
            ray_start = time.time()
            annotated = annotator.annotate(rest, teachers[0].nlp.vocab, batch_size)
        for chunk in annotated:
            writer.write(chunk)
            stats.docs_annotated += len(chunk)
            if annotator is not None:
                update(len(chunk) * len(teachers))
                stats.teacher_seconds = time.time() - ray_start
    finally:
        if bar is not None:
            bar.close()
    totals = writer.totals()
    stats.docs_written = totals["n_docs"]
    stats.tokens = totals["n_tokens"]
    stats.docs_with_gold = totals["n_docs_with_gold"]
    stats.shards = len(writer.shards)
    stats.shards_resumed = writer.n_resumed
    dropped = Counter(dropped_counts(teachers))
    if annotator is not None:
        dropped.update(annotator.dropped)
    stats.dropped_entities = dict(dropped)


def _model_id(model: Union[str, Path, Language], nlp: Language) -> str:
    if isinstance(model, Language):
        return f"<in-memory pipeline {nlp.meta.get('name', '')!r}>"
    path = Path(model)
    return str(path.resolve()) if path.exists() else str(model)


def teacher_sha256(model: TeacherRef, nlp: Language) -> str:
    """What identifies a teacher: its content, not its path or name.

    model (TeacherRef): The teacher as given: a path or package name, or a
        pipeline in memory.
    nlp (Language): The pipeline loaded from it.
    RETURNS (str): The hex sha256 of the directory it was loaded from (its
        config, meta and weights: `annotated_corpus.directory_sha256`), or,
        for a pipeline given in memory (which may differ from any directory),
        of its serialization (`Language.to_bytes`).
    """
    if not isinstance(model, Language) and nlp.path is not None:
        return directory_sha256(Path(nlp.path))
    return hashlib.sha256(nlp.to_bytes()).hexdigest()


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="doc", desc="annotate", leave=False)


def stats_dict(stats: AnnotateStats) -> Dict[str, Any]:
    """The stats as a JSON-serializable dict.

    stats (AnnotateStats): The stats.
    RETURNS (Dict[str, Any]): Their fields and ``docs_per_second``.
    """
    return {**asdict(stats), "docs_per_second": stats.docs_per_second}
