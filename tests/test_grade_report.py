"""``lstm-course report``: the class report's tables from a gradebook and the grading folders'
``grades.csv`` and ``mistakes.csv`` (a later run replaces an earlier run's rows), and its page:
figures with alt text, everything from submissions escaped."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from conftest import ROOT, grade_command
from hostile.corpus import make_course

from lstm_course.instructor.grading import classreport
from lstm_course.instructor.grading.mistakes import write_mistakes
from lstm_course.instructor.grading.runner import write_csv
from lstm_course.instructor.grading.sandbox import SandboxUnavailable, detect
from lstm_course.instructor.grading.simulate import CHAPTER, simulate_class

TESTS = ["a_tests", "b_tests"]


def _run(folder, results):
    folder.mkdir(parents=True)
    for r in results:
        r.setdefault("chapter", "chX")
        r.setdefault("max_score", 5.0)
        r.setdefault("submitted_as", r["student_id"] + ".ipynb")
    write_csv(folder / "grades.csv", results)
    write_mistakes(folder / "mistakes.csv", results)


def _failed(test, mistake=None, message="wrong"):
    named = {"mistake": mistake, "description": f"desc of {mistake}"} if mistake else None
    return {"test": test, "exercise": test[0], "status": "failed", "points": 0, "max_points": 2,
            "message": message, "mistake": named}


def test_report_tables_from_gradebook_and_runs(tmp_path, monkeypatch):
    points = {
        "ann": {"a_tests": (2, 2), "b_tests": (3, 3)},
        "bob": {"a_tests": (0, 2), "b_tests": (3, 3)},
        "cy<script>": {"a_tests": (0, 2), "b_tests": (0, 3)},
        "dee": {"a_tests": (0, 2), "b_tests": (0, 3)},
    }
    monkeypatch.setattr(classreport, "class_points", lambda *a: points)
    _run(tmp_path / "run1", [
        {"student_id": "ann", "score": 5, "status": "graded", "detail": "all 2 tests passed", "tests": []},
        {"student_id": "bob", "score": 0, "status": "graded", "detail": "x",
         "tests": [_failed("a_tests", "gate-order-ifog"), _failed("b_tests", "bias-missing")]},
        {"student_id": "cy<script>", "score": 0, "status": "graded", "detail": "0 of 2 tests passed",
         "tests": [_failed("a_tests", "gate-order-ifog", "<b>bold</b>"), _failed("b_tests")]},
    ])
    _run(tmp_path / "run2", [  # bob graded again: his b_tests now passes
        {"student_id": "bob", "score": 3, "status": "graded", "detail": "1 of 2 tests passed",
         "tests": [_failed("a_tests", "gate-order-ifog", "a longer message than the other one")]},
        {"student_id": "dee", "score": 0, "status": "error", "detail": "the file is not a valid notebook",
         "tests": []},
    ])
    report = classreport.build("chX", [tmp_path / "run1", tmp_path / "run2"], db_url="x", course_id="c",
                               exercise_of={"a_tests": "a", "b_tests": "b"}, test_order=TESTS)
    assert report.size == 4
    assert [(t["test"], t["passed"], t["max_points"]) for t in report.tests] == [
        ("a_tests", 1, 2), ("b_tests", 2, 3)]
    named = [(m["test"], m["mistake"], m["count"]) for m in report.mistakes]
    assert named == [("a_tests", "gate-order-ifog", 2)]
    assert report.rate("a_tests", "gate-order-ifog") == 0.5 and report.unnamed == {"b_tests": 1}
    assert [(z["student_id"], z["status"]) for z in report.zero_or_error] == [
        ("cy<script>", "graded"), ("dee", "error")]
    assert "valid notebook" in report.zero_or_error[1]["why"]

    out = tmp_path / "report"
    page = classreport.write(report, out).read_text()
    assert "<script>" not in page and "cy&lt;script&gt;" in page and "&lt;b&gt;bold" in page
    for png in ("score_distribution.png", "pass_rates.png", "mistakes.png"):
        assert (out / png).stat().st_size > 1000 and f'src="{png}" alt="' in page
    assert "gate-order-ifog in a_tests 2" in page  # the mistakes figure's alt text
    with open(out / "mistakes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["mistake"], r["count"], r["share"]) for r in rows] == [("gate-order-ifog", "2", "0.5")]
    for name in ("scores.csv", "exercises.csv", "zero_or_error.csv"):
        assert (out / name).read_text().count("\n") >= 3


@pytest.mark.slow
def test_simulated_class_report_recovers_the_planted_rates(tmp_path):
    """A class made from the answer key with named mistakes planted at known rates (simulate.py),
    graded and reported: every planted rate comes back within one student (1 / class size), the
    students with a flipped sigmoid show up under predict_cell_state as (1 - f_t) (their slip
    spills over), and the blank and broken submissions are listed with why."""
    try:
        detect()
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox here: {err}")
    size = 14  # the smallest class in which every planted mistake (5% and up) has a student
    course = make_course(tmp_path / "course", chapters=[CHAPTER], fake_other=False)
    sim = simulate_class(tmp_path / "subs", root=ROOT, size=size, blank=1, not_notebook=1, syntax_error=1)
    out = tmp_path / "grades"
    proc = subprocess.run(grade_command(CHAPTER, tmp_path / "subs", out, "--jobs", "2"), cwd=course,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cmd = [sys.executable, "-m", "lstm_course.instructor.cli", "report", CHAPTER, "--grades", str(out),
           "--out", str(tmp_path / "report")]
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "report" / "mistakes.csv", newline="") as f:
        found = {(r["test"], r["mistake"]): float(r["share"]) for r in csv.DictReader(f)}
    tolerance = 1 / size
    for (test, mistake), students in sim.planted.items():
        assert students, (test, mistake)
        planted = len(students) / size
        assert abs(found.get((test, mistake), 0.0) - planted) <= tolerance + 1e-9, (test, mistake, found)
    flipped = len(sim.planted[("sigmoid_tests", "sigmoid-sign-flipped")]) / size
    spilled = found.get(("predict_cell_state_tests", "forget-means-keep"), 0.0)
    assert spilled == pytest.approx(flipped, abs=1e-3)
    with open(tmp_path / "report" / "zero_or_error.csv", newline="") as f:
        zero = {r["student_id"]: r for r in csv.DictReader(f)}
    for sid, kind in sim.kinds.items():
        if kind == "blank":
            assert zero[sid]["status"] == "graded" and zero[sid]["score"] == "0"
        elif kind == "broken":
            assert zero[sid]["status"] == "error" and "not a valid notebook" in zero[sid]["why"]
        else:
            assert sid not in zero, (sid, kind)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "concat-order-xh" in page and f'alt="Histogram of the {size} students' in page
