"""Shared fixtures: the course root, its chapters, and a throw-away nbgrader course."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def chapters() -> list[str]:
    from lstm_course.instructor.release import chapter_names

    return chapter_names(ROOT)


def nbgrader_env() -> dict[str, str]:
    """nbgrader runs `alembic` and the kernel from PATH: this venv's bin first (the package's way)."""
    from lstm_course.instructor.grading.course import venv_path_env

    return venv_path_env()


def run_nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    proc = subprocess.run(cmd, cwd=course, env=nbgrader_env(), capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def grade_command(chapter: str, submissions: Path, out: Path, *options: str) -> list[str]:
    """The command line of ``lstm-course grade`` (run through this interpreter)."""
    return [sys.executable, "-m", "lstm_course.instructor.cli", "grade", chapter, str(submissions),
            "--out", str(out), *options]


def make_course(tmp_path: Path, chapter: str) -> Path:
    """A temporary nbgrader course with ``chapter`` as its only assignment, generated with a db."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / chapter, course / "source" / chapter)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'lstm-course-test'\n"
        "c.ExecutePreprocessor.timeout = 120\n"
    )
    run_nbgrader(course, "generate_assignment", chapter, "--force")
    return course


@pytest.fixture
def root() -> Path:
    return ROOT


#: The test files that take longest (tens of seconds to minutes: real kernels, browsers, clusters),
#: longest first. ``make test`` hands whole files to its workers (``--dist loadfile``) in
#: collection order; starting the longest first keeps one worker from being left with a long file
#: at the end while the other idles (longest-processing-time-first scheduling).
LONGEST_FIRST = (
    "test_grade_fast.py", "test_grade_parallel.py", "test_grade_hostile.py", "test_grade_cluster.py",
    "test_bench.py", "test_jupyterlab.py", "test_book_browser.py", "test_grade_report.py",
    "test_grade_platforms.py", "test_release.py", "test_grade_postgres.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept
