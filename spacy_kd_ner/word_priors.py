"""Word priors: what a teacher says of each word on its own.

A teacher fine-tuned from a pretrained transformer knows names that the
labeled data never shows ("kardashian" is a person, "tottenham" a team). A
student learns its words from the text it is distilled on, so out of domain
it meets names it has never seen and tags them from their characters and
context alone. `compute_word_priors` asks the teacher once about each word of
a vocabulary (by default the most frequent GloVe words; `teacher_priors.py`),
each word a doc of its own, and keeps per word the probability that the
teacher tags it as part of an entity of each type. The LSTM-CNN
encoder (``LSTMCNNEncoder.v4``, ``prior_dim``) reads them beside its word
embeddings, looked up by the hash of the lowercase form and never trained:
a word the student never saw still brings its teacher's prior.

A `WordPriors` file is a numpy ``.npz``: ``keys`` (uint64, sorted: the hashes
of the lowercase words), ``priors`` (float16, one row per key, one column per
label) and ``labels``. Words whose every prior is below ``min_prior`` are
left out: they look up as unknown words do (zeros), which keeps the table,
and the student that carries it, small.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Union

import numpy
from spacy.strings import get_string_id

from .errors import InputError

FILE_FIELDS = ("keys", "priors", "labels")


@dataclass
class WordPriors:
    """Per word, a teacher's probability of each entity type.

    keys (numpy.ndarray): (n,) uint64, sorted, unique: hashes of the
        lowercase words.
    priors (numpy.ndarray): (n, len(labels)) float16 in [0, 1].
    labels (List[str]): The entity types, in column order.
    n_words (int): The words asked about (kept or not).
    """

    keys: numpy.ndarray
    priors: numpy.ndarray
    labels: List[str]
    n_words: int = 0

    def __post_init__(self) -> None:
        if self.keys.ndim != 1 or self.priors.shape != (
            len(self.keys),
            len(self.labels),
        ):
            raise ValueError(
                f"Word priors need keys of shape (n,) and priors of shape (n, "
                f"{len(self.labels)}), not {self.keys.shape} and {self.priors.shape}."
            )
        if len(self.keys) > 1 and not bool(numpy.all(self.keys[1:] > self.keys[:-1])):
            raise ValueError("Word prior keys must be sorted and unique.")


def word_key(word: str) -> int:
    """The lookup key of a word: the hash of its lowercase form, as a doc's
    ``LOWER`` attribute holds it."""
    return get_string_id(word.lower())


def save_word_priors(priors: WordPriors, path: Union[str, Path]) -> None:
    """Write word priors to an ``.npz`` file (`load_word_priors` reads it)."""
    with Path(path).open("wb") as file_:
        numpy.savez_compressed(
            file_,
            keys=priors.keys,
            priors=priors.priors,
            labels=numpy.array(priors.labels, dtype=str),
            n_words=numpy.array(priors.n_words),
        )


def load_word_priors(path: Union[str, Path]) -> WordPriors:
    """Read a file that `save_word_priors` wrote.

    path (Union[str, Path]): The ``.npz`` file.
    RETURNS (WordPriors): Its priors.
    RAISES InputError: No such file, or one that is not a word priors file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"Word priors file not found: {path}. Write one with "
            f"`python -m spacy kd-ner word-priors TEACHER {path}`."
        )
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is not a word priors file: {err}") from err
    missing = [name for name in FILE_FIELDS if name not in arrays]
    if missing:
        raise InputError(
            f"{path} is not a word priors file: it has no {', '.join(missing)} "
            f"(it has {', '.join(arrays) or 'nothing'})."
        )
    try:
        return WordPriors(
            keys=numpy.asarray(arrays["keys"], dtype="uint64"),
            priors=numpy.asarray(arrays["priors"], dtype="float16"),
            labels=[str(label) for label in arrays["labels"]],
            n_words=int(arrays.get("n_words", 0)),
        )
    except ValueError as err:
        raise InputError(f"{path} is not a word priors file: {err}") from err


__all__ = [
    "WordPriors",
    "load_word_priors",
    "save_word_priors",
    "word_key",
]
