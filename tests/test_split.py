"""`split`: the fixed unlabeled pool and the labeled splits."""

import json

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from split import (
    SUMMARY,
    UNLABELED,
    SplitError,
    labeled_name,
    split_corpus,
)


@pytest.fixture
def train_path(tmp_path):
    nlp = spacy.blank("en")
    docs = []
    for i in range(120):
        doc = nlp.make_doc(f"Sentence {i} mentions Peter in London .")
        doc.ents = [doc.char_span(doc[3].idx, doc[3].idx + 5, label="PER")]
        doc.user_data["conll_sent"] = i
        docs.append(doc)
    docs.insert(7, Doc(nlp.vocab, words=[]))
    path = tmp_path / "train.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def read(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def key(doc):
    return doc.text


def test_split_counts_and_disjointness(tmp_path, train_path):
    out = tmp_path / "splits"
    report = split_corpus(
        train_path, out, sizes=[10, 30], seeds=[1, 2], pool_size=50, pool_seed=0
    )
    assert report.n_input == 121 and report.n_empty == 1
    assert report.n_pool == 50 and report.n_rest == 70
    pool = read(out / UNLABELED)
    assert len(pool) == 50
    assert all(len(doc) and not doc.has_annotation("ENT_IOB") for doc in pool)
    assert all(not doc.ents for doc in pool)
    assert all("conll_sent" in doc.user_data for doc in pool)
    pool_texts = {key(doc) for doc in pool}
    assert len(pool_texts) == 50
    for seed in (1, 2):
        for size in (10, 30):
            docs = read(out / labeled_name(size, seed))
            assert len(docs) == size
            assert all(len(doc.ents) == 1 for doc in docs)
            assert not pool_texts & {key(doc) for doc in docs}
        small = {key(d) for d in read(out / labeled_name(10, seed))}
        large = {key(d) for d in read(out / labeled_name(30, seed))}
        assert small <= large
    one = {key(d) for d in read(out / labeled_name(30, 1))}
    two = {key(d) for d in read(out / labeled_name(30, 2))}
    assert one != two
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["files"][labeled_name(10, 1)]["docs"] == 10
    assert summary["files"][UNLABELED]["entities"] == 0


def test_split_is_deterministic(tmp_path, train_path):
    kwargs = {"sizes": [20], "seeds": [3], "pool_size": 40}
    split_corpus(train_path, tmp_path / "a", **kwargs)
    split_corpus(train_path, tmp_path / "b", **kwargs)
    for name in (UNLABELED, labeled_name(20, 3)):
        a = (tmp_path / "a" / name).read_bytes()
        b = (tmp_path / "b" / name).read_bytes()
        assert [key(d) for d in read(tmp_path / "a" / name)] == [
            key(d) for d in read(tmp_path / "b" / name)
        ]
        assert a == b
    # the pool does not depend on the labeled sizes and seeds
    split_corpus(train_path, tmp_path / "c", sizes=[5, 60], seeds=[9], pool_size=40)
    assert (tmp_path / "c" / UNLABELED).read_bytes() == (
        tmp_path / "a" / UNLABELED
    ).read_bytes()


def test_split_errors(tmp_path, train_path):
    with pytest.raises(SplitError, match="does not fit"):
        split_corpus(train_path, tmp_path / "x", sizes=[10], pool_size=500)
    with pytest.raises(SplitError, match="exceed"):
        split_corpus(train_path, tmp_path / "x", sizes=[100], pool_size=50)


def test_split_cli(tmp_path, train_path):
    from split import app

    out = tmp_path / "splits"
    args = [str(train_path), str(out), "--sizes", "5,10", "--seeds", "1,2"]
    result = CliRunner().invoke(app, [*args, "--pool-size", "30"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.spacy")) == [
        "labeled-10-1.spacy",
        "labeled-10-2.spacy",
        "labeled-5-1.spacy",
        "labeled-5-2.spacy",
        "unlabeled.spacy",
    ]


def test_held_out_sets_and_the_rest_as_pool(tmp_path, train_path):
    # A corpus without test and dev sets of its own (WNUT-16's train file):
    # test and dev drawn first with gold, the labeled split, the rest as pool.
    out = tmp_path / "splits"
    report = split_corpus(
        train_path,
        out,
        sizes=[30],
        seeds=[1],
        pool_size=-1,
        held_out=[("test", 25), ("dev", 15)],
    )
    files = {name: {key(d) for d in read(out / name)} for name in report.files}
    assert {name: len(texts) for name, texts in files.items()} == {
        "test.spacy": 25,
        "dev.spacy": 15,
        UNLABELED: 120 - 25 - 15 - 30,
        labeled_name(30, 1): 30,
    }
    assert report.n_pool == 50 and report.n_rest == 30
    union = set().union(*files.values())
    assert len(union) == 120  # disjoint, and together the whole corpus
    assert all(len(d.ents) == 1 for d in read(out / "test.spacy"))
    assert not any(d.has_annotation("ENT_IOB") for d in read(out / UNLABELED))
    # The held-out sets do not depend on the pool or the labeled sizes.
    split_corpus(
        train_path, tmp_path / "b", sizes=[5], pool_size=10, held_out=[("test", 25)]
    )
    assert (tmp_path / "b" / "test.spacy").read_bytes() == (
        out / "test.spacy"
    ).read_bytes()


@pytest.mark.parametrize(
    "held_out,error",
    [("test=0", "must be >= 1"), ("test=5,test=6", "distinct"), ("test", "NAME=SIZE")],
)
def test_held_out_errors_are_messages(tmp_path, train_path, held_out, error):
    from split import app

    args = [str(train_path), str(tmp_path / "o"), "--sizes", "5", "--pool-size", "9"]
    result = CliRunner().invoke(app, [*args, "--held-out", held_out])
    assert result.exit_code == 1
    assert error in result.output and "Traceback" not in result.output
