"""The named mistakes of a grading run: read from the autograded notebooks, kept in ``mistakes.csv``.

A failing test cell records the mistake its check matched as a ``display_data`` output of MIME
type :data:`lstm_course.teach.mistakes.MIME` (see :mod:`lstm_course.teach.mistakes`), never as
prose to parse back. :func:`read_mistake` takes it from an executed test cell; the worker keeps
it with the test's result, and the runner writes ``mistakes.csv`` next to ``grades.csv``: one
row per test that did not pass, per student, with the mistake's id (empty when the failure
matched no named mistake), its description, and the message the student saw.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from lstm_course.teach.mistakes import MIME

MISTAKES_HEADER = [
    "student_id", "chapter", "exercise", "test", "status", "points", "max_points",
    "mistake", "description", "message",
]
MAX_FIELD = 300


def read_mistake(cell) -> dict | None:
    """The named mistake an executed test cell recorded (the last one before its error), or None."""
    found = None
    for out in cell.get("outputs", []) or []:
        if out.get("output_type") not in ("display_data", "execute_result"):
            continue
        data = (out.get("data") or {}).get(MIME)
        if isinstance(data, str):  # some writers keep JSON MIME data as text
            try:
                data = json.loads(data)
            except ValueError:
                continue
        if isinstance(data, dict) and isinstance(data.get("mistake"), str) and data["mistake"]:
            found = {
                "mistake": data["mistake"][:MAX_FIELD],
                "description": str(data.get("description") or "")[:MAX_FIELD],
            }
    return found


def rows(results: list[dict]) -> list[dict]:
    """One row per test that did not pass (failed or not run), per graded student."""
    out = []
    for r in results:
        for t in r.get("tests", []):
            if t.get("status") == "passed":
                continue
            named = t.get("mistake") or {}
            out.append(
                {
                    "student_id": r["student_id"],
                    "chapter": r["chapter"],
                    "exercise": t.get("exercise", ""),
                    "test": t.get("test", ""),
                    "status": t.get("status", ""),
                    "points": t.get("points", 0.0),
                    "max_points": t.get("max_points", 0.0),
                    "mistake": named.get("mistake", ""),
                    "description": named.get("description", ""),
                    "message": (t.get("message") or "")[:MAX_FIELD * 2],
                }
            )
    return out


def write_mistakes(path: Path, results: list[dict]) -> None:
    """Write ``mistakes.csv`` (see the module docstring); fields are spreadsheet-safe."""
    from lstm_course.instructor.grading.runner import csv_safe

    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MISTAKES_HEADER)
        writer.writeheader()
        for row in rows(results):
            writer.writerow({k: csv_safe(v) if isinstance(v, str) else f"{v:g}" for k, v in row.items()})
    tmp.replace(path)


def _unquote(value):
    """Undo :func:`~lstm_course.instructor.grading.runner.csv_safe`."""
    from lstm_course.instructor.grading.runner import FORMULA_START

    if isinstance(value, str) and value[:1] == "'" and value[1:2] and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def read_mistakes(path: Path) -> list[dict]:
    """The rows of a ``mistakes.csv`` (the quote a spreadsheet-safe field got is removed)."""
    with open(path, newline="", encoding="utf-8") as f:
        out = []
        for row in csv.DictReader(f):
            out.append({k: _unquote(v) for k, v in row.items()})
        return out
