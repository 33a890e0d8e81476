"""Every file in configs/ initialises, and every registered name resolves."""

import configparser
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training.initialize import init_nlp
from spacy.util import load_config, registry

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.cfg"))


def entry_points() -> list:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    result = []
    for group, lines in parser["options.entry_points"].items():
        for line in lines.strip().splitlines():
            name, target = (part.strip() for part in line.split("=", 1))
            result.append((group, name, target))
    return result


REGISTRIES = {
    "spacy_architectures": "architectures",
    "thinc_layers": "layers",
    "spacy_readers": "readers",
    "thinc_losses": "losses",
    "spacy_callbacks": "callbacks",
}


@pytest.mark.parametrize("group,name,target", entry_points())
def test_entry_point_resolves(group, name, target):
    if group == "spacy_factories":
        module, attr = target.split(":")
        factory = __import__(module, fromlist=[attr])
        assert spacy.blank("en").add_pipe(name).__class__.__module__ == factory.__name__
    elif group == "spacy_cli":
        module = __import__(target, fromlist=["kd_app"])
        assert module.kd_app.registered_commands
    else:
        # The module is imported first: an installed copy of the package may
        # predate an entry point that setup.cfg lists.
        module, attr = target.split(":")
        registered = getattr(__import__(module, fromlist=[attr]), attr)
        assert getattr(registry, REGISTRIES[group]).get(name) is registered


def test_configs_exist():
    names = {path.name for path in CONFIGS}
    assert {"student.cfg", "teacher.cfg"} <= names


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    nlp = spacy.blank("en")
    docs = []
    for text, ents in [
        ("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
        ("The European Union said so .", [(4, 18, "ORG")]),
    ]:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        docs.append(doc)
    path = tmp_path_factory.mktemp("corpus") / "tiny.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


@pytest.fixture(scope="module")
def tiny_vectors(tmp_path_factory):
    """A vectors directory (as `spacy init vectors` writes) of lowercase words."""
    import numpy
    from spacy.vectors import Vectors

    nlp = spacy.blank("en")
    words = ["peter", "london", "european", "union", "the", "said"]
    for word in words:
        nlp.vocab.strings.add(word)
    data = numpy.random.default_rng(0).normal(size=(len(words), 8)).astype("f")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data, keys=words)
    path = tmp_path_factory.mktemp("vectors")
    nlp.to_disk(path)
    return path


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_initializes(path, tiny_corpus, tiny_bert_dir, tiny_vectors):
    overrides = {"paths.train": str(tiny_corpus), "paths.dev": str(tiny_corpus)}
    if "include_static_vectors = true" in path.read_text(encoding="utf8"):
        overrides["paths.vectors"] = str(tiny_vectors)
    config = load_config(path, overrides=overrides, interpolate=False)
    if "teacher" in config["paths"]:
        config["paths"]["teacher"] = str(tiny_bert_dir)
    config["system"]["gpu_allocator"] = None
    nlp = init_nlp(config.interpolate())
    # The last component of every config tags the entities (kd_ner, or
    # spaCy's ner in spacy-ner.cfg).
    assert nlp.pipe_names[-1] == config["nlp"]["pipeline"][-1]
    assert nlp.pipeline[-1][1].labels == ("LOC", "ORG", "PER")
