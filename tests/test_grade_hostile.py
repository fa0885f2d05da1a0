"""The hostile corpus through ``lstm-course grade``: one grading run, one test per submission.

The corpus (tests/hostile/corpus.py) is made from Chapter 1: invalid and empty files, another
chapter's notebook, deleted/edited/duplicated test cells, changed points, broken metadata, an
infinite loop, ``os._exit``, ``SystemExit``, a segfault, 85 MB of output, hundreds of
processes, killing its parent, one submission that tries, a cell each, an 8 GiB allocation, a
loopback port, reading root-only and course files, writing the gradebook and grades.csv and
reading the grader's environment, monkeypatching NumPy/PyTorch/lstm_course, always-equal
objects, and export layouts. The answer key is graded in the same run.
"""

from __future__ import annotations

import csv
import os
import socket
import sqlite3
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace

import markupsafe
import nbformat
import pytest
from conftest import grade_command
from hostile.corpus import (
    CELL_TIMEOUT,
    CHAPTER,
    ESCAPE_EXPECT,
    HTML_PAYLOAD,
    SECRET_ENV,
    build_corpus,
    make_course,
)

from lstm_course.instructor.grading.sandbox import SandboxUnavailable, detect

pytestmark = pytest.mark.slow


def _sandbox_or_skip() -> str:
    try:
        return detect()
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox on this machine: {err}")


class Listener:
    """A TCP server on the host's loopback that records anything that reaches it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(1000) or b"<connected>")
                except OSError:
                    self.received.append(b"<connected>")

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    mode = _sandbox_or_skip()
    base = tmp_path_factory.mktemp("hostile")
    course = make_course(base / "course")
    secret_dir = Path(tempfile.mkdtemp(prefix="lstm-secret-"))
    secret = secret_dir / "secret.txt"
    marker = uuid.uuid4().hex
    secret.write_text(f"SECRET-{marker}")
    os.chmod(secret, 0o600)
    listener = Listener()
    out = base / "out"
    subs = base / "submissions"
    expected = build_corpus(subs, course=course, out=out, port=listener.port, secret=secret, marker=marker)
    cmd = grade_command(CHAPTER, subs, out, "--jobs", "2", "--cell-timeout", str(CELL_TIMEOUT),
                        "--submission-timeout", "300")
    env = {**os.environ, SECRET_ENV: f"postgresql://grader:{marker}@db/lstm", "GITHUB_TOKEN": marker}
    try:
        proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=3000, env=env)
    finally:
        listener.close()
    with open(out / "grades.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    by_entry = {_unquoted(r[-1]): dict(zip(header, r, strict=True)) for r in rows}
    for name, expect in expected.items():  # cases named after the entry, not the id
        if expect.entry:
            by_id[name] = by_entry.get(expect.entry)
    yield SimpleNamespace(
        mode=mode,
        course=course,
        out=out,
        subs=subs,
        proc=proc,
        header=header,
        rows=rows,
        by_id=by_id,
        by_entry=by_entry,
        expected=expected,
        listener=listener,
        marker=marker,
        secret=secret,
    )
    secret.unlink()
    secret_dir.rmdir()


def _unquoted(field: str) -> str:
    """A field of grades.csv without the quote that keeps a spreadsheet from running it."""
    return field[1:] if field.startswith("'") and field[1:2] in ("=", "+", "-", "@", "\t", "\r") else field


def _real_id(run, student: str) -> str:
    """The id the grader gave (without the quote that guards a spreadsheet)."""
    return _unquoted(run.by_id[student]["student_id"])


def _outputs(run, student: str, cell: str = "") -> str:
    """What the student's code cells printed (only those whose source contains ``cell``)."""
    path = run.course / "autograded" / _real_id(run, student) / CHAPTER / f"{CHAPTER}.ipynb"
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        o.get("text", "") + o.get("evalue", "")
        for c in nb.cells
        if c.cell_type == "code" and cell in c.source
        for o in c.get("outputs", [])
    )


def test_the_run_finishes_with_one_row_per_submission(run):
    assert run.proc.returncode == 0, run.proc.stderr[-3000:]
    assert run.header == ["student_id", "chapter", "score", "max_score", "status", "detail", "submitted_as"]
    ids = [r[0] for r in run.rows]
    assert len(ids) == len(set(ids)), "a submission got two rows"
    assert len(run.rows) == len(run.expected), run.proc.stderr[-3000:]
    assert all(run.by_id.get(name) for name in run.expected), run.proc.stderr[-3000:]
    full = run.expected["key"].score
    assert all(r[1] == CHAPTER and float(r[3]) == full and r[5] for r in run.rows)


def test_ids_never_merge_and_keep_the_original_names(run):
    lee, lee_ = run.by_id["lee ana"], run.by_id["lee_ana"]
    assert lee["student_id"] != lee_["student_id"] and lee_["student_id"] == "lee_ana"
    assert lee["student_id"].startswith("lee_ana-") and lee["submitted_as"] == "lee ana.ipynb"
    assert (float(lee["score"]), lee["status"]) == (run.expected["key"].score, "graded")
    assert lee_["status"] == "error" and "empty" in lee_["detail"] and "empty" not in lee["detail"]


def test_formula_looking_fields_are_neutralised(run):
    row = run.by_id["formula"]
    assert row["student_id"].startswith("'@") and row["submitted_as"].startswith("'@")
    for r in run.rows:
        assert not any(field.startswith(("=", "+", "-", "@", "\t", "\r")) for field in r), r
    page = (run.out / "feedback" / f"{_real_id(run, 'formula')}.html").read_text()
    assert "@SUM" in page


def test_the_kernel_sees_none_of_the_graders_environment(run):
    text = _outputs(run, "reach_out", cell="os.environ")
    assert "ENV KEYS" in text, text[-2000:]
    assert "no secret in the environment" in text and "SECRET SEEN" not in text
    assert SECRET_ENV not in text and "GITHUB_TOKEN" not in text and run.marker not in text


def test_the_kernels_cpu_clock_is_precise(run):
    # RLIMIT_CPU would turn on Linux's process-wide CPU timer, and time.process_time() would then
    # only advance at the scheduler's tick (4 ms): Chapter 6's CPU-time benchmark read 0.0 ms.
    text = _outputs(run, "reach_out")
    assert "PROCESS CLOCK precise" in text, text[-2000:]


@pytest.mark.parametrize("call", sorted(ESCAPE_EXPECT))
def test_escape_and_tampering_calls_fail_inside_the_sandbox(run, call):
    text = _outputs(run, "escape_calls")
    assert f"SYSCALL {call}: {ESCAPE_EXPECT[call]}" in text, text[-3000:]


def test_the_kernel_runs_under_the_system_call_filter(run):
    text = _outputs(run, "escape_calls")
    for line in ("Seccomp: 2", "NoNewPrivs: 1", "CapEff: 0000000000000000"):
        assert f"STATUS {line}" in text, text[-2000:]
    assert "ALLOWED" not in text


def test_feedback_shows_a_submissions_html_never_runs_it(run):
    page = (run.out / "feedback" / f"{_real_id(run, 'html_output')}.html").read_text()
    assert HTML_PAYLOAD not in page and "<script" not in page and "<img" not in page
    assert str(markupsafe.escape(HTML_PAYLOAD)) in page


CASES = [
    "key",
    "untouched",
    "invalid_json",
    "empty",
    "not_a_notebook",
    "other_chapter",
    "deleted_tests_key",
    "deleted_tests_wrong",
    "edited_tests",
    "duplicated_tests",
    "points_changed",
    "broken_metadata",
    "infinite_loop",
    "os_exit",
    "system_exit",
    "kernel_crash",
    "output_flood",
    "fork_bomb",
    "kill_parent",
    "reach_out",
    "patch_numpy",
    "patch_checks_quietly",
    "patch_during_test",
    "rebind_names",
    "always_equal",
    "get_ipython",
    "pdf_student",
    "dup",
    "folder_empty",
    "lee ana",
    "lee_ana",
    "formula",
    "hidden",
    "symlink",
    "computed_dunder",
    "html_output",
    "escape_calls",
]


@pytest.mark.parametrize("student", CASES)
def test_submission_gets_a_fitting_row(run, student):
    expect = run.expected[student]
    row = run.by_id.get(student)
    assert row is not None, f"no row for {student}"
    message = f"{student}: {row}"
    assert row["status"] == expect.status, message
    if expect.score is not None:
        assert float(row["score"]) == expect.score, message
    for words in expect.detail:
        assert words in row["detail"], message


def test_cases_cover_the_corpus(run):
    assert set(CASES) == set(run.expected)


def test_feedback_shows_results_not_hidden_test_code(run):
    for student in run.expected:
        page = (run.out / "feedback" / f"{_real_id(run, student)}.html").read_text()
        detail = _unquoted(run.by_id[student]["detail"])
        assert str(markupsafe.escape(detail)) in page, student
        assert "BEGIN HIDDEN TESTS" not in page and "_rnn_step_case" not in page, student
    page = (run.out / "feedback" / "untouched.html").read_text()
    assert "NotImplementedError" in page and "0 / 2" in page


def test_loopback_is_out_of_reach(run):
    assert run.listener.received == []
    assert "CONNECTED" not in _outputs(run, "reach_out")


def test_files_outside_the_working_copy_are_out_of_reach(run):
    text = _outputs(run, "reach_out")
    assert "cannot read" in text
    assert "READ " not in text, text
    for student in run.expected:
        path = run.course / "autograded" / _real_id(run, student) / CHAPTER / f"{CHAPTER}.ipynb"
        if path.exists():
            assert f"SECRET-{run.marker}" not in path.read_text(errors="replace")


def test_gradebook_and_grades_csv_cannot_be_written(run):
    text = _outputs(run, "reach_out")
    for target in ("gradebook.db", "grades.csv", "pwned.txt", "key.ipynb"):
        assert f"WROTE {run.course}" not in text and f"WROTE {run.out}" not in text, target
    assert run.marker.encode() not in (run.course / "gradebook.db").read_bytes()
    assert run.marker not in (run.out / "grades.csv").read_text()
    assert not (run.course / "pwned.txt").exists()
    assert not Path(f"/tmp/pwned-{run.marker}").exists()
    with sqlite3.connect(run.course / "gradebook.db") as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_no_process_of_a_submission_survives(run):
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"sleep 3607" in cmdline:
                leftovers.append(cmdline)
    assert leftovers == []
    assert "stopped after" in _outputs(run, "fork_bomb")


def test_memory_limit_holds(run):
    text = _outputs(run, "reach_out")
    assert "8 GiB refused" in text and "ALLOCATED" not in text


def test_output_is_bounded(run):
    path = run.course / "autograded" / "output_flood" / CHAPTER / f"{CHAPTER}.ipynb"
    assert path.stat().st_size < 12 * 2**20
    assert "[output cut" in _outputs(run, "output_flood")


def test_gradebook_agrees_with_grades_csv(run):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{run.course / 'gradebook.db'}", "lstm-course-test") as gb:
        for student, row in run.by_id.items():
            sub = gb.find_submission(CHAPTER, _unquoted(row["student_id"]))
            assert float(sub.score) == float(row["score"]), student
        flagged = gb.find_submission(CHAPTER, "patch_numpy")
        assert flagged.needs_manual_grade
