"""`annotate`: a teacher's distributions stored in a corpus, streamed in shards."""

import json

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin
from spacy.training import Corpus
from typer.testing import CliRunner

import spacy_kd_ner.annotated_corpus as annotated_corpus_module
from spacy_kd_ner.annotate import annotate_corpus, annotate_docs
from spacy_kd_ner.annotated_corpus import (
    MANIFEST,
    AnnotateError,
    is_complete,
    read_annotated,
)
from spacy_kd_ner.doc_text import unannotated_copy
from spacy_kd_ner.scores import (
    EXTENSION,
    TeacherScoresError,
    get_teacher_scores,
    has_teacher_scores,
)

LABELED = [
    ("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
    ("The European Union said so .", [(4, 18, "ORG")]),
    ("The minister was in the city .", []),
]
UNLABELED = [
    "John went to Paris with Peter .",
    "Müller sagte in Zürich : « Ça va » , 東京 😀 \u200b ok",
]


def make_corpus(vocab):
    docs = []
    nlp = spacy.blank("en", vocab=vocab)
    for text, entities in LABELED:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in entities]
        docs.append(doc)
    docs.extend(nlp.make_doc(text) for text in UNLABELED)
    docs.append(Doc(vocab, words=[]))
    long_words = ("Peter went to London and Paris with John .".split() * 223)[:2000]
    docs.append(Doc(vocab, words=long_words))
    docs[-1].ents = [docs[-1].char_span(0, 5, label="PER")]
    return docs


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("annotate-input") / "input.spacy"
    DocBin(docs=make_corpus(spacy.blank("en").vocab)).to_disk(path)
    return path


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    return spacy.load(tiny_teacher_dir)


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, teacher, corpus_path):
    out = tmp_path_factory.mktemp("annotate-output") / "annotated"
    stats = annotate_corpus(teacher, corpus_path, out, batch_size=2, shard_size=3)
    return out, stats


def test_annotate_writes_complete_shards(annotated, corpus_path):
    out, stats = annotated
    n_docs = len(LABELED) + len(UNLABELED) + 2
    assert is_complete(out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert [s["file"] for s in manifest["shards"]] == [
        "shard-00000.spacy",
        "shard-00001.spacy",
        "shard-00002.spacy",
    ]
    assert manifest["n_docs"] == stats.docs_written == stats.docs_read == n_docs
    assert stats.docs_annotated == n_docs
    assert stats.docs_with_gold == len(LABELED) + 1
    assert stats.tokens == sum(len(doc) for doc in read_annotated(corpus_path))
    assert stats.size_bytes > 0
    assert not list(out.parent.glob(".*partial"))


def test_annotate_round_trip(annotated, corpus_path, teacher):
    out, _ = annotated
    tags = teacher.get_pipe("kd_ner").tag_names
    originals = list(read_annotated(corpus_path))
    docs = list(read_annotated(out))
    assert len(docs) == len(originals)
    for orig, doc in zip(originals, docs):
        assert [t.text for t in doc] == [t.text for t in orig]
        assert [t.whitespace_ for t in doc] == [t.whitespace_ for t in orig]
        # gold entities unchanged; unlabeled docs still without annotation
        assert [(e.start, e.end, e.label_) for e in doc.ents] == [
            (e.start, e.end, e.label_) for e in orig.ents
        ]
        assert doc.has_annotation("ENT_IOB") == orig.has_annotation("ENT_IOB")
        assert [t.ent_iob for t in doc] == [t.ent_iob for t in orig]
        # scores: float16 on disk, (n_tokens, n_tags), rows sum to 1
        assert doc._.get(EXTENSION)["probs"].dtype == numpy.float16
        probs, got_tags = get_teacher_scores(doc, tags)
        assert got_tags == tags
        assert probs.shape == (len(doc), len(tags))
        raw = doc._.get(EXTENSION)["probs"].astype("float32")
        numpy.testing.assert_allclose(raw.sum(axis=1), 1.0, atol=1e-2)
    assert len(docs[-2]) == 0 and has_teacher_scores(docs[-2])
    assert len(docs[-1]) == 2000
    assert not docs[3].has_annotation("ENT_IOB")


def test_annotate_matches_teacher(annotated, teacher):
    """Stored distributions are the teacher's on the same words, to float16."""
    out, _ = annotated
    docs = list(read_annotated(out))
    pipe = teacher.get_pipe("kd_ner")
    for doc in docs[:5] + docs[-1:]:
        words = Doc(
            teacher.vocab,
            words=[t.text for t in doc],
            spaces=[bool(t.whitespace_) for t in doc],
        )
        processed = teacher.get_pipe("transformer")(words)
        expected = pipe.distributions(pipe.predict([processed]))[0]
        got, _ = get_teacher_scores(doc)
        numpy.testing.assert_allclose(got, expected, atol=2e-3)


def test_annotated_corpus_reads_as_spacy_corpus(annotated, teacher):
    out, _ = annotated
    examples = list(Corpus(out)(teacher))
    assert len(examples) == len(LABELED) + len(UNLABELED) + 1  # no empty doc
    assert all(has_teacher_scores(eg.reference) for eg in examples)


def test_label_mismatch(annotated):
    out, _ = annotated
    doc = next(read_annotated(out))
    with pytest.raises(TeacherScoresError, match="differ|student uses"):
        get_teacher_scores(doc, ["O", "U-PER"])


def test_annotate_docs_in_memory(teacher):
    docs = make_corpus(spacy.blank("en").vocab)
    result = list(annotate_docs(teacher, docs, batch_size=3, buffer_size=4))
    assert result == docs
    assert all(has_teacher_scores(doc) for doc in docs)
    assert not docs[3].has_annotation("ENT_IOB")


def test_interrupted_annotate_leaves_no_complete_output(
    tmp_path, teacher, corpus_path, monkeypatch
):
    out = tmp_path / "annotated"
    undo = _interrupt_after_first_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        annotate_corpus(teacher, corpus_path, out, batch_size=2, shard_size=3)
    assert not out.exists() and not is_complete(out)
    # spaCy's Corpus skips the hidden work directory
    with pytest.warns(UserWarning):
        assert list(Corpus(tmp_path)(teacher)) == []
    undo()
    stats = annotate_corpus(teacher, corpus_path, out, batch_size=2, shard_size=3)
    assert stats.shards_resumed == 1 and stats.shards == 3
    assert stats.docs_written == stats.docs_read
    assert stats.docs_annotated == stats.docs_read - 3
    assert is_complete(out)
    assert len(list(read_annotated(out))) == stats.docs_read


def test_annotate_refuses_to_overwrite(tmp_path, teacher, corpus_path):
    out = tmp_path / "annotated"
    annotate_corpus(teacher, corpus_path, out, shard_size=100)
    with pytest.raises(AnnotateError, match="--overwrite"):
        annotate_corpus(teacher, corpus_path, out, shard_size=100)
    stats = annotate_corpus(teacher, corpus_path, out, shard_size=4, overwrite=True)
    assert stats.shards == 2 and is_complete(out)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(AnnotateError, match="not an annotated corpus"):
        annotate_corpus(teacher, corpus_path, other)


def test_read_annotated_refuses_incomplete(tmp_path):
    (tmp_path / "shard-00000.spacy").write_bytes(b"")
    with pytest.raises(AnnotateError, match="not a complete"):
        list(read_annotated(tmp_path))


def test_annotate_cli(tmp_path, tiny_teacher_dir, corpus_path):
    from spacy_kd_ner.cli import kd_app

    out = tmp_path / "annotated"
    result = CliRunner().invoke(
        kd_app,
        ["annotate", str(tiny_teacher_dir), str(corpus_path), str(out), "-b", "4"],
    )
    assert result.exit_code == 0, result.output
    assert "docs written" in result.output
    assert is_complete(out)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_annotate_cli_precision_and_stats(
    tmp_path, tiny_teacher_dir, corpus_path, precision
):
    from spacy_kd_ner.cli import kd_app
    from spacy_kd_ner.precision import cpu_supports_bf16

    if precision == "bf16" and not cpu_supports_bf16():
        pytest.skip("the CPU has neither AMX nor AVX512-BF16")
    out, stats = tmp_path / "annotated", tmp_path / "stats" / "a.json"
    result = CliRunner().invoke(
        kd_app,
        ["annotate", str(tiny_teacher_dir), str(corpus_path), str(out),
         "--precision", precision, "--stats", str(stats)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = srsly.read_json(stats)
    assert written["precisions"] == [precision]
    assert written["docs_annotated"] == written["docs_read"] > 0
    assert written["docs_per_second"] > 0
    assert set(written["run"]) >= {"command", "commit", "date", "machine"}


def test_annotate_cli_unknown_precision(tmp_path, tiny_teacher_dir, corpus_path):
    from spacy_kd_ner.cli import kd_app

    out = tmp_path / "annotated"
    result = CliRunner().invoke(
        kd_app,
        ["annotate", str(tiny_teacher_dir), str(corpus_path), str(out),
         "--precision", "fp16"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "fp32, bf16, auto" in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.fixture(scope="module")
def other_teacher(tiny_teacher_dir):
    """The tiny teacher with its kd_ner weights changed: a second ensemble
    member with the same tags and different distributions."""
    nlp = spacy.load(tiny_teacher_dir)
    model = nlp.get_pipe("kd_ner").model
    rng = numpy.random.default_rng(0)
    for node in model.walk():
        for name in node.param_names:
            if node.has_param(name):
                param = node.get_param(name)
                noise = rng.normal(0, 0.5, param.shape).astype(param.dtype)
                node.set_param(name, param + noise)
    return nlp


def _teacher_probs(nlp, docs):
    copies = [unannotated_copy(nlp.vocab, doc) for doc in docs]
    return [get_teacher_scores(doc)[0] for doc in annotate_docs(nlp, copies)]


def test_ensemble_averages_the_teachers(tmp_path, teacher, other_teacher, corpus_path):
    docs = list(read_annotated(corpus_path))
    first = _teacher_probs(teacher, docs)
    second = _teacher_probs(other_teacher, docs)
    assert not numpy.allclose(first[0], second[0], atol=0.05)
    out = tmp_path / "ensemble"
    stats = annotate_corpus(
        [teacher, other_teacher], corpus_path, out, batch_size=2, shard_size=3
    )
    assert stats.docs_written == len(docs) and stats.shards == 3
    manifest = json.loads((out / MANIFEST).read_text())
    assert len(manifest["model"]) == 2
    ensemble = [get_teacher_scores(doc)[0] for doc in read_annotated(out)]
    assert len(ensemble) == len(docs)
    for got, a, b in zip(ensemble, first, second):
        # float16 on disk
        numpy.testing.assert_allclose(got, (a + b) / 2, atol=2e-3)
    in_memory = list(annotate_docs([teacher, other_teacher], docs, batch_size=3))
    for doc, expected in zip(in_memory, ensemble):
        numpy.testing.assert_allclose(get_teacher_scores(doc)[0], expected, atol=2e-3)


def test_ensemble_of_one_is_the_teacher(tmp_path, annotated, teacher, corpus_path):
    out = tmp_path / "one"
    annotate_corpus([teacher], corpus_path, out, batch_size=2, shard_size=3)
    for doc, single in zip(read_annotated(out), read_annotated(annotated[0])):
        numpy.testing.assert_array_equal(
            doc._.get(EXTENSION)["probs"], single._.get(EXTENSION)["probs"]
        )


def test_ensemble_refuses_different_tags(
    tmp_path, teacher, tiny_teacher_dir, corpus_path
):
    reordered = spacy.load(tiny_teacher_dir)
    pipe = reordered.get_pipe("kd_ner")
    pipe.cfg["labels"] = list(reversed(pipe.labels))
    with pytest.raises(AnnotateError, match="different tags.*<in-memory"):
        annotate_corpus([teacher, reordered], corpus_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(AnnotateError, match="No teacher"):
        annotate_corpus([], corpus_path, tmp_path / "out")


def test_annotate_cli_ensemble(tmp_path, tiny_teacher_dir, corpus_path):
    from spacy_kd_ner.cli import kd_app

    out = tmp_path / "annotated"
    models = f"{tiny_teacher_dir},{tiny_teacher_dir}"
    result = CliRunner().invoke(
        kd_app, ["annotate", models, str(corpus_path), str(out), "-b", "4"]
    )
    assert result.exit_code == 0, result.output
    assert (
        json.loads((out / MANIFEST).read_text())["model"]
        == [str(tiny_teacher_dir.resolve())] * 2
    )
    result = CliRunner().invoke(
        kd_app, ["annotate", f"{tiny_teacher_dir},", str(corpus_path), str(out)]
    )
    assert result.exit_code == 1 and "Empty pipeline name" in result.output


def _interrupt_after_first_shard(monkeypatch):
    """Make the next annotate stop (as at Ctrl-C) once it wrote one shard;
    returns the function that undoes it."""
    write_shard = annotated_corpus_module.write_shard
    calls = []

    def failing_write_shard(path, docs):
        if calls:
            raise KeyboardInterrupt
        calls.append(path)
        return write_shard(path, docs)

    monkeypatch.setattr(annotated_corpus_module, "write_shard", failing_write_shard)
    return lambda: monkeypatch.setattr(
        annotated_corpus_module, "write_shard", write_shard
    )


def _doc_records(path):
    return [
        (
            [t.text for t in doc],
            [t.whitespace_ for t in doc],
            [(e.start, e.end, e.label_) for e in doc.ents],
            doc.has_annotation("ENT_IOB"),
            doc._.get(EXTENSION)["tags"],
            doc._.get(EXTENSION)["probs"].tobytes(),
        )
        for doc in read_annotated(path)
    ]


def test_resumed_annotation_equals_uninterrupted(
    tmp_path, annotated, teacher, corpus_path, monkeypatch
):
    out = tmp_path / "resumed"
    undo = _interrupt_after_first_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        annotate_corpus(teacher, corpus_path, out, batch_size=2, shard_size=3)
    undo()
    stats = annotate_corpus(teacher, corpus_path, out, batch_size=2, shard_size=3)
    assert stats.shards_resumed == 1
    assert _doc_records(out) == _doc_records(annotated[0])
    ours, theirs = (json.loads((p / MANIFEST).read_text()) for p in (out, annotated[0]))
    assert ours["shards"] == theirs["shards"]


def test_resume_refuses_another_teacher_at_the_same_path(
    tmp_path, tiny_teacher_dir, other_teacher, corpus_path, monkeypatch
):
    import shutil

    model = tmp_path / "teacher"
    shutil.copytree(tiny_teacher_dir, model)
    out = tmp_path / "annotated"
    undo = _interrupt_after_first_shard(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        annotate_corpus(str(model), corpus_path, out, batch_size=2, shard_size=3)
    undo()
    shutil.rmtree(model)
    other_teacher.to_disk(model)
    with pytest.raises(AnnotateError, match="teacher.*changed") as err:
        annotate_corpus(str(model), corpus_path, out, batch_size=2, shard_size=3)
    assert "--overwrite" in str(err.value)
    assert len(list(tmp_path.glob(".annotated.partial/shard-*.spacy"))) == 1
    stats = annotate_corpus(
        str(model), corpus_path, out, batch_size=2, shard_size=3, overwrite=True
    )
    assert stats.shards_resumed == 0 and stats.docs_annotated == stats.docs_read
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["model"] == str(model.resolve())
    assert len(manifest["model_sha256"]) == 64


def test_refuses_output_inside_input_and_input_inside_output(
    tmp_path, teacher, corpus_path
):
    nest = tmp_path / "nest" / "corpus"
    nest.mkdir(parents=True)
    DocBin().from_disk(corpus_path).to_disk(nest / "input.spacy")
    with pytest.raises(AnnotateError, match="inside the input"):
        annotate_corpus(teacher, nest, nest / "annotated", overwrite=True)
    assert not (nest / "annotated").exists()
    assert not list(nest.glob(".*"))
    outer = tmp_path / "outer"
    annotate_corpus(teacher, corpus_path, outer / "annotated")
    with pytest.raises(AnnotateError, match="inside the output"):
        annotate_corpus(teacher, outer / "annotated", outer, overwrite=True)
    with pytest.raises(AnnotateError, match="inside the output"):
        annotate_corpus(
            teacher, outer / "annotated", outer / "annotated", overwrite=True
        )


def test_truncated_input_is_named_and_leaves_no_work_dir(
    tmp_path, teacher, corpus_path
):
    bad = tmp_path / "input" / "bad.spacy"
    bad.parent.mkdir()
    data = corpus_path.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out" / "annotated"
    with pytest.raises(AnnotateError, match="bad.spacy"):
        annotate_corpus(teacher, bad.parent, out)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no .partial, no lock


def test_annotate_refuses_an_output_another_run_writes(tmp_path, teacher, corpus_path):
    import os

    from spacy_kd_ner.annotated_corpus import FORMAT, ShardWriter, lock_path

    out = tmp_path / "annotated"
    with ShardWriter(out) as first:
        first.begin({"format": FORMAT, "shard_size": 3})
        with pytest.raises(AnnotateError) as err:
            annotate_corpus(teacher, corpus_path, out, shard_size=4, overwrite=True)
        assert str(lock_path(out)) in str(err.value)
        assert f"process {os.getpid()}" in str(err.value)
        # the first run's work directory is untouched
        assert json.loads((first.work / "state.json").read_text())["shard_size"] == 3
    assert not lock_path(out).exists()


def test_failure_before_the_first_shard_leaves_no_work_dir(
    tmp_path, teacher, corpus_path, monkeypatch
):
    import spacy_kd_ner.annotate as annotate_module

    def broken(*args, **kwargs):
        raise RuntimeError("teacher failed")

    monkeypatch.setattr(annotate_module, "annotate_chunk", broken)
    out = tmp_path / "annotated"
    with pytest.raises(RuntimeError, match="teacher failed"):
        annotate_corpus(teacher, corpus_path, out, shard_size=3)
    assert list(tmp_path.iterdir()) == []
