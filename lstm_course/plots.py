"""Plotting helpers shared by the chapters, so every figure has the same look."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def new_axes(width: float = 6.4, height: float = 3.6, **kwargs):
    """One figure with one axes, sized for a book page."""
    fig, ax = plt.subplots(figsize=(width, height), **kwargs)
    return fig, ax


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
    ax.set_xlabel("distance $T - t$ (steps back from the loss)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


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
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax
