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
                  dc_T: np.ndarray | None = None, *, step_fn: Callable | None = None) -> SequenceGrads:
    """Backpropagation through time for :func:`lstm_course.scratch.lstm.lstm_forward`.

    dhs: (T, batch, H), the gradient reaching each h_t directly (from the outputs);
    dc_T: gradient reaching the final c_T directly (default zeros). ``step_fn`` replaces
    :func:`lstm_step_backward` (the tests run a learner's step inside this loop).
    """
    step_fn = step_fn or lstm_step_backward
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
        step_dW, step_db, dxs[t], dh_next, dc_next = step_fn(dh_total[t], dc_next, caches[t], W)
        dW += step_dW
        db += step_db
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


def _run_learner_step(student_fn: Callable, batch: int, input_size: int, hidden_size: int, seed: int):
    """Call a learner's ``lstm_step_backward`` on a random step: (dh, dc, cache, W, its result).

    Fails, for the learner, if it does not return five arrays or modifies its inputs.
    """
    from lstm_course.teach import checks

    dh, dc, cache, W = random_step_case(batch, input_size, hidden_size, seed)
    before = checks.snapshot(dh, dc, W, cache.c_prev)
    got = student_fn(dh, dc, cache, W)
    if not isinstance(got, tuple) or len(got) != 5:
        raise checks.CheckFailed("lstm_step_backward should return a tuple of five arrays "
                                 "(dW, db, dx, dh_prev, dc_prev).")
    for label, old, new in zip(["dh", "dc", "W", "cache.c_prev"], before, [dh, dc, W, cache.c_prev],
                               strict=True):
        checks.check_unchanged(label, old, new)
    return dh, dc, cache, W, got


def check_step_gradient(student_fn: Callable, index: int, batch: int, input_size: int,
                        hidden_size: int, seed: int) -> None:
    """Test one output (0: dW, 1: db, 2: dx, 3: dh_prev, 4: dc_prev) of a learner's
    ``lstm_step_backward(dh, dc, cache, W)`` on a random step, naming a recognised mistake.

    Also fails if the function modifies its inputs or does not return five arrays.
    """
    from lstm_course.teach import checks

    name = StepGrads._fields[index]
    dh, dc, cache, W, got = _run_learner_step(student_fn, batch, input_size, hidden_size, seed)
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


# ------------------------------------------------- the chapter's exercises, checked per gradient

#: Keys of the learner's ``cell_backward(dh, dc, cache)``: each (batch, H).
CELL_KEYS = ("da_i", "da_f", "da_g", "da_o", "dc_prev")


def cell_backward(dh: np.ndarray, dc: np.ndarray, cache: StepCache, *,
                  mistake: str | None = None) -> dict[str, np.ndarray]:
    """The gate gradients of one cell as a dict with :data:`CELL_KEYS`, each (batch, H).

    ``mistake`` (a key of :data:`CELL_MISTAKES`) makes that slip on purpose, for the tests.
    """
    i, f, g, o, tanh_c = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
    tanh_grad = 1.0 if mistake == "no_tanh_grad" else 1.0 - tanh_c ** 2
    dc_t = dc + dh * o * tanh_grad
    c_in_df = cache.c if mistake == "c_for_c_prev" else cache.c_prev
    sig_f = 1.0 if mistake == "df_no_sigmoid_grad" else f * (1 - f)
    sig_o = 1.0 if mistake == "do_no_sigmoid_grad" else o * (1 - o)
    tanh_g = 1 - g if mistake == "tanh_grad_not_squared" else 1 - g ** 2
    sign_f = -1.0 if mistake == "df_wrong_sign" else 1.0
    da_o = {"do_no_tanh_c": dh * sig_o, "do_from_dc": dc_t * tanh_c * sig_o,
            "do_tanh_grad": dh * (1 - tanh_c ** 2) * sig_o}.get(mistake, dh * tanh_c * sig_o)
    dc_prev = {"dc_only": dc * f, "dc_prev_no_f": dc_t,
               "dc_prev_f_next": dc_t * i}.get(mistake, dc_t * f)
    return {"da_i": dc_t * g * i * (1 - i), "da_f": sign_f * dc_t * c_in_df * sig_f,
            "da_g": dc_t * i * tanh_g, "da_o": da_o, "dc_prev": dc_prev}


#: Slips in the cell's gate gradients a learner makes, as :func:`cell_backward` ``mistake`` keys.
CELL_MISTAKES: dict[str, str] = {
    "no_tanh_grad": "the tanh derivative on the path h_t -> c_t is missing "
                    "(dc_t = dc + dh * o * (1 - tanh(c_t)^2))",
    "c_for_c_prev": "da_f uses c_t where c_{t-1} belongs (c_t = f * c_{t-1} + i * g)",
    "df_no_sigmoid_grad": "da_f lacks the sigmoid derivative f (1 - f)",
    "df_wrong_sign": "da_f has the wrong sign",
    "do_no_sigmoid_grad": "da_o lacks the sigmoid derivative o (1 - o)",
    "do_no_tanh_c": "da_o lacks the factor tanh(c_t) (h_t = o * tanh(c_t))",
    "do_from_dc": "da_o uses dc_t where dh_t belongs (o_t reaches the loss only through h_t)",
    "do_tanh_grad": "da_o uses tanh'(c_t) where tanh(c_t) belongs",
    "tanh_grad_not_squared": "tanh' was written 1 - g instead of 1 - g^2",
    "dc_only": "dc_prev only carries dc * f, without the part that arrives through h_t",
    "dc_prev_no_f": "dc_prev is missing the forget gate (c_t = f * c_{t-1} + ...)",
    "dc_prev_f_next": "dc_prev is multiplied by the input gate instead of the forget gate",
}


def _close(a, b, rtol: float, atol: float) -> bool:
    """Same shape and values within tolerance, with the checks' own arithmetic (not np.allclose,
    which a notebook could replace)."""
    from lstm_course.teach import checks

    try:
        shape_a, values_a = checks._as_numbers("a", a, kind="array")
        shape_b, values_b = checks._as_numbers("b", b, kind="array")
    except checks.CheckFailed:
        return False
    return shape_a == shape_b and checks._within(values_a, values_b, rtol, atol)


def check_cell_gradient(student_fn: Callable, key: str, batch: int, input_size: int,
                        hidden_size: int, seed: int) -> None:
    """Test entry ``key`` of a learner's ``cell_backward(dh, dc, cache)`` on a random step.

    Names a recognised mistake; fails if the function changes its inputs or does not return a
    dict with :data:`CELL_KEYS`.
    """
    from lstm_course.teach import checks

    dh, dc, cache, W = random_step_case(batch, input_size, hidden_size, seed)
    arrays = {"dh": dh, "dc": dc, "cache.c_prev": cache.c_prev, "cache.c": cache.c, "cache.f": cache.f}
    before = checks.snapshot(*arrays.values())
    got = student_fn(dh, dc, cache)
    if type(got) is not dict or set(got) != set(CELL_KEYS):
        raise checks.CheckFailed("cell_backward should return a dict with exactly the keys "
                                 f"{', '.join(CELL_KEYS)}.")
    for (label, new), old in zip(arrays.items(), before, strict=True):
        checks.check_unchanged(label, old, new)
    mistakes = {CELL_MISTAKES[m]: cell_backward(dh, dc, cache, mistake=m)[key] for m in CELL_MISTAKES}
    checks.check_close(key, got[key], cell_backward(dh, dc, cache)[key], mistakes=mistakes,
                       context=f"batch {batch}, input {input_size}, hidden {hidden_size}")


def step_from_gate_grads(grads: dict[str, np.ndarray], cache: StepCache, W: np.ndarray, *,
                         mistake: str | None = None) -> StepGrads:
    """(dW, db, dx, dh_prev, dc_prev) from the gate gradients of :func:`cell_backward`:
    pack da = [da_i, da_f, da_g, da_o], dW = da^T z, db = sum over the batch, dz = da W."""
    order = ("da_i", "da_f", "da_o", "da_g") if mistake == "order_ifog" else ("da_i", "da_f", "da_g", "da_o")
    da = np.concatenate([grads[k] for k in order], axis=-1)
    H = grads["da_i"].shape[-1]
    dz = da @ W
    db = da.mean(axis=0) if mistake == "db_mean" else da.sum(axis=0)
    dx, dh_prev = (dz[:, :H], dz[:, H:]) if mistake == "swap_z" else (dz[:, H:], dz[:, :H])
    return StepGrads(da.T @ cache.z, db, dx, dh_prev, grads["dc_prev"])


#: Slips in the step's linear part, as :func:`step_from_gate_grads` ``mistake`` keys.
STEP_MISTAKES: dict[str, str] = {
    "order_ifog": "the gate blocks are packed in the wrong order (PyTorch's order is i, f, g, o)",
    "db_mean": "db is the mean over the batch; the same bias serves every row, so it is the sum",
    "swap_z": "dx and dh_prev are swapped (z_t = [h_{t-1}, x_t]: h comes first)",
}


def check_step_from_gates(student_step: Callable, student_cell: Callable, index: int, batch: int,
                          input_size: int, hidden_size: int, seed: int) -> None:
    """Test output ``index`` (0: dW, 1: db, 2: dx, 3: dh_prev) of a learner's
    ``lstm_step_backward(dh, dc, cache, W)``.

    Accepted: the reference, or the linear part applied to the learner's own ``cell_backward``
    (a slip in a gate gradient loses that gradient's points in Exercise 5.1, not these).
    """
    from lstm_course.teach import checks

    name = StepGrads._fields[index]
    dh, dc, cache, W, got = _run_learner_step(student_step, batch, input_size, hidden_size, seed)
    right = lstm_step_backward(dh, dc, cache, W)[index]
    try:
        own_grads = student_cell(dh, dc, cache)
        own = step_from_gate_grads(own_grads, cache, W)[index]
        own_ok = _close(got[index], own, 1e-6, 1e-8)
    except Exception:  # a broken cell_backward is graded in Exercise 5.1
        own_ok = False
    if own_ok and not _close(own, right, 1e-6, 1e-8):
        print(f"{name}: right, given your cell_backward (whose mistakes Exercise 5.1's tests report)")
        return
    ref_grads = cell_backward(dh, dc, cache)
    mistakes = {d: step_from_gate_grads(ref_grads, cache, W, mistake=m)[index]
                for m, d in STEP_MISTAKES.items()}
    da = np.concatenate([ref_grads[k] for k in CELL_KEYS[:4]], axis=-1)
    mistakes["dW was computed as z^T da (shape (H + I, 4H)); it is da^T z, the shape of W"] = cache.z.T @ da
    checks.check_close(name, got[index], right, mistakes=mistakes,
                       context=f"batch {batch}, input {input_size}, hidden {hidden_size}")


def lstm_backward_with_mistake(dhs, caches, W, dc_T=None, *, mistake: str) -> dict[str, np.ndarray]:
    """The sequence backward pass (as the exercise's dict) with one of :data:`SEQUENCE_MISTAKES`."""
    T = len(caches)
    B, H = dhs.shape[1:]
    dW, db = np.zeros_like(W), np.zeros(W.shape[0])
    dxs = np.zeros((T, B, W.shape[1] - H))
    dh_next = np.zeros((B, H))
    dc_next = np.zeros((B, H)) if dc_T is None or mistake == "no_dc_T" else dc_T
    steps = range(T) if mistake == "forward_loop" else reversed(range(T))
    for t in steps:
        dh = dhs[t] if mistake == "no_dh_carry" else dhs[t] + dh_next
        if mistake == "only_last_output" and t != T - 1:
            dh = dh_next
        s = lstm_step_backward(dh, dc_next, caches[t], W)
        dW, db = (s.dW, s.db) if mistake == "not_summed" else (dW + s.dW, db + s.db)
        dxs[T - 1 - t if mistake == "dxs_reversed" else t] = s.dx
        dh_next = s.dh_prev
        dc_next = np.zeros((B, H)) if mistake == "no_dc_carry" else s.dc_prev
    return {"dW": dW, "db": db, "dxs": dxs, "dh0": dh_next, "dc0": dc_next}


#: Slips in the loop over time, as :func:`lstm_backward_with_mistake` ``mistake`` keys.
SEQUENCE_MISTAKES: dict[str, str] = {
    "no_dc_carry": "the gradient from step t + 1 into c_t (dc_prev of the later step) is not carried",
    "no_dh_carry": "the gradient from step t + 1 into h_t (dh_prev of the later step) is not added "
                   "to dhs[t]",
    "not_summed": "the weight gradients are not summed over the steps (only one step's is kept)",
    "forward_loop": "the loop runs forward in time; backpropagation starts at the last step",
    "no_dc_T": "dc_T, the gradient reaching the final cell state, is ignored",
    "only_last_output": "only the last step's dhs is used; every step's output gradient dhs[t] "
                        "must be added",
    "dxs_reversed": "dxs is stored in reversed order (dxs[t] belongs to xs[t])",
}

_SEQ_TO_ARG = {"dW": "W", "db": "b", "dxs": "xs", "dh0": "h0", "dc0": "c0"}


def sequence_case(T: int, batch: int, input_size: int, hidden_size: int, seed: int):
    """A random problem for :func:`sequence_loss`: (xs, h0, c0, W, b, R_h, R_c)."""
    r = np.random.default_rng(seed)
    B, I, H = batch, input_size, hidden_size
    return (r.standard_normal((T, B, I)), r.standard_normal((B, H)), r.standard_normal((B, H)),
            0.8 * r.standard_normal((4 * H, H + I)), r.standard_normal(4 * H),
            r.standard_normal((T, B, H)), r.standard_normal((B, H)))


def check_sequence_gradient(student_seq: Callable, student_step: Callable, key: str, T: int,
                            batch: int, input_size: int, hidden_size: int, seed: int, *,
                            against: str = "autograd") -> None:
    """Test entry ``key`` ("dW", "db", "dxs", "dh0" or "dc0") of a learner's
    ``lstm_backward(dhs, caches, W, dc_T)`` on :func:`sequence_loss`.

    ``against`` is "autograd" (PyTorch's nn.LSTM, float64) or "centred" (centred differences,
    relative error below 1e-6). Also accepted: the reference loop run with the learner's own
    ``lstm_step_backward`` (a slip in the step loses the step's points, not these).
    """
    from lstm_course.teach import checks

    problem = sequence_case(T, batch, input_size, hidden_size, seed)
    xs, h0, c0, W, b, R_h, R_c = problem
    _, _, caches = lstm_forward(xs, h0, c0, W, b)
    before = checks.snapshot(R_h, R_c, W)
    got = student_seq(R_h, caches, W, R_c)
    if type(got) is not dict or set(got) != set(_SEQ_TO_ARG):
        raise checks.CheckFailed("lstm_backward should return a dict with exactly the keys "
                                 f"{', '.join(_SEQ_TO_ARG)}.")
    for label, old, new in zip(["dhs", "dc_T", "W"], before, [R_h, R_c, W], strict=True):
        checks.check_unchanged(label, old, new)
    arg = _SEQ_TO_ARG[key]
    if against == "autograd":
        expected, rtol, atol = torch_grads(*problem)[arg], 1e-7, 1e-9
    else:
        target = problem[("xs", "h0", "c0", "W", "b").index(arg)].copy()
        args = list(problem)
        args[("xs", "h0", "c0", "W", "b").index(arg)] = target
        expected = numerical_gradient(lambda: sequence_loss(*args), target)
        rtol, atol = 1e-6, 1e-7
    try:
        own = lstm_backward(R_h, caches, W, R_c, step_fn=lambda *a: tuple(student_step(*a)))
        own_value = own._asdict()[key]
        own_ok = _close(got[key], own_value, 1e-7, 1e-9)
    except Exception:  # a broken step is graded in Exercise 5.2
        own_ok = False
    if own_ok and not _close(own_value, expected, rtol, atol):
        print(f"{key}: the loop is right, given your lstm_step_backward "
              "(whose mistakes Exercise 5.2's tests report)")
        return
    mistakes = {d: lstm_backward_with_mistake(R_h, caches, W, R_c, mistake=m)[key]
                for m, d in SEQUENCE_MISTAKES.items()}
    how = "PyTorch autograd through nn.LSTM" if against == "autograd" else "centred differences"
    checks.check_close(key, got[key], expected, rtol=rtol, atol=atol, mistakes=mistakes,
                       context=f"against {how}; T {T}, batch {batch}, input {input_size}, "
                               f"hidden {hidden_size}")
