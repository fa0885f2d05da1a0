"""The workers' fork server (lstm_course/instructor/grading/forkserver.py), with a probe in place
of the worker: what a fork is (its session, its PID namespace and /proc as root, its log), the
exit status it reports, and that nothing outlives the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time

import pytest

from lstm_course.instructor.grading.course import venv_path_env
from lstm_course.instructor.grading.forkserver import ForkServer

PROBE = textwrap.dedent(
    """
    import json, os, sys, time

    def main(argv):
        spec = json.loads(open(argv[0]).read())
        seen = {"pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
                "proc": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                "worker_loaded": "nbgrader.converters" in sys.modules}
        with open(spec["out"], "w") as f:
            json.dump(seen, f)
        print("probe ran", flush=True)
        time.sleep(spec.get("sleep", 0))
        if spec.get("fail"):
            raise RuntimeError("the probe failed on purpose")
        return spec.get("code", 0)
    """
)


@pytest.fixture(params=["spawned", "forked"])
def server(request, tmp_path, monkeypatch):
    """The server as a new Python (a runner with threads) and as a fork of this process (a
    runner with one thread: ``lstm-course grade``)."""
    (tmp_path / "probe_main.py").write_text(PROBE)
    env = venv_path_env()
    env["PYTHONPATH"] = str(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    srv = ForkServer(str(tmp_path), env, str(tmp_path / "server.log"), fork=request.param == "forked")
    yield srv
    srv.close()


def _start(server, tmp_path, name: str, pidns: bool = False, **spec):
    spec_path = tmp_path / f"{name}.json"
    spec_path.write_text(json.dumps({"out": str(tmp_path / f"{name}.out"), **spec}))
    return server.start(str(spec_path), str(tmp_path / f"{name}.log"), [], pidns, main="probe_main:main")


def _seen(tmp_path, name: str) -> dict:
    return json.loads((tmp_path / f"{name}.out").read_text())


def test_a_fork_has_its_own_session_and_log_and_reports_its_exit_status(server, tmp_path):
    forked = _start(server, tmp_path, "plain", code=3)
    assert forked.wait(timeout=60) == 3
    seen = _seen(tmp_path, "plain")
    assert seen["pid"] == forked.pid and seen["sid"] == seen["pgid"] == forked.pid
    assert seen["worker_loaded"], "the fork did not start with the grader imported"
    assert "probe ran" in (tmp_path / "plain.log").read_text()
    failed = _start(server, tmp_path, "failed", fail=True)
    assert failed.wait(timeout=60) == 70
    assert "the probe failed on purpose" in (tmp_path / "failed.log").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="a PID namespace needs root")
def test_as_root_a_fork_is_pid_1_of_its_own_namespace_and_proc(server, tmp_path):
    forked = _start(server, tmp_path, "ns", pidns=True, code=5)
    assert forked.wait(timeout=60) == 5
    seen = _seen(tmp_path, "ns")
    assert seen["pid"] == 1 and seen["proc"] == [1], seen  # nothing else can even be seen
    assert os.getsid(0) != forked.pid


def test_a_timeout_is_reported_and_killing_the_group_ends_the_fork(server, tmp_path):
    forked = _start(server, tmp_path, "slow", sleep=300)
    with pytest.raises(subprocess.TimeoutExpired):
        forked.wait(timeout=1)
    os.killpg(forked.pid, signal.SIGKILL)
    assert forked.wait(timeout=30) == -signal.SIGKILL


def test_forks_die_with_the_server(server, tmp_path):
    forked = _start(server, tmp_path, "orphan", pidns=os.geteuid() == 0, sleep=300)
    deadline = time.monotonic() + 60
    while not (tmp_path / "orphan.out").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    server.proc.kill()
    assert forked.wait(timeout=30) == -9  # the server is gone, and its forks with it
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(forked.pid, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{forked.pid}/stat") as f:  # a zombie waiting for init has ended
            if f.read().split(") ")[1].startswith("Z"):
                break
        time.sleep(0.1)
    else:
        pytest.fail(f"fork {forked.pid} outlived its server")
