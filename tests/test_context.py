"""Document context: window docs of sentences, and a teacher run on them."""

import json

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_kd_ner.annotate import annotate_corpus, annotate_docs
from spacy_kd_ner.annotated_corpus import MANIFEST, read_annotated
from spacy_kd_ner.conll import read_conll
from spacy_kd_ner.context import (
    TARGET,
    ContextError,
    ContextSource,
    target_bounds,
    write_window_docs,
)
from spacy_kd_ner.scores import get_teacher_scores
from split import unlabeled_copy

# Two documents: five sentences, then two.
CONLL = """-DOCSTART- -X- -X- O

SOCCER NN B-NP O
- : O O
JAPAN NNP B-NP B-LOC
WIN VB B-VP O

Japan NNP B-NP B-ORG
beat VB B-VP O
Syria NNP B-NP B-ORG
. . O O

Hendry NNP B-NP B-PER
scored VB B-VP O

The DT B-NP O
Asian NNP I-NP B-MISC
Cup NNP I-NP I-MISC
. . O O

Ends VB B-VP O

-DOCSTART- -X- -X- O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
said VB B-VP O

He PRP B-NP O
left VB B-VP O
. . O O
"""


@pytest.fixture(scope="module")
def source_path(tmp_path_factory):
    conll = tmp_path_factory.mktemp("context") / "train.txt"
    conll.write_text(CONLL, encoding="utf8")
    path = conll.with_suffix(".spacy")
    DocBin(store_user_data=True, docs=list(read_conll(conll))).to_disk(path)
    return path


@pytest.fixture(scope="module")
def sentences(source_path):
    return list(
        DocBin(store_user_data=True)
        .from_disk(source_path)
        .get_docs(spacy.blank("en").vocab)
    )


def test_bounds_stay_in_the_document(sentences):
    assert [ContextSource(sentences, 2).bounds(i) for i in range(7)] == [
        (0, 2),
        (0, 3),
        (0, 4),
        (1, 4),
        (2, 4),
        (5, 6),
        (5, 6),
    ]
    assert [ContextSource(sentences, 0).bounds(i) for i in range(7)] == [
        (i, i) for i in range(7)
    ]
    assert ContextSource(sentences, 10).bounds(6) == (5, 6)


def test_window_doc(sentences):
    source = ContextSource(sentences, 1)
    window = source.window_doc(sentences[1])
    assert [t.text for t in window] == (
        "SOCCER - JAPAN WIN Japan beat Syria . Hendry scored".split()
    )
    assert target_bounds(window) == (4, 8) == tuple(window.user_data[TARGET])
    # the sentence keeps its annotation; the context's is missing, not "O"
    assert [(e.start, e.end, e.label_) for e in window.ents] == [
        (4, 5, "ORG"),
        (6, 7, "ORG"),
    ]
    assert [t.ent_iob_ for t in window] == ["", "", "", "", "B", "O", "B", "O", "", ""]
    assert window.text == "SOCCER - JAPAN WIN Japan beat Syria . Hendry scored"
    # a multi-token entity keeps its I- tags
    window = source.window_doc(sentences[3])
    assert [(e.text, e.label_) for e in window.ents] == [("Asian Cup", "MISC")]
    # an unlabeled sentence stays unlabeled in its window
    window = source.window_doc(unlabeled_copy(sentences[5]))
    assert [t.text for t in window] == "Peter Blackburn said He left .".split()
    assert not window.has_annotation("ENT_IOB") and target_bounds(window) == (0, 3)


def test_window_doc_errors(sentences):
    source = ContextSource(sentences, 1)
    nlp = spacy.blank("en")
    with pytest.raises(ContextError, match="no 'conll_sent'.*convert --user-data"):
        source.window_doc(nlp("Japan beat Syria ."))
    doc = nlp("Japan beat Iraq .")
    doc.user_data.update({"conll_doc": 1, "conll_sent": 1})
    match = "sentence 1 of document 1.*'Japan beat Syria"
    with pytest.raises(ContextError, match=match):
        source.window_doc(doc)
    doc.user_data["conll_sent"] = 7
    with pytest.raises(ContextError, match="sentence 7.*has 7 sentences"):
        source.window_doc(doc)
    with pytest.raises(ContextError, match="not a window doc"):
        target_bounds(sentences[0])
    with pytest.raises(ContextError, match="number of sentences >= 0"):
        ContextSource(sentences, -1)
    with pytest.raises(ContextError, match="Sentence 0 of the context.*--user-data"):
        ContextSource([nlp("Japan beat Syria .")], 1)
    with pytest.raises(ContextError, match="Sentence 1 .*expected conll_sent=1"):
        ContextSource([sentences[0], sentences[2]], 1)


def test_write_window_docs(tmp_path, source_path, sentences):
    subset = tmp_path / "labeled.spacy"
    DocBin(store_user_data=True, docs=[sentences[1], sentences[6]]).to_disk(subset)
    out = tmp_path / "windows.spacy"
    counts = write_window_docs(subset, out, ContextSource.from_disk(source_path, 1))
    assert (counts.docs, counts.sentence_tokens, counts.context_tokens) == (2, 7, 9)
    assert counts.entities_read == counts.entities_written == 2
    windows = list(
        DocBin(store_user_data=True).from_disk(out).get_docs(spacy.blank("en").vocab)
    )
    assert [target_bounds(w) for w in windows] == [(4, 8), (3, 6)]
    with pytest.raises(ContextError, match="No context source"):
        ContextSource.from_disk(tmp_path / "missing.spacy", 1)


def test_context_cli(tmp_path, source_path):
    from spacy_kd_ner.cli import kd_app

    out = tmp_path / "windows.spacy"
    args = ["context", str(source_path), str(out), str(source_path), "-w", "1"]
    result = CliRunner().invoke(kd_app, args)
    assert result.exit_code == 0, result.output
    assert "Wrote 7 window docs" in result.output
    plain = tmp_path / "plain.spacy"
    DocBin(docs=[spacy.blank("en")("Japan beat Syria .")]).to_disk(plain)
    result = CliRunner().invoke(kd_app, ["context", str(plain), str(out), str(plain)])
    assert result.exit_code == 1 and "--user-data" in result.output


def _pipe_probs(nlp, doc):
    """The teacher's distributions on a doc's words, computed directly."""
    pipe = nlp.get_pipe("kd_ner")
    copy = spacy.tokens.Doc(nlp.vocab, words=[t.text for t in doc])
    processed = nlp(copy, disable=["kd_ner"])
    return pipe.model.ops.to_numpy(pipe.distributions(pipe.predict([processed]))[0])


def test_annotate_in_context(tmp_path, tiny_teacher_dir, source_path, sentences):
    """Each sentence's stored distributions are the teacher's on its window
    doc, rows of the sentence's tokens; window 0 is annotating without
    context."""
    teacher = spacy.load(tiny_teacher_dir)
    source = ContextSource(sentences, 2)
    copies = [unlabeled_copy(d) for d in sentences]
    docs = list(annotate_docs(teacher, copies, context=source))
    for sentence, doc in zip(sentences, docs):
        window = source.window_doc(sentence)
        start, end = target_bounds(window)
        expected = _pipe_probs(teacher, window)[start:end]
        # annotate_docs runs padded batches, this one doc: float32 rounding
        numpy.testing.assert_allclose(get_teacher_scores(doc)[0], expected, atol=2e-4)
    alone = _pipe_probs(teacher, sentences[1])
    assert not numpy.allclose(get_teacher_scores(docs[1])[0], alone, atol=1e-3)
    no_context = list(annotate_docs(teacher, [unlabeled_copy(d) for d in sentences]))
    window_0 = list(
        annotate_docs(
            teacher,
            [unlabeled_copy(d) for d in sentences],
            context=ContextSource(sentences, 0),
        )
    )
    for a, b in zip(no_context, window_0):
        numpy.testing.assert_allclose(
            get_teacher_scores(a)[0], get_teacher_scores(b)[0], atol=1e-6
        )
    out = tmp_path / "annotated"
    annotate_corpus(teacher, source_path, out, context=source, shard_size=4)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["context"] == {"source": "source", "window": 2}
    for stored, doc, sentence in zip(read_annotated(out), docs, sentences):
        numpy.testing.assert_allclose(
            get_teacher_scores(stored)[0], get_teacher_scores(doc)[0], atol=2e-3
        )
        # gold entities untouched; the context's tokens are not in the doc
        assert [t.text for t in stored] == [t.text for t in sentence]
        assert [(e.start, e.end, e.label_) for e in stored.ents] == [
            (e.start, e.end, e.label_) for e in sentence.ents
        ]


def test_annotate_cli_in_context(tmp_path, tiny_teacher_dir, source_path):
    from spacy_kd_ner.cli import kd_app

    out = tmp_path / "annotated"
    args = ["annotate", str(tiny_teacher_dir), str(source_path), str(out)]
    context = ["--context-source", str(source_path), "--context-window", "1"]
    result = CliRunner().invoke(kd_app, args + context)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["context"] == {"source": str(source_path), "window": 1}
    plain = tmp_path / "plain.spacy"
    DocBin(docs=[spacy.blank("en")("Japan beat Syria .")]).to_disk(plain)
    args = ["annotate", str(tiny_teacher_dir), str(plain), str(tmp_path / "x")]
    result = CliRunner().invoke(kd_app, args + context)
    assert result.exit_code == 1 and "no 'conll_sent'" in result.output
