"""``lstm-course grade``: grade a folder (or zip) of submissions, sandboxed and in parallel.

The runner registers the chapter in nbgrader's gradebook (when its tests changed), finds the
submissions, and starts one worker process per submission (``--jobs`` at a time), each with its
own sandbox user and private folder; each worker is a fork of the run's fork server, which has
imported the grader once (:mod:`~lstm_course.instructor.grading.forkserver`), and as root each
kernel is a fork of the run's zygote, which has imported PyTorch once
(:mod:`~lstm_course.instructor.grading.zygote`). The runner never runs student code itself and
never trusts what a worker does not say: a worker that crashes or
overruns its time is killed (with everything it started) and its student gets an ``error`` row.
Then it writes ``grades.csv`` (one row per submission, sorted by student id) and
``feedback/<student_id>.html``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lstm_course.instructor.grading import cgroup
from lstm_course.instructor.grading.course import Course, redact, shared_db_url, venv_path_env
from lstm_course.instructor.grading.discover import DiscoveryError, Submission, discover
from lstm_course.instructor.grading.feedback import _fmt, write_feedback
from lstm_course.instructor.grading.forkserver import ForkServer, ServerGone
from lstm_course.instructor.grading.mistakes import write_mistakes
from lstm_course.instructor.grading.platforms import recognise as recognise_platform
from lstm_course.instructor.grading.platforms import write_ids as write_platform_ids
from lstm_course.instructor.grading.sandbox import (
    GiB,
    Limits,
    SandboxUnavailable,
    choose_uid_base,
    detect,
)
from lstm_course.instructor.grading.zygote import Zygote

CSV_HEADER = ["student_id", "chapter", "score", "max_score", "status", "detail", "submitted_as"]
#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Extra seconds a worker gets beyond the notebook's own time limit (kernel start, nbgrader).
WORKER_OVERHEAD_S = 240


class GradingError(Exception):
    """Grading cannot run at all (no such chapter, no sandbox, unreadable submissions...)."""


@dataclasses.dataclass
class GradeRun:
    chapter: str
    out_dir: Path
    results: list[dict]
    seconds: float
    jobs: int
    mode: str

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "grades.csv"


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def ensure_assignment(course: Course, chapter: str) -> None:
    """Put the chapter (its test cells, points and checksums) into the gradebook, via nbgrader's
    ``generate_assignment``, unless the gradebook already has exactly these tests."""
    from lstm_course.instructor.grading.gradebook import registered_tests
    from lstm_course.instructor.grading.notebook import ChapterSource

    source = ChapterSource.load(course.root, chapter)
    stored = registered_tests(shared_db_url(course.db_url), course.course_id, chapter)
    up_to_date = stored is not None and set(stored[1]) == set(source.tests) and all(
        stored[0].get(gid) == source.cells[gid].source
        and stored[1].get(gid) == float(source.cells[gid].metadata["nbgrader"].get("points", 0))
        for gid in source.tests
    )
    if up_to_date:
        return
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="lstm-release-") as tmp:
        config = Config()
        config.merge(course.config)
        config.CourseDirectory.root = str(course.root)
        config.CourseDirectory.db_url = shared_db_url(course.db_url)
        config.CourseDirectory.release_directory = tmp  # chapters/ stays as `release` wrote it
        config.CourseDirectory.assignment_id = chapter
        try:
            app = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
            app.force = True
            app.start()
        except Exception as err:
            raise GradingError(f"could not register {chapter} in the gradebook: {err}") from err


def _error_result(sub: Submission, chapter: str, max_score: float, detail: str) -> dict:
    return {
        "student_id": sub.student_id,
        "chapter": chapter,
        "score": 0.0,
        "max_score": max_score,
        "status": "error",
        "detail": detail,
        "tests": [],
        "events": [],
        "findings": [],
        "notes": list(sub.notes),
        "seconds": 0.0,
    }


def grade(
    chapter: str,
    submissions: Path,
    *,
    out: Path | None = None,
    jobs: int | None = None,
    db_url: str | None = None,
    unsafe: bool = False,
    limits: Limits | None = None,
    root: Path | None = None,
    log: Callable[[str], None] = print,
    run_all: bool = False,
) -> GradeRun:
    """Grade every submission of ``chapter`` in ``submissions``; see the module docstring."""
    from lstm_course.instructor.grading.gradebook import record_zero
    from lstm_course.instructor.grading.notebook import ChapterSource
    from lstm_course.instructor.grading.worker import max_score
    from lstm_course.instructor.release import chapter_names, find_root

    t0 = time.monotonic()
    os.environ["PATH"] = venv_path_env()["PATH"]  # nbgrader runs `alembic` from PATH
    root = (root or find_root()).resolve()
    if chapter not in chapter_names(root):
        known = ", ".join(chapter_names(root)) or "none"
        raise GradingError(f"no chapter {chapter!r} in {root / 'solutions'} (chapters: {known})")
    if not (root / "chapters" / chapter / f"{chapter}.ipynb").is_file():
        raise GradingError(
            f"chapters/{chapter}/{chapter}.ipynb is missing: run `lstm-course release {chapter}`"
        )
    if not Path(submissions).exists():
        raise GradingError(f"{submissions} does not exist")
    course = Course.load(root, db_url)
    if limits is None:
        limits = Limits(cell_timeout=course.cell_timeout or Limits.cell_timeout)
    if unsafe:
        mode = ""
        log("WARNING: --unsafe: student code runs with your permissions, network and files.")
    else:
        try:
            mode = detect()
        except SandboxUnavailable as err:
            raise GradingError(
                f"cannot isolate student code: {err} Grading untrusted notebooks without isolation lets "
                "them read and change your files; if you trust these submissions, pass --unsafe."
            ) from None
    jobs = max(1, min(jobs or default_jobs(), 256))
    out = (out or Path.cwd() / "grades" / chapter).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        groups: cgroup.RunCgroups | None = cgroup.detect()
        groups.weigh_as(jobs)
        limited = (
            f"{groups.describe()}: {limits.memory / GiB:g} GiB, {limits.processes} processes and "
            f"{limits.cpus:g} CPU per submission"
        )
    except cgroup.CgroupUnavailable as err:
        groups = None
        limited = "per process only"
        log(
            f"WARNING: no usable cgroup ({err}). Limits hold per process only ({limits.memory / GiB:g} GiB "
            f"of address space each, {limits.processes} processes per sandbox user): one submission "
            "can still use much of the machine's memory and CPU. Run the grader as root on a machine "
            "with cgroup v1 or v2 for limits per submission (see the instructor guide)."
        )
    log(
        f"grading {chapter} from {submissions} into {out} with {jobs} job(s), sandbox: {mode or 'none'}, "
        f"limits: {limited}, gradebook: {redact(course.db_url)}"
    )
    scratch = Path(tempfile.mkdtemp(prefix="lstm-grade-"))
    os.chmod(scratch, 0o700)
    server = zygote = None
    try:
        # the workers' fork server imports the grader while the gradebook is brought up to date
        server = ForkServer(str(root), venv_path_env(), str(scratch / "forkserver.log"))
        ensure_assignment(course, chapter)
        source = ChapterSource.load(root, chapter)
        full = max_score(source)
        try:
            subs = discover(Path(submissions), chapter, scratch)
        except DiscoveryError as err:
            raise GradingError(str(err)) from None
        subs, platform_ids = recognise_platform(subs, chapter)  # Canvas and Moodle downloads
        if not subs:
            log(f"no submissions found in {submissions}")
        if mode == "root" and sum(s.notebook is not None and not s.problem for s in subs) > 1:
            # kernels are forks of a process that has imported PyTorch (zygote.py); for a single
            # notebook, starting it costs as much as the kernel would
            zygote = Zygote.for_chapter(scratch, source)
        uid_base = choose_uid_base(jobs) if mode == "root" else 0
        free_slots = list(range(jobs))
        lock = threading.Lock()
        done = [0]

        def run_one(index: int, sub: Submission) -> dict:
            with lock:
                slot = free_slots.pop()
            started = time.monotonic()
            result = None
            try:
                result = _run_worker(index, sub, slot)
                return result
            finally:
                with lock:
                    free_slots.append(slot)
                    done[0] += 1
                    what = (
                        f"{result['status']} {_fmt(result['score'])}/{_fmt(result['max_score'])}"
                        if result
                        else "?"
                    )
                    log(
                        f"[{done[0]}/{len(subs)}] {sub.student_id}: {what}"
                        f" in {time.monotonic() - started:.1f} s"
                    )

        def _run_worker(index: int, sub: Submission, slot: int) -> dict:
            work = scratch / f"s{index}"
            work.mkdir()
            os.chmod(work, 0o700)
            # Private copies: the source may be the course's own submitted/ folder, which the
            # worker rewrites.
            notebook, extras = None, []
            if sub.notebook is not None:
                (work / "input").mkdir()
                notebook = work / "input" / sub.notebook.name
                shutil.copyfile(sub.notebook, notebook)
                for extra in sub.extra_files:
                    if extra.name != notebook.name:
                        shutil.copyfile(extra, work / "input" / extra.name)
                        extras.append(work / "input" / extra.name)
            spec = {
                "root": str(root),
                "chapter": chapter,
                "student_id": sub.student_id,
                "notebook": str(notebook) if notebook else None,
                "extra_files": [str(p) for p in extras],
                "problem": sub.problem,
                "notes": sub.notes,
                "db_url": course.db_url,
                "mode": mode,
                "uid": uid_base + slot,
                "limits": dataclasses.asdict(limits),
                "run_dir": str(work),
                "result_path": str(work / "result.json"),
                "fast": not run_all,  # skip the demonstrations no test needs (grading/fast.py)
                "zygote": zygote.path if zygote else "",
            }
            group = None
            if groups is not None:
                group = groups.create(
                    f"s{index}", cgroup.CgroupLimits(limits.memory, limits.processes, limits.cpus)
                )
                spec["cgroup_procs"] = group.procs_files("kernel")
            spec_path = work / "spec.json"
            spec["spawned_at"] = time.time()
            spec_path.write_text(json.dumps(spec))
            try:
                # a fork of the server (forkserver.py): in its own session and cgroup, PID 1 of
                # its own PID namespace as root, dying with the grader (a killed Dask worker
                # leaves nothing running); its kernel in turn dies with it
                proc = server.start(str(spec_path), str(work / "worker.log"),
                                    group.procs_files("worker") if group else [], pidns=mode == "root")
                try:
                    # a fast run that falls back to a full one may use its time twice
                    runs = 1 if run_all else 2
                    proc.wait(timeout=limits.submission_timeout * runs + WORKER_OVERHEAD_S)
                    timed_out = False
                except subprocess.TimeoutExpired:
                    timed_out = True
                end_submission(proc, group)
                oom_kills = group.oom_kills() if group else 0
            except ServerGone as err:
                log_tail = (scratch / "forkserver.log").read_text(errors="replace").strip().splitlines()[-1:]
                result = _error_result(sub, chapter, full, f"the grading process failed: {err}"
                                       + (f" ({log_tail[0][:200]})" if log_tail else ""))
                result["needs_zero"] = True
                return result
            finally:
                if group is not None:
                    group.remove()
            result_path = work / "result.json"
            result = None
            if result_path.exists():
                try:
                    result = json.loads(result_path.read_text())
                except json.JSONDecodeError:
                    pass
            if oom_kills:
                return _over_memory(sub, chapter, full, limits, result)
            if result is not None:
                return result
            if timed_out:
                detail = (
                    f"grading this submission took longer than "
                    f"{limits.submission_timeout * (1 if run_all else 2) + WORKER_OVERHEAD_S:g} s "
                    "and was stopped"
                )
            else:
                tail = (work / "worker.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
                detail = f"the grading process failed (exit status {proc.returncode}): {tail[0][:200]}"
            result = _error_result(sub, chapter, full, detail)
            result["needs_zero"] = True
            return result

        try:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                results = list(pool.map(run_one, range(len(subs)), subs))
        finally:
            if groups is not None:
                groups.close()
        for sub, result in zip(subs, results, strict=True):
            result["student_id"] = sub.student_id  # the runner's id, whatever a worker wrote
            result["submitted_as"] = "; ".join(sub.entries)
        for result in results:
            if result.pop("needs_zero", False):
                try:
                    record_zero(shared_db_url(course.db_url), course.course_id, chapter, result["student_id"])
                except Exception as err:  # noqa: BLE001 - the row is what matters
                    log(f"could not record 0 for {result['student_id']} in the gradebook: {err}")
    finally:
        if server is not None:
            server.close()
        if zygote is not None:
            zygote.close()
        shutil.rmtree(scratch, ignore_errors=True)

    results.sort(key=lambda r: r["student_id"])
    write_csv(out / "grades.csv", results)
    write_mistakes(out / "mistakes.csv", results)  # the named mistakes, per student and test
    write_platform_ids(out / "platform_ids.csv", platform_ids)  # each row's Canvas or Moodle id
    for result in results:
        write_feedback(out, result, chapter)
    run = GradeRun(chapter, out, results, time.monotonic() - t0, jobs, mode)
    graded = sum(r["status"] == "graded" for r in results)
    log(
        f"{len(results)} submission(s): {graded} graded, {len(results) - graded} error(s); "
        f"{run.seconds:.1f} s; wrote {run.csv_path}"
    )
    return run


def csv_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: a field that would start a formula gets
    a leading single quote (OWASP's advice against CSV injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def end_submission(proc: subprocess.Popen, group: cgroup.SubmissionCgroup | None) -> None:
    """The one way a submission's processes end: every process in its cgroup is killed (the
    worker, the kernel and whatever it started). Without a cgroup, the worker's process group
    is killed, and the PID namespaces it and the kernel are PID 1 of take everything else down."""
    if group is not None:
        group.kill()
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


def _over_memory(sub: Submission, chapter: str, full: float, limits: Limits, result: dict | None) -> dict:
    """The row of a submission the kernel's OOM killer stopped: an error, with where it happened."""
    where = ""
    for event in (result or {}).get("events", []):
        if event.get("kind") == "kernel_died":
            where = f" in cell {event.get('label', '?')}"
            break
    detail = (
        f"the notebook went over its {limits.memory / GiB:g} GiB memory limit (all its processes "
        f"together) and was stopped{where}"
    )
    out = _error_result(sub, chapter, full, detail)
    out["notes"] = (result or {}).get("notes", out["notes"])
    out["needs_zero"] = True
    return out


def write_csv(path: Path, results: list[dict]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for r in results:
            writer.writerow(
                [
                    csv_safe(r["student_id"]),
                    csv_safe(r["chapter"]),
                    _fmt(r["score"]),
                    _fmt(r["max_score"]),
                    csv_safe(r["status"]),
                    csv_safe(r["detail"]),
                    csv_safe(r.get("submitted_as", "")),
                ]
            )
    tmp.replace(path)
