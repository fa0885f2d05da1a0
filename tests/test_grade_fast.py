"""Fast grading (lstm_course/instructor/grading/fast.py): which cells a grading run may skip.

The static check over every chapter's answer key, the rules on small notebooks, and (slow)
every chapter through ``lstm-course grade`` (fast, as instructors grade): the answer key earns full
marks and none of its executed cells raises, the untouched student version earns 0, neither is
flagged; one small chapter also ``--full``, with the same rows; and a submission whose test needs
a skipped cell, which is re-graded in full and says so. This is where ``make test`` executes each
chapter, once per version (the book build executes the student versions, demonstrations included).
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, chapters, grade_command
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lstm_course.instructor.grading import fast


def _nb(*cells):
    nb = new_notebook()
    for i, (kind, source) in enumerate(cells):
        cell = new_code_cell(source) if kind != "md" else new_markdown_cell(source)
        cell.id = f"c{i}"
        if kind in ("solution", "test"):
            cell.metadata["nbgrader"] = {
                "grade_id": f"g{i}", "solution": kind == "solution", "grade": kind == "test",
                "locked": kind == "test", "points": 1 if kind == "test" else None, "schema_version": 3,
            }
        nb.cells.append(cell)
    return nb


def _key(nb):
    return nbformat.read(ROOT / "solutions" / nb / f"{nb}.ipynb", as_version=4)


@pytest.mark.parametrize("chapter", chapters())
def test_no_test_or_solution_of_the_answer_key_reads_a_skipped_name(chapter):
    key = _key(chapter)
    plan = fast.plan(key)
    assert fast.violations(key, plan) == []
    kept = set(plan.kept)
    for cell in key.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader"):
            assert cell.id in kept, f"exercise cell {cell.id} would be skipped"
    first = next(c for c in key.cells if c.cell_type == "code" and c.source.strip())
    assert first.id in kept, "the imports must run"


def test_the_fast_run_skips_demonstrations_somewhere():
    skipped = {ch: len(fast.plan(_key(ch)).skip) for ch in chapters()}
    assert sum(skipped.values()) > 0, skipped
    assert skipped.get("ch01_rnn", 1) > 0, skipped


def test_demonstrations_are_kept_when_a_test_or_solution_needs_them():
    nb = _nb(
        ("code", "import numpy as np"),
        ("code", "data = np.ones(3)\nscale = 2"),  # read by the solution: kept
        ("code", "fig = draw(3)"),  # nobody reads fig: skipped (`draw(data)` might change data: kept)
        ("code", "model = Model()"),  # read by the test...
        ("code", "model.train()\nhistory = fit(model, data)"),  # ...and changed here: kept
        ("code", "helper = lambda x: x * scale"),  # the test reads helper: kept, and so scale
        ("code", "for scale in range(3):\n    print(scale)"),  # binds scale too: kept
        ("solution", "def f(x):\n    return x * data"),
        ("test", "assert f(1)[0] == 1 and model and helper(1)"),
        ("code", "tmp = [i for i in range(3)]\ndel tmp"),  # skipped
    )
    plan = fast.plan(nb)
    assert set(plan.skip) == {"c2", "c9"}, plan.skip
    assert fast.violations(nb, plan) == []


def test_only_what_runs_after_a_cell_or_inside_a_function_can_need_it():
    nb = _nb(
        ("code", "import torch"),
        ("code", "device = pick()"),  # read by the test after it: kept
        ("solution", "def f(x):\n    return x + offset"),  # offset: read when f is called
        ("test", "assert f(1).to(device) == 2"),
        ("code", "model = Net().to(device)"),  # after every reader of device: skipped
        ("code", "offset = 1"),  # after f's definition, but f reads it when called: kept
    )
    plan = fast.plan(nb)
    assert set(plan.skip) == {"c4"}, plan.skip
    assert "offset" in fast.cell_names(nb.cells[2].source).later
    assert fast.violations(nb, plan) == []


def test_reads_are_names_from_outside_the_cell():
    names = fast.cell_names("x = 1\ny = x + z\ndef g(a):\n    return a + w\nq = [k for k in v]\n")
    assert names.reads == {"z", "w", "v"}
    assert {"x", "y", "g", "q"} <= names.binds
    assert fast.cell_names("y = x\nx = 2").reads == {"x"}  # read before bound
    assert "d" in fast.cell_names("d[0] = 1").mutates and "m" in fast.cell_names("m.fit(x)").mutates


def test_dynamic_names_skip_nothing():
    for src in ("exec('a = 1')", "globals()['a'] = 1", "%%time\nb = 2", "from numpy import *"):
        nb = _nb(("code", "import numpy as np"), ("code", "demo = 1"), ("code", src), ("test", "assert 1"))
        assert fast.cell_names(src).dynamic, src
        assert fast.plan(nb).skip == {}, src


def test_only_unchanged_demonstrations_are_left_out():
    key = _nb(("code", "import numpy as np"), ("code", "fig = 1"), ("code", "gig = 2"), ("test", "assert 1"))
    plan = fast.plan(key)
    assert set(plan.skip) == {"c1", "c2"}
    sub = _nb(("code", "import numpy as np"), ("code", "fig = 1"), ("code", "gig = 3  # mine"),
              ("code", "fig = 1"), ("test", "assert 1"))
    sub.cells[3].id = "added"
    pruned, skipped = fast.prune(sub, plan)
    assert skipped == ["c1"]
    assert [c.id for c in pruned.cells] == ["c0", "c2", "added", "c4"]
    assert len(sub.cells) == 5  # the submission itself is left as it was


def test_a_fast_run_is_redone_in_full_only_when_a_skipped_cell_may_be_why():
    key = _nb(("code", "import numpy as np"), ("code", "fig = 1"), ("test", "assert f() == 1"))
    plan = fast.plan(key)

    def ran(ename, evalue):
        nb = _nb(("code", "import numpy as np"), ("test", "assert f() == 1"))
        nb.cells[1].outputs = [new_output("error", ename=ename, evalue=evalue, traceback=[])]
        return nb

    assert "NameError" in fast.needs_full_run(ran("NameError", "name 'fig' is not defined"), plan, ["c1"])
    assert fast.needs_full_run(ran("NameError", "name 'f' is not defined"), plan, ["c1"]) is None
    assert "AttributeError" in fast.needs_full_run(ran("AttributeError", "no attribute 'w'"), plan, ["c1"])
    assert fast.needs_full_run(ran("AssertionError", ""), plan, ["c1"]) is None
    assert fast.needs_full_run(ran("NameError", "name 'fig' is not defined"), plan, []) is None
    failed_answer = ran("AssertionError", "")
    failed_answer.cells[0].outputs = [
        new_output("error", ename="NameError", evalue="name 'fig' is not defined", traceback=[])
    ]
    assert "cell 1" in fast.needs_full_run(failed_answer, plan, ["c1"])  # any cell, by its bound name


# -- end to end (slow): the same rows fast and full -------------------------------------------
def _sandbox_or_skip() -> None:
    from lstm_course.instructor.grading.sandbox import SandboxUnavailable, detect

    try:
        detect()
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox here: {err}")


def _rows(course: Path, chapter: str, subs: Path, out: Path, *options: str) -> dict[str, dict]:
    cmd = grade_command(chapter, subs, out, "--jobs", "2", "--cell-timeout", "300", *options)
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def _scores(rows):
    return {sid: (r["status"], r["score"], r["max_score"]) for sid, r in rows.items()}


#: The chapter also graded with ``--full`` (a small one, whose fast plan skips cells), to show that
#: both modes give the same rows; every other chapter is graded once per version, fast, the way
#: instructors grade. The demonstrations fast grading skips are executed by the book build.
FULL_TOO = "ch02_forget_gate"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapters())
def test_answer_key_earns_full_marks_and_student_version_zero(tmp_path, chapter):
    from hostile.corpus import make_course

    _sandbox_or_skip()
    if not (ROOT / "chapters" / chapter / f"{chapter}.ipynb").exists():
        pytest.skip(f"{chapter} is not released yet")
    course = make_course(tmp_path / "course", chapters=[chapter], fake_other=False)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "answer_key.ipynb").write_bytes((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_bytes())
    (subs / "untouched.ipynb").write_bytes((ROOT / "chapters" / chapter / f"{chapter}.ipynb").read_bytes())
    modes = {"fast": ()} | ({"full": ("--full",)} if chapter == FULL_TOO else {})
    runs = {}
    for mode, options in modes.items():
        runs[mode] = rows = _rows(course, chapter, subs, tmp_path / mode, *options)
        key, blank = rows["answer_key"], rows["untouched"]

        def why(student: str, rows=rows, mode=mode) -> str:
            page = (tmp_path / mode / "feedback" / f"{student}.html").read_text()
            return f"{mode}: {rows[student]['detail']}\n{page[page.find('<table>'):][:3000]}"

        assert float(key["max_score"]) > 0, f"{chapter} has no graded test cells"
        assert key["status"] == "graded" and float(key["score"]) == float(key["max_score"]), why("answer_key")
        assert key["detail"].startswith("all ") and key["detail"].endswith(" tests passed"), why("answer_key")
        assert blank["status"] == "graded" and float(blank["score"]) == 0, why("untouched")
        assert "pending review" not in blank["detail"] and "kernel stopped" not in blank["detail"]
        assert "graded in full" not in key["detail"] + blank["detail"]  # the fast plan sufficed
        assert "GuardError" not in str(rows) and "changed the course's tools" not in str(rows), rows
        # No cell the run executed raised (fast: imports, solutions, tests and what they read;
        # the book build executes the rest in the student version).
        graded_key = nbformat.read(course / "autograded" / "answer_key" / chapter / f"{chapter}.ipynb",
                                   as_version=4)
        errors = [(cell.source[:200], out.get("ename"), out.get("evalue", "")[:300])
                  for cell in graded_key.cells if cell.cell_type == "code"
                  for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        assert not errors, f"{chapter} ({mode}): cells of the answer key raised: {errors}"
    if "full" in runs:
        assert _scores(runs["fast"]) == _scores(runs["full"])


@pytest.mark.slow
def test_a_test_that_needs_a_skipped_cell_regrades_in_full_and_says_so(tmp_path):
    from hostile.corpus import make_course

    _sandbox_or_skip()
    chapter = FULL_TOO  # a small chapter: the fallback runs it in full
    key = _key(chapter)
    plan = fast.plan(key)
    # the student's answer reads a name that only a skipped demonstration cell binds: in the fast
    # run the answer cell fails before defining its function, so its tests fail with NameError
    kept_binds = set().union(*(plan.names[cid].binds for cid in plan.kept))
    code = [c for c in key.cells if c.cell_type == "code"]
    at, name = next((k, sorted(plan.names[c.id].binds - kept_binds)[0]) for k, c in enumerate(code)
                    if c.id in plan.skip and plan.names[c.id].binds - kept_binds)
    sol = next(c for c in code[at:] if c.metadata.get("nbgrader", {}).get("solution"))  # after the demo
    sol.source = f"_needs_the_demo = {name}\n" + sol.source
    course = make_course(tmp_path / "course", chapters=[chapter], fake_other=False)
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(key, subs / "uses_demo.ipynb")
    row = _rows(course, chapter, subs, tmp_path / "fast")["uses_demo"]
    # the fast run failed for want of the skipped cell, was redone in full, and earned full marks
    assert "graded in full" in row["detail"] and name in row["detail"], row
    assert row["status"] == "graded" and float(row["score"]) == float(row["max_score"]) > 0, row
