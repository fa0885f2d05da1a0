"""The LSTM cell in NumPy, gate by gate, the reference the chapters and tests compare against.

Conventions (the course's notation page lists them):

* Inputs are batches of row vectors: x_t: (batch, input_size); h_t, c_t: (batch, hidden_size).
* A gate reads the concatenation z_t = [h_{t-1}, x_t]: (batch, hidden_size + input_size),
  and its weights are (out, in) as in PyTorch: W_f: (hidden_size, hidden_size + input_size),
  b_f: (hidden_size,), so f_t = sigmoid(z_t @ W_f.T + b_f).
* The packed form stacks the four blocks in PyTorch's order i, f, g, o (g is the candidate
  c~_t): W: (4 * hidden_size, hidden_size + input_size), b: (4 * hidden_size,).

The equations, for one step:

    f_t = sigmoid(W_f z_t + b_f)          forget gate
    i_t = sigmoid(W_i z_t + b_i)          input gate
    g_t = tanh(W_g z_t + b_g)             candidate memory c~_t
    o_t = sigmoid(W_o z_t + b_o)          output gate
    c_t = f_t * c_{t-1} + i_t * g_t       cell state (long-term memory)
    h_t = o_t * tanh(c_t)                 hidden state (short-term memory)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

GATE_ORDER = ("i", "f", "g", "o")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-z)), stable for any z (no overflow warning at +-1000).

    For z >= 0 it computes 1 / (1 + exp(-z)); for z < 0 the equal exp(z) / (1 + exp(z)),
    so exp never sees a large positive argument.
    """
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def concat(h_prev: np.ndarray, x_t: np.ndarray) -> np.ndarray:
    """z_t = [h_{t-1}, x_t]: (batch, hidden + input)."""
    return np.concatenate([h_prev, x_t], axis=-1)


def gate(x_t: np.ndarray, h_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A sigmoid gate (forget, input or output): sigmoid([h_{t-1}, x_t] @ W.T + b)."""
    return sigmoid(concat(h_prev, x_t) @ W.T + b)


def candidate(x_t: np.ndarray, h_prev: np.ndarray, W_g: np.ndarray, b_g: np.ndarray) -> np.ndarray:
    """The candidate memory c~_t = tanh([h_{t-1}, x_t] @ W_g.T + b_g), values in (-1, 1)."""
    return np.tanh(concat(h_prev, x_t) @ W_g.T + b_g)


def cell_update(f_t: np.ndarray, c_prev: np.ndarray, i_t: np.ndarray,
                g_t: np.ndarray) -> np.ndarray:
    """c_t = f_t * c_{t-1} + i_t * c~_t (all (batch, hidden))."""
    return f_t * c_prev + i_t * g_t


def hidden_update(o_t: np.ndarray, c_t: np.ndarray) -> np.ndarray:
    """h_t = o_t * tanh(c_t)."""
    return o_t * np.tanh(c_t)


def split_gates(W: np.ndarray) -> dict[str, np.ndarray]:
    """Split a packed (4H, ...) weight or (4H,) bias into its i, f, g, o blocks."""
    return dict(zip(GATE_ORDER, np.split(W, 4, axis=0), strict=True))


class StepCache(NamedTuple):
    """What one forward step keeps for the backward pass (all (batch, ...))."""

    z: np.ndarray       # [h_{t-1}, x_t]
    c_prev: np.ndarray
    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    tanh_c: np.ndarray


def lstm_step_cached(x_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, W: np.ndarray,
                     b: np.ndarray) -> tuple[np.ndarray, np.ndarray, StepCache]:
    """One LSTM step with packed weights W: (4H, H + I), b: (4H,). Returns (h_t, c_t, cache)."""
    z = concat(h_prev, x_t)
    a = z @ W.T + b
    H = h_prev.shape[-1]
    i, f, o = sigmoid(a[..., :H]), sigmoid(a[..., H:2 * H]), sigmoid(a[..., 3 * H:])
    g = np.tanh(a[..., 2 * H:3 * H])
    c = cell_update(f, c_prev, i, g)
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, StepCache(z, c_prev, i, f, g, o, c, tanh_c)


def lstm_step(x_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, W: np.ndarray,
              b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step with packed weights (gate order i, f, g, o). Returns (h_t, c_t)."""
    h, c, _ = lstm_step_cached(x_t, h_prev, c_prev, W, b)
    return h, c


def lstm_forward(xs: np.ndarray, h0: np.ndarray, c0: np.ndarray, W: np.ndarray,
                 b: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[StepCache]]:
    """Run the cell over xs: (T, batch, input). Returns hs, cs: (T, batch, hidden) and the caches."""
    hs, cs, caches = [], [], []
    h, c = h0, c0
    for x_t in xs:
        h, c, cache = lstm_step_cached(x_t, h, c, W, b)
        hs.append(h)
        cs.append(c)
        caches.append(cache)
    return np.stack(hs), np.stack(cs), caches


def params_from_torch(module, layer: int = 0, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Packed (W, b) for the NumPy cell from an ``nn.LSTMCell`` or one layer of an ``nn.LSTM``.

    PyTorch keeps W_ih: (4H, I) and W_hh: (4H, H) with the gates in order i, f, g, o, and two
    biases b_ih and b_hh that are simply added. Our cell reads [h_{t-1}, x_t], so
    W = [W_hh | W_ih] and b = b_ih + b_hh. ``suffix="_reverse"`` picks the backward direction.
    Works with no bias (zeros) but not with proj_size > 0.
    """
    names = dict(module.named_parameters())
    tag = "" if "weight_ih" in names else f"_l{layer}{suffix}"
    W_ih = names[f"weight_ih{tag}"].detach().cpu().numpy()
    W_hh = names[f"weight_hh{tag}"].detach().cpu().numpy()
    if W_hh.shape[1] * 4 != W_hh.shape[0]:
        raise ValueError("params_from_torch does not support proj_size > 0")
    b = np.zeros(W_ih.shape[0], dtype=W_ih.dtype)
    for name in (f"bias_ih{tag}", f"bias_hh{tag}"):
        if name in names:
            b = b + names[name].detach().cpu().numpy()
    return np.concatenate([W_hh, W_ih], axis=1), b
