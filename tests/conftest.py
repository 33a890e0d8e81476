"""Shared fixtures, and spaCy's `--slow` option: tests marked `slow` run only
with `pytest --slow`."""

import string
from pathlib import Path

import pytest

# Registers teacher.cfg's before_init check where an installed copy of the
# package predates its entry point.
import spacy_kd_ner.teacher_weights  # noqa: F401


def pytest_addoption(parser):
    try:
        parser.addoption("--slow", action="store_true", help="include slow tests")
    except ValueError:  # pragma: no cover (added twice)
        pass


def pytest_configure(config):
    # The models under test are tiny: torch's thread pool only costs time
    # here, and on a busy 2-core machine a lot of it.
    import torch

    torch.set_num_threads(1)


def pytest_runtest_setup(item):
    if "slow" in item.keywords and not item.config.getoption("--slow"):
        pytest.skip("need --slow option to run")


TINY_BERT_WORDS = (
    "the a of in to and is was said on for at by with from peter john london "
    "paris germany european union reuters new york city president minister"
).split()


def build_tiny_bert(path: Path) -> Path:
    """Save a tiny BERT (2 layers, width 32, random weights) and its fast
    tokenizer to `path`, as `save_pretrained` does. No download."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab = list(dict.fromkeys(specials + TINY_BERT_WORDS + chars + pieces))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(path / "vocab.txt"), do_lower_case=True
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A directory with a tiny random BERT and its tokenizer."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


TEACHER_TRAIN_DATA = [
    ("Peter lives in London .", [(0, 5, "PER"), (15, 21, "LOC")]),
    ("The European Union said so .", [(4, 18, "ORG")]),
    (
        "John went to Paris with Peter .",
        [(0, 4, "PER"), (13, 18, "LOC"), (24, 29, "PER")],
    ),
    (
        "Reuters said the president of Germany was in New York .",
        [(0, 7, "ORG"), (30, 37, "LOC"), (45, 53, "LOC")],
    ),
    ("The minister was in the city .", []),
    ("Müller went to Zürich .", [(0, 6, "PER"), (15, 21, "LOC")]),
]


@pytest.fixture(scope="session")
def teacher_corpus(tmp_path_factory):
    """(train, dev) .spacy files of a few inline sentences with entities."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = []
    for text, entities in TEACHER_TRAIN_DATA:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in entities]
        docs.append(doc)
    path = tmp_path_factory.mktemp("teacher-corpus")
    DocBin(docs=docs).to_disk(path / "train.spacy")
    DocBin(docs=docs[:3]).to_disk(path / "dev.spacy")
    return path / "train.spacy", path / "dev.spacy"


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory, tiny_bert_dir, teacher_corpus) -> Path:
    """A teacher pipeline (configs/teacher.cfg on the tiny BERT) trained for a
    few steps with `spacy train`, saved to disk (model-last)."""
    output = tmp_path_factory.mktemp("tiny-teacher")
    train_tiny_teacher(
        output,
        tiny_bert_dir,
        teacher_corpus,
        **{"training.optimizer.learn_rate.initial_rate": 0.001},
    )
    return output / "model-last"


def train_tiny_teacher(
    output: Path, bert_dir: Path, corpus, max_steps: int = 12, **overrides
) -> None:
    """`spacy train configs/teacher.cfg` on the tiny BERT and the inline
    corpus, evaluated twice, into `output`; `overrides` are config paths."""
    from spacy.cli.train import train

    train_path, dev_path = corpus
    train(
        Path(__file__).parent.parent / "configs" / "teacher.cfg",
        output,
        overrides={
            "paths.teacher": str(bert_dir),
            "paths.train": str(train_path),
            "paths.dev": str(dev_path),
            "training.max_steps": max_steps,
            "training.eval_frequency": max_steps // 2,
            "training.optimizer.learn_rate.warmup_steps": 2,
            "system.gpu_allocator": None,
            **overrides,
        },
    )


def record_runs(monkeypatch, tmp_path, *modules) -> list:
    """Replace `run` in the scripts' `modules` with a recorder (each command
    "takes" 6 s) and work in tmp_path: a script's decisions, without running
    its commands.

    RETURNS (list): The argv of each command, in order, as it is run.
    """
    commands: list = []

    def run(argv):
        commands.append(argv)
        return 6.0

    monkeypatch.chdir(tmp_path)
    for module in modules:
        monkeypatch.setattr(module, "run", run)
    return commands
