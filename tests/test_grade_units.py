"""Fast tests of the grader's parts: discovery, notebook repair, the scan, the guard, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import nbformat
import pytest
from conftest import ROOT, chapters
from hostile.corpus import CHAPTER, load, make_course, strip_narrative

from lstm_course.instructor.grading import discover as disc
from lstm_course.instructor.grading import sandbox
from lstm_course.instructor.grading.feedback import cell_result, detail_sentence, feedback_html
from lstm_course.instructor.grading.guard import source_hash
from lstm_course.instructor.grading.notebook import (
    ChapterSource,
    SubmissionProblem,
    guard_config,
    read_notebook,
    recognise,
    repair,
)
from lstm_course.instructor.grading.scan import scan_notebook


# -- discovery ---------------------------------------------------------------------------------
def test_discover_files_and_folders(tmp_path):
    subs = tmp_path / "subs"
    (subs / "bob").mkdir(parents=True)
    (subs / "alice.ipynb").write_text("{}")
    (subs / "bob" / f"{CHAPTER}.ipynb").write_text("{}")
    (subs / "bob" / "data.csv").write_text("1,2")
    (subs / "carol").mkdir()
    (subs / "carol" / "a.ipynb").write_text("{}")
    (subs / "carol" / "b.ipynb").write_text("{}")
    (subs / "dave.pdf").write_text("pdf")
    (subs / ".DS_Store").write_text("junk")
    (subs / "__MACOSX").mkdir()
    (subs / "Eve Smith_123_assignsubmission_file_").mkdir()
    (subs / "Eve Smith_123_assignsubmission_file_" / "mine.ipynb").write_text("{}")
    found = {s.student_id: s for s in disc.discover(subs, CHAPTER, tmp_path / "scratch")}
    assert sorted(found) == ["Eve_Smith_123_assignsubmission_file", "alice", "bob", "carol", "dave"]
    assert found["alice"].notebook.name == "alice.ipynb"
    assert found["bob"].notebook.name == f"{CHAPTER}.ipynb" and [
        p.name for p in found["bob"].extra_files
    ] == ["data.csv"]
    assert "several notebooks" in found["carol"].problem
    assert "not a notebook" in found["dave"].problem
    assert found["Eve_Smith_123_assignsubmission_file"].notebook.name == "mine.ipynb"


def test_discover_zip_is_read_defensively(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/alice.ipynb", "{}")
        zf.writestr("export/bob/ch01_rnn.ipynb", "{}")
        zf.writestr("../escape.ipynb", "{}")
        zf.writestr("/abs.ipynb", "{}")
        zf.writestr("export/__MACOSX/._alice.ipynb", "junk")
        link = zipfile.ZipInfo("export/link.ipynb")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/shadow")
    found = {s.student_id: s for s in disc.discover(archive, CHAPTER, tmp_path / "scratch")}
    assert sorted(found) == ["abs", "alice", "bob", "escape", "link"]
    assert found["alice"].notebook and found["bob"].notebook
    assert "outside the archive" in found["escape"].problem and "outside" in found["abs"].problem
    assert "link" in found["link"].problem and found["link"].entries == ["link.ipynb"]
    assert not (tmp_path / "escape.ipynb").exists() and not (tmp_path / "scratch" / "escape.ipynb").exists()


def test_every_entry_gets_exactly_one_row_with_a_reason(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{}")
    (subs / "alice.pdf").write_text("pdf")  # the same student: one row, the notebook graded
    (subs / ".hidden.ipynb").write_text("{}")
    (subs / "._alice.ipynb").write_text("AppleDouble")  # platform metadata, not an entry
    (subs / "linked.ipynb").symlink_to(subs / "alice.ipynb")
    (subs / "linkdir").symlink_to(tmp_path)
    (subs / "bob").mkdir()
    (subs / "bob" / f"{CHAPTER}.ipynb").write_text("{}")
    (subs / "bob" / "secret").symlink_to("/etc/passwd")
    found = {s.student_id: s for s in disc.discover(subs, CHAPTER, tmp_path / "scratch")}
    assert sorted(found) == ["alice", "bob", "hidden", "linkdir", "linked"]
    assert found["alice"].notebook.name == "alice.ipynb"
    assert found["alice"].entries == ["alice.ipynb", "alice.pdf"]
    assert "`alice.pdf` was not graded" in found["alice"].notes[0]
    assert "hidden" in found["hidden"].problem
    assert "link" in found["linked"].problem and "link" in found["linkdir"].problem
    assert found["bob"].notebook and any("link `secret`" in n for n in found["bob"].notes)


def test_zip_with_a_file_and_a_folder_of_one_name_does_not_stop_the_run(tmp_path):
    for order in (["a", "a/x.ipynb"], ["a/x.ipynb", "a"]):
        archive = tmp_path / f"{order[0][-1]}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for name in order:
                zf.writestr(name, "{}")
            zf.writestr("carol.ipynb", "{}")
            with pytest.warns(UserWarning, match="Duplicate"):
                zf.writestr("carol.ipynb", "{}")  # the same member twice
            zf.writestr("dan/", "")  # an empty folder is an entry too
        found = {s.student_id: s for s in disc.discover(archive, CHAPTER, tmp_path / archive.stem)}
        assert sorted(found) == ["a", "carol", "dan"], order
        said = (found["a"].problem or "") + " ".join(found["a"].notes)
        assert "same name" in said, order
        assert "twice" in " ".join(found["carol"].notes) and found["carol"].notebook
        assert "no notebook" in found["dan"].problem


def test_ids_never_merge(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    long_a, long_b = "x" * 100 + "a", "x" * 100 + "b"
    for name in ("lee ana", "lee_ana", "lee@ana", long_a, long_b, "=cmd|' -C calc'!A0"):
        (subs / f"{name}.ipynb").write_text("{}")
    found = disc.discover(subs, CHAPTER, tmp_path / "scratch")
    ids = [s.student_id for s in found]
    assert len(ids) == len(set(ids)) == 6
    by_entry = {s.entries[0]: s.student_id for s in found}
    assert by_entry["lee_ana.ipynb"] == "lee_ana" and by_entry["lee@ana.ipynb"] == "lee@ana"
    assert by_entry["lee ana.ipynb"].startswith("lee_ana-")
    assert by_entry[f"{long_a}.ipynb"] != by_entry[f"{long_b}.ipynb"]
    assert all(len(i) <= 100 and disc.safe_student_id(i) == i for i in ids)
    again = disc.discover(subs, CHAPTER, tmp_path / "scratch2")
    assert [s.student_id for s in again] == [s.student_id for s in found]  # stable


def test_csv_fields_that_look_like_formulas_are_neutralised(tmp_path):
    from lstm_course.instructor.grading.runner import write_csv

    results = [
        {"student_id": sid, "chapter": CHAPTER, "score": 0.0, "max_score": 9.0, "status": "error",
         "detail": detail, "submitted_as": entry}
        for sid, detail, entry in [
            ("+41", "=1+1", "+41.ipynb"),
            ("-x", "@SUM(A1)", "-x.ipynb"),
            ("@a", "\tx", "\rb"),
            ("bob", "fine, -1 is not a formula here", "bob.ipynb"),
        ]
    ]
    write_csv(tmp_path / "grades.csv", results)
    import csv

    with open(tmp_path / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("student_id", "detail", "submitted_as"):
            assert not row[key].startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert rows[0]["student_id"] == "'+41" and rows[0]["detail"] == "'=1+1"
    assert rows[3]["detail"] == "fine, -1 is not a formula here"


def test_discover_refuses_what_is_not_a_folder_or_zip(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(disc.DiscoveryError):
        disc.discover(tmp_path / "x.txt", CHAPTER, tmp_path)
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(disc.DiscoveryError):
        disc.discover(tmp_path / "bad.zip", CHAPTER, tmp_path)


def test_student_ids_are_safe_folder_names():
    assert disc.safe_student_id("../../etc") == "etc"
    assert disc.safe_student_id("Zoë O'Neil") == "Zo_O_Neil"
    assert disc.safe_student_id("...") == "student"


# -- reading, recognising and repairing notebooks -----------------------------------------------
@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty"),
        (b"{oops", "broken JSON"),
        (b'{"a": 1}', "without notebook cells"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_read_notebook_says_what_is_wrong(tmp_path, content, words):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(SubmissionProblem, match=words):
        read_notebook(path)


def test_recognise_names_the_other_chapter(tmp_path):
    course = make_course(tmp_path / "course")
    ch01 = ChapterSource.load(course, CHAPTER)
    other = ChapterSource.load(course, "ch00_other")
    recognise(load("student"), ch01, [other])
    with pytest.raises(SubmissionProblem, match="ch00_other"):
        recognise(other.released, ch01, [other])
    with pytest.raises(SubmissionProblem, match="not the ch01_rnn notebook"):
        recognise(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), ch01, [])


def test_repair_puts_back_deleted_and_broken_cells():
    ch01 = ChapterSource.load(ROOT, CHAPTER)
    nb = strip_narrative(load("student"))
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "rnn_forward_tests"]
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_step")
    solution.metadata["nbgrader"] = "garbage"
    test = next(
        c
        for c in nb.cells
        if isinstance(c.metadata.get("nbgrader"), dict)
        and c.metadata["nbgrader"].get("grade_id") == "grad_norms_tests"
    )
    test.metadata["nbgrader"]["points"] = 100
    nb.cells.append(
        nbformat.v4.new_code_cell("x", metadata={"nbgrader": {"grade": True, "grade_id": "fake"}})
    )
    notes = repair(nb, ch01)
    ids = [c.metadata["nbgrader"].get("grade_id") for c in nb.cells if c.metadata.get("nbgrader")]
    assert [i for i in ids if i] == ch01.order
    assert any("rnn_forward_tests" in n for n in notes)
    assert (
        test.metadata["nbgrader"]["points"] == 3 and solution.metadata["nbgrader"]["grade_id"] == "rnn_step"
    )
    nbformat.validate(nb)


def test_guard_config_names_imports_and_leaves_exercises_alone():
    config = guard_config(ChapterSource.load(ROOT, CHAPTER))
    bindings = {name: (module, attr) for name, module, attr in config["bindings"]}
    assert bindings["checks"] == ("lstm_course.teach", "checks") and bindings["np"] == ("numpy", None)
    assert bindings["ref"] == ("lstm_course.scratch", "rnn")
    assert {"rnn_step", "rnn_forward", "grad_norms", "clip_by_norm"} <= set(config["keep_names"])


# -- the scan ------------------------------------------------------------------------------------
def _scan(code: str) -> list[str]:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import numpy as np\nfrom lstm_course.teach import checks"),
            nbformat.v4.new_code_cell(code),
        ]
    )
    return [f.construct for f in scan_notebook(nb, set())]


@pytest.mark.parametrize(
    "code",
    [
        "np.allclose = lambda *a, **k: True",
        "setattr(checks, 'check_close', print)",
        "import ctypes",
        "get_ipython().events",
        "import sys\nsys.modules['numpy'] = None",
        "f.__code__ = g.__code__",
        "exec('x = 1')",
        "from IPython import get_ipython",
        "().__class__.__base__.__subclasses__()",
        "del checks.check_close",
        "import lstm_course.instructor.grading.guard",
        # names computed at run time, on protected objects (issue 18)
        "f = checks.check_close\ngetattr(f, '__co' + 'de__')",
        "getattr(rnn_step, f'__{\"glo\"}bals__')",
        "name = input()\ngetattr(np, name)",
        "tools = [checks, np]\nfor n in ['check_close']:\n    setattr(tools[0], n, print)",
        "for m in [checks]:\n    delattr(m, 'x' + str(1))",
        "def g():\n    pass\nk = '__code__'\nsetattr(g, k, None)",
        "import operator\noperator.attrgetter('__glo' + 'bals__')(f)",
        "checks.__dict__['check_close'] = print",
    ],
)
def test_scan_flags_tampering(code):
    assert _scan(code), code


@pytest.mark.parametrize(
    "code",
    [
        "def f(x):\n    return np.tanh(x @ W.T)",
        "class M(torch.nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        setattr(self, 'w', 1)",
        "model.eval()",
        "x = np.zeros(3)\nx[0] = 1",
        "!ls",
        "%timeit f(1)",
        "print(type(x).__name__)",
        "cell = torch.nn.LSTMCell(2, 3)\nfor n in ['weight_ih', 'bias_ih']:\n"
        "    print(getattr(cell, n).shape)",
        "class M:\n    def f(self, name):\n        return getattr(self, name)",
        "getattr(np, 'tanh')(1.0)",
    ],
)
def test_scan_leaves_ordinary_code_alone(code):
    assert _scan(code) == [], code


@pytest.mark.parametrize("chapter", chapters())
def test_scan_accepts_every_answer_key(chapter):
    """Answer keys are what good students write: no flag may fire on them."""
    source = ChapterSource.load(ROOT, chapter)
    instructor = {c.source.strip() for c in source.released.cells} | {
        c.source.strip() for c in source.source.cells if not c.metadata.get("nbgrader", {}).get("solution")
    }
    assert [str(f) for f in scan_notebook(source.source, instructor)] == []


# -- the guard -----------------------------------------------------------------------------------
GUARD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from lstm_course.instructor.grading.guard import install, source_hash
    shell = InteractiveShell.instance()
    test1 = ("assert np.allclose(1, 2) is False"
             " and checks.check_close.__module__ == 'lstm_course.teach.checks'")
    test2 = "checks.check_close('x', wrong(), ref.rnn_step(*args))"
    config = {"modules": ["numpy", "lstm_course.teach.checks", "lstm_course.scratch.rnn"],
              "bindings": [["np", "numpy", None], ["checks", "lstm_course.teach", "checks"],
                           ["ref", "lstm_course.scratch", "rnn"]],
              "keep_names": ["wrong"], "torch": False,
              "test_cells": [source_hash(test1), source_hash(test2)]}
    json.dump(config, open(sys.argv[1], "w"))
    install(sys.argv[1], shell)
    results = []
    def run(code):
        r = shell.run_cell(code)
        results.append(type(r.error_in_exec).__name__ if r.error_in_exec else "ok")
    run("import numpy as np\\nfrom lstm_course.teach import checks\\n"
        "from lstm_course.scratch import rnn as ref")
    run("np.allclose = lambda *a, **k: True\\nchecks = None")
    run(test1)          # the patches are undone before the test: passes
    run("import numpy as real\\nargs = [real.ones((1, 2)), real.ones((1, 3)), real.ones((3, 2)),"
        " real.ones((3, 3)), real.ones(3)]\\n"
        "def wrong():\\n    setattr([ref][0], 'rnn_step', lambda *a: real.zeros((1, 3)))\\n"
        "    return real.zeros((1, 3))")
    run(test2)          # patched while it ran: the test fails
    run("print(ref.rnn_step.__module__)")
    print(json.dumps(results))
    """
)


def _run_guard_script(tmp_path, text: str, timeout: int) -> tuple[subprocess.CompletedProcess, list]:
    """Run a guard script in a fresh interpreter; return the process and its last line, parsed."""
    script = tmp_path / "guard_script.py"
    script.write_text(text)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "guard.json")],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


def test_guard_restores_before_and_catches_during_tests(tmp_path):
    proc, results = _run_guard_script(tmp_path, GUARD_SCRIPT, timeout=120)
    assert results == ["ok", "ok", "ok", "ok", "GuardError", "ok"], proc.stdout
    assert "The notebook changed" in proc.stdout and "lstm_course.scratch.rnn.rnn_step" in proc.stdout


TORCH_GUARD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from lstm_course.instructor.grading.guard import install, source_hash
    shell = InteractiveShell.instance()
    lazy = "import torch._dynamo  # the library wraps torch.manual_seed: not the student's doing"
    fake = "import functools\\nsetattr([torch][0], 'tanh', functools.wraps(torch.tanh)(lambda x: x))"
    # A wrapper that claims to be torch's: functools.wraps, __wrapped__, and a code object whose
    # co_filename is forged to lie inside torch (CodeType.replace).
    forged = (
        "import functools\\n_orig = torch.manual_seed\\n"
        "def _fake(*a, **k):\\n    return None\\n"
        "_fake.__code__ = _fake.__code__.replace(co_filename=torch._compile.__file__)\\n"
        "_fake._torchdynamo_orig_callable = _orig\\n"
        "setattr([torch][0], 'manual_seed', functools.wraps(_orig)(_fake))"
    )
    json.dump({"modules": ["torch"], "bindings": [["torch", "torch", None]], "torch": True,
               "test_cells": [source_hash(c) for c in (lazy, fake, forged)]}, open(sys.argv[1], "w"))
    install(sys.argv[1], shell)
    results = []
    for code in ["import torch", forged, lazy, fake, forged]:
        r = shell.run_cell(code)
        results.append(type(r.error_in_exec).__name__ if r.error_in_exec else "ok")
    print(json.dumps(results))
    """
)


def test_guard_accepts_libraries_wrapping_their_own_functions(tmp_path):
    proc, results = _run_guard_script(tmp_path, TORCH_GUARD_SCRIPT, timeout=300)
    assert results == ["ok", "GuardError", "ok", "GuardError", "GuardError"], proc.stdout


def test_source_hash_ignores_surrounding_whitespace():
    assert source_hash("x = 1\n") == source_hash("\nx = 1")


# -- the sandbox -----------------------------------------------------------------------------------
def test_detect_explains_why_it_cannot_isolate(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="unshare"):
        sandbox.detect()
    monkeypatch.setattr(sandbox.platform, "system", lambda: "Darwin")
    with pytest.raises(sandbox.SandboxUnavailable, match="Linux"):
        sandbox.detect()


def test_grade_refuses_without_isolation_unless_unsafe(tmp_path, monkeypatch):
    from lstm_course.instructor.grading import runner

    def unavailable(forced=None):
        raise sandbox.SandboxUnavailable("namespaces are disabled here.")

    monkeypatch.setattr(runner, "detect", unavailable)
    course = make_course(tmp_path / "course", fake_other=False)
    (tmp_path / "subs").mkdir()
    with pytest.raises(runner.GradingError, match="--unsafe"):
        runner.grade(CHAPTER, tmp_path / "subs", root=course, log=lambda m: None)
    with pytest.raises(runner.GradingError, match="no chapter"):
        runner.grade("ch99_nothing", tmp_path / "subs", root=course, log=lambda m: None)


def test_uid_ranges_are_free_and_mapped():
    base = sandbox.choose_uid_base(4)
    import pwd

    for uid in range(base, base + 4):
        with pytest.raises(KeyError):
            pwd.getpwuid(uid)
    assert base != os.getuid()


def test_readonly_paths_hide_the_course():
    paths = sandbox.readonly_paths()
    assert str(ROOT) not in paths and str(ROOT / "solutions") not in paths
    assert any(p.endswith("lstm_course") for p in paths)


# -- messages ------------------------------------------------------------------------------------
def test_detail_sentences_are_specific():
    base = {
        "status": "graded",
        "score": 2,
        "max_score": 9,
        "limits": {"memory": 4 * 2**30, "cell_timeout": 60},
        "tests": [{"test": "a", "status": "passed"}, {"test": "b", "status": "failed"}],
        "findings": [],
    }
    assert detail_sentence({**base, "events": []}) == "1 of 2 tests passed"
    timeout = {**base, "events": [{"kind": "cell_timeout", "label": "`rnn_step`", "seconds": 60}]}
    assert detail_sentence(timeout).startswith("cell `rnn_step` exceeded the 60 s time limit")
    died = {**base, "events": [{"kind": "kernel_died", "label": "`x`"}]}
    assert "kernel stopped in cell `x`" in detail_sentence(died)
    error = {"status": "error", "detail": "the file is empty"}
    assert detail_sentence(error) == "the file is empty"


def test_test_message_reads_errors_and_stderr():
    err = nbformat.v4.new_code_cell("x")
    err.outputs = [
        nbformat.v4.new_output("error", ename="CheckFailed", evalue="rnn_step differs", traceback=[])
    ]
    assert cell_result(err) == (True, "rnn_step differs")
    warn = nbformat.v4.new_code_cell("x")
    warn.outputs = [nbformat.v4.new_output("stream", name="stderr", text="RuntimeWarning: overflow")]
    assert cell_result(warn)[0] and "stderr" in cell_result(warn)[1]
    assert cell_result(nbformat.v4.new_code_cell("x")) == (False, "")


def test_feedback_escapes_what_students_wrote():
    result = {
        "student_id": "s",
        "score": 0,
        "max_score": 2,
        "status": "graded",
        "detail": "<b>x</b>",
        "tests": [
            {
                "exercise": "e",
                "test": "t",
                "points": 0,
                "max_points": 2,
                "status": "failed",
                "message": "<script>alert(1)</script>",
            }
        ],
    }
    page = feedback_html(result, CHAPTER)
    assert "<script>" not in page and "&lt;script&gt;" in page


PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "\"><svg onload=alert(3)>",
    "</pre></td></tr></table><iframe src='javascript:alert(4)'></iframe>",
    "{{ 7 * 7 }}{% raw %}",
]
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong", "ul", "li",
                "table", "tr", "th", "td", "code", "pre"}


class _Page:
    def __init__(self, page: str) -> None:
        from html.parser import HTMLParser

        self.tags, self.attrs, self.text = [], [], []
        outer = self

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                outer.tags.append(tag)
                outer.attrs.extend(name for name, _ in attrs)

            def handle_data(self, data):
                outer.text.append(data)

        Parser(convert_charrefs=True).feed(page)
        self.text = "".join(self.text)


def test_feedback_shows_a_submissions_html_never_runs_it():
    """HTML a submission put in its outputs, its tracebacks or its id is shown as text."""
    from nbformat.v4 import new_code_cell, new_output

    for payload in PAYLOADS:
        cell = new_code_cell("x", outputs=[new_output("error", ename=payload, evalue=payload,
                                                       traceback=[payload])])
        failed, message = cell_result(cell)
        stderr = new_code_cell("x", outputs=[new_output("stream", name="stderr", text=payload)])
        _, stderr_message = cell_result(stderr)
        assert failed and payload in message and payload in stderr_message
        result = {
            "student_id": payload,
            "score": 0,
            "max_score": 2,
            "status": "graded",
            "detail": f"cell `{payload}` exceeded the time limit",
            "notes": [payload],
            "tests": [
                {"exercise": payload, "test": payload, "points": 0, "max_points": 1, "status": "failed",
                 "message": message},
                {"exercise": "e", "test": "t", "points": 0, "max_points": 1, "status": "failed",
                 "message": stderr_message},
            ],
        }
        page = _Page(feedback_html(result, CHAPTER))
        assert set(page.tags) <= ALLOWED_TAGS, (payload, page.tags)
        assert not any(a.startswith("on") or a == "src" for a in page.attrs), (payload, page.attrs)
        assert page.text.count(payload) >= 6, payload  # shown, as written, everywhere it was
        assert "49" not in page.text  # no template syntax evaluated


# -- limits per submission and the system-call filter (issue 18) ----------------------------------
FILTER_SCRIPT = textwrap.dedent(
    """
    import ctypes, errno, json, os, subprocess, sys
    sys.path.insert(0, os.path.dirname(sys.argv[1]))
    import launcher
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # no_new_privs, as the launcher sets it
    launcher.load_filter(open(sys.argv[2], "rb").read())
    nr = json.loads(sys.argv[3])
    out = {}
    def attempt(label, name, *args):
        ctypes.set_errno(0)
        ret = libc.syscall(nr[name], *args)
        if ret == 0 and name == "clone":
            os._exit(0)
        out[label] = "ALLOWED" if ret >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    attempt("unshare", "unshare", 0x10000000)
    attempt("clone_newuser", "clone", 0x10000000 | 17, 0, 0, 0, 0)
    attempt("clone_newns", "clone", 0x00020000 | 17, 0, 0, 0, 0)
    attempt("clone3", "clone3", 0, 0)
    attempt("keyctl", "keyctl", 0, -3, 0)
    attempt("mount", "mount", b"none", b"/tmp", b"tmpfs", 0, None)
    attempt("setns", "setns", os.open("/proc/self/ns/net", os.O_RDONLY), 0)
    attempt("bpf", "bpf", 0, None, 0)
    attempt("perf_event_open", "perf_event_open", None, 0, -1, -1, 0)
    attempt("init_module", "init_module", None, 0, b"")
    attempt("delete_module", "delete_module", b"lstm", 0)
    out["fork"] = subprocess.run(["true"]).returncode  # ordinary processes still start
    print(json.dumps(out))
    """
)


def test_system_call_filter_refuses_escape_calls_and_allows_the_rest(tmp_path):
    from lstm_course.instructor.grading import syscalls

    try:
        program = syscalls.build_filter()
    except syscalls.FilterUnavailable as err:
        pytest.skip(str(err))
    (tmp_path / "filter.bpf").write_bytes(program)
    names = ["unshare", "clone", "clone3", "keyctl", "mount", "setns", "bpf", "perf_event_open",
             "init_module", "delete_module"]
    numbers = {name: syscalls.number(name) for name in names}
    script = tmp_path / "try.py"
    script.write_text(FILTER_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(sandbox.LAUNCHER), str(tmp_path / "filter.bpf"),
         json.dumps(numbers)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("fork") == 0 and out.pop("clone3") == "ENOSYS"
    assert out == {k: "EPERM" for k in out}, out


def test_cgroup_holds_the_memory_of_all_processes_together(tmp_path):
    from lstm_course.instructor.grading import cgroup

    try:
        groups = cgroup.detect(f"lstm-grade-unit-{os.getpid()}")
    except cgroup.CgroupUnavailable as err:
        pytest.skip(f"no usable cgroup here: {err}")
    try:
        group = groups.create("s0", cgroup.CgroupLimits(memory=128 * 2**20, pids=16, cpus=0.5))
        # Four processes of 64 MiB each: each is small, together they are over the limit.
        code = "import time\nb = bytearray(64 * 2**20)\ntime.sleep(5)"
        def into(part):
            return lambda: cgroup.join(group.procs_files(part))

        procs = [subprocess.Popen([sys.executable, "-c", code], preexec_fn=into("kernel")) for _ in range(4)]
        codes = [p.wait(timeout=60) for p in procs]
        assert group.oom_kills() >= 1 and -9 in codes, codes
        sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=into("worker"))
        group.kill()
        assert sleeper.wait(timeout=10) == -9
        group.remove()
        assert not any(d.exists() for d in group.dirs.values())
    finally:
        groups.close()
    assert not any(base.exists() for base in groups.bases.values())


def test_grade_warns_where_no_cgroup_is_usable(tmp_path, monkeypatch):
    from lstm_course.instructor.grading import runner

    monkeypatch.setenv("LSTM_COURSE_CGROUP", "none")
    course = make_course(tmp_path / "course", fake_other=False)
    (tmp_path / "subs").mkdir()
    lines = []
    runner.grade(CHAPTER, tmp_path / "subs", root=course, unsafe=True, out=tmp_path / "out", log=lines.append)
    warning = next(line for line in lines if line.startswith("WARNING: no usable cgroup"))
    assert "per process only" in warning and "instructor guide" in warning


def test_a_new_gradebook_is_stamped_as_nbgrader_stamps_it(tmp_path, monkeypatch):
    """The record stage stamps a new gradebook in-process with the version nbgrader's own
    ``alembic heads`` subprocess finds, and nbgrader then opens it as one of its own."""
    from nbgrader.api import get_alembic_version
    from sqlalchemy import create_engine, text

    from lstm_course.instructor.grading.course import venv_path_env
    from lstm_course.instructor.grading.gradebook import open_gradebook, schema_version

    monkeypatch.setenv("PATH", venv_path_env()["PATH"])  # nbgrader runs `alembic` from PATH
    assert schema_version() == get_alembic_version()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with open_gradebook(url, "course") as gb:
        gb.update_or_create_student("ann")
    with open_gradebook(url, "course") as gb:  # existing: left as it is
        assert [s.id for s in gb.students] == ["ann"]
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            schema_version()]
    engine.dispose()


def test_kernels_start_with_the_graders_matplotlib_font_list(tmp_path):
    """The font list each kernel's MPLCONFIGDIR gets (sandbox.matplotlib_font_cache) is one
    matplotlib uses as it is, instead of scanning every font again."""
    name, text = sandbox.matplotlib_font_cache()
    (tmp_path / name).write_text(text)
    os.utime(tmp_path / name, (1, 1))
    code = ("import matplotlib.font_manager as fm; "
            "print(len(fm.fontManager.ttflist), fm.findfont('DejaVu Sans'))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MPLCONFIGDIR": str(tmp_path)},
                         capture_output=True, text=True, check=True)
    count, font = out.stdout.split(maxsplit=1)
    assert int(count) > 0 and os.path.exists(font.strip())
    assert os.stat(tmp_path / name).st_mtime == 1, "matplotlib built its font list again"
    assert "building the font cache" not in out.stderr
