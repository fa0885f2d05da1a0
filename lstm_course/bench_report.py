"""Tables and plots of the Performance appendix, drawn from ``lstm-course bench`` JSON.

The appendix never types a number by hand: it loads the committed results file and calls
these functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def load(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def machine_markdown(results: dict) -> str:
    m = results["machine"]
    gpu = m.get("gpu") or "none"
    return (f"Measured on {m['date']}: {m['cpu']}, {m['cores']} cores, {results['threads']} "
            f"PyTorch threads, torch {m['torch']}, NumPy {m['numpy']}, Python {m['python']}, "
            f"GPU: {gpu}.")


def lstm_markdown(results: dict) -> str:
    """Markdown table of the LSTM timings: milliseconds and ratio to nn.LSTM."""
    rows = results.get("lstm", [])
    if not rows:
        return "_No LSTM timings in this results file._"
    names = list(rows[0]["ms"])
    head = "| T | B | I | H | pass | " + " | ".join(names) + " |"
    sep = "|---" * (5 + len(names)) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for n in names:
            if n in r["ms"]:
                cells.append(f"{r['ms'][n]:.2f} ms ({r['ratio_to_nn_lstm'][n]:.2f}×)")
            else:
                cells.append("–")
        lines.append(f"| {r['T']} | {r['B']} | {r['I']} | {r['H']} | {r['pass']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_markdown(results: dict) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for t in results.get("targets", []):
        lines.append(f"| {t['target']} | {t['measured']:.2f} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)


def plot_ratios(results: dict, ax=None):
    """Forward + backward time relative to nn.LSTM, one group of bars per size."""
    rows = [r for r in results.get("lstm", []) if r["pass"] == "forward + backward"]
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.8))
    names = [n for n in rows[0]["ratio_to_nn_lstm"] if n != "nn.LSTM"] if rows else []
    x = np.arange(len(rows))
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        ax.bar(x + k * width, [r["ratio_to_nn_lstm"].get(name, np.nan) for r in rows], width,
               label=name)
    ax.axhline(1.0, color="black", linewidth=0.8, label="nn.LSTM")
    ax.set_xticks(x + 0.4 - width / 2)
    ax.set_xticklabels([f"T={r['T']}\nB={r['B']}\nH={r['H']}" for r in rows], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("time / nn.LSTM time")
    ax.set_title("Forward + backward, float32, relative to nn.LSTM (lower is faster)")
    ax.legend(fontsize="small")
    return ax


def plot_notebook_times(results: dict, ax=None):
    rows = results.get("notebooks", {}).get("chapters", [])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    names = [r["chapter"] for r in rows]
    ax.barh(names, [r["seconds"] for r in rows],
            color=["tab:blue" if r["status"] == "ok" else "tab:red" for r in rows])
    budget = rows[0]["budget_s"] if rows else 60
    ax.axvline(budget, color="tab:red", linestyle="--", label=f"budget ({budget:.0f} s)")
    ax.invert_yaxis()
    ax.set_xlabel("seconds to execute the answer key")
    ax.set_title("Notebook execution time")
    ax.legend(fontsize="small")
    return ax


def plot_grading(results: dict, ax=None):
    rows = results.get("grading", [])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    ax.barh([r["method"] for r in rows], [r["seconds_per_submission"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("seconds per submission (lower is better)")
    ax.set_title("Grading throughput")
    return ax


def grading_markdown(results: dict) -> str:
    lines = ["| method | seconds per submission | submissions | same score for every copy |",
             "|---|---|---|---|"]
    for r in results.get("grading", []):
        full = len(set(r["scores"].values())) == 1
        lines.append(f"| {r['method']} | {r['seconds_per_submission']:.2f} | {r['submissions']} | "
                     f"{'yes' if full else 'no'} |")
    return "\n".join(lines)
