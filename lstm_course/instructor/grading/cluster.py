"""Grade a large class on a Dask cluster: ``lstm-course grade CHAPTER SUBS --scheduler tcp://HOST:8786``.

The client (this process) registers the chapter in the gradebook, finds the submissions, and
sends one task per submission to the cluster. Each task runs on a Dask worker exactly what a
local run does for one submission: :func:`~lstm_course.instructor.grading.runner.grade` on a
folder holding just that submission (sandbox, cgroup, guard, fast run and its full fallback),
from the worker's own course checkout and environment, which must be the same as the client's
(same path, same packages). The task returns the submission's result; the client writes the one
``grades.csv``, ``mistakes.csv`` and the feedback pages. The gradebook is the course's: with
workers on several machines it must be a database they all reach (PostgreSQL, ``--db-url``).

Dask reschedules the tasks of a worker that dies, and the client keeps exactly one result per
submission (a task's result is taken once, by submission), so a lost worker neither loses nor
duplicates a row. Before sending anything, every worker is asked to import the grader and to find
the course; one that cannot gives a clear error instead of a hang. Dask is imported only here.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lstm_course.instructor.grading.runner import GradeRun, GradingError

#: Seconds each worker gets to answer the preflight check.
PREFLIGHT_TIMEOUT_S = 60


def _preflight(root: str) -> dict:
    """Run on each worker: can it import the grader, and is the course there?"""
    import importlib

    info: dict = {"pid": os.getpid()}
    try:
        importlib.import_module("lstm_course.instructor.grading.worker")
        importlib.import_module("nbgrader")
    except BaseException as err:  # noqa: BLE001 - reported to the client
        info["error"] = f"cannot import the course's grader ({type(err).__name__}: {err})"
        return info
    if not (Path(root) / "solutions").is_dir():
        info["error"] = f"has no course checkout at {root}"
    return info


def grade_task(payload: dict) -> dict:
    """On a Dask worker: grade one submission (``payload`` from :func:`grade_on_cluster`)."""
    from lstm_course.instructor.grading.runner import grade
    from lstm_course.instructor.grading.sandbox import Limits

    sid = payload["student_id"]
    scratch = Path(tempfile.mkdtemp(prefix="lstm-dask-"))
    try:
        folder = scratch / "subs" / sid
        folder.mkdir(parents=True)
        for name, data in payload["files"].items():
            (folder / name).write_bytes(data)
        log_lines: list[str] = []
        run = grade(
            payload["chapter"],
            scratch / "subs",
            out=scratch / "out",
            jobs=1,
            db_url=payload["db_url"],
            unsafe=payload["unsafe"],
            limits=Limits(**payload["limits"]),
            root=Path(payload["root"]),
            log=log_lines.append,
            run_all=payload["run_all"],
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (result,) = run.results
    result["worker"] = f"{os.uname().nodename}:{os.getpid()}"
    return result


def connect_timeout() -> float:
    """Seconds to reach the scheduler and to wait for its first worker: Dask's own setting
    ``distributed.comm.timeouts.connect`` (30 s unless changed, for example with the environment
    variable ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s``)."""
    import dask
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="s"))


def grade_on_cluster(
    chapter: str,
    submissions: Path,
    *,
    scheduler: str,
    out: Path | None = None,
    jobs: int | None = None,
    db_url: str | None = None,
    unsafe: bool = False,
    limits=None,
    root: Path | None = None,
    log: Callable[[str], None] = print,
    run_all: bool = False,
) -> GradeRun:
    """Grade every submission of ``chapter`` on the Dask cluster at ``scheduler``; the same
    results and files as :func:`~lstm_course.instructor.grading.runner.grade`. ``jobs`` is
    ignored: the cluster's workers and threads set how many run at once."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise GradingError(
            "--scheduler needs Dask: pip install dask distributed (the versions in requirements.txt)"
        ) from None
    from lstm_course.instructor.grading.course import Course, redact, venv_path_env
    from lstm_course.instructor.grading.discover import DiscoveryError, discover
    from lstm_course.instructor.grading.feedback import write_feedback
    from lstm_course.instructor.grading.gradebook import record_zero
    from lstm_course.instructor.grading.mistakes import write_mistakes
    from lstm_course.instructor.grading.notebook import ChapterSource
    from lstm_course.instructor.grading.runner import _error_result, ensure_assignment, write_csv
    from lstm_course.instructor.grading.sandbox import Limits
    from lstm_course.instructor.grading.worker import max_score
    from lstm_course.instructor.release import chapter_names, find_root

    t0 = time.monotonic()
    os.environ["PATH"] = venv_path_env()["PATH"]
    root = (root or find_root()).resolve()
    if chapter not in chapter_names(root):
        raise GradingError(f"no chapter {chapter!r} in {root / 'solutions'}")
    if not Path(submissions).exists():
        raise GradingError(f"{submissions} does not exist")
    course = Course.load(root, db_url)
    limits = limits or Limits(cell_timeout=course.cell_timeout or Limits.cell_timeout)
    out = (out or Path.cwd() / "grades" / chapter).resolve()
    out.mkdir(parents=True, exist_ok=True)
    wait = connect_timeout()
    try:
        client = Client(scheduler, timeout=wait, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise GradingError(
            f"cannot reach the Dask scheduler at {scheduler} within {wait:g} s: {err}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=wait)
        except TimeoutError:
            raise GradingError(f"the Dask scheduler at {scheduler} has no workers") from None
        # eval (a builtin every worker can unpickle) imports the grader there, so a worker that
        # cannot import the course answers with that error instead of failing to load the check
        check = f"__import__({__name__!r}, fromlist=['_preflight'])._preflight({str(root)!r})"
        try:
            checks = client.run(eval, check, on_error="return")
        except Exception as err:  # noqa: BLE001
            raise GradingError(f"the Dask workers could not run the grader's check: {err}") from None
        bad = {
            w: (r.get("error") if isinstance(r, dict)
                else f"cannot import the course's grader ({type(r).__name__}: {r})")
            for w, r in checks.items()
            if not isinstance(r, dict) or r.get("error")
        }
        if bad:
            lines = "; ".join(f"worker {w} {why}" for w, why in sorted(bad.items()))
            raise GradingError(
                f"{lines}. Every Dask worker must run from the same course checkout and environment "
                f"as this client ({root}, {sys.executable}); see the instructor guide."
            )
        log(
            f"grading {chapter} from {submissions} into {out} on {len(checks)} Dask worker(s) at "
            f"{scheduler}, run: {'full' if run_all else 'fast'}, gradebook: {redact(course.db_url)}"
        )
        ensure_assignment(course, chapter)  # once, before any worker autogrades
        full = max_score(ChapterSource.load(root, chapter))
        scratch = Path(tempfile.mkdtemp(prefix="lstm-grade-"))
        try:
            try:
                subs = discover(Path(submissions), chapter, scratch)
            except DiscoveryError as err:
                raise GradingError(str(err)) from None
            results: dict[str, dict] = {}
            futures = {}
            for sub in subs:
                if sub.notebook is None:  # nothing to run: the row is the problem
                    result = _error_result(sub, chapter, full, sub.problem or "no notebook")
                    record_zero(_db(course), course.course_id, chapter, sub.student_id)
                    results[sub.student_id] = result
                    continue
                files = {sub.notebook.name: sub.notebook.read_bytes()}
                for extra in sub.extra_files:
                    files.setdefault(extra.name, extra.read_bytes())
                payload = {
                    "student_id": sub.student_id,
                    "chapter": chapter,
                    "files": files,
                    "root": str(root),
                    "db_url": course.db_url,
                    "unsafe": unsafe,
                    "limits": dataclasses.asdict(limits),
                    "run_all": run_all,
                }
                # pure=False: a resubmitted payload is a new task; retries: a task whose worker
                # died is rescheduled by Dask itself (allowed-failures), retries covers the rest
                key = f"grade-{chapter}-{sub.student_id}-{time.time_ns()}"
                future = client.submit(grade_task, payload, key=key, pure=False, retries=1)
                futures[future] = sub
            for future, value in as_completed(list(futures), with_results=True, raise_errors=False,
                                              loop=client.loop):
                sub = futures[future]
                if future.status == "error" or isinstance(value, BaseException):
                    err = future.exception() if future.status == "error" else value
                    result = _error_result(
                        sub, chapter, full, f"the Dask cluster could not grade this submission: "
                        f"{type(err).__name__}: {str(err)[:200]}"
                    )
                    record_zero(_db(course), course.course_id, chapter, sub.student_id)
                else:
                    result = value
                    theirs = [n for n in result.get("notes", []) if n not in sub.notes]
                    result["notes"] = list(sub.notes) + theirs
                if sub.student_id in results:
                    continue  # exactly one row per submission
                results[sub.student_id] = result
                log(f"[{len(results)}/{len(subs)}] {sub.student_id}: {result['status']} "
                    f"{result['score']:g}/{result['max_score']:g}")
            for sub in subs:
                results[sub.student_id]["student_id"] = sub.student_id
                results[sub.student_id]["submitted_as"] = "; ".join(sub.entries)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    finally:
        client.close()
    rows = sorted(results.values(), key=lambda r: r["student_id"])
    write_csv(out / "grades.csv", rows)
    write_mistakes(out / "mistakes.csv", rows)
    for result in rows:
        write_feedback(out, result, chapter)
    run = GradeRun(chapter, out, rows, time.monotonic() - t0, len(checks), f"dask {scheduler}")
    graded = sum(r["status"] == "graded" for r in rows)
    log(f"{len(rows)} submission(s): {graded} graded, {len(rows) - graded} error(s); "
        f"{run.seconds:.1f} s; wrote {run.csv_path}")
    return run


def _db(course) -> str:
    from lstm_course.instructor.grading.course import shared_db_url

    return shared_db_url(course.db_url)
