"""`merge_annotations`: the weighted mean of several annotations of the same docs."""

import json
import os
import shutil

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

import spacy_kd_ner.merge as merge_module
from spacy_kd_ner.annotate import annotate_corpus
from spacy_kd_ner.annotated_corpus import (
    FORMAT,
    MANIFEST,
    AnnotateError,
    is_complete,
    read_annotated,
    write_json,
    write_shard,
)
from spacy_kd_ner.merge import merge_annotations, normalised_weights
from spacy_kd_ner.scores import get_teacher_scores, set_teacher_scores
from spacy_kd_ner.teacher_eval import evaluate_annotations

TAGS = ["O", "B-PER", "I-PER", "L-PER", "U-PER"]
TEXTS = [
    ("Peter lives in London .", [(0, 5, "PER")]),
    ("Mary Smith left .", None),
    ("", None),
    ("It rained .", []),
]


def make_docs(texts=TEXTS):
    nlp = spacy.blank("en")
    docs = []
    for i, (text, ents) in enumerate(texts):
        doc = nlp.make_doc(text) if text else Doc(nlp.vocab, words=[])
        if ents is not None:
            doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        doc.user_data["conll_sent"] = i
        docs.append(doc)
    return docs


def write_annotated(path, docs, seed, tags=TAGS, model="teacher", shard_size=3):
    """An annotated corpus as `annotate` writes one, with random scores."""
    rng = numpy.random.default_rng(seed)
    for doc in docs:
        probs = rng.dirichlet(numpy.ones(len(tags)), size=len(doc)).astype("float32")
        set_teacher_scores(doc, tags, probs.reshape(len(doc), len(tags)))
    path.mkdir(parents=True)
    shards = [
        write_shard(path / f"shard-{i:05d}.spacy", docs[i : i + shard_size])
        for i in range(0, len(docs), shard_size)
    ]
    manifest = {
        "format": FORMAT,
        "model": model,
        "component": "kd_ner",
        "tags": list(tags),
        "context": None,
        "n_docs": len(docs),
        "shards": shards,
    }
    write_json(path / MANIFEST, manifest)
    return path


def scores(path):
    return [get_teacher_scores(doc)[0] for doc in read_annotated(path)]


@pytest.fixture
def inputs(tmp_path):
    a = write_annotated(tmp_path / "a", make_docs(), seed=0, model="t1")
    b = write_annotated(tmp_path / "b", make_docs(), seed=1, model=["t2", "t3"])
    return a, b


def test_weighted_mean(tmp_path, inputs):
    a, b = inputs
    out = tmp_path / "merged"
    stats = merge_annotations([a, b], out, weights=[1, 3], shard_size=2)
    assert stats.weights == [0.25, 0.75]
    assert (stats.docs, stats.tokens, stats.docs_with_gold) == (4, 12, 2)
    assert stats.shards == 2 and stats.tags == TAGS
    for merged, x, y in zip(scores(out), scores(a), scores(b)):
        assert merged.shape == x.shape
        numpy.testing.assert_allclose(merged, 0.25 * x + 0.75 * y, atol=2e-3)
    docs = list(read_annotated(out))
    originals = make_docs()
    for doc, original in zip(docs, originals):
        assert [t.text for t in doc] == [t.text for t in original]
        assert doc.has_annotation("ENT_IOB") == original.has_annotation("ENT_IOB")
        assert doc.user_data["conll_sent"] == original.user_data["conll_sent"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Peter", "PER")]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["model"] == ["t1", "t2", "t3"]
    assert [m["weight"] for m in manifest["merged"]] == [0.25, 0.75]
    assert [m["input"] for m in manifest["merged"]] == [str(a), str(b)]
    assert manifest["n_docs"] == 4 and len(manifest["shards"]) == 2


def test_equal_weights_by_default_and_merged_inputs_merge_again(tmp_path, inputs):
    a, b = inputs
    ab = tmp_path / "ab"
    assert merge_annotations([a, b], ab).weights == [0.5, 0.5]
    for merged, x, y in zip(scores(ab), scores(a), scores(b)):
        numpy.testing.assert_allclose(merged, (x + y) / 2, atol=2e-3)
    again = tmp_path / "again"
    merge_annotations([ab, a], again)
    for merged, x, y in zip(scores(again), scores(a), scores(b)):
        numpy.testing.assert_allclose(merged, 0.75 * x + 0.25 * y, atol=3e-3)
    assert json.loads((again / MANIFEST).read_text())["model"] == [
        "t1",
        "t2",
        "t3",
        "t1",
    ]


def test_interrupted_merge_resumes(tmp_path, inputs, monkeypatch):
    a, b = inputs
    expected = tmp_path / "expected"
    merge_annotations([a, b], expected, weights=[1, 3], shard_size=2)
    out = tmp_path / "merged"
    merged = merge_module._merged

    def interrupted(paths, docs, weights, tags, index):
        if index >= 2:  # in the second shard
            raise KeyboardInterrupt
        return merged(paths, docs, weights, tags, index)

    monkeypatch.setattr(merge_module, "_merged", interrupted)
    with pytest.raises(KeyboardInterrupt):
        merge_annotations([a, b], out, weights=[1, 3], shard_size=2)
    assert not out.exists() and not is_complete(out)
    assert len(list(tmp_path.glob(".merged.partial/shard-*.spacy"))) == 1
    monkeypatch.setattr(merge_module, "_merged", merged)
    stats = merge_annotations([a, b], out, weights=[1, 3], shard_size=2)
    assert stats.shards == 2 and stats.shards_resumed == 1
    assert (stats.docs, stats.tokens, stats.docs_with_gold) == (4, 12, 2)
    assert not list(tmp_path.glob(".merged.partial"))
    for got, want in zip(scores(out), scores(expected)):
        numpy.testing.assert_allclose(got, want, atol=1e-6)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest == {
        **json.loads((expected / MANIFEST).read_text()),
        "seconds": manifest["seconds"],
        "created": manifest["created"],
    }
    # Other weights make another merge: refused, or started afresh with
    # overwrite; nothing of the interrupted one is resumed.
    monkeypatch.setattr(merge_module, "_merged", interrupted)
    with pytest.raises(KeyboardInterrupt):
        merge_annotations([a, b], tmp_path / "other", shard_size=2)
    monkeypatch.setattr(merge_module, "_merged", merged)
    with pytest.raises(AnnotateError, match="weight.*--overwrite"):
        merge_annotations([a, b], tmp_path / "other", weights=[1, 3], shard_size=2)
    other = merge_annotations(
        [a, b], tmp_path / "other", weights=[1, 3], shard_size=2, overwrite=True
    )
    assert other.shards_resumed == 0


def _interrupt_in_second_shard(monkeypatch):
    merged = merge_module._merged

    def interrupted(paths, docs, weights, tags, index):
        if index >= 2:
            raise KeyboardInterrupt
        return merged(paths, docs, weights, tags, index)

    monkeypatch.setattr(merge_module, "_merged", interrupted)
    return lambda: monkeypatch.setattr(merge_module, "_merged", merged)


def test_resume_knows_inputs_by_content(tmp_path, inputs, monkeypatch):
    """An input rewritten since the interrupted merge refuses the resume; one
    only touched (same content, new mtime) resumes."""
    a, b = inputs
    out = tmp_path / "merged"
    undo = _interrupt_in_second_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        merge_annotations([a, b], out, shard_size=2)
    undo()
    manifest = b / MANIFEST
    os.utime(manifest, ns=(1, 1))
    stats = merge_annotations([a, b], out, shard_size=2)
    assert stats.shards_resumed == 1
    undo = _interrupt_in_second_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        merge_annotations([a, b], tmp_path / "again", shard_size=2)
    undo()
    stat = manifest.stat()
    shutil.rmtree(b)
    write_annotated(b, make_docs(), seed=5, model=["t2", "t3"])
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(AnnotateError, match="input.*changed"):
        merge_annotations([a, b], tmp_path / "again", shard_size=2)


def test_normalised_weights():
    assert normalised_weights(None, 4) == [0.25] * 4
    assert normalised_weights([2, 6], 2) == [0.25, 0.75]
    with pytest.raises(AnnotateError, match="3 weights for 2"):
        normalised_weights([1, 1, 1], 2)
    for bad in ([1, 0], [1, -1], [1, float("nan")], [1, float("inf")]):
        with pytest.raises(AnnotateError, match="positive"):
            normalised_weights(bad, 2)


def test_refuses_inputs_that_do_not_match(tmp_path, inputs):
    a, b = inputs
    out = tmp_path / "out"
    with pytest.raises(AnnotateError, match="at least two"):
        merge_annotations([a], out)
    other_tags = write_annotated(tmp_path / "tags", make_docs(), 2, tags=TAGS[:1])
    with pytest.raises(AnnotateError, match="different tags"):
        merge_annotations([a, other_tags], out)
    fewer = write_annotated(tmp_path / "fewer", make_docs(TEXTS[:3]), 2)
    with pytest.raises(AnnotateError, match=r"different numbers of docs .*: 4, .*: 3"):
        merge_annotations([a, fewer], out)
    words = list(TEXTS)
    words[1] = ("Mary Smith came .", None)
    other_words = write_annotated(tmp_path / "words", make_docs(words), 2)
    with pytest.raises(AnnotateError, match="Doc 1 differs.*'Mary Smith came .'"):
        merge_annotations([a, other_words], out)
    gold = list(TEXTS)
    gold[3] = ("It rained .", None)
    other_gold = write_annotated(tmp_path / "gold", make_docs(gold), 2)
    with pytest.raises(AnnotateError, match="Doc 3 .*different entity annotation"):
        merge_annotations([a, other_gold], out)
    with pytest.raises(AnnotateError, match="is one of the inputs"):
        merge_annotations([a, b], a)
    assert not out.exists()
    merge_annotations([a, b], out)
    with pytest.raises(AnnotateError, match="--overwrite"):
        merge_annotations([a, b], out)
    merge_annotations([a, b], out, weights=[1, 2], overwrite=True)
    assert json.loads((out / MANIFEST).read_text())["merged"][1]["weight"] > 0.6


def test_merges_annotate_outputs(tmp_path, tiny_teacher_dir):
    gold = tmp_path / "gold.spacy"
    DocBin(docs=make_docs()).to_disk(gold)
    annotated = tmp_path / "annotated"
    annotate_corpus(str(tiny_teacher_dir), gold, annotated)
    other = write_annotated(tmp_path / "other", make_docs(), 0, tags=_tags(annotated))
    out = tmp_path / "merged"
    merge_annotations([annotated, annotated], out)
    for merged, x in zip(scores(out), scores(annotated)):
        numpy.testing.assert_allclose(merged, x, atol=2e-3)
    merge_annotations([annotated, other], out, overwrite=True)
    metrics = evaluate_annotations(out)
    assert metrics["n_docs"] == 4 and metrics["n_gold_ents"] == 1
    assert metrics["teacher"] == [str(tiny_teacher_dir.resolve()), "teacher"]


def test_cli(tmp_path, inputs):
    from spacy_kd_ner.cli import kd_app

    a, b = inputs
    out = tmp_path / "merged"
    runner = CliRunner()
    args = ["merge-annotations", f"{a},{b}", str(out), "--weights", "1,3"]
    result = runner.invoke(kd_app, args)
    assert result.exit_code == 0, result.output
    assert (
        "0.750" in result.output and "Merged 2 annotations of 4 docs" in result.output
    )
    assert len(scores(out)) == 4
    for weights, message in [("1,x", "must be numbers"), ("1,", "Empty weight")]:
        result = runner.invoke(kd_app, [*args[:2], str(tmp_path / "o"), "-w", weights])
        assert result.exit_code == 1 and message in result.output
    result = runner.invoke(kd_app, ["merge-annotations", f"{a},{b}", str(out)])
    assert result.exit_code == 1 and "--overwrite" in result.output


def _tags(path):
    return json.loads((path / MANIFEST).read_text())["tags"]


def test_refuses_an_input_whose_shard_is_not_its_manifests(tmp_path, inputs):
    """A shard swapped for another of the same docs (other scores) is caught
    by its checksum, not merged."""
    a, b = inputs
    other = write_annotated(tmp_path / "other", make_docs(), seed=7)
    shutil.copy(other / "shard-00003.spacy", b / "shard-00003.spacy")
    with pytest.raises(AnnotateError, match=f"shard-00003.spacy.*{b}.*checksum"):
        merge_annotations([a, b], tmp_path / "merged")
