"""How many parameters each recurrent variant has: a formula, checked against ``numel``.

One layer, one direction, input size I, hidden size H, k gate blocks, two biases (PyTorch)::

    k * H * I      input weights W_ih
    k * H * H      recurrent weights W_hh
    2 * k * H      biases b_ih and b_hh
    p * H          peephole vectors (p = 3 for the peephole LSTM, else 0)

k = 4 for the LSTM and the no-output-activation variant (NOAF), 3 for the coupled-gate (CIFG),
no-forget-gate (NFG) variants and the GRU. A stack of L layers feeds layer l >= 1 with the
outputs of the layer below: H features, or 2H when bidirectional (both directions
concatenated); a bidirectional layer has two independent sets of parameters.
"""

from __future__ import annotations

from torch import nn

from lstm_course.modules.variants import CELL_NAMES, VARIANTS


def gate_blocks(name: str) -> int:
    """k, the number of weight blocks of H rows: 4 for the LSTM, 3 for CIFG, NFG and the GRU."""
    if name == "gru":
        return 3
    if name not in VARIANTS:
        raise ValueError(f"unknown cell {name!r}; choose one of {CELL_NAMES}")
    return len(VARIANTS[name].gates)


def cell_parameters(name: str, input_size: int, hidden_size: int, bias: bool = True) -> int:
    """Parameters of one cell (one layer, one direction)."""
    k, H = gate_blocks(name), hidden_size
    peepholes = 0 if name == "gru" else len(VARIANTS[name].peephole_gates) * H
    return k * H * (input_size + H) + (2 * k * H if bias else 0) + peepholes


def parameter_count(name: str, input_size: int, hidden_size: int, num_layers: int = 1,
                    bidirectional: bool = False, bias: bool = True) -> int:
    """Parameters of a (stacked, possibly bidirectional) recurrent network made of ``name`` cells."""
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        n_in = input_size if layer == 0 else directions * hidden_size
        total += directions * cell_parameters(name, n_in, hidden_size, bias)
    return total


def count_parameters(module: nn.Module) -> int:
    """What the module really holds: ``sum(p.numel() for p in module.parameters())``."""
    return sum(p.numel() for p in module.parameters())
