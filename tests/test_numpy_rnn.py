"""The NumPy RNN reference: forward matches PyTorch, BPTT matches autograd and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_course.scratch import rnn as rnn


@pytest.fixture
def problem():
    r = np.random.default_rng(0)
    T, B, I, H = 7, 3, 4, 5
    return dict(xs=r.standard_normal((T, B, I)), h0=r.standard_normal((B, H)),
                W_x=r.standard_normal((H, I)), W_h=0.5 * r.standard_normal((H, H)),
                b=r.standard_normal(H))


def test_forward_matches_torch_nn_rnn_in_float64(problem):
    p = problem
    net = torch.nn.RNN(4, 5, dtype=torch.float64)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(p["W_x"]))
        net.weight_hh_l0.copy_(torch.from_numpy(p["W_h"]))
        net.bias_ih_l0.copy_(torch.from_numpy(p["b"]))
        net.bias_hh_l0.zero_()
        out, _ = net(torch.from_numpy(p["xs"]), torch.from_numpy(p["h0"])[None])
    hs = rnn.rnn_forward(p["xs"], p["h0"], p["W_x"], p["W_h"], p["b"])
    np.testing.assert_allclose(hs, out.numpy(), rtol=0, atol=1e-12)


def test_backward_matches_autograd(problem):
    p = problem
    t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    h, hs = t["h0"], []
    for x_t in t["xs"].unbind(0):
        h = torch.tanh(x_t @ t["W_x"].T + h @ t["W_h"].T + t["b"])
        hs.append(h)
    dhs = np.random.default_rng(1).standard_normal((7, 3, 5))
    (torch.stack(hs) * torch.from_numpy(dhs)).sum().backward()

    hs_np = rnn.rnn_forward(p["xs"], p["h0"], p["W_x"], p["W_h"], p["b"])
    grads = rnn.rnn_backward(dhs, p["xs"], hs_np, p["h0"], p["W_x"], p["W_h"])
    for ours, theirs in [("dW_x", "W_x"), ("dW_h", "W_h"), ("db", "b"), ("dxs", "xs"),
                         ("dh0", "h0")]:
        np.testing.assert_allclose(grads[ours], t[theirs].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_backward_matches_centred_finite_differences(problem):
    p = problem
    dhs = np.random.default_rng(2).standard_normal((7, 3, 5))

    def loss(W_h):
        return float((rnn.rnn_forward(p["xs"], p["h0"], p["W_x"], W_h, p["b"]) * dhs).sum())

    hs = rnn.rnn_forward(p["xs"], p["h0"], p["W_x"], p["W_h"], p["b"])
    analytic = rnn.rnn_backward(dhs, p["xs"], hs, p["h0"], p["W_x"], p["W_h"])["dW_h"]
    numeric = np.zeros_like(p["W_h"])
    eps = 1e-6
    for idx in np.ndindex(*p["W_h"].shape):
        plus, minus = p["W_h"].copy(), p["W_h"].copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (loss(plus) - loss(minus)) / (2 * eps)
    rel = np.abs(analytic - numeric).max() / np.abs(numeric).max()
    assert rel < 1e-7


def test_hidden_grad_norms_equal_the_total_gradient_of_bptt(problem):
    p = problem
    hs = rnn.rnn_forward(p["xs"], p["h0"], p["W_x"], p["W_h"], p["b"])
    g_T = np.random.default_rng(3).standard_normal((3, 5))
    dhs = np.zeros_like(hs)
    dhs[-1] = g_T
    dh = rnn.rnn_backward(dhs, p["xs"], hs, p["h0"], p["W_x"], p["W_h"])["dh"]
    expected = np.linalg.norm(dh.reshape(7, -1), axis=1)
    np.testing.assert_allclose(rnn.hidden_grad_norms(hs, p["W_h"], g_T), expected, rtol=1e-12)


def test_gradient_vanishes_below_and_explodes_above_unit_singular_value():
    r = np.random.default_rng(4)
    xs = 0.1 * r.standard_normal((60, 4, 3))
    W_x = 0.1 * r.standard_normal((16, 3))
    ends = {}
    for scale in [0.5, 3.0]:
        W_h = rnn.orthogonal_recurrent_weights(16, scale, r)
        assert np.allclose(np.linalg.svd(W_h, compute_uv=False), scale)
        hs = rnn.rnn_forward(xs, np.zeros((4, 16)), W_x, W_h, np.zeros(16))
        norms = rnn.hidden_grad_norms(hs, W_h, np.ones((4, 16)))
        ends[scale] = norms[0] / norms[-1]
    assert ends[0.5] < 1e-12
    assert ends[3.0] > 1e6


def test_clip_by_norm_rescales_globally_and_leaves_inputs_alone():
    grads = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]
    clipped, norm = rnn.clip_by_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(clipped[0], [0.6, 0.0])
    np.testing.assert_allclose(clipped[1], [[0.0], [0.8]])
    np.testing.assert_array_equal(grads[0], [3.0, 0.0])
    same, _ = rnn.clip_by_norm(grads, 10.0)
    np.testing.assert_array_equal(same[1], grads[1])


def test_recall_experiment_trains_both_models_under_one_protocol_and_measures_the_symbols_gradient():
    from lstm_course.tasks.gap_recall import Protocol, first_input_gradient_ratio, train_recall

    protocol = Protocol(steps=3, test_batch=50)
    for kind, bias in [("rnn", None), ("lstm", 5.0)]:
        acc, losses = train_recall(kind, gap=3, seed=0, protocol=protocol, forget_bias=bias)
        assert 0.0 <= acc <= 1.0 and len(losses) == 3
    assert train_recall("rnn", 3, 0, protocol)[1] == train_recall("rnn", 3, 0, protocol)[1]  # seeded
    far = first_input_gradient_ratio("rnn", gap=40, seed=0)
    near = first_input_gradient_ratio("lstm", gap=40, seed=0, forget_bias=5.0)
    assert far < 1e-6 < 0.1 < near


def test_recall_plot_tells_models_apart_without_colour():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lstm_course.tasks.gap_recall import plot_recall

    ax = plot_recall([5, 20], {"a": np.ones((2, 3)), "b": np.zeros((2, 3))})
    lines = [ln for ln in ax.get_lines() if ln.get_label().endswith("(mean)")]
    assert len({(ln.get_linestyle(), ln.get_marker()) for ln in lines}) == 2
    plt.close("all")
