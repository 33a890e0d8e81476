"""Importing the plugin changes nothing global: the Doc extension and the
at-fork hook are installed when a kd_ner component is made, or when teacher
scores are read or written. Each check runs in a fresh interpreter, since the
test process itself has long made components."""

import json
import subprocess
import sys
from pathlib import Path

import numpy
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from spacy_kd_ner.scores import set_teacher_scores

ROOT = Path(__file__).resolve().parents[1]

# Records the at-fork hooks that spacy_kd_ner registers, then imports what the
# test names and prints what was installed as JSON.
PROBE = """
import json, os, sys
registered = []
_register = os.register_at_fork
def _recording(**hooks):
    if any((getattr(f, "__module__", None) or "").startswith("spacy_kd_ner")
           for f in hooks.values()):
        registered.append(sorted(hooks))
    _register(**hooks)
os.register_at_fork = _recording
from spacy.tokens import Doc
def state():
    return {"extension": Doc.has_extension("kd_teacher"), "fork": len(registered)}
out = {}
"""


def run_probe(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE + code + "\nprint(json.dumps(out))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_installs_nothing_until_a_component_is_made():
    out = run_probe(
        """
import spacy_kd_ner.cli
import spacy_kd_ner
out["import"] = state()
import spacy
nlp = spacy.blank("en")
nlp.add_pipe("kd_ner")
out["component"] = state()
nlp.add_pipe("kd_ner", name="second")
out["second"] = state()
"""
    )
    assert out["import"] == {"extension": False, "fork": 0}
    assert out["component"] == {"extension": True, "fork": 1}
    assert out["second"] == {"extension": True, "fork": 1}


def test_scores_round_trip_a_docbin_in_a_fresh_process(tmp_path):
    tags = ["O", "U-PER"]
    vocab = Vocab()
    doc = Doc(vocab, words=["Peter", "runs"])
    set_teacher_scores(doc, tags, numpy.array([[0.2, 0.8], [0.9, 0.1]]))
    DocBin(store_user_data=True, docs=[doc]).to_disk(tmp_path / "docs.spacy")
    labeled = Doc(vocab, words=["Paris"], ents=["B-LOC"])
    DocBin(store_user_data=True, docs=[labeled]).to_disk(tmp_path / "gold.spacy")
    out = run_probe(
        f"""
import spacy
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from spacy_kd_ner.scores import get_teacher_scores, has_teacher_scores
path = {str(tmp_path / "docs.spacy")!r}
doc = next(DocBin(store_user_data=True).from_disk(path).get_docs(Vocab()))
out["has"] = has_teacher_scores(doc)
probs, tags = get_teacher_scores(doc)
out["tags"] = tags
out["probs"] = probs.tolist()
out["state"] = state()
from spacy_kd_ner.corpus import create_distillation_corpus_v1
read = create_distillation_corpus_v1({str(tmp_path / "gold.spacy")!r}, path)
examples = list(read(spacy.blank("en")))
out["read"] = sorted(has_teacher_scores(eg.reference) for eg in examples)
"""
    )
    assert out["has"] is True
    assert out["tags"] == tags
    numpy.testing.assert_allclose(out["probs"], [[0.2, 0.8], [0.9, 0.1]], atol=1e-3)
    assert out["state"] == {"extension": True, "fork": 0}
    assert out["read"] == [False, True]
