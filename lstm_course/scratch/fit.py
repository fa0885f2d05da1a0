"""Training the NumPy LSTM by hand: a read-out, softmax cross-entropy, Adam and a loop.

The model reads a sequence xs: (T, batch, I) with the packed cell of
:mod:`lstm_course.scratch.lstm` (W: (4H, H + I), b: (4H,)) and classifies from the last
hidden state: logits = h_T W_y^T + b_y, W_y: (K, H), b_y: (K,). The loss is the mean
cross-entropy over the batch. Parameters, gradients and Adam's moments are dicts with the
keys "W", "b", "W_y", "b_y".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from lstm_course.scratch.bptt import init_params
from lstm_course.scratch.lstm import lstm_forward

PARAM_KEYS = ("W", "b", "W_y", "b_y")


def init_model(input_size: int, hidden_size: int, n_classes: int, rng: np.random.Generator,
               forget_bias: float = 1.0) -> dict[str, np.ndarray]:
    """{"W": (4H, H + I), "b": (4H,), "W_y": (K, H), "b_y": (K,)}, drawn like PyTorch's defaults."""
    W, b = init_params(input_size, hidden_size, rng, forget_bias=forget_bias)
    k = 1.0 / np.sqrt(hidden_size)
    return {"W": W, "b": b, "W_y": rng.uniform(-k, k, (n_classes, hidden_size)),
            "b_y": rng.uniform(-k, k, n_classes)}


def logits(params: Mapping[str, np.ndarray], xs: np.ndarray) -> np.ndarray:
    """Scores (batch, K) read from h_T."""
    zeros = np.zeros((xs.shape[1], params["W"].shape[0] // 4))
    hs, _, _ = lstm_forward(xs, zeros, zeros, params["W"], params["b"])
    return hs[-1] @ params["W_y"].T + params["b_y"]


def accuracy(params: Mapping[str, np.ndarray], xs: np.ndarray, y: np.ndarray) -> float:
    """Fraction of the batch whose highest score is the label y: (batch,)."""
    return float(np.mean(logits(params, xs).argmax(axis=1) == y))


def reference_backward(dhs, caches, W, dc_T=None) -> dict[str, np.ndarray]:
    """:func:`lstm_course.scratch.bptt.lstm_backward` as a dict (the exercise's return form)."""
    from lstm_course.scratch.bptt import lstm_backward

    g = lstm_backward(dhs, caches, W, dc_T)
    return {"dW": g.dW, "db": g.db, "dxs": g.dxs, "dh0": g.dh0, "dc0": g.dc0}


def loss_and_grads(params: Mapping[str, np.ndarray], xs: np.ndarray, y: np.ndarray,
                   backward: Callable = reference_backward) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy of the classes y: (batch,) and its gradient for every parameter.

    ``backward(dhs, caches, W, dc_T)`` is the sequence backward pass; it must return a mapping
    with "dW" and "db". The read-out's gradients are written here: with p = softmax(logits),
    dlogits = (p - onehot(y)) / batch, dW_y = dlogits^T h_T, dh_T = dlogits W_y.
    """
    B, H = xs.shape[1], params["W"].shape[0] // 4
    zeros = np.zeros((B, H))
    hs, _, caches = lstm_forward(xs, zeros, zeros, params["W"], params["b"])
    scores = hs[-1] @ params["W_y"].T + params["b_y"]
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(p[np.arange(B), y])))
    dscores = p.copy()
    dscores[np.arange(B), y] -= 1.0
    dscores /= B
    dhs = np.zeros_like(hs)
    dhs[-1] = dscores @ params["W_y"]
    g = backward(dhs, caches, params["W"], np.zeros((B, H)))
    return loss, {"W": g["dW"], "b": g["db"], "W_y": dscores.T @ hs[-1], "b_y": dscores.sum(axis=0)}


def adam_step(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float = 1e-2,
              beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam update (Kingma and Ba, 2015) of a parameter p with gradient g, step t = 1, 2, ...

    Returns new (p, m, v); nothing is changed in place.
    """
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adam_with_mistake(p, g, m, v, t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, *, mistake: str):
    """:func:`adam_step` with one of :data:`ADAM_MISTAKES` made on purpose."""
    m = beta1 * g + (1 - beta1) * m if mistake == "betas_swapped" else beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * (np.abs(g) if mistake == "v_not_squared" else g ** 2)
    if mistake == "no_bias_correction":
        m_hat, v_hat = m, v
    else:
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    scale = v_hat if mistake == "no_sqrt" else np.sqrt(v_hat)
    sign = -1.0 if mistake == "ascent" else 1.0
    return p - sign * lr * m_hat / (scale + eps), m, v


#: Slips in Adam, as :func:`adam_with_mistake` ``mistake`` keys.
ADAM_MISTAKES: dict[str, str] = {
    "no_bias_correction": "the bias correction is missing (m_hat = m / (1 - beta1^t), v_hat likewise)",
    "ascent": "the step goes up the gradient (p - lr * ..., not p + lr * ...)",
    "v_not_squared": "v averages |g| instead of g^2",
    "no_sqrt": "the step divides by v_hat instead of sqrt(v_hat)",
    "betas_swapped": "m mixes beta1 * g + (1 - beta1) * m; it is beta1 * m + (1 - beta1) * g",
}


def check_adam(student_fn: Callable, seed: int, t: int, shape: tuple[int, ...] = (3, 4),
               lr: float = 1e-2) -> None:
    """Test a learner's ``adam_step(p, g, m, v, t, lr)`` on random arrays at step t, naming a
    recognised mistake; fails if an input changes or the result is not (p, m, v)."""
    from lstm_course.teach import checks

    r = np.random.default_rng(seed)
    p, g = r.standard_normal(shape), r.standard_normal(shape)
    m, v = 0.1 * r.standard_normal(shape), 0.1 * r.random(shape)
    before = checks.snapshot(p, g, m, v)
    got = student_fn(p, g, m, v, t, lr)
    if not isinstance(got, tuple) or len(got) != 3:
        raise checks.CheckFailed("adam_step should return a tuple of three arrays (p, m, v).")
    for label, old, new in zip(["p", "g", "m", "v"], before, [p, g, m, v], strict=True):
        checks.check_unchanged(label, old, new)
    right = adam_step(p, g, m, v, t, lr)
    wrong = {d: adam_with_mistake(p, g, m, v, t, lr, mistake=k) for k, d in ADAM_MISTAKES.items()}
    checks.run_checks({
        f"{name} (step t = {t})": (lambda k=k, name=name: checks.check_close(
            name, got[k], right[k], rtol=1e-9, atol=1e-12, mistakes={d: w[k] for d, w in wrong.items()}))
        for k, name in enumerate(["the new p", "the new m", "the new v"])
    })
