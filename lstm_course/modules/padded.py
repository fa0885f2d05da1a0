"""Variable-length batches: masking by hand, and the ground truth of running sequences one by one.

A padded batch is xs: (T, batch, input) with sequence b real for its first ``lengths[b]``
steps and padding after. PyTorch's way is ``pack_padded_sequence``; these helpers show what
packing computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def length_mask(lengths: Sequence[int] | Tensor, T: int, device=None) -> Tensor:
    """Boolean mask (T, batch): mask[t, b] is True where step t is real for sequence b."""
    lengths = torch.as_tensor(lengths, device=device)
    return torch.arange(T, device=lengths.device).unsqueeze(1) < lengths.unsqueeze(0)


def run_masked(cell: nn.Module, xs: Tensor, lengths: Sequence[int] | Tensor,
               state: tuple[Tensor, ...] | None = None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run a cell (the protocol of :mod:`lstm_course.modules.lstm`) over a padded batch, masking by hand.

    At a padded step the state is carried over unchanged and the output is zero, so the final
    state of each sequence is its state after its last real step. Forward direction only.
    Returns outputs (T, batch, output_size) and the final state.
    """
    T, B = xs.shape[:2]
    if state is None:
        state = cell.init_state(B, xs.dtype, xs.device)
    outputs = []
    for x_t, real in zip(xs.unbind(0), length_mask(lengths, T, xs.device).unsqueeze(-1).unbind(0),
                         strict=True):
        h_t, new_state = cell(x_t, state)
        state = tuple(torch.where(real, new, old) for new, old in zip(new_state, state, strict=True))
        outputs.append(torch.where(real, h_t, torch.zeros_like(h_t)))
    return torch.stack(outputs), state


def final_states_one_by_one(lstm: nn.LSTM, padded: Tensor, lengths: Sequence[int]):
    """(h_n, c_n) of ``lstm`` when each sequence of the padded batch (T, batch, input) is run
    alone, without its padding: the ground truth for a padded batch (slow)."""
    finals = [lstm(padded[:n, b:b + 1])[1] for b, n in enumerate(lengths)]
    return tuple(torch.cat(parts, dim=1) for parts in zip(*finals, strict=True))
