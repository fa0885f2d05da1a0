"""Backpropagation through the LSTM in NumPy: one cell, a whole sequence, and gradient checks.

The forward pass is :mod:`lstm_course.scratch.lstm` (packed W: (4H, H + I) acting on
z_t = [h_{t-1}, x_t], gates i, f, g, o); its :class:`~lstm_course.scratch.lstm.StepCache` keeps
what the backward pass needs. For one step, given dh = dL/dh_t and dc = the part of dL/dc_t
that arrives from step t + 1:

    dc_t    = dc + dh * o * (1 - tanh(c_t)^2)    total gradient at c_t
    da_i    = dc_t * g * i (1 - i)               (da: gradient at the gate pre-activations)
    da_f    = dc_t * c_{t-1} * f (1 - f)
    da_g    = dc_t * i * (1 - g^2)
    da_o    = dh * tanh(c_t) * o (1 - o)
    dW      = da^T z,  db = sum over the batch of da,  dz = da W = [dh_{t-1}, dx_t]
    dc_prev = dc_t * f                           the constant error carousel

All arrays are batches: dh, dc: (batch, H); da: (batch, 4H); dW: (4H, H + I).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from lstm_course.scratch.lstm import StepCache, lstm_forward, lstm_step_cached


class StepGrads(NamedTuple):
    """Gradients of one step: dW: (4H, H + I), db: (4H,), dx: (batch, I), dh_prev, dc_prev: (batch, H)."""

    dW: np.ndarray
    db: np.ndarray
    dx: np.ndarray
    dh_prev: np.ndarray
    dc_prev: np.ndarray


def cell_state_grad(dh: np.ndarray, dc: np.ndarray, cache: StepCache) -> np.ndarray:
    """dL/dc_t in total: what comes from c_{t+1} (dc) plus what comes through h_t = o tanh(c_t)."""
    return dc + dh * cache.o * (1.0 - cache.tanh_c ** 2)


def gate_grads(dh: np.ndarray, dc: np.ndarray, cache: StepCache) -> np.ndarray:
    """da: (batch, 4H), the gradient at the pre-activations of gates i, f, g, o (packed)."""
    dc_t = cell_state_grad(dh, dc, cache)
    i, f, g, o = cache.i, cache.f, cache.g, cache.o
    return np.concatenate([dc_t * g * i * (1.0 - i),
                           dc_t * cache.c_prev * f * (1.0 - f),
                           dc_t * i * (1.0 - g ** 2),
                           dh * cache.tanh_c * o * (1.0 - o)], axis=-1)


def lstm_step_backward(dh: np.ndarray, dc: np.ndarray, cache: StepCache,
                       W: np.ndarray) -> StepGrads:
    """Backward pass of :func:`lstm_course.scratch.lstm.lstm_step_cached`.

    dh: dL/dh_t (batch, H); dc: the gradient reaching c_t from step t + 1 (batch, H), zeros at
    the last step; W: (4H, H + I). Returns :class:`StepGrads`.
    """
    H = dh.shape[-1]
    da = gate_grads(dh, dc, cache)
    dz = da @ W
    dc_prev = cell_state_grad(dh, dc, cache) * cache.f
    return StepGrads(da.T @ cache.z, da.sum(axis=0), dz[:, H:], dz[:, :H], dc_prev)


class SequenceGrads(NamedTuple):
    """Gradients of a whole sequence. dh, dc: (T, batch, H) are the *total* dL/dh_t and dL/dc_t."""

    dW: np.ndarray
    db: np.ndarray
    dxs: np.ndarray
    dh0: np.ndarray
    dc0: np.ndarray
    dh: np.ndarray
    dc: np.ndarray


def lstm_backward(dhs: np.ndarray, caches: Sequence[StepCache], W: np.ndarray,
                  dc_T: np.ndarray | None = None) -> SequenceGrads:
    """Backpropagation through time for :func:`lstm_course.scratch.lstm.lstm_forward`.

    dhs: (T, batch, H), the gradient reaching each h_t directly (from the outputs);
    dc_T: gradient reaching the final c_T directly (default zeros).
    """
    T = len(caches)
    B, H = dhs.shape[1:]
    dW, db = np.zeros_like(W), np.zeros(W.shape[0], dtype=W.dtype)
    dxs = np.zeros((T, B, W.shape[1] - H), dtype=dhs.dtype)
    dh_total, dc_total = np.zeros_like(dhs), np.zeros_like(dhs)
    dh_next = np.zeros((B, H), dtype=dhs.dtype)
    dc_next = np.zeros((B, H), dtype=dhs.dtype) if dc_T is None else dc_T
    for t in reversed(range(T)):
        dh_total[t] = dhs[t] + dh_next
        dc_total[t] = cell_state_grad(dh_total[t], dc_next, caches[t])
        step = lstm_step_backward(dh_total[t], dc_next, caches[t], W)
        dW += step.dW
        db += step.db
        dxs[t] = step.dx
        dh_next, dc_next = step.dh_prev, step.dc_prev
    return SequenceGrads(dW, db, dxs, dh_next, dc_next, dh_total, dc_total)


def state_grad_norms(xs: np.ndarray, W: np.ndarray, b: np.ndarray,
                     g_T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Norms of dL/dh_t and dL/dc_t for every t when the loss reads only h_T, dL/dh_T = g_T.

    xs: (T, batch, I), zero initial state. Returns two (T,) arrays (Frobenius norm over the
    batch), entry t for the state after xs[t], like :func:`lstm_course.scratch.rnn.hidden_grad_norms`.
    """
    B, H = g_T.shape
    zeros = np.zeros((B, H))
    hs, _, caches = lstm_forward(xs, zeros, zeros, W, b)
    dhs = np.zeros_like(hs)
    dhs[-1] = g_T
    grads = lstm_backward(dhs, caches, W)
    return (np.linalg.norm(grads.dh.reshape(len(hs), -1), axis=1),
            np.linalg.norm(grads.dc.reshape(len(hs), -1), axis=1))


def init_params(input_size: int, hidden_size: int, rng: np.random.Generator,
                forget_bias: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Packed (W, b) drawn like PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)), b = b_ih + b_hh.

    ``forget_bias`` sets the f block of b to that value (PyTorch's two biases added up).
    """
    k = 1.0 / np.sqrt(hidden_size)
    W = rng.uniform(-k, k, (4 * hidden_size, hidden_size + input_size))
    b = rng.uniform(-k, k, 4 * hidden_size) + rng.uniform(-k, k, 4 * hidden_size)
    if forget_bias is not None:
        b[hidden_size:2 * hidden_size] = forget_bias
    return W, b


# ------------------------------------------------------------ common mistakes, for the tests

#: A description of each common slip in the cell backward pass and how it changes the math.
COMMON_MISTAKES: dict[str, dict[str, bool]] = {
    "the tanh derivative on the path h_t -> c_t is missing (use dh * o * (1 - tanh(c_t)^2))":
        {"no_tanh_grad": True},
    "the gate blocks are packed in the wrong order (PyTorch's order is i, f, g, o)":
        {"order_ifog": True},
    "df uses c_t instead of c_{t-1} (c_t = f * c_{t-1} + ...)": {"c_for_c_prev": True},
    "dc_prev only carries dc * f, without the part that arrives through h_t": {"dc_only": True},
    "dx and dh_prev are swapped (z_t = [h_{t-1}, x_t]: h comes first)": {"swap_z": True},
    "the sigmoid and tanh derivatives are swapped between the gates": {"swap_derivs": True},
}


def step_backward_with_mistake(dh: np.ndarray, dc: np.ndarray, cache: StepCache, W: np.ndarray, *,
                               no_tanh_grad: bool = False, order_ifog: bool = False,
                               c_for_c_prev: bool = False, dc_only: bool = False,
                               swap_z: bool = False, swap_derivs: bool = False) -> StepGrads:
    """:func:`lstm_step_backward` with one of :data:`COMMON_MISTAKES` made on purpose.

    The chapter's tests use it to say which mistake a wrong answer looks like.
    """
    H = dh.shape[-1]
    i, f, g, o = cache.i, cache.f, cache.g, cache.o
    tanh_grad = 1.0 if no_tanh_grad else 1.0 - cache.tanh_c ** 2
    dc_t = dc + dh * o * tanh_grad
    sig = (lambda s: 1.0 - s ** 2) if swap_derivs else (lambda s: s * (1.0 - s))
    tan = (lambda s: s * (1.0 - s)) if swap_derivs else (lambda s: 1.0 - s ** 2)
    blocks = {"i": dc_t * g * sig(i), "f": dc_t * (cache.c if c_for_c_prev else cache.c_prev) * sig(f),
              "g": dc_t * i * tan(g), "o": dh * cache.tanh_c * sig(o)}
    da = np.concatenate([blocks[k] for k in ("ifog" if order_ifog else "ifgo")], axis=-1)
    dz = da @ W
    dx, dh_prev = (dz[:, :dz.shape[1] - H], dz[:, dz.shape[1] - H:]) if swap_z else (dz[:, H:], dz[:, :H])
    dc_prev = (dc if dc_only else dc_t) * f
    return StepGrads(da.T @ cache.z, da.sum(axis=0), dx, dh_prev, dc_prev)


def random_step_case(batch: int, input_size: int, hidden_size: int, seed: int, *,
                     scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, StepCache, np.ndarray]:
    """(dh, dc, cache, W) for one random forward step: the arguments of :func:`lstm_step_backward`.

    Weights and states are standard normal times ``scale``, so every gate is far from 0 and 1.
    """
    r = np.random.default_rng(seed)
    B, I, H = batch, input_size, hidden_size
    W, b = scale * r.standard_normal((4 * H, H + I)), scale * r.standard_normal(4 * H)
    _, _, cache = lstm_step_cached(r.standard_normal((B, I)), r.standard_normal((B, H)),
                                   r.standard_normal((B, H)), W, b)
    return r.standard_normal((B, H)), r.standard_normal((B, H)), cache, W


def mistaken_step_grads(dh: np.ndarray, dc: np.ndarray, cache: StepCache,
                        W: np.ndarray) -> dict[str, StepGrads]:
    """{description: the gradients that mistake gives} for every entry of :data:`COMMON_MISTAKES`."""
    return {d: step_backward_with_mistake(dh, dc, cache, W, **flags)
            for d, flags in COMMON_MISTAKES.items()}


def check_step_gradient(student_fn: Callable, index: int, batch: int, input_size: int,
                        hidden_size: int, seed: int) -> None:
    """Test one output (0: dW, 1: db, 2: dx, 3: dh_prev, 4: dc_prev) of a learner's
    ``lstm_step_backward(dh, dc, cache, W)`` on a random step, naming a recognised mistake.

    Also fails if the function modifies its inputs or does not return five arrays.
    """
    from lstm_course.teach import checks

    name = StepGrads._fields[index]
    dh, dc, cache, W = random_step_case(batch, input_size, hidden_size, seed)
    before = checks.snapshot(dh, dc, W, cache.c_prev)
    got = student_fn(dh, dc, cache, W)
    if not isinstance(got, tuple) or len(got) != 5:
        raise checks.CheckFailed("lstm_step_backward should return a tuple of five arrays "
                                 "(dW, db, dx, dh_prev, dc_prev).")
    for label, old, new in zip(["dh", "dc", "W", "cache.c_prev"], before, [dh, dc, W, cache.c_prev],
                               strict=True):
        checks.check_unchanged(label, old, new)
    mistakes = {d: g[index] for d, g in mistaken_step_grads(dh, dc, cache, W).items()}
    checks.check_close(name, got[index], lstm_step_backward(dh, dc, cache, W)[index],
                       mistakes=mistakes,
                       context=f"batch {batch}, input {input_size}, hidden {hidden_size}")


# ---------------------------------------------------------------------------- gradient checks

def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5, *,
                       centred: bool = True) -> np.ndarray:
    """Finite differences of the scalar f() with respect to every entry of x.

    Centred: df/dx_k ~ (f(x + eps e_k) - f(x - eps e_k)) / (2 eps), error O(eps^2).
    ``centred=False`` gives forward differences (f(x + eps e_k) - f(x)) / eps, error O(eps).
    x is changed in place during the loop and restored exactly, so f can read it from its closure.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    base = None if centred else f()
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = f()
        if centred:
            flat[k] = old - eps
            minus = f()
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * eps) if centred else (plus - base) / eps
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||) (0 when both are zero): about 1e-10 means agreement in float64."""
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


def sequence_loss(xs, h0, c0, W, b, R_h, R_c) -> float:
    """A test loss that reads every output and the final cell: L = sum(R_h * hs) + sum(R_c * c_T)."""
    hs, cs, _ = lstm_forward(xs, h0, c0, W, b)
    return float(np.sum(R_h * hs) + np.sum(R_c * cs[-1]))


def sequence_loss_grads(xs, h0, c0, W, b, R_h, R_c) -> dict[str, np.ndarray]:
    """Analytic gradients of :func:`sequence_loss` from :func:`lstm_backward`."""
    _, _, caches = lstm_forward(xs, h0, c0, W, b)
    g = lstm_backward(R_h, caches, W, dc_T=R_c)
    return {"W": g.dW, "b": g.db, "xs": g.dxs, "h0": g.dh0, "c0": g.dc0}


def gradient_check(xs, h0, c0, W, b, R_h, R_c, eps: float = 1e-5) -> dict[str, float]:
    """Relative error between :func:`sequence_loss_grads` and centred differences, per argument."""
    args = {"W": W, "b": b, "xs": xs, "h0": h0, "c0": c0}
    analytic = sequence_loss_grads(xs, h0, c0, W, b, R_h, R_c)
    errors = {}
    for name, x in args.items():
        numeric = numerical_gradient(lambda: sequence_loss(xs, h0, c0, W, b, R_h, R_c), x, eps)
        errors[name] = relative_error(analytic[name], numeric)
    return errors


def torch_grads(xs, h0, c0, W, b, R_h, R_c) -> dict[str, np.ndarray]:
    """The gradients of :func:`sequence_loss` from PyTorch autograd through ``nn.LSTM`` (float64).

    Our packed W = [W_hh | W_ih] and b become nn.LSTM's weight_hh_l0, weight_ih_l0 and
    bias_ih_l0 (with bias_hh_l0 = 0).
    """
    import torch

    H = h0.shape[-1]
    lstm = torch.nn.LSTM(xs.shape[-1], H, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_hh_l0.copy_(torch.from_numpy(W[:, :H]))
        lstm.weight_ih_l0.copy_(torch.from_numpy(W[:, H:]))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    t_xs, t_h0, t_c0 = (torch.tensor(a, requires_grad=True) for a in (xs, h0, c0))
    out, (_, c_T) = lstm(t_xs, (t_h0[None], t_c0[None]))
    loss = (out * torch.from_numpy(R_h)).sum() + (c_T[0] * torch.from_numpy(R_c)).sum()
    loss.backward()
    return {"W": torch.cat([lstm.weight_hh_l0.grad, lstm.weight_ih_l0.grad], 1).numpy(),
            "b": lstm.bias_ih_l0.grad.numpy(), "xs": t_xs.grad.numpy(), "h0": t_h0.grad.numpy(),
            "c0": t_c0.grad.numpy()}
