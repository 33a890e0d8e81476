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
from typing import Callable, Iterator, List, Optional, Tuple, cast

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
from .pytorch_lstm_cnn import PAD_ID, UNKNOWN_WORD_ID, LSTMCNNEncoder

N_RESERVED_ROWS = 2  # padding, unknown word


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
    module = LSTMCNNEncoder(
        word_dim=word_dim,
        n_chars=n_chars,
        char_dim=char_dim,
        char_filters=char_filters,
        char_kernel=char_kernel,
        hidden_size=hidden_size,
        depth=depth,
        dropout=dropout,
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
    if not 0 <= word_dropout < 1:
        raise ValueError(
            f"LSTMCNNEncoder.v2 word_dropout must be in [0, 1), got {word_dropout}."
        )
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
    model = build_lstm_cnn_encoder_v2(
        hidden_size=hidden_size,
        depth=depth,
        dropout=dropout,
        word_dropout=word_dropout,
        word_dim=word_dim,
        char_dim=char_dim,
        char_filters=char_filters,
        char_kernel=char_kernel,
        n_chars=n_chars,
        max_word_length=max_word_length,
        n_hash_rows=n_hash_rows,
    )
    model.attrs["lowercase"] = lowercase
    _torch_module(model).freeze_words = freeze_words
    return model


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


def _predict(model: Model, docs: List[Doc], features: Tuple) -> List[Floats2d]:
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


def featurize(
    model: Model, docs: List[Doc]
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Word ids (n_tokens,), char ids (n_tokens, n_chars) and lengths (batch,)
    for the tokens of a batch of docs, flat, where n_chars is the longest
    word of the batch up to max_word_length. Vectorised over the batch: this
    runs on every call, and at batch size 1 its cost is what users see."""
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
    lengths = numpy.array([len(doc) for doc in docs], dtype="int64")
    if model.attrs.get("lowercase", False):
        texts = [token.lower_ for doc in docs for token in doc]
    else:
        texts = [token.text for doc in docs for token in doc]
    word_ids = _word_ids(model, docs, scheme)
    codes = _char_codes(texts, model.attrs["max_word_length"])
    n_chars = model.attrs["n_chars"]
    char_ids = numpy.where(codes > 0, codes % (n_chars - 1) + 1, PAD_ID)
    return word_ids, char_ids, lengths


def drop_words(
    features: Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray], rate: float
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The features with each word id replaced by the unknown word's with
    probability `rate` (numpy's global generator, which spaCy seeds)."""
    word_ids, char_ids, lengths = features
    drop = numpy.random.random(word_ids.shape) < rate
    return numpy.where(drop, UNKNOWN_WORD_ID, word_ids), char_ids, lengths


def _char_codes(texts: List[str], max_chars: int) -> numpy.ndarray:
    """Unicode code points, (n_texts, width), zero-padded and cut at
    max_chars: numpy's fixed-width UCS-4 strings are exactly that."""
    if not texts:
        return numpy.zeros((0, 1), dtype="int64")
    width = min(max(len(text) for text in texts), max_chars)
    array = numpy.array(texts, dtype=f"<U{max(width, 1)}")
    return array.view(numpy.uint32).reshape(len(texts), -1).astype("int64")


def _word_ids(model: Model, docs: List[Doc], scheme: str) -> numpy.ndarray:
    arrays = [doc.to_array([LOWER]).reshape(-1) for doc in docs if len(doc)]
    if not arrays:
        return numpy.zeros((0,), dtype="int64")
    keys = numpy.concatenate(arrays).astype("uint64")
    if scheme == "table":
        table_keys = model.attrs["word_keys"]
        at = numpy.searchsorted(table_keys, keys)
        at[at == len(table_keys)] = 0
        found = table_keys[at] == keys
        rows = model.attrs["word_rows"][at]
        return numpy.where(found, rows, UNKNOWN_WORD_ID).astype("int64")
    return (keys % model.attrs["n_hash_rows"]).astype("int64") + N_RESERVED_ROWS


def _torch_module(model: Model) -> LSTMCNNEncoder:
    return cast(LSTMCNNEncoder, model.layers[0].shims[0]._model)


def _convert_inputs(
    model: Model, X: Tuple[List[Doc], Tuple], is_train: bool
) -> Tuple[ArgsKwargs, Callable]:
    _docs, (word_ids, char_ids, lengths) = X
    device = cast(PyTorchShim, model.shims[0]).device
    args = (
        torch.from_numpy(word_ids).to(device),
        torch.from_numpy(char_ids).to(device),
        torch.from_numpy(lengths),
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
    "copy_word_vectors",
    "drop_words",
    "has_word_vectors",
    "OutdatedStudentError",
    "featurize",
    "PAD_ID",
]
