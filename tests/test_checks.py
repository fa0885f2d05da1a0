"""The notebook test helpers: clear messages, named mistakes, and no easy way to fool them."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_course.scratch.rnn import rnn_step
from lstm_course.teach import checks


class AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True


class Anything:
    shape = (2,)

    def __eq__(self, other):
        return True


def test_close_values_pass():
    checks.check_close("x", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]))


def test_failure_reports_absolute_and_relative_error_and_context():
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_close("h_t", np.array([1.0, 2.5]), np.array([1.0, 2.0]), context="batch 2")
    message = str(err.value)
    assert "h_t (batch 2)" in message
    assert "max absolute error 0.5" in message
    assert "max relative error 0.111" in message


def test_failure_names_the_matching_mistake():
    with pytest.raises(checks.CheckFailed, match="It looks like the bias was left out"):
        checks.check_close("h", np.array([0.0, 1.0]), np.array([0.5, 1.5]),
                           mistakes={"tanh was left out": np.array([9.0, 9.0]),
                                     "the bias was left out": np.array([0.0, 1.0])})


def test_wrong_shape_is_reported_as_such():
    with pytest.raises(checks.CheckFailed, match=r"has shape \(3,\), expected \(2,\)"):
        checks.check_close("h", np.zeros(3), np.zeros(2))


@pytest.mark.parametrize("impostor", [Anything(), np.zeros(2).view(AlwaysEqual), [0.0, 0.0]])
def test_objects_that_are_not_exact_arrays_fail(impostor):
    with pytest.raises(checks.CheckFailed, match="should be a NumPy array"):
        checks.check_close("h", impostor, np.zeros(2))


def test_patching_numpy_comparisons_does_not_help(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    monkeypatch.setattr(np, "array_equal", lambda *a, **k: True)
    with pytest.raises(checks.CheckFailed):
        checks.check_close("h", np.ones(2), np.zeros(2))


def test_nan_answers_fail():
    with pytest.raises(checks.CheckFailed, match="NaN"):
        checks.check_close("h", np.array([np.nan, 0.0]), np.zeros(2))


def test_check_scalar_rejects_arrays_and_bools():
    with pytest.raises(checks.CheckFailed):
        checks.check_scalar("n", np.array(5.0), 5.0)
    with pytest.raises(checks.CheckFailed):
        checks.check_scalar("n", True, 1.0)
    checks.check_scalar("n", 5, 5.0)


def test_check_unchanged_catches_in_place_edits():
    a = np.arange(3.0)
    before = checks.snapshot(a)[0]
    a += 1
    with pytest.raises(checks.CheckFailed, match="modified in place"):
        checks.check_unchanged("a", before, a)


def test_numpy_only_accepts_numpy_code_and_rejects_the_reference():
    def mine(x):
        return np.tanh(x)

    def cheat(x_t, h, W_x, W_h, b):
        return rnn_step(x_t, h, W_x, W_h, b)

    def helper_cheat(x):
        return cheat(x, x, x, x, x)

    checks.assert_numpy_only(mine)
    with pytest.raises(checks.CheckFailed, match="NumPy only"):
        checks.assert_numpy_only(cheat)
    with pytest.raises(checks.CheckFailed, match="NumPy only"):
        checks.assert_numpy_only(helper_cheat)


def test_numpy_only_rejects_torch():
    import torch

    def uses_torch(x):
        return torch.tanh(torch.as_tensor(x)).numpy()

    with pytest.raises(checks.CheckFailed, match="torch"):
        checks.assert_numpy_only(uses_torch)


def test_run_checks_reports_every_failure():
    def bad():
        checks.check_close("a", np.ones(1), np.zeros(1))

    with pytest.raises(checks.CheckFailed) as err:
        checks.run_checks({"first": bad, "second": bad, "ok": lambda: None})
    assert str(err.value).count("max absolute error") == 2
