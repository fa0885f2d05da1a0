"""Chapter 5's exercise checks against the mistakes a learner makes: every planted mistake fails
the test of the gradient it breaks, with a message that names it, and no other gradient's test."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_course.scratch import bptt as ref
from lstm_course.scratch import fit
from lstm_course.teach.checks import CheckFailed

SEQ_KEYS = ("dW", "db", "dxs", "dh0", "dc0")


def _failures(check, keys) -> dict:
    """{key: message} for every key whose check fails."""
    out = {}
    for key in keys:
        try:
            check(key)
        except CheckFailed as err:
            out[key] = str(err)
    return out


def test_the_reference_answers_pass_every_check():
    assert not _failures(lambda k: ref.check_cell_gradient(ref.cell_backward, k, 3, 2, 4, 0), ref.CELL_KEYS)
    assert not _failures(lambda i: ref.check_step_from_gates(ref.lstm_step_backward, ref.cell_backward, i,
                                                             3, 2, 4, 0), range(4))
    assert not _failures(lambda k: ref.check_sequence_gradient(fit.reference_backward, ref.lstm_step_backward,
                                                               k, 4, 2, 3, 3, 0), SEQ_KEYS)
    assert not _failures(lambda k: ref.check_sequence_gradient(fit.reference_backward, ref.lstm_step_backward,
                                                               k, 3, 2, 2, 2, 1, against="centred"), SEQ_KEYS)
    fit.check_adam(fit.adam_step, seed=0, t=1)


# The gradients each mistake must break; all others must still pass.
CELL_BREAKS = {"no_tanh_grad": {"da_i", "da_f", "da_g", "dc_prev"}, "c_for_c_prev": {"da_f"},
               "df_no_sigmoid_grad": {"da_f"}, "df_wrong_sign": {"da_f"}, "do_no_sigmoid_grad": {"da_o"},
               "do_no_tanh_c": {"da_o"}, "do_from_dc": {"da_o"}, "do_tanh_grad": {"da_o"},
               "tanh_grad_not_squared": {"da_g"}, "dc_only": {"dc_prev"}, "dc_prev_no_f": {"dc_prev"},
               "dc_prev_f_next": {"dc_prev"}}


@pytest.mark.parametrize("mistake", ref.CELL_MISTAKES)
def test_a_cell_mistake_loses_only_its_gradients_and_is_named(mistake):
    def student(dh, dc, cache):
        return ref.cell_backward(dh, dc, cache, mistake=mistake)

    failed = _failures(lambda k: ref.check_cell_gradient(student, k, 3, 2, 4, 7), ref.CELL_KEYS)
    assert set(failed) == CELL_BREAKS[mistake]
    assert all(ref.CELL_MISTAKES[mistake] in message for message in failed.values()), failed


STEP_BREAKS = {"order_ifog": {0, 1, 2, 3}, "db_mean": {1}, "swap_z": {2, 3}}


@pytest.mark.parametrize("mistake", ref.STEP_MISTAKES)
def test_a_step_mistake_is_caught_and_named(mistake):
    def student(dh, dc, cache, W):
        return tuple(ref.step_from_gate_grads(ref.cell_backward(dh, dc, cache), cache, W, mistake=mistake))

    failed = _failures(lambda i: ref.check_step_from_gates(student, ref.cell_backward, i, 3, 2, 4, 8),
                       range(4))
    assert set(failed) == STEP_BREAKS[mistake]
    assert all(ref.STEP_MISTAKES[mistake] in message for message in failed.values()), failed


def test_a_wrong_gate_gradient_is_not_charged_again_in_the_step():
    def cell(dh, dc, cache):
        return ref.cell_backward(dh, dc, cache, mistake="df_no_sigmoid_grad")

    def step(dh, dc, cache, W):
        return tuple(ref.step_from_gate_grads(cell(dh, dc, cache), cache, W))

    assert not _failures(lambda i: ref.check_step_from_gates(step, cell, i, 3, 2, 4, 8), range(4))


SEQUENCE_BREAKS = {"not_summed": {"dW", "db"}, "dxs_reversed": {"dxs"}}


@pytest.mark.parametrize("mistake", ref.SEQUENCE_MISTAKES)
def test_a_sequence_mistake_is_caught_and_named(mistake):
    def student(dhs, caches, W, dc_T):
        return ref.lstm_backward_with_mistake(dhs, caches, W, dc_T, mistake=mistake)

    failed = _failures(
        lambda k: ref.check_sequence_gradient(student, ref.lstm_step_backward, k, 4, 2, 3, 3, 9), SEQ_KEYS)
    assert set(failed) == SEQUENCE_BREAKS.get(mistake, set(SEQ_KEYS))
    assert all(ref.SEQUENCE_MISTAKES[mistake] in message for message in failed.values()), failed


def test_a_wrong_step_is_not_charged_again_in_the_sequence():
    def step(dh, dc, cache, W):
        return tuple(ref.step_backward_with_mistake(dh, dc, cache, W, no_tanh_grad=True))

    def student(dhs, caches, W, dc_T):
        grads = ref.lstm_backward(dhs, caches, W, dc_T, step_fn=step)._asdict()
        return {k: grads[k] for k in SEQ_KEYS}

    assert not _failures(lambda k: ref.check_sequence_gradient(student, step, k, 4, 2, 3, 3, 9), SEQ_KEYS)


@pytest.mark.parametrize("mistake", fit.ADAM_MISTAKES)
def test_an_adam_mistake_is_caught_and_named(mistake):
    def student(p, g, m, v, t, lr):
        return fit.adam_with_mistake(p, g, m, v, t, lr, mistake=mistake)

    with pytest.raises(CheckFailed) as failed:
        fit.check_adam(student, seed=3, t=4)
    assert fit.ADAM_MISTAKES[mistake] in str(failed.value)


def test_checks_refuse_answers_that_change_their_inputs():
    def cell(dh, dc, cache):
        dh *= 2
        return ref.cell_backward(dh, dc, cache)

    with pytest.raises(CheckFailed, match="modified in place"):
        ref.check_cell_gradient(cell, "da_o", 2, 3, 2, 0)

    def adam(p, g, m, v, t, lr):
        m *= 0.9
        return fit.adam_step(p, g, m, v, t, lr)

    with pytest.raises(CheckFailed, match="modified in place"):
        fit.check_adam(adam, seed=1, t=2)


def test_adam_matches_torch_adam():
    import torch

    r = np.random.default_rng(0)
    p0, grads = r.standard_normal(5), r.standard_normal((3, 5))
    param = torch.nn.Parameter(torch.tensor(p0))
    opt = torch.optim.Adam([param], lr=0.1)
    p, m, v = p0, np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, start=1):
        param.grad = torch.tensor(g)
        opt.step()
        p, m, v = fit.adam_step(p, g, m, v, t, lr=0.1)
    np.testing.assert_allclose(p, param.detach().numpy(), rtol=1e-12)


def test_loss_and_grads_match_centred_differences():
    rng = np.random.default_rng(4)
    params = fit.init_model(3, 4, 3, rng)
    xs, y = rng.standard_normal((5, 2, 3)), np.array([0, 2])
    _, grads = fit.loss_and_grads(params, xs, y)
    for key, value in params.items():
        numeric = ref.numerical_gradient(lambda: fit.loss_and_grads(params, xs, y)[0], value)
        assert ref.relative_error(grads[key], numeric) < 1e-7, key
