"""The student as a package and as a sourced component: `spacy package` builds
a wheel that requires this plugin and loads in a fresh virtual environment;
`nlp.add_pipe("kd_ner", source=...)` brings a trained component into another
pipeline."""

import importlib.metadata
import json
import os
import random
import subprocess
import sys
import zipfile
from typing import Optional

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.training import Example
from spacy.vectors import Vectors
from thinc.api import Adam, fix_random_seed

TRAIN_DATA = [
    ("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
    (
        "Apple hired John Smith in Paris .",
        [(0, 5, "ORG"), (12, 22, "PER"), (26, 31, "LOC")],
    ),
    ("The European Union met in Berlin .", [(4, 18, "ORG"), (26, 32, "LOC")]),
]
TEXTS = [text for text, _ in TRAIN_DATA] + ["John met Peter in Berlin ."]
TINY = {"model": {"encoder": {"hidden_size": 16, "depth": 1, "char_filters": 8}}}
PACKAGE_NAME = "kd_ner_test_student"
PACKAGE_VERSION = "0.0.1"


def train_tiny(
    vectors: bool = False, n_iter: int = 30, vectors_dir: Optional[str] = None
) -> Language:
    """A kd_ner pipeline with a tiny encoder, fit to TRAIN_DATA. Its word
    table starts from static vectors in the pipeline (`vectors`), or in a
    vectors directory (`vectors_dir`: the component's initialize setting)."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    if vectors:
        words = ["london", "paris", "berlin", "peter", "john", "the", "in"]
        for word in words:
            nlp.vocab.strings.add(word)
        data = numpy.random.default_rng(0).normal(size=(len(words), 50))
        nlp.vocab.vectors = Vectors(
            strings=nlp.vocab.strings, data=data.astype("float32"), keys=words
        )
    nlp.add_pipe("kd_ner", config=TINY)
    if vectors_dir is not None:
        nlp.config["initialize"]["components"]["kd_ner"] = {"vectors": vectors_dir}
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents})
        for text, ents in TRAIN_DATA
    ]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    for _ in range(n_iter):
        random.shuffle(examples)
        nlp.update(examples, sgd=optimizer)
    return nlp


def entities(nlp: Language, texts=TEXTS) -> list:
    return [[(e.text, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


@pytest.fixture(scope="module")
def trained() -> Language:
    return train_tiny()


def test_trained_predicts(trained):
    assert entities(trained, TEXTS[:3]) == [
        [(text[s:e], label) for s, e, label in ents] for text, ents in TRAIN_DATA
    ]


def test_add_pipe_from_source(trained, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("kd_ner", source=trained)
    assert nlp.pipe_names == ["sentencizer", "kd_ner"]
    assert nlp.get_pipe("kd_ner").labels == trained.get_pipe("kd_ner").labels
    assert entities(nlp) == entities(trained)
    assert all(doc.has_annotation("SENT_START") for doc in nlp.pipe(TEXTS))
    # The combined pipeline saves and loads like any other.
    nlp.to_disk(tmp_path / "combined")
    assert entities(spacy.load(tmp_path / "combined")) == entities(trained)


def test_add_pipe_from_source_with_pipeline_vectors():
    # A student initialized from its own pipeline's vectors has copied what it
    # reads of them: it predicts the same in a pipeline without them. (spaCy
    # still warns, W113, that the two pipelines' vectors differ.)
    trained = train_tiny(vectors=True)
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    with pytest.warns(UserWarning, match="W113"):
        nlp.add_pipe("kd_ner", source=trained)
    assert nlp.vocab.vectors.shape[0] == 0
    assert entities(nlp) == entities(trained)


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.mark.slow
def test_package_wheel_installs_and_loads_in_fresh_venv(trained, tmp_path):
    try:
        importlib.metadata.version("build")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("`spacy package --build wheel` needs `build`: pip install build")
    model_dir = tmp_path / "model"
    trained.to_disk(model_dir)
    packages = tmp_path / "packages"
    packages.mkdir()
    _run(
        [
            sys.executable,
            "-m",
            "spacy",
            "package",
            str(model_dir),
            str(packages),
            "--name",
            PACKAGE_NAME,
            "--version",
            PACKAGE_VERSION,
            "--build",
            "wheel",
            "--force",
        ],
        cwd=tmp_path,
    )
    name = f"en_{PACKAGE_NAME}"
    package_dir = packages / f"{name}-{PACKAGE_VERSION}"
    wheels = list((package_dir / "dist").glob("*.whl"))
    assert len(wheels) == 1
    # spaCy finds the plugin through the entry points of the factories used.
    meta = json.loads((package_dir / "meta.json").read_text(encoding="utf8"))
    requirements = [r for r in meta["requirements"] if r.startswith("spacy-kd-ner")]
    assert requirements, meta["requirements"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        metadata = wheel.read(f"{name}-{PACKAGE_VERSION}.dist-info/METADATA")
    assert "Requires-Dist: spacy-kd-ner" in metadata.decode("utf8")

    # A fresh venv that sees the system's packages (spaCy, torch and this
    # plugin) but not the wheel, which is installed into it alone (no network).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    python = venv / "bin" / "python"
    _run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheels[0]],
        cwd=tmp_path,
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["OMP_NUM_THREADS"] = "1"
    script = (
        "import json, spacy\n"
        f"nlp = spacy.load({name!r})\n"
        f"docs = nlp.pipe({TEXTS!r})\n"
        "print(json.dumps([[[e.text, e.label_] for e in d.ents] for d in docs]))\n"
    )
    result = _run(
        [python, "-c", script],
        cwd=tmp_path,
        env=env,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert [[tuple(e) for e in doc] for doc in loaded] == entities(trained)
    # The package went into the venv only.
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version(name)
