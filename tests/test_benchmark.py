import json

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import Linear, PyTorchWrapper, chain
from typer.testing import CliRunner

from spacy_kd_ner import benchmark as benchmark_module
from spacy_kd_ner.benchmark import (
    benchmark_pipelines,
    benchmark_speed,
    count_parameters,
    count_vectors,
    dir_size_mb,
    peak_rss_mb,
)
from spacy_kd_ner.cli import benchmark as benchmark_cli
from spacy_kd_ner.cli import kd_app
from spacy_kd_ner.cli.benchmark import bf16_peers, doc_limits, parse_model_specs
from spacy_kd_ner.errors import InputError

WORDS = [
    ["I", "like", "green", "eggs"],
    ["Eat", "blue", "ham", "now", "."],
    ["Sam", "is", "here"],
]


class _ModelHolder:
    """A do-nothing component that only carries a Thinc model."""

    def __init__(self):
        self.model = None

    def __call__(self, doc):
        return doc


@Language.factory("test_benchmark_model_holder")
def make_model_holder(nlp, name):
    return _ModelHolder()


def make_docs(nlp, n=12):
    return [Doc(nlp.vocab, words=WORDS[i % len(WORDS)]) for i in range(n)]


def make_tagger_nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("tagger")
    examples = [
        Example.from_dict(nlp.make_doc("I like green eggs"), {"tags": list("NVJN")}),
        Example.from_dict(nlp.make_doc("Eat blue ham"), {"tags": list("VJN")}),
    ]
    nlp.initialize(lambda: examples)
    return nlp


def test_count_parameters_tagger_matches_architecture():
    nlp = make_tagger_nlp()
    # spacy.Tagger.v2 over spacy.HashEmbedCNN.v2 (the tagger's default config):
    # width 96, embed_size 2000, depth 4, window 1, maxout_pieces 3, subword
    # features (NORM, PREFIX, SUFFIX, SHAPE with 2000, 1000, 1000, 1000 rows),
    # three tags.
    width, pieces, n_tags = 96, 3, 3
    embed = (2000 + 3 * 1000) * width
    mix = width * pieces * (4 * width) + width * pieces + 2 * width
    conv = 4 * (width * pieces * (3 * width) + width * pieces + 2 * width)
    softmax = n_tags * width + n_tags
    assert count_parameters(nlp) == embed + mix + conv + softmax


def test_count_parameters_torch_and_shared():
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler")  # no model: contributes nothing
    first = nlp.add_pipe("test_benchmark_model_holder", name="first")
    second = nlp.add_pipe("test_benchmark_model_holder", name="second")
    shared_linear = Linear(nO=4, nI=3)
    shared_linear.initialize()
    torch_linear = torch.nn.Linear(4, 2)
    # The same thinc layer and the same torch module (through two wrappers)
    # appear in both components: each counts once.
    first.model = chain(shared_linear, PyTorchWrapper(torch_linear))
    second.model = chain(shared_linear, PyTorchWrapper(torch_linear))
    assert count_parameters(nlp) == (4 * 3 + 4) + (4 * 2 + 2)
    # An unset param counts nothing.
    unset = Linear(nO=5, nI=5)
    second.model = unset
    assert count_parameters(nlp) == (4 * 3 + 4) + (4 * 2 + 2)
    unset.initialize()
    assert count_parameters(nlp) == (4 * 3 + 4) + (4 * 2 + 2) + (5 * 5 + 5)


def test_count_vectors():
    nlp = spacy.blank("en")
    assert count_vectors(nlp) == 0
    nlp.vocab.set_vector("cat", numpy.ones((7,), dtype="f"))
    nlp.vocab.set_vector("dog", numpy.ones((7,), dtype="f"))
    assert count_vectors(nlp) == nlp.vocab.vectors.data.shape[0] * 7


def test_dir_size_mb(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 2**20)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"x" * 2**19)
    assert dir_size_mb(tmp_path) == pytest.approx(1.5)
    assert dir_size_mb(tmp_path / "a") == pytest.approx(1.0)
    with pytest.raises(FileNotFoundError):
        dir_size_mb(tmp_path / "missing")


def test_peak_rss_mb():
    rss = peak_rss_mb()
    assert rss is not None and 10 < rss < 1e6
    numpy.ones((64 * 2**20,), dtype="uint8")  # touch 64 MB
    assert peak_rss_mb() >= rss


def test_benchmark_speed():
    nlp = make_tagger_nlp()
    docs = make_docs(nlp, 12)
    before = torch.get_num_threads()
    result = benchmark_speed(
        nlp,
        docs,
        batch_sizes=(1, 4, 8),
        n_runs=2,
        warmup_docs=2,
        n_threads=1,
        max_docs={1: 5},
    )
    assert torch.get_num_threads() == before
    assert result["n_threads"] == 1
    assert result["batch_sizes"] == [1, 4, 8]
    assert set(result["words_per_second"]) == {"1", "4", "8"}
    for bs, stats in result["by_batch_size"].items():
        assert stats["words_per_second"] > 0
        assert len(stats["words_per_second_runs"]) == 2
        assert result["words_per_second"][bs] == stats["words_per_second"]
    assert result["by_batch_size"]["1"]["n_docs"] == 5
    assert result["by_batch_size"]["1"]["n_words"] == 4 + 5 + 3 + 4 + 5
    assert result["by_batch_size"]["8"]["n_docs"] == 12
    # The input docs are left untouched.
    assert all(not doc.has_annotation("TAG") for doc in docs)


def test_benchmark_speed_repeats_passes_to_min_seconds(monkeypatch):
    """A run passes over its docs until `min_seconds` of timed work, and its
    words/s counts the words of every pass: with a pass timed at 0.1 s, a
    0.25 s minimum takes 3 passes."""
    nlp = make_tagger_nlp()
    docs = make_docs(nlp, 6)
    monkeypatch.setattr(benchmark_module, "_time_pass", lambda nlp, docs, bs: 0.1)
    result = benchmark_speed(
        nlp, docs, batch_sizes=(2,), n_runs=2, warmup_docs=0, min_seconds=0.25
    )
    stats = result["by_batch_size"]["2"]
    assert result["min_seconds"] == 0.25
    assert stats["passes_runs"] == [3, 3]
    assert stats["seconds_runs"] == pytest.approx([0.3, 0.3])
    assert stats["words_per_second"] == pytest.approx(3 * stats["n_words"] / 0.3)
    monkeypatch.undo()
    once = benchmark_speed(nlp, docs, batch_sizes=(2,), n_runs=1, warmup_docs=0)
    assert once["by_batch_size"]["2"]["passes_runs"] == [1]
    with pytest.raises(ValueError, match="min_seconds"):
        benchmark_speed(nlp, docs, batch_sizes=(2,), min_seconds=-1)


def test_benchmark_speed_rejects_empty():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError):
        benchmark_speed(nlp, [], batch_sizes=(1,))


def test_cli_helpers(tmp_path):
    for name in ("y", "student"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.cfg").touch()
    assert parse_model_specs([f"a={tmp_path}/y", f"{tmp_path}/student"]) == {
        "a": f"{tmp_path}/y",
        "student": f"{tmp_path}/student",
    }
    assert doc_limits([1, 32], None, 300) == {1: 300, 32: None}
    assert doc_limits([1, 32], 100, 300) == {1: 100, 32: 100}
    assert doc_limits([32], None, 300) == {32: None}


@pytest.fixture
def saved(tmp_path):
    nlp = make_tagger_nlp()
    model = tmp_path / "tagger"
    nlp.to_disk(model)
    data = tmp_path / "docs.spacy"
    DocBin(docs=make_docs(nlp, 10)).to_disk(data)
    return nlp, model, data


@pytest.mark.parametrize(
    "made, message",
    [
        (None, "no pipeline directory or installed pipeline package named"),
        ("plain", "is not a saved spaCy pipeline (no config.cfg)."),
        ("outer", "It holds model-best, model-last: pick one."),
    ],
)
def test_cli_names_a_model_path_that_is_no_pipeline(tmp_path, made, message):
    path = tmp_path / "teacher"
    if made == "plain":
        path.mkdir()
    elif made == "outer":
        for name in ("model-last", "model-best"):
            (path / name).mkdir(parents=True)
            (path / name / "config.cfg").touch()
    data = tmp_path / "docs.spacy"
    DocBin().to_disk(data)
    result = CliRunner().invoke(kd_app, ["benchmark", str(data), "-m", f"t={path}"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # wasabi wraps long lines
    assert "--model t:" in output and str(path) in output
    assert message in output


def test_benchmark_pipelines_in_process(saved):
    nlp, model, data = saved
    results = benchmark_pipelines(
        {"tagger": model, "again": model},
        data,
        batch_sizes=(2,),
        n_runs=1,
        isolate=False,
    )
    assert list(results) == ["tagger", "again"]
    for result in results.values():
        assert result["isolated"] is False
        assert result["n_params"] == count_parameters(nlp)
        assert result["size_mb"] == pytest.approx(dir_size_mb(model))
        assert result["peak_rss_mb"] is None
        assert result["words_per_second"]["2"] > 0


def test_benchmark_cli_isolated(saved, tmp_path):
    nlp, model, data = saved
    out = tmp_path / "speed.json"
    result = CliRunner().invoke(
        kd_app,
        [
            "benchmark",
            str(data),
            "--model",
            f"small={model}",
            "--batch-sizes",
            "1,4",
            "--n-runs",
            "1",
            "--threads",
            "1",
            "--max-docs-bs1",
            "3",
            "--min-seconds",
            "0.01",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "small" in result.output
    speed = json.loads(out.read_text())
    assert list(speed) == ["small", "run"]
    entry = speed["small"]
    assert entry["precision"] == "fp32"
    assert entry["isolated"] is True
    assert entry["n_params"] == count_parameters(nlp)
    assert entry["n_threads"] == 1
    assert entry["by_batch_size"]["1"]["n_docs"] == 3
    assert entry["by_batch_size"]["4"]["n_docs"] == 10
    assert entry["min_seconds"] == 0.01
    assert all(sum(e["seconds_runs"]) >= 0.01 for e in entry["by_batch_size"].values())
    assert all(v > 0 for v in entry["words_per_second"].values())
    assert entry["peak_rss_mb"] >= entry["baseline_rss_mb"] > 0


def test_bf16_peers():
    models = {"student": "s", "teacher": "t", "bert": "b"}
    entries, precisions = bf16_peers(models, ["bert", "teacher"])
    assert list(entries) == ["student", "teacher", "teacher-bf16", "bert", "bert-bf16"]
    assert entries["teacher-bf16"] == "t" and entries["bert-bf16"] == "b"
    assert precisions == {"teacher-bf16": "bf16", "bert-bf16": "bf16"}
    assert bf16_peers(models, []) == (models, {})
    with pytest.raises(InputError, match="--bf16 tacher: no such --model"):
        bf16_peers(models, ["tacher"])
    with pytest.raises(InputError, match="twice"):
        bf16_peers(models, ["bert", "bert"])
    with pytest.raises(InputError, match="already a --model name"):
        bf16_peers({"a": "x", "a-bf16": "y"}, ["a"])


def test_benchmark_rejects_bad_precisions(saved):
    _nlp, model, data = saved
    with pytest.raises(InputError, match="not benchmarked: b"):
        benchmark_pipelines({"a": model}, data, precisions={"b": "bf16"})
    with pytest.raises(InputError, match="fp32, bf16, got 'auto'"):
        benchmark_pipelines({"a": model}, data, precisions={"a": "auto"})


@pytest.mark.parametrize("supported", [True, False])
def test_benchmark_bf16_peer(saved, monkeypatch, supported):
    """NAME-bf16 follows NAME, and every entry records its precision; a
    pipeline without with_precision layers runs under autocast (0 layers).
    Where the CPU lacks bf16, the peers are skipped."""
    _nlp, model, data = saved
    monkeypatch.setattr(benchmark_cli, "cpu_supports_bf16", lambda: supported)
    results = benchmark_cli.benchmark(
        data,
        {"tagger": str(model)},
        bf16=["tagger"],
        batch_sizes=[2],
        n_runs=1,
        isolate=False,
    )
    assert list(results) == (["tagger", "tagger-bf16"] if supported else ["tagger"])
    assert results["tagger"]["precision"] == "fp32"
    if supported:
        assert results["tagger-bf16"]["precision"] == "bf16"
        assert results["tagger-bf16"]["precision_layers"] == 0
        assert results["tagger-bf16"]["words_per_second"]["2"] > 0


def test_benchmark_sets_a_teachers_precision(tiny_teacher_dir, teacher_corpus):
    """A teacher saved with precision "auto" is timed in fp32 and, as its
    bf16 peer, with its with_precision layer set to bf16."""
    _train, dev = teacher_corpus
    results = benchmark_pipelines(
        {"teacher": tiny_teacher_dir, "teacher-bf16": tiny_teacher_dir},
        dev,
        batch_sizes=(2,),
        n_runs=1,
        warmup_docs=1,
        isolate=False,
        precisions={"teacher-bf16": "bf16"},
    )
    assert results["teacher"]["precision"] == "fp32"
    assert results["teacher-bf16"]["precision"] == "bf16"
    assert all(r["precision_layers"] == 1 for r in results.values())
