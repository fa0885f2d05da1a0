"""What the grader tells people: the one-sentence detail of grades.csv and the HTML feedback.

Feedback shows, for every test, its points, whether it passed and the message it failed with
(the ``CheckFailed`` text: what was compared, by how much it missed, which mistake it looks
like), never the test's code: hidden tests stay hidden.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from nbformat import NotebookNode

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE = 1500


def _clean(text: str) -> str:
    text = _ANSI.sub("", text or "").strip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " [...]"


def cell_result(cell: NotebookNode) -> tuple[bool, str]:
    """(failed, message) of an executed test cell, as nbgrader scores it: an error or anything
    on stderr fails the test."""
    outputs = cell.get("outputs", [])
    guard = [o for o in outputs if o.get("output_type") == "error" and o.get("ename") == "GuardError"]
    for out in guard + outputs:
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), _clean(out.get("evalue", ""))
            if ename in ("CheckFailed", "NotRun", "KernelDied", "CellTimeoutError", "GuardError"):
                return True, evalue or ename
            return True, f"{ename}: {evalue}" if evalue else ename
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return (
                True,
                "The test wrote to stderr (a warning or an error message), which counts as a failure: "
                + _clean(out.get("text", ""))[:500],
            )
    return False, ""


def _fmt(x: float) -> str:
    return f"{x:g}"


def detail_sentence(result: dict) -> str:
    """The ``detail`` column: one sentence on what happened to this submission."""
    if result["status"] != "graded":
        return result.get("detail") or "grading failed"
    parts: list[str] = []
    findings = result.get("findings") or []
    if findings:
        shown = ", ".join(findings[:2]) + (" and more" if len(findings) > 2 else "")
        parts.append(f"scored 0 pending review: it has {shown}, which can change how the tests run")
    limits = result.get("limits", {})
    seen = set()
    for ev in result.get("events", []):
        kind, label = ev["kind"], ev.get("label", "?")
        if kind in seen and kind != "cell_timeout":
            continue
        seen.add(kind)
        if kind == "kernel_died":
            mem = limits.get("memory", 4 * 2**30) / 2**30
            parts.append(
                f"the kernel stopped in cell {label} (the code exited, crashed or went over the "
                f"{mem:g} GiB memory limit), so later cells did not run"
            )
        elif kind == "unresponsive":
            parts.append(f"cell {label} did not stop when interrupted, so later cells did not run")
        elif kind == "submission_timeout":
            parts.append(
                f"the notebook used up its {_fmt(limits.get('submission_timeout', 600))} s time limit "
                f"at cell {label}, so later cells did not run"
            )
        elif kind == "cell_timeout" and len([p for p in parts if "time limit" in p]) < 2:
            parts.append(
                f"cell {label} exceeded the {_fmt(ev.get('seconds') or limits.get('cell_timeout', 60))} s"
                " time limit"
            )
        elif kind == "output_cut":
            parts.append(f"cell {label} printed more than {_fmt(ev.get('mib', 8))} MiB, so it was stopped")
    tampered = [
        t["test"] for t in result.get("tests", []) if t.get("message", "").startswith("The notebook changed")
    ]
    if tampered:
        parts.append(
            f"test `{tampered[0]}` earned nothing because the notebook changed the course's tools while "
            "it ran"
        )
    tests = result.get("tests", [])
    passed = sum(1 for t in tests if t["status"] == "passed")
    if findings:
        summary = f"its tests ran: {passed} of {len(tests)} passed"
    elif tests and passed == len(tests):
        summary = f"all {len(tests)} tests passed"
    elif tests:
        summary = f"{passed} of {len(tests)} tests passed"
    else:
        summary = "no tests were found"
    if not parts:
        return summary
    return "; ".join(parts) + f" ({summary})"


@functools.cache
def _template():
    """The feedback page (templates/feedback.html.j2), with every value escaped: what a
    submission printed, raised or was named is shown as text, never run."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lstm_course.instructor.grading", "templates"),
        autoescape=True,  # every {{ }} is HTML-escaped, whatever the file is called
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )
    return env.get_template("feedback.html.j2")


def feedback_html(result: dict, chapter: str) -> str:
    """A self-contained page for one student: score, summary, and every test's result."""
    tests = [
        {
            "exercise": str(t["exercise"]),
            "test": str(t["test"]),
            "points": _fmt(t["points"]),
            "max_points": _fmt(t["max_points"]),
            "status": str(t["status"]),
            "css": {"passed": "passed", "failed": "failed"}.get(t["status"], "notrun"),
            "message": str(t.get("message") or ""),
        }
        for t in result.get("tests", [])
    ]
    return _template().render(
        chapter=chapter,
        student_id=str(result["student_id"]),
        score=_fmt(result["score"]),
        max_score=_fmt(result["max_score"]),
        status=str(result["status"]),
        detail=str(result["detail"]),
        notes=[str(n) for n in result.get("notes", [])],
        tests=tests,
    )


def write_feedback(out_dir: Path, result: dict, chapter: str) -> Path:
    path = out_dir / "feedback" / f"{result['student_id']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(result, chapter), encoding="utf-8")
    return path
