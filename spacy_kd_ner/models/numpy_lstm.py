"""Inference of a torch bidirectional ``nn.LSTM`` over one sequence, in numpy.

At batch size 1 a short sentence costs torch's LSTM kernel about 1 ms on
these CPUs, nearly all of it per-step operator dispatch (2 layers x 2
directions x ~14 tokens, several ops each). numpy's per-op overhead on arrays
this small is a few times lower, and both directions can share each step's
ops, so the same arithmetic takes about half the time. The results equal
torch's up to float32 rounding. Batches keep torch's packed LSTM, which
amortizes the dispatch over the batch.
"""

from typing import List, NamedTuple, Tuple
from weakref import WeakKeyDictionary

import numpy
import torch
from torch import nn


class _Layer(NamedTuple):
    W_ih: torch.Tensor  # (n_in, 8 * hidden): forward then backward gates
    bias: torch.Tensor  # (8 * hidden,): bias_ih + bias_hh of both directions
    W_hh: numpy.ndarray  # (2, hidden, 4 * hidden)


class _Cached(NamedTuple):
    key: Tuple[Tuple[int, int], ...]
    # The tensors whose storage the key's addresses point to: holding them
    # keeps those addresses from being reused by new weights.
    tensors: Tuple[torch.Tensor, ...]
    layers: List[_Layer]


_CACHE: "WeakKeyDictionary[nn.LSTM, _Cached]" = WeakKeyDictionary()


def bilstm_numpy(lstm: nn.LSTM, X: numpy.ndarray) -> numpy.ndarray:
    """Run a bidirectional LSTM in inference mode over one sequence.

    lstm (nn.LSTM): A bidirectional LSTM with biases, without projections.
    X (numpy.ndarray): The inputs, (length, input_size), float32.
    RETURNS (numpy.ndarray): (length, 2 * hidden_size), as torch's output for
        ``X[None]`` with batch_first (forward states, then backward states).
    """
    if not lstm.bidirectional or not lstm.bias or lstm.proj_size:
        raise ValueError(
            "bilstm_numpy runs bidirectional LSTMs with biases and without "
            "projections only."
        )
    if X.shape[0] == 0:
        return numpy.zeros((0, 2 * lstm.hidden_size), dtype="float32")
    X = numpy.ascontiguousarray(X, dtype="float32")
    with torch.inference_mode():
        for layer in _layers(lstm):
            X = _run_layer(layer, X)
    return X


def _run_layer(layer: _Layer, X: numpy.ndarray) -> numpy.ndarray:
    n = layer.W_hh.shape[1]
    length = X.shape[0]
    # The input projection, a real matrix product, stays in torch: numpy's
    # BLAS would start threads of its own that fight torch's for the cores
    # (measured: 7 ms instead of 20 us). The per-step products are too small
    # for BLAS to thread.
    projected = torch.addmm(layer.bias, torch.from_numpy(X), layer.W_ih).numpy()
    # Step t takes the forward direction's token t and the backward's token
    # length - 1 - t, so that one matmul and one set of gate ops serve both.
    inputs = numpy.empty((length, 2, 4 * n), dtype="float32")
    inputs[:, 0] = projected[:, : 4 * n]
    inputs[:, 1] = projected[::-1, 4 * n :]
    states = numpy.empty((length, 2, n), dtype="float32")
    h = numpy.zeros((2, 1, n), dtype="float32")
    c = numpy.zeros((2, n), dtype="float32")
    for t in range(length):
        # Gates in torch's order: input, forget, cell, output. The weights of
        # the three sigmoid gates come halved, sigmoid(x) = (tanh(x/2) + 1) / 2,
        # so that one tanh serves all four.
        gates = numpy.tanh(inputs[t] + numpy.matmul(h, layer.W_hh)[:, 0])
        i, f, g, o = gates.reshape(2, 4, n).swapaxes(0, 1)
        c = 0.5 * ((f + 1.0) * c + (i + 1.0) * g)
        states[t] = 0.5 * (o + 1.0) * numpy.tanh(c)
        h = states[t][:, None, :]
    return numpy.concatenate([states[:, 0], states[::-1, 1]], axis=1)


def _layers(lstm: nn.LSTM) -> List[_Layer]:
    """The LSTM's weights rearranged for _run_layer, rebuilt only when a
    parameter was replaced (a new address) or changed in place (a new
    version): training steps, use_params and loading do one or the other."""
    tensors = tuple(p.detach() for p in lstm.parameters())
    key = tuple((t.data_ptr(), t._version) for t in tensors)
    cached = _CACHE.get(lstm)
    if cached is None or cached.key != key:
        cached = _Cached(key, tensors, _rearrange(lstm))
        _CACHE[lstm] = cached
    return cached.layers


def _rearrange(lstm: nn.LSTM) -> List[_Layer]:
    n = lstm.hidden_size
    halve = torch.full((4 * n,), 0.5)
    halve[2 * n : 3 * n] = 1.0
    layers = []
    for i in range(lstm.num_layers):
        W_ih, bias, W_hh = [], [], []
        for suffix in (f"_l{i}", f"_l{i}_reverse"):
            weight = {
                name: getattr(lstm, name + suffix).detach().cpu()
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
            W_ih.append(weight["weight_ih"].T * halve)
            bias.append((weight["bias_ih"] + weight["bias_hh"]) * halve)
            W_hh.append(weight["weight_hh"].T * halve)
        layers.append(
            _Layer(
                W_ih=torch.cat(W_ih, dim=1).contiguous(),
                bias=torch.cat(bias),
                W_hh=torch.stack(W_hh).contiguous().numpy(),
            )
        )
    return layers


__all__ = ["bilstm_numpy"]
