"""Run the teachers of `annotate_corpus` on Ray workers (the ``ray`` extra).

The driver (`annotate_corpus`) reads the input, resumes, writes and
publishes the shards exactly as in one process; only the teachers' work moves
to a pool of Ray actors, each of which loads the teachers once and annotates
whole shards with the same function as the single-process path
(`annotate.annotate_chunk`). What is shipped to the workers is each teacher's
pipeline directory (packed once into Ray's object store, unpacked on the
worker and checked against the sha256 the manifest records), not Python
objects, so the workers need this package and its teacher dependencies
installed, not the driver's files. Docs travel as `DocBin` bytes, user data
kept, and come back in order, so the output equals the single-process one doc
for doc, whatever the number of workers.

A worker that dies is restarted and its shards retried (`max_restarts`); one
that cannot be restarted stops the run with an `AnnotateError` after the
shards before it were written, which the next run resumes.
"""

import io
import shutil
import tarfile
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .annotated_corpus import AnnotateError, directory_sha256
from .teachers import TeacherOptions, dropped_counts, make_teachers


@dataclass(frozen=True)
class RayOptions:
    """How `annotate_corpus` runs its teachers on Ray.

    address (Optional[str]): The cluster to join (`ray.init(address=...)`,
        e.g. "auto" or "ray://head:10001"); None: the Ray instance this
        process already started, else a new local one.
    num_workers (int): Actors, each with its own copy of the teachers.
    cpus_per_worker (int): CPUs reserved per actor, and its torch threads.
    gpus_per_worker (float): GPUs reserved per actor; > 0 runs the teachers
        on the GPU Ray assigns it.
    max_restarts (int): How often a dead actor is restarted (its shards are
        retried on the new one) before the run fails.
    """

    address: Optional[str] = None
    num_workers: int = 1
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    max_restarts: int = 3

    def __post_init__(self) -> None:
        if self.num_workers < 1 or self.cpus_per_worker < 1:
            raise AnnotateError(
                f"Ray needs at least one worker with one CPU, got num_workers="
                f"{self.num_workers}, cpus_per_worker={self.cpus_per_worker}."
            )
        if self.gpus_per_worker < 0 or self.max_restarts < 0:
            raise AnnotateError(
                f"gpus_per_worker and max_restarts must be >= 0, got "
                f"{self.gpus_per_worker} and {self.max_restarts}."
            )


def import_ray() -> Any:
    """Import Ray, or raise an `AnnotateError` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise AnnotateError(
            "Annotating on Ray needs Ray: pip install 'spacy-kd-ner[ray]'."
        ) from None
    return ray


def pack_directory(path: Path) -> bytes:
    """A directory as the bytes of an uncompressed tar archive (weights do not
    compress), its files relative to it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(path), arcname=".")
    return buffer.getvalue()


def unpack_directory(data: bytes, path: Path) -> None:
    """Unpack `pack_directory`'s bytes into the directory `path`."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.9.17, 3.10.12, 3.11.4
            archive.extractall(path, filter="data")
        else:
            archive.extractall(path)


def pipeline_directory(nlp: Language) -> Path:
    """The directory a teacher was loaded from, which is what Ray ships.

    RAISES AnnotateError: The pipeline was built in memory.
    """
    if nlp.path is None:
        raise AnnotateError(
            "Annotating on Ray ships each teacher's pipeline directory to the "
            "workers; save the in-memory teacher with nlp.to_disk and pass its "
            "path."
        )
    return Path(nlp.path)


class AnnotateWorker:
    """A Ray actor: the teachers, loaded once, annotating shard after shard.

    sha256s (Sequence[str]): Each teacher's `directory_sha256`, checked after
        unpacking.
    precision (Optional[str]): As `annotate_corpus`'s.
    component (Optional[str]): The kd_ner component, if there are several.
    options (TeacherOptions): How a pipeline without kd_ner teaches.
    threads (int): Torch threads.
    use_gpu (bool): Run the teachers on the GPU Ray assigned.
    *archives (bytes): Each teacher's `pack_directory` bytes (Ray resolves
        the object references it is given as arguments, not inside a list).
    """

    def __init__(
        self,
        sha256s: Sequence[str],
        precision: Optional[str],
        component: Optional[str],
        options: TeacherOptions,
        threads: int,
        use_gpu: bool,
        *archives: bytes,
    ):
        import spacy
        import torch

        from .pipelines import load_pipeline
        from .precision import set_precision

        torch.set_num_threads(threads)
        if use_gpu:
            spacy.require_gpu()
        self.directory = Path(tempfile.mkdtemp(prefix="kd-ner-teachers-"))
        pipelines = []
        for i, (data, sha256) in enumerate(zip(archives, sha256s)):
            path = self.directory / str(i)
            unpack_directory(data, path)
            if directory_sha256(path) != sha256:
                raise AnnotateError(
                    f"Teacher {i} arrived changed on the Ray worker (sha256 "
                    f"{directory_sha256(path)}, expected {sha256})."
                )
            nlp = load_pipeline(path)
            if precision is not None:
                set_precision(nlp, precision)
            pipelines.append(nlp)
        names = [str(i) for i in range(len(pipelines))]
        self.teachers = make_teachers(
            pipelines, names, component=component, options=options
        )

    def annotate(self, data: bytes, batch_size: int) -> Tuple[bytes, Dict[str, int]]:
        """Annotate the docs of a DocBin.

        data (bytes): The shard's docs, as `DocBin` bytes with user data.
        batch_size (int): As `annotate_corpus`'s.
        RETURNS (Tuple[bytes, Dict[str, int]]): The annotated docs as DocBin
            bytes, and the entities the teachers dropped in them.
        """
        from .annotate import annotate_chunk

        before = Counter(dropped_counts(self.teachers))
        vocab = self.teachers[0].nlp.vocab
        docs = list(DocBin(store_user_data=True).from_bytes(data).get_docs(vocab))
        annotate_chunk(self.teachers, docs, batch_size)
        dropped = Counter(dropped_counts(self.teachers))
        dropped.subtract(before)
        out = DocBin(store_user_data=True, docs=docs).to_bytes()
        return out, {label: n for label, n in dropped.items() if n}

    def close(self) -> None:
        """Remove the unpacked teachers."""
        shutil.rmtree(self.directory, ignore_errors=True)


class RayAnnotator:
    """A pool of `AnnotateWorker` actors that annotates shards in order.

    Create it, iterate `annotate` over the shards to annotate, then `close`
    it (it is a context manager). At most two shards per worker are in
    flight, so the driver's memory stays flat however large the input.

    pipelines (Sequence[Language]): The teachers, loaded from disk.
    sha256s (Sequence[str]): Their `directory_sha256`.
    options (RayOptions): The cluster and the workers.
    precision, component, teacher_options: As `annotate_corpus`'s.
    RAISES AnnotateError: Ray is not installed, or a teacher was built in
        memory.
    """

    def __init__(
        self,
        pipelines: Sequence[Language],
        sha256s: Sequence[str],
        options: RayOptions,
        *,
        precision: Optional[str] = None,
        component: Optional[str] = None,
        teacher_options: TeacherOptions = TeacherOptions(),
    ):
        ray = import_ray()
        start = time.time()
        directories = [pipeline_directory(nlp) for nlp in pipelines]
        self._ray = ray
        self._started_ray = False
        if not ray.is_initialized():
            ray.init(address=options.address, log_to_driver=False)
            self._started_ray = True
        # Kept for restarts: a restarted actor reads them again.
        self._archives = [ray.put(pack_directory(path)) for path in directories]
        actor_class = ray.remote(AnnotateWorker).options(
            num_cpus=options.cpus_per_worker,
            num_gpus=options.gpus_per_worker,
            max_restarts=options.max_restarts,
            max_task_retries=options.max_restarts,
        )
        self.workers = [
            actor_class.remote(
                list(sha256s),
                precision,
                component,
                teacher_options,
                options.cpus_per_worker,
                options.gpus_per_worker > 0,
                *self._archives,
            )
            for _ in range(options.num_workers)
        ]
        self.dropped: Counter = Counter()
        """The entities the teachers dropped in the shards annotated so far."""
        try:
            ray.get([worker.__ray_ready__.remote() for worker in self.workers])
        except ray.exceptions.RayActorError as err:
            self.close()
            last_line = str(err).strip().splitlines()[-1]
            raise AnnotateError(
                f"The Ray workers could not load the teachers: {last_line}"
            ) from None
        self.startup_seconds = time.time() - start
        """Seconds to start Ray and load the teachers on every worker."""

    def __enter__(self) -> "RayAnnotator":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def annotate(
        self, chunks: Iterator[List[Doc]], vocab: Vocab, batch_size: int
    ) -> Iterator[List[Doc]]:
        """Annotate shards on the workers, yielding them in input order.

        chunks (Iterator[List[Doc]]): The shards' docs.
        vocab (Vocab): The vocab of the docs yielded.
        batch_size (int): As `annotate_corpus`'s.
        YIELDS (List[Doc]): The annotated docs of each shard.
        RAISES AnnotateError: A worker failed (the message says why) or died
            more often than it may be restarted.
        """
        in_flight: Deque[Any] = deque()
        n_submitted = 0

        def submit() -> bool:
            nonlocal n_submitted
            chunk = next(chunks, None)
            if chunk is None:
                return False
            worker = self.workers[n_submitted % len(self.workers)]
            data = DocBin(store_user_data=True, docs=chunk).to_bytes()
            in_flight.append(worker.annotate.remote(data, batch_size))
            n_submitted += 1
            return True

        for _ in range(2 * len(self.workers)):
            if not submit():
                break
        while in_flight:
            data, dropped = self._wait(in_flight.popleft())
            submit()
            self.dropped.update(dropped)
            bin_ = DocBin(store_user_data=True).from_bytes(data)
            yield list(bin_.get_docs(vocab))

    def _wait(self, refs: Any) -> Any:
        """`ray.get`, with a worker's failure as an `AnnotateError`."""
        ray = self._ray
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as err:
            if isinstance(err.cause, AnnotateError):
                raise AnnotateError(str(err.cause)) from None
            raise AnnotateError(f"A Ray worker failed: {err}") from None
        except ray.exceptions.RayActorError as err:
            raise AnnotateError(
                f"A Ray worker died and could not be restarted ({err}); the "
                f"shards written so far are kept: rerun the same command to "
                f"resume."
            ) from None

    def close(self) -> None:
        """Remove the workers' unpacked teachers, stop the workers, and stop
        Ray if this annotator started it."""
        ray = self._ray
        for worker in self.workers:
            try:
                ray.get(worker.close.remote(), timeout=60)
            except Exception:  # a dead worker has nothing left to remove
                pass
            ray.kill(worker)
        self.workers = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
