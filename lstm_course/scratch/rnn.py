"""A plain (Elman) RNN in NumPy: one step, the unrolled forward pass, and backpropagation through time.

Weights follow PyTorch's convention: a weight matrix is (out_features, in_features) and
multiplies a batch of row vectors from the right, ``x @ W.T``.

Shapes:
    x_t: (batch, input_size)        xs: (T, batch, input_size)
    h_t: (batch, hidden_size)       hs: (T, batch, hidden_size), hs[t] is h_{t+1}
    W_x: (hidden_size, input_size)  W_h: (hidden_size, hidden_size)  b: (hidden_size,)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rnn_step(x_t: np.ndarray, h_prev: np.ndarray, W_x: np.ndarray, W_h: np.ndarray,
             b: np.ndarray) -> np.ndarray:
    """h_t = tanh(W_x x_t + W_h h_{t-1} + b), for a batch. Returns (batch, hidden_size)."""
    return np.tanh(x_t @ W_x.T + h_prev @ W_h.T + b)


def rnn_forward(xs: np.ndarray, h0: np.ndarray, W_x: np.ndarray, W_h: np.ndarray,
                b: np.ndarray) -> np.ndarray:
    """Run :func:`rnn_step` over time. xs: (T, batch, input); returns hs: (T, batch, hidden)."""
    hs = np.empty((xs.shape[0], *h0.shape), dtype=np.result_type(xs, h0, W_h))
    h = h0
    for t, x_t in enumerate(xs):
        h = rnn_step(x_t, h, W_x, W_h, b)
        hs[t] = h
    return hs


def rnn_backward(dhs: np.ndarray, xs: np.ndarray, hs: np.ndarray, h0: np.ndarray,
                 W_x: np.ndarray, W_h: np.ndarray) -> dict[str, np.ndarray]:
    """Backpropagation through time for :func:`rnn_forward`.

    dhs: (T, batch, hidden), the gradient of the loss reaching each h_t directly (from outputs).
    Returns the gradients dW_x, dW_h, db, dxs, dh0, and dh: (T, batch, hidden), the total
    gradient dL/dh_t, which includes what flows back from later steps.
    """
    T = xs.shape[0]
    dW_x, dW_h = np.zeros_like(W_x), np.zeros_like(W_h)
    db = np.zeros(W_h.shape[0], dtype=W_h.dtype)
    dxs, dh = np.zeros_like(xs), np.zeros_like(hs)
    carry = np.zeros_like(h0)
    for t in reversed(range(T)):
        dh[t] = dhs[t] + carry
        da = dh[t] * (1.0 - hs[t] ** 2)  # through tanh
        h_prev = hs[t - 1] if t > 0 else h0
        dW_x += da.T @ xs[t]
        dW_h += da.T @ h_prev
        db += da.sum(axis=0)
        dxs[t] = da @ W_x
        carry = da @ W_h
    return {"dW_x": dW_x, "dW_h": dW_h, "db": db, "dxs": dxs, "dh0": carry, "dh": dh}


def hidden_grad_norms(hs: np.ndarray, W_h: np.ndarray, g_T: np.ndarray) -> np.ndarray:
    """Norms of dL/dh_t for every t, when the loss reads only the last state h_T.

    Each step back multiplies by the Jacobian dh_t/dh_{t-1} = diag(1 - h_t^2) W_h, so
    dL/dh_{t-1} = (dL/dh_t * (1 - h_t^2)) @ W_h. g_T = dL/dh_T: (batch, hidden).
    Returns (T,): entry t is the Frobenius norm (over the batch) of dL/dh at hs[t].
    """
    T = hs.shape[0]
    norms = np.empty(T)
    g = g_T
    for t in reversed(range(T)):
        norms[t] = np.linalg.norm(g)
        g = (g * (1.0 - hs[t] ** 2)) @ W_h
    return norms


def clip_by_norm(grads: Sequence[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Rescale a list of gradients so their *global* L2 norm is at most ``max_norm``.

    Returns new arrays (the inputs are left untouched) and the norm before clipping.
    Clipping keeps the direction; only the length changes.
    """
    total = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    return [g * scale for g in grads], total


def orthogonal_recurrent_weights(hidden_size: int, scale: float,
                                 rng: np.random.Generator) -> np.ndarray:
    """A recurrent matrix whose singular values all equal ``scale`` (scale times an orthogonal Q)."""
    q, r = np.linalg.qr(rng.standard_normal((hidden_size, hidden_size)))
    return scale * q * np.sign(np.diag(r))
