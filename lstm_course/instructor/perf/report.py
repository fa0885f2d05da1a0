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
    text = (f"Measured on {m['date']}: {m['cpu']}, {m['cores']} cores, {results['threads']} "
            f"PyTorch threads, torch {m['torch']}, NumPy {m['numpy']}, Python {m['python']}, "
            f"GPU: {gpu}.")
    if "load_average_1min" in m:
        text += (f" The machine's load average (other programs) was {m['load_average_1min']:.1f} "
                 f"when the run started, on {m['cores']} cores.")
    dates = results.get("measured", {})
    if len(set(dates.values())) > 1:
        text += " Parts measured separately: " + "; ".join(
            f"{part} on {date}" for part, date in dates.items()) + "."
    return text


def lstm_markdown(results: dict) -> str:
    """Markdown table of the LSTM timings: median milliseconds and ratio to nn.LSTM, and the
    quartiles of the course LSTM's ratio over the paired runs (where the results have them)."""
    rows = results.get("lstm", [])
    if not rows:
        return "_No LSTM timings in this results file._"
    names = list(rows[0]["ms"])
    spread = "ratio_spread" in rows[0]
    head = "| T | B | I | H | pass | " + " | ".join(names) + (" | course LSTM / nn.LSTM, quartiles |"
                                                            if spread else " |")
    sep = "|---" * (5 + len(names) + spread) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for n in names:
            if n in r["ms"]:
                cells.append(f"{r['ms'][n]:.2f} ms ({r['ratio_to_nn_lstm'][n]:.2f}×)")
            else:
                cells.append("–")
        if spread:
            lo, hi = r["ratio_spread"]["course LSTM"]
            cells.append(f"{lo:.2f}–{hi:.2f}")
        lines.append(f"| {r['T']} | {r['B']} | {r['I']} | {r['H']} | {r['pass']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def worst_cells(results: dict) -> dict[str, dict]:
    """For each pass, the row of the grid where the course LSTM is slowest relative to nn.LSTM."""
    out = {}
    for r in results.get("lstm", []):
        best = out.get(r["pass"])
        if best is None or r["ratio_to_nn_lstm"]["course LSTM"] > best["ratio_to_nn_lstm"]["course LSTM"]:
            out[r["pass"]] = r
    return out


def _ms_with_spread(r: dict, name: str) -> str:
    text = f"{r['ms'][name]:.2f} ms"
    if "ms_spread" in r and name in r["ms_spread"]:
        lo, hi = r["ms_spread"][name]
        text += f" ({lo:.2f}–{hi:.2f})"
    return text


def worst_cells_markdown(results: dict) -> str:
    """The worst cell of each table (forward; forward + backward), with the spread of the runs."""
    worst = worst_cells(results)
    if not worst:
        return "_No LSTM timings in this results file._"
    lines = ["| pass | worst cell | course LSTM, median (quartiles) | nn.LSTM, median (quartiles) "
             "| ratio, median (quartiles of the paired runs) |", "|---|---|---|---|---|"]
    for pass_, r in worst.items():
        ratio = f"{r['ratio_to_nn_lstm']['course LSTM']:.2f}×"
        if "ratio_spread" in r:
            lo, hi = r["ratio_spread"]["course LSTM"]
            ratio += f" ({lo:.2f}–{hi:.2f})"
        lines.append(f"| {pass_} | T={r['T']}, B={r['B']}, I={r['I']}, H={r['H']} | "
                     f"{_ms_with_spread(r, 'course LSTM')} | {_ms_with_spread(r, 'nn.LSTM')} | {ratio} |")
    return "\n".join(lines)


def onednn_markdown(results: dict) -> str:
    """nn.LSTM at batch 1: oneDNN with two threads and one, and the generic loop (milliseconds)."""
    rows = results.get("onednn", [])
    if not rows:
        return "_No oneDNN measurements in this results file._"
    names = list(rows[0]["ms"])
    lines = ["| T | pass | " + " | ".join(names) + " |", "|---" * (2 + len(names)) + "|"]
    for r in rows:
        lines.append(f"| {r['T']} | {r['pass']} | " + " | ".join(_ms_with_spread(r, n) for n in names) + " |")
    return "\n".join(lines)


def onednn_summary(results: dict) -> str:
    """What the batch-1 measurements show, in numbers read from them."""
    rows = {(r["T"], r["pass"]): r["ms"] for r in results.get("onednn", [])}
    if not rows:
        return ""
    two, one = "oneDNN, 2 threads", "oneDNN, 1 thread"
    slow = [ms[two] / ms[one] for ms in rows.values()]
    back = [rows[(T, "forward + backward")][two] / rows[(T, "forward")][two]
            for T, p in rows if p == "forward"]
    back_one = [rows[(T, "forward + backward")][one] / rows[(T, "forward")][one]
                for T, p in rows if p == "forward"]
    text = (f"Called alone, with two threads oneDNN's `nn.LSTM` took {min(slow):.1f} to "
            f"{max(slow):.1f} times as long as with one thread, and its forward + backward "
            f"{min(back):.1f} to {max(back):.1f} times its forward (with one thread: "
            f"{min(back_one):.1f} to {max(back_one):.1f} times).")
    grid = {(r["T"], r["pass"]): r["ms"]["nn.LSTM"] for r in results.get("lstm", [])
            if (r["B"], r["I"], r["H"]) == (1, 8, 64)}
    parts = []
    for pass_ in ("forward", "forward + backward"):
        pairs = [(T, grid[(T, p)], ms[two]) for (T, p), ms in rows.items() if p == pass_ and (T, p) in grid]
        if pairs:
            parts.append(f"its {pass_} took " + ", ".join(f"{g:.1f} ms (T = {T}; {a:.1f} ms alone)"
                                                        for T, g, a in pairs))
    if parts:
        text += (" In the grid above, where each call of `nn.LSTM` follows calls of the other "
                 "implementations, " + "; ".join(parts) + ".")
    return text


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
    hatches = ["///", "...", "xx", "\\\\"]         # colour is not the only cue
    for k, name in enumerate(names):
        ax.bar(x + k * width, [r["ratio_to_nn_lstm"].get(name, np.nan) for r in rows], width,
               label=name, hatch=hatches[k % len(hatches)], edgecolor="black", linewidth=0.5)
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


def scale_markdown(results: dict) -> str:
    """Fast against full grading and plain nbgrader per chapter, Dask throughput, the projection."""
    scale = results.get("scale")
    if not scale:
        return "_This results file has no measurements of grading at scale._"
    lines = ["| chapter | fast, s per submission | `--full` | plain nbgrader | plain / fast "
             "| cells skipped | answer key (fast, full) | student version (fast, full) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in scale["chapters"]:
        top = r.get("max_score")
        key = ", ".join(f"{s:g}/{top:g}" if top else f"{s:g}"
                        for s in (r["fast_scores"][0], r["full_scores"][0]))
        blank = r.get("blank_scores") or {}
        student = ", ".join(f"{blank[m][0]:g}" for m in ("fast", "full") if blank.get(m)) or "–"
        lines.append(f"| {r['chapter']} | {r['fast']:.1f} | {r['full']:.1f} | "
                     f"{r['plain_nbgrader']:.1f} | {r['fast_vs_plain_nbgrader']:.1f}x | "
                     f"{r.get('skipped_cells', 0)} | {key} | {student} |")
    dask = scale["dask"]
    workers = {int(k): v for k, v in dask["workers"].items()}
    lines += ["", f"Through `--scheduler`, on a local Dask cluster grading {dask['submissions']} copies of "
              f"{dask['chapter']}'s answer key (fast): "
              + "; ".join(f"{w} worker{'s' if w > 1 else ''}: {v['per_second']:.3f} submissions per second"
                          for w, v in sorted(workers.items()))
              + f"; 2 workers give {dask['speedup_2_vs_1']:.2f}x the throughput of 1. The scheduler's "
              f"round trip for an empty task: {dask['scheduler_overhead_s'] * 1000:.1f} ms.", "",
              f"Projected wall time, assuming {scale['projection']['assumption']}:", "",
              "| submissions | two-core workers | hours |", "|---|---|---|"]
    lines += [f"| {r['submissions']:,} | {r['workers']} | {r['hours']:.2f} |"
              for r in scale["projection"]["rows"]]
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
            out.append(_lstm_limit(results, t))
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
                          f"kernel took {start:.2f} s and running the cells {cells:.2f} s.")
            out.append(f"* {name}: measured {t['measured']:.2f}×, "
                       f"{ours['seconds_per_submission'] - plain:.2f} s more per submission than "
                       f"plain nbgrader's {plain:.2f} s.{detail}")
        else:
            out.append(f"* {name}: measured {t['measured']:.2f}.")
    return "\n".join(out)


def _lstm_limit(results: dict, target: dict) -> str:
    """Why the course LSTM misses a speed target, from the worst cell's numbers."""
    pass_ = "forward + backward" if "forward + backward" in target["target"] else "forward"
    r = worst_cells(results)[pass_]
    spread = ""
    if "ratio_spread" in r:
        lo, hi = r["ratio_spread"]["course LSTM"]
        spread = f" (quartiles of the paired runs {lo:.2f}–{hi:.2f})"
    per_step = {n: 1e3 * r["ms"][n] / r["T"] for n in ("course LSTM", "nn.LSTM")}
    text = (f"* {target['target']}: measured {target['measured']:.2f}×{spread}. In that cell a time "
            f"step costs the course LSTM {per_step['course LSTM']:.0f} µs and `nn.LSTM` "
            f"{per_step['nn.LSTM']:.0f} µs. The course LSTM's loop is Python: per step its forward "
            "issues seven PyTorch operations (one matrix product, one sigmoid for all four gates, "
            "five element-wise updates) and its backward five more, each a Python-to-C++ dispatch "
            "of a few microseconds whatever the size of the matrices, while `nn.LSTM` runs the "
            "whole loop in one C++ call. Where the matrices are small (batch 1, or H = 64) that "
            "fixed cost per step is most of the time, and only fewer operations per step (a "
            "compiled loop) would remove it. On a machine busy with other programs each of those "
            "operations can also wait for a core, which slows a loop of many small operations "
            "more than one C++ call.")
    if r["B"] == 1 and results.get("onednn"):
        text += (" At batch 1 `nn.LSTM` itself is slowed by its threads (next section).")
    return text
