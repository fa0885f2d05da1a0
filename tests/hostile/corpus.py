"""Build a throw-away course and a corpus of hostile, broken and cheating submissions.

Every submission is generated from Chapter 1's answer key or its released (student) notebook,
so the corpus follows the chapter when it changes. Slow narrative cells (training runs) are
left out, as a student may do: only the import cell, the markdown and the exercise and test
cells stay, so each submission runs in seconds and a short cell time limit is safe.

``build_corpus`` returns, for each student id, what the grader must report: the status, the
score (or None: any score), and words the detail must contain.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from lstm_course.instructor.release import strip_demonstrations

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "ch01_rnn"
OTHER = "ch00_other"
#: The hostile run's time limit per cell (the corpus's cells take well under a second each).
CELL_TIMEOUT = 10


@dataclass
class Expect:
    status: str
    score: float | None
    detail: tuple[str, ...] = ()
    entry: str | None = None  # the row is found by its submitted_as (its id is the grader's)


#: Set in the grader's environment by the test; the kernels must never see it.
SECRET_ENV = "LSTM_TEST_DATABASE_TOKEN"


def make_course(dest: Path, chapters: list[str] | None = None, fake_other: bool = True) -> Path:
    """A course folder with ``chapters`` (default: Chapter 1) and a fabricated other chapter."""
    dest.mkdir(parents=True, exist_ok=True)
    for chapter in chapters or [CHAPTER]:
        for part in ("solutions", "chapters"):
            shutil.copytree(ROOT / part / chapter, dest / part / chapter)
    (dest / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (dest / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'lstm-course-test'\n"
        "c.CourseDirectory.source_directory = 'solutions'\n"
        "c.CourseDirectory.release_directory = 'chapters'\n"
        "c.CourseDirectory.db_url = 'sqlite:///gradebook.db'\n"
        "c.ExecutePreprocessor.timeout = 120\n"
    )
    if fake_other:
        for part, name in (("solutions", "ch01_rnn"), ("chapters", "ch01_rnn")):
            nb = nbformat.read(ROOT / part / name / f"{name}.ipynb", as_version=4)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader")
                if meta and meta.get("grade_id"):
                    meta["grade_id"] = "other_" + meta["grade_id"]
                if "id" in cell:
                    cell["id"] = "o" + cell["id"]
            (dest / part / OTHER).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, dest / part / OTHER / f"{OTHER}.ipynb")
    return dest


def load(kind: str, chapter: str = CHAPTER) -> nbformat.NotebookNode:
    folder = "solutions" if kind == "key" else "chapters"
    return nbformat.read(ROOT / folder / chapter / f"{chapter}.ipynb", as_version=4)


#: The graded skeleton of a notebook (markdown, the Colab set-up cell, the imports, the exercise
#: and test cells): the package's own cut, the one ``bench --quick`` grades too.
strip_narrative = strip_demonstrations


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def prepend(nb, grade_id: str, code: str):
    """Put ``code`` at the top of the cell ``grade_id``."""
    nb = copy.deepcopy(nb)
    cell = _cell(nb, grade_id)
    cell.source = code.strip("\n") + "\n" + cell.source
    return nb


def set_source(nb, grade_id: str, code: str):
    nb = copy.deepcopy(nb)
    _cell(nb, grade_id).source = code.strip("\n")
    return nb


def insert_after_imports(nb, code: str):
    nb = copy.deepcopy(nb)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first_code + 1, nbformat.v4.new_code_cell(code.strip("\n")))
    return nb


WRONG = {  # wrong answers of the right shape and type (what a cheat wants to pass)
    "rnn_step": "def rnn_step(x_t, h_prev, W_x, W_h, b):\n    return x_t @ W_x.T + h_prev @ W_h.T + b\n",
    "rnn_forward": "def rnn_forward(xs, h0, W_x, W_h, b):\n"
    "    return np.zeros((xs.shape[0], h0.shape[0], W_h.shape[0]))\n",
    "grad_norms": "def grad_norms(hs, W_h, g_T):\n    return np.ones(hs.shape[0])\n",
    "clip_by_norm": "def clip_by_norm(grads, max_norm):\n    return [g * 0 for g in grads], 0.0\n",
}


def wrong_answers(nb, prefix: str = ""):
    nb = copy.deepcopy(nb)
    for gid, code in WRONG.items():
        _cell(nb, gid).source = (prefix.strip("\n") + "\n" + code) if prefix else code
    return nb


def chapter_points(key) -> tuple[float, int, object, dict[str, float]]:
    """The answer key's total points, number of tests, points of the tests before a cell (by grade
    id), and points per test: the corpus follows the chapter when its exercises change."""
    pts, order = {}, []
    for cell in key.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id"):
            order.append(meta["grade_id"])
            if meta.get("grade"):
                pts[meta["grade_id"]] = float(meta.get("points", 0))

    def upto(grade_id: str) -> float:
        return sum(pts.get(g, 0.0) for g in order[: order.index(grade_id)])

    return sum(pts.values()), len(pts), upto, pts


def write(folder: Path, name: str, nb) -> None:
    nbformat.write(nb, folder / f"{name}.ipynb")


def build_corpus(
    folder: Path, *, course: Path, out: Path, port: int, secret: Path, marker: str
) -> dict[str, Expect]:
    """Write the corpus into ``folder``; see the module docstring."""
    folder.mkdir(parents=True, exist_ok=True)
    key, student = strip_narrative(load("key")), strip_narrative(load("student"))
    exp: dict[str, Expect] = {}
    full, n, upto, pts = chapter_points(key)
    all_passed, none_passed = f"all {n} tests passed", f"0 of {n} tests passed"

    def add(name: str, nb, expect: Expect) -> None:
        write(folder, name, nb)
        exp[name] = expect

    add("key", key, Expect("graded", full, (all_passed,)))
    add("untouched", student, Expect("graded", 0, (none_passed,)))
    (folder / "invalid_json.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ')
    exp["invalid_json"] = Expect("error", 0, ("not a valid notebook",))
    (folder / "empty.ipynb").write_text("")
    exp["empty"] = Expect("error", 0, ("empty",))
    (folder / "not_a_notebook.ipynb").write_text(json.dumps({"hello": "world"}))
    exp["not_a_notebook"] = Expect("error", 0, ("not a valid notebook",))
    other = nbformat.read(course / "chapters" / OTHER / f"{OTHER}.ipynb", as_version=4)
    add("other_chapter", other, Expect("error", 0, (OTHER,)))

    no_tests = copy.deepcopy(key)
    no_tests.cells = [c for c in no_tests.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    add("deleted_tests_key", no_tests, Expect("graded", full, (all_passed,)))
    wrong_no_tests = wrong_answers(student)
    wrong_no_tests.cells = [
        c for c in wrong_no_tests.cells if not c.metadata.get("nbgrader", {}).get("grade")
    ]
    add("deleted_tests_wrong", wrong_no_tests, Expect("graded", 0, ()))
    edited = wrong_answers(student)
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass  # tests removed"
    add("edited_tests", edited, Expect("graded", 0, ()))
    dup = copy.deepcopy(key)
    dup.cells = [
        c2
        for c in dup.cells
        for c2 in ([c, copy.deepcopy(c)] if c.metadata.get("nbgrader", {}).get("grade") else [c])
    ]
    for i, c in enumerate(dup.cells):
        c["id"] = f"dup{i}"
    add("duplicated_tests", dup, Expect("graded", full, ()))
    points = copy.deepcopy(student)
    for cell in points.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata["nbgrader"]["points"] = 100
    add("points_changed", points, Expect("graded", 0, ()))
    broken_meta = copy.deepcopy(key)
    for cell in broken_meta.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("solution"):
            cell.metadata["nbgrader"] = "garbage"
        elif meta and meta.get("grade"):
            del cell.metadata["nbgrader"]
    add("broken_metadata", broken_meta, Expect("graded", full, ()))

    # Runaway code.
    loop = set_source(
        key, "rnn_forward", "def rnn_forward(xs, h0, W_x, W_h, b):\n    while True:\n        pass\n"
    )
    add(
        "infinite_loop",
        loop,
        Expect("graded", full - pts["rnn_forward_tests"],
               (f"`rnn_forward_tests` exceeded the {CELL_TIMEOUT} s time limit",)),
    )
    add(
        "os_exit",
        prepend(key, "grad_norms", "import os\nos._exit(3)"),
        Expect("graded", upto("grad_norms"), ("kernel stopped in cell `grad_norms`",)),
    )
    add(
        "system_exit",
        prepend(key, "clip_by_norm", "import sys\nsys.exit(0)"),
        Expect("graded", full - pts["clip_by_norm_tests"], ()),
    )
    add(
        "kernel_crash",
        prepend(key, "rnn_forward", "import faulthandler\nfaulthandler._sigsegv()"),
        Expect("graded", upto("rnn_forward"), ("kernel stopped in cell `rnn_forward`",)),
    )
    # 21 MB in many messages, then one message of 64 MiB: over the notebook's 8 MiB output
    # limit, and twice the largest message the grader takes from a kernel (32 MiB)
    flood = insert_after_imports(key, "for _ in range(300):\n    print('x' * 70_000, flush=True)")
    flood = insert_after_imports(flood, "print('y' * (64 * 2**20))")
    add("output_flood", flood, Expect("graded", full, ("printed more than",)))
    add(
        "fork_bomb",
        insert_after_imports(
            key,
            """
import subprocess
procs = []
for _ in range(1000):
    try:
        procs.append(subprocess.Popen(["setsid", "sleep", "3607"]))
    except OSError as err:
        print("stopped after", len(procs), "processes:", type(err).__name__)
        break
for p in procs[3:]:   # leave three running: the grader must clean them up
    p.kill()
    p.wait()
""",
        ),
        Expect("graded", full, ()),
    )
    add(
        "kill_parent",
        insert_after_imports(
            key,
            """
import os, signal
for pid in [os.getppid(), 1] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
            print("KILLED", pid)
        except OSError as err:
            print("kill", pid, type(err).__name__)
""",
        ),
        Expect("graded", full, ()),
    )

    # Reaching out of the sandbox, one probe per cell of one submission: memory, the network,
    # files to read and to write, the environment and the CPU clock.
    targets = [
        str(secret),
        str(course / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"),
        str(course / "gradebook.db"),
        "/etc/shadow",
        str(folder / "key.ipynb"),
        "/root/.bashrc",
        str(ROOT / "solutions"),
    ]
    writes = [
        str(course / "gradebook.db"),
        str(out / "grades.csv"),
        str(course / "pwned.txt"),
        str(folder / "key.ipynb"),
        f"/tmp/pwned-{marker}",
    ]
    probes = [
        """
import numpy as np
for gib in (8, 5):
    try:
        block = np.ones(gib * 2**30 // 8)
        print(f"ALLOCATED {gib} GiB")
        del block
    except MemoryError:
        print(f"{gib} GiB refused")
""",
        f"""
import socket
for host in ["127.0.0.1", "localhost", socket.gethostname()]:
    try:
        s = socket.create_connection((host, {port}), timeout=3)
        s.sendall(b"{marker}")
        print("CONNECTED", host)
    except OSError as err:
        print("no connection to", host, type(err).__name__)
""",
        f"""
import os
for path in {targets!r}:
    try:
        text = open(path, "rb").read(200) if not os.path.isdir(path) else str(os.listdir(path))
        print("READ", path, text)
    except OSError as err:
        print("cannot read", path, type(err).__name__)
""",
        f"""
for path in {writes!r}:
    try:
        with open(path, "a") as f:
            f.write("{marker}")
        print("WROTE", path)
    except OSError as err:
        print("cannot write", path, type(err).__name__)
""",
        f"""
import os
print("ENV KEYS", sorted(os.environ))
print("SECRET SEEN" if any("{marker}" in v for v in os.environ.values()) else "no secret in the environment")
import resource, time
print("RLIMIT_CPU", resource.getrlimit(resource.RLIMIT_CPU))
_ticks = []
for _ in range(20):
    _t = time.process_time()
    sum(i * i for i in range(2000))
    _ticks.append(time.process_time() - _t)
print("PROCESS CLOCK", "precise" if min(_ticks) > 0 else "tick-quantised", min(_ticks))
""",
    ]
    reach_out = key
    for probe in reversed(probes):
        reach_out = insert_after_imports(reach_out, probe)
    add("reach_out", reach_out, Expect("graded", full, ()))

    # Cheating: wrong answers that try to pass.
    add(
        "patch_numpy",
        wrong_answers(
            student,
            prefix="""
import numpy as np, torch
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
""",
        ),
        Expect("graded", 0, ("pending review", "np.allclose")),
    )
    add(
        "patch_checks_quietly",
        wrong_answers(
            student,
            prefix="""
_tools = [checks, ref]
_quiet = lambda *a, **k: None
setattr(_tools[0], "check_close", _quiet)
setattr(_tools[0], "check_shape", _quiet)
setattr(_tools[0], "check_scalar", _quiet)
setattr(_tools[0], "check_unchanged", _quiet)
setattr(_tools[0], "assert_numpy_only", _quiet)
setattr(_tools[1], "rnn_step", lambda x, h, Wx, Wh, b: x @ Wx.T + h @ Wh.T + b)
""",
        ),
        Expect("graded", 0, (none_passed,)),
    )
    midcall = set_source(
        key,
        "rnn_step",
        """
def rnn_step(x_t, h_prev, W_x, W_h, b):
    _tools = [checks, ref]
    setattr(_tools[1], "rnn_step", lambda x, h, Wx, Wh, bb: x @ Wx.T + h @ Wh.T + bb)
    setattr(_tools[0], "check_unchanged", lambda *a, **k: None)
    return x_t @ W_x.T + h_prev @ W_h.T + b
""",
    )
    lost = pts["rnn_step_tests"] + pts["rnn_forward_tests"]
    add("patch_during_test", midcall, Expect("graded", full - lost, ("changed the course's tools",)))
    add(
        "rebind_names",
        wrong_answers(
            student,
            prefix="""
class _Anything:
    def __getattr__(self, name):
        return lambda *a, **k: None
checks = _Anything()
ref = _Anything()
""",
        ),
        Expect("graded", 0, (none_passed,)),
    )
    always = wrong_answers(student)
    always = set_source(
        always,
        "rnn_step",
        """
class AlwaysEqual:
    shape = (2, 4)
    def __eq__(self, other):
        return True
    def __array__(self, *a, **k):
        return np.zeros(self.shape)
def rnn_step(x_t, h_prev, W_x, W_h, b):
    return AlwaysEqual()
""",
    )
    always = set_source(
        always,
        "rnn_forward",
        """
class Sneaky(np.ndarray):
    def tolist(self):
        return self._target
def rnn_forward(xs, h0, W_x, W_h, b):
    out = np.zeros((xs.shape[0], h0.shape[0], W_h.shape[0])).view(Sneaky)
    out._target = ref.rnn_forward(xs, h0, W_x, W_h, b).tolist()
    return out
""",
    )
    always = set_source(
        always,
        "clip_by_norm",
        """
class Number(float):
    def __eq__(self, other):
        return True
def clip_by_norm(grads, max_norm):
    return [g * 0 for g in grads], Number(0.0)
""",
    )
    add("always_equal", always, Expect("graded", 0, (none_passed,)))
    add(
        "get_ipython",
        wrong_answers(
            student,
            prefix="""
get_ipython().events.callbacks["pre_run_cell"].clear()
get_ipython().events.callbacks["post_run_cell"].clear()
import lstm_course.teach.checks as _c
_c.check_close = lambda *a, **k: None
""",
        ),
        Expect("graded", 0, ("pending review", "get_ipython")),
    )

    # Layouts a platform export may have.
    (folder / "pdf_student.pdf").write_bytes(b"%PDF-1.4 not a notebook")
    exp["pdf_student"] = Expect("error", 0, ("not a notebook",))
    write(folder, "dup", key)
    (folder / "dup").mkdir()
    write(folder / "dup", CHAPTER, key)
    exp["dup"] = Expect("error", 0, ("2 notebooks",))
    # (a student's folder holding the notebook and other files is graded in test_grade_parallel)
    (folder / "folder_empty").mkdir()
    (folder / "folder_empty" / "readme.txt").write_text("forgot the notebook")
    exp["folder_empty"] = Expect("error", 0, ("no notebook",))

    # Every entry one row, ids never merged, nothing a spreadsheet would run (issue 18).
    write(folder, "lee ana", key)
    exp["lee ana"] = Expect("graded", full, (all_passed,), entry="lee ana.ipynb")
    (folder / "lee_ana.ipynb").write_text("")  # not graded: its row must not be lee ana's
    exp["lee_ana"] = Expect("error", 0, ("empty",), entry="lee_ana.ipynb")
    write(folder, "@SUM(1+1)cmd", key)
    exp["formula"] = Expect("graded", full, (), entry="@SUM(1+1)cmd.ipynb")
    write(folder, ".hidden_student", key)
    exp["hidden"] = Expect("error", 0, ("hidden",), entry=".hidden_student.ipynb")
    (folder / "symlinked.ipynb").symlink_to(folder / "key.ipynb")
    exp["symlink"] = Expect("error", 0, ("link",), entry="symlinked.ipynb")
    # The attack the scan used to miss: a computed dunder name and a functools.wraps fake.
    add(
        "computed_dunder",
        wrong_answers(
            student,
            prefix="""
import functools
_f = checks.check_close
_name = "".join(["__co", "de__"])
_quiet = functools.wraps(_f)(lambda *a, **k: None)
setattr(_f, _name, getattr(_quiet, _name))
""",
        ),
        Expect("graded", 0, ("pending review", "computed")),
    )
    # HTML in what the notebook prints and raises: shown in the feedback, never run.
    add(
        "html_output",
        set_source(
            insert_after_imports(key, f"print({HTML_PAYLOAD!r})"),
            "rnn_step",
            f"def rnn_step(x_t, h_prev, W_x, W_h, b):\n    raise ValueError({HTML_PAYLOAD!r})\n",
        ),
        Expect("graded", None, (f"of {n} tests passed",)),
    )
    # No route back to privilege: each call fails inside the sandbox (issue 18).
    add(
        "escape_calls",
        insert_after_imports(key, ESCAPE_CALLS),
        Expect("graded", 0, ("pending review", "ctypes")),
    )
    return exp


#: What each call must answer inside the sandbox (errno name), for tests/test_grade_hostile.py.
ESCAPE_EXPECT = {
    "unshare": "EPERM",
    "unshare_cmd": "EPERM",
    "clone_newuser": "EPERM",
    "clone3": "ENOSYS",
    "setns": "EPERM",
    "mount": "EPERM",
    "ptrace": "EPERM",
    "keyctl": "EPERM",
    "bpf": "EPERM",
    "perf_event_open": "EPERM",
    "init_module": "EPERM",
    "finit_module": "EPERM",
    "delete_module": "EPERM",
}
ESCAPE_CALLS = """
import ctypes, errno, os, platform, subprocess, time
libc = ctypes.CDLL(None, use_errno=True)
NR = {
    "x86_64": dict(unshare=272, clone=56, clone3=435, setns=308, mount=165, ptrace=101, keyctl=250,
                   bpf=321, perf_event_open=298, init_module=175, finit_module=313, delete_module=176),
    "aarch64": dict(unshare=97, clone=220, clone3=435, setns=268, mount=40, ptrace=117, keyctl=219,
                    bpf=280, perf_event_open=241, init_module=105, finit_module=273, delete_module=106),
}[platform.machine()]
def attempt(label, name, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(NR[name], *args)
    err = ctypes.get_errno()
    if ret == 0 and name == "clone":
        os._exit(0)  # the child of a clone that worked
    print(f"SYSCALL {label}: " + ("ALLOWED" if ret >= 0 else errno.errorcode.get(err, str(err))), flush=True)
attempt("unshare", "unshare", 0x10000000)  # CLONE_NEWUSER
cmd = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True, text=True)
print("SYSCALL unshare_cmd: " + ("ALLOWED" if cmd.returncode == 0 else "EPERM"), cmd.stderr.strip())
attempt("clone_newuser", "clone", 0x10000000 | 17, 0, 0, 0, 0)  # CLONE_NEWUSER | SIGCHLD
attempt("clone3", "clone3", 0, 0)
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
attempt("setns", "setns", fd, 0)
attempt("mount", "mount", b"none", b"/tmp", b"tmpfs", 0, None)
child = subprocess.Popen(["sleep", "30"])
time.sleep(0.2)
attempt("ptrace", "ptrace", 16, child.pid, 0, 0)  # PTRACE_ATTACH to its own child
child.kill()
attempt("keyctl", "keyctl", 0, -3, 0)  # KEYCTL_GET_KEYRING_ID of the session keyring
attempt("bpf", "bpf", 0, None, 0)
attempt("perf_event_open", "perf_event_open", None, 0, -1, -1, 0)
attempt("init_module", "init_module", None, 0, b"")
attempt("finit_module", "finit_module", -1, b"", 0)
attempt("delete_module", "delete_module", b"lstm", 0)
status = open("/proc/self/status").read()
for line in status.splitlines():
    if line.startswith(("Seccomp", "NoNewPrivs", "CapEff")):
        print("STATUS", line.replace("\\t", " "))
"""


HTML_PAYLOAD = "<script>document.title='PWNED'</script><img src=x onerror=alert(1)>"
