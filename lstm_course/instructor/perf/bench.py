"""``lstm-course bench``: measure the course on this machine and write the results as JSON.

Three tables, each a list of rows, with the machine described next to them:

1. ``lstm``: forward and forward + backward time of the naive per-gate loop, the course's
   ``lstm_course.LSTM`` and ``nn.LSTM`` over a grid of sizes (float32), with the ratio to
   ``nn.LSTM`` and the spread of repeated runs, plus the NumPy reference forward; on a GPU also
   the cuDNN path; and ``onednn``: ``nn.LSTM`` at batch 1 with oneDNN on one or two threads and
   with oneDNN off (what limits the small cells);
2. ``notebooks``: the execution time of every chapter's answer key, and of the whole book build;
3. ``grading``: seconds per submission for plain ``nbgrader autograde`` and for
   ``lstm-course grade --full`` (every cell, as nbgrader: what isolation costs) with one and two jobs;
4. ``scale`` (:mod:`lstm_course.instructor.perf.scale`): fast against ``--full`` grading for every
   chapter, the throughput of 1 and 2 local Dask workers, and a projection for large classes.

Medians over repeated runs after warm-up. ``--quick`` runs each part at its smallest size
(to test the harness, not to measure). The full run's JSON is committed as
``book/bench_results.json`` and rendered by the Performance appendix:
``lstm-course bench --json book/bench_results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lstm_course.instructor.release import chapter_names, find_root, strip_demonstrations

#: The grid of the LSTM table: (T, B, H) with input size I = H / 4 (I = 8 for H = 64 and
#: I = 64 for H = 256, the two sizes of the course's performance targets).
FULL_GRID = [(T, B, H) for H in (64, 256) for B in (1, 32, 64) for T in (50, 100, 400)]
QUICK_GRID = [(10, 2, 16)]
LSTM_TARGETS = {"forward + backward": 1.25, "forward": 2.0}  # course LSTM / nn.LSTM, every cell
NOTEBOOK_BUDGET_S = 60.0
QUICK_CHAPTER = "ch01_rnn"  # --quick times this chapter's graded skeleton only


def progress(iterable, total: int, desc: str):
    """The course's progress bar, imported on use: `lstm-course` must not load PyTorch to start."""
    from lstm_course.train import progress as bar

    return bar(iterable, total=total, desc=desc)


def input_size_for(H: int) -> int:
    return 8 if H <= 64 else H // 4


def describe_machine() -> dict:
    """CPU, cores, threads, versions: what the numbers were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "gpu": gpu,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "load_average_1min": os.getloadavg()[0],   # other programs' load when the run started
    }


def numpy_forward_ms(T: int, B: int, I: int, H: int, repeats: int) -> float:
    """Median milliseconds of the NumPy reference forward pass (float32)."""
    from lstm_course.scratch.lstm import lstm_forward

    r = np.random.default_rng(0)
    xs = r.standard_normal((T, B, I)).astype(np.float32)
    W = (0.1 * r.standard_normal((4 * H, H + I))).astype(np.float32)
    b = np.zeros(4 * H, dtype=np.float32)
    h0 = np.zeros((B, H), dtype=np.float32)
    lstm_forward(xs, h0, h0, W, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        lstm_forward(xs, h0, h0, W, b)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _quartiles(values: list[float]) -> list[float]:
    """[first quartile, third quartile]: the spread of repeated measurements."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return [q[0], q[2]]


def bench_lstm(quick: bool, threads: int) -> list[dict]:
    """Table 1: one row per (size, pass), milliseconds per implementation and ratios.

    ``ms`` holds medians and ``ms_spread`` the quartiles of the repeated calls. The ratio to
    nn.LSTM is taken round by round (each round calls every implementation once, one after the
    other, so both see the same load): ``ratio_to_nn_lstm`` is the median of those paired ratios
    and ``ratio_spread`` their quartiles.
    """
    import torch

    from lstm_course.teach import timing as speed

    impls = dict(speed.IMPLEMENTATIONS)
    grid = QUICK_GRID if quick else FULL_GRID
    repeats = 1 if quick else 9
    rows = []
    for T, B, H in progress(grid, total=len(grid), desc="LSTM speed"):
        I = input_size_for(H)
        for backward in (False, True):
            runs = speed.compare_runs(impls, T, B, I, H, backward=backward, repeats=repeats,
                                      warmup=1 if quick else 3, threads=threads)
            row = {"T": T, "B": B, "I": I, "H": H,
                   "pass": "forward + backward" if backward else "forward", "device": "cpu",
                   "ms": {name: 1e3 * statistics.median(ts) for name, ts in runs.items()},
                   "ms_spread": {name: [1e3 * q for q in _quartiles(ts)] for name, ts in runs.items()}}
            ratios = {name: [a / b for a, b in zip(ts, runs["nn.LSTM"], strict=True)]
                      for name, ts in runs.items()}
            row["ratio_to_nn_lstm"] = {name: statistics.median(r) for name, r in ratios.items()}
            row["ratio_spread"] = {name: _quartiles(r) for name, r in ratios.items()}
            if torch.cuda.is_available():
                cuda = speed.compare({"nn.LSTM (cuDNN)": impls["nn.LSTM"],
                                      "course LSTM (GPU)": impls["course LSTM"]}, T, B, I, H,
                                     backward=backward, repeats=repeats, device="cuda")
                row["ms"].update({name: 1e3 * s for name, s in cuda.items()})
                row["ratio_to_nn_lstm"].update({name: s / cuda["nn.LSTM (cuDNN)"]
                                                for name, s in cuda.items()})
            if not backward:
                numpy_ms = numpy_forward_ms(T, B, I, H, repeats)
                row["ms"]["NumPy reference"] = numpy_ms
                row["ratio_to_nn_lstm"]["NumPy reference"] = numpy_ms / row["ms"]["nn.LSTM"]
            rows.append(row)
    return rows


def bench_onednn(quick: bool) -> list[dict]:
    """Table 1b: what oneDNN does at batch 1. nn.LSTM (H = 64, I = 8, B = 1) with oneDNN and 1 or
    2 threads, and with oneDNN off (PyTorch's generic per-step loop) and 2 threads, interleaved
    call by call; milliseconds, median and quartiles."""
    import torch
    from torch import nn

    from lstm_course.teach import timing as speed

    settings = {"oneDNN, 2 threads": (True, 2), "oneDNN, 1 thread": (True, 1),
                "generic (oneDNN off), 2 threads": (False, 2)}
    lengths = [10] if quick else [50, 100, 400]
    repeats = 1 if quick else 9
    rows = []
    for T in progress(lengths, total=len(lengths), desc="oneDNN at batch 1"):
        for backward in (False, True):
            torch.manual_seed(0)
            xs = torch.randn(T, 1, 8, requires_grad=backward)
            model = nn.LSTM(8, 64)
            times: dict[str, list[float]] = {name: [] for name in settings}
            for round_ in range(repeats + 2):
                for name, (enabled, threads) in settings.items():
                    with speed.onednn(enabled), _threads(threads):
                        model.zero_grad(set_to_none=True)
                        xs.grad = None
                        elapsed = speed._run_once(model, xs, backward)
                    if round_ >= 2:
                        times[name].append(elapsed)
            rows.append({"T": T, "B": 1, "I": 8, "H": 64,
                         "pass": "forward + backward" if backward else "forward",
                         "ms": {n: 1e3 * statistics.median(ts) for n, ts in times.items()},
                         "ms_spread": {n: [1e3 * q for q in _quartiles(ts)] for n, ts in times.items()}})
    return rows


class _threads:
    """``with _threads(n):`` PyTorch uses n threads inside the block."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


def _execute_notebook(path: Path, timeout: int) -> tuple[float, str]:
    """Execute a copy of a notebook's folder; return (seconds, 'ok' or the error)."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="lstm-bench-nb-") as tmp:
        work = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, work)
        nb = nbformat.read(work / path.name, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(work)}})
        start = time.perf_counter()
        try:
            client.execute()
            status = "ok"
        except Exception as err:  # a failing notebook is a result, not a crash of the bench
            status = f"error: {type(err).__name__}"
        return time.perf_counter() - start, status


def bench_notebooks(root: Path, quick: bool) -> dict:
    """Table 2: seconds to execute each answer key; the whole book build (full run only).
    ``--quick`` executes :data:`QUICK_CHAPTER`'s graded skeleton (:func:`skeleton_course`)."""
    with tempfile.TemporaryDirectory(prefix="lstm-bench-skeleton-") as tmp:
        source = skeleton_course(root, QUICK_CHAPTER, Path(tmp)) if quick else root
        chapters = [QUICK_CHAPTER] if quick else chapter_names(root)
        rows = []
        for chapter in progress(chapters, total=len(chapters), desc="notebooks"):
            seconds, status = _execute_notebook(source / "solutions" / chapter / f"{chapter}.ipynb",
                                                timeout=120)
            rows.append({"chapter": chapter, "seconds": seconds, "status": status,
                         "budget_s": NOTEBOOK_BUDGET_S})
    book = None if quick else time_book_build(root)
    return {"chapters": rows, "book_build_s": book}


def time_book_build(root: Path) -> float | None:
    """Seconds for a clean ``jupyter-book build`` of the course (into a temporary folder)."""
    exe = Path(sys.executable).parent / "jupyter-book"
    with tempfile.TemporaryDirectory(prefix="lstm-bench-book-") as tmp:
        start = time.perf_counter()
        proc = subprocess.run([str(exe), "build", str(root), "--path-output", tmp, "-W", "-n",
                               "--keep-going"], capture_output=True, text=True,
                              env={**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ['PATH']}"})
        seconds = time.perf_counter() - start
    return seconds if proc.returncode == 0 else None


def bench_grading(root: Path, quick: bool, chapter: str = "ch01_rnn") -> list[dict]:
    """Table 3: seconds per submission, plain nbgrader against ``lstm-course grade --full``.

    The class is copies of the chapter's answer key (full marks expected from every run),
    graded in two rounds of half the class each, the second in the opposite order (``--jobs 2``,
    ``--jobs 1``, plain nbgrader), so that a machine that speeds up or slows down during the
    measurement does not favour one method. ``--quick`` grades the chapter's graded skeleton.
    """
    from lstm_course.instructor.perf.grading import measure_grading

    per_round, rounds = (1, 1) if quick else (4, 2)  # --quick: one submission per method
    totals: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lstm-bench-class-") as tmp:
        if quick:
            root = skeleton_course(root, chapter, Path(tmp) / "skeleton")
        key = root / "solutions" / chapter / f"{chapter}.ipynb"
        for k in progress(range(rounds), total=rounds, desc="grading (plain, --jobs 1, --jobs 2)"):
            folder = Path(tmp) / f"round{k}"
            folder.mkdir()
            for m in range(per_round):
                shutil.copy(key, folder / f"student{k * per_round + m:02d}.ipynb")
            report = measure_grading(chapter, folder, root=root, jobs=(1, 2) if k % 2 == 0 else (2, 1),
                                     baseline=True, baseline_first=k % 2 == 1)
            runs = {"plain nbgrader autograde": (1, report["nbgrader"])}
            runs.update({f"lstm-course grade --jobs {j}": (j, run) for j, run in report["grade"].items()})
            for method, (jobs, run) in runs.items():
                row = totals.setdefault(method, {"method": method, "jobs": jobs, "seconds": 0.0,
                                                 "submissions": 0, "scores": {}, "chapter": chapter})
                row["seconds"] += run["seconds"]
                row["submissions"] += len(run["scores"])
                row["scores"].update(run["scores"])
                if "mode" in run:
                    row["sandbox"] = run["mode"]
                    timings = row.setdefault("timings", {})  # mean seconds per submission
                    for phase, seconds in run["timings"].items():
                        timings[phase] = timings.get(phase, 0.0) + seconds / rounds
    rows = [totals["plain nbgrader autograde"], totals["lstm-course grade --jobs 1"],
            totals["lstm-course grade --jobs 2"]]
    for row in rows:
        row["seconds_per_submission"] = row.pop("seconds") / row["submissions"]
    return rows


def targets_met(results: dict) -> list[dict]:
    """Check each performance target against the measured tables (reading, not asserting)."""
    out = []
    for pass_, limit in LSTM_TARGETS.items():
        rows = [r for r in results.get("lstm", []) if r["pass"] == pass_]
        if rows:
            worst = max(rows, key=lambda r: r["ratio_to_nn_lstm"]["course LSTM"])
            ratio = worst["ratio_to_nn_lstm"]["course LSTM"]
            out.append({"target": f"course LSTM {pass_} within {limit}x of nn.LSTM in every cell "
                                  f"of the grid (worst: T={worst['T']}, B={worst['B']}, "
                                  f"H={worst['H']})", "measured": ratio, "met": ratio <= limit})
    grading = {r["method"]: r["seconds_per_submission"] for r in results.get("grading", [])}
    if {"plain nbgrader autograde", "lstm-course grade --jobs 1",
            "lstm-course grade --jobs 2"} <= set(grading):
        speedup = grading["lstm-course grade --jobs 1"] / grading["lstm-course grade --jobs 2"]
        out.append({"target": "--jobs 2 at least 1.8x the throughput of --jobs 1",
                    "measured": speedup, "met": speedup >= 1.8})
        cost = grading["lstm-course grade --jobs 1"] / grading["plain nbgrader autograde"]
        out.append({"target": "isolation at most 1.3x plain nbgrader per submission",
                    "measured": cost, "met": cost <= 1.3})
    scale = results.get("scale")
    if scale:
        heaviest = next(r for r in scale["chapters"] if r["chapter"] == scale["heaviest"])
        ratio = heaviest["fast_vs_plain_nbgrader"]
        out.append({"target": f"fast grading at least 4x plain nbgrader per submission on the heaviest "
                              f"chapter ({heaviest['chapter']})", "measured": ratio, "met": ratio >= 4})
        speedup = scale["dask"]["speedup_2_vs_1"]
        out.append({"target": "2 local Dask workers at least 1.7x the throughput of 1",
                    "measured": speedup, "met": speedup >= 1.7})
        wrong = [r["chapter"] for r in scale["chapters"]
                 if any(s != r["max_score"] for m in ("fast", "full") for s in r[f"{m}_scores"])
                 or any(s != 0 for m in ("fast", "full") for s in r.get("blank_scores", {}).get(m, []))]
        out.append({"target": "every answer key earns full marks and every student version 0, fast and full",
                    "measured": len(scale["chapters"]) - len(wrong), "met": not wrong})
    nbs = results.get("notebooks", {}).get("chapters", [])
    if nbs:
        worst = max(r["seconds"] for r in nbs)
        out.append({"target": f"every notebook under {NOTEBOOK_BUDGET_S:.0f} s",
                    "measured": worst, "met": worst < NOTEBOOK_BUDGET_S})
    return out


def skeleton_course(root: Path, chapter: str, dest: Path) -> Path:
    """A course folder holding only ``chapter``, reduced to its graded skeleton
    (:func:`~lstm_course.instructor.release.strip_demonstrations`): what ``--quick`` runs, since it
    checks the harness and the demonstrations would only add minutes."""
    import nbformat

    from lstm_course.instructor.perf.grading import course_copy

    course_copy(root, chapter, dest)
    for part in ("solutions", "chapters"):
        path = dest / part / chapter / f"{chapter}.ipynb"
        nbformat.write(strip_demonstrations(nbformat.read(path, as_version=4)), path)
    return dest


def run(quick: bool = False, json_path: Path | None = None, parts: tuple[str, ...] = (
        "lstm", "notebooks", "grading", "scale"), threads: int = 2) -> dict:
    """Measure ``parts`` and write the JSON. When ``json_path`` exists and only some parts are
    measured, the other parts are kept from it (with the date each part was measured)."""
    root = find_root()
    results: dict = {}
    every = {"lstm", "notebooks", "grading", "scale"}
    if json_path is not None and json_path.exists() and set(parts) != every:
        results = json.loads(json_path.read_text())
        if results.get("quick") != quick:
            raise SystemExit(f"{json_path} holds a {'quick' if results.get('quick') else 'full'} run; "
                             "measure all parts to replace it")
    measured = results.setdefault("measured", {})   # part -> when it was measured
    for part in ("lstm", "notebooks", "grading", "scale"):
        if part in results and part not in measured:
            measured[part] = results["machine"]["date"]
    results.update({"machine": describe_machine(), "quick": quick, "threads": threads})
    results["machine"]["torch_threads"] = threads
    if "lstm" in parts:
        results["lstm"] = bench_lstm(quick, threads)
        results["onednn"] = bench_onednn(quick)
    if "notebooks" in parts:
        results["notebooks"] = bench_notebooks(root, quick)
    if "grading" in parts:
        results["grading"] = bench_grading(root, quick)
    if "scale" in parts:  # fast vs full, Dask throughput, projection (perf/scale.py)
        from lstm_course.instructor.perf.scale import bench_scale

        results["scale"] = bench_scale(root, quick, log=lambda m: print(m, file=sys.stderr, flush=True))
    measured.update({part: results["machine"]["date"] for part in parts})
    results["targets"] = targets_met(results)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


def _summary(results: dict) -> str:
    lines = [f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
             f"{results['threads']} torch threads, torch {results['machine']['torch']}"]
    for r in results.get("lstm", []):
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in r["ratio_to_nn_lstm"].items()
                           if k != "nn.LSTM")
        lines.append(f"T={r['T']:<3} B={r['B']:<2} I={r['I']:<2} H={r['H']:<3} {r['pass']:<18} "
                     f"nn.LSTM {r['ms']['nn.LSTM']:8.2f} ms; {ratios}")
    for r in results.get("notebooks", {}).get("chapters", []):
        lines.append(f"{r['chapter']:<18} {r['seconds']:6.1f} s  {r['status']}")
    if results.get("notebooks", {}).get("book_build_s"):
        lines.append(f"book build: {results['notebooks']['book_build_s']:.0f} s")
    for r in results.get("grading", []):
        lines.append(f"{r['method']:<32} {r['seconds_per_submission']:6.2f} s per submission")
    scale = results.get("scale") or {}
    for r in scale.get("chapters", []):
        lines.append(f"{r['chapter']:<18} fast {r['fast']:6.1f} s, full {r['full']:6.1f} s, plain nbgrader "
                     f"{r['plain_nbgrader']:6.1f} s per submission ({r['fast_vs_plain_nbgrader']:.1f}x)")
    for workers, r in scale.get("dask", {}).get("workers", {}).items():
        lines.append(f"Dask, {workers} local worker(s): {r['per_second']:.3f} submissions per second")
    if scale.get("projection"):
        lines.append(f"projection ({scale['projection']['assumption']}):")
        lines += [f"  {r['submissions']:>6} submissions on {r['workers']:>3} two-core workers: "
                  f"{r['hours']:8.2f} h" for r in scale["projection"]["rows"]]
    for t in results.get("targets", []):
        lines.append(f"[{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['measured']:.2f}")
    return "\n".join(lines)


def register(sub) -> None:
    parser = sub.add_parser("bench", help="measure speed, notebook times and grading throughput")
    parser.add_argument("--quick", action="store_true",
                        help="smallest sizes only: checks the harness, does not measure")
    parser.add_argument("--json", type=Path, default=None, help="write the results to this file")
    parser.add_argument("--only", nargs="+", choices=["lstm", "notebooks", "grading", "scale"],
                        default=["lstm", "notebooks", "grading", "scale"],
                        help="run only these parts; an existing --json file keeps the others "
                             "(e.g. --only lstm --json book/bench_results.json)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the LSTM table")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    # Threads that sleep while they wait (instead of spinning) keep the two-thread timings
    # stable when anything else runs; it must be set before PyTorch starts OpenMP.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    results = run(args.quick, args.json, tuple(args.only), args.threads)
    print(_summary(results))
    return 0
