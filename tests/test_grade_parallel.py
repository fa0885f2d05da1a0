"""Parallel and repeatable: ``--jobs 1`` and ``--jobs 2`` give the same rows and scores as each
other and as plain ``nbgrader autograde``; a platform's zip export, graded in the user namespace
sandbox, grades the same; without isolation ``grade`` refuses unless ``--unsafe``.

The timings of the first test come from :func:`lstm_course.instructor.perf.grading.measure_grading`, the
function ``lstm-course bench`` uses; they are printed (``pytest -s``) but not asserted, since
other work shares the machine.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import grade_command, nbgrader_env
from hostile.corpus import (
    CHAPTER,
    chapter_points,
    insert_after_imports,
    load,
    make_course,
    strip_narrative,
    write,
)

from lstm_course.instructor.grading.sandbox import Limits, SandboxUnavailable, detect
from lstm_course.instructor.perf.grading import measure_grading

pytestmark = pytest.mark.slow
FULL, _, _, POINTS = chapter_points(load("key"))
#: "half" leaves the last two exercises (gradient norms, clipping) unanswered.
EXPECTED = {"key": FULL, "folder_layout": FULL,
            "half": FULL - POINTS["grad_norms_tests"] - POINTS["clip_by_norm_tests"]}
#: What the zip (user-namespace sandbox) and --unsafe runs grade (the setup's ``pair``).
PAIR = {sid: EXPECTED[sid] for sid in ("half", "folder_layout")}


def _sandbox_or_skip(mode: str | None = None) -> str:
    try:
        return detect(mode)
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox here: {err}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("parallel")
    course = make_course(base / "course", fake_other=False)
    subs = base / "subs"
    subs.mkdir()
    key, student = strip_narrative(load("key")), strip_narrative(load("student"))
    write(subs, "key", key)
    half = strip_narrative(load("key"))
    stubs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in student.cells}
    for cell in half.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in ("grad_norms", "clip_by_norm"):
            cell.source = stubs[grade_id]
    half.cells = [c for c in half.cells if c.cell_type != "markdown"]
    write(subs, "half", half)
    # The zip (user-namespace sandbox) and --unsafe runs grade a partial score and a student's folder.
    pair = base / "pair"
    pair.mkdir()
    write(pair, "half", half)
    (pair / "folder_layout").mkdir()
    write(pair / "folder_layout", CHAPTER, key)
    (pair / "folder_layout" / "notes.txt").write_text("my notes")  # a student's other files
    archive = base / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(pair.rglob("*")):
            if path.is_file():
                zf.write(path, Path("platform-export") / path.relative_to(pair))
    return course, pair, archive, base


def _grade(
    course: Path, source: Path, out: Path, *extra: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = grade_command(CHAPTER, source, out, "--cell-timeout", "60", *extra)
    return subprocess.run(
        cmd, cwd=course, capture_output=True, text=True, timeout=1800, env={**os.environ, **(env or {})}
    )


def _scores(out: Path) -> dict[str, tuple[str, str]]:
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ids = [r["student_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"duplicated rows in {out}"
    return {r["student_id"]: (r["score"], r["status"]) for r in rows}


def test_jobs_1_and_2_agree_with_each_other_and_with_nbgrader(setup, capsys):
    _sandbox_or_skip()
    course, _, _, base = setup
    report = measure_grading(
        CHAPTER,
        base / "subs",
        root=course,
        jobs=(1, 2),
        limits=Limits(cell_timeout=60),
        work=base / "bench",
        log=print,
    )
    expected = {sid: EXPECTED[sid] for sid in ("key", "half")}
    assert report["submissions"] == 2
    for jobs in (1, 2):
        assert report["grade"][jobs]["scores"] == expected, jobs
        assert set(report["grade"][jobs]["status"].values()) == {"graded"}
    assert report["nbgrader"]["scores"] == expected
    with capsys.disabled():
        per = {j: round(r["per_submission"], 2) for j, r in report["grade"].items()}
        print(
            f"\nseconds per submission: grade {per}, plain nbgrader "
            f"{report['nbgrader']['per_submission']:.2f}; "
            f"isolation cost x{report['isolation_cost']['ratio']:.2f}"
        )


def test_zip_export_grades_the_same_as_the_folder_in_the_user_namespace_sandbox(setup):
    """A platform's zip (one top folder, notebooks and student folders inside) grades like the
    folder it came from, in the course's gradebook, which already holds the chapter; the run uses
    the user-namespace sandbox (the one for graders that are not root), so that it grades the
    same as the root sandbox's runs is checked here too (one run, not two: each costs kernels)."""
    course, subs, archive, base = setup
    env = {}
    try:
        detect("userns")
        env["LSTM_COURSE_SANDBOX"] = "userns"
    except SandboxUnavailable:
        _sandbox_or_skip()  # no user namespaces here: the zip is still graded, in the default sandbox
    proc = _grade(course, archive, base / "zip", "--jobs", "2", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if env:
        assert "sandbox: userns" in proc.stderr
    assert {sid: float(s) for sid, (s, _) in _scores(base / "zip").items()} == PAIR
    assert sorted(p.name for p in (base / "zip" / "feedback").iterdir()) == sorted(
        f"{s}.html" for s in PAIR
    )


def test_refuses_without_isolation_unless_unsafe(setup):
    course, subs, _, base = setup
    refused = _grade(course, subs, base / "refused", env={"LSTM_COURSE_SANDBOX": "none"})
    assert refused.returncode == 2
    assert "cannot isolate student code" in refused.stderr and "--unsafe" in refused.stderr
    assert not (base / "refused" / "grades.csv").exists()
    unsafe = _grade(
        course, subs, base / "unsafe", "--unsafe", "--jobs", "2", env={"LSTM_COURSE_SANDBOX": "none"}
    )
    assert unsafe.returncode == 0, unsafe.stderr[-2000:]
    assert "--unsafe" in unsafe.stderr
    assert {sid: float(s) for sid, (s, _) in _scores(base / "unsafe").items()} == PAIR


def test_grade_fails_loudly_only_when_it_cannot_run(setup):
    course, _, _, base = setup
    missing = _grade(course, base / "no-such-folder", base / "nothing")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    odd = base / "odd"
    (odd / "someone").mkdir(parents=True)
    (odd / "someone" / "notes.txt").write_text("no notebook here")
    rows = _grade(course, odd, base / "odd-out")
    assert rows.returncode == 0, rows.stderr[-2000:]  # a row that says why, not a failed run
    assert _scores(base / "odd-out") == {"someone": ("0", "error")}


def test_default_jobs_follows_the_cores_the_grader_is_given():
    # a grader pinned to fewer cores (taskset, a batch system's allocation) starts fewer jobs
    cores = sorted(os.sched_getaffinity(0))
    for given in {1, min(2, len(cores))}:
        code = (f"import os; os.sched_setaffinity(0, {set(cores[:given])!r}); "
                "from lstm_course.instructor.grading.runner import default_jobs; print(default_jobs())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == str(given)


def _sleeper_course(base: Path, name: str, sleeps: list[int], copies: int = 1) -> tuple[Path, Path]:
    """A course and a folder with ``copies`` answer keys that sleep ``sleeps`` seconds after their
    imports."""
    _sandbox_or_skip()
    course = make_course(base / f"{name}-course", fake_other=False)
    subs = base / name
    subs.mkdir()
    slow = strip_narrative(load("key"))
    for seconds in sleeps:
        slow = insert_after_imports(slow, f"import time\ntime.sleep({seconds})")
    for i in range(copies):
        write(subs, "slow" if copies == 1 else f"slow{i}", slow)
    return course, subs


def test_a_notebook_stops_at_its_time_budget(setup):
    course, subs = _sleeper_course(setup[3], "budget", [6, 6, 6])
    base = setup[3]
    proc = _grade(course, subs, base / "budget-out", "--cell-timeout", "30", "--submission-timeout", "14")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(base / "budget-out" / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "graded" and float(row["score"]) == 0
    assert "used up its 14 s time limit" in row["detail"] and "later cells did not run" in row["detail"]


def _is_kernel(p) -> bool:
    """A kernel: a new ``ipykernel_launcher`` process, or a fork of the zygote running as its
    sandbox user (the zygote and PID 1 of each sandbox run as the grader)."""
    import psutil

    try:
        cmdline = " ".join(p.cmdline())
        forked = "grading.zygote" in cmdline and p.uids().real != os.getuid()
        return "ipykernel_launcher" in cmdline or forked
    except psutil.NoSuchProcess:
        return False


def _running(p) -> bool:
    import psutil

    try:
        return p.status() != psutil.STATUS_ZOMBIE  # a zombie has ended; only its parent's wait is due
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("copies", [1, 2], ids=["new-process-kernel", "zygote-kernels"])
def test_a_submission_dies_with_its_grader(setup, copies):
    """A grader that is killed (say, a Dask worker process) leaves no submission running on,
    whether its kernel started as a new process (one notebook) or, as root, as a fork of the
    run's zygote (two)."""
    import psutil

    course, subs = _sleeper_course(setup[3], f"orphan{copies}", [300], copies)
    base = setup[3]
    cmd = grade_command(CHAPTER, subs, base / f"orphan{copies}-out", "--cell-timeout", "600", "--jobs", "2")
    grader = subprocess.Popen(cmd, cwd=course, env=nbgrader_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        family: list[psutil.Process] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until every submission's kernel runs
            family = psutil.Process(grader.pid).children(recursive=True)
            kernels = [p for p in family if _is_kernel(p)]
            if len(kernels) == copies:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no kernel started: {[p.cmdline() for p in family]}")
        grader.kill()  # the grader alone: its worker, sandbox and kernel are left to themselves
        grader.wait(timeout=30)
        deadline = time.monotonic() + 20
        while (alive := [p for p in family if _running(p)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        for p in psutil.Process(os.getpid()).children(recursive=True):
            if p.pid == grader.pid:
                p.kill()
