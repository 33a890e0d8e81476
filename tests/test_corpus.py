"""The distillation corpus reader: counts, mixing, seeds, missing entities."""

import shutil
from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.util import registry

from spacy_kd_ner.corpus import DistillationCorpus, create_distillation_corpus_v1
from spacy_kd_ner.scores import (
    TeacherScoresError,
    get_teacher_scores,
    has_teacher_scores,
    set_teacher_scores,
)

TAGS = ["O", "B-LOC", "I-LOC", "L-LOC", "U-LOC", "B-PER", "I-PER", "L-PER", "U-PER"]
N_LABELED = 6
N_UNLABELED = (7, 5)  # two shards


def teacher_probs(n: int, seed: int, tags: Sequence[str] = TAGS) -> numpy.ndarray:
    rng = numpy.random.default_rng(seed)
    probs = rng.random((n, len(tags))) + 0.01
    return probs / probs.sum(axis=1, keepdims=True)


def make_doc(
    vocab,
    words: List[str],
    ents: Optional[List[str]] = None,
    teacher_seed: Optional[int] = None,
    tags: Sequence[str] = TAGS,
) -> Doc:
    doc = Doc(vocab, words=words, ents=ents)
    if teacher_seed is not None:
        set_teacher_scores(doc, tags, teacher_probs(len(words), teacher_seed, tags))
    return doc


def write(path: Path, docs: List[Doc]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(store_user_data=True, docs=docs).to_disk(path)
    return path


@pytest.fixture
def nlp():
    return spacy.blank("en")


@pytest.fixture
def corpora(tmp_path, nlp):
    """labeled.spacy: 6 docs with gold entities, the even ones with teacher
    scores; unlabeled/: two shards of docs with teacher scores, some of them
    with the teacher's decoded entities (to be stripped)."""
    labeled = [
        make_doc(
            nlp.vocab,
            ["lab", str(i), "Anna", "visited", "Rome"],
            ["O", "O", "B-PER", "O", "B-LOC"] if i % 3 else None,
            teacher_seed=i if i % 2 == 0 else None,
        )
        for i in range(N_LABELED)
    ]
    for doc in labeled:
        if not doc.has_annotation("ENT_IOB"):
            doc.ents = []  # gold: no entity, every token "O"
    write(tmp_path / "labeled.spacy", labeled)
    count = 0
    for shard, n in enumerate(N_UNLABELED):
        docs = []
        for _ in range(n):
            ents = ["B-PER", "O", "O"] if count % 2 else None
            docs.append(
                make_doc(
                    nlp.vocab,
                    ["unl", str(count), "text"],
                    ents,
                    teacher_seed=100 + count,
                )
            )
            count += 1
        write(tmp_path / "unlabeled" / f"shard{shard}.spacy", docs)
    return tmp_path / "labeled.spacy", tmp_path / "unlabeled"


def texts(examples) -> List[str]:
    return [" ".join(token.text for token in eg.reference) for eg in examples]


def test_counts_and_default_mix(nlp, corpora):
    labeled, unlabeled = corpora
    reader = DistillationCorpus(labeled, unlabeled, seed=0)
    examples = list(reader(nlp))
    n_unlabeled = sum(N_UNLABELED)
    assert len(examples) == N_LABELED + n_unlabeled
    kinds = Counter(eg.reference.text.split()[0] for eg in examples)
    assert kinds == {"lab": N_LABELED, "unl": n_unlabeled}
    counts = reader.counts
    assert counts is not None
    assert (counts.labeled, counts.unlabeled) == (N_LABELED, n_unlabeled)
    assert (counts.labeled_per_epoch, counts.unlabeled_per_epoch) == (
        N_LABELED,
        n_unlabeled,
    )
    assert counts.labeled_with_teacher == 3
    assert counts.labeled_without_entities == 0
    assert counts.unlabeled_stripped == n_unlabeled // 2
    assert counts.skipped == {"labeled": 0, "unlabeled": 0}
    # Shuffled: labeled and unlabeled docs are interleaved.
    first = [eg.reference.text.startswith("lab") for eg in examples]
    assert first != sorted(first, reverse=True)


def test_unlabeled_examples_have_missing_entities(nlp, corpora):
    labeled, unlabeled = corpora
    for eg in DistillationCorpus(labeled, unlabeled)(nlp):
        ner = eg.get_aligned_ner()
        if eg.reference.text.startswith("unl"):
            assert ner == [None] * len(eg.predicted)
            assert not eg.reference.has_annotation("ENT_IOB")
            assert not eg.reference.ents
        else:
            assert all(tag is not None and tag != "-" for tag in ner)
            assert ner in (["O"] * 5, ["O", "O", "U-PER", "O", "U-LOC"])


def test_teacher_scores_on_reference(nlp, corpora):
    labeled, unlabeled = corpora
    for eg in DistillationCorpus(labeled, unlabeled)(nlp):
        kind, number = eg.reference.text.split()[:2]
        seed = int(number) + 100 if kind == "unl" else int(number)
        if kind == "lab" and seed % 2:
            assert not has_teacher_scores(eg.reference)
            continue
        probs, tags = get_teacher_scores(eg.reference, TAGS)
        assert tags == TAGS
        expected = teacher_probs(len(eg.reference), seed)
        numpy.testing.assert_allclose(probs, expected, atol=2e-3)
        # The student's doc has exactly the reference's tokens.
        assert [t.text for t in eg.predicted] == [t.text for t in eg.reference]


def test_predicted_tokens_match_reference_not_tokenizer(nlp, tmp_path):
    """Tokens that spaCy's tokenizer would split, and no trailing spaces."""
    words = ["U.S.-based", "don't", "(Reuters)", "!"]
    spaces = [True, True, False, False]
    doc = Doc(nlp.vocab, words=words, spaces=spaces, ents=["B-LOC", "O", "B-PER", "O"])
    set_teacher_scores(doc, TAGS, teacher_probs(4, 0))
    path = write(tmp_path / "c.spacy", [doc])
    assert len(nlp.make_doc(doc.text)) != len(doc)
    (eg,) = DistillationCorpus(path)(nlp)
    assert [t.text for t in eg.predicted] == words
    assert eg.predicted.text == eg.reference.text
    assert eg.get_aligned_ner() == ["U-LOC", "O", "U-PER", "O"]
    assert not eg.predicted.has_annotation("ENT_IOB")


def test_plain_labeled_only(nlp, tmp_path):
    """The baseline: a labeled corpus without teacher scores."""
    docs = [
        make_doc(nlp.vocab, ["Anna", "lives", "here"], ["B-PER", "O", "O"]),
        make_doc(nlp.vocab, ["Rome", "is", "big"], ["B-LOC", "O", "O"]),
    ]
    path = write(tmp_path / "train.spacy", docs)
    reader = DistillationCorpus(path, None, seed=1)
    examples = list(reader(nlp))
    assert sorted(texts(examples)) == ["Anna lives here", "Rome is big"]
    assert not any(has_teacher_scores(eg.reference) for eg in examples)
    assert reader.counts is not None and reader.counts.unlabeled == 0


@pytest.mark.parametrize("ratio", [0.5, 1.0])
def test_ratio_cycles_through_pool(nlp, corpora, ratio):
    """round(ratio * n_labeled) unlabeled docs per epoch, taken so that every
    unlabeled doc is used equally often."""
    labeled, unlabeled = corpora
    reader = DistillationCorpus(labeled, unlabeled, unlabeled_ratio=ratio, seed=3)
    per_epoch = round(ratio * N_LABELED)
    pool = sum(N_UNLABELED)
    seen: Counter = Counter()
    n_epochs = 4
    for _ in range(n_epochs):
        examples = list(reader(nlp))
        unl = [t for t in texts(examples) if t.startswith("unl")]
        assert len(unl) == per_epoch
        assert len(set(unl)) == len(unl)
        assert len(examples) - len(unl) == N_LABELED
        seen.update(unl)
    total = n_epochs * per_epoch
    assert sum(seen.values()) == total
    # Each full pass over the pool uses every doc once.
    assert max(seen.values()) - min(seen.values()) <= 1
    if total >= pool:
        assert len(seen) == pool


def test_ratio_above_pool_and_zero(nlp, corpora):
    labeled, unlabeled = corpora
    reader = DistillationCorpus(labeled, unlabeled, unlabeled_ratio=3.0)
    pool = sum(N_UNLABELED)
    seen: Counter = Counter()
    for _ in range(2):
        unl = [t for t in texts(reader(nlp)) if t.startswith("unl")]
        assert len(unl) == 3 * N_LABELED
        seen.update(unl)
    assert len(seen) == pool and set(seen.values()) == {2 * 3 * N_LABELED // pool}
    none = DistillationCorpus(labeled, unlabeled, unlabeled_ratio=0.0)
    assert all(t.startswith("lab") for t in texts(none(nlp)))


def test_seed_reproducible_and_epochs_differ(nlp, corpora):
    labeled, unlabeled = corpora

    def epochs(seed: int, n: int = 3, **kwargs) -> List[List[str]]:
        reader = DistillationCorpus(labeled, unlabeled, seed=seed, **kwargs)
        return [texts(reader(nlp)) for _ in range(n)]

    first = epochs(7)
    assert first == epochs(7)
    assert first[0] != first[1] != first[2]
    assert epochs(8) != first
    assert epochs(7, unlabeled_ratio=0.5) == epochs(7, unlabeled_ratio=0.5)
    # epoch_examples gives any epoch without advancing the reader.
    reader = DistillationCorpus(labeled, unlabeled, seed=7)
    assert texts(reader.epoch_examples(nlp, 2)) == first[2]
    assert reader.epoch == 0


def test_corpora_read_once_per_vocab(nlp, corpora):
    labeled, unlabeled = corpora
    fresh = DistillationCorpus(labeled, unlabeled, seed=3)
    expected = texts(fresh.epoch_examples(nlp, 1))
    reader = DistillationCorpus(labeled, unlabeled, seed=3)
    first = texts(reader(nlp))
    labeled.unlink()
    shutil.rmtree(unlabeled)
    # Epoch 1 from memory: what a reader reading the files would give.
    second = texts(reader(nlp))
    assert second == expected and second != first
    assert reader.counts is not None and reader.counts.unlabeled == sum(N_UNLABELED)
    with pytest.raises(ValueError, match="does not exist"):
        list(reader(spacy.blank("en")))


def test_no_shuffle_keeps_file_order(nlp, corpora):
    labeled, unlabeled = corpora
    reader = DistillationCorpus(labeled, unlabeled, shuffle=False)
    expected = [f"lab {i} Anna visited Rome" for i in range(N_LABELED)]
    expected += [f"unl {i} text" for i in range(sum(N_UNLABELED))]
    assert texts(reader(nlp)) == expected
    assert texts(reader(nlp)) == expected


def test_unlabeled_without_teacher_scores_raises(nlp, tmp_path, corpora):
    labeled, _ = corpora
    path = write(tmp_path / "raw.spacy", [make_doc(nlp.vocab, ["no", "scores"])])
    with pytest.raises(TeacherScoresError, match="annotate"):
        list(DistillationCorpus(labeled, path)(nlp))


def test_different_tag_lists_raise(nlp, tmp_path, corpora):
    labeled, _ = corpora
    other_tags = ["O", "U-ORG", "B-ORG", "I-ORG", "L-ORG"]
    doc = make_doc(nlp.vocab, ["a", "b"], teacher_seed=1, tags=other_tags)
    path = write(tmp_path / "other.spacy", [doc])
    with pytest.raises(TeacherScoresError, match="same teacher"):
        list(DistillationCorpus(labeled, path)(nlp))


def test_max_length_splits_sentences_with_teacher_scores(nlp, tmp_path):
    long_doc = Doc(
        nlp.vocab,
        words=["Anna", "ran", ".", "Rome", "is", "far", "."],
        sent_starts=[True, False, False, True, False, False, False],
        ents=["B-PER", "O", "O", "B-LOC", "O", "O", "O"],
    )
    probs = teacher_probs(7, 0)
    set_teacher_scores(long_doc, TAGS, probs)
    no_sents = make_doc(nlp.vocab, ["x"] * 6, ["O"] * 6, teacher_seed=1)
    short = make_doc(nlp.vocab, ["Bob", "ran"], ["B-PER", "O"], teacher_seed=2)
    path = write(tmp_path / "c.spacy", [long_doc, no_sents, short])
    reader = DistillationCorpus(path, shuffle=False, max_length=4)
    examples = list(reader(nlp))
    assert texts(examples) == ["Anna ran .", "Rome is far .", "Bob ran"]
    assert reader.counts is not None and reader.counts.skipped == {
        "labeled": 1,
        "unlabeled": 0,
    }
    assert examples[1].get_aligned_ner() == ["U-LOC", "O", "O", "O"]
    numpy.testing.assert_allclose(
        get_teacher_scores(examples[1].reference)[0], probs[3:], atol=2e-3
    )
    assert len(list(DistillationCorpus(path, max_length=0)(nlp))) == 3


def test_limit_per_corpus(nlp, corpora):
    labeled, unlabeled = corpora
    reader = DistillationCorpus(labeled, unlabeled, limit=4, shuffle=False)
    assert texts(reader(nlp)) == [f"lab {i} Anna visited Rome" for i in range(4)] + [
        f"unl {i} text" for i in range(4)
    ]


def test_invalid_settings(corpora, nlp, tmp_path):
    labeled, unlabeled = corpora
    with pytest.raises(ValueError):
        DistillationCorpus(labeled, unlabeled, unlabeled_ratio=-1)
    with pytest.raises(ValueError):
        DistillationCorpus(labeled, unlabeled, limit=-1)
    with pytest.raises(ValueError, match="labeled"):
        create_distillation_corpus_v1(None)
    with pytest.raises(ValueError, match="does not exist"):
        list(DistillationCorpus(tmp_path / "missing.spacy")(nlp))


def test_registered(corpora, nlp):
    labeled, unlabeled = corpora
    config = {
        "train": {
            "@readers": "spacy-kd-ner.DistillationCorpus.v1",
            "labeled": str(labeled),
            "unlabeled": str(unlabeled),
            "unlabeled_ratio": 1.0,
            "seed": 4,
        }
    }
    reader = registry.resolve(config)["train"]
    assert isinstance(reader, DistillationCorpus)
    assert len(list(reader(nlp))) == 2 * N_LABELED


def test_annotated_corpus_is_verified_and_files_named(nlp, tmp_path):
    """An annotated corpus (a directory with a manifest) is read as its
    manifest describes it; a shard that is not the one written, or a
    truncated file, is an error that names it."""
    from spacy_kd_ner.annotated_corpus import FORMAT, AnnotateError, ShardWriter

    docs = [make_doc(nlp.vocab, ["w", str(i)], teacher_seed=i) for i in range(4)]
    out = tmp_path / "annotated"
    with ShardWriter(out) as writer:
        writer.begin({"format": FORMAT})
        writer.write(docs[:2])
        writer.write(docs[2:])
        writer.publish({}, {})
    assert len(list(DistillationCorpus(out)(nlp))) == 4
    shard = out / "shard-00001.spacy"
    write(shard, [make_doc(nlp.vocab, ["x", str(i)], teacher_seed=i) for i in (0, 1)])
    with pytest.raises(AnnotateError, match=f"shard-00001.spacy.*{out}.*checksum"):
        list(DistillationCorpus(out)(nlp))
    plain = write(tmp_path / "plain.spacy", docs)
    data = plain.read_bytes()
    plain.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="plain.spacy"):
        list(DistillationCorpus(plain)(nlp))
