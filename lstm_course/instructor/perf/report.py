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
    ticks = [t for t in (0.25, 0.5, 1, 2, 5, 10, 20, 50) if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    ax.set_yticks(ticks, [f"{t:g}×" for t in ticks])
    ax.yaxis.set_minor_formatter(plt.NullFormatter())
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
    """Seconds per submission of each grading method, with where ``lstm-course grade`` spends them."""
    lines = ["| method | seconds per submission | kernel start, each | running the cells, each "
             "| submissions | same score for every copy |", "|---|---|---|---|---|---|"]
    for r in results.get("grading", []):
        start, cells = phases(r)
        full = len(set(r["scores"].values())) == 1
        lines.append(f"| {r['method']} | {r['seconds_per_submission']:.2f} | "
                     f"{_seconds(start)} | {_seconds(cells)} | {r['submissions']} | "
                     f"{'yes' if full else 'no'} |")
    return "\n".join(lines)


def phases(row: dict) -> tuple[float | None, float | None]:
    """Mean seconds a submission spent starting its kernel, and running its cells (or None)."""
    timings = row.get("timings", {})
    start, execute = timings.get("kernel_start"), timings.get("execute")
    if start is None or execute is None:
        return None, None
    return start, execute - start


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def limits_markdown(results: dict) -> str:
    """One sentence per target missed, with the measurements that explain it."""
    missed = [t for t in results.get("targets", []) if not t["met"]]
    if not missed:
        return "Every target is met on this machine."
    grading = {r["method"]: r for r in results.get("grading", [])}
    cores = results["machine"]["cores"]
    out = []
    for t in missed:
        name = t["target"]
        if name.startswith("course LSTM"):
            out.append(f"* {name}: measured {t['measured']:.2f}×. The course LSTM runs one Python "
                       "step per time step; the smaller the matrices, the larger the share of that "
                       "per-step overhead, which `nn.LSTM` does not pay.")
        elif name.startswith("--jobs 2"):
            out.append(f"* {name}: measured {t['measured']:.2f}× on {cores} cores. Two jobs can at "
                       "best halve the time; they share the cores with the grader itself and with "
                       "whatever else runs on the machine.")
        elif name.startswith("isolation"):
            plain = grading["plain nbgrader autograde"]["seconds_per_submission"]
            ours = grading["lstm-course grade --jobs 1"]
            start, cells = phases(ours)
            detail = ""
            if start is not None:
                detail = (f" Of its {ours['seconds_per_submission']:.2f} s, starting the sandboxed "
                          f"kernel (which imports NumPy and PyTorch for the test guard before the "
                          f"first cell) took {start:.2f} s and running the cells {cells:.2f} s.")
            out.append(f"* {name}: measured {t['measured']:.2f}×, "
                       f"{ours['seconds_per_submission'] - plain:.2f} s more per submission than "
                       f"plain nbgrader's {plain:.2f} s.{detail}")
        else:
            out.append(f"* {name}: measured {t['measured']:.2f}.")
    return "\n".join(out)
