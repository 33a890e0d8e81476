"""The annotated-corpus format that `annotate` and `merge` write and every
reader of teacher scores reads.

An annotated corpus is a directory::

    shard-00000.spacy   DocBin(store_user_data=True) shards of ``shard_size``
    shard-00001.spacy   docs each, every doc with its teacher scores
    ...
    manifest.json       written last: the format, what was read, the counts

spaCy's ``Corpus`` (and `docbins.read_corpus`) reads the directory as one
corpus. `read_annotated` reads it checked: only a directory whose manifest is
complete, in the order of its shards.

`ShardWriter` writes one. The shards go into a hidden sibling work directory,
``.<name>.partial``, that the corpus readers skip, beside ``state.json``: what
the run reads and how. The manifest is written last and the work directory
then renamed to the output, so an output directory always holds a complete
corpus. A run with the same state as an interrupted one resumes: the shards
the interrupted run wrote are kept; a run with another state starts afresh.
"""

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .docbins import read_docbins

FORMAT = "spacy-kd-ner.annotated.v1"
MANIFEST = "manifest.json"
STATE = "state.json"
SHARD_TEMPLATE = "shard-{:05d}.spacy"
PARTIAL_SUFFIX = ".partial"
COUNT_KEYS = ("n_docs", "n_tokens", "n_docs_with_gold")
"""The counts of a manifest, for each shard and in total."""


class AnnotateError(ValueError):
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
    """The manifest of a complete annotated corpus.

    path (Union[str, Path]): The directory.
    RETURNS (Dict[str, Any]): The manifest.
    RAISES AnnotateError: `path` is not a complete annotated corpus.
    """
    if not is_complete(path):
        raise AnnotateError(
            f"{path} is not a complete annotated corpus (no valid {MANIFEST}): it "
            f"was not written by `annotate`, or that run did not finish."
        )
    return json.loads((Path(path) / MANIFEST).read_text(encoding="utf8"))


def read_annotated(
    path: Union[str, Path], vocab: Optional[Vocab] = None
) -> Iterator[Doc]:
    """The docs of an annotated corpus, or of one ``.spacy`` file.

    path (Union[str, Path]): A complete annotated corpus directory (its shards
        are read in manifest order), or a ``.spacy`` file.
    vocab (Optional[Vocab]): The vocab to read into; by default a new one.
    YIELDS (Doc): The docs, with their teacher scores.
    RAISES AnnotateError: `path` is neither a complete annotated corpus nor a
        file.
    """
    if vocab is None:
        vocab = Vocab()
    path = Path(path)
    if path.is_dir():
        manifest = read_manifest(path)
        files = [path / shard["file"] for shard in manifest["shards"]]
    elif path.is_file():
        files = [path]
    else:
        raise AnnotateError(f"No annotated corpus at {path}.")
    yield from read_docbins(files, vocab)


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
    """Write an annotated corpus shard by shard, resuming an interrupted run
    (see the module docstring).

    Call `begin` with the run's state, then, for each shard in order, `write`
    it, or `resume` it where `can_resume` says the interrupted run wrote it;
    `publish` last. The shards are numbered in the order they come.

    output_path (Union[str, Path]): The corpus directory to write.
    overwrite (bool): Replace a complete annotated corpus at `output_path`.
    RAISES AnnotateError: `check_output` refuses `output_path`.
    """

    def __init__(self, output_path: Union[str, Path], *, overwrite: bool = False):
        self.output_path = Path(output_path)
        check_output(self.output_path, overwrite)
        self.work = work_dir(self.output_path)
        self.state: Dict[str, Any] = {}
        self.shards: List[Dict[str, Any]] = []
        """The manifest entries of the shards so far."""
        self.n_resumed = 0
        """How many of them were kept from an interrupted run."""
        self._resuming = False

    def begin(self, state: Dict[str, Any]) -> bool:
        """Prepare the work directory for a run.

        state (Dict[str, Any]): JSON-able: what the run reads and how (its
            inputs, teachers, shard size). A work directory left by a run with
            an equal state is resumed. Its keys start the manifest.
        RETURNS (bool): Whether shards of an interrupted run may be resumed.
        """
        self.state = dict(state)
        state_path = self.work / STATE
        if self.work.is_dir() and state_path.is_file():
            try:
                stored = json.loads(state_path.read_text(encoding="utf8"))
                self._resuming = stored == json.loads(json.dumps(self.state))
            except ValueError:
                self._resuming = False
            if self._resuming:
                return True
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
            they are counted for the manifest, the shard is not read again.
        RETURNS (Dict[str, Any]): The shard's manifest entry.
        RAISES AnnotateError: The shard holds another number of docs.
        """
        path = self.next_path
        n_docs = len(DocBin().from_disk(path))
        if n_docs != len(docs):
            raise AnnotateError(
                f"The shard {path} of an interrupted run holds {n_docs} docs, "
                f"expected {len(docs)}; remove {path.parent} to start afresh."
            )
        entry = shard_entry(path, docs)
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
        replacing what is there only once the new corpus is in place.

        The manifest is the state with `updates`, the totals, the shards,
        `extra` and the time (``created``).

        updates (Dict[str, Any]): State keys to record otherwise (e.g. the
            inputs as plain paths).
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
        return manifest


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
    doc_bin = DocBin(store_user_data=True, docs=docs)
    tmp = path.with_name(f".{path.name}.tmp")
    doc_bin.to_disk(tmp)
    os.replace(tmp, path)
    return shard_entry(path, docs)


def shard_entry(path: Path, docs: Sequence[Doc]) -> Dict[str, Any]:
    """The manifest entry of a shard: its file name and counts.

    path (Path): The shard.
    docs (Sequence[Doc]): Its docs.
    RETURNS (Dict[str, Any]): ``file``, ``n_docs``, ``n_tokens`` and
        ``n_docs_with_gold`` (non-empty docs with entity annotation).
    """
    return {
        "file": path.name,
        "n_docs": len(docs),
        "n_tokens": sum(len(doc) for doc in docs),
        "n_docs_with_gold": sum(
            1 for doc in docs if len(doc) and doc.has_annotation("ENT_IOB")
        ),
    }


def write_json(path: Path, data: Dict[str, Any]) -> None:
    """Write JSON atomically: a manifest is either whole or absent.

    path (Path): The file.
    data (Dict[str, Any]): JSON-able data.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf8")
    os.replace(tmp, path)


def file_id(path: Path) -> List[Any]:
    """What a run's state records of an input file, to tell whether it changed.

    path (Path): The file.
    RETURNS (List[Any]): Its resolved path, size and modification time (ns).
    """
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
