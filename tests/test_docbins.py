"""`.spacy` corpus paths: the files spaCy's Corpus reads, never hidden ones."""

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Corpus

from spacy_kd_ner.docbins import (
    DocBinError,
    count_docbin_docs,
    docbin_paths,
    read_corpus,
    read_docbins,
)


def _write(path, texts, nlp):
    path.parent.mkdir(parents=True, exist_ok=True)
    docs = [nlp.make_doc(text) for text in texts]
    for i, doc in enumerate(docs):
        doc.user_data["index"] = i
    DocBin(docs=docs, store_user_data=True).to_disk(path)


@pytest.fixture
def corpus(tmp_path):
    nlp = spacy.blank("en")
    _write(tmp_path / "b.spacy", ["b one", "b two"], nlp)
    _write(tmp_path / "a" / "shard.spacy", ["a one"], nlp)
    _write(tmp_path / ".x.partial" / "shard.spacy", ["partial"], nlp)
    _write(tmp_path / "a" / ".y.partial" / "deep" / "shard.spacy", ["deep"], nlp)
    _write(tmp_path / ".hidden.spacy", ["hidden"], nlp)
    (tmp_path / "notes.txt").write_text("not a corpus")
    return tmp_path


def test_directory_skips_hidden_directories_and_files(corpus):
    assert docbin_paths(corpus) == [corpus / "a" / "shard.spacy", corpus / "b.spacy"]
    docs = list(read_corpus(corpus, spacy.blank("en").vocab))
    assert [doc.text for doc in docs] == ["a one", "b one", "b two"]
    assert [doc.user_data["index"] for doc in docs] == [0, 0, 1]
    assert count_docbin_docs(docbin_paths(corpus)) == 3


def test_same_files_as_spacy_corpus(corpus):
    nlp = spacy.blank("en")
    ours = [doc.text for doc in read_corpus(corpus, nlp.vocab)]
    assert [eg.reference.text for eg in Corpus(corpus)(nlp)] == ours


def test_file_and_errors(corpus, tmp_path):
    file_ = corpus / "b.spacy"
    assert docbin_paths(file_) == [file_]
    assert docbin_paths(str(file_)) == [file_]
    texts = [d.text for d in read_docbins([file_, file_], spacy.blank("en").vocab)]
    assert texts == ["b one", "b two"] * 2
    with pytest.raises(FileNotFoundError, match="No corpus"):
        docbin_paths(tmp_path / "missing")
    empty = tmp_path / "empty"
    (empty / ".z.partial").mkdir(parents=True)
    _write(empty / ".z.partial" / "shard.spacy", ["partial"], spacy.blank("en"))
    with pytest.raises(ValueError, match="No .spacy files"):
        read_corpus(empty, spacy.blank("en").vocab)


def test_truncated_file_is_named(corpus):
    file_ = corpus / "b.spacy"
    data = file_.read_bytes()
    file_.write_bytes(data[: len(data) // 2])
    vocab = spacy.blank("en").vocab
    with pytest.raises(DocBinError, match="b.spacy"):
        list(read_corpus(corpus, vocab))
    with pytest.raises(DocBinError, match="b.spacy"):
        count_docbin_docs([file_])
    file_.write_bytes(b"")
    with pytest.raises(DocBinError, match="b.spacy"):
        list(read_docbins([file_], vocab))
