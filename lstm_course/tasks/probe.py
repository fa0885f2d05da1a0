"""Looking for interpretable cells: simple features of a text, and the cell that follows one.

In the spirit of Karpathy, Johnson & Fei-Fei (2015): run a trained character model over a
passage, record every cell's c_t (``lstm_course.tasks.charlm.cell_trace``), and compare each cell
with a feature of the text that is easy to compute, such as the position in the line or
whether we are inside a quoted span. A cell whose activation follows a feature closely is a
candidate "line-length cell" or "quote cell"; the correlation says how closely.
"""

from __future__ import annotations

import numpy as np


def line_position(text: str) -> np.ndarray:
    """For each character, how many characters precede it on its line (0 right after a newline;
    a newline itself counts as the end of its line)."""
    out, k = np.empty(len(text)), 0
    for t, ch in enumerate(text):
        out[t] = k
        k = 0 if ch == "\n" else k + 1
    return out


def inside_quotes(text: str, quote: str = '"') -> np.ndarray:
    """1.0 for the characters between an opening and a closing ``quote`` (the opening quote
    included, the closing one not), 0.0 elsewhere."""
    out, inside = np.empty(len(text)), False
    for t, ch in enumerate(text):
        if ch == quote:
            inside = not inside
        out[t] = float(inside)
    return out


def cell_correlations(cells: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``cells`` (T, n_cells) with ``feature`` (T,);
    0 for a constant cell."""
    c = cells - cells.mean(axis=0)
    f = feature - feature.mean()
    denom = np.sqrt((c**2).sum(axis=0) * (f**2).sum())
    return np.divide(f @ c, denom, out=np.zeros(cells.shape[1]), where=denom > 0)


def best_cell(cells: np.ndarray, feature: np.ndarray) -> tuple[int, float]:
    """(index, correlation) of the cell whose activation is most correlated with ``feature``,
    in absolute value (the sign says whether it rises or falls with it)."""
    r = cell_correlations(cells, feature)
    k = int(np.argmax(np.abs(r)))
    return k, float(r[k])
