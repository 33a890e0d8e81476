"""scripts/ood.py: the out-of-domain study's pools and the commands it runs
(without running them)."""

import numpy
import pytest
import spacy
from conftest import record_runs
from spacy.tokens import DocBin
from typer.testing import CliRunner

import commands as scripts_commands
import ood
import train
from spacy_kd_ner.word_priors import WordPriors, save_word_priors


@pytest.fixture
def ran(monkeypatch, tmp_path):
    """The commands the script runs, in tmp_path."""
    return record_runs(monkeypatch, tmp_path, ood, train, scripts_commands)


def invoke(*args, code=0):
    result = CliRunner().invoke(ood.app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def option(argv, name):
    return argv[argv.index(name) + 1]


def write(path, texts, label=None):
    nlp = spacy.blank("en")
    docs = []
    for text in texts:
        doc = nlp.make_doc(text)
        if label:
            doc.ents = [doc.char_span(0, len(doc[0].text), label=label)]
        docs.append(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs).to_disk(path)


def read(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


@pytest.fixture
def corpora(tmp_path):
    write(
        tmp_path / "pool.spacy", [f"Peter met Mary in Berlin {i} ." for i in range(20)]
    )
    write(tmp_path / "a.spacy", ["justin bieber live tonight", "go @nyc"], "person")
    write(tmp_path / "b.spacy", ["Seattle rain again"], "geo-loc")
    write(tmp_path / "test.spacy", ["obama in town"], "person")
    return [
        "--pool",
        "pool.spacy",
        "--tweets",
        "a.spacy,b.spacy",
        "--test",
        "test.spacy",
    ]


def test_pools_hold_the_tweets_without_gold_and_the_perturbed_pool(
    ran, tmp_path, corpora
):
    output = invoke("pools", *corpora, "--lower", "1", "--drop", "0", "--output", "ood")
    assert "3 tweets (3 gold entities removed" in output
    assert sorted(p.name for p in (tmp_path / "ood").iterdir()) == sorted(
        set(ood.POOLS) - ood.SPLIT_POOLS
    )
    tweets = read(tmp_path / "ood/tweets/tweets.spacy")
    assert [d.text for d in tweets] == [
        "justin bieber live tonight", "go @nyc", "Seattle rain again",
    ]  # fmt: skip
    assert not any(d.has_annotation("ENT_IOB") for d in tweets)
    assert len(read(tmp_path / "ood/tweets/conll.spacy")) == 20
    assert sorted(p.name for p in (tmp_path / "ood/tweets-only").iterdir()) == [
        "tweets.spacy"
    ]
    perturbed = read(tmp_path / "ood/perturbed/perturbed.spacy")
    assert [d.text for d in perturbed] == [
        d.text.lower() for d in read(tmp_path / "pool.spacy")
    ]
    assert not ran


def test_pools_leave_out_tweets_that_are_test_tweets(ran, tmp_path, corpora):
    write(tmp_path / "b.spacy", ["Seattle rain again", "obama in town"], "geo-loc")
    output = invoke("pools", *corpora, "--output", "ood")
    assert "Left out 1 of the 4 tweets: their text is also a test tweet's" in output
    assert "3 tweets (3 gold entities removed)" in output
    for pool in ("tweets", "tweets-only"):
        texts = [d.text for d in read(tmp_path / f"ood/{pool}/tweets.spacy")]
        assert "obama in town" not in texts and len(texts) == 3


def test_pools_written_again_replace_the_old_files(ran, tmp_path, corpora):
    (tmp_path / "ood/perturbed").mkdir(parents=True)
    (tmp_path / "ood/perturbed/stale.spacy").write_bytes(b"")
    invoke("pools", *corpora, "--output", "ood")
    assert not (tmp_path / "ood/perturbed/stale.spacy").exists()


def test_annotate_runs_the_splits_teacher_on_each_pool(ran):
    invoke("annotate", "--size", "750", "--seed", "1", "--pools", "tweets,perturbed")
    teacher = "training/teacher-750-1/model-best"
    assert [c[3:7] for c in ran] == [
        ["kd-ner", "annotate", teacher, "corpus/ood/tweets"],
        ["kd-ner", "annotate", teacher, "corpus/ood/perturbed"],
    ]
    assert ran[0][7] == "corpus/annotated-ood/tweets/750-1"
    assert option(ran[1], "--stats") == "results/ood/annotate/perturbed-750-1.json"


def test_unknown_pool_is_a_message(ran):
    output = invoke(
        "annotate", "--size", "750", "--seed", "1", "--pools", "blogs", code=1
    )
    assert "Unknown pool(s) ['blogs']" in output and not ran


def test_students_read_the_splits_labeled_annotations_and_their_pool(ran):
    invoke(
        "students", "--size", "750", "--seed", "1", "--pools", "tweets,tweets-only",
        "--vectors", "v", "--max-steps", "10", "--jobs", "1", "--results", "r",
    )  # fmt: skip
    trainings = [c for c in ran if c[3] == "train"]
    assert [option(c, "--output") for c in trainings] == [
        "training/student-kd-pl-tweets-750-1-s0",
        "training/student-kd-pl-tweets-only-750-1-s0",
    ]
    for command, pool in zip(trainings, ("tweets", "tweets-only")):
        assert option(command, "--paths.train") == "corpus/annotated/750-1/labeled"
        assert (
            option(command, "--paths.unlabeled") == f"corpus/annotated-ood/{pool}/750-1"
        )
        assert option(command, "--components.kd_ner.loss.pseudo_labels") == "true"
    scored = [c for c in ran if c[3:5] == ["kd-ner", "evaluate"]]
    assert [c[6] for c in scored] == ["corpus/test.spacy"] * 2
    assert option(scored[0], "--output") == "r/student-kd-pl-tweets-750-1-s0.json"


def test_priors_runs_word_priors_with_the_splits_teacher(ran):
    invoke("priors", "--size", "750", "--seed", "3", "--glove-words", "500")
    assert ran[0][3:7] == [
        "kd-ner", "word-priors", "training/teacher-750-3/model-best",
        "corpus/priors/750-3.npz",
    ]  # fmt: skip
    assert option(ran[0], "--glove-words") == "500"
    assert option(ran[0], "--stats") == "results/ood/priors/750-3.json"


def test_students_with_word_priors_read_them_with_the_v4_encoder(ran, tmp_path):
    priors = WordPriors(
        keys=numpy.array([1, 2], dtype="uint64"),
        priors=numpy.zeros((2, 3), dtype="float16"),
        labels=["LOC", "ORG", "PER"],
    )
    save_word_priors(priors, tmp_path / "p.npz")
    invoke(
        "students", "--size", "750", "--seed", "3", "--pools", "conll,tweets",
        "--word-priors", "p.npz", "--vectors", "v", "--max-steps", "10",
        "--jobs", "1", "--results", "r",
    )  # fmt: skip
    trainings = [c for c in ran if c[3] == "train"]
    assert [option(c, "--output") for c in trainings] == [
        "training/student-kd-pl-conll-priors-750-3-s0",
        "training/student-kd-pl-tweets-priors-750-3-s0",
    ]
    assert [option(c, "--paths.unlabeled") for c in trainings] == [
        "corpus/annotated/750-3/unlabeled",
        "corpus/annotated-ood/tweets/750-3",
    ]
    encoder = "--components.kd_ner.model.encoder"
    for command in trainings:
        assert option(command, f"{encoder}.@architectures").endswith(".v4")
        assert option(command, f"{encoder}.prior_dim") == "3"
        assert option(command, "--paths.word_priors") == "p.npz"


def test_students_conll_pool_needs_word_priors_and_priors_a_file(ran):
    args = ["students", "--size", "750", "--seed", "3", "--vectors", "v"]
    output = " ".join(invoke(*args, "--pools", "conll", code=1).split())
    assert "use it with --word-priors" in output and not ran
    output = invoke(*args, "--pools", "tweets", "--word-priors", "none.npz", code=1)
    assert "Word priors file not found: none.npz" in " ".join(output.split())
    assert not ran


def test_evaluate_scores_each_model_on_the_test_tweets(ran):
    invoke(
        "evaluate", "--size", "150", "--seed", "2", "--models",
        "teacher,spacy-ner,student-kd-pl-perturbed", "--label-map", "person=PER",
    )  # fmt: skip
    assert [c[5] for c in ran] == [
        "training/teacher-150-2/model-best",
        "training/spacy-ner-150-2/model-best",
        "training/student-kd-pl-perturbed-150-2-s0/model-best",
    ]
    assert all(c[6] == "corpus/wnut16/test.spacy" for c in ran)
    assert option(ran[0], "--gold-label-map") == "person=PER"
    assert option(ran[0], "--ignore-pred") == "MISC"
    assert (
        option(ran[2], "--output")
        == "results/ood/student-kd-pl-perturbed-150-2-s0.json"
    )


def annotated_tweets_pool(tmp_path):
    """An annotated tweets pool of split 750-1 whose teacher tags the first
    word of each doc as a one-word PER: two CoNLL docs, two tweets."""
    from spacy_kd_ner.scores import set_teacher_scores

    tags = ["O", "U-PER"]
    nlp = spacy.blank("en")
    texts = {
        "conll.spacy": ["Peter ran", "Mary sat"],
        "tweets.spacy": ["lol ok", "bob lol"],
    }
    for name, docs in texts.items():
        write(tmp_path / "corpus/ood/tweets" / name, docs)
    docs = [nlp.make_doc(t) for ts in texts.values() for t in ts]
    for doc in docs:
        probs = numpy.zeros((len(doc), 2), dtype="float32")
        probs[:, 0] = 1.0
        if doc.text != "lol ok":
            probs[0] = [0.0, 1.0]
        set_teacher_scores(doc, tags, probs)
    out = tmp_path / "corpus/annotated-ood/tweets/750-1"
    out.mkdir(parents=True)
    DocBin(docs=docs, store_user_data=True).to_disk(out / "shard.spacy")
    return out


def test_swap_writes_the_tweets_pool_and_swapped_copies_of_its_tweets(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    annotated_tweets_pool(tmp_path)
    monkeypatch.setattr(
        ood, "read_annotated", lambda path, vocab: read(path / "shard.spacy")
    )
    output = invoke(
        "swap", "--size", "750", "--seed", "1", "--copies", "4", "--lower", "0"
    )
    pool = tmp_path / "corpus/ood/swapped-750-1"
    assert sorted(p.name for p in pool.iterdir()) == [
        "conll.spacy",
        "swapped.spacy",
        "tweets.spacy",
    ]
    assert [d.text for d in read(pool / "tweets.spacy")] == ["lol ok", "bob lol"]
    swapped = [d.text for d in read(pool / "swapped.spacy")]
    assert len(swapped) == 4
    assert set(swapped) <= {"Peter lol", "Mary lol", "bob lol"}
    output = " ".join(output.split())
    assert "4 swapped copies of 1 of the 2 tweets" in output
    assert "1 without the teacher's entities" in output and "3 PER" in output


def test_swap_before_the_tweets_are_annotated_is_a_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = invoke("swap", "--size", "750", "--seed", "1", code=1)
    assert "annotate --pools tweets" in output


def test_annotate_reads_a_split_pool_from_its_split_directory(ran):
    invoke("annotate", "--size", "750", "--seed", "1", "--pools", "swapped")
    assert ran[0][6] == "corpus/ood/swapped-750-1"
    assert ran[0][7] == "corpus/annotated-ood/swapped/750-1"
