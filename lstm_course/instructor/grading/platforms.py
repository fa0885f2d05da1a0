"""Learning platforms: their submission downloads in, their gradebook-import CSV files out.

Recognised downloads (a folder or a zip, as ``lstm-course grade`` reads them):

* **Canvas** ("Download Submissions"): one file per submitted file, named
  ``name_userid_submissionid_file.ipynb`` (``name`` is the student's name as lowercase
  ``lastfirst``; a late submission reads ``name_LATE_userid_submissionid_file.ipynb``). The row's
  platform id is the Canvas user id, and the student id becomes ``name_userid``. The files of one
  user are one row: the notebook is graded, the other files are noted.
* **Moodle** ("Download all submissions"): one folder per participant,
  ``Full Name_participantid_assignsubmission_file_/`` holding the files. The platform id is the
  participant id (the number Moodle's grading worksheet calls ``Participant <id>``), and the
  student id becomes ``Full_Name_participantid``.

Anything else keeps the id :mod:`~lstm_course.instructor.grading.discover` gave it; plain folders
and zips grade as before. :func:`recognise` runs on discover's rows; the runner writes
``platform_ids.csv`` (student id, platform, platform id, name, late) next to ``grades.csv``, and
``lstm-course export CHAPTER --to canvas|moodle`` writes the platform's import file from both:

* Canvas (Grades > Import): columns ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
  ``Section`` and one column per assignment, headed as in Canvas's own export
  (``Name (assignment id)``; pass it with ``--assignment``), with a ``Points Possible`` row;
* Moodle (the assignment's "Upload grading worksheet", with "Offline grading worksheet" feedback
  enabled): columns ``Identifier`` (``Participant <id>``), ``Full name``, ``Grade``, ``Maximum
  Grade``, ``Last modified (grade)``, ``Feedback comments``; Moodle's importer needs the first
  three it reads (Identifier, Grade, Last modified (grade)).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lstm_course.instructor.grading.discover import Submission, safe_student_id

CANVAS = re.compile(r"^(?P<name>[^_/]+?)(?P<late>_LATE)?_(?P<uid>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assign(?:submission|feedback)_(?:file|onlinetext)_?/?$")
IDS_HEADER = ["student_id", "platform", "platform_id", "name", "late", "submission_id"]


@dataclass
class PlatformId:
    platform: str  # "canvas" | "moodle"
    platform_id: str
    name: str
    late: bool = False
    submission_id: str = ""


def _parse(entry: str) -> PlatformId | None:
    """The platform an entry name (``foo.ipynb`` or ``foo/``) comes from, if any."""
    if entry.endswith("/"):
        m = MOODLE.match(entry)
        if m:
            return PlatformId("moodle", m["pid"], m["name"].strip())
        return None
    m = CANVAS.match(entry)
    if m:
        return PlatformId("canvas", m["uid"], m["name"], bool(m["late"]), m["sub"])
    return None


def recognise(subs: list[Submission], chapter: str) -> tuple[list[Submission], dict[str, PlatformId]]:
    """Rows with platform ids (and readable student ids), and each such row's :class:`PlatformId`.

    Only when every entry of the download is a platform's (a download is from one platform)
    are ids changed; the files of one Canvas user become one row.
    """
    parsed = [[_parse(e) for e in s.entries] for s in subs]
    flat = [p for ps in parsed for p in ps]
    if not flat or any(p is None for p in flat) or len({p.platform for p in flat}) != 1:
        return subs, {}
    groups: dict[str, list[tuple[Submission, PlatformId]]] = {}
    for sub, ps in zip(subs, parsed, strict=True):
        groups.setdefault(ps[0].platform_id, []).append((sub, ps[0]))
    out: list[Submission] = []
    ids: dict[str, PlatformId] = {}
    for pid, members in groups.items():
        info = members[0][1]
        info.late = any(p.late for _, p in members)
        sid = safe_student_id(f"{info.name}_{pid}")
        row = _one_row(sid, [m for m, _ in members], chapter)
        out.append(row)
        ids[sid] = info
    return sorted(out, key=lambda s: s.student_id), ids


def _one_row(sid: str, members: list[Submission], chapter: str) -> Submission:
    entries = [e for m in members for e in m.entries]
    notes = [n for m in members for n in m.notes]
    gradable = [m for m in members if m.notebook is not None]
    if len(gradable) > 1:  # a resubmitted file is saved as name-1.ipynb: prefer the chapter's name
        named = [m for m in gradable if m.notebook.stem.split("-")[0] == chapter]
        gradable = named[-1:] if named else gradable
    if len(gradable) == 1:
        chosen = gradable[0]
        others = [e for e in entries if e not in chosen.entries]
        if others:
            shown = ", ".join(f"`{e}`" for e in others)
            notes.append(f"{shown} not graded (only `{chosen.entries[0]}` was)")
        return Submission(sid, chosen.notebook, chosen.extra_files, None, entries, notes)
    if gradable:
        return Submission(sid, problem=f"{len(gradable)} notebooks were submitted ({', '.join(entries)})",
                          entries=entries, notes=notes)
    return Submission(sid, problem=members[0].problem or "no notebook was submitted", entries=entries,
                      notes=notes)


def write_ids(path: Path, ids: dict[str, PlatformId]) -> None:
    """``platform_ids.csv``: the platform's id of each row of ``grades.csv`` (nothing if none)."""
    from lstm_course.instructor.grading.runner import csv_safe

    if not ids:
        path.unlink(missing_ok=True)
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(IDS_HEADER)
        for sid, p in sorted(ids.items()):
            w.writerow([csv_safe(sid), p.platform, p.platform_id, csv_safe(p.name), "yes" if p.late else "",
                        p.submission_id])


def _rows(path: Path) -> list[dict]:
    from lstm_course.instructor.grading.mistakes import _unquote

    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _unquote(v) for k, v in r.items()} for r in csv.DictReader(f)]


def export(grades_dir: Path, platform: str, out: Path, *, assignment: str, section: str = "") -> int:
    """Write ``platform``'s gradebook-import CSV from ``grades_dir``; returns the number of rows."""
    grades = {r["student_id"]: r for r in _rows(grades_dir / "grades.csv")}
    ids_path = grades_dir / "platform_ids.csv"
    ids = {r["student_id"]: r for r in _rows(ids_path)} if ids_path.is_file() else {}
    missing = sorted(s for s in grades if s not in ids or ids[s]["platform"] != platform)
    if missing:
        raise ValueError(
            f"{len(missing)} row(s) of grades.csv have no {platform} id (e.g. {missing[0]!r}): "
            f"grade the {platform} download itself, not renamed files"
        )
    rows = sorted(grades.values(), key=lambda r: r["student_id"])
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if platform == "canvas":
            w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment])
            full = max((float(r["max_score"]) for r in rows), default=0.0)
            w.writerow(["Points Possible", "", "", "", "", f"{full:g}"])
            for r in rows:
                p = ids[r["student_id"]]
                w.writerow([_plain(p["name"]), p["platform_id"], "", "", section, r["score"]])
        elif platform == "moodle":
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            w.writerow(["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)",
                        "Feedback comments"])
            for r in rows:
                p = ids[r["student_id"]]
                w.writerow([f"Participant {p['platform_id']}", _plain(p["name"]), r["score"], r["max_score"],
                            stamp, _plain(r["detail"])])
        else:
            raise ValueError(f"unknown platform {platform!r} (canvas or moodle)")
    return len(rows)


def _plain(text: str) -> str:
    from lstm_course.instructor.grading.runner import csv_safe

    return csv_safe(text)


def _export(args: argparse.Namespace) -> int:
    grades = Path(args.grades or Path("grades") / args.chapter)
    out = Path(args.out or grades / f"{args.to}_import.csv")
    try:
        n = export(grades, args.to, out, assignment=args.assignment or args.chapter,
                   section=args.section or "")
    except (OSError, ValueError) as err:
        print(f"lstm-course export: {err}", file=sys.stderr)
        return 2
    print(out)
    print(f"{n} grades for {args.to}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``lstm-course`` command line."""
    e = sub.add_parser(
        "export",
        help="write grades as a Canvas or Moodle gradebook-import CSV",
        description="Write CHAPTER's grades (from a `lstm-course grade` folder of a Canvas or Moodle "
        "download) as the platform's gradebook-import CSV: Canvas's Grades > Import file, or Moodle's "
        "grading worksheet (Upload grading worksheet).",
    )
    e.add_argument("chapter", help="chapter folder name, e.g. ch02_forget_gate")
    e.add_argument("--to", required=True, choices=["canvas", "moodle"], help="the platform")
    e.add_argument("--grades", help="the folder `lstm-course grade` wrote (default: grades/CHAPTER)")
    e.add_argument("--out", help="the CSV to write (default: GRADES/<platform>_import.csv)")
    e.add_argument("--assignment", help="Canvas: the assignment's column as Canvas's export heads it, "
                   "e.g. 'Forget gate (123456)' (default: CHAPTER)")
    e.add_argument("--section", help="Canvas: the Section column (default: empty)")
    e.set_defaults(func=_export)
