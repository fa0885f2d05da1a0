"""Plotting helpers shared by the chapters, so every figure has the same look.

Importing this module sets the course's line style for every plot that follows: the
colour-blind-safe palette of Okabe and Ito, and for each line its own dash pattern, so that colour
is never the only way to tell two lines apart (in print, for readers with a colour vision
deficiency, and in the dark theme).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler

#: Okabe and Ito's palette (blue, orange, green, vermilion, purple, sky blue), black last.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)))
COURSE_STYLE = {"axes.prop_cycle": cycler(color=OKABE_ITO) + cycler(linestyle=LINESTYLES)}
plt.rcParams.update(COURSE_STYLE)


def new_axes(width: float = 6.4, height: float = 3.6, **kwargs):
    """One figure with one axes, sized for a book page."""
    fig, ax = plt.subplots(figsize=(width, height), **kwargs)
    return fig, ax


def _label(ax, xlabel: str, ylabel: str, title: str = ""):
    """Axis labels, a light grid, the legend and an optional title; returns ``ax``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def plot_gradient_norms(norms: Mapping[str, np.ndarray], *, ax=None, title: str = "",
                        ylabel: str = r"$\|\partial L / \partial h_t\|$"):
    """Norm of a gradient against the distance T - t, one line per label, log y axis.

    ``norms[label][t]`` is the norm at step t of a length-T sequence; the x axis shows T - 1 - t.
    """
    if ax is None:
        _, ax = new_axes()
    for label, values in norms.items():
        values = np.asarray(values, dtype=float)
        distance = np.arange(len(values))[::-1]
        ax.semilogy(distance, values, label=label)
    return _label(ax, "distance $T - t$ (steps back from the loss)", ylabel, title)


def plot_accuracy_vs(xs: Sequence[float], accuracies: Mapping[str, np.ndarray], *, chance: float,
                     xlabel: str, ax=None, title: str = ""):
    """Accuracy against a task parameter, with the spread over seeds and the chance level.

    ``accuracies[label]`` is (len(xs), n_seeds).
    """
    if ax is None:
        _, ax = new_axes()
    for label, acc in accuracies.items():
        acc = np.asarray(acc, dtype=float)
        mean = acc.mean(axis=1)
        ax.plot(xs, mean, marker="o", label=label)
        ax.fill_between(xs, acc.min(axis=1), acc.max(axis=1), alpha=0.2)
    ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:.2f})")
    ax.set_ylim(0, 1.05)
    return _label(ax, xlabel, "test accuracy", title)


def plot_curves(curves: Mapping[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]], *,
                xlabel: str = "training step", ylabel: str = "loss", ax=None, title: str = "",
                logy: bool = False, smooth: int = 1,
                hlines: Mapping[str, float] | None = None):
    """Training curves, one line per label, with optional labelled horizontal reference lines.

    ``curves[label]`` is either the values at steps 1, 2, ... or a pair ``(xs, ys)``.
    ``smooth`` > 1 draws the running mean over that many points (the first ones averaged over
    fewer). ``hlines`` maps a label ("mean predictor") to a y value drawn dashed.
    """
    if ax is None:
        _, ax = new_axes()
    for label, curve in curves.items():
        if isinstance(curve, tuple):
            xs, ys = (np.asarray(c, dtype=float) for c in curve)
        else:
            ys = np.asarray(curve, dtype=float)
            xs = np.arange(1, len(ys) + 1)
        if smooth > 1:
            cumsum = np.cumsum(np.insert(ys, 0, 0.0))
            lo = np.maximum(np.arange(1, len(ys) + 1) - smooth, 0)
            ys = (cumsum[1:] - cumsum[lo]) / (np.arange(1, len(ys) + 1) - lo)
        ax.plot(xs, ys, label=label)
    for k, (label, y) in enumerate((hlines or {}).items()):
        ax.axhline(y, color=("grey", "black", "tab:brown")[k % 3], linestyle="--", linewidth=1,
                   label=label)
    if logy:
        ax.set_yscale("log")
    return _label(ax, xlabel, ylabel, title)


def plot_confusion_matrix(counts: np.ndarray, labels: Sequence[str], *, ax=None, title: str = "",
                          normalize: bool = True):
    """A confusion matrix: rows are true classes, columns predicted ones.

    With ``normalize`` the colours show the fraction of each row (so every true class reads as
    "of the words with this tag, how many got which tag"); each cell is annotated with its count.
    """
    if ax is None:
        _, ax = new_axes(4.2, 3.8)
    counts = np.asarray(counts)
    rows = counts.sum(axis=1, keepdims=True)
    shown = counts / np.maximum(rows, 1) if normalize else counts
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                dark = shown[i, j] > 0.6 * (shown.max() or 1)
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    if title:
        ax.set_title(title)
    return ax


def plot_char_activations(text: str, values: Sequence[float], *, width: int = 64, ax=None,
                          title: str = "", vmax: float = 1.0):
    """One value per character of ``text``, shown as the character's background colour.

    Blue is negative, red positive (the colour scale is clipped to [-vmax, vmax]). Lines are
    broken at newlines and wrapped at ``width`` characters; a newline is drawn as "\u21b5".
    """
    rows: list[list[tuple[str, float]]] = [[]]
    for ch, v in zip(text, values, strict=True):
        if len(rows[-1]) == width:
            rows.append([])
        rows[-1].append(("\u21b5" if ch == "\n" else ch, float(v)))
        if ch == "\n":
            rows.append([])
    grid = np.full((len(rows), width), np.nan)
    for r, row in enumerate(rows):
        grid[r, : len(row)] = [v for _, v in row]
    if ax is None:
        _, ax = new_axes(0.14 * width + 0.4, 0.25 * len(rows) + 0.6)
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto",
              interpolation="nearest")
    for r, row in enumerate(rows):
        for c, (ch, _) in enumerate(row):
            ax.text(c, r, ch, ha="center", va="center", family="monospace", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
