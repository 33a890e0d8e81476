import numpy
import pytest
import torch
from torch import nn

from spacy_kd_ner.models.numpy_lstm import bilstm_numpy


def torch_output(lstm: nn.LSTM, X: numpy.ndarray) -> numpy.ndarray:
    with torch.inference_mode():
        H, _ = lstm(torch.from_numpy(X)[None])
    return H[0].numpy()


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("length", [1, 2, 7, 40])
def test_equals_torch(depth, length):
    torch.manual_seed(depth)
    lstm = nn.LSTM(6, 5, num_layers=depth, bidirectional=True, batch_first=True)
    lstm.eval()
    X = numpy.random.default_rng(length).normal(size=(length, 6)).astype("float32")
    got = bilstm_numpy(lstm, X)
    assert got.shape == (length, 10)
    assert got.dtype == numpy.float32
    numpy.testing.assert_allclose(got, torch_output(lstm, X), atol=1e-6)


def test_large_inputs_saturate_like_torch():
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True)
    X = 50 * numpy.random.default_rng(0).normal(size=(9, 4)).astype("float32")
    numpy.testing.assert_allclose(
        bilstm_numpy(lstm, X), torch_output(lstm, X), atol=1e-6
    )


def test_empty_sequence():
    lstm = nn.LSTM(4, 3, bidirectional=True)
    assert bilstm_numpy(lstm, numpy.zeros((0, 4), dtype="float32")).shape == (0, 6)


def test_follows_weights_changed_in_place_and_replaced():
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True)
    X = numpy.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    before = bilstm_numpy(lstm, X)
    with torch.no_grad():
        lstm.weight_hh_l1_reverse.mul_(2.0)  # what load_state_dict does
    changed = bilstm_numpy(lstm, X)
    assert not numpy.allclose(changed, before)
    numpy.testing.assert_allclose(changed, torch_output(lstm, X), atol=1e-6)
    # What thinc's PyTorchShim.finish_update does: a new tensor per step.
    for _ in range(3):
        lstm.bias_ih_l0.data = lstm.bias_ih_l0.data + 1.0
        numpy.testing.assert_allclose(
            bilstm_numpy(lstm, X), torch_output(lstm, X), atol=1e-6
        )


@pytest.mark.parametrize(
    "kwargs", [{"bidirectional": False}, {"bias": False}, {"proj_size": 2}]
)
def test_refuses_other_lstms(kwargs):
    lstm = nn.LSTM(4, 3, **{"bidirectional": True, **kwargs})
    with pytest.raises(ValueError, match="bidirectional LSTMs with biases"):
        bilstm_numpy(lstm, numpy.zeros((2, 4), dtype="float32"))
