"""Reversing digit strings: a generated sequence-to-sequence task with exactly one right answer.

The source is a string of ``L`` random decimal digits, the target the same digits in reverse
order: ``3 1 4 1 5 -> 5 1 4 1 3``. Every batch holds strings of one length, so no padding is
needed. Tokens are the digits 0-9 and two markers a decoder needs: ``BOS`` (begin of sequence,
the decoder's first input) and ``EOS`` (end of sequence, the decoder's last output, which says
where the answer stops).

Shapes (time-major, as ``nn.LSTM`` expects): ``src, target: (L, batch)`` int64.
"""

from __future__ import annotations

import numpy as np
import torch

BOS = 10
EOS = 11
VOCAB_SIZE = 12
TOKENS = [str(d) for d in range(10)] + ["<bos>", "<eos>"]


def reverse_batch(batch: int, length: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random digit strings of ``length`` digits and their reverses, each ``(length, batch)``."""
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    src = torch.from_numpy(rng.integers(0, 10, size=(length, batch)))
    return src, src.flip(0)


def fixed_set(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed data set of ``n`` strings of ``length`` digits (a training or validation set)."""
    return reverse_batch(n, length, np.random.default_rng(seed))


def to_text(tokens: torch.Tensor | list[int]) -> str:
    """One sequence of token indices as text: ``[3, 1, 11] -> "31<eos>"``."""
    return "".join(TOKENS[int(t)] for t in tokens)
