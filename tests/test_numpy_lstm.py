"""The NumPy LSTM reference against PyTorch (float64, 1e-10) and its gate-level pieces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lstm_course.scratch import lstm as L


def test_sigmoid_is_stable_and_correct_at_extremes():
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = L.sigmoid(z)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    np.testing.assert_allclose(s[1:4], 1 / (1 + np.exp(-z[1:4])), rtol=1e-15)
    np.testing.assert_allclose(L.sigmoid(z) + L.sigmoid(-z), 1.0, rtol=1e-15)


def test_lstm_cell_matches_torch_lstmcell_in_float64():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(3, 5, dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    h0, c0 = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    with torch.no_grad():
        h_ref, c_ref = cell(x, (h0, c0))
    W, b = L.params_from_torch(cell)
    assert W.shape == (20, 8) and b.shape == (20,)
    h, c = L.lstm_step(x.numpy(), h0.numpy(), c0.numpy(), W, b)
    np.testing.assert_allclose(h, h_ref.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(c, c_ref.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("layer,suffix", [(0, ""), (1, ""), (0, "_reverse"), (1, "_reverse")])
def test_lstm_forward_matches_each_direction_and_layer_of_nn_lstm(layer, suffix):
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(7, 3, 4, dtype=torch.float64)
    first = torch.nn.LSTM(4, 6, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        out, _ = lstm(x)
        for name, p in first.named_parameters():
            p.copy_(getattr(lstm, name))  # names of layer 0 are the same in both
        out0, _ = first(x)
    xs = (x if layer == 0 else out0).numpy()
    expected = (out0 if layer == 0 else out).numpy()
    W, b = L.params_from_torch(lstm, layer=layer, suffix=suffix)
    zeros = np.zeros((3, 6))
    if suffix:  # the reverse direction reads the sequence backwards
        hs = L.lstm_forward(xs[::-1], zeros, zeros, W, b)[0][::-1]
        half = slice(6, 12)
    else:
        hs = L.lstm_forward(xs, zeros, zeros, W, b)[0]
        half = slice(0, 6)
    np.testing.assert_allclose(hs, expected[..., half], rtol=0, atol=1e-10)


def test_split_gates_follows_pytorch_order():
    W = np.arange(8.0).reshape(8, 1)
    blocks = L.split_gates(W)
    assert list(blocks) == ["i", "f", "g", "o"]
    np.testing.assert_array_equal(blocks["g"].ravel(), [4.0, 5.0])


def test_gate_pieces_compose_to_the_packed_step():
    r = np.random.default_rng(0)
    x, h, c = r.standard_normal((2, 3)), r.standard_normal((2, 4)), r.standard_normal((2, 4))
    W, b = r.standard_normal((16, 7)), r.standard_normal(16)
    Ws, bs = L.split_gates(W), L.split_gates(b)
    f = L.gate(x, h, Ws["f"], bs["f"])
    i = L.gate(x, h, Ws["i"], bs["i"])
    g = L.candidate(x, h, Ws["g"], bs["g"])
    o = L.gate(x, h, Ws["o"], bs["o"])
    c_new = L.cell_update(f, c, i, g)
    h_new = L.hidden_update(o, c_new)
    h_ref, c_ref = L.lstm_step(x, h, c, W, b)
    np.testing.assert_allclose(h_new, h_ref, rtol=1e-14)
    np.testing.assert_allclose(c_new, c_ref, rtol=1e-14)


def test_sigmoid_is_the_tanh_identity_and_half_one_plus_tanh_is_twice_as_steep():
    """Chapter 4's bug hunt: (1 + tanh(a)) / 2 is sigma(2a), right only at a = 0."""
    a = np.linspace(-30.0, 30.0, 601)
    np.testing.assert_allclose(0.5 * (1 + np.tanh(a / 2)), L.sigmoid(a), rtol=0, atol=1e-15)
    np.testing.assert_allclose(0.5 * (1 + np.tanh(a)), L.sigmoid(2 * a), rtol=0, atol=1e-15)
    assert 0.5 * (1 + np.tanh(0.0)) == L.sigmoid(0.0)
    assert abs(0.5 * (1 + np.tanh(2.0)) - L.sigmoid(2.0)) > 0.08


def test_with_nothing_written_the_cell_state_is_c0_times_the_product_of_forget_gates():
    """Chapter 2's prediction: a cell whose forget gate reads x_t and whose candidate is 0."""
    H, T = 3, 50
    W = np.zeros((4 * H, 2 * H))
    W[H:2 * H, H:] = np.eye(H)
    r = np.random.default_rng(1)
    a_f = 5.0 + r.standard_normal((T, 2, H))
    c0 = r.standard_normal((2, H))
    _, cs, _ = L.lstm_forward(a_f, np.zeros((2, H)), c0, W, np.zeros(4 * H))
    np.testing.assert_allclose(cs[-1], c0 * np.prod(L.sigmoid(a_f), axis=0), rtol=1e-12)
    assert 0.6 < L.sigmoid(5.0) ** 50 < 0.8   # 'saturated' at 0.993, yet about 0.71 left after 50 steps
