"""Grade one submission (a process of its own per submission, forked by the runner's fork server).

:func:`main` (``python -m lstm_course.instructor.grading.worker SPEC.json`` by hand) reads,
recognises and repairs the notebook, scans the student's code, runs nbgrader's ``autograde`` for
this one student with the sandboxed ``Execute`` step, reads the scores nbgrader recorded in the
gradebook and the test messages from the autograded notebook, and writes a JSON result. If
anything fails, the result still says what happened (status ``error``) and the student's grades
are recorded as 0, so that every submission has a row and a gradebook entry.

Its imports are the fork server's (:mod:`~lstm_course.instructor.grading.forkserver`): every
fork starts with them done. The runner ends it, and everything it started, by killing its cgroup
(or, without cgroups, its process group and the PID namespace it is PID 1 of): see
``runner.end_submission``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)
from traitlets.config import Config

from lstm_course.instructor.grading import fast
from lstm_course.instructor.grading.course import Course, shared_db_url
from lstm_course.instructor.grading.executor import SandboxedExecute
from lstm_course.instructor.grading.feedback import cell_result, detail_sentence
from lstm_course.instructor.grading.gradebook import flag_for_review, record_zero, submission_grades
from lstm_course.instructor.grading.mistakes import read_mistake
from lstm_course.instructor.grading.notebook import (
    ChapterSource,
    SubmissionProblem,
    guard_config,
    read_notebook,
    recognise,
    repair,
)
from lstm_course.instructor.grading.scan import scan_notebook
from lstm_course.instructor.release import chapter_names

_STARTED = time.time()  # when this process got going (the fork server resets it in each fork)


def max_score(chapter) -> float:
    return float(
        sum(
            float(c.metadata["nbgrader"].get("points", 0))
            for gid, c in chapter.cells.items()
            if c.metadata["nbgrader"].get("grade")
        )
    )


def _exercise_of(chapter) -> dict[str, str]:
    """For each test's grade id, the exercise (solution cell) it belongs to."""
    out, current = {}, None
    for gid in chapter.order:
        meta = chapter.cells[gid].metadata["nbgrader"]
        if meta.get("solution"):
            current = gid
        if meta.get("grade"):
            out[gid] = current or gid
    return out


def grade_one(spec: dict) -> dict:
    t0 = time.monotonic()
    root = Path(spec["root"])
    chapter_name = spec["chapter"]
    sid = spec["student_id"]
    course = Course.load(root, spec["db_url"])
    db_url = shared_db_url(course.db_url)
    chapter = ChapterSource.load(root, chapter_name)
    result = {
        "student_id": sid,
        "chapter": chapter_name,
        "score": 0.0,
        "max_score": max_score(chapter),
        "status": "error",
        "detail": "",
        "tests": [],
        "events": [],
        "findings": [],
        "notes": [],
        "limits": spec["limits"],
        "timings": {},
    }
    run_dir = Path(spec["run_dir"])
    try:
        if spec.get("problem"):
            raise SubmissionProblem(spec["problem"])
        nb = read_notebook(Path(spec["notebook"]))
        others = (
            [ChapterSource.load(root, c) for c in chapter_names(root) if c != chapter_name]
            if not _looks_like(nb, chapter)
            else []
        )
        recognise(nb, chapter, others)
        result["notes"] = list(spec.get("notes") or []) + repair(nb, chapter)
        findings = scan_notebook(nb, chapter.instructor_sources())
        result["findings"] = [str(f) for f in findings]
        result["timings"]["prepare"] = time.monotonic() - t0
        # fast grading (grading/fast.py): the demonstrations no test needs are left out
        run_nb, fast_plan, skipped = nb, None, []
        if spec.get("fast"):
            fast_plan = fast.plan(chapter.source)
            run_nb, skipped = fast.prune(nb, fast_plan)
        result["run"] = "fast" if skipped else "full"
        result["timings"]["skipped_cells"] = len(skipped)
        report = autograde(spec, course, db_url, chapter, run_nb)
        if skipped and (why := fast.needs_full_run(_autograded(course, chapter, sid), fast_plan, skipped)):
            result["run"], result["full_because"] = "full after fast", why
            full_dir = Path(spec["run_dir"]) / "full"
            full_dir.mkdir(exist_ok=True)
            report = autograde({**spec, "run_dir": str(full_dir)}, course, db_url, chapter, nb)
        result["timings"]["autograde"] = time.monotonic() - t0 - result["timings"]["prepare"]
        result["events"] = report.get("events", [])
        result["timings"]["execute"] = report.get("execute_seconds")
        result["timings"]["kernel_start"] = report.get("kernel_start_seconds")
        collect(result, course, db_url, chapter, sid)
        if findings:
            flag_for_review(db_url, course.course_id, chapter_name, sid)
            result["score"] = 0.0
            for t in result["tests"]:
                t["points"] = 0.0
        result["status"] = "graded"
    except SubmissionProblem as problem:
        result["detail"] = str(problem)
        result["notes"] = list(spec.get("notes") or []) + result["notes"]
        record_zero(db_url, course.course_id, chapter_name, sid)
    except Exception as err:  # noqa: BLE001 - every submission gets a row
        traceback.print_exc()
        result["detail"] = f"grading failed: {_first_line(err)}"
        log_path = run_dir / "sandbox" / "kernel.log"
        if log_path.exists():
            for line in log_path.read_text(errors="replace").strip().splitlines()[-5:]:
                if line.startswith("sandbox"):
                    result["detail"] += f" ({line.strip()})"
                    break
        try:
            record_zero(db_url, course.course_id, chapter_name, sid)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    result["detail"] = detail_sentence(result)
    if result.get("full_because"):
        result["detail"] += f" (graded in full: in the fast run, {result['full_because']})"
    result["seconds"] = time.monotonic() - t0
    if spec.get("spawned_at"):
        result["timings"]["startup"] = _STARTED - spec["spawned_at"]
    return result


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}".strip(": ")


def _looks_like(nb, chapter) -> bool:
    ids = {
        c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for c in nb.cells
        if isinstance(c.get("metadata", {}).get("nbgrader"), dict)
    }
    return bool(ids & set(chapter.order)) or any(c.get("id") in chapter.by_cell_id for c in nb.cells)


def autograde(spec: dict, course, db_url: str, chapter, nb) -> dict:
    """Run nbgrader's autograde for this student with the sandboxed Execute step."""
    sid, name = spec["student_id"], chapter.name
    submitted = course.directory("submitted", "submitted") / sid / name
    autograded = course.directory("autograded", "autograded") / sid / name
    for folder in (submitted, autograded):
        if folder.exists():
            shutil.rmtree(folder)
    submitted.mkdir(parents=True)
    nbformat.write(nb, submitted / f"{name}.ipynb")
    for extra in spec.get("extra_files", []):
        extra = Path(extra)
        if extra.name != f"{name}.ipynb" and extra.is_file() and not extra.is_symlink():
            shutil.copy(extra, submitted / extra.name)

    run_dir = Path(spec["run_dir"])
    report_path = run_dir / "execute.json"
    config = Config()
    config.merge(course.config)
    config.CourseDirectory.root = str(course.root)
    config.CourseDirectory.db_url = db_url
    config.CourseDirectory.assignment_id = name
    config.CourseDirectory.student_id = sid
    config.Autograde.autograde_preprocessors = [
        SandboxedExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    config.SandboxedExecute.sandbox_mode = spec.get("mode") or ""
    config.SandboxedExecute.run_dir = str(run_dir / "sandbox")
    config.SandboxedExecute.sandbox_uid = int(spec.get("uid") or 0)
    config.SandboxedExecute.limits = spec["limits"]
    config.SandboxedExecute.guard = guard_config(chapter)
    config.SandboxedExecute.report_path = str(report_path)
    config.SandboxedExecute.cgroup_procs = list(spec.get("cgroup_procs") or [])
    config.SandboxedExecute.zygote = spec.get("zygote") or ""
    config.SandboxedExecute.start_time = time.monotonic()
    coursedir = CourseDirectory(config=config)
    app = Autograde(coursedir=coursedir, config=config)
    app.force = True
    app.create_student = True
    try:
        app.start()
    finally:
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return report


def _autograded(course, chapter, sid: str):
    name = chapter.name
    path = course.directory("autograded", "autograded") / sid / name / f"{name}.ipynb"
    return nbformat.read(path, as_version=4)


def collect(result: dict, course, db_url: str, chapter, sid: str) -> None:
    """Scores from the gradebook, messages from the autograded notebook."""
    name = chapter.name
    path = course.directory("autograded", "autograded") / sid / name / f"{name}.ipynb"
    executed = nbformat.read(path, as_version=4)
    cells = {
        c.metadata.get("nbgrader", {}).get("grade_id"): c
        for c in executed.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    exercise = _exercise_of(chapter)
    result["score"], result["max_score"], grades = submission_grades(db_url, course.course_id, name, sid)
    for gid in chapter.tests:
        points, max_points = grades.get(gid, (0.0, 0.0))
        cell = cells.get(gid)
        failed, message = cell_result(cell) if cell is not None else (True, "This test was not found.")
        not_run = cell is not None and any(o.get("ename") == "NotRun" for o in cell.get("outputs", []))
        status = "not run" if not_run else ("failed" if failed or points < max_points else "passed")
        result["tests"].append(
            {
                "test": gid,
                "exercise": exercise.get(gid, gid),
                "points": points,
                "max_points": max_points,
                "status": status,
                "message": message,
                # the named mistake the failing check matched (lstm_course.teach.mistakes)
                "mistake": read_mistake(cell) if cell is not None and status != "passed" else None,
            }
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    result = grade_one(spec)
    tmp = Path(spec["result_path"] + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(spec["result_path"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
