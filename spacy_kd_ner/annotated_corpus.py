"""The annotated-corpus format that `annotate` and `merge` write and every
reader of teacher scores reads.

An annotated corpus is a directory::

    shard-00000.spacy   DocBin(store_user_data=True) shards of ``shard_size``
    shard-00001.spacy   docs each, every doc with its teacher scores
    ...
    manifest.json       written last: the format, what was read, the counts

spaCy's ``Corpus`` (and `docbins.read_corpus`) reads the directory as one
corpus, unverified. `read_annotated` reads it checked: only a directory whose
manifest is complete, in the order of its shards, each verified (below); so
do ``spacy-kd-ner.DistillationCorpus.v1``, `merge` and `teacher_eval`.

`ShardWriter` writes one. The shards go into a hidden sibling work directory,
``.<name>.partial``, that the corpus readers skip, beside ``state.json``: what
the run reads and how. The manifest is written last and the work directory
then renamed to the output, so an output directory always holds a complete
corpus. A run with the same state as an interrupted one resumes: the shards
the interrupted run wrote are kept. A run with another state (another
teacher's content, another input's content, another shard size...) refuses
to discard those shards unless told to (``overwrite``); a work directory
without shards is simply started afresh.

One writer at a time: `ShardWriter` holds an exclusive lock on the hidden
file ``.<name>.lock`` beside the output (``fcntl.flock``) from its creation
until it publishes or closes, and writes its pid there. A second writer of
the same output is refused with an error naming the lock and that pid. The
operating system drops the lock of a process that dies, so a lock file left
by a killed run is simply taken over.

The manifest records, per shard, its file, its counts and the sha256 of its
bytes. The readers (`read_manifest`, `read_annotated`, `read_annotated_shards`)
verify it before use: the totals are the sums of the shards, the directory's
``.spacy`` files are exactly the manifest's shards, and each shard, as it is
read, has its checksum and holds its numbers of docs and tokens; anything else
is an `AnnotateError` naming the corpus and the shard. Manifests written
before checksums were recorded stay readable: their counts are still checked.
"""

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type, Union

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .docbins import (
    DocBinError,
    docbin_docs,
    docbin_from_bytes,
    docbin_paths,
    read_docbins,
)
from .errors import KdNerError

FORMAT = "spacy-kd-ner.annotated.v1"
MANIFEST = "manifest.json"
STATE = "state.json"
SHARD_TEMPLATE = "shard-{:05d}.spacy"
PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
COUNT_KEYS = ("n_docs", "n_tokens", "n_docs_with_gold")
"""The counts of a manifest, for each shard and in total."""


class AnnotateError(KdNerError, ValueError):
    """The teacher, the input or the output of `annotate` or `merge` is
    unusable, or a directory is not a complete annotated corpus."""


def work_dir(output_path: Union[str, Path]) -> Path:
    """The hidden work directory in which the corpus at `output_path` is
    written: ``.<name>.partial`` beside it.

    output_path (Union[str, Path]): The annotated corpus.
    RETURNS (Path): The work directory.
    """
    output_path = Path(output_path)
    return output_path.parent / f".{output_path.name}{PARTIAL_SUFFIX}"


def lock_path(output_path: Union[str, Path]) -> Path:
    """The lock file of the writer of the corpus at `output_path`:
    ``.<name>.lock`` beside it (hidden, so no corpus reader sees it).

    output_path (Union[str, Path]): The annotated corpus.
    RETURNS (Path): The lock file.
    """
    output_path = Path(output_path)
    return output_path.parent / f".{output_path.name}{LOCK_SUFFIX}"


def is_complete(path: Union[str, Path]) -> bool:
    """Whether `path` is a complete annotated corpus: a manifest of this format
    whose shards all exist.

    path (Union[str, Path]): The directory.
    RETURNS (bool): Whether it is complete.
    """
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_text(encoding="utf8"))
    except ValueError:
        return False
    return data.get("format") == FORMAT and all(
        (Path(path) / shard["file"]).is_file() for shard in data.get("shards", [])
    )


def read_manifest(path: Union[str, Path]) -> Dict[str, Any]:
    """The manifest of a complete annotated corpus, checked against the
    directory (see the module docstring; the shards' contents are checked as
    they are read).

    path (Union[str, Path]): The directory.
    RETURNS (Dict[str, Any]): The manifest.
    RAISES AnnotateError: `path` is not a complete annotated corpus, its
        totals are not the sums of its shards, or it holds ``.spacy`` files
        that are not its manifest's shards.
    """
    if not is_complete(path):
        raise AnnotateError(
            f"{path} is not a complete annotated corpus (no valid {MANIFEST}): it "
            f"was not written by `annotate`, or that run did not finish."
        )
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf8"))
    shards = manifest.get("shards", [])
    for key in COUNT_KEYS:
        total = sum(shard.get(key, 0) for shard in shards)
        if key in manifest and manifest[key] != total:
            raise AnnotateError(
                f"The manifest of the annotated corpus {path} lists {key} = "
                f"{manifest[key]:,} but its shards add up to {total:,}."
            )
    listed = {path / shard["file"] for shard in shards}
    found = set(docbin_paths(path)) if shards else set()
    unlisted = sorted(str(p) for p in found - listed)
    if unlisted:
        raise AnnotateError(
            f"The annotated corpus {path} holds .spacy files that its manifest "
            f"does not list: {', '.join(unlisted)}. A corpus reader would read "
            f"them too: remove them, or write the corpus anew."
        )
    return manifest


def read_annotated_shards(
    path: Union[str, Path], vocab: Vocab
) -> Iterator[Tuple[Path, Iterator[Doc]]]:
    """The shards of a complete annotated corpus, in manifest order, each
    verified against its manifest entry before its docs are read.

    path (Union[str, Path]): The directory.
    vocab (Vocab): The vocab to read the docs into.
    YIELDS (Tuple[Path, Iterator[Doc]]): Each shard's file and its docs.
    RAISES AnnotateError: `read_manifest` refuses the corpus, or a shard is
        unreadable, has another checksum or holds other counts than its
        manifest entry lists.
    """
    path = Path(path)
    manifest = read_manifest(path)
    for entry in manifest["shards"]:
        shard = path / entry["file"]
        yield shard, docbin_docs(_verified_shard(path, shard, entry), vocab, shard)


def _verified_shard(corpus: Path, shard: Path, entry: Dict[str, Any]) -> DocBin:
    """A shard's DocBin, checked against its manifest entry."""
    data = shard.read_bytes()
    where = f"The shard {shard.name} of the annotated corpus {corpus}"
    expected = entry.get("sha256")
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise AnnotateError(
            f"{where} does not have the checksum its manifest records: it is not "
            f"the shard that was written (changed, truncated, or written by "
            f"another run). Annotate the corpus again."
        )
    try:
        doc_bin = docbin_from_bytes(data, shard)
    except DocBinError as err:
        raise AnnotateError(f"{where} is unreadable: {err}") from None
    n_docs = len(doc_bin)
    n_tokens = sum(len(tokens) for tokens in doc_bin.tokens)
    for key, found in (("n_docs", n_docs), ("n_tokens", n_tokens)):
        if key in entry and entry[key] != found:
            raise AnnotateError(
                f"The shard {shard} holds {found:,} {key[2:]} but the manifest "
                f"of the annotated corpus {corpus} lists {entry[key]:,}: it is not "
                f"the shard that was written. Annotate the corpus again."
            )
    return doc_bin


def read_annotated(
    path: Union[str, Path], vocab: Optional[Vocab] = None
) -> Iterator[Doc]:
    """The docs of an annotated corpus, or of one ``.spacy`` file.

    path (Union[str, Path]): A complete annotated corpus directory (its shards
        are read in manifest order and verified, `read_annotated_shards`), or
        a ``.spacy`` file.
    vocab (Optional[Vocab]): The vocab to read into; by default a new one.
    YIELDS (Doc): The docs, with their teacher scores.
    RAISES AnnotateError: `path` is neither a complete annotated corpus nor a
        file, or the corpus does not verify.
    RAISES DocBinError: The file is not a DocBin.
    """
    if vocab is None:
        vocab = Vocab()
    path = Path(path)
    if path.is_dir():
        for _, docs in read_annotated_shards(path, vocab):
            yield from docs
    elif path.is_file():
        yield from read_docbins([path], vocab)
    else:
        raise AnnotateError(f"No annotated corpus at {path}.")


def check_not_nested(inputs: Sequence[Path], output_path: Path) -> None:
    """Refuse an output inside an input, or an input inside the output: a
    later run would read the output as input, or replacing the output would
    delete the input.

    inputs (Sequence[Path]): The input paths (files or directories).
    output_path (Path): The output directory.
    RAISES AnnotateError: The paths nest.
    """
    output = output_path.resolve()
    for input_path in inputs:
        resolved = input_path.resolve()
        if resolved == output or resolved.is_relative_to(output):
            raise AnnotateError(
                f"The input {input_path} lies inside the output {output_path} (or "
                f"is it): writing the output would replace the input. Write the "
                f"output elsewhere."
            )
        if output.is_relative_to(resolved):
            raise AnnotateError(
                f"The output {output_path} lies inside the input {input_path}: the "
                f"next run over that input would read the output's shards as "
                f"input. Write the output outside the input."
            )


def check_output(output_path: Union[str, Path], overwrite: bool) -> None:
    """Refuse an output path that would lose data when a corpus is written
    there.

    output_path (Union[str, Path]): Where the corpus is to be written.
    overwrite (bool): Whether a complete annotated corpus there may be
        replaced.
    RAISES AnnotateError: `output_path` is a file, a non-empty directory that
        is not an annotated corpus, or (without `overwrite`) a complete one.
    """
    output_path = Path(output_path)
    if output_path.is_file():
        raise AnnotateError(
            f"The output {output_path} is a file: `annotate` writes a directory of "
            f"shards (spaCy's Corpus reads it as one corpus)."
        )
    if output_path.is_dir() and any(output_path.iterdir()):
        if not is_complete(output_path):
            raise AnnotateError(
                f"The output directory {output_path} exists and is not an "
                f"annotated corpus; refusing to overwrite it. Pass a new path."
            )
        if not overwrite:
            raise AnnotateError(
                f"The output {output_path} already holds a complete annotated "
                f"corpus; pass --overwrite to replace it."
            )


class ShardWriter:
    """Write an annotated corpus shard by shard, alone, resuming an
    interrupted run (see the module docstring).

    Use it as a context manager. Creating it takes the output's lock; call
    `begin` with the run's state, then, for each shard in order, `write` it,
    or `resume` it where `can_resume` says the interrupted run wrote it;
    `publish` last. The shards are numbered in the order they come. Leaving
    the context releases the lock; on an error, a work directory that holds
    no shard (the run failed before writing any) is removed, one with shards
    is kept for a later run to resume.

    output_path (Union[str, Path]): The corpus directory to write.
    overwrite (bool): Replace a complete annotated corpus at `output_path`,
        and discard the shards an interrupted run of another state left.
    RAISES AnnotateError: Another writer holds the output's lock, or
        `check_output` refuses `output_path`.
    """

    def __init__(self, output_path: Union[str, Path], *, overwrite: bool = False):
        self.output_path = Path(output_path)
        self.overwrite = overwrite
        self.work = work_dir(self.output_path)
        self._lock: Optional[_Lock] = _Lock(self.output_path)
        try:
            check_output(self.output_path, overwrite)
        except BaseException:
            self.close()
            raise
        self.state: Dict[str, Any] = {}
        self.shards: List[Dict[str, Any]] = []
        """The manifest entries of the shards so far."""
        self.n_resumed = 0
        """How many of them were kept from an interrupted run."""
        self._resuming = False

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close(failed=exc_type is not None)

    def close(self, failed: bool = False) -> None:
        """Release the lock (once; `publish` does too).

        failed (bool): The run failed: remove a work directory without shards.
        """
        if failed and self.work.is_dir() and not _has_shards(self.work):
            shutil.rmtree(self.work, ignore_errors=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def begin(self, state: Dict[str, Any]) -> bool:
        """Prepare the work directory for a run.

        state (Dict[str, Any]): JSON-able: what identifies the run's result
            (its inputs' and teachers' content, its shard size...). A work
            directory left by a run with an equal state is resumed. Its keys
            start the manifest.
        RETURNS (bool): Whether shards of an interrupted run may be resumed.
        RAISES AnnotateError: The work directory holds shards of a run with
            another state, and `overwrite` is not set.
        """
        self.state = json.loads(json.dumps(state))
        state_path = self.work / STATE
        stored: Optional[Dict[str, Any]] = None
        if self.work.is_dir() and state_path.is_file():
            try:
                stored = json.loads(state_path.read_text(encoding="utf8"))
            except ValueError:
                stored = None
        if stored == self.state:
            self._resuming = True
            return True
        if stored is not None and _has_shards(self.work) and not self.overwrite:
            raise AnnotateError(
                f"{self.work} holds the shards of an interrupted run into "
                f"{self.output_path} with other settings: "
                f"{_state_changes(stored, self.state)}. Rerun it as it was to "
                f"resume it, or pass --overwrite to discard its shards and start "
                f"afresh."
            )
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        write_json(state_path, self.state)
        return False

    @property
    def next_path(self) -> Path:
        """The path of the next shard, in the work directory."""
        return self.work / SHARD_TEMPLATE.format(len(self.shards))

    def can_resume(self) -> bool:
        """Whether the interrupted run of the same state wrote the next shard.

        RETURNS (bool): Whether to `resume` it rather than `write` it.
        """
        return self._resuming and self.next_path.is_file()

    def resume(self, docs: Sequence[Doc]) -> Dict[str, Any]:
        """Keep the next shard as the interrupted run wrote it.

        docs (Sequence[Doc]): The docs the shard holds, from the run's input;
            they are counted for the manifest, the shard's docs are not built.
        RETURNS (Dict[str, Any]): The shard's manifest entry.
        RAISES AnnotateError: The shard is unreadable or holds another number
            of docs.
        """
        path = self.next_path
        data = path.read_bytes()
        try:
            n_docs = len(docbin_from_bytes(data, path))
        except DocBinError as err:
            raise AnnotateError(
                f"{err}; remove {path.parent} to start afresh."
            ) from None
        if n_docs != len(docs):
            raise AnnotateError(
                f"The shard {path} of an interrupted run holds {n_docs} docs, "
                f"expected {len(docs)}; remove {path.parent} to start afresh."
            )
        entry = shard_entry(path, docs, hashlib.sha256(data).hexdigest())
        self.shards.append(entry)
        self.n_resumed += 1
        return entry

    def write(self, docs: Sequence[Doc]) -> Dict[str, Any]:
        """Write the next shard (`write_shard`).

        docs (Sequence[Doc]): Its docs.
        RETURNS (Dict[str, Any]): The shard's manifest entry.
        """
        entry = write_shard(self.next_path, docs)
        self.shards.append(entry)
        return entry

    def totals(self) -> Dict[str, int]:
        """The counts of the shards so far, summed.

        RETURNS (Dict[str, int]): ``n_docs``, ``n_tokens``, ``n_docs_with_gold``.
        """
        return {key: sum(entry[key] for entry in self.shards) for key in COUNT_KEYS}

    def publish(self, updates: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
        """Write the manifest, then move the work directory to the output,
        replacing what is there only once the new corpus is in place; then
        release the lock.

        The manifest is the state with `updates`, the totals, the shards,
        `extra` and the time (``created``).

        updates (Dict[str, Any]): Keys to record beside the state, or
            otherwise than it does (e.g. the inputs as plain paths).
        extra (Dict[str, Any]): Keys to add after the shards (e.g. timings).
        RETURNS (Dict[str, Any]): The manifest.
        """
        manifest = {
            **self.state,
            **updates,
            **self.totals(),
            "shards": self.shards,
            **extra,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (self.work / STATE).unlink()
        write_json(self.work / MANIFEST, manifest)
        publish(self.work, self.output_path)
        self.close()
        return manifest


def _has_shards(work: Path) -> bool:
    return any(work.glob(SHARD_TEMPLATE.replace("{:05d}", "*")))


_CHANGES = {
    "model_sha256": "the teacher changed (its files' content differs)",
    "teacher": "the teacher's settings changed (its kind, labels, label map or "
    "label smoothing)",
    "input": "the input changed (its content differs)",
    "merged": "the merged inputs or their weights changed",
}


def _state_changes(old: Dict[str, Any], new: Dict[str, Any]) -> str:
    """What differs between two states, in words."""
    keys = [key for key in {**old, **new} if old.get(key) != new.get(key)]
    return "; ".join(
        _CHANGES.get(key, f"{key} was {old.get(key)!r:.60}, now {new.get(key)!r:.60}")
        for key in keys
    )


class _Lock:
    """The exclusive lock of the writer of `output_path` (see the module
    docstring): a file that holds the pid and host of its holder."""

    def __init__(self, output_path: Path):
        self.path = path = lock_path(output_path)
        self.fd: Optional[int] = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover (no flock on this platform)
            warnings.warn(
                f"No file locking on this platform: nothing stops a second run "
                f"from writing {output_path} at the same time.",
                stacklevel=3,
            )
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 200).decode("utf8", "replace").strip()
                os.close(fd)
                raise AnnotateError(
                    f"Another run is writing {output_path}: the "
                    f"lock {path} is held by {holder or 'another process'}. Wait "
                    f"for it to finish (or stop it), then run again."
                ) from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            # The holder removed the file as we opened it: lock the new one.
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}".encode())
        self.fd = fd

    def release(self) -> None:
        """Remove the lock file and release the lock."""
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:  # pragma: no cover
            pass
        os.close(self.fd)
        self.fd = None


def publish(work: Path, output_path: Path) -> None:
    """Move a complete work directory to `output_path`, replacing what is
    there only once the new one is in place.

    work (Path): The complete directory.
    output_path (Path): Where it goes.
    """
    trash = None
    if output_path.exists():
        trash = output_path.parent / f".{output_path.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(output_path, trash)
    os.replace(work, output_path)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def write_shard(path: Path, docs: Sequence[Doc]) -> Dict[str, Any]:
    """Write docs as a DocBin, user data kept, atomically (through a hidden
    temporary file): a shard is either whole or absent.

    path (Path): The shard.
    docs (Sequence[Doc]): Its docs.
    RETURNS (Dict[str, Any]): Its manifest entry (`shard_entry`).
    """
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return shard_entry(path, docs, hashlib.sha256(data).hexdigest())


def shard_entry(path: Path, docs: Sequence[Doc], sha256: str) -> Dict[str, Any]:
    """The manifest entry of a shard: its file name, counts and checksum.

    path (Path): The shard.
    docs (Sequence[Doc]): Its docs.
    sha256 (str): The hex sha256 of the shard file's bytes.
    RETURNS (Dict[str, Any]): ``file``, ``n_docs``, ``n_tokens``,
        ``n_docs_with_gold`` (non-empty docs with entity annotation) and
        ``sha256``.
    """
    return {
        "file": path.name,
        "n_docs": len(docs),
        "n_tokens": sum(len(doc) for doc in docs),
        "n_docs_with_gold": sum(
            1 for doc in docs if len(doc) and doc.has_annotation("ENT_IOB")
        ),
        "sha256": sha256,
    }


def write_json(path: Path, data: Dict[str, Any]) -> None:
    """Write JSON atomically: a manifest is either whole or absent.

    path (Path): The file.
    data (Dict[str, Any]): JSON-able data.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf8")
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in chunks.

    path (Path): The file.
    RETURNS (str): The digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as file_:
        for chunk in iter(lambda: file_.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def directory_sha256(path: Path) -> str:
    """The hex sha256 of a directory's content: every file under it (hidden
    ones and ``__pycache__`` aside), by relative path and bytes, so that a
    pipeline directory is known by its config and weights, wherever it lies.

    path (Path): The directory.
    RETURNS (str): The digest.
    """
    digest = hashlib.sha256()
    for file_ in sorted(path.rglob("*")):
        relative = file_.relative_to(path)
        if not file_.is_file() or any(
            part.startswith(".") or part == "__pycache__" for part in relative.parts
        ):
            continue
        digest.update(f"{relative.as_posix()}\0{file_sha256(file_)}\n".encode())
    return digest.hexdigest()


def file_id(path: Path) -> List[Any]:
    """What a run's state records of an input file, to tell whether it changed:
    its content, not its modification time.

    path (Path): The file.
    RETURNS (List[Any]): Its resolved path, size and sha256 (`file_sha256`).
    """
    return [str(path.resolve()), path.stat().st_size, file_sha256(path)]
