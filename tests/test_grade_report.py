"""``lstm-course report``: the class report's tables from a gradebook and the grading folders'
``grades.csv`` and ``mistakes.csv`` (a later run replaces an earlier run's rows), and its page:
figures with alt text, everything from submissions escaped."""

from __future__ import annotations

import csv

from lstm_course.instructor.grading import classreport
from lstm_course.instructor.grading.mistakes import write_mistakes
from lstm_course.instructor.grading.runner import write_csv

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
    monkeypatch.setattr(classreport, "_gradebook_points", lambda *a: points)
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
