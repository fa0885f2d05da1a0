"""``lstm-course report CHAPTER``: what the class got wrong, from the gradebook and the named mistakes.

Reads, for one chapter, the points of every student on every test from nbgrader's gradebook
(SQLite or PostgreSQL, through nbgrader's ``Gradebook`` API: one or more grading runs may have
written it), and from each grading run's folder (``--grades``, repeatable) ``grades.csv`` (status
and what went wrong) and ``mistakes.csv`` (the named mistake each failing test matched, see
:mod:`lstm_course.instructor.grading.mistakes`). A later folder's row of a student replaces an
earlier one's. Writes into ``--out``:

* ``report.html``: the score distribution, each exercise's pass rate and points, the most common
  named mistakes per exercise (count, share of the class, a short example message), and the
  students who scored zero or could not be graded, with why;
* ``score_distribution.png``, ``pass_rates.png``, ``mistakes.png`` (with alt text in the page);
* ``scores.csv``, ``exercises.csv``, ``mistakes.csv``, ``zero_or_error.csv``: the same tables.
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lstm_course.instructor.grading.gradebook import class_points

#: Okabe-Ito colours (colour-blind safe); every bar also has a hatch or a label.
BLUE, ORANGE, GREEN = "#0072B2", "#E69F00", "#009E73"
EXAMPLE_CHARS = 400
TOP_MISTAKES = 5


@dataclass
class ClassReport:
    chapter: str
    students: dict[str, dict] = field(default_factory=dict)  # id -> score, max_score, status, detail
    tests: list[dict] = field(default_factory=list)  # test, exercise, max_points, passed, mean_points
    mistakes: list[dict] = field(default_factory=list)  # test, exercise, mistake, description, count, ...
    unnamed: dict[str, int] = field(default_factory=dict)  # test -> failures that matched no mistake
    zero_or_error: list[dict] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.students)

    def rate(self, test: str, mistake: str) -> float:
        """Share of the class whose ``test`` failed with ``mistake``."""
        for m in self.mistakes:
            if m["test"] == test and m["mistake"] == mistake:
                return m["count"] / self.size if self.size else 0.0
        return 0.0


def _read_csv(path: Path) -> list[dict]:
    from lstm_course.instructor.grading.mistakes import _unquote

    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _unquote(v) for k, v in row.items()} for row in csv.DictReader(f)]


def build(chapter: str, grades_dirs: list[Path], *, db_url: str, course_id: str,
          exercise_of: dict[str, str], test_order: list[str]) -> ClassReport:
    """Gather the report's tables (see the module docstring)."""
    report = ClassReport(chapter)
    rows: dict[str, dict] = {}
    failures: dict[str, dict] = {}  # (student, test) -> mistakes.csv row
    for folder in grades_dirs:
        run_rows = [r for r in _read_csv(folder / "grades.csv") if r.get("chapter", chapter) == chapter]
        for r in run_rows:
            rows[r["student_id"]] = r
        run_ids = {r["student_id"] for r in run_rows}
        for key in [k for k in failures if k[0] in run_ids]:
            del failures[key]  # a later run of a student replaces the earlier one's failures
        for m in _read_csv(folder / "mistakes.csv"):
            if m.get("chapter", chapter) == chapter:
                failures[(m["student_id"], m["test"])] = m
    points = class_points(db_url, course_id, chapter)
    full = None
    for sid in sorted(set(rows) | set(points)):
        row = rows.get(sid, {})
        got = points.get(sid, {})
        score = sum(p for p, _ in got.values()) if got else float(row.get("score") or 0)
        max_score = sum(m for _, m in got.values()) if got else float(row.get("max_score") or 0)
        full = max(full or 0.0, max_score)
        report.students[sid] = {
            "student_id": sid,
            "score": score,
            "max_score": max_score,
            "status": row.get("status", "graded"),
            "detail": row.get("detail", ""),
            "tests": got,
        }
    tests = [t for t in test_order if any(t in s["tests"] for s in report.students.values())] or test_order
    n = report.size
    for test in tests:
        max_points = max((s["tests"].get(test, (0, 0))[1] for s in report.students.values()), default=0.0)
        passed = sum(
            1 for s in report.students.values()
            if test in s["tests"] and s["tests"][test][1] > 0 and s["tests"][test][0] >= s["tests"][test][1]
            and s["status"] == "graded"
        )
        total = sum(s["tests"].get(test, (0.0, 0.0))[0] for s in report.students.values())
        mean_points = total / n if n else 0.0
        report.tests.append({
            "test": test, "exercise": exercise_of.get(test, test), "max_points": max_points,
            "passed": passed, "pass_rate": passed / n if n else 0.0, "mean_points": mean_points,
        })
    named: dict[tuple[str, str], list[dict]] = defaultdict(list)
    unnamed: Counter = Counter()
    for (sid, test), m in failures.items():
        if sid not in report.students:
            continue
        if m.get("mistake"):
            named[(test, m["mistake"])].append(m)
        elif m.get("status") == "failed":
            unnamed[test] += 1
    report.unnamed = dict(unnamed)
    order = {t: i for i, t in enumerate(tests)}
    ranked = sorted(named.items(), key=lambda kv: (order.get(kv[0][0], 99), -len(kv[1]), kv[0][1]))
    for (test, mistake), ms in ranked:
        example = min((m["message"] for m in ms if m.get("message")), key=len, default="")
        if len(example) > EXAMPLE_CHARS:
            example = example[: EXAMPLE_CHARS - 1] + "…"
        report.mistakes.append({
            "test": test, "exercise": exercise_of.get(test, ms[0].get("exercise", test)),
            "mistake": mistake, "description": ms[0].get("description", ""), "count": len(ms),
            "share": len(ms) / n if n else 0.0, "example": example,
            "students": sorted(m["student_id"] for m in ms),
        })
    for s in report.students.values():
        if s["status"] != "graded" or s["score"] == 0:
            why = s["detail"] or ("no test passed" if s["status"] == "graded" else "grading failed")
            report.zero_or_error.append({"student_id": s["student_id"], "status": s["status"],
                                         "score": s["score"], "max_score": s["max_score"], "why": why})
    return report


# -- figures ---------------------------------------------------------------------------------------
def _figures(report: ClassReport, out: Path) -> dict[str, dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figs: dict[str, dict] = {}

    def save(fig, key: str, name: str, alt: str) -> None:
        """Write the figure as ``out/name`` and record it (file and alt text) under ``key``."""
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        figs[key] = {"src": name, "alt": alt}

    scores = [s["score"] for s in report.students.values()]
    full = max((s["max_score"] for s in report.students.values()), default=0.0) or 1.0
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    bins = [x - 0.5 for x in range(int(full) + 2)]
    ax.hist(scores, bins=bins, color=BLUE, edgecolor="black", hatch="//")
    ax.set_xlabel(f"score (out of {full:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{report.chapter}: scores of {report.size} students")
    counts = Counter(round(s, 6) for s in scores)
    most = ", ".join(f"{c} at {v:g}" for v, c in counts.most_common(3))
    save(fig, "scores", "score_distribution.png",
         f"Histogram of the {report.size} students' scores out of {full:g}: "
         f"{sum(1 for s in scores if s >= full)} have full marks, {sum(1 for s in scores if s == 0)} "
         f"have zero; the most common scores are {most}.")

    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * max(1, len(report.tests))))
    labels = [t["test"] for t in report.tests][::-1]
    rates = [100 * t["pass_rate"] for t in report.tests][::-1]
    bars = ax.barh(labels, rates, color=GREEN, edgecolor="black", hatch="..")
    ax.bar_label(bars, labels=[f"{r:.0f}%" for r in rates], padding=3)
    ax.set_xlim(0, 110)
    ax.set_xlabel("students who passed the test (%)")
    save(fig, "pass", "pass_rates.png",
         "Bar chart of the share of students who passed each test: "
         + "; ".join(f"{t['test']} {100 * t['pass_rate']:.0f}%" for t in report.tests) + ".")

    top = sorted(report.mistakes, key=lambda m: -m["count"])[:10]
    if top:
        fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(top)))
        labels = [f"{m['test']}: {m['mistake']}" for m in top][::-1]
        values = [m["count"] for m in top][::-1]
        bars = ax.barh(labels, values, color=ORANGE, edgecolor="black", hatch="xx")
        ax.bar_label(bars, padding=3)
        ax.set_xlabel("students")
        ax.set_xlim(0, max(values) * 1.2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        save(fig, "mistakes", "mistakes.png",
             "Bar chart of the most common named mistakes, students per mistake: "
             + "; ".join(f"{m['mistake']} in {m['test']} {m['count']}" for m in top) + ".")
    return figs


# -- output ---------------------------------------------------------------------------------------
@functools.cache
def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lstm_course.instructor.grading", "templates"),
        autoescape=True,  # names, details and messages come from submissions: shown as text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
    )
    return env.get_template("class_report.html.j2")


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    from lstm_course.instructor.grading.runner import csv_safe

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([csv_safe(v) if isinstance(v, str) else (f"{v:.4g}" if isinstance(v, float) else v)
                        for v in (r[h] for h in header)])


def write(report: ClassReport, out: Path) -> Path:
    """Write the page, its figures and the CSV tables into ``out``; returns the page."""
    out.mkdir(parents=True, exist_ok=True)
    figs = _figures(report, out)
    students = sorted(report.students.values(), key=lambda s: s["student_id"])
    _write_csv(out / "scores.csv", ["student_id", "score", "max_score", "status", "detail"], students)
    _write_csv(out / "exercises.csv",
               ["exercise", "test", "max_points", "passed", "pass_rate", "mean_points"], report.tests)
    _write_csv(out / "mistakes.csv",
               ["exercise", "test", "mistake", "description", "count", "share", "example"], report.mistakes)
    _write_csv(out / "zero_or_error.csv", ["student_id", "status", "score", "max_score", "why"],
               report.zero_or_error)
    scores = [s["score"] for s in students]
    full = max((s["max_score"] for s in students), default=0.0)
    by_test: dict[str, list[dict]] = defaultdict(list)
    for m in report.mistakes:
        by_test[m["test"]].append(m)
    summary = {
        "n": report.size,
        "graded": sum(1 for s in students if s["status"] == "graded"),
        "mean": sum(scores) / len(scores) if scores else 0.0,
        "median": sorted(scores)[len(scores) // 2] if scores else 0.0,
        "full_marks": sum(1 for s in scores if full and s >= full),
        "full": full,
    }
    page = _template().render(
        chapter=report.chapter,
        summary=summary,
        figs=figs,
        tests=[{**t, "pass_pct": f"{100 * t['pass_rate']:.0f}%", "mean_points": f"{t['mean_points']:.2f}",
                "max_points": f"{t['max_points']:g}",
                "mistakes": by_test.get(t["test"], [])[:TOP_MISTAKES],
                "unnamed": report.unnamed.get(t["test"], 0)} for t in report.tests],
        share=lambda x: f"{100 * x:.0f}%",
        zero_or_error=[{**z, "score": f"{z['score']:g}", "max_score": f"{z['max_score']:g}"}
                       for z in report.zero_or_error],
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def make_report(chapter: str, grades_dirs: list[Path], out: Path, *, root: Path | None = None,
                db_url: str | None = None) -> ClassReport:
    """Build and write the report of ``chapter`` (see the module docstring)."""
    from lstm_course.instructor.grading.course import Course, shared_db_url
    from lstm_course.instructor.grading.notebook import ChapterSource
    from lstm_course.instructor.grading.worker import _exercise_of
    from lstm_course.instructor.release import find_root

    root = (root or find_root()).resolve()
    course = Course.load(root, db_url)
    source = ChapterSource.load(root, chapter)
    report = build(chapter, grades_dirs, db_url=shared_db_url(course.db_url), course_id=course.course_id,
                   exercise_of=_exercise_of(source), test_order=list(source.tests))
    write(report, out)
    return report


def _report(args: argparse.Namespace) -> int:
    grades = [Path(g) for g in (args.grades or [Path("grades") / args.chapter])]
    missing = [str(g) for g in grades if not (g / "grades.csv").is_file()]
    if missing:
        print(f"lstm-course report: no grades.csv in {', '.join(missing)} (run `lstm-course grade` first)",
              file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("reports") / args.chapter
    report = make_report(args.chapter, grades, out, db_url=args.db_url)
    print(out / "report.html")
    print(f"{report.size} students, {len(report.mistakes)} named mistakes, "
          f"{len(report.zero_or_error)} scored zero or errored", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``lstm-course`` command line."""
    r = sub.add_parser(
        "report",
        help="a class report after grading: scores, pass rates, the most common named mistakes",
        description="Write a static HTML report of CHAPTER's grading (with PNG figures and CSV tables): "
        "the score distribution, each exercise's pass rate and points, the most common named mistakes "
        "per exercise, and the students who scored zero or could not be graded. Points come from the "
        "gradebook, the named mistakes from each grading folder's mistakes.csv.",
    )
    r.add_argument("chapter", help="chapter folder name, e.g. ch02_forget_gate")
    r.add_argument("--grades", action="append",
                   help="a folder `lstm-course grade` wrote (repeat for several runs; "
                   "default: grades/CHAPTER)")
    r.add_argument("--out", help="where to write report.html (default: reports/CHAPTER)")
    r.add_argument("--db-url", help="gradebook URL (default: nbgrader_config.py's)")
    r.set_defaults(func=_report)
