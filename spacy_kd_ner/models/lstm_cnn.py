"""The student encoder: the torch LSTM-CNN wrapped as a Thinc model over Docs.

Featurization (word ids and char ids) happens here, in numpy; the torch module
only sees padded id tensors. Word ids come from the pipeline's static vectors
(lowercase keys, as GloVe's) when it has them, else from hashing the lowercase
form: which of the two was used is fixed at initialization and saved with the
model. Case information reaches the model through the characters.
"""

from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Tuple, cast

import numpy
import torch
from spacy.attrs import LOWER
from spacy.tokens import Doc
from spacy.util import registry
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

from .pytorch_lstm_cnn import PAD_ID, UNKNOWN_WORD_ID, LSTMCNNEncoder

N_RESERVED_ROWS = 2  # padding, unknown word


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
    """Build the LSTM-CNN encoder: word embeddings (initialised from the
    pipeline's static vectors and fine-tuned) concatenated with a max-pooled
    char-CNN, fed to a BiLSTM. Output width is 2 * hidden_size.

    word_dim (int): Width of the word embeddings. Must match the static vectors
        if the pipeline has them.
    n_chars (int): Rows of the character table; characters are hashed into it
        by code point, so any script works.
    max_word_length (int): Characters beyond this are cut off.
    n_hash_rows (int): Word rows used when the pipeline has no static vectors.
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


def init(
    model: Model[List[Doc], List[Floats2d]],
    X: Optional[List[Doc]] = None,
    Y: Optional[List[Floats2d]] = None,
) -> None:
    """Choose the word-id scheme from the pipeline's vectors and size (and
    fill) the embedding table accordingly."""
    if not X:
        raise ValueError(
            "The LSTM-CNN encoder needs a sample of docs to initialize: it reads "
            "the pipeline's static vectors from them."
        )
    vectors = X[0].vocab.vectors
    module = _torch_module(model)
    word_dim = model.attrs["word_dim"]
    if vectors.shape[0] > 0 and vectors.shape[1] > 0 and vectors.mode == "default":
        if vectors.shape[1] != word_dim:
            raise ValueError(
                f"The pipeline's static vectors have width {vectors.shape[1]} but "
                f"the LSTM-CNN encoder's word_dim is {word_dim}: set "
                f"word_dim = {vectors.shape[1]} in the encoder's config."
            )
        # On a GPU, nlp.initialize has moved the vectors to CuPy.
        table = numpy.asarray(model.ops.to_numpy(vectors.data), dtype="float32")
        module.words.resize(N_RESERVED_ROWS + table.shape[0])
        with torch.no_grad():
            module.words.weight[N_RESERVED_ROWS:] = torch.from_numpy(table)
        model.attrs["word_ids"] = "vectors"
    else:
        module.words.resize(N_RESERVED_ROWS + model.attrs["n_hash_rows"])
        model.attrs["word_ids"] = "hash"


def forward(
    model: Model[List[Doc], List[Floats2d]], docs: List[Doc], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    features = featurize(model, docs)
    if not is_train:
        return _predict(model, docs, features), lambda dY: []
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
    lengths = numpy.array([len(doc) for doc in docs], dtype="int64")
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
    if scheme == "vectors":
        # A CuPy array when the vectors are on a GPU.
        rows = to_numpy(docs[0].vocab.vectors.find(keys=keys)).astype("int64")
        return numpy.where(rows >= 0, rows + N_RESERVED_ROWS, UNKNOWN_WORD_ID)
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
    "drop_words",
    "featurize",
    "PAD_ID",
]
