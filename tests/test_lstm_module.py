"""The course's nn.Module LSTM: a control test against nn.LSTM for every configuration
(float64: outputs and gradients to 1e-10), the cell protocol, and the speed helpers."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from lstm_course import LSTM
from lstm_course.modules.lstm import Layer, LSTMCell
from lstm_course.teach.timing import IMPLEMENTATIONS, NaiveLSTM, compare, format_table

f64 = torch.float64
CONFIGS = list(itertools.product([1, 3], [False, True], [False, True], [0, 2], [True, False]))


def _run(module, x, hx):
    out, (h, c) = module(x, hx)
    gen = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=f64)).sum() for t in (out, h, c))
    params = list(module.parameters())
    grads = torch.autograd.grad(loss, [x, *hx, *params])
    return (out, h, c), grads


@pytest.mark.parametrize("num_layers,bidirectional,batch_first,proj_size,bias", CONFIGS)
def test_outputs_and_gradients_equal_nn_lstm_in_float64(num_layers, bidirectional, batch_first,
                                                        proj_size, bias):
    torch.manual_seed(num_layers + 2 * bidirectional + 4 * batch_first + proj_size)
    ref = nn.LSTM(3, 4, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                  proj_size=proj_size, dtype=f64)
    ours = LSTM.from_torch(ref)
    T, B, D = 6, 5, 2 if bidirectional else 1
    x = torch.randn((B, T, 3) if batch_first else (T, B, 3), dtype=f64, requires_grad=True)
    hx = (torch.randn(num_layers * D, B, proj_size or 4, dtype=f64, requires_grad=True),
          torch.randn(num_layers * D, B, 4, dtype=f64, requires_grad=True))
    (ref_out, ref_grads), (our_out, our_grads) = _run(ref, x, hx), _run(ours, x, hx)
    for name, a, b in zip(["output", "h_n", "c_n"], our_out, ref_out, strict=True):
        assert a.shape == b.shape, name
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=name)
    assert len(our_grads) == len(ref_grads)
    for a, b in zip(our_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_fast_path_and_step_loop_give_the_same_numbers():
    torch.manual_seed(0)
    fast = LSTM(3, 5, num_layers=2, bidirectional=True, dtype=f64)
    slow = LSTM(3, 5, num_layers=2, bidirectional=True, dtype=f64)
    slow.load_state_dict(fast.state_dict())
    for cell in slow.cells():
        cell.fast_sequence = False
    x = torch.randn(7, 2, 3, dtype=f64)
    for a, b in zip(fast(x)[1], slow(x)[1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_default_state_is_zeros_and_unbatched_input_works():
    torch.manual_seed(1)
    ref = nn.LSTM(3, 4, num_layers=2, dtype=f64)
    ours = LSTM.from_torch(ref)
    x = torch.randn(5, 3, dtype=f64)
    with torch.no_grad():
        out, (h, c) = ours(x)
        ref_out, (ref_h, ref_c) = ref(x)
    assert out.shape == (5, 4) and h.shape == (2, 4)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(c, ref_c, rtol=0, atol=1e-12)


def test_default_initialisation_is_uniform_in_one_over_sqrt_hidden():
    lstm = LSTM(10, 64, num_layers=2, proj_size=8)
    bound = 1 / 64 ** 0.5
    for name, p in lstm.named_parameters():
        assert p.abs().max() <= bound, name
        assert p.abs().max() > 0.9 * bound, name


def test_parameter_shapes_follow_nn_lstm():
    ours = LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    ref = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    ref_shapes = [tuple(p.shape) for p in ref.parameters()]
    assert [tuple(p.shape) for p in ours.parameters()] == ref_shapes


def test_dropout_acts_between_layers_only_in_training():
    torch.manual_seed(2)
    ref = nn.LSTM(3, 4, num_layers=2, dropout=0.5, dtype=f64)
    ours = LSTM.from_torch(ref)
    x = torch.randn(6, 2, 3, dtype=f64)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-12)
    ours.train()
    torch.manual_seed(3)
    a = ours(x)[0]
    torch.manual_seed(4)
    assert not torch.allclose(a, ours(x)[0])


def test_invalid_arguments_and_packed_input_raise_clear_errors():
    with pytest.raises(ValueError, match="proj_size"):
        LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="dropout"):
        LSTM(3, 4, dropout=1.5)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(4, 2, 3), [4, 2])
    with pytest.raises(NotImplementedError, match="PackedSequence"):
        LSTM(3, 4)(packed)
    with pytest.raises(ValueError, match="input"):
        LSTM(3, 4)(torch.randn(4, 2, 5))


class _ElmanCell(nn.Module):
    """A minimal cell without input_projection: the protocol's plain form (h_t = tanh(...))."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.linear = nn.Linear(input_size + hidden_size, hidden_size, bias=bias)

    def init_state(self, batch, dtype, device):
        return (torch.zeros(batch, self.hidden_size, dtype=dtype, device=device),)

    def forward(self, x_t, state):
        h = torch.tanh(self.linear(torch.cat([state[0], x_t], dim=1)))
        return h, (h,)


def test_a_custom_cell_plugs_into_the_stack_and_matches_nn_rnn():
    torch.manual_seed(5)
    rnn = nn.RNN(3, 4, num_layers=2, bidirectional=True, dtype=f64)
    ours = LSTM(3, 4, num_layers=2, bidirectional=True, cell=_ElmanCell, dtype=f64)
    names = dict(rnn.named_parameters())
    with torch.no_grad():
        for l, directions in enumerate(ours.layers):
            for d, layer in enumerate(directions):
                s = f"_l{l}" + ("_reverse" if d else "")
                layer.cell.linear.weight.copy_(torch.cat([names["weight_hh" + s], names["weight_ih" + s]], 1))
                layer.cell.linear.bias.copy_(names["bias_ih" + s] + names["bias_hh" + s])
    x = torch.randn(5, 2, 3, dtype=f64)
    h0 = torch.randn(4, 2, 4, dtype=f64)
    out, h_n = ours(x, h0)          # a one-tensor state is passed and returned as a tensor
    ref_out, ref_h = rnn(x, h0)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, ref_h, rtol=0, atol=1e-12)


def test_reverse_layer_keeps_outputs_aligned_with_inputs():
    torch.manual_seed(6)
    cell = LSTMCell(2, 3, dtype=f64)
    x = torch.randn(4, 1, 2, dtype=f64)
    out_rev, _ = Layer(cell, reverse=True)(x)
    out_fwd, _ = Layer(cell)(x.flip(0))
    torch.testing.assert_close(out_rev, out_fwd.flip(0))


def test_lstm_cell_steps_like_nn_lstmcell():
    torch.manual_seed(7)
    ref = nn.LSTMCell(3, 4, dtype=f64)
    cell = LSTMCell(3, 4, dtype=f64)
    cell.load_state_dict(ref.state_dict())
    x, h, c = (torch.randn(2, n, dtype=f64) for n in (3, 4, 4))
    h1, (h1_again, c1) = cell(x, (h, c))
    ref_h, ref_c = ref(x, (h, c))
    assert h1 is h1_again
    torch.testing.assert_close(h1, ref_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c1, ref_c, rtol=0, atol=1e-12)


def test_naive_lstm_matches_a_one_layer_nn_lstm():
    torch.manual_seed(8)
    ref = nn.LSTM(3, 4, dtype=f64)
    x = torch.randn(5, 2, 3, dtype=f64)
    out, (h, c) = NaiveLSTM.from_torch(ref)(x)
    ref_out, (ref_h, ref_c) = ref(x)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(c, ref_c, rtol=0, atol=1e-12)


def test_benchmark_helpers_time_every_implementation():
    medians = compare(IMPLEMENTATIONS, T=3, B=2, I=2, H=3, repeats=1, warmup=0)
    assert set(medians) == set(IMPLEMENTATIONS) and all(m > 0 for m in medians.values())
    row = {"T": 3, "B": 2, "I": 2, "H": 3, "pass": "forward", **{k: 1e3 * v for k, v in medians.items()}}
    assert "nn.LSTM" in format_table([row])


def test_onednn_switch_restores_the_previous_setting():
    from lstm_course.teach.timing import onednn

    before = torch.backends.mkldnn.enabled
    with onednn(False):
        assert torch.backends.mkldnn.enabled is False
    assert torch.backends.mkldnn.enabled == before


def test_recurrence_timer_returns_positive_seconds_for_both_loops():
    from lstm_course.teach.timing import recurrence_backward_time

    for use_unbind in (False, True):
        assert recurrence_backward_time(20, use_unbind=use_unbind, B=2, I=3, repeats=2, statistic="min") > 0
