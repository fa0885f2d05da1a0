"""LSTM variants and the GRU as cells: one step each, run over time by the course's layer.

Every cell here follows the cell protocol of :mod:`lstm_course.modules.lstm`:

* ``init_state(batch, dtype, device)`` returns the zero state, a tuple of tensors;
* ``forward(x_t, state)`` does one step and returns ``(h_t, new_state)``;
* ``input_projection(xs)`` and ``step(p_t, state)`` split a step into the part that does not
  depend on the state (done for all steps at once) and the recurrent rest;

so ``LSTM(..., cell=variant_cell("cifg"))`` stacks, reverses and drops out any of them with
the same machinery as the standard LSTM. Shapes: ``x_t: (batch, input_size)``,
``h_t, c_t: (batch, hidden_size)``. Weights follow PyTorch: ``weight_ih: (k * H, input_size)``,
``weight_hh: (k * H, H)`` with k gate blocks stacked, and two biases ``bias_ih``, ``bias_hh``
that are simply added (as in ``nn.LSTMCell``; one of them is redundant).

The LSTM family (Greff et al., 2017 name the variants; we keep PyTorch's order i, f, g, o). As on
the notation page, W_f [h_{t-1}, x_t] is the forget block of both matrices, weight_hh's part
multiplying h_{t-1} and weight_ih's part multiplying x_t, and b_f the sum of the two biases::

    f_t = sigmoid(W_f [h_{t-1}, x_t] + b_f + w_cf * c_{t-1})   (no forget gate: f_t = 1)
    i_t = sigmoid(W_i [h_{t-1}, x_t] + b_i + w_ci * c_{t-1})   (coupled, CIFG: i_t = 1 - f_t)
    g_t = tanh(W_g [h_{t-1}, x_t] + b_g)                       candidate c~_t
    c_t = f_t * c_{t-1} + i_t * g_t
    o_t = sigmoid(W_o [h_{t-1}, x_t] + b_o + w_co * c_t)       (the output gate sees c_t)
    h_t = o_t * tanh(c_t)                                       (no output activation: o_t * c_t)

The peephole weights w_ci, w_cf, w_co (Gers & Schmidhuber, 2000) are vectors (diagonal
matrices); without peepholes they are absent. The GRU (Cho et al., 2014) in PyTorch's form::

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)       reset gate
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)       update gate
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))  candidate
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_course.modules.lstm import Layer, State


@dataclass(frozen=True)
class Variant:
    """What an LSTM variant changes. ``gates`` lists the packed weight blocks in order."""

    name: str
    peephole: bool = False
    coupled: bool = False
    forget_gate: bool = True
    output_activation: bool = True

    def __post_init__(self):
        if self.coupled and not self.forget_gate:
            raise ValueError("a coupled input gate (i = 1 - f) needs a forget gate")

    @cached_property
    def gates(self) -> str:
        """The weight blocks, in PyTorch's order i, f, g, o minus the ones this variant drops."""
        dropped = ("i" if self.coupled else "") + ("" if self.forget_gate else "f")
        return "".join(g for g in "ifgo" if g not in dropped)

    @cached_property
    def peephole_gates(self) -> str:
        """The sigmoid gates that look at the cell state (one weight vector each)."""
        return "".join(g for g in self.gates if g != "g") if self.peephole else ""


#: The variants of the chapter, by short name (Greff et al.'s abbreviations where they exist).
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("lstm"),
        Variant("peephole", peephole=True),
        Variant("cifg", coupled=True),
        Variant("nfg", forget_gate=False),
        Variant("noaf", output_activation=False),
    )
}


def lstm_variant_step(
    x_t: Tensor, h_prev: Tensor, c_prev: Tensor, W_ih: Tensor, W_hh: Tensor,
    b_ih: Tensor | None, b_hh: Tensor | None, variant: Variant = VARIANTS["lstm"],
    peepholes: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One step of any LSTM variant. Returns ``(h_t, c_t)``, each (batch, hidden).

    ``W_ih: (k * H, input)``, ``W_hh: (k * H, H)``, biases ``(k * H,)`` or None, with the k
    blocks in ``variant.gates`` order; ``peepholes: (len(variant.peephole_gates), H)``, one
    row per gate in ``variant.peephole_gates`` order (required iff ``variant.peephole``).
    """
    a = F.linear(x_t, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh)
    return _lstm_from_preactivations(a, c_prev, variant, peepholes)


def _lstm_from_preactivations(a: Tensor, c_prev: Tensor, variant: Variant,
                              peepholes: Tensor | None) -> tuple[Tensor, Tensor]:
    """The rest of a step once the gate pre-activations ``a: (batch, k * H)`` are known."""
    blocks = dict(zip(variant.gates, a.chunk(len(variant.gates), dim=-1), strict=True))
    peep = dict(zip(variant.peephole_gates, peepholes if variant.peephole else (), strict=True))
    if variant.forget_gate:
        f_t = torch.sigmoid(blocks["f"] + peep["f"] * c_prev if "f" in peep else blocks["f"])
    else:
        f_t = torch.ones_like(c_prev)
    if variant.coupled:
        i_t = 1.0 - f_t
    else:
        i_t = torch.sigmoid(blocks["i"] + peep["i"] * c_prev if "i" in peep else blocks["i"])
    c_t = f_t * c_prev + i_t * torch.tanh(blocks["g"])
    o_t = torch.sigmoid(blocks["o"] + peep["o"] * c_t if "o" in peep else blocks["o"])
    h_t = o_t * torch.tanh(c_t) if variant.output_activation else o_t * c_t
    return h_t, c_t


def gru_step(x_t: Tensor, h_prev: Tensor, W_ih: Tensor, W_hh: Tensor, b_ih: Tensor | None,
             b_hh: Tensor | None) -> Tensor:
    """One GRU step, equal to ``nn.GRUCell``. Returns h_t: (batch, hidden).

    ``W_ih: (3H, input)``, ``W_hh: (3H, H)``, biases ``(3H,)`` or None, blocks in PyTorch's
    order r, z, n. The reset gate multiplies ``W_hn h_{t-1} + b_hn``, not ``h_{t-1}``.
    """
    gi, gh = F.linear(x_t, W_ih, b_ih), F.linear(h_prev, W_hh, b_hh)
    return _gru_from_preactivations(gi, gh, h_prev)


def _gru_from_preactivations(gi: Tensor, gh: Tensor, h_prev: Tensor) -> Tensor:
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r_t = torch.sigmoid(i_r + h_r)
    z_t = torch.sigmoid(i_z + h_z)
    n_t = torch.tanh(i_n + r_t * h_n)
    return (1.0 - z_t) * n_t + z_t * h_prev


class _GatedCell(nn.Module):
    """Parameters and initialisation shared by the cells: k blocks of H rows, PyTorch's init."""

    def __init__(self, input_size: int, hidden_size: int, n_blocks: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(n_blocks * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(n_blocks * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(n_blocks * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(n_blocks * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        """Every parameter uniform in (-1/sqrt(H), 1/sqrt(H)), as ``nn.LSTMCell`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One step: x_t: (batch, input_size) -> (h_t, new_state)."""
        if state is None:
            state = self.init_state(x_t.shape[0], x_t.dtype, x_t.device)
        return self.step(self.input_projection(x_t), state)


class LSTMVariantCell(_GatedCell):
    """An LSTM cell with the changes of ``variant`` (see :data:`VARIANTS`). State: (h, c).

    ``weight_ih: (k * H, input_size)``, ``weight_hh: (k * H, H)``, biases ``(k * H,)``, blocks in
    ``variant.gates`` order; ``peepholes: (p, H)`` with rows in ``variant.peephole_gates`` order.
    """

    def __init__(self, input_size: int, hidden_size: int, variant: Variant | str = "lstm",
                 bias: bool = True):
        self.variant = VARIANTS[variant] if isinstance(variant, str) else variant
        super().__init__(input_size, hidden_size, len(self.variant.gates), bias)
        k = len(self.variant.peephole_gates)
        if k:
            self.peepholes = nn.Parameter(torch.empty(k, hidden_size))
        else:
            self.register_parameter("peepholes", None)
        self.reset_parameters()

    def init_state(self, batch: int, dtype: torch.dtype, device: torch.device) -> State:
        zeros = torch.zeros(batch, self.hidden_size, dtype=dtype, device=device)
        return zeros, zeros

    def input_projection(self, xs: Tensor) -> Tensor:
        """W_ih x + b_ih + b_hh for any leading shape: (..., input_size) -> (..., k * H)."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(xs, self.weight_ih, bias)

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from the projected input p_t: (batch, k * H)."""
        h_prev, c_prev = state
        a = torch.addmm(p_t, h_prev, self.weight_hh.t())
        h_t, c_t = _lstm_from_preactivations(a, c_prev, self.variant, self.peepholes)
        return h_t, (h_t, c_t)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, variant={self.variant.name!r}"


class GRUCell(_GatedCell):
    """The GRU as a cell of the course's layer, equal to ``nn.GRUCell``. State: (h,).

    ``weight_ih: (3H, input_size)``, ``weight_hh: (3H, H)``, biases ``(3H,)``, blocks r, z, n.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, 3, bias)
        self.reset_parameters()

    def init_state(self, batch: int, dtype: torch.dtype, device: torch.device) -> State:
        return (torch.zeros(batch, self.hidden_size, dtype=dtype, device=device),)

    def input_projection(self, xs: Tensor) -> Tensor:
        """W_ih x + b_ih: (..., input_size) -> (..., 3H). (b_hn must stay inside the reset.)"""
        return F.linear(xs, self.weight_ih, self.bias_ih)

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from the projected input p_t: (batch, 3H)."""
        (h_prev,) = state
        gh = F.linear(h_prev, self.weight_hh, self.bias_hh)
        h_t = _gru_from_preactivations(p_t, gh, h_prev)
        return h_t, (h_t,)


#: Every cell of the chapter, by name: the LSTM variants and "gru".
CELL_NAMES = (*VARIANTS, "gru")


def variant_cell(name: str) -> Callable[[int, int], nn.Module]:
    """A cell factory ``(input_size, hidden_size) -> cell`` for ``LSTM(..., cell=...)``."""
    if name == "gru":
        return GRUCell
    if name not in VARIANTS:
        raise ValueError(f"unknown cell {name!r}; choose one of {CELL_NAMES}")

    def factory(input_size: int, hidden_size: int, bias: bool = True) -> LSTMVariantCell:
        return LSTMVariantCell(input_size, hidden_size, VARIANTS[name], bias=bias)

    factory.__name__ = factory.__qualname__ = f"{name}_cell"
    return factory


def copy_from_torch(cell: _GatedCell, reference: nn.LSTMCell | nn.GRUCell) -> None:
    """Copy ``weight_ih, weight_hh, bias_ih, bias_hh`` from a PyTorch cell of the same shape."""
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(reference, name))


@torch.no_grad()
def state_trace(layer: Layer, xs: Tensor) -> Tensor:
    """Run ``layer`` over xs: (T, batch, input) and keep its last state component at every step.

    For an LSTM-family cell that is c_t, for the GRU h_t: returns (T, batch, hidden). It calls
    the layer once per step (carrying the state), so it is for measuring, not for training.
    """
    state, trace = None, []
    for x_t in xs.split(1):
        _, state = layer(x_t, state)
        trace.append(state[-1])
    return torch.stack(trace)
