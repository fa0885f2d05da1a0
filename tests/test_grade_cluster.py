"""Grading on a Dask cluster (lstm_course/instructor/grading/cluster.py), with a real cluster on
localhost: one ``dask scheduler`` and two ``dask worker`` processes (one process, one thread each).

The rows equal a local run's, even with a worker killed (with everything it started) in the
middle of the run: no submission lost, none graded twice; a worker that cannot import the course makes the run
stop with a clear error, quickly.
"""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BIN, grade_command, nbgrader_env
from hostile.corpus import CHAPTER, load, make_course, strip_narrative, write

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow
CELL_TIMEOUT = "120"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a process and every process it started (a worker machine that goes away)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait(timeout=30)


class Cluster:
    def __init__(self, base: Path, workers: int, env: dict[str, str] | None = None) -> None:
        self.base = base
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**nbgrader_env(), "OMP_NUM_THREADS": "1", **(env or {})}
        self.logs = []
        self.scheduler = self._start(
            "scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                          "--no-dashboard"], {**nbgrader_env()},
        )
        self.workers = [self.add_worker(f"w{i}") for i in range(workers)]

    def _start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.base / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.base,
                                start_new_session=True)

    def add_worker(self, name: str) -> subprocess.Popen:
        return self._start(name, [
            str(BIN / "dask"), "worker", self.address, "--nworkers", "1", "--nthreads", "1",
            "--no-dashboard", "--memory-limit", "0", "--name", name,
            "--local-directory", str(self.base / name),
        ], self.env)

    def wait_for(self, n: int, timeout: float = 180) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                _kill_tree(proc)
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    course = make_course(base / "course", fake_other=False)
    subs = base / "subs"
    subs.mkdir()
    key, student = strip_narrative(load("key")), strip_narrative(load("student"))
    for i in range(2):
        write(subs, f"key{i}", key)
        write(subs, f"untouched{i}", student)
    (subs / "late.pdf").write_bytes(b"%PDF-1.4 not a notebook")
    local = base / "local"
    proc = subprocess.run(grade_command(CHAPTER, subs, local, "--jobs", "2", "--cell-timeout", CELL_TIMEOUT),
                          cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return base, course, subs, _rows(local)


def _rows(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _grade(course: Path, subs: Path, out: Path, address: str, env: dict | None = None,
           **kw) -> subprocess.Popen:
    cmd = grade_command(CHAPTER, subs, out, "--cell-timeout", CELL_TIMEOUT, "--scheduler", address)
    return subprocess.Popen(cmd, cwd=course, env=env or nbgrader_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_rows_equal_a_local_run_even_when_a_worker_is_killed(setup, tmp_path):
    """One run on two workers; once the first row is in, one worker is killed with everything it
    started (its grading processes too): the rows still equal the local run's, none lost or twice."""
    base, course, subs, local = setup
    assert {r["student_id"] for r in local} == {f"{k}{i}" for k in ("key", "untouched") for i in range(2)} | {
        "late"}
    cluster = Cluster(tmp_path, workers=2)
    try:
        cluster.wait_for(2)
        out = tmp_path / "out"
        proc = _grade(course, subs, out, cluster.address)
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("[") and "/" in line.split("]")[0]:  # a first submission is graded
                _kill_tree(cluster.workers[0])
                break
        _, rest = proc.communicate(timeout=1800)
        err = "".join(lines) + rest
        assert proc.returncode == 0, err[-3000:]
        assert cluster.workers[0].poll() is not None, "the worker was not killed in the middle of the run"
        rows = _rows(out)
        assert [r["student_id"] for r in rows] == [r["student_id"] for r in local]  # none lost, none twice
        assert rows == local
        assert (out / "feedback" / "key0.html").is_file() and (out / "mistakes.csv").is_file()
    finally:
        cluster.stop()


def test_a_worker_without_the_course_is_a_clear_error_not_a_hang(setup, tmp_path):
    base, course, subs, _ = setup
    broken = tmp_path / "broken" / "lstm_course"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this checkout of the course is broken')\n")
    cluster = Cluster(tmp_path, workers=1, env={"PYTHONPATH": str(broken.parent)})
    try:
        cluster.wait_for(1)
        started = time.monotonic()
        proc = _grade(course, subs, tmp_path / "out", cluster.address)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err[-3000:]
        assert "cannot import the course's grader" in err, err
        assert "this checkout of the course is broken" in err, err
        assert "same course checkout and environment" in err
        assert time.monotonic() - started < 240
    finally:
        cluster.stop()


def test_without_scheduler_dask_is_not_imported():
    code = (
        "import sys\n"
        "from lstm_course.instructor.grading import cli, runner, worker, fast\n"
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules, 'dask imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


def test_an_unreachable_scheduler_is_a_clear_error_after_dasks_connect_timeout(setup, tmp_path):
    _, course, subs, _ = setup
    proc = _grade(course, subs, tmp_path / "out", f"tcp://127.0.0.1:{_free_port()}",
                  env={**nbgrader_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"})
    _, err = proc.communicate(timeout=200)
    assert proc.returncode == 2 and "cannot reach the Dask scheduler" in err, err[-2000:]
    assert "within 3 s" in err, err[-2000:]
