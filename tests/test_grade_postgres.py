"""The whole grade flow against a real PostgreSQL server (a throw-away one this test starts).

CI installs PostgreSQL (``.ci/install-postgres.sh``); where it is not installed or no server can
be started, the test is skipped and says why.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import grade_command
from hostile.corpus import CHAPTER, chapter_points, load, make_course, strip_narrative, write

from lstm_course.instructor.grading.course import postgres_driver
from lstm_course.instructor.grading.sandbox import SandboxUnavailable, detect

pytestmark = pytest.mark.slow
FULL = chapter_points(load("key"))[0]  # the answer key's points


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl, psql = _pg_bin("initdb"), _pg_bin("pg_ctl"), _pg_bin("psql")
    if not (initdb and pg_ctl and psql):
        pytest.skip("PostgreSQL is not installed (CI installs it: .ci/install-postgres.sh)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed (requirements.txt pins psycopg2-binary)")
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, but there is no `postgres` user to run the server as")
    data = Path(tempfile.mkdtemp(prefix="lstm-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    init = _as_postgres([initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres", "--no-sync"])
    if init.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"could not initialise a PostgreSQL cluster: {init.stderr.strip()[-300:]}")
    options = f"-k {data} -c listen_addresses='' -p 5432 -c fsync=off"
    start = _as_postgres(
        [
            pg_ctl,
            "-D",
            str(data / "db"),
            "-o",
            options,
            "-l",
            str(data / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ]
    )
    if start.returncode != 0:
        log = (
            (data / "server.log").read_text(errors="replace")[-500:] if (data / "server.log").exists() else ""
        )
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {start.stderr.strip()[-300:]} {log}")
    try:
        created = _as_postgres([psql, "-h", str(data), "-U", "postgres", "-c", "CREATE DATABASE gradebook"])
        assert created.returncode == 0, created.stderr
        yield f"postgresql://postgres@/gradebook?host={data}"
    finally:
        _as_postgres([pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"])
        time.sleep(0.5)
        shutil.rmtree(data, ignore_errors=True)


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def test_grade_flow_with_a_postgresql_gradebook(tmp_path, postgres_url):
    try:
        detect()
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox here: {err}")
    from nbgrader.api import Gradebook

    course = make_course(tmp_path / "course", fake_other=False)
    subs = tmp_path / "subs"
    subs.mkdir()
    write(subs, "key", strip_narrative(load("key")))
    write(subs, "untouched", strip_narrative(load("student")))
    (subs / "broken.ipynb").write_text("{")
    cmd = grade_command(CHAPTER, subs, tmp_path / "out", "--jobs", "2", "--db-url", postgres_url)
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "postgresql+psycopg2://postgres@/gradebook" in proc.stderr
    rows = _rows(tmp_path / "out")
    assert {sid: (r["status"], float(r["score"])) for sid, r in rows.items()} == {
        "key": ("graded", FULL),
        "untouched": ("graded", 0.0),
        "broken": ("error", 0.0),
    }
    assert not (course / "gradebook.db").exists(), "SQLite was used instead of PostgreSQL"
    with Gradebook(postgres_driver(postgres_url), "lstm-course-test") as gb:
        scores = {s.student.id: float(s.score) for s in gb.assignment_submissions(CHAPTER)}
    assert scores == {"key": FULL, "untouched": 0.0, "broken": 0.0}

    # The same gradebook named in nbgrader_config.py instead of on the command line.
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text().replace("sqlite:///gradebook.db", postgres_url))
    (subs / "broken.ipynb").unlink()
    (subs / "untouched.ipynb").unlink()
    write(subs, "late", strip_narrative(load("key")))
    cmd = cmd[: cmd.index("--db-url")]
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = {sid: float(r["score"]) for sid, r in _rows(tmp_path / "out").items()}
    assert scores == {"key": FULL, "late": FULL}
    with Gradebook(postgres_driver(postgres_url), "lstm-course-test") as gb:
        assert float(gb.find_submission(CHAPTER, "late").score) == FULL
        assert len(gb.students) == 4
