"""The course's LSTM as an ``nn.Module``: a cell computes one step, a layer runs a cell over time, and
:class:`LSTM` stacks layers (and pairs them for both directions). It is a drop-in for
``torch.nn.LSTM``: the same constructor arguments, parameters under the same names and shapes (so
``load_state_dict`` works both ways), padded tensors or a ``PackedSequence`` in and out, the same
return values and the same checks on input and state shapes.

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

Who owns the parameters
-----------------------
A standalone :class:`LSTMCell` owns ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (and
``weight_hr``), named as in ``nn.LSTMCell``. Inside :class:`LSTM` the stack owns them, under
``nn.LSTM``'s names (``weight_ih_l0``, ``weight_hh_l1_reverse``, ...), and hands each cell its own
tensors before every call; the cell computes with them exactly as it would alone. Other cells
(the variants) keep their parameters, under ``layers.{l}.{d}.cell.*``.

Packed sequences
----------------
A ``PackedSequence`` holds the sequences sorted by decreasing length, step by step: at step t
the first ``batch_sizes[t]`` sequences are still running. Between two consecutive ends the batch
is an ordinary full batch of fewer sequences, so :meth:`Layer.forward_packed` runs the layer on
each such stretch and carries the state of the sequences that go on: a sequence that ends keeps
the state of its last step, and the reverse direction starts every sequence at its own last step.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_course.modules.fused import lstm_sequence

#: The state one cell carries from step to step: (h, c) for an LSTM cell, (h,) for a GRU cell.
State = tuple[Tensor, ...]
#: The final state ``nn.LSTM`` (and :class:`LSTM`) returns: ``(h_n, c_n)``, each
#: ``(layers * directions, batch, hidden)``; the tasks carry it between chunks and into decoders.
LSTMState = tuple[Tensor, Tensor]


class LSTMCell(nn.Module):
    """One LSTM step with PyTorch's parameters and gate order i, f, g, o.

    weight_ih: (4H, input_size), weight_hh: (4H, H_out), bias_ih, bias_hh: (4H,), and with
    ``proj_size > 0`` weight_hr: (proj_size, H), H_out = proj_size (h_t = W_hr (o_t * tanh c_t)).
    x_t: (batch, input_size); state (h, c): (batch, H_out), (batch, H).

    ``fast_sequence`` (default True) lets a :class:`Layer` run the whole sequence through the
    hand-written forward and backward of :func:`lstm_course.modules.fused.lstm_sequence`; set it to
    False to run the plain step loop with autograd (same numbers, slower).
    """

    #: The parameters, in nn.LSTM's order (``weight_hr`` only with a projection).
    PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")

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

    def weights(self) -> dict[str, Tensor]:
        """The parameter tensors by name (``weight_ih``, ...), whoever owns them."""
        return {name: getattr(self, name) for name in self.PARAMETERS if getattr(self, name) is not None}

    def use_weights(self, weights: dict[str, Tensor]) -> None:
        """Compute with these tensors (owned by a stack, see the module docstring) instead of own ones."""
        for name, tensor in weights.items():
            self._parameters.pop(name, None)
            self.__dict__[name] = tensor     # a plain attribute: read by the cell, registered by the owner

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """PyTorch's default: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.weights().values():
            p.uniform_(-bound, bound)

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

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (f", proj_size={self.proj_size}"
                                                            if self.proj_size else "")


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

    def forward_packed(self, data: Tensor, batch_sizes: list[int], state: State) -> tuple[Tensor, State]:
        """Run over a packed batch (see the module docstring).

        data: (sum(batch_sizes), input_size), the rows of ``PackedSequence.data`` (step by step,
        sequences sorted by decreasing length); state: each (batch_sizes[0], size), in that order.
        Returns the output rows (sum(batch_sizes), output_size) and every sequence's final state.
        """
        stretches = _stretches(batch_sizes)
        outputs = []
        if not self.reverse:
            ended = []                       # states of the sequences that ended, last ones first
            for row, steps, batch in stretches:
                if batch < state[0].shape[0]:
                    ended.append(tuple(s[batch:] for s in state))
                    state = tuple(s[:batch] for s in state)
                out, state = self(data[row:row + steps * batch].view(steps, batch, -1), state)
                outputs.append(out.reshape(steps * batch, -1))
            final = tuple(torch.cat(parts) for parts in zip(state, *ended[::-1], strict=True))
            return torch.cat(outputs), final
        initial, final = state, None
        for row, steps, batch in reversed(stretches):   # sequences join at their own last step
            if final is None:
                final = tuple(s[:batch] for s in initial)
            elif batch > final[0].shape[0]:
                n = final[0].shape[0]
                final = tuple(torch.cat((s, s0[n:batch])) for s, s0 in zip(final, initial, strict=True))
            out, final = self(data[row:row + steps * batch].view(steps, batch, -1), final)
            outputs.append(out.reshape(steps * batch, -1))
        return torch.cat(outputs[::-1]), final


def _stretches(batch_sizes: list[int]) -> list[tuple[int, int, int]]:
    """(first row, steps, batch) of each run of steps with the same batch size, in time order."""
    out, row = [], 0
    for batch, run in itertools.groupby(batch_sizes):
        steps = len(list(run))
        out.append((row, steps, batch))
        row += steps * batch
    return out


def _check_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size) -> None:
    """nn.LSTM's checks on the constructor arguments (its exception types, clearer messages)."""
    for name, value in [("bias", bias), ("batch_first", batch_first)]:
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    for name, value in [("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers), ("proj_size", proj_size)]:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    for name, value in [("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers)]:
        if value <= 0:
            raise ValueError(f"{name} must be greater than zero, got {value}")
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError(f"dropout should be a number in [0, 1] (the probability of zeroing an "
                         f"element), got {dropout!r}")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout is applied between layers, so dropout > 0 needs num_layers > 1 "
                      f"(got dropout={dropout}, num_layers=1)", stacklevel=3)
    if proj_size < 0 or (proj_size and proj_size >= hidden_size):
        raise ValueError(f"proj_size must be 0 (no projection) or a positive int smaller than "
                         f"hidden_size={hidden_size}, got {proj_size}")


class LSTM(nn.Module):
    """A multi-layer, optionally bidirectional LSTM with ``torch.nn.LSTM``'s interface.

    input: (T, batch, input_size), or (batch, T, input_size) with ``batch_first=True``, or
    unbatched (T, input_size), or a ``PackedSequence``. hx = (h_0, c_0):
    (num_layers * num_directions, batch, H_out) and (num_layers * num_directions, batch,
    hidden_size), zeros when omitted (batch_first does not apply to them). Returns output:
    (T, batch, num_directions * H_out) (batch first if asked; a ``PackedSequence`` for a packed
    input) and (h_n, c_n) shaped like (h_0, c_0); H_out = proj_size or hidden_size.

    Layer l, direction d (0 forward, 1 reverse) is ``self.layers[l][d]``, its state index
    l * num_directions + d. With the standard cell the parameters are the stack's, named as in
    ``nn.LSTM`` (``weight_ih_l{l}``, ``weight_hh_l{l}``, ``bias_ih_l{l}``, ``bias_hh_l{l}``,
    ``weight_hr_l{l}``, with ``_reverse`` for d = 1). ``cell`` is a cell factory (see the module
    docstring).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, cell: Callable[..., nn.Module] | None = None,
                 device=None, dtype=None):
        super().__init__()
        _check_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.num_directions = 2 if bidirectional else 1
        make_cell = LSTMCell if cell is None else cell
        extra = {"proj_size": proj_size} if proj_size else {}
        self.layers = nn.ModuleList()
        layer_input = input_size
        for l in range(num_layers):
            directions = nn.ModuleList()
            for d in range(self.num_directions):
                new = make_cell(layer_input, hidden_size, bias=bias, **extra)
                if isinstance(new, LSTMCell):       # the stack takes its parameters, by nn.LSTM's names
                    for name, p in new.weights().items():
                        self.register_parameter(name + self._suffix(l, d), p)
                directions.append(Layer(new, reverse=(d == 1)))
            self.layers.append(directions)
            layer_input = self.num_directions * directions[0].cell.output_size
        self._hand_out_weights()
        self.register_load_state_dict_post_hook(lambda module, keys: module._hand_out_weights())
        if device is not None or dtype is not None:
            self.to(device=device, dtype=dtype)

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _hand_out_weights(self) -> None:
        """Give every standard cell the stack's current tensors for its weights (cheap: a few
        references). Called before each forward and after anything that may replace a
        parameter object (``.to()``, ``load_state_dict(assign=True)``, ``functional_call``)."""
        for l, directions in enumerate(self.layers):
            for d, layer in enumerate(directions):
                if isinstance(layer.cell, LSTMCell):
                    suffix = self._suffix(l, d)
                    layer.cell.use_weights({name: self._parameters[name + suffix]
                                            for name in LSTMCell.PARAMETERS
                                            if name + suffix in self._parameters})

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self._hand_out_weights()
        return self

    def cells(self) -> list[nn.Module]:
        """The cells in state order (layer by layer, forward direction first)."""
        return [layer.cell for directions in self.layers for layer in directions]

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Re-draw every parameter as at construction (uniform in ±1/sqrt(hidden_size))."""
        self._hand_out_weights()
        for cell in self.cells():
            cell.reset_parameters()

    def flatten_parameters(self) -> None:
        """A no-op, for code written for ``nn.LSTM`` (cuDNN's contiguous weight buffer)."""

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters of each layer and direction, as ``nn.LSTM.all_weights``."""
        return [[self._parameters[name + self._suffix(l, d)] for name in LSTMCell.PARAMETERS
                 if name + self._suffix(l, d) in self._parameters]
                for l in range(self.num_layers) for d in range(self.num_directions)]

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | State | None = None):
        self._hand_out_weights()
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if not isinstance(input, Tensor):
            raise TypeError(f"LSTM: expected a Tensor or a PackedSequence as input, got "
                            f"{type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead "
                             f"(shape {tuple(input.shape)}); batched input is "
                             f"{self._input_layout()}, unbatched (T, {self.input_size})")
        unbatched = input.dim() == 2
        if unbatched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        self._check_input(input)
        states = self._initial_state(hx, input, batch=input.shape[1], unbatched=unbatched)
        finals, x = [], input
        for l, directions in enumerate(self.layers):
            outs = []
            for d, layer in enumerate(directions):
                out, final = layer(x, tuple(s[l * self.num_directions + d] for s in states))
                outs.append(out)
                finals.append(final)
            x = self._between_layers(outs, l)
        state = tuple(torch.stack(parts) for parts in zip(*finals, strict=True))
        if unbatched:
            x, state = x.squeeze(1), tuple(s.squeeze(1) for s in state)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, state[0] if len(state) == 1 else state

    def _forward_packed(self, packed: PackedSequence, hx):
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        if data.dim() != 2:
            raise RuntimeError(f"input must have 2 dimensions, got {data.dim()} (the data of a "
                               f"PackedSequence is (total steps, {self.input_size}))")
        self._check_input(data)
        sizes = batch_sizes.tolist()
        states = self._initial_state(hx, data, batch=sizes[0], unbatched=False)
        if sorted_indices is not None:     # hx is in the caller's order; the rows are by length
            states = tuple(s.index_select(1, sorted_indices) for s in states)
        finals, x = [], data
        for l, directions in enumerate(self.layers):
            outs = []
            for d, layer in enumerate(directions):
                out, final = layer.forward_packed(x, sizes, tuple(s[l * self.num_directions + d]
                                                                  for s in states))
                outs.append(out)
                finals.append(final)
            x = self._between_layers(outs, l)
        state = tuple(torch.stack(parts) for parts in zip(*finals, strict=True))
        if unsorted_indices is not None:
            state = tuple(s.index_select(1, unsorted_indices) for s in state)
        output = PackedSequence(x, batch_sizes, sorted_indices, unsorted_indices)
        return output, state[0] if len(state) == 1 else state

    def _between_layers(self, outs: list[Tensor], l: int) -> Tensor:
        """Both directions side by side, then dropout (training only, not after the last layer)."""
        x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
        if self.dropout > 0 and self.training and l < self.num_layers - 1:
            x = F.dropout(x, self.dropout, training=True)
        return x

    # -- nn.LSTM's checks, with messages that say what was expected ------------------------------
    def _input_layout(self) -> str:
        return ("(batch, T, input_size)" if self.batch_first else "(T, batch, input_size)") + \
            (" with batch_first=True" if self.batch_first else "")

    def _check_input(self, x: Tensor) -> None:
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]} (input shape {tuple(x.shape)})")
        weight = next(iter(self.parameters()), None)
        if weight is not None and x.dtype != weight.dtype and not torch.is_autocast_enabled():
            raise ValueError(f"LSTM input dtype ({x.dtype}) does not match weight dtype "
                             f"({weight.dtype}). Convert input: input.to({weight.dtype}), or "
                             f"convert model: model.to({x.dtype})")

    def _initial_state(self, hx, x: Tensor, batch: int, unbatched: bool) -> State:
        """The state per component, each (num_layers * num_directions, batch, size), checked."""
        zeros = self.cells()[0].init_state(batch, x.dtype, x.device)
        n = self.num_layers * self.num_directions
        expected = [(n, batch, z.shape[-1]) for z in zeros]
        names = ["h_0", "c_0"] if len(zeros) == 2 else [f"state {j}" for j in range(len(zeros))]
        if hx is None:
            return tuple(z.unsqueeze(0).expand(size).contiguous() for z, size in
                         zip(zeros, expected, strict=True))
        if isinstance(hx, Tensor):
            if len(zeros) != 1:
                raise RuntimeError(f"LSTM: hx should be the pair (h_0, c_0), got one tensor of "
                                   f"shape {tuple(hx.shape)}; pass (h_0, c_0) with h_0 "
                                   f"{expected[0]} and c_0 {expected[1]}")
            hx = (hx,)
        hx = tuple(hx)
        if len(hx) != len(zeros):
            raise RuntimeError(f"LSTM: hx should be {'(' + ', '.join(names) + ')'}, got "
                               f"{len(hx)} tensors")
        dims = 2 if unbatched else 3
        if any(h.dim() != dims for h in hx):
            got = ", ".join(f"{h.dim()}-D" for h in hx)
            kind = "unbatched 2-D" if unbatched else "batched 3-D"
            raise RuntimeError(f"For {kind} input, hx and cx should also be {dims}-D but got "
                               f"({got}) tensors")
        if unbatched:
            hx = tuple(h.unsqueeze(1) for h in hx)
        for j, (h, size) in enumerate(zip(hx, expected, strict=True)):
            if tuple(h.shape) != size:
                first = "proj_size" if j == 0 and self.proj_size else "hidden_size"
                raise RuntimeError(
                    f"Expected hidden[{j}] size {size}, got {list(h.shape)}: {names[j]} is "
                    f"(num_layers * num_directions, batch, {first}) = {size}"
                    + (", and batch_first does not apply to it" if self.batch_first else ""))
        return hx

    # -- interchange with nn.LSTM ----------------------------------------------------------------
    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> LSTM:
        """A course LSTM with the same configuration and a copy of ``lstm``'s weights."""
        weight = lstm.weight_ih_l0
        new = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers, bias=lstm.bias,
                  batch_first=lstm.batch_first, dropout=lstm.dropout,
                  bidirectional=lstm.bidirectional, proj_size=lstm.proj_size,
                  device=weight.device, dtype=weight.dtype)
        new.load_state_dict(lstm.state_dict())
        new.train(lstm.training)
        return new

    @torch.no_grad()
    def load_torch_weights(self, rnn: nn.Module) -> None:
        """Copy the weights of an ``nn.LSTM`` (or, for a stack of GRU cells, an ``nn.GRU``) of the
        same shape: ``weight_ih_l{l}[_reverse]`` into layer l's (reverse) cell's ``weight_ih``, and so
        on, whether the stack owns the cell's parameters or the cell does."""
        self._hand_out_weights()
        theirs = dict(rnn.named_parameters())
        for l, directions in enumerate(self.layers):
            for d, layer in enumerate(directions):
                cell = layer.cell
                mine = cell.weights() if isinstance(cell, LSTMCell) else dict(cell.named_parameters())
                for name, param in mine.items():
                    param.copy_(theirs[name + self._suffix(l, d)])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for name, default in [("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0)]:
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s
