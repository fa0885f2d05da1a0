"""``lstm-course check NOTEBOOK``: the student's dry run before submitting.

Runs the notebook top to bottom in a fresh kernel (as the grader will: nothing from the
student's open session counts), then says for each exercise whether its visible tests pass and
how many points it is worth. It also warns about what would cost points when graded: a test
cell that was edited (the grader puts the original back), an error in a cell outside the tests,
anything written to stderr by a test.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader.utils import compute_checksum

from lstm_course.instructor.grading.feedback import _fmt, cell_result
from lstm_course.instructor.grading.notebook import SubmissionProblem, read_notebook
from lstm_course.instructor.grading.sandbox import SandboxKernelManager


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _raised(cell, ename: str) -> bool:
    return any(o.get("output_type") == "error" and o.get("ename") == ename for o in cell.get("outputs", []))


def _run(client: NotebookClient) -> bool | None:
    """Execute; True if the kernel died, None if the notebook could not be run at all."""
    try:
        try:
            client.execute()
        finally:
            if client.km is not None and client.owns_km is False:
                client._cleanup_kernel()
    except DeadKernelError:
        return True
    except Exception as err:  # noqa: BLE001 - report, never crash on the student's notebook
        print(f"The notebook could not be run: {type(err).__name__}: {str(err).splitlines()[0]}")
        return None
    return False


def check_notebook(path: Path, timeout: float = 120, out=None) -> int:
    """Run and report; returns 0 when every visible test passes, 1 otherwise, 2 if it cannot run."""
    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    try:
        nb = read_notebook(path)
    except (SubmissionProblem, OSError) as err:
        say(f"Cannot check {path}: {err}.")
        return 2
    tests = [c for c in nb.cells if c.cell_type == "code" and _meta(c).get("grade")]
    if not tests:
        say(f"{path.name} has no graded exercises: is it a chapter notebook from chapters/?")
        return 2
    edited = [
        _meta(c).get("grade_id")
        for c in tests
        if _meta(c).get("checksum") and compute_checksum(c) != _meta(c)["checksum"]
    ]

    say(f"Running {path.name} from the top in a fresh kernel, as the grader will...")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lstm-check-") as tmp:
        km = SandboxKernelManager(sandbox=None, kernel_log=str(Path(tmp) / "kernel.log"))
        client = NotebookClient(
            nb,
            km=km,
            timeout=int(timeout),
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": "CellTimeoutError",
                "evalue": f"the cell ran longer than {timeout:g} s",
                "traceback": [],
            },
            resources={"metadata": {"path": str(path.resolve().parent)}},
        )
        died = _run(client)
    if died is None:
        return 2
    say(f"Done in {time.monotonic() - t0:.1f} s.\n")

    exercise, rows, problems = None, [], []
    for index, cell in enumerate(nb.cells):
        meta = _meta(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            exercise = cell
        if meta.get("grade"):
            name = (
                _meta(exercise).get("grade_id", meta.get("grade_id"))
                if exercise is not None
                else meta["grade_id"]
            )
            points = float(meta.get("points", 0))
            ran = cell.get("execution_count") is not None or cell.get("outputs")
            failed, message = cell_result(cell)
            if _raised(cell, "NotImplementedError") or (
                exercise is not None and _raised(exercise, "NotImplementedError")
            ):
                state = "not answered yet (the exercise still raises NotImplementedError)"
                ok = False
            elif meta.get("grade_id") in edited:
                state, ok = (
                    "you changed this test cell, so this run does not count (the grader runs the original)",
                    False,
                )
            elif not ran:
                state, ok = "did not run (the kernel stopped earlier)", False
            elif failed:
                state, ok = "visible tests FAIL: " + message.replace("\n", "\n" + " " * 8), False
            else:
                state, ok = "visible tests pass", True
            rows.append((name, points, ok, state))
        if not meta.get("grade"):
            errors = [
                o
                for o in cell.get("outputs", [])
                if o.get("output_type") == "error" and o.get("ename") != "NotImplementedError"
            ]
            if errors:
                where = f"exercise {meta['grade_id']}" if meta.get("grade_id") else f"cell {index + 1}"
                problems.append(
                    f"{where} raised {errors[0].get('ename')}: {errors[0].get('evalue', '')[:200]}"
                )

    # One line per exercise: an exercise with several test cells (Exercise 1.4 has four) passes
    # when all of them pass, and its first problem is what the line says.
    merged: dict[str, tuple[str, float, bool, str]] = {}
    for name, points, ok, state in rows:
        if name in merged:
            _, before, was_ok, first = merged[name]
            merged[name] = (name, before + points, was_ok and ok, first if not was_ok or ok else state)
        else:
            merged[name] = (name, points, ok, state)
    rows = list(merged.values())
    width = max(len(r[0]) for r in rows)
    for name, points, _, state in rows:
        say(f"  {name:<{width}}  {_fmt(points):>3} point{'s' if points != 1 else ' '}  {state}")
    passing = [r for r in rows if r[2]]
    total = sum(r[1] for r in rows)
    got = sum(r[1] for r in passing)
    say(
        f"\nVisible tests pass for {len(passing)} of {len(rows)} exercises "
        f"({_fmt(got)} of {_fmt(total)} points at stake)."
    )
    say(
        "When your notebook is graded, hidden tests check more cases (other shapes, edge values, common "
        "mistakes), so passing here does not guarantee the points."
    )
    if edited:
        say(
            f"Note: you changed the test cell(s) {', '.join(edited)}; "
            "the grader puts the original tests back."
        )
    if died:
        say(
            "Note: the kernel stopped while running your notebook (the code exited or crashed); the grader "
            "would stop there too."
        )
    for p in problems:
        say(f"Note: {p}. The grader runs every cell, so fix errors outside the exercises too.")
    return 0 if len(passing) == len(rows) and not died else 1
