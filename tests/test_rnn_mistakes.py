"""Chapter 1's BPTT exercise: the mistake catalogue is faithful, and each planted mistake is named.

Every mistaken ``rnn_backward`` below is written the way a learner would write it (the correct
loop with one slip); the test checks that the chapter's grading helper fails exactly the
gradients the slip changes, and names the slip.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_course.scratch import rnn as ref
from lstm_course.teach import checks, rnn_mistakes

CORRECT = '''
def rnn_backward(dhs, xs, hs, h0, W_x, W_h):
    dW_x, dW_h, db = np.zeros_like(W_x), np.zeros_like(W_h), np.zeros(W_h.shape[0])
    carry = np.zeros_like(h0)
    for t in reversed(range(xs.shape[0])):
        dh = dhs[t] + carry
        da = dh * (1.0 - hs[t] ** 2)
        h_prev = hs[t - 1] if t > 0 else h0
        dW_x += da.T @ xs[t]
        dW_h += da.T @ h_prev
        db += da.sum(axis=0)
        carry = da @ W_h
    return {"dW_h": dW_h, "dW_x": dW_x, "db": db, "dh0": carry}
'''
ALL = ("dW_h", "dW_x", "db", "dh0")

# name -> (edits to CORRECT, the gradients that must fail, words the message must contain)
PLANTED = {
    "missing tanh'": ([("da = dh * (1.0 - hs[t] ** 2)", "da = dh")], ALL,
                      "tanh derivative (1 - h_t**2) was left out"),
    "tanh' at the previous state": (
        [("        da = dh * (1.0 - hs[t] ** 2)\n        h_prev = hs[t - 1] if t > 0 else h0\n",
          "        h_prev = hs[t - 1] if t > 0 else h0\n        da = dh * (1.0 - h_prev ** 2)\n")],
        ALL, "previous state h_{t-1} instead of h_t"),
    "no carry from later steps": ([("dh = dhs[t] + carry", "dh = dhs[t]")], ALL, "nothing was carried back"),
    "loop in the wrong direction": ([("reversed(range(xs.shape[0]))", "range(xs.shape[0])")], ALL,
                                    "loop runs forward in time"),
    "W_h transposed in the step back": ([("carry = da @ W_h", "carry = da @ W_h.T")], ALL,
                                        "W_h was used transposed"),
    "dW_h not summed over time": ([("dW_h += da.T @ h_prev", "dW_h = da.T @ h_prev")], ("dW_h",),
                                  "dW_h kept only one step's contribution"),
    "dW_x not summed over time": ([("dW_x += da.T @ xs[t]", "dW_x = da.T @ xs[t]")], ("dW_x",),
                                  "dW_x kept only one step's contribution"),
    "db not summed over time": ([("db += da.sum(axis=0)", "db = da.sum(axis=0)")], ("db",),
                                "db kept only one step's contribution"),
    "db not summed over the batch": ([("np.zeros(W_h.shape[0])", "0.0"),
                                      ("db += da.sum(axis=0)", "db += da")], ("db",),
                                     "not summed over the batch"),
    "hs[t - 1] at t = 0": ([("h_prev = hs[t - 1] if t > 0 else h0", "h_prev = hs[t - 1]")], ("dW_h",),
                           "wraps around"),
    "dW_h transposed": ([("dW_h += da.T @ h_prev", "dW_h += h_prev.T @ da")], ("dW_h",),
                        "dW_h is transposed"),
    "dW_x transposed": ([("np.zeros_like(W_x), np.zeros_like(W_h)",
                          "np.zeros_like(W_x.T), np.zeros_like(W_h)"),
                         ("dW_x += da.T @ xs[t]", "dW_x += xs[t].T @ da")], ("dW_x",), "dW_x is transposed"),
    "dh0 one step short": ([('"dh0": carry}', '"dh0": dh}')], ("dh0",), "one step short"),
    "dhs modified in place": ([("dh = dhs[t] + carry", "dhs[t] += carry\n        dh = dhs[t]")], ALL,
                              "dhs was modified in place"),
    "a tuple instead of a dict": ([('return {"dW_h": dW_h, "dW_x": dW_x, "db": db, "dh0": carry}',
                                    "return dW_h, dW_x, db, carry")], ALL, "should return a dict"),
    "a misspelt key": ([('"dW_h": dW_h', '"dWh": dW_h')], ("dW_h",), "no key 'dW_h'"),
}
CASES = [dict(T=4, batch=2, n_in=3, n_hidden=5, seed=40), dict(T=9, batch=4, n_in=3, n_hidden=6, seed=41),
         dict(T=6, batch=3, n_in=4, n_hidden=4, seed=42), dict(T=12, batch=2, n_in=5, n_hidden=3, seed=43,
                                                                 last_only=True)]


def _function(edits):
    source = CORRECT
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    namespace = {"np": np}
    exec(source, namespace)
    return namespace["rnn_backward"]


def _outcome(func, key):
    """None if every case passes, else the first failure message."""
    for case in CASES:
        try:
            rnn_mistakes.check_gradient(func, key, rnn_mistakes.backward_case(**case))
        except checks.CheckFailed as err:
            return str(err)
    return None


def test_the_catalogue_with_no_mistake_is_the_reference_backward_pass():
    args = rnn_mistakes.backward_case(7, 3, 4, 5, seed=0)
    ours, theirs = rnn_mistakes._backward(*args), ref.rnn_backward(*args)
    for key in ALL:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12)


def test_every_catalogued_mistake_changes_some_gradient():
    args = rnn_mistakes.backward_case(5, 3, 4, 6, seed=1)
    correct = ref.rnn_backward(*args)
    for description, grads in rnn_mistakes.rnn_backward_mistakes(*args).items():
        changed = [k for k in ALL
                   if grads[k].shape != correct[k].shape or not np.allclose(grads[k], correct[k])]
        assert changed, description


def test_the_correct_answer_earns_every_gradient():
    func = _function([])
    assert all(_outcome(func, key) is None for key in ALL)


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_planted_mistake_loses_exactly_its_gradients_and_is_named(name):
    edits, failing, words = PLANTED[name]
    func = _function(edits)
    for key in ALL:
        message = _outcome(func, key)
        if key in failing:
            assert message is not None and words in message, f"{key}: {message}"
        else:
            assert message is None, f"{key} should pass but: {message}"
