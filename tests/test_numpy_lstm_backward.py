"""The NumPy LSTM backward pass against finite differences and PyTorch autograd (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_course.scratch import bptt as BW
from lstm_course.scratch import lstm as L


def _problem(T=4, B=3, I=2, H=3, seed=0):
    r = np.random.default_rng(seed)
    xs = r.standard_normal((T, B, I))
    h0, c0 = r.standard_normal((B, H)), r.standard_normal((B, H))
    W, b = r.standard_normal((4 * H, H + I)) * 0.7, r.standard_normal(4 * H)
    R_h, R_c = r.standard_normal((T, B, H)), r.standard_normal((B, H))
    return xs, h0, c0, W, b, R_h, R_c


@pytest.mark.parametrize("shape", [(4, 3, 2, 3), (1, 1, 3, 2), (6, 2, 5, 4)])
def test_sequence_gradients_match_centred_differences(shape):
    errors = BW.gradient_check(*_problem(*shape, seed=sum(shape)))
    assert set(errors) == {"W", "b", "xs", "h0", "c0"}
    assert max(errors.values()) < 1e-8, errors


def test_sequence_gradients_match_torch_autograd_through_nn_lstm():
    args = _problem(T=5, B=2, I=3, H=4, seed=7)
    ours = BW.sequence_loss_grads(*args)
    theirs = BW.torch_grads(*args)
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=1e-12, err_msg=name)


def test_step_backward_of_the_last_step_equals_the_sequence_backward_for_T_1():
    xs, h0, c0, W, b, R_h, R_c = _problem(T=1, seed=3)
    h, c, cache = L.lstm_step_cached(xs[0], h0, c0, W, b)
    step = BW.lstm_step_backward(R_h[0], R_c, cache, W)
    seq = BW.sequence_loss_grads(xs, h0, c0, W, b, R_h, R_c)
    np.testing.assert_allclose(step.dW, seq["W"], rtol=1e-14)
    np.testing.assert_allclose(step.dx, seq["xs"][0], rtol=1e-14)
    np.testing.assert_allclose(step.dh_prev, seq["h0"], rtol=1e-14)
    np.testing.assert_allclose(step.dc_prev, seq["c0"], rtol=1e-14)


def test_step_backward_returns_shapes_of_its_inputs():
    r = np.random.default_rng(1)
    B, I, H = 5, 3, 2
    W, b = r.standard_normal((4 * H, H + I)), r.standard_normal(4 * H)
    _, _, cache = L.lstm_step_cached(r.standard_normal((B, I)), r.standard_normal((B, H)),
                                     r.standard_normal((B, H)), W, b)
    g = BW.lstm_step_backward(r.standard_normal((B, H)), r.standard_normal((B, H)), cache, W)
    assert [a.shape for a in g] == [W.shape, b.shape, (B, I), (B, H), (B, H)]


def test_every_common_mistake_changes_some_gradient():
    r = np.random.default_rng(2)
    B, I, H = 3, 4, 3
    W, b = r.standard_normal((4 * H, H + I)), r.standard_normal(4 * H)
    _, _, cache = L.lstm_step_cached(r.standard_normal((B, I)), r.standard_normal((B, H)),
                                     r.standard_normal((B, H)), W, b)
    dh, dc = r.standard_normal((B, H)), r.standard_normal((B, H))
    right = BW.lstm_step_backward(dh, dc, cache, W)
    assert np.allclose(BW.step_backward_with_mistake(dh, dc, cache, W).dW, right.dW)
    for description, wrong in BW.mistaken_step_grads(dh, dc, cache, W).items():
        differs = [a.shape != w.shape or not np.allclose(a, w) for a, w in zip(right, wrong, strict=True)]
        assert any(differs), description


def test_numerical_gradient_is_centred_and_restores_its_input():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    before = x.copy()
    grad = BW.numerical_gradient(lambda: float(np.sum(x ** 3)), x, eps=1e-4)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-7)  # a forward difference errs by ~3 x eps


def test_relative_error_is_zero_for_equal_and_for_zero_arrays():
    a = np.array([1.0, -2.0])
    assert BW.relative_error(a, a) == 0.0
    assert BW.relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert BW.relative_error(a, -a) == pytest.approx(1.0)


def test_cell_gradient_is_carried_unchanged_when_the_forget_gate_is_one():
    """The constant error carousel: with f = 1 (huge forget bias) and the output gate shut
    (o = 0, so nothing leaks through h) dL/dc_t is the same at every step."""
    r = np.random.default_rng(4)
    T, B, I, H = 30, 2, 3, 4
    W, b = BW.init_params(I, H, r, forget_bias=50.0)
    b[3 * H:] = -50.0   # o = 0
    xs = r.standard_normal((T, B, I))
    zeros = np.zeros((B, H))
    _, _, caches = L.lstm_forward(xs, zeros, zeros, W, b)
    dc_T = r.standard_normal((B, H))
    g = BW.lstm_backward(np.zeros((T, B, H)), caches, W, dc_T=dc_T)
    np.testing.assert_allclose(g.dc, np.broadcast_to(dc_T, g.dc.shape), rtol=1e-12)


def test_state_grad_norms_vanish_faster_with_a_smaller_forget_bias():
    r = np.random.default_rng(5)
    T, B, I, H = 40, 4, 3, 8
    xs = 0.1 * r.standard_normal((T, B, I))
    g_T = np.ones((B, H)) / np.sqrt(B * H)
    far = {}
    for bias in (0.0, 3.0):
        W, b = BW.init_params(I, H, np.random.default_rng(6), forget_bias=bias)
        norms_h, norms_c = BW.state_grad_norms(xs, W, b, g_T)
        assert norms_h.shape == norms_c.shape == (T,)
        assert norms_h[-1] == pytest.approx(1.0)
        far[bias] = norms_c[0] / norms_c[-1]
    assert far[3.0] > 1e3 * far[0.0]


def test_init_params_follows_pytorch_bounds_and_sets_the_forget_bias():
    W, b = BW.init_params(3, 16, np.random.default_rng(0), forget_bias=1.0)
    assert W.shape == (64, 19) and np.abs(W).max() <= 0.25
    assert np.all(b[16:32] == 1.0) and np.abs(np.delete(b, np.s_[16:32])).max() <= 0.5


def test_forward_differences_err_by_order_eps_and_centred_by_eps_squared():
    x = np.array([0.7])
    f = lambda: float(np.exp(x[0]))  # noqa: E731
    exact = np.exp(0.7)
    forward_err = abs(BW.numerical_gradient(f, x, 1e-3, centred=False)[0] - exact)
    centred_err = abs(BW.numerical_gradient(f, x, 1e-3)[0] - exact)
    assert forward_err == pytest.approx(exact * 1e-3 / 2, rel=0.01)
    assert centred_err < 1e-6


def test_check_step_gradient_passes_the_reference_and_names_a_mistake():
    from lstm_course.teach.checks import CheckFailed

    for index in range(5):
        BW.check_step_gradient(BW.lstm_step_backward, index, 2, 3, 2, seed=index)

    def swapped_z(dh, dc, cache, W):
        return tuple(BW.step_backward_with_mistake(dh, dc, cache, W, swap_z=True))

    with pytest.raises(CheckFailed, match="swapped"):
        BW.check_step_gradient(swapped_z, 3, 2, 3, 3, seed=0)

    def in_place(dh, dc, cache, W):
        dh *= 2
        return tuple(BW.lstm_step_backward(dh, dc, cache, W))

    with pytest.raises(CheckFailed, match="modified in place"):
        BW.check_step_gradient(in_place, 0, 2, 3, 2, seed=1)
