"""Canvas and Moodle: their submission downloads are recognised (each row keeps the platform's
id; one Canvas user's files are one row; late submissions are marked), graded, and exported as
the platform's gradebook-import CSV. Plain folders keep their ids."""

from __future__ import annotations

import copy
import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, grade_command
from hostile.corpus import make_course

from lstm_course.instructor.grading.discover import discover
from lstm_course.instructor.grading.platforms import export, recognise
from lstm_course.instructor.grading.sandbox import SandboxUnavailable, detect
from lstm_course.instructor.grading.simulate import CHAPTER, PLANTS
from lstm_course.instructor.release import strip_demonstrations

WRONG_SIGMOID = PLANTS[CHAPTER][0].code


def _notebooks():
    key = strip_demonstrations(nbformat.read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4))
    wrong = copy.deepcopy(key)
    for cell in wrong.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "sigmoid":
            cell.source = WRONG_SIGMOID
    return nbformat.writes(key), nbformat.writes(wrong)


def _canvas(folder: Path) -> None:
    key, wrong = _notebooks()
    folder.mkdir(parents=True)
    (folder / f"doejane_1234_98765_{CHAPTER}.ipynb").write_text(key)
    (folder / "doejane_1234_98765_notes.pdf").write_bytes(b"%PDF-1.4")
    (folder / f"leeana_LATE_5678_98766_{CHAPTER}-1.ipynb").write_text(wrong)
    (folder / "smithbo_9012_98767_essay.pdf").write_bytes(b"%PDF-1.4")


def _moodle_zip(path: Path) -> None:
    key, wrong = _notebooks()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"Jane Doe_301_assignsubmission_file_/{CHAPTER}.ipynb", key)
        zf.writestr(f"Ana Lee_302_assignsubmission_file_/{CHAPTER}.ipynb", wrong)
        zf.writestr("Ana Lee_302_assignsubmission_onlinetext_/onlinetext.html", "<p>hi</p>")
        zf.writestr("Bo Smith_303_assignsubmission_file_/essay.pdf", b"%PDF-1.4")


def test_downloads_are_recognised_without_grading(tmp_path):
    _canvas(tmp_path / "canvas")
    subs, ids = recognise(discover(tmp_path / "canvas", CHAPTER, tmp_path / "s1"), CHAPTER)
    assert [s.student_id for s in subs] == ["doejane_1234", "leeana_5678", "smithbo_9012"]
    assert {k: (v.platform, v.platform_id, v.late) for k, v in ids.items()} == {
        "doejane_1234": ("canvas", "1234", False), "leeana_5678": ("canvas", "5678", True),
        "smithbo_9012": ("canvas", "9012", False)}
    jane = subs[0]
    assert jane.notebook is not None and jane.problem is None and "notes.pdf" in jane.notes[0]
    assert subs[2].notebook is None and "not a notebook" in subs[2].problem
    _moodle_zip(tmp_path / "moodle.zip")
    subs, ids = recognise(discover(tmp_path / "moodle.zip", CHAPTER, tmp_path / "s2"), CHAPTER)
    assert [s.student_id for s in subs] == ["Ana_Lee_302", "Bo_Smith_303", "Jane_Doe_301"]
    assert {k: (v.platform, v.platform_id) for k, v in ids.items()} == {
        "Ana_Lee_302": ("moodle", "302"), "Bo_Smith_303": ("moodle", "303"),
        "Jane_Doe_301": ("moodle", "301")}
    assert subs[0].notebook is not None and subs[1].problem
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "alice.ipynb").write_text(_notebooks()[0])
    (plain / "bob_1_2_x.ipynb").write_text(_notebooks()[0])  # not all entries a platform's: unchanged
    found = discover(plain, CHAPTER, tmp_path / "s3")
    assert recognise(found, CHAPTER) == (found, {})


@pytest.mark.slow
def test_canvas_and_moodle_downloads_are_graded_and_exported(tmp_path):
    try:
        detect()
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox here: {err}")
    course = make_course(tmp_path / "course", chapters=[CHAPTER], fake_other=False)
    _canvas(tmp_path / "canvas")
    _moodle_zip(tmp_path / "moodle.zip")
    cli = [sys.executable, "-m", "lstm_course.instructor.cli"]
    for platform, source in (("canvas", tmp_path / "canvas"), ("moodle", tmp_path / "moodle.zip")):
        out = tmp_path / f"grades_{platform}"
        proc = subprocess.run(grade_command(CHAPTER, source, out, "--jobs", "2"), cwd=course,
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out / "grades.csv", newline="") as f:
            grades = {r["student_id"]: r for r in csv.DictReader(f)}
        args = ["--assignment", "Forget gate (4242)"] if platform == "canvas" else []
        proc = subprocess.run([*cli, "export", CHAPTER, "--to", platform, "--grades", str(out), *args],
                              cwd=course, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        with open(proc.stdout.strip(), newline="") as f:
            table = list(csv.reader(f))
        if platform == "canvas":
            assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                                "Forget gate (4242)"]
            assert table[1] == ["Points Possible", "", "", "", "", "9"]
            assert {(r[1], r[5]) for r in table[2:]} == {("1234", "9"), ("5678", "2"), ("9012", "0")}
            assert grades["doejane_1234"]["score"] == "9" and grades["smithbo_9012"]["status"] == "error"
        else:
            assert table[0][:5] == ["Identifier", "Full name", "Grade", "Maximum Grade",
                                    "Last modified (grade)"]
            assert {(r[0], r[1], r[2]) for r in table[1:]} == {
                ("Participant 301", "Jane Doe", "9"), ("Participant 302", "Ana Lee", "2"),
                ("Participant 303", "Bo Smith", "0")}
        with open(out / "platform_ids.csv", newline="") as f:
            assert {r["platform"] for r in csv.DictReader(f)} == {platform}


def test_export_refuses_rows_without_platform_ids(tmp_path):
    (tmp_path / "grades.csv").write_text(
        "student_id,chapter,score,max_score,status,detail,submitted_as\nalice,c,1,2,graded,x,alice.ipynb\n")
    with pytest.raises(ValueError, match="no canvas id"):
        export(tmp_path, "canvas", tmp_path / "out.csv", assignment="a")
