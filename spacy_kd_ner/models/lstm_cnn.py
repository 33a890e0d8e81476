"""The student encoder: the torch LSTM-CNN wrapped as a Thinc model over Docs.

Featurization (word ids and char ids) happens here, in numpy; the torch module
only sees padded id tensors. Word ids come from the encoder's own word table
when it was initialized from static vectors, else from hashing the lowercase
form: which of the two is fixed at initialization and saved with the model.
The word table is a copy of what the encoder reads of the vectors: their
rows that a key points to (the embedding's start, fine-tuned) and the sorted
keys (hashes of the lowercase forms, as GloVe's words are) with their rows.
Once initialized, the encoder never reads a vectors table: a trained student
needs neither the pipeline's vectors nor their strings. Case information
reaches the model through the characters.
"""

from contextlib import contextmanager
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple, cast

import numpy
import torch
from spacy.attrs import LOWER
from spacy.tokens import Doc
from spacy.util import registry
from spacy.vectors import Mode, Vectors
from thinc.api import (
    ArgsKwargs,
    Model,
    PyTorchWrapper_v2,
    to_numpy,
    torch2xp,
    xp2torch,
)
from thinc.shims import PyTorchShim
from thinc.types import Floats2d

from ..errors import KdNerError
from ..word_priors import WordPriors
from .pytorch_lstm_cnn import PAD_ID, UNKNOWN_WORD_ID, LSTMCNNEncoder

N_RESERVED_ROWS = 2  # padding, unknown word


class Features(NamedTuple):
    """What the torch module reads of a batch of docs, flat over its tokens.

    word_ids (numpy.ndarray): (n_tokens,) int64 rows of the word table.
    char_ids (numpy.ndarray): (n_tokens, n_chars) int64 character rows.
    lengths (numpy.ndarray): (batch,) int64 tokens per doc.
    priors (numpy.ndarray): (n_tokens, prior_dim) float32 word priors.
    """

    word_ids: numpy.ndarray
    char_ids: numpy.ndarray
    lengths: numpy.ndarray
    priors: numpy.ndarray


class OutdatedStudentError(KdNerError, ValueError):
    """A saved student whose encoder looks its words up in the pipeline's
    vectors table, as earlier versions did: it must be retrained."""


@registry.architectures("spacy-kd-ner.LSTMCNNEncoder.v1")
def build_lstm_cnn_encoder_v1(
    *,
    hidden_size: int = 100,
    depth: int = 2,
    dropout: float = 0.5,
    word_dim: int = 50,
    char_dim: int = 16,
    char_filters: int = 128,
    char_kernel: int = 3,
    n_chars: int = 512,
    max_word_length: int = 20,
    n_hash_rows: int = 20000,
) -> Model[List[Doc], List[Floats2d]]:
    """Build the LSTM-CNN encoder: word embeddings (initialised from static
    vectors, see `copy_word_vectors`, and fine-tuned) concatenated with a
    max-pooled char-CNN, fed to a BiLSTM. Output width is 2 * hidden_size.

    word_dim (int): Width of the word embeddings. Must match the static
        vectors, if the encoder is initialized from some.
    n_chars (int): Rows of the character table; characters are hashed into it
        by code point, so any script works.
    max_word_length (int): Characters beyond this are cut off.
    n_hash_rows (int): Word rows used without static vectors.
    """
    return _build_encoder(
        hidden_size=hidden_size,
        depth=depth,
        dropout=dropout,
        word_dim=word_dim,
        char_dim=char_dim,
        char_filters=char_filters,
        char_kernel=char_kernel,
        n_chars=n_chars,
        max_word_length=max_word_length,
        n_hash_rows=n_hash_rows,
        prior_dim=0,
    )


def _build_encoder(
    *,
    hidden_size: int,
    depth: int,
    dropout: float,
    word_dim: int,
    char_dim: int,
    char_filters: int,
    char_kernel: int,
    n_chars: int,
    max_word_length: int,
    n_hash_rows: int,
    prior_dim: int,
) -> Model[List[Doc], List[Floats2d]]:
    module = LSTMCNNEncoder(
        word_dim=word_dim,
        n_chars=n_chars,
        char_dim=char_dim,
        char_filters=char_filters,
        char_kernel=char_kernel,
        hidden_size=hidden_size,
        depth=depth,
        dropout=dropout,
        prior_dim=prior_dim,
    )
    wrapped = PyTorchWrapper_v2(
        module, convert_inputs=_convert_inputs, convert_outputs=_convert_outputs
    )
    return Model(
        "lstm_cnn",
        forward,
        init=init,
        layers=[wrapped],
        dims={"nO": 2 * hidden_size},
        attrs={
            "word_ids": None,
            "word_keys": None,
            "word_rows": None,
            "word_dim": word_dim,
            "n_chars": n_chars,
            "max_word_length": max_word_length,
            "n_hash_rows": n_hash_rows,
            "prior_keys": None,
            "prior_table": None,
            "prior_labels": None,
        },
    )


@registry.architectures("spacy-kd-ner.LSTMCNNEncoder.v2")
def build_lstm_cnn_encoder_v2(
    *,
    hidden_size: int = 100,
    depth: int = 2,
    dropout: float = 0.5,
    word_dropout: float = 0.0,
    word_dim: int = 50,
    char_dim: int = 16,
    char_filters: int = 128,
    char_kernel: int = 3,
    n_chars: int = 512,
    max_word_length: int = 20,
    n_hash_rows: int = 20000,
) -> Model[List[Doc], List[Floats2d]]:
    """The LSTM-CNN encoder of v1 with word dropout: in training, each token's
    word id is replaced by the unknown word's with probability word_dropout,
    so that the model learns to tag from characters and context what its
    word table does not know (Lample et al., 2016). Prediction never drops.

    word_dropout (float): The probability, in [0, 1). 0 is v1.
    """
    _check_word_dropout(word_dropout, "v2")
    model = build_lstm_cnn_encoder_v1(
        hidden_size=hidden_size,
        depth=depth,
        dropout=dropout,
        word_dim=word_dim,
        char_dim=char_dim,
        char_filters=char_filters,
        char_kernel=char_kernel,
        n_chars=n_chars,
        max_word_length=max_word_length,
        n_hash_rows=n_hash_rows,
    )
    model.attrs["word_dropout"] = word_dropout
    return model


@registry.architectures("spacy-kd-ner.LSTMCNNEncoder.v3")
def build_lstm_cnn_encoder_v3(
    *,
    hidden_size: int = 100,
    depth: int = 2,
    dropout: float = 0.5,
    word_dropout: float = 0.0,
    lowercase: bool = False,
    freeze_words: bool = False,
    word_dim: int = 50,
    char_dim: int = 16,
    char_filters: int = 128,
    char_kernel: int = 3,
    n_chars: int = 512,
    max_word_length: int = 20,
    n_hash_rows: int = 20000,
) -> Model[List[Doc], List[Floats2d]]:
    """The LSTM-CNN encoder of v2 that can be blind to case: with lowercase,
    the char CNN reads each token's lowercase form, so "Rome", "ROME" and
    "rome" get the same features (the word table is looked up by the
    lowercase form in every version). An uncased teacher (MPNet-base's
    tokenizer lowercases) sees text that way; a cased student learns from
    edited text that capitals mark names, which fails on text without them.

    With freeze_words, the word table keeps the static vectors it starts
    from: words that training never sees (text of another kind) stay where
    the words it sees are, in the vectors' space, instead of apart from the
    fine-tuned ones. It needs static vectors.

    lowercase (bool): Read the characters of the lowercase form. False is v2.
    freeze_words (bool): Do not fine-tune the word table. False is v2.
    """
    return build_lstm_cnn_encoder_v4(
        prior_dim=0,
        hidden_size=hidden_size,
        depth=depth,
        dropout=dropout,
        word_dropout=word_dropout,
        lowercase=lowercase,
        freeze_words=freeze_words,
        word_dim=word_dim,
        char_dim=char_dim,
        char_filters=char_filters,
        char_kernel=char_kernel,
        n_chars=n_chars,
        max_word_length=max_word_length,
        n_hash_rows=n_hash_rows,
    )


@registry.architectures("spacy-kd-ner.LSTMCNNEncoder.v4")
def build_lstm_cnn_encoder_v4(
    *,
    prior_dim: int = 0,
    hidden_size: int = 100,
    depth: int = 2,
    dropout: float = 0.5,
    word_dropout: float = 0.0,
    lowercase: bool = False,
    freeze_words: bool = False,
    word_dim: int = 50,
    char_dim: int = 16,
    char_filters: int = 128,
    char_kernel: int = 3,
    n_chars: int = 512,
    max_word_length: int = 20,
    n_hash_rows: int = 20000,
) -> Model[List[Doc], List[Floats2d]]:
    """The LSTM-CNN encoder of v3 that also reads a teacher's word priors
    (`word_priors.py`): per token, the teacher's probability of each entity
    type for its lowercase form on its own, zeros for words it was not asked
    about. They are inputs of the BiLSTM beside the word and char features,
    never trained, so a name that training never shows still brings what the
    teacher knows of it. The priors come at initialization
    (``[initialize.components.kd_ner] word_priors``) and are saved with the
    model.

    prior_dim (int): Columns of the priors (the teacher's entity types); 0
        is v3.
    """
    if prior_dim < 0:
        raise ValueError(f"LSTMCNNEncoder.v4 prior_dim must be >= 0, got {prior_dim}.")
    _check_word_dropout(word_dropout, "v4")
    model = _build_encoder(
        hidden_size=hidden_size,
        depth=depth,
        dropout=dropout,
        word_dim=word_dim,
        char_dim=char_dim,
        char_filters=char_filters,
        char_kernel=char_kernel,
        n_chars=n_chars,
        max_word_length=max_word_length,
        n_hash_rows=n_hash_rows,
        prior_dim=prior_dim,
    )
    model.attrs.update(word_dropout=word_dropout, lowercase=lowercase)
    _torch_module(model).freeze_words = freeze_words
    return model


def _check_word_dropout(word_dropout: float, version: str) -> None:
    if not 0 <= word_dropout < 1:
        raise ValueError(
            f"LSTMCNNEncoder.{version} word_dropout must be in [0, 1), got "
            f"{word_dropout}."
        )


def init(
    model: Model[List[Doc], List[Floats2d]],
    X: Optional[List[Doc]] = None,
    Y: Optional[List[Floats2d]] = None,
) -> None:
    """Size (and fill) the word table: a copy of the static vectors of the
    docs' vocab if it has some (`copy_word_vectors`), else `n_hash_rows`
    hashed rows. (The pipe's initialize may copy static vectors in after.)"""
    if not X:
        raise ValueError(
            "The LSTM-CNN encoder needs a sample of docs to initialize: it reads "
            "the pipeline's static vectors from them."
        )
    vectors = X[0].vocab.vectors
    if isinstance(vectors, Vectors) and has_word_vectors(vectors):
        copy_word_vectors(model, vectors)
    else:
        _torch_module(model).words.resize(N_RESERVED_ROWS + model.attrs["n_hash_rows"])
        model.attrs.update(word_ids="hash", word_keys=None, word_rows=None)


def has_word_vectors(vectors: Vectors) -> bool:
    """Whether a vectors table can start the word table: a default-mode
    (not floret) table with rows, a width and keys.

    vectors (Vectors): The table.
    RETURNS (bool): True if `copy_word_vectors` takes it.
    """
    return (
        vectors.mode == Mode.default
        and vectors.shape[0] > 0
        and vectors.shape[1] > 0
        and vectors.n_keys > 0
    )


def copy_word_vectors(
    model: Model[List[Doc], List[Floats2d]], vectors: Vectors
) -> None:
    """Make the encoder's word table a copy of a static vectors table: the
    embedding gets, after its reserved rows, the table's rows that some key
    points to (as float32; rows no key points to are left out), and the
    encoder keeps the keys, sorted, with their embedding rows. Tokens are
    looked up by the hash of their lowercase form, so only keys of lowercase
    words are ever found. The table is not referenced afterwards.

    model (Model[List[Doc], List[Floats2d]]): An LSTM-CNN encoder.
    vectors (Vectors): The table, of width word_dim (`has_word_vectors`).
    RAISES ValueError: Not an LSTM-CNN encoder, a table it cannot take, or
        one of another width.
    """
    if model.name != "lstm_cnn":
        raise ValueError(
            f"Static vectors can start the word table of the LSTM-CNN encoder "
            f"only, not of the model {model.name!r}."
        )
    if not has_word_vectors(vectors):
        raise ValueError(
            f"The LSTM-CNN encoder cannot start its word table from static "
            f"vectors of shape {vectors.shape}, {vectors.n_keys} keys and mode "
            f"{vectors.mode!r}: it needs a default-mode table with rows and keys."
        )
    word_dim = model.attrs["word_dim"]
    if vectors.shape[1] != word_dim:
        raise ValueError(
            f"The static vectors have width {vectors.shape[1]} but the LSTM-CNN "
            f"encoder's word_dim is {word_dim}: set word_dim = {vectors.shape[1]} "
            f"in the encoder's config."
        )
    key2row = vectors.key2row
    keys = numpy.fromiter(key2row.keys(), dtype="uint64", count=len(key2row))
    rows = numpy.fromiter(key2row.values(), dtype="int64", count=len(key2row))
    used_rows, table_rows = numpy.unique(rows, return_inverse=True)
    # On a GPU, nlp.initialize has moved the pipeline's vectors to CuPy.
    data = numpy.asarray(to_numpy(vectors.data)[used_rows], dtype="float32")
    module = _torch_module(model)
    module.words.resize(N_RESERVED_ROWS + len(used_rows))
    with torch.no_grad():
        module.words.weight[N_RESERVED_ROWS:] = torch.from_numpy(data)
    order = numpy.argsort(keys)
    model.attrs.update(
        word_ids="table",
        word_keys=keys[order],
        word_rows=(table_rows[order] + N_RESERVED_ROWS).astype("int32"),
    )


def set_word_priors(
    model: Model[List[Doc], List[Floats2d]], priors: WordPriors
) -> None:
    """Give the encoder a teacher's word priors (`word_priors.py`): they are
    copied into the model (and saved with it), and featurization looks each
    token's lowercase form up in them.

    model (Model[List[Doc], List[Floats2d]]): An LSTM-CNN encoder (v4).
    priors (WordPriors): The priors, with as many columns as its prior_dim.
    RAISES ValueError: Not an LSTM-CNN encoder, one without prior_dim, or
        priors of another width.
    """
    if model.name != "lstm_cnn":
        raise ValueError(
            f"Word priors are read by the LSTM-CNN encoder only, not by the "
            f"model {model.name!r}."
        )
    prior_dim = encoder_prior_dim(model)
    n_columns = len(priors.labels)
    if prior_dim != n_columns:
        fix = (
            f"set prior_dim = {n_columns}"
            if prior_dim
            else f"use spacy-kd-ner.LSTMCNNEncoder.v4 with prior_dim = {n_columns}"
        )
        raise ValueError(
            f"The word priors have {n_columns} columns ({', '.join(priors.labels)}) "
            f"but the LSTM-CNN encoder's prior_dim is {prior_dim}: {fix} in the "
            f"encoder's config."
        )
    model.attrs.update(
        prior_keys=priors.keys.astype("uint64"),
        prior_table=priors.priors.astype("float16"),
        prior_labels=list(priors.labels),
    )


def encoder_prior_dim(model: Model) -> int:
    """The columns of word priors an encoder reads: its torch module's
    prior_dim for an LSTM-CNN encoder, 0 for any other model.

    model (Model): An encoder.
    RETURNS (int): The width of the priors it needs; 0 reads none.
    """
    return _torch_module(model).prior_dim if model.name == "lstm_cnn" else 0


def forward(
    model: Model[List[Doc], List[Floats2d]], docs: List[Doc], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    features = featurize(model, docs)
    if not is_train:
        return _predict(model, docs, features), lambda dY: []
    if _torch_module(model).freeze_words and model.attrs["word_ids"] == "hash":
        raise ValueError(
            "LSTMCNNEncoder.v3 freeze_words needs static vectors to start the "
            "word table from, but it was initialized without: set the kd_ner "
            "component's vectors in [initialize.components], or freeze_words "
            "= false."
        )
    word_dropout = model.attrs.get("word_dropout", 0.0)
    if word_dropout > 0:
        features = drop_words(features, word_dropout)
    wrapped = model.layers[0]
    Y, backprop_wrapped = wrapped((docs, features), is_train)

    def backprop(dY: List[Floats2d]) -> List[Doc]:
        backprop_wrapped(dY)
        return []

    return Y, backprop


@contextmanager
def _onednn_disabled() -> Iterator[None]:
    # Not torch.backends.mkldnn.flags(): it also resets TF32 and warns about it.
    enabled = bool(torch.backends.mkldnn.enabled)
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = enabled  # type: ignore[assignment]


def _predict(model: Model, docs: List[Doc], features: Features) -> List[Floats2d]:
    """The encoder's outputs for inference, one array per doc.

    The PyTorchShim's per-call eval()/train() round trip is skipped: the
    module stays in eval mode until the next training step, whose
    begin_update sets train(). oneDNN (mkldnn) is off for the call: its LSTM
    caches a kernel per input shape, so a stream of docs of many lengths
    grows the process and slows it down (docs/experiments.md)."""
    module = _torch_module(model)
    if module.training:
        module.eval()
    wrapped = model.layers[0]
    inputs, _ = _convert_inputs(wrapped, (docs, features), False)
    with torch.inference_mode(), _onednn_disabled():
        Ytorch = module(*inputs.args)
    Y, _ = _convert_outputs(wrapped, ((docs, features), Ytorch), False)
    return Y


def featurize(model: Model, docs: List[Doc]) -> Features:
    """The `Features` of the tokens of a batch of docs, flat, where n_chars is
    the longest word of the batch up to max_word_length. Vectorised over the
    batch: this runs on every call, and at batch size 1 its cost is what
    users see."""
    scheme = model.attrs["word_ids"]
    if scheme is None:
        raise ValueError(
            "The LSTM-CNN encoder is not initialized: call nlp.initialize() "
            "(or spacy train) before using it."
        )
    if scheme == "vectors":
        raise OutdatedStudentError(
            "This kd_ner student was saved by an earlier version of spacy-kd-ner, "
            "whose encoder looked words up in the pipeline's vectors table; this "
            "version keeps a word table of its own and cannot use it. Retrain the "
            "student (spacy train) with this version."
        )
    prior_dim = _torch_module(model).prior_dim
    if prior_dim and model.attrs["prior_keys"] is None:
        raise ValueError(
            "The LSTM-CNN encoder reads word priors (prior_dim = "
            f"{prior_dim}) but has none: set [initialize.components.kd_ner] "
            "word_priors to a file of `kd-ner word-priors`."
        )
    lengths = numpy.array([len(doc) for doc in docs], dtype="int64")
    if model.attrs.get("lowercase", False):
        texts = [token.lower_ for doc in docs for token in doc]
    else:
        texts = [token.text for doc in docs for token in doc]
    keys = _lower_keys(docs)
    word_ids = _word_ids(model, keys, scheme)
    codes = _char_codes(texts, model.attrs["max_word_length"])
    n_chars = model.attrs["n_chars"]
    char_ids = numpy.where(codes > 0, codes % (n_chars - 1) + 1, PAD_ID)
    if prior_dim:
        priors = _priors(model.attrs["prior_keys"], model.attrs["prior_table"], keys)
    else:
        priors = numpy.zeros((len(keys), 0), dtype="float32")
    return Features(word_ids, char_ids, lengths, priors)


def drop_words(features: Features, rate: float) -> Features:
    """The features with each word replaced by the unknown word (its word id
    and its priors) with probability `rate` (numpy's global generator, which
    spaCy seeds)."""
    drop = numpy.random.random(features.word_ids.shape) < rate
    return features._replace(
        word_ids=numpy.where(drop, UNKNOWN_WORD_ID, features.word_ids),
        priors=numpy.where(drop[:, None], 0.0, features.priors).astype("float32"),
    )


def _char_codes(texts: List[str], max_chars: int) -> numpy.ndarray:
    """Unicode code points, (n_texts, width), zero-padded and cut at
    max_chars: numpy's fixed-width UCS-4 strings are exactly that."""
    if not texts:
        return numpy.zeros((0, 1), dtype="int64")
    width = min(max(len(text) for text in texts), max_chars)
    array = numpy.array(texts, dtype=f"<U{max(width, 1)}")
    return array.view(numpy.uint32).reshape(len(texts), -1).astype("int64")


def _lower_keys(docs: List[Doc]) -> numpy.ndarray:
    """The hashes of the tokens' lowercase forms, (n_tokens,) uint64."""
    arrays = [doc.to_array([LOWER]).reshape(-1) for doc in docs if len(doc)]
    if not arrays:
        return numpy.zeros((0,), dtype="uint64")
    return numpy.concatenate(arrays).astype("uint64")


def _lookup(
    table_keys: numpy.ndarray, keys: numpy.ndarray
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Where each key is in a sorted key array, and whether it is there at
    all (where it is not, the position is meaningless)."""
    if not len(table_keys):
        return numpy.zeros(len(keys), dtype="int64"), numpy.zeros(len(keys), dtype=bool)
    at = numpy.searchsorted(table_keys, keys)
    at[at == len(table_keys)] = 0
    return at, table_keys[at] == keys


def _word_ids(model: Model, keys: numpy.ndarray, scheme: str) -> numpy.ndarray:
    if scheme == "table":
        at, found = _lookup(model.attrs["word_keys"], keys)
        rows = model.attrs["word_rows"][at]
        return numpy.where(found, rows, UNKNOWN_WORD_ID).astype("int64")
    return (keys % model.attrs["n_hash_rows"]).astype("int64") + N_RESERVED_ROWS


def _priors(
    prior_keys: numpy.ndarray, prior_table: numpy.ndarray, keys: numpy.ndarray
) -> numpy.ndarray:
    """The priors' rows of the keys, zeros for keys without one, float32."""
    at, found = _lookup(prior_keys, keys)
    priors = numpy.zeros((len(keys), prior_table.shape[1]), dtype="float32")
    priors[found] = prior_table[at[found]]
    return priors


def _torch_module(model: Model) -> LSTMCNNEncoder:
    return cast(LSTMCNNEncoder, model.layers[0].shims[0]._model)


def _convert_inputs(
    model: Model, X: Tuple[List[Doc], Features], is_train: bool
) -> Tuple[ArgsKwargs, Callable]:
    _docs, features = X
    device = cast(PyTorchShim, model.shims[0]).device
    args = (
        torch.from_numpy(features.word_ids).to(device),
        torch.from_numpy(features.char_ids).to(device),
        torch.from_numpy(features.lengths),
        torch.from_numpy(features.priors).to(device),
    )
    return ArgsKwargs(args=args, kwargs={}), lambda dX: []


def _convert_outputs(
    model: Model, X_Ytorch: Tuple[Tuple[List[Doc], Tuple], torch.Tensor], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    """Split the flat (n_tokens, width) output into one array per doc, on the
    model's device (CuPy arrays on a GPU)."""
    (docs, _features), Ytorch = X_Ytorch
    Y_flat = cast(Floats2d, torch2xp(Ytorch, ops=model.ops))
    lengths = model.ops.asarray1i([len(doc) for doc in docs])
    Y = cast(List[Floats2d], model.ops.unflatten(Y_flat, lengths))

    def backprop(dY: List[Floats2d]) -> ArgsKwargs:
        d_flat = model.ops.xp.concatenate(dY) if dY else model.ops.alloc2f(0, 0)
        grad = xp2torch(model.ops.asarray2f(d_flat), device=Ytorch.device)
        return ArgsKwargs(args=(Ytorch,), kwargs={"grad_tensors": grad})

    return Y, backprop


__all__ = [
    "build_lstm_cnn_encoder_v1",
    "build_lstm_cnn_encoder_v2",
    "build_lstm_cnn_encoder_v3",
    "build_lstm_cnn_encoder_v4",
    "copy_word_vectors",
    "drop_words",
    "Features",
    "has_word_vectors",
    "OutdatedStudentError",
    "featurize",
    "PAD_ID",
    "set_word_priors",
]
