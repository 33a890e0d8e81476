"""End to end: students distilled from a teacher's scores move toward it."""

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import fix_random_seed
from thinc.api import Adam

from spacy_kd_ner.corpus import DistillationCorpus, make_example
from spacy_kd_ner.pipeline import EntityTaggerPipe
from spacy_kd_ner.scores import TeacherScoresError, set_teacher_scores

LABELS = ["LOC", "PER"]
ENCODER = {
    "hidden_size": 16,
    "depth": 1,
    "dropout": 0.0,
    "char_dim": 8,
    "char_filters": 8,
    "n_hash_rows": 1000,
}
# words, BILUO tags: what the teacher "believes"
SENTENCES: List[Tuple[List[str], List[str]]] = [
    (
        ["Anna", "Smith", "visited", "Rome", "today"],
        ["B-PER", "L-PER", "O", "U-LOC", "O"],
    ),
    (
        ["Bob", "lives", "in", "New", "York", "City"],
        ["U-PER", "O", "O", "B-LOC", "I-LOC", "L-LOC"],
    ),
    (["Paris", "is", "far", "from", "Tom"], ["U-LOC", "O", "O", "O", "U-PER"]),
    (["nothing", "here"], ["O", "O"]),
]


@pytest.fixture(autouse=True)
def seed(request):
    fix_random_seed(getattr(request, "param", 0))


def make_student(crf: bool = True, **loss: float) -> Language:
    nlp = spacy.blank("en")
    config: Dict = {"model": {"crf": crf, "encoder": ENCODER}}
    if loss:
        config["loss"] = loss
    pipe = nlp.add_pipe("kd_ner", config=config)
    for label in LABELS:
        pipe.add_label(label)
    return nlp


def get_pipe(nlp: Language) -> EntityTaggerPipe:
    pipe = nlp.get_pipe("kd_ner")
    assert isinstance(pipe, EntityTaggerPipe)
    return pipe


def teacher_probs(
    tag_names: Sequence[str], tags: List[str], seed: int
) -> numpy.ndarray:
    """A soft, noisy distribution whose argmax is ``tags``."""
    rng = numpy.random.default_rng(seed)
    probs = rng.random((len(tags), len(tag_names))) * 0.3 / len(tag_names)
    for i, tag in enumerate(tags):
        probs[i, tag_names.index(tag)] += 0.6
    return probs / probs.sum(axis=1, keepdims=True)


def annotated_doc(nlp: Language, words: List[str], tags: List[str], seed: int) -> Doc:
    doc = Doc(nlp.vocab, words=words)
    tag_names = get_pipe(nlp).tag_names
    set_teacher_scores(doc, tag_names, teacher_probs(tag_names, tags, seed))
    return doc


def mean_kl(pipe: EntityTaggerPipe, docs: List[Doc], teachers: List[numpy.ndarray]):
    """Mean per-token KL(teacher || softmax of the student's emissions)."""
    total, n = 0.0, 0
    for scores, p in zip(pipe.predict(docs), teachers):
        log_q = torch.log_softmax(torch.from_numpy(numpy.asarray(scores)), -1).numpy()
        total += float((p * (numpy.log(p) - log_q)).sum())
        n += len(p)
    return total / n


def tag_strings(pipe: EntityTaggerPipe, docs: List[Doc]) -> List[List[str]]:
    return [[pipe.tag_names[i] for i in ids] for ids in pipe.decode(pipe.predict(docs))]


def test_kd_only_student_moves_toward_teacher():
    """gamma = 1, beta = 0: soft targets only, on docs without gold."""
    nlp = make_student(beta=0.0, gamma=1.0, temperature=1.0)
    pipe = get_pipe(nlp)
    refs = [annotated_doc(nlp, w, t, seed) for seed, (w, t) in enumerate(SENTENCES)]
    examples = [make_example(nlp.vocab, ref) for ref in refs]
    assert all(eg.get_aligned_ner() == [None] * len(eg.x) for eg in examples)
    nlp.initialize(lambda: examples)
    docs = [eg.predicted for eg in examples]
    teachers = [ref._.kd_teacher["probs"].astype("float64") for ref in refs]
    teachers = [p / p.sum(axis=1, keepdims=True) for p in teachers]
    kl_before = mean_kl(pipe, docs, teachers)
    optimizer = Adam(0.02)
    history = []
    for _ in range(60):
        losses = nlp.update(examples, sgd=optimizer)
        history.append(losses["kd_ner"])
    kl_after = mean_kl(pipe, docs, teachers)
    assert kl_after < 0.3 * kl_before
    assert history[-1] < 0.3 * history[0]
    assert tag_strings(pipe, docs) == [tags for _, tags in SENTENCES]


def write(path: Path, docs: List[Doc]) -> Path:
    DocBin(store_user_data=True, docs=docs).to_disk(path)
    return path


def test_kd_pl_student_through_the_reader(tmp_path):
    """kd + pl, as `spacy train` runs it: the reader mixes labeled docs (gold
    and teacher scores) and unlabeled ones (teacher scores only)."""
    nlp = make_student(beta=0.5, gamma=0.5, temperature=2.0, pseudo_labels=True)
    pipe = get_pipe(nlp)
    labeled = []
    for seed, (words, tags) in enumerate(SENTENCES[:2]):
        doc = annotated_doc(nlp, words, tags, seed)
        doc.ents = spacy.training.biluo_tags_to_spans(doc, tags)
        labeled.append(doc)
    unlabeled = [
        annotated_doc(nlp, w, t, seed)
        for seed, (w, t) in enumerate(SENTENCES[2:], start=2)
    ]
    # The teacher pipeline wrote its own entities: the reader must drop them.
    unlabeled[0].ents = spacy.training.biluo_tags_to_spans(
        unlabeled[0], SENTENCES[2][1]
    )
    reader = DistillationCorpus(
        write(tmp_path / "labeled.spacy", labeled),
        write(tmp_path / "unlabeled.spacy", unlabeled),
        seed=0,
    )
    nlp.initialize(lambda: reader(nlp))
    assert pipe.labels == tuple(LABELS)
    optimizer = Adam(0.02)
    history = []
    for _ in range(60):
        losses = nlp.update(list(reader(nlp)), sgd=optimizer)
        history.append(losses["kd_ner"])
    assert history[-1] < 0.3 * history[0]
    docs = [Doc(nlp.vocab, words=words) for words, _ in SENTENCES]
    assert tag_strings(pipe, docs) == [tags for _, tags in SENTENCES]
    # A CRF student learns transitions from gold and pseudo-labels.
    assert numpy.abs(pipe.model.get_ref("crf").get_param("transitions")).sum() > 0


def train_teacher() -> Language:
    """A softmax-head kd_ner teacher fitted to the sentences' gold tags."""
    nlp = make_student(crf=False)
    examples = []
    for words, tags in SENTENCES:
        ref = Doc(nlp.vocab, words=words)
        ref.ents = spacy.training.biluo_tags_to_spans(ref, tags)
        examples.append(make_example(nlp.vocab, ref))
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.02)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def teacher_nlp() -> Language:
    return train_teacher()


def plain_examples(nlp: Language) -> List[Example]:
    """Examples whose references carry nothing: distill only reads the
    predicted docs."""
    return [
        Example(Doc(nlp.vocab, words=w), Doc(nlp.vocab, words=w)) for w, _ in SENTENCES
    ]


def test_distill_from_teacher_pipe(teacher_nlp):
    teacher = get_pipe(teacher_nlp)
    teacher_docs = [Doc(teacher_nlp.vocab, words=w) for w, _ in SENTENCES]
    teacher_tags = tag_strings(teacher, teacher_docs)
    student_nlp = make_student(beta=0.0, gamma=1.0)
    student = get_pipe(student_nlp)
    examples = plain_examples(student_nlp)
    student_nlp.initialize(lambda: examples)
    optimizer = Adam(0.02)
    history = []
    losses: Dict[str, float] = {}
    for _ in range(60):
        step = student.distill(teacher, examples, sgd=optimizer)
        history.append(step["kd_ner"])
        student.distill(teacher, examples[:1], losses=losses)  # no sgd: no update
    assert history[-1] < 0.3 * history[0]
    assert losses["kd_ner"] > 0
    docs = [eg.predicted for eg in examples]
    assert tag_strings(student, docs) == teacher_tags
    # Empty docs are fine.
    empty = [Example(Doc(student_nlp.vocab), Doc(student_nlp.vocab))]
    assert student.distill(teacher, empty) == {"kd_ner": 0.0}


def test_get_teacher_student_loss_values(teacher_nlp):
    nlp = make_student(beta=0.5, gamma=0.5, temperature=2.0)
    pipe = get_pipe(nlp)
    examples = plain_examples(nlp)
    nlp.initialize(lambda: examples)
    docs = [eg.predicted for eg in examples]
    teacher = get_pipe(teacher_nlp)
    teacher_scores = teacher.distributions(teacher.predict(docs))
    student_scores = pipe.predict(docs)
    loss, grads = pipe.get_teacher_student_loss(teacher_scores, student_scores)
    K = len(pipe.tag_names)
    assert [d.shape for d in grads.d_emissions] == [(len(d), K) for d in docs]
    assert grads.d_potentials is not None
    assert [d.shape for d in grads.d_potentials] == [(K, K), (K,), (K,)]
    # Without pseudo-labels: gamma * T^2 * KL(p_T || q_T), summed over tokens,
    # averaged over docs; beta's task loss has no tags to learn from.
    T, expected = 2.0, 0.0
    for p, s in zip(teacher_scores, student_scores):
        p_T = torch.softmax(torch.log(torch.from_numpy(p).clamp(min=1e-8)) / T, -1)
        log_q_T = torch.log_softmax(torch.from_numpy(numpy.asarray(s)) / T, -1)
        expected += float((T * T * p_T * (p_T.log() - log_q_T)).sum())
    assert loss == pytest.approx(0.5 * expected / len(docs), rel=1e-4)
    # With pseudo-labels, the task loss on the teacher's best sequence adds up.
    pipe.loss.pseudo_labels = True
    loss_pl, _ = pipe.get_teacher_student_loss(teacher_scores, student_scores)
    assert loss_pl > loss


def test_distill_needs_teacher_terms(teacher_nlp):
    nlp = make_student()  # the default loss: beta=1, gamma=0, no pseudo-labels
    examples = plain_examples(nlp)
    nlp.initialize(lambda: examples)
    with pytest.raises(ValueError, match="gamma"):
        get_pipe(nlp).distill(get_pipe(teacher_nlp), examples)


def test_distill_teacher_with_other_labels(teacher_nlp):
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("kd_ner", config={"model": {"encoder": ENCODER}})
    pipe.add_label("ORG")
    examples = plain_examples(nlp)
    nlp.initialize(lambda: examples)
    with pytest.raises(ValueError, match="differ"):
        pipe.distill(get_pipe(teacher_nlp), examples)


def test_unlabeled_doc_without_teacher_scores_raises():
    nlp = make_student(beta=0.5, gamma=0.5)
    words = SENTENCES[0][0]
    example = Example(Doc(nlp.vocab, words=words), Doc(nlp.vocab, words=words))
    nlp.initialize(lambda: [example])
    with pytest.raises(ValueError, match="neither gold entities nor teacher"):
        nlp.update([example])


def test_teacher_scores_over_other_tags_raise():
    nlp = make_student(beta=0.5, gamma=0.5)
    words = SENTENCES[0][0]
    reference = Doc(nlp.vocab, words=words)
    other_tags = ["O", "B-ORG", "I-ORG", "L-ORG", "U-ORG"]
    set_teacher_scores(reference, other_tags, numpy.full((len(words), 5), 0.2))
    example = make_example(nlp.vocab, reference)
    nlp.initialize(lambda: [example])
    with pytest.raises(TeacherScoresError, match="student uses"):
        nlp.update([example])
