"""What the grader tells people: the one-sentence detail of grades.csv and the HTML feedback.

Feedback shows, for every test, its points, whether it passed and the message it failed with
(the ``CheckFailed`` text: what was compared, by how much it missed, which mistake it looks
like), never the test's code: hidden tests stay hidden.
"""

from __future__ import annotations

import html
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


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}
.passed{color:#1a7f37}.failed{color:#b42318}.notrun{color:#8a6d00}pre{white-space:pre-wrap;margin:0}
"""


def feedback_html(result: dict, chapter: str) -> str:
    """A self-contained page for one student: score, summary, and every test's result."""
    esc = html.escape
    sid = result["student_id"]
    rows = []
    for t in result.get("tests", []):
        css = {"passed": "passed", "failed": "failed"}.get(t["status"], "notrun")
        rows.append(
            f"<tr><td>{esc(t['exercise'])}</td><td><code>{esc(t['test'])}</code></td>"
            f"<td>{_fmt(t['points'])} / {_fmt(t['max_points'])}</td>"
            f"<td class='{css}'>{esc(t['status'])}</td><td><pre>{esc(t.get('message') or '')}</pre></td></tr>"
        )
    table = (
        (
            "<table><tr><th>Exercise</th><th>Test</th><th>Points</th><th>Result</th><th>Message</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        if rows
        else "<p>No test results.</p>"
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in result.get("notes", []))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(chapter)}: feedback for {esc(sid)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{esc(chapter)}: feedback for {esc(sid)}</h1>"
        f"<p><strong>Score: {_fmt(result['score'])} / {_fmt(result['max_score'])}</strong>"
        f" ({esc(result['status'])})</p><p>{esc(result['detail'])}.</p>"
        + (f"<ul>{notes}</ul>" if notes else "")
        + "<h2>Tests</h2>"
        + table
        + "<p>Each test shows its message, not its code: hidden tests stay hidden.</p></body></html>"
    )


def write_feedback(out_dir: Path, result: dict, chapter: str) -> Path:
    path = out_dir / "feedback" / f"{result['student_id']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(result, chapter), encoding="utf-8")
    return path
