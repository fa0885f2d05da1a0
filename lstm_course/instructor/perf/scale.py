"""Grading at scale: fast against full grading, Dask throughput, and a projection for big classes.

``lstm-course bench`` (part ``scale``) measures, with the answer key as every submission:

* seconds per submission of ``lstm-course grade`` fast (the default) and ``--full``, and of plain
  ``nbgrader autograde`` (no sandbox), for every chapter, with every score (the answer key must
  earn full marks, and the untouched student version, graded untimed, 0, fast and full)
  (``--quick``: Chapter 1's graded skeleton, one submission: it checks the harness, it does not
  measure);
* the throughput of a local Dask cluster (``distributed.LocalCluster``, one thread per worker
  process) with 1 and with 2 workers, grading through ``--scheduler``; and the scheduler's
  overhead per task (the round trip of an empty task);
* a projection of the wall time of 3,600 and 50,000 submissions on 1, 10 and 100 two-core
  workers, under the assumption stated in the result: the per-submission cost is constant (the
  measured 2-worker throughput of this two-core machine, chapter as measured), workers do not
  share anything that slows them down (a gradebook on PostgreSQL, not SQLite, for many
  machines), and the scheduler handles tasks one after the other at the measured overhead.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CLASS_SIZES = (3600, 50000)
WORKER_COUNTS = (1, 10, 100)


def _class(folder: Path, key: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        shutil.copy(key, folder / f"student{i:03d}.ipynb")
    return folder


def _course(root: Path, chapter: str, dest: Path, quick: bool) -> Path:
    from lstm_course.instructor.perf.bench import skeleton_course
    from lstm_course.instructor.perf.grading import course_copy

    return skeleton_course(root, chapter, dest) if quick else course_copy(root, chapter, dest)


def fast_and_full(root: Path, chapter: str, n: int, quick: bool, work: Path,
                  log: Callable[[str], None]) -> dict:
    """Seconds per submission fast, full and plain nbgrader (one job each, same class)."""
    from lstm_course.instructor.grading.course import Course
    from lstm_course.instructor.grading.runner import ensure_assignment, grade
    from lstm_course.instructor.grading.sandbox import Limits
    from lstm_course.instructor.perf.grading import plain_nbgrader

    limits = Limits(cell_timeout=300)
    course = _course(root, chapter, work / f"{chapter}-course", quick)
    subs = _class(work / f"{chapter}-subs", course / "solutions" / chapter / f"{chapter}.ipynb", n)
    row: dict = {"chapter": chapter, "submissions": n}
    # registered in the gradebook before timing: the first run would otherwise pay for it
    ensure_assignment(Course.load(course), chapter)
    def graded(folder: Path, mode: str):
        return grade(chapter, folder, out=work / f"{folder.name}-{mode}", jobs=1, limits=limits,
                     root=course, log=lambda _m: None, run_all=mode == "full")

    for mode in ("fast", "full"):
        run = graded(subs, mode)
        row[mode] = run.seconds / n
        row[f"{mode}_scores"] = sorted(r["score"] for r in run.results)
        row[f"{mode}_runs"] = sorted(r.get("run", "?") for r in run.results)
        if mode == "fast":
            row["skipped_cells"] = max(r.get("timings", {}).get("skipped_cells", 0) for r in run.results)
    row["max_score"] = max(r["max_score"] for r in run.results)
    # Not timed: the untouched student version, fast and full (it must earn 0 both ways, as the
    # answer key must earn full marks both ways; make test grades it fast only).
    row["blank_scores"] = {}
    if not quick:
        blank = _class(work / f"{chapter}-blank", course / "chapters" / chapter / f"{chapter}.ipynb", 1)
        for mode in ("fast", "full"):
            row["blank_scores"][mode] = [r["score"] for r in graded(blank, mode).results]
    notebooks = {p.stem: p for p in sorted(subs.glob("*.ipynb"))}
    seconds, scores = plain_nbgrader(course, chapter, notebooks, work / f"{chapter}-plain", timeout=300)
    row["plain_nbgrader"] = seconds / n
    row["plain_scores"] = sorted(scores.values())
    row["fast_vs_full"] = row["full"] / row["fast"]
    row["fast_vs_plain_nbgrader"] = row["plain_nbgrader"] / row["fast"]
    log(f"{chapter}: fast {row['fast']:.1f} s, full {row['full']:.1f} s, plain nbgrader "
        f"{row['plain_nbgrader']:.1f} s per submission")
    return row


def dask_throughput(root: Path, chapter: str, n: int, quick: bool, work: Path,
                    log: Callable[[str], None]) -> dict:
    """Submissions per second through ``--scheduler`` with 1 and 2 local Dask workers."""
    from distributed import Client, LocalCluster

    from lstm_course.instructor.grading.cluster import grade_on_cluster
    from lstm_course.instructor.grading.sandbox import Limits

    course = _course(root, chapter, work / "dask-course", quick)
    subs = _class(work / "dask-subs", course / "solutions" / chapter / f"{chapter}.ipynb", n)
    out: dict = {"chapter": chapter, "submissions": n, "workers": {}}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          memory_limit=0) as cluster, Client(cluster) as client:
            if workers == 1:  # the scheduler's cost per task: the round trip of an empty task
                client.submit(int, 0, pure=False).result()
                t0 = time.monotonic()
                rounds = 20 if quick else 200
                for i in range(rounds):
                    client.submit(int, i, pure=False).result()
                out["scheduler_overhead_s"] = (time.monotonic() - t0) / rounds
            run = grade_on_cluster(chapter, subs, scheduler=cluster.scheduler_address, root=course,
                                   out=work / f"dask-out{workers}", limits=Limits(cell_timeout=300),
                                   log=lambda _m: None)
        out["workers"][workers] = {
            "seconds": run.seconds,
            "per_second": n / run.seconds,
            "scores": sorted(r["score"] for r in run.results),
        }
        log(f"Dask, {workers} local worker(s): {n / run.seconds:.3f} submissions per second")
    out["speedup_2_vs_1"] = out["workers"][2]["per_second"] / out["workers"][1]["per_second"]
    return out


def projection(per_second_two_cores: float, overhead_s: float) -> dict:
    """Wall time of each class size on each number of two-core workers (see the module docstring)."""
    rows = []
    for n in CLASS_SIZES:
        for workers in WORKER_COUNTS:
            seconds = n / (workers * per_second_two_cores) + n * overhead_s
            rows.append({"submissions": n, "workers": workers, "hours": seconds / 3600})
    return {
        "assumption": (
            "each two-core worker grades at the throughput measured here with 2 local Dask workers "
            f"({per_second_two_cores:.4f} submissions/s); the per-submission cost is constant; workers "
            "share nothing that slows them (gradebook on PostgreSQL); the scheduler adds the measured "
            f"{overhead_s * 1000:.1f} ms per task, one task after the other"
        ),
        "rows": rows,
    }


def bench_scale(root: Path, quick: bool, log: Callable[[str], None] = print) -> dict:
    """The ``scale`` part of ``lstm-course bench`` (see the module docstring)."""
    from lstm_course.instructor.perf.bench import QUICK_CHAPTER
    from lstm_course.instructor.release import chapter_names

    chapters = [QUICK_CHAPTER] if quick else chapter_names(root)
    n = 1 if quick else 2
    with tempfile.TemporaryDirectory(prefix="lstm-bench-scale-") as tmp:
        work = Path(tmp)
        rows = [fast_and_full(root, ch, n, quick, work / ch, log) for ch in chapters]
        heaviest = max(rows, key=lambda r: r["full"])["chapter"]
        dask = dask_throughput(root, heaviest, 1 if quick else 8, quick, work / "dask", log)
    return {
        "chapters": rows,
        "heaviest": heaviest,
        "dask": dask,
        "projection": projection(dask["workers"][2]["per_second"], dask["scheduler_overhead_s"]),
    }
