"""The kd_ner pipe on a GPU gives what it gives on the CPU: scores, loss,
gradients, an update step, decoding, a teacher's annotations; and a student
trained there learns. Skipped without a CUDA GPU, CuPy and torch's CUDA
build, as spaCy's own GPU tests are: run `pytest tests/test_gpu.py` on a
machine that has one."""

from pathlib import Path
from typing import Iterator, List

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, biluo_tags_to_spans
from spacy.util import fix_random_seed
from test_distillation import SENTENCES, annotated_doc, get_pipe, make_student
from thinc.api import Adam, NumpyOps, require_cpu, require_gpu
from thinc.util import has_cupy_gpu, has_torch_cuda_gpu

from spacy_kd_ner.annotate import annotate_docs
from spacy_kd_ner.corpus import make_example
from spacy_kd_ner.scores import get_teacher_scores

pytestmark = pytest.mark.skipif(
    not (has_cupy_gpu and has_torch_cuda_gpu),
    reason="needs a CUDA GPU, CuPy and torch built with CUDA",
)


@pytest.fixture
def on_gpu() -> Iterator[None]:
    """thinc (and torch) on GPU 0 for the test, in full float32: TF32
    convolutions would differ from the CPU by ~1e-3."""
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    require_gpu(0)
    try:
        yield
    finally:
        require_cpu()
        torch.backends.cudnn.allow_tf32 = cudnn_tf32


def kd_pl_examples(nlp: Language) -> List[Example]:
    """Two labeled docs (gold and teacher scores), two unlabeled (teacher
    scores only): every term of the kd-pl loss has docs to act on."""
    refs = []
    for seed, (words, tags) in enumerate(SENTENCES):
        doc = annotated_doc(nlp, words, tags, seed)
        if seed < 2:
            doc.ents = biluo_tags_to_spans(doc, tags)
        refs.append(doc)
    return [make_example(nlp.vocab, ref) for ref in refs]


def saved_student(path: Path) -> Path:
    """A kd-pl CRF student trained a few steps on the CPU, saved to disk."""
    require_cpu()
    fix_random_seed(0)
    nlp = make_student(beta=0.5, gamma=0.5, temperature=2.0, pseudo_labels=True)
    examples = kd_pl_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.02)
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(path)
    return path


def host(arrays) -> List[numpy.ndarray]:
    return [a.get() if hasattr(a, "get") else numpy.asarray(a) for a in arrays]


def step_and_score(nlp: Language):
    """Everything the pipe computes on one batch, in numpy: scores of the batch
    and of a single doc (another code path), loss, gradients, decoded tags,
    distributions; then one Adam step and the parameters it leaves."""
    pipe = get_pipe(nlp)
    examples = kd_pl_examples(nlp)
    docs = [eg.predicted for eg in examples]
    scores = pipe.predict(docs)
    loss, grads = pipe.get_loss(examples, scores)
    result = {
        "scores": host(scores),
        "single": host(pipe.predict(docs[:1])),
        "loss": loss,
        "d_emissions": host(grads.d_emissions),
        "d_potentials": host(grads.d_potentials),
        "tags": [list(t) for t in pipe.decode(scores)],
        "distributions": host(pipe.distributions(scores)),
    }
    nlp.update(examples, sgd=Adam(0.01))
    crf = pipe.model.get_ref("crf")
    result["transitions"] = host([crf.get_param("transitions")])
    result["ops"] = type(pipe.model.ops).__name__
    return result


def assert_close(cpu: List[numpy.ndarray], gpu: List[numpy.ndarray]) -> None:
    assert len(cpu) == len(gpu)
    for a, b in zip(cpu, gpu):
        assert a.shape == b.shape
        numpy.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_student_on_gpu_matches_cpu(tmp_path, on_gpu):
    path = saved_student(tmp_path / "student")
    cpu = step_and_score(spacy.load(path))
    require_gpu(0)
    gpu = step_and_score(spacy.load(path))
    assert cpu["ops"] == NumpyOps.__name__
    assert gpu["ops"] == "CupyOps"
    for key in ("scores", "single", "d_emissions", "d_potentials", "distributions"):
        assert_close(cpu[key], gpu[key])
    assert gpu["loss"] == pytest.approx(cpu["loss"], rel=1e-4)
    assert gpu["tags"] == cpu["tags"]
    # The step moved the transitions, and by what it moved them on the CPU.
    assert not numpy.allclose(cpu["transitions"][0], 0)
    assert_close(cpu["transitions"], gpu["transitions"])


def test_student_trained_on_gpu_learns_the_teacher(on_gpu):
    fix_random_seed(0)
    nlp = make_student(beta=0.5, gamma=0.5, temperature=2.0, pseudo_labels=True)
    pipe = get_pipe(nlp)
    examples = kd_pl_examples(nlp)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.02)
    history = [nlp.update(examples, sgd=optimizer)["kd_ner"] for _ in range(60)]
    assert history[-1] < 0.3 * history[0]
    docs = [Doc(nlp.vocab, words=words) for words, _ in SENTENCES]
    predicted = [
        [pipe.tag_names[i] for i in ids] for ids in pipe.decode(pipe.predict(docs))
    ]
    assert predicted == [tags for _, tags in SENTENCES]


def test_teacher_annotates_on_gpu_as_on_cpu(tiny_teacher_dir, on_gpu):
    words = [
        ["Peter", "lives", "in", "London", "."],
        ["Reuters", "said", "the", "president", "of", "Germany", "was", "here", "."],
    ]

    def annotate() -> List[numpy.ndarray]:
        nlp = spacy.load(tiny_teacher_dir)
        docs = [Doc(nlp.vocab, words=w) for w in words]
        tags = get_pipe(nlp).tag_names
        return [get_teacher_scores(doc, tags)[0] for doc in annotate_docs(nlp, docs)]

    gpu = annotate()
    require_cpu()
    cpu = annotate()
    assert_close(cpu, gpu)
    for probs in gpu:
        numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
