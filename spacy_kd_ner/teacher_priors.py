"""Word priors from a teacher: ask it about each word of a vocabulary on its
own (`word_priors.py` says what they are for and how they are stored)."""

from typing import Callable, Iterable, Optional

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from .biluo import tag_label, tag_labels
from .errors import InputError
from .teachers import make_teacher
from .word_priors import WordPriors, word_key


def compute_word_priors(
    nlp: Language,
    words: Iterable[str],
    *,
    batch_size: int = 256,
    min_prior: float = 0.05,
    component: Optional[str] = None,
    on_batch: Optional[Callable[[int], None]] = None,
) -> WordPriors:
    """Ask a teacher about each word on its own.

    Each distinct lowercase word becomes a one-token doc, run through the
    teacher (`teachers.make_teacher`: a pipeline with a kd_ner component, or
    one that sets entities); its prior for a type is the sum of the
    probabilities of that type's tags.

    nlp (Language): The teacher pipeline.
    words (Iterable[str]): The vocabulary. Empty and whitespace-only strings
        are skipped; case is folded, repeats are asked once.
    batch_size (int): The teacher's batch size.
    min_prior (float): Words whose every prior is below it are not kept.
    component (Optional[str]): The kd_ner component, if there are several.
    on_batch (Optional[Callable[[int], None]]): Called with the words of each
        batch done.
    RETURNS (WordPriors): The kept words' priors.
    RAISES InputError: No words, or min_prior outside [0, 1].
    """
    if not 0.0 <= min_prior <= 1.0:
        raise InputError(f"min_prior must be in [0, 1], not {min_prior}.")
    vocab = list(dict.fromkeys(w.lower() for w in words if w.strip()))
    if not vocab:
        raise InputError("No words to compute priors for.")
    teacher = make_teacher(nlp, "teacher", component=component)
    labels = tag_labels(teacher.tag_names)
    # (n_tags, n_labels): which label's column each tag adds to.
    to_labels = numpy.zeros((len(teacher.tag_names), len(labels)), dtype="float32")
    for row, tag in enumerate(teacher.tag_names):
        label = tag_label(tag)
        if label:
            to_labels[row, labels.index(label)] = 1.0
    docs = [Doc(nlp.vocab, words=[word]) for word in vocab]
    rows = teacher.distributions(docs, batch_size, on_batch)
    priors = numpy.stack([r[0] for r in rows]) @ to_labels
    keep = priors.max(axis=1) >= min_prior
    keys = numpy.array([word_key(w) for w in vocab], dtype="uint64")[keep]
    kept = numpy.clip(priors[keep], 0.0, 1.0)
    keys, first = numpy.unique(keys, return_index=True)
    return WordPriors(
        keys=keys,
        priors=kept[first].astype("float16"),
        labels=labels,
        n_words=len(vocab),
    )


__all__ = ["compute_word_priors"]
