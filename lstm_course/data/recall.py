"""The delayed-recall task: remember the first symbol across a gap of distractors.

A sequence has ``gap + 2`` steps of one-hot vectors of size ``n_symbols + n_distractors + 1``:

* step 0 shows the symbol to remember (one of ``n_symbols``);
* steps 1..gap show random distractors (from a separate set of ``n_distractors``);
* the last step shows the query marker (the last input unit), and the model must answer
  with the symbol from step 0.

Chance accuracy is ``1 / n_symbols``. Nothing in between carries the answer, so solving it
needs memory over ``gap + 1`` steps.
"""

from __future__ import annotations

import numpy as np


def recall_batch(batch: int, gap: int, rng: np.random.Generator, *, n_symbols: int = 4,
                 n_distractors: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x: (gap + 2, batch, n_symbols + n_distractors + 1)`` float32 and ``y: (batch,)`` int64."""
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    T, D = gap + 2, n_symbols + n_distractors + 1
    x = np.zeros((T, batch, D), dtype=np.float32)
    y = rng.integers(0, n_symbols, size=batch)
    rows = np.arange(batch)
    x[0, rows, y] = 1.0
    if gap:
        noise = rng.integers(0, n_distractors, size=(gap, batch))
        steps = np.arange(1, gap + 1)[:, None]
        x[steps, rows[None, :], n_symbols + noise] = 1.0
    x[-1, :, -1] = 1.0
    return x, y.astype(np.int64)
