"""The course's LSTM as an ``nn.Module``: a cell computes one step, a layer runs a cell over
time, and :class:`LSTM` stacks layers (and pairs them for both directions), with the same
constructor arguments and return values as ``torch.nn.LSTM``.

The composition follows PyTorch's ``benchmarks/fastrnns/custom_lstms.py``. Variants (peephole,
coupled gates, GRU, ...) are new *cells*; they reuse :class:`Layer` and :class:`LSTM` unchanged.

Cell protocol
-------------
A cell is an ``nn.Module`` with

* ``input_size`` and ``hidden_size`` (ints), and ``output_size``: the size of the h_t it
  returns (``hidden_size`` unless the cell projects h_t to a smaller size);
* ``init_state(batch, dtype, device) -> tuple[Tensor, ...]``: the zero state, one tensor per
  state component, each (batch, size) (for the LSTM: ``(h, c)``; for a GRU: ``(h,)``);
* ``forward(x_t, state) -> (h_t, new_state)``: one step; x_t: (batch, input_size),
  h_t: (batch, output_size), new_state a tuple like ``init_state``'s.

Optionally, for speed:

* ``input_projection(xs)`` and ``step(p_t, state)``: the part of a step that does not depend
  on the state (W_ih x_t + b) done for all steps at once, xs: (T, batch, input_size) -> (T, batch, n);
  the layer then calls ``step(p_t, state)`` with the projected input instead of ``forward``.
  ``forward(x_t, state)`` must equal ``step(input_projection(x_t), state)``.
* ``forward_sequence(xs, state) -> (outputs, final_state)``: the whole sequence in one call
  (outputs: (T, batch, output_size)); the layer uses it when present and not ``None``.

A cell factory is called as ``cell(input_size, hidden_size, bias=bias)`` (plus
``proj_size=...`` when ``proj_size > 0``). The state a stacked :class:`LSTM` takes and returns
holds one tensor per state component, each (num_layers * num_directions, batch, size); a
one-component state is passed and returned as the tensor itself, as ``nn.GRU`` does.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_course.modules.fused import lstm_sequence

State = tuple[Tensor, ...]


class LSTMCell(nn.Module):
    """One LSTM step with PyTorch's parameters and gate order i, f, g, o.

    weight_ih: (4H, input_size), weight_hh: (4H, H_out), bias_ih, bias_hh: (4H,), and with
    ``proj_size > 0`` weight_hr: (proj_size, H), H_out = proj_size (h_t = W_hr (o_t * tanh c_t)).
    x_t: (batch, input_size); state (h, c): (batch, H_out), (batch, H).

    ``fast_sequence`` (default True) lets a :class:`Layer` run the whole sequence through the
    hand-written forward and backward of :func:`lstm_course.modules.fused.lstm_sequence`; set it to
    False to run the plain step loop with autograd (same numbers, slower).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size, self.proj_size = input_size, hidden_size, proj_size
        self.output_size = proj_size or hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, self.output_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        if proj_size > 0:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size, **factory))
        else:
            self.register_parameter("weight_hr", None)
        self.fast_sequence = True
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def init_state(self, batch: int, dtype: torch.dtype, device: torch.device) -> State:
        zeros = torch.zeros
        return (zeros(batch, self.output_size, dtype=dtype, device=device),
                zeros(batch, self.hidden_size, dtype=dtype, device=device))

    def input_projection(self, xs: Tensor) -> Tensor:
        """W_ih x + b_ih + b_hh for any leading shape: (..., input_size) -> (..., 4H)."""
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(xs, self.weight_ih, bias)

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from the projected input p_t = W_ih x_t + b: (batch, 4H)."""
        h_prev, c_prev = state
        gates = torch.addmm(p_t, h_prev, self.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        c_t = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        h_t = torch.sigmoid(o) * torch.tanh(c_t)
        if self.weight_hr is not None:
            h_t = h_t @ self.weight_hr.t()
        return h_t, (h_t, c_t)

    def forward(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.init_state(x_t.shape[0], x_t.dtype, x_t.device)
        return self.step(self.input_projection(x_t), state)

    @property
    def forward_sequence(self) -> Callable[[Tensor, State], tuple[Tensor, State]] | None:
        """The whole-sequence fast path (None with a projection or when switched off)."""
        if not self.fast_sequence or self.weight_hr is not None:
            return None
        return self._forward_sequence

    def _forward_sequence(self, xs: Tensor, state: State) -> tuple[Tensor, State]:
        return lstm_sequence(xs, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class Layer(nn.Module):
    """Runs a cell over time. xs: (T, batch, input_size) -> outputs (T, batch, output_size),
    final_state. With ``reverse=True`` it reads the sequence from the last step to the first
    (outputs stay aligned with the inputs: outputs[t] belongs to xs[t])."""

    def __init__(self, cell: nn.Module, reverse: bool = False):
        super().__init__()
        self.cell, self.reverse = cell, reverse

    def forward(self, xs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        cell = self.cell
        if state is None:
            state = cell.init_state(xs.shape[1], xs.dtype, xs.device)
        sequence = getattr(cell, "forward_sequence", None)
        if sequence is not None:
            if self.reverse:
                outputs, state = sequence(xs.flip(0), state)
                return outputs.flip(0), state
            return sequence(xs, state)
        project = getattr(cell, "input_projection", None)
        if project is not None:
            inputs, step = project(xs).unbind(0), cell.step
        else:
            inputs, step = xs.unbind(0), cell
        if self.reverse:
            inputs = inputs[::-1]
        outputs = []
        for p_t in inputs:  # unbind, not xs[t]: indexing makes the backward pass quadratic in T
            h_t, state = step(p_t, state)
            outputs.append(h_t)
        if self.reverse:
            outputs.reverse()
        return torch.stack(outputs), state


def _check_args(input_size, hidden_size, num_layers, dropout, proj_size) -> None:
    for name, value in [("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers)]:
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError(f"dropout should be a number in [0, 1], got {dropout!r}")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout is applied between layers, so dropout > 0 needs num_layers > 1 "
                      f"(got dropout={dropout}, num_layers=1)", stacklevel=3)
    if not isinstance(proj_size, int) or proj_size < 0 or (proj_size and proj_size >= hidden_size):
        raise ValueError(f"proj_size must be 0 or a positive int smaller than hidden_size, "
                         f"got {proj_size!r}")


class LSTM(nn.Module):
    """A multi-layer, optionally bidirectional LSTM with ``torch.nn.LSTM``'s interface.

    input: (T, batch, input_size), or (batch, T, input_size) with ``batch_first=True``, or
    unbatched (T, input_size). hx = (h_0, c_0): (num_layers * num_directions, batch, H_out) and
    (num_layers * num_directions, batch, hidden_size), zeros when omitted (batch_first does not
    apply to them). Returns output: (T, batch, num_directions * H_out) (batch first if asked)
    and (h_n, c_n) shaped like (h_0, c_0); H_out = proj_size or hidden_size.
    Layer l, direction d (0 forward, 1 reverse) is ``self.layers[l][d]``, its state index
    l * num_directions + d. ``cell`` is a cell factory (see the module docstring).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, cell: Callable[..., nn.Module] | None = None,
                 device=None, dtype=None):
        super().__init__()
        _check_args(input_size, hidden_size, num_layers, dropout, proj_size)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.num_directions = 2 if bidirectional else 1
        make_cell = LSTMCell if cell is None else cell
        extra = {"proj_size": proj_size} if proj_size else {}
        self.layers = nn.ModuleList()
        layer_input = input_size
        for _ in range(num_layers):
            directions = nn.ModuleList(
                Layer(make_cell(layer_input, hidden_size, bias=bias, **extra), reverse=(d == 1))
                for d in range(self.num_directions))
            self.layers.append(directions)
            layer_input = self.num_directions * directions[0].cell.output_size
        if device is not None or dtype is not None:
            self.to(device=device, dtype=dtype)

    def cells(self) -> list[nn.Module]:
        """The cells in state order (layer by layer, forward direction first)."""
        return [layer.cell for directions in self.layers for layer in directions]

    def forward(self, input: Tensor, hx: Tensor | State | None = None):
        if isinstance(input, nn.utils.rnn.PackedSequence):
            raise NotImplementedError(
                "lstm_course.LSTM takes padded tensors, not a PackedSequence: pad it with "
                "pad_packed_sequence and mask the state updates, or use torch.nn.LSTM")
        unbatched = input.dim() == 2
        if unbatched:
            input = input.unsqueeze(1)
            hx = None if hx is None else _map_state(hx, lambda s: s.unsqueeze(1))
        elif self.batch_first:
            input = input.transpose(0, 1)
        if input.dim() != 3 or input.shape[-1] != self.input_size:
            raise ValueError(f"expected input of shape (T, batch, {self.input_size}) "
                             f"(or batch first, or unbatched), got {tuple(input.shape)}")
        states = None if hx is None else _split_state(hx)
        finals = []
        x = input
        for l, directions in enumerate(self.layers):
            outs = []
            for d, layer in enumerate(directions):
                k = l * self.num_directions + d
                out, final = layer(x, None if states is None else tuple(s[k] for s in states))
                outs.append(out)
                finals.append(final)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and l < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        state = tuple(torch.stack(parts) for parts in zip(*finals, strict=True))
        if unbatched:
            x, state = x.squeeze(1), tuple(s.squeeze(1) for s in state)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, state[0] if len(state) == 1 else state

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> LSTM:
        """A course LSTM with the same configuration and a copy of ``lstm``'s weights."""
        weight = lstm.weight_ih_l0
        new = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers, bias=lstm.bias,
                  batch_first=lstm.batch_first, dropout=lstm.dropout,
                  bidirectional=lstm.bidirectional, proj_size=lstm.proj_size,
                  device=weight.device, dtype=weight.dtype)
        new.load_torch_weights(lstm)
        new.train(lstm.training)
        return new

    @torch.no_grad()
    def load_torch_weights(self, lstm: nn.LSTM) -> None:
        """Copy weight_ih_l{l}[_reverse], weight_hh, bias_ih, bias_hh (and weight_hr) from ``lstm``."""
        names = dict(lstm.named_parameters())
        for l, directions in enumerate(self.layers):
            for d, layer in enumerate(directions):
                suffix = f"_l{l}" + ("_reverse" if d else "")
                for name, param in layer.cell.named_parameters():
                    param.copy_(names[name + suffix])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for name, default in [("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0)]:
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


def _map_state(hx, fn):
    return fn(hx) if isinstance(hx, Tensor) else tuple(fn(s) for s in hx)


def _split_state(hx) -> State:
    return (hx,) if isinstance(hx, Tensor) else tuple(hx)
