"""Measure the grader: seconds per submission at several ``--jobs``, and the cost of isolation.

:func:`measure_grading` grades the same submissions with ``lstm-course grade`` at each number of
jobs, and with plain ``nbgrader autograde`` (one at a time, no sandbox, no guard), each in a
throw-away copy of the course so no gradebook or student folder is touched. It returns the wall
time, the seconds per submission and the scores of every run (they must agree), and the ratio
of sandboxed ``--jobs 1`` to plain nbgrader: the cost of isolation. ``lstm-course bench`` calls it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lstm_course.instructor.grading.course import venv_path_env
from lstm_course.instructor.grading.sandbox import Limits


def course_copy(root: Path, chapter: str, dest: Path) -> Path:
    """A minimal course folder with ``chapter`` only (and the course's nbgrader_config.py)."""
    for part in ("solutions", "chapters"):
        shutil.copytree(root / part / chapter, dest / part / chapter)
    if (root / "nbgrader_config.py").exists():
        shutil.copy(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    (dest / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    return dest


def plain_nbgrader(
    root: Path, chapter: str, notebooks: dict[str, Path], work: Path, timeout: float = 120
) -> tuple[float, dict[str, float]]:
    """Seconds and scores of ``nbgrader autograde`` on ``notebooks`` (student id -> path)."""
    from lstm_course.instructor.grading.gradebook import total_scores

    course = work / "nbgrader-course"
    shutil.copytree(root / "solutions" / chapter, course / "source" / chapter)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'bench'\n"
        f"c.ExecutePreprocessor.timeout = {int(timeout)}\n"
    )
    env = venv_path_env()

    def nbgrader(*args: str) -> None:
        cmd = [
            sys.executable,
            "-m",
            "nbgrader",
            *args,
            f"--CourseDirectory.root={course}",
            "--log-level=ERROR",
        ]
        subprocess.run(cmd, cwd=course, env=env, check=True, capture_output=True)

    nbgrader("generate_assignment", chapter, "--force")
    for sid, path in notebooks.items():
        dest = course / "submitted" / sid / chapter
        dest.mkdir(parents=True)
        shutil.copy(path, dest / f"{chapter}.ipynb")
    t0 = time.monotonic()
    nbgrader("autograde", chapter, "--force")
    seconds = time.monotonic() - t0
    scores = total_scores(f"sqlite:///{course / 'gradebook.db'}", "bench", chapter, notebooks)
    return seconds, scores


def measure_grading(
    chapter: str,
    submissions: Path,
    *,
    root: Path | None = None,
    jobs: Iterable[int] = (1, 2),
    baseline: bool = True,
    baseline_first: bool = False,
    limits: Limits | None = None,
    work: Path | None = None,
    log: Callable[[str], None] = lambda message: None,
    run_all: bool = True,
) -> dict:
    """Time ``lstm-course grade`` at each of ``jobs`` (in that order) and plain nbgrader.

    ``lstm-course grade`` runs every cell (``--full``, ``run_all``), as plain nbgrader does: the
    difference is then what isolation costs (fast grading is the scale part's measurement).

    Plain ``nbgrader autograde`` runs last, or first with ``baseline_first``: a caller that
    measures twice in opposite orders evens out a machine that gets faster or slower meanwhile.
    """
    from lstm_course.instructor.grading.discover import discover
    from lstm_course.instructor.grading.runner import grade
    from lstm_course.instructor.release import find_root

    root = (root or find_root()).resolve()
    report: dict = {"chapter": chapter, "grade": {}}
    with tempfile.TemporaryDirectory(prefix="lstm-bench-") as tmp:
        base = Path(work) if work else Path(tmp)
        subs = discover(Path(submissions), chapter, base / "discovered")
        report["submissions"] = len(subs)
        n = max(1, len(subs))

        def run_grade(j: int) -> None:
            course = course_copy(root, chapter, base / f"course-jobs{j}")
            run = grade(chapter, Path(submissions), out=base / f"out-jobs{j}", jobs=j,
                        limits=limits, root=course, log=log, run_all=run_all)
            report["grade"][j] = {
                "seconds": run.seconds,
                "per_submission": run.seconds / n,
                "scores": {r["student_id"]: r["score"] for r in run.results},
                "status": {r["student_id"]: r["status"] for r in run.results},
                "mode": run.mode,
                "timings": mean_timings(run.results),
            }
            log(f"lstm-course grade --jobs {j}: {run.seconds:.1f} s, {run.seconds / n:.2f} s per submission")

        def run_plain() -> None:
            notebooks = {s.student_id: s.notebook for s in subs if s.notebook is not None}
            timeout = (limits or Limits()).cell_timeout
            seconds, scores = plain_nbgrader(root, chapter, notebooks, base, timeout=timeout)
            report["nbgrader"] = {
                "seconds": seconds,
                "per_submission": seconds / max(1, len(notebooks)),
                "scores": scores,
            }
            log(f"plain nbgrader autograde: {seconds:.1f} s, "
                f"{seconds / max(1, len(notebooks)):.2f} s per submission")

        steps = [lambda j=j: run_grade(j) for j in jobs]
        if baseline:
            steps.insert(0 if baseline_first else len(steps), run_plain)
        for step in steps:
            step()
        first = report["grade"].get(1) or next(iter(report["grade"].values()), None)
        if baseline and first:
            report["isolation_cost"] = {
                "ratio": first["per_submission"] / report["nbgrader"]["per_submission"],
                "extra_seconds_per_submission": first["per_submission"]
                - report["nbgrader"]["per_submission"],
            }
    return report


def mean_timings(results: list[dict]) -> dict[str, float]:
    """Mean seconds per graded submission of each phase the worker timed (kernel start, ...)."""
    phases: dict[str, list[float]] = {}
    for r in results:
        for phase, seconds in r.get("timings", {}).items():
            if seconds is not None:
                phases.setdefault(phase, []).append(seconds)
    return {phase: sum(v) / len(v) for phase, v in phases.items()}
