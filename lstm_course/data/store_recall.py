"""The store-and-recall stream: Chapter 10's ablation task, a continual input with a label per step.

At every step the input shows one of ``n_symbols`` symbols (one-hot) and a *store* flag (one
more input unit, on with probability ``p_store``; always on at step 0). The target at step t
is the symbol shown at the most recent step s <= t whose flag was on. So the network must
keep one symbol in memory, overwrite it whenever a new one is stored, and ignore the
symbols in between: the kind of memory that needs forgetting as well as remembering
(Gers et al., 2000). The gap since the last store is geometric with mean about
``1 / p_store`` steps, so most targets need memory over several steps and some over dozens.

Chance accuracy is ``1 / n_symbols``; a network that only copies the current symbol is right
on the stored steps and by chance elsewhere.
"""

from __future__ import annotations

import numpy as np


def store_recall_batch(T: int, batch: int, rng: np.random.Generator, *, n_symbols: int = 4,
                       p_store: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x: (T, batch, n_symbols + 1)`` float32 and ``y: (T, batch)`` int64."""
    if T < 1 or not 0.0 < p_store <= 1.0:
        raise ValueError(f"need T >= 1 and 0 < p_store <= 1, got T={T}, p_store={p_store}")
    symbols = rng.integers(0, n_symbols, size=(T, batch))
    store = rng.random((T, batch)) < p_store
    store[0] = True
    x = np.zeros((T, batch, n_symbols + 1), dtype=np.float32)
    steps, rows = np.arange(T)[:, None], np.arange(batch)[None, :]
    x[steps, rows, symbols] = 1.0
    x[..., n_symbols] = store
    last_store = np.maximum.accumulate(np.where(store, steps, 0), axis=0)
    y = symbols[last_store, rows]
    return x, y.astype(np.int64)
