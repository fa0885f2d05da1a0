"""Kernels forked from the zygote (lstm_course/instructor/grading/zygote.py) are sandboxed as a
kernel started as a new process is, and end with their worker or with the zygote.

One probe, put before Chapter 1's import cell, runs in the kernels of two grading runs as root:
one where they are forks of the zygote, and one where the zygote is gone, so that the same
kernels start as new processes (the fallback). What it sees must be the same, apart from how
the process was started.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import time

import nbformat
import pytest
from hostile.corpus import CHAPTER, chapter_points, load, make_course, strip_narrative, write

from lstm_course.instructor.grading import runner
from lstm_course.instructor.grading.sandbox import (
    Limits,
    SandboxKernelManager,
    SandboxSpec,
    choose_uid_base,
    kernel_env,
)
from lstm_course.instructor.grading.zygote import Zygote, ZygoteProcess

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the zygote serves the root sandbox")

SECRET = "LSTM_TEST_ZYGOTE_SECRET"
PROBE = """
import json, os, random, sys, threading
import numpy as np
_status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
               if line.startswith(("Uid", "CapEff", "CapBnd", "CapPrm", "NoNewPrivs", "Seccomp")))
print("PROBE " + json.dumps({
    "cmdline": open("/proc/self/cmdline", "rb").read().decode().replace("\\0", " "),
    "environ": open("/proc/self/environ", "rb").read().decode(errors="replace"),
    "status": _status,
    "uid": os.getuid(),
    "pid": os.getpid(), "ppid": os.getppid(),
    "procs": sorted(p for p in os.listdir("/proc") if p.isdigit()),
    "fds_readable": bool(os.listdir("/proc/self/fd")),
    "root": sorted(os.listdir("/")),
    "env_keys": sorted(os.environ),
    "argv_tail": sys.argv[1::2][1:],
    "path": sys.path,
    "cwd": os.getcwd(),
    "threads": threading.active_count(),
    "random": [random.getrandbits(62), int(np.random.randint(2**62))],
}))
"""


def _probed(kind: str):
    """Chapter 1's graded skeleton with the probe as its first code cell."""
    nb = copy.deepcopy(strip_narrative(load(kind)))
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first, nbformat.v4.new_code_cell(PROBE.strip()))
    return nb


def _grade(base, course, name: str) -> tuple[dict, dict]:
    subs = base / f"{name}-subs"
    subs.mkdir()
    write(subs, "a", _probed("key"))
    write(subs, "b", _probed("student"))
    run = runner.grade(CHAPTER, subs, out=base / f"{name}-out", jobs=2, root=course, log=lambda _m: None)
    scores = {r["student_id"]: r["score"] for r in run.results}
    seen = {}
    for sid in ("a", "b"):
        nb = nbformat.read(course / "autograded" / sid / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
        text = "".join(o.get("text", "") + o.get("ename", "") + ": " + o.get("evalue", "")
                       for c in nb.cells for o in c.get("outputs", []))
        assert "PROBE " in text, f"{name} {sid}: the probe did not run: {text[-1500:]}"
        seen[sid] = json.loads(text.split("PROBE ", 1)[1].splitlines()[0])
    return scores, seen


class _Gone:
    """A zygote that could not start: nothing listens on its socket."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def for_chapter(cls, scratch, source) -> _Gone:
        return cls(str(scratch / "nothing-listens.sock"))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("zygote")
    full_marks = chapter_points(strip_narrative(load("key")))[0]
    make_course(base / "c1", fake_other=False)
    os.environ[SECRET] = "zygote-secret-value"
    try:
        forked = _grade(base, base / "c1", "forked")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(runner, "Zygote", _Gone)
            new = _grade(base, make_course(base / "c2", fake_other=False), "new")
    finally:
        del os.environ[SECRET]
    return full_marks, forked, new


def test_kernels_of_a_run_are_forks_of_the_zygote_and_new_processes_without_it(runs):
    full_marks, (forked_scores, forked), (new_scores, new) = runs
    assert forked_scores == new_scores == {"a": full_marks, "b": 0}
    assert all("grading.zygote" in seen["cmdline"] for seen in forked.values()), forked
    assert all("ipykernel_launcher" in seen["cmdline"] for seen in new.values()), new


def test_a_forked_kernel_is_sandboxed_as_a_new_process_is(runs):
    _, (_, forked), (_, new) = runs
    for seen in (*forked.values(), *new.values()):
        assert seen["uid"] != 0 and seen["status"]["Uid"].split() == [str(seen["uid"])] * 4
        assert int(seen["status"]["CapEff"], 16) == int(seen["status"]["CapBnd"], 16) == 0
        assert seen["status"]["NoNewPrivs"] == "1" and seen["status"]["Seccomp"] == "2"
        assert (seen["pid"], seen["ppid"], seen["procs"]) == (2, 1, ["1", "2"])
        assert "zygote-secret-value" not in seen["environ"] + json.dumps(seen["env_keys"])
    same = ("fds_readable", "root", "env_keys", "argv_tail", "path", "cwd", "threads")
    for key in same:
        assert forked["a"][key] == new["a"][key], key
    assert forked["a"]["fds_readable"] and forked["a"]["cwd"] == "/sandbox/work"


def test_each_fork_draws_its_own_random_numbers(runs):
    _, (_, forked), _ = runs
    (python_a, numpy_a), (python_b, numpy_b) = forked["a"]["random"], forked["b"]["random"]
    assert python_a != python_b and numpy_a != numpy_b


def _running_as(uid: int) -> list[int]:
    """Processes of this machine running as ``uid`` (a sandboxed kernel's user)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            status = open(f"/proc/{entry}/status").read() if entry.isdigit() else ""
        except OSError:
            continue
        if f"\nUid:\t{uid}\t" in status:
            pids.append(int(entry))
    return pids


def _eventually(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_kernel_ends_when_its_worker_or_the_zygote_goes_away(tmp_path):
    """Without a cgroup to kill, what ends a forked kernel is the zygote: when the worker's end of
    the connection closes (the worker ended or was killed), and when the zygote itself dies."""
    (tmp_path / "home").mkdir()
    zygote = Zygote(str(tmp_path / "z.sock"), str(tmp_path / "z.log"),
                    kernel_env(str(tmp_path / "home"), str(tmp_path)))
    assert zygote.path
    base = choose_uid_base(2)

    async def start(i: int) -> SandboxKernelManager:
        spec = SandboxSpec(mode="root", run_dir=tmp_path / f"k{i}", uid=base + i, limits=Limits())
        spec.prepare()
        km = SandboxKernelManager(sandbox=spec, kernel_log=str(tmp_path / f"k{i}.log"), zygote=zygote.path)
        await km.start_kernel()
        return km

    try:
        kms = [asyncio.run(start(i)) for i in range(2)]
        assert all(isinstance(km.provisioner.process, ZygoteProcess) for km in kms)
        assert _eventually(lambda: _running_as(base) and _running_as(base + 1)), (
            (tmp_path / "k0.log").read_text(errors="replace")[-2000:])
        kms[0].provisioner.process.sock.close()  # what a worker's death does to its end
        assert _eventually(lambda: not _running_as(base)), "the kernel outlived its worker"
        assert _running_as(base + 1), "another worker's kernel ended with it"
        zygote.proc.kill()
        assert _eventually(lambda: not _running_as(base + 1)), "a kernel outlived the zygote"
    finally:
        zygote.close()
        for uid in (base, base + 1):
            for pid in _running_as(uid):
                os.kill(pid, signal.SIGKILL)
