"""``lstm-course check``: the student's dry run says, per exercise, whether the visible tests pass
and how many points are at stake, in plain words."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostile.corpus import CHAPTER, chapter_points, load, set_source, strip_narrative, write

pytestmark = pytest.mark.slow


def _check(path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "lstm_course.instructor.cli", "check", str(path), *extra]
    return subprocess.run(cmd, cwd=path.parent, capture_output=True, text=True, timeout=900)


def test_check_reports_every_exercise(tmp_path):
    nb = strip_narrative(load("student"))
    nb = set_source(
        nb,
        "rnn_step",
        "def rnn_step(x_t, h_prev, W_x, W_h, b):\n    return np.tanh(x_t @ W_x.T + h_prev @ W_h.T + b)",
    )
    nb = set_source(nb, "rnn_forward", "def rnn_forward(xs, h0, W_x, W_h, b):\n    return xs")
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "clip_by_norm_tests")
    test.source = "pass"
    write(tmp_path, CHAPTER, nb)
    proc = _check(tmp_path / f"{CHAPTER}.ipynb")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert "2 points  visible tests pass" in lines["rnn_step"]
    assert "visible tests FAIL" in lines["rnn_forward"] and "shape" in lines["rnn_forward"]
    assert "not answered yet" in lines["grad_norms"] and "3 points" in lines["grad_norms"]
    full, _, _, _ = chapter_points(load("key"))
    exercises = sum(bool(c.metadata.get("nbgrader", {}).get("solution")) for c in load("key").cells)
    assert f"Visible tests pass for 1 of {exercises} exercises (2 of {full:g} points at stake)" in proc.stdout
    assert "hidden tests" in proc.stdout
    assert "you changed the test cell(s) clip_by_norm_tests" in proc.stdout


def test_check_passes_the_answer_key(tmp_path):
    write(tmp_path, CHAPTER, strip_narrative(load("key")))
    proc = _check(tmp_path / f"{CHAPTER}.ipynb")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    full, _, _, _ = chapter_points(load("key"))
    summary = rf"Visible tests pass for (\d+) of \1 exercises \({full:g} of {full:g} points at stake\)"
    assert re.search(summary, proc.stdout), proc.stdout


def test_check_explains_a_file_it_cannot_run(tmp_path):
    (tmp_path / "broken.ipynb").write_text("{")
    proc = _check(tmp_path / "broken.ipynb")
    assert proc.returncode == 2 and "not a valid notebook" in proc.stdout
