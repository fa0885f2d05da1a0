"""The usual mistakes in a plain RNN's backward pass, for tests that name them.

:func:`rnn_backward_mistakes` returns what :func:`lstm_course.scratch.rnn.rnn_backward` would
give if written with one of the slips learners make (the way a TA would recognise them), so
Chapter 1's tests can say which one an answer looks like. Each entry is one mistake,
description -> {"dW_x", "dW_h", "db", "dh0"}; a mistake in one gradient's accumulation changes
only that gradient, so it costs only that gradient's points.
"""

from __future__ import annotations

import numpy as np

KEYS = ("dW_x", "dW_h", "db", "dh0")


def _backward(dhs, xs, hs, h0, W_x, W_h, *, tanh_grad=True, tanh_at_prev=False, carry=True,
              forward_loop=False, carry_transposed=False, overwrite=(), transposed=(),
              wrap_h0=False, db_per_row=False, dh0_before_step=False) -> dict[str, np.ndarray]:
    """The reference loop with switches, one per mistake (all off: the correct gradients)."""
    T = xs.shape[0]
    grads = {"dW_x": np.zeros_like(W_x), "dW_h": np.zeros_like(W_h),
             "db": np.zeros_like(hs[0]) if db_per_row else np.zeros(W_h.shape[0])}
    if "dW_x" in transposed:
        grads["dW_x"] = grads["dW_x"].T.copy()
    back = np.zeros_like(h0)
    dh0 = np.zeros_like(h0)
    for t in (range(T) if forward_loop else reversed(range(T))):
        dh = dhs[t] + (back if carry else 0.0)
        h_prev = hs[t - 1] if (t > 0 or wrap_h0) else h0
        if tanh_grad:
            da = dh * (1.0 - (h_prev if tanh_at_prev else hs[t]) ** 2)
        else:
            da = dh
        contributions = {
            "dW_x": xs[t].T @ da if "dW_x" in transposed else da.T @ xs[t],
            "dW_h": h_prev.T @ da if "dW_h" in transposed else da.T @ h_prev,
            "db": da if db_per_row else da.sum(axis=0),
        }
        for key, value in contributions.items():
            grads[key] = value if key in overwrite else grads[key] + value
        back = da @ (W_h.T if carry_transposed else W_h)
        if t == 0:
            dh0 = dh if dh0_before_step else back
    if forward_loop:
        dh0 = back
    grads["dh0"] = dh0
    return grads


def rnn_backward_mistakes(dhs: np.ndarray, xs: np.ndarray, hs: np.ndarray, h0: np.ndarray,
                          W_x: np.ndarray, W_h: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Mistaken backward passes, description -> gradients (arguments as for ``rnn_backward``)."""
    args = (dhs, xs, hs, h0, W_x, W_h)
    cases = {
        "the tanh derivative (1 - h_t**2) was left out": dict(tanh_grad=False),
        "the tanh derivative was taken at the previous state h_{t-1} instead of h_t":
            dict(tanh_at_prev=True),
        "nothing was carried back from later steps (dL/dh_t must add da_{t+1} @ W_h to dhs[t])":
            dict(carry=False),
        "the loop runs forward in time (BPTT starts at the last step: reversed(range(T)))":
            dict(forward_loop=True),
        "W_h was used transposed in the step back (for row vectors it is da @ W_h)":
            dict(carry_transposed=True),
        "at t = 0 the previous state was taken as hs[-1] (hs[t - 1] wraps around); it is h0":
            dict(wrap_h0=True),
        "dh0 is dL/dh_1, one step short (go back through the first step too: dh0 = da @ W_h at t = 0)":
            dict(dh0_before_step=True),
    }
    for key, name in (("dW_x", "dW_x"), ("dW_h", "dW_h"), ("db", "db")):
        cases[f"{name} kept only one step's contribution (sum over time: {name} += ...)"] = dict(
            overwrite=(key,))
    for key, factor in (("dW_x", "xs[t]"), ("dW_h", "h_prev")):
        cases[f"{key} is transposed (weights are (out, in): da.T @ {factor})"] = dict(transposed=(key,))
    cases["db was not summed over the batch (db += da.sum(axis=0))"] = dict(db_per_row=True)
    return {description: _backward(*args, **switches) for description, switches in cases.items()}


def for_key(mistakes: dict[str, dict[str, np.ndarray]], key: str) -> dict[str, np.ndarray]:
    """The mistakes as ``checks.check_close`` wants them for one gradient (description -> value)."""
    return {description: grads[key] for description, grads in mistakes.items()}


def check_gradient(rnn_backward, key: str, args: tuple, *, context: str = "") -> None:
    """Call the learner's ``rnn_backward(*args)`` and check its ``key`` gradient against the reference.

    ``args`` = (dhs, xs, hs, h0, W_x, W_h). Fails, with a message for the learner, if an input
    was modified, if the result is not a dict holding ``key``, or if the gradient is off; then it
    says by how much it missed and, when the answer matches one, which usual mistake it looks like.
    """
    from lstm_course.scratch.rnn import rnn_backward as reference
    from lstm_course.teach import checks

    before = checks.snapshot(*args)
    grads = rnn_backward(*args)
    for label, old, new in zip(("dhs", "xs", "hs", "h0", "W_x", "W_h"), before, args, strict=True):
        checks.check_unchanged(label, old, new)
    if type(grads) is not dict:
        raise checks.CheckFailed(
            f"rnn_backward should return a dict with the keys {', '.join(KEYS)}, "
            f"but it returned a {type(grads).__name__}.")
    if key not in grads:
        raise checks.CheckFailed(
            f"the dict returned by rnn_backward has no key {key!r} (it has {sorted(map(str, grads))}).")
    checks.check_close(key, grads[key], reference(*before)[key], rtol=1e-6, atol=1e-9,
                       context=context, mistakes=for_key(rnn_backward_mistakes(*before), key))


def backward_case(T: int, batch: int, n_in: int, n_hidden: int, seed: int, *,
                  last_only: bool = False, scale: float = 0.7) -> tuple:
    """Random inputs for ``rnn_backward``: (dhs, xs, hs, h0, W_x, W_h), with a non-zero h0.

    ``last_only``: the loss reads only the last state (dhs is zero except at t = T - 1).
    """
    from lstm_course.scratch.rnn import rnn_forward

    r = np.random.default_rng(seed)
    xs, h0 = r.standard_normal((T, batch, n_in)), r.standard_normal((batch, n_hidden))
    W_x = r.standard_normal((n_hidden, n_in))
    W_h = scale * r.standard_normal((n_hidden, n_hidden)) / np.sqrt(n_hidden)
    hs = rnn_forward(xs, h0, W_x, W_h, r.standard_normal(n_hidden))
    dhs = r.standard_normal(hs.shape)
    if last_only:
        dhs[:-1] = 0.0
    return dhs, xs, hs, h0, W_x, W_h
