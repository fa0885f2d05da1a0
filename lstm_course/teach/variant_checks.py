"""Chapter 10's exercise checks: the usual wrong versions of each answer, so that a failing test
can say which mistake it looks like (the ``mistakes=`` of :func:`lstm_course.teach.checks.check_close`).

Each ``*_mistakes`` function takes the same arguments as the exercise and returns
``{description: wrong answer}``; :func:`check_step` compares an ``(h_t, c_t)`` answer with the
reference and these, :func:`check_inputs_unchanged` catches in-place edits of the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from lstm_course.modules.param_count import gate_blocks
from lstm_course.teach import checks


def _peephole(x, h, c, W_ih, W_hh, b_ih, b_hh, w_i, w_f, w_o, order="ifgo", o_sees_old=False):
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    blocks = dict(zip(order, a.chunk(4, dim=1), strict=True))
    i = torch.sigmoid(blocks["i"] + w_i * c)
    f = torch.sigmoid(blocks["f"] + w_f * c)
    c_new = f * c + i * torch.tanh(blocks["g"])
    o = torch.sigmoid(blocks["o"] + w_o * (c if o_sees_old else c_new))
    return o * torch.tanh(c_new), c_new


def peephole_mistakes(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, w_ci, w_cf,
                      w_co) -> dict[str, tuple[Tensor, Tensor]]:
    """Wrong peephole steps: output gate on c_{t-1}, peepholes ignored or swapped, gate order."""
    args = (x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)
    return {
        "the output gate looked at c_{t-1}; it should see the new cell state c_t":
            _peephole(*args, w_ci, w_cf, w_co, o_sees_old=True),
        "the peephole terms were left out": _peephole(*args, 0 * w_ci, 0 * w_cf, 0 * w_co),
        "w_ci and w_cf were swapped (w_ci belongs to the input gate, w_cf to the forget gate)":
            _peephole(*args, w_cf, w_ci, w_co),
        "the gate blocks were read in the order i, f, o, g (PyTorch packs i, f, g, o)":
            _peephole(*args, w_ci, w_cf, w_co, order="ifog"),
        "the gate blocks were read in the order f, i, g, o (PyTorch packs i, f, g, o)":
            _peephole(*args, w_ci, w_cf, w_co, order="figo"),
    }


def _cifg(x, h, c, W_ih, W_hh, b_ih, b_hh, order="fgo", i_equals_f=False, swapped=False):
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    blocks = dict(zip(order, a.chunk(3, dim=1), strict=True))
    f = torch.sigmoid(blocks["f"])
    i = f if i_equals_f else 1 - f
    g = torch.tanh(blocks["g"])
    c_new = i * c + f * g if swapped else f * c + i * g
    return torch.sigmoid(blocks["o"]) * torch.tanh(c_new), c_new


def cifg_mistakes(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh) -> dict[str, tuple[Tensor, Tensor]]:
    """Wrong CIFG steps: i = f, the roles of f and 1 - f swapped, the blocks read in another order."""
    args = (x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)
    return {
        "the input gate was set equal to f_t; coupling means i_t = 1 - f_t": _cifg(*args, i_equals_f=True),
        "f_t and 1 - f_t were swapped (f_t keeps the old state, 1 - f_t writes the candidate)":
            _cifg(*args, swapped=True),
        "the blocks were read in the order g, f, o (they are f, g, o here)": _cifg(*args, order="gfo"),
        "the blocks were read in the order f, o, g (they are f, g, o here)": _cifg(*args, order="fog"),
    }


def _gru(x, h, W_ih, W_hh, b_ih, b_hh, order="rzn", reset_before=False, z_swapped=False,
         no_tanh=False, b_hn_outside=False):
    gi = dict(zip(order, (x @ W_ih.T + b_ih).chunk(3, dim=1), strict=True))
    W = dict(zip(order, W_hh.chunk(3, dim=0), strict=True))
    b = dict(zip(order, b_hh.chunk(3), strict=True))
    r = torch.sigmoid(gi["r"] + h @ W["r"].T + b["r"])
    z = torch.sigmoid(gi["z"] + h @ W["z"].T + b["z"])
    if reset_before:
        pre = gi["n"] + (r * h) @ W["n"].T + b["n"]
    elif b_hn_outside:
        pre = gi["n"] + r * (h @ W["n"].T) + b["n"]
    else:
        pre = gi["n"] + r * (h @ W["n"].T + b["n"])
    n = pre if no_tanh else torch.tanh(pre)
    return z * n + (1 - z) * h if z_swapped else (1 - z) * n + z * h


def gru_mistakes(x_t, h_prev, W_ih, W_hh, b_ih, b_hh) -> dict[str, Tensor]:
    """Wrong GRU steps: gate order z, r, n; reset before W_hn; z and 1 - z swapped; b_hn outside
    the reset; no tanh."""
    args = (x_t, h_prev, W_ih, W_hh, b_ih, b_hh)
    return {
        "the gate order was z, r, n; PyTorch packs r, z, n": _gru(*args, order="zrn"),
        "the reset gate was applied to h_{t-1} before W_hn (the paper's form); PyTorch applies it "
        "to W_hn h_{t-1} + b_hn": _gru(*args, reset_before=True),
        "z and 1 - z were swapped; in PyTorch h_t = (1 - z) * n + z * h_{t-1}": _gru(*args, z_swapped=True),
        "b_hn was added outside the reset product; it belongs inside r * (W_hn h + b_hn)":
            _gru(*args, b_hn_outside=True),
        "the tanh of the candidate n_t was left out": _gru(*args, no_tanh=True),
    }


def _count(cell: str, I: int, H: int, L: int, bidirectional: bool, *, biases: int = 2,
           upper_reads_2h: bool = True, peepholes: int = 3, per_direction: bool = True) -> int:
    k, d = gate_blocks(cell), 2 if bidirectional else 1
    total = 0
    for layer in range(L):
        n_in = I if layer == 0 else (d if upper_reads_2h else 1) * H
        per_cell = k * H * (n_in + H) + biases * k * H + (peepholes * H if cell == "peephole" else 0)
        total += (d if per_direction else 1) * per_cell
    return total


def parameter_count_mistakes(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                             bidirectional: bool = False) -> dict[str, int]:
    """Wrong counts: one bias, H inputs above a bidirectional layer, one direction, 4 peepholes.

    Only the mistakes that give a different number in this configuration are returned.
    """
    args = (cell, input_size, hidden_size, num_layers, bidirectional)
    right = _count(*args)
    wrong = {
        "only one bias vector per gate block was counted; PyTorch has two (b_ih and b_hh)":
            _count(*args, biases=1),
        "the layers above the first were given H inputs; above a bidirectional layer they read 2H":
            _count(*args, upper_reads_2h=False),
        "a bidirectional layer was counted once; each direction has its own parameters":
            _count(*args, per_direction=False),
        "four peephole vectors were counted; the candidate has none (three: i, f, o)":
            _count(*args, peepholes=4),
    }
    return {k: v for k, v in wrong.items() if v != right}


def check_step(name: str, got, expected: tuple[Tensor, Tensor],
               mistakes: Mapping[str, tuple[Tensor, Tensor]], context: str = "") -> None:
    """Check an ``(h_t, c_t)`` answer: a pair, then c_t and h_t against the reference and mistakes."""
    if type(got) is not tuple or len(got) != 2:
        raise checks.CheckFailed(f"{name} should return the pair (h_t, c_t), a tuple of two tensors.")
    for k, label in [(1, "c_t"), (0, "h_t")]:
        checks.check_close(f"{label} from {name}", got[k], expected[k], kind="tensor", context=context,
                           mistakes={d: wrong[k] for d, wrong in mistakes.items()})


def check_inputs_unchanged(labels: Sequence[str], before: Sequence[Tensor], after: Sequence[Tensor]) -> None:
    """Fail if any input tensor was modified in place (``before`` are clones taken before the call)."""
    for label, old, new in zip(labels, before, after, strict=True):
        checks.check_close(f"{label} after the call", new, old, rtol=0, atol=0, kind="tensor",
                           context="inputs must not be modified in place; compute new tensors instead")
