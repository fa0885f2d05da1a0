"""Every chapter through ``lstm-course grade`` (sandbox, guard and all): the answer key earns
full marks and runs without an error in any cell, the untouched student notebook earns 0, and
neither is flagged or stopped.

This is where ``make test`` executes each chapter: once as the answer key, once as the student
version (the book build, ``make book``, executes the student version too; nothing else does).
"""

from __future__ import annotations

import csv
import json
import subprocess

import nbformat
import pytest
from conftest import ROOT, chapters, grade_command
from hostile.corpus import make_course

from lstm_course.instructor.grading.sandbox import SandboxUnavailable, detect

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("chapter", chapters())
def test_answer_key_full_marks_and_student_version_zero_through_grade(tmp_path, chapter):
    try:
        detect()
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox here: {err}")
    if not (ROOT / "chapters" / chapter / f"{chapter}.ipynb").exists():
        pytest.skip(f"{chapter} is not released yet (tests/test_release.py reports it)")
    course = make_course(tmp_path / "course", chapters=[chapter], fake_other=False)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "answer_key.ipynb").write_bytes((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_bytes())
    (subs / "untouched.ipynb").write_bytes((ROOT / "chapters" / chapter / f"{chapter}.ipynb").read_bytes())
    out = tmp_path / "out"
    cmd = grade_command(chapter, subs, out, "--jobs", "2", "--cell-timeout", "120")
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    key, blank = rows["answer_key"], rows["untouched"]

    def why(student: str) -> str:
        page = (out / "feedback" / f"{student}.html").read_text()
        return f"{rows[student]['detail']}\n{page[page.find('<table>') :][:3000]}"

    assert float(key["max_score"]) > 0, f"{chapter} has no graded test cells"
    assert key["status"] == "graded" and float(key["score"]) == float(key["max_score"]), why("answer_key")
    assert key["detail"].startswith("all ") and key["detail"].endswith(" tests passed"), why("answer_key")
    assert blank["status"] == "graded" and float(blank["score"]) == 0, why("untouched")
    assert "pending review" not in blank["detail"] and "kernel stopped" not in blank["detail"], why(
        "untouched"
    )
    graded_key = nbformat.read(course / "autograded" / "answer_key" / chapter / f"{chapter}.ipynb",
                               as_version=4)
    errors = [(cell.source[:200], out.get("ename"), out.get("evalue", "")[:300])
              for cell in graded_key.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, f"{chapter}: cells of the answer key raised: {errors}"
    report = json.dumps(rows)
    assert "GuardError" not in report and "changed the course's tools" not in report, report
