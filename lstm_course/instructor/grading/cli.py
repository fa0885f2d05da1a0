"""The ``grade`` and ``check`` subcommands of ``lstm-course`` (added by :func:`register`)."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from lstm_course.instructor.grading.sandbox import GiB, Limits


def _grade(args: argparse.Namespace) -> int:
    from lstm_course.instructor.grading.runner import GradingError, grade

    limits = None
    if any(v is not None for v in (args.cell_timeout, args.submission_timeout, args.memory)):
        from lstm_course.instructor.grading.course import Course
        from lstm_course.instructor.release import find_root

        default = Course.load(find_root()).cell_timeout or Limits.cell_timeout
        limits = Limits(
            cell_timeout=args.cell_timeout or default,
            submission_timeout=args.submission_timeout or Limits.submission_timeout,
            memory=int((args.memory or Limits.memory / GiB) * GiB),
        )
    if args.scheduler:  # a Dask cluster grades; only then is Dask imported (grading/cluster.py)
        from lstm_course.instructor.grading.cluster import grade_on_cluster

        grade = functools.partial(grade_on_cluster, scheduler=args.scheduler)
    try:
        run = grade(
            args.chapter,
            Path(args.submissions),
            out=Path(args.out) if args.out else None,
            jobs=args.jobs,
            db_url=args.db_url,
            unsafe=args.unsafe,
            limits=limits,
            log=lambda msg: print(msg, file=sys.stderr, flush=True),
            run_all=args.full,
        )
    except GradingError as err:
        print(f"lstm-course grade: {err}", file=sys.stderr)
        return 2
    print(run.csv_path)
    return 0


def _check(args: argparse.Namespace) -> int:
    from lstm_course.instructor.grading.selfcheck import check_notebook

    return check_notebook(Path(args.notebook), timeout=args.timeout)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``grade`` and ``check`` to the ``lstm-course`` command line."""
    g = sub.add_parser(
        "grade",
        help="autograde a folder or .zip of submissions, sandboxed and in parallel",
        description="Grade every submission of CHAPTER: each notebook runs in a sandbox (no network, "
        "no access to your files, limited memory and time) through nbgrader's autograde. Writes "
        "OUT/grades.csv and OUT/feedback/<student_id>.html; scores go to the nbgrader gradebook.",
    )
    g.add_argument("chapter", help="chapter folder name, e.g. ch01_rnn")
    g.add_argument(
        "submissions", help="folder of <student_id>.ipynb files or <student_id>/ folders, or a .zip"
    )
    g.add_argument("--out", help="where to write grades.csv and feedback/ (default: grades/CHAPTER)")
    g.add_argument("--jobs", type=int, help="submissions graded at once (default: number of cores)")
    g.add_argument(
        "--db-url",
        help="gradebook URL, e.g. postgresql://user@host/db "
        "(default: nbgrader_config.py's, SQLite in the course folder)",
    )
    g.add_argument(
        "--unsafe",
        action="store_true",
        help="grade without the sandbox where it cannot be set up (only for trusted notebooks)",
    )
    g.add_argument(
        "--cell-timeout", type=float, help="seconds per cell (default: nbgrader_config.py's, else 60)"
    )
    g.add_argument("--submission-timeout", type=float, help="seconds per notebook (default: 600)")
    g.add_argument(
        "--memory",
        type=float,
        help="GiB of memory per submission, all its processes together (default: 4; per process "
        "where no cgroup is usable)",
    )
    g.add_argument(
        "--full",
        action="store_true",
        help="run every cell (nbgrader's usual run); by default the demonstrations that no test "
        "or exercise needs are skipped, and a submission that then fails a test with a NameError "
        "or AttributeError is graded again in full",
    )
    g.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="grade on the workers of this Dask cluster (one task per submission; each worker "
        "needs the same course checkout and environment); grades.csv and feedback are written here",
    )
    g.set_defaults(func=_grade)

    c = sub.add_parser(
        "check",
        help="run your notebook in a fresh kernel and see which visible tests pass",
        description="Run NOTEBOOK from top to bottom in a fresh kernel, as the grader will, and say for "
        "each exercise whether its visible tests pass and how many points it is worth. Hidden tests "
        "run only when the notebook is graded.",
    )
    c.add_argument("notebook", help="your notebook, e.g. ch01_rnn.ipynb")
    c.add_argument("--timeout", type=float, default=120, help="seconds per cell (default: 120)")
    c.set_defaults(func=_check)

    from lstm_course.instructor.grading.classreport import register as register_report

    register_report(sub)  # `lstm-course report` (issue 20)

    from lstm_course.instructor.grading.platforms import register as register_export

    register_export(sub)  # `lstm-course export --to canvas|moodle` (issue 20)
