"""The course's nn.Module LSTM as a drop-in for nn.LSTM: a control test against nn.LSTM for every
configuration, padded and packed (float64: outputs, states and gradients to 1e-10), state_dict
interchange both ways, nn.LSTM's checks on shapes, the cell protocol, and the speed helpers."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_sequence

from lstm_course import LSTM
from lstm_course.modules.lstm import Layer, LSTMCell
from lstm_course.teach.timing import IMPLEMENTATIONS, NaiveLSTM, compare, format_table

f64 = torch.float64
CONFIGS = list(itertools.product([1, 3], [False, True], [False, True], [0, 2], [True, False]))
CONFIG_NAMES = "num_layers,bidirectional,batch_first,proj_size,bias"
LENGTHS = [5, 2, 6, 1, 5]          # unsorted, with a tie and a sequence of one step


def _pair(num_layers, bidirectional, batch_first, proj_size, bias, seed):
    torch.manual_seed(seed)
    ref = nn.LSTM(3, 4, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                  proj_size=proj_size, dtype=f64)
    return ref, LSTM.from_torch(ref)


def _initial_state(ref, B):
    D = 2 if ref.bidirectional else 1
    return (torch.randn(ref.num_layers * D, B, ref.proj_size or 4, dtype=f64, requires_grad=True),
            torch.randn(ref.num_layers * D, B, 4, dtype=f64, requires_grad=True))


def _run(module, make_input, x, hx):
    """Outputs (output or packed data, h_n, c_n) and the gradients of a fixed random loss with
    respect to the padded input x, h_0, c_0 and every parameter; make_input() builds the input from x."""
    out, (h, c) = module(make_input(), hx)
    out = out.data if isinstance(out, PackedSequence) else out
    gen = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=f64)).sum() for t in (out, h, c))
    grads = torch.autograd.grad(loss, [x, *(hx or ()), *module.parameters()])
    return (out, h, c), grads


def _assert_same(ours, ref, make_input, x, hx):
    (our_out, our_grads), (ref_out, ref_grads) = _run(ours, make_input, x, hx), _run(ref, make_input, x, hx)
    for name, a, b in zip(["output", "h_n", "c_n"], our_out, ref_out, strict=True):
        assert a.shape == b.shape, name
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=name)
    names = ["dL/dx", "dL/dh_0", "dL/dc_0"][:1 if hx is None else 3] + [n for n, _ in ref.named_parameters()]
    assert len(our_grads) == len(ref_grads)
    for name, a, b in zip(names, our_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=name)


@pytest.mark.parametrize(CONFIG_NAMES, CONFIGS)
def test_outputs_and_gradients_equal_nn_lstm_in_float64(num_layers, bidirectional, batch_first,
                                                        proj_size, bias):
    ref, ours = _pair(num_layers, bidirectional, batch_first, proj_size, bias,
                      seed=num_layers + 2 * bidirectional + 4 * batch_first + proj_size)
    T, B = 6, 5
    x = torch.randn((B, T, 3) if batch_first else (T, B, 3), dtype=f64, requires_grad=True)
    _assert_same(ours, ref, lambda: x, x, _initial_state(ref, B))


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize(CONFIG_NAMES, CONFIGS)
def test_packed_sequences_equal_nn_lstm_in_float64(num_layers, bidirectional, batch_first, proj_size,
                                                   bias, enforce_sorted):
    ref, ours = _pair(num_layers, bidirectional, batch_first, proj_size, bias, seed=len(LENGTHS))
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    x = pad_sequence([torch.randn(n, 3, dtype=f64) for n in lengths], batch_first=batch_first)
    x.requires_grad_(True)
    def packed():
        return pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)

    _assert_same(ours, ref, packed, x, _initial_state(ref, len(lengths)))
    _assert_same(ours, ref, packed, x, None)


def test_packed_output_keeps_the_batch_sizes_and_the_order_of_the_batch():
    ref, ours = _pair(2, True, False, 0, True, seed=3)
    x = pad_sequence([torch.randn(n, 3, dtype=f64) for n in LENGTHS])
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    out, ref_out = ours(packed)[0], ref(packed)[0]
    assert isinstance(out, PackedSequence)
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert torch.equal(getattr(out, name), getattr(ref_out, name)), name


def test_packed_sequences_work_for_any_cell_of_the_protocol():
    from lstm_course.modules.variants import GRUCell

    torch.manual_seed(9)
    ref = nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=f64)
    ours = LSTM(3, 4, num_layers=2, bidirectional=True, cell=GRUCell, dtype=f64)
    ours.load_torch_weights(ref)
    x = pad_sequence([torch.randn(n, 3, dtype=f64) for n in LENGTHS])
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    (out, h_n), (ref_out, ref_h) = ours(packed), ref(packed)
    torch.testing.assert_close(out.data, ref_out.data, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, ref_h, rtol=0, atol=1e-12)


def test_state_dicts_load_both_ways_under_nn_lstm_names():
    ref = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    ours = LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, p.shape) for n, p in ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    back = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    back.load_state_dict(LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2).state_dict())
    assert ours.weight_hh_l1_reverse.shape == (20, 2)


def test_cells_compute_with_the_stacks_current_parameters_however_they_were_replaced():
    torch.manual_seed(4)
    ref = nn.LSTM(3, 4, num_layers=2, dtype=f64)
    x = torch.randn(5, 2, 3, dtype=f64)
    expected = ref(x)[0]
    state = {k: v.detach().clone() for k, v in ref.state_dict().items()}
    copied = LSTM(3, 4, num_layers=2, dtype=f64)
    copied.load_state_dict(state)                               # copies into the same tensors
    assigned = LSTM(3, 4, num_layers=2, dtype=f64)
    assigned.load_state_dict(state, assign=True)                # new parameter objects
    converted = LSTM(3, 4, num_layers=2)
    converted.load_state_dict(state)
    converted = converted.to(f64)                               # float32 values, now in float64
    results = {"load_state_dict": copied(x)[0], "assign=True": assigned(x)[0],
               "deepcopy": copy.deepcopy(copied)(x)[0], ".to(float64)": converted(x)[0],
               "functional_call": torch.func.functional_call(LSTM(3, 4, num_layers=2, dtype=f64),
                                                             state, (x,))[0]}
    for how, got in results.items():
        tolerance = 1e-6 if how == ".to(float64)" else 1e-12
        torch.testing.assert_close(got, expected, rtol=0, atol=tolerance, msg=how)


def test_forget_bias_written_through_a_cell_changes_the_stacks_parameter():
    lstm = LSTM(3, 4)
    with torch.no_grad():
        lstm.cells()[0].bias_ih[4:8] = 7.0
    assert lstm.bias_ih_l0[4:8].eq(7.0).all()


@pytest.mark.parametrize("call,error,words", [
    (lambda m: m(torch.randn(5, 2, 6)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 3, got 6"),
    (lambda m: m(torch.randn(5, 2, 3, 1)), ValueError, "Expected input to be 2D or 3D, got 4D"),
    (lambda m: m(torch.randn(5, 2, 3, dtype=f64)), ValueError, "does not match weight dtype"),
    (lambda m: m(torch.randn(5, 2, 3), torch.zeros(2, 2, 4)), RuntimeError, "the pair (h_0, c_0)"),
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 2, 4),) * 3), RuntimeError, "got 3 tensors"),
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 3, 4), torch.zeros(2, 2, 4))), RuntimeError,
     "Expected hidden[0] size (2, 2, 4), got [2, 3, 4]"),
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 2, 4), torch.zeros(1, 2, 4))), RuntimeError,
     "Expected hidden[1] size (2, 2, 4), got [1, 2, 4]"),
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(2, 4))), RuntimeError,
     "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 2-D) tensors"),
    (lambda m: m(torch.randn(5, 3), (torch.zeros(2, 1, 4), torch.zeros(2, 1, 4))), RuntimeError,
     "For unbatched 2-D input, hx and cx should also be 2-D but got (3-D, 3-D) tensors"),
    (lambda m: m(pack_padded_sequence(torch.randn(5, 2, 3), [5, 3]),
                 (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))), RuntimeError,
     "Expected hidden[0] size (2, 2, 4), got [2, 3, 4]"),
    (lambda m: m(pack_padded_sequence(torch.randn(5, 2, 6), [5, 3])), RuntimeError,
     "Expected 3, got 6"),
])
def test_wrong_input_and_state_shapes_raise_nn_lstms_errors(call, error, words):
    """The same exception type as nn.LSTM; its message, and (where nn.LSTM's is cryptic) more."""
    with pytest.raises(error) as ours:
        call(LSTM(3, 4, num_layers=2))
    assert words in str(ours.value)
    with pytest.raises(error):
        call(nn.LSTM(3, 4, num_layers=2))


def test_state_errors_say_the_expected_shape_and_that_batch_first_does_not_apply():
    lstm = LSTM(3, 4, proj_size=2, batch_first=True)
    with pytest.raises(RuntimeError, match=r"proj_size\) = \(1, 2, 2\), and batch_first does not"):
        lstm(torch.randn(2, 5, 3), (torch.zeros(2, 1, 2), torch.zeros(1, 2, 4)))


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


def test_invalid_constructor_arguments_raise_like_nn_lstm():
    for kwargs, error in [({"proj_size": 4}, ValueError), ({"dropout": 1.5}, ValueError),
                          ({"hidden_size": 0}, ValueError), ({"num_layers": 2.0}, TypeError),
                          ({"bias": 1}, TypeError), ({"proj_size": -1}, ValueError)]:
        args = {"input_size": 3, "hidden_size": 4, **kwargs}
        with pytest.raises(error):
            nn.LSTM(**args)
        with pytest.raises(error, match=next(iter(kwargs))):
            LSTM(**args)


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
