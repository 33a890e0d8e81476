"""bf16 on the CPU: spacy-kd-ner.with_precision.v1, its settings, and the
teacher trained, saved and annotating in it."""

import numpy
import pytest
import spacy
import torch
from conftest import train_tiny_teacher
from spacy.training import Example
from spacy.util import registry
from thinc.api import PyTorchWrapper_v2, fix_random_seed

from spacy_kd_ner.errors import InputError
from spacy_kd_ner.precision import (
    cpu_supports_bf16,
    in_precision,
    resolve_precision,
    set_precision,
    with_precision_v1,
)

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse sse2 avx2 avx512f {extra}
bugs\t\t: spectre_v1
"""

needs_bf16 = pytest.mark.skipif(
    not cpu_supports_bf16(), reason="the CPU has neither AMX nor AVX512-BF16"
)


@pytest.mark.parametrize(
    "extra,expected",
    [("amx_bf16 amx_tile", True), ("avx512_bf16", True), ("avx512_vnni", False)],
)
def test_cpu_flags(tmp_path, extra, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra=extra))
    assert cpu_supports_bf16(path) is expected


def test_no_cpuinfo(tmp_path):
    assert cpu_supports_bf16(tmp_path / "missing") is False


def test_resolve():
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") == ("bf16" if cpu_supports_bf16() else "fp32")
    # On a GPU, CUDA mixed precision is the wrapped model's own setting.
    assert resolve_precision("bf16", "gpu") == "fp32"
    with pytest.raises(InputError, match="fp32, bf16, auto"):
        resolve_precision("fp16")


def test_registered():
    assert registry.layers.get("spacy-kd-ner.with_precision.v1") is with_precision_v1
    with pytest.raises(InputError):
        with_precision_v1(PyTorchWrapper_v2(torch.nn.Linear(2, 2)), "half")


class Residual(torch.nn.Module):
    """x + linear(x): float32 out under autocast, as a transformer layer's
    residual sum is (bfloat16 + float32 promotes to float32). A PyTorchWrapper
    converts its outputs to numpy itself, which bfloat16 would fail."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear(x)


def _linear_pair():
    torch.manual_seed(0)
    module = Residual(64)
    X = numpy.random.default_rng(0).normal(size=(8, 64)).astype("float32")
    return module, X


def test_fp32_is_the_layer_itself():
    module, X = _linear_pair()
    plain = PyTorchWrapper_v2(module)
    wrapped = with_precision_v1(PyTorchWrapper_v2(module), "fp32")
    wrapped.initialize(X=X)
    numpy.testing.assert_array_equal(wrapped.predict(X), plain.predict(X))


@needs_bf16
def test_bf16_runs_in_bfloat16_and_returns_float32():
    module, X = _linear_pair()
    plain = PyTorchWrapper_v2(module)
    wrapped = with_precision_v1(PyTorchWrapper_v2(module), "bf16")
    Y, backprop = wrapped(X, is_train=True)
    assert Y.dtype == numpy.float32
    expected = plain.predict(X)
    # bfloat16 keeps 8 bits of mantissa: close, not equal.
    assert not numpy.array_equal(Y, expected)
    numpy.testing.assert_allclose(Y, expected, atol=0.05)
    dX = backprop(numpy.ones_like(Y))
    assert dX.dtype == numpy.float32
    weight = module.linear.weight
    assert weight.grad is not None
    assert weight.grad.dtype == torch.float32


@needs_bf16
def test_set_precision_changes_a_built_layer():
    module, X = _linear_pair()
    plain = PyTorchWrapper_v2(module).predict(X)
    wrapped = with_precision_v1(PyTorchWrapper_v2(module), "bf16")
    assert not numpy.array_equal(wrapped.predict(X), plain)
    wrapped.attrs["precision"] = "fp32"
    numpy.testing.assert_array_equal(wrapped.predict(X), plain)


def test_set_precision_without_the_layer():
    nlp = spacy.blank("en")
    nlp.add_pipe("kd_ner")
    with pytest.raises(InputError, match="no precision setting"):
        set_precision(nlp, "bf16")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_in_precision_autocasts_a_pipeline_without_the_layer(precision):
    nlp = spacy.blank("en")
    nlp.add_pipe("kd_ner")
    with in_precision(nlp, precision) as n_layers:
        assert n_layers == 0
        assert torch.is_autocast_cpu_enabled() is (precision == "bf16")
        if precision == "bf16":
            assert torch.get_autocast_cpu_dtype() == torch.bfloat16
    assert not torch.is_autocast_cpu_enabled()
    with pytest.raises(InputError):
        with in_precision(nlp, "fp16"):
            pass


def test_student_predicts_in_bf16():
    """The student's encoder (no with_precision layer) runs under autocast:
    its scores stay float32 and close to float32's."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    encoder = {"hidden_size": 16, "depth": 2, "char_filters": 8, "dropout": 0.1}
    nlp.add_pipe("kd_ner", config={"model": {"encoder": encoder}})
    texts = [("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")])]
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in texts]
    nlp.initialize(lambda: examples)
    model = nlp.get_pipe("kd_ner").model.get_ref("encoder")
    docs = [nlp.make_doc(t) for t in TEXTS]
    fp32 = model.predict(docs)
    with in_precision(nlp, "bf16"):
        bf16 = model.predict(docs)
        assert len(list(nlp.pipe(TEXTS))) == len(TEXTS)
    for a, b in zip(fp32, bf16):
        assert b.dtype == numpy.float32
        numpy.testing.assert_allclose(a, b, atol=0.05)


def _teacher_ents(nlp, texts):
    return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


TEXTS = ["Peter lives in London .", "John went to Paris with Peter ."]


def test_teacher_precision_is_saved_and_settable(tiny_teacher_dir, tmp_path):
    nlp = spacy.load(tiny_teacher_dir)
    config = nlp.config.interpolate()
    assert config["components"]["transformer"]["model"]["precision"] == "auto"
    assert set_precision(nlp, "fp32") == 1
    nlp.to_disk(tmp_path / "fp32")
    reloaded = spacy.load(tmp_path / "fp32")
    layer = reloaded.get_pipe("transformer").model
    assert layer.name == "with_precision"
    assert layer.attrs["precision"] == "fp32"
    with pytest.raises(InputError):
        set_precision(nlp, "fp16")
    with in_precision(reloaded, "bf16") as n_layers:
        assert n_layers == 1
        assert layer.attrs["precision"] == "bf16"
        assert not torch.is_autocast_cpu_enabled()
    assert layer.attrs["precision"] == "fp32"


@needs_bf16
def test_teacher_trains_and_tags_in_bf16(tiny_bert_dir, teacher_corpus, tmp_path):
    train_tiny_teacher(
        tmp_path,
        tiny_bert_dir,
        teacher_corpus,
        max_steps=6,
        **{"system.precision": "bf16"},
    )
    nlp = spacy.load(tmp_path / "model-last")
    assert nlp.get_pipe("transformer").model.attrs["precision"] == "bf16"
    scores = nlp.get_pipe("kd_ner").predict(list(nlp.pipe(TEXTS, disable=["kd_ner"])))
    assert scores is not None
    set_precision(nlp, "fp32")
    assert len(_teacher_ents(nlp, TEXTS)) == len(TEXTS)
