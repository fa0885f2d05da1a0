"""Start each submission's worker as a fork of a process that has already imported the grader.

A worker started as a new Python spends about 1.7 s of CPU importing nbgrader, nbconvert,
nbformat, SQLAlchemy and jupyter_client before it reads the notebook: on a 2-core machine, a
class of 100 pays about 1.5 minutes for it. So each ``lstm-course grade`` run starts one fork
server, which imports :mod:`~lstm_course.instructor.grading.worker` once (or forks it from the
runner, which has imported it already: see :class:`ForkServer`), and every submission's worker is
a fork of it.

Only trusted code runs here: the worker is the grader's own, and student code still runs in the
sandboxed kernel the worker starts. Each forked worker, before it grades:

* starts a session of its own (its process group, which ``runner.end_submission`` kills when
  there is no cgroup);
* joins the submission's ``worker`` cgroup, if there is one;
* dies with the fork server (``PR_SET_PDEATHSIG``), which dies with the runner, so a killed
  grader leaves nothing running;
* writes to the submission's ``worker.log``;
* as root, becomes PID 1 of a new PID namespace with its own ``/proc`` (what ``unshare --pid
  --fork --kill-child --mount --mount-proc`` did): when it ends, the kernel of Linux ends every
  process left in the namespace.

The protocol is one JSON object per line. The runner writes ``{"id", "spec", "log", "procs",
"pidns", "main"}`` to the server's standard input; the server answers ``{"id", "pid"}`` once the worker
runs and ``{"id", "exit"}`` (its exit status) when it has ended. The server stops when its
standard input closes. :class:`ForkServer` is the runner's end of it.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import traceback

from lstm_course.instructor.grading.syscalls import CLONE_NEW

#: What a fork runs, called with ``[spec]``: the worker (tests ask for a probe instead).
WORKER_MAIN = "lstm_course.instructor.grading.worker:main"


# -- forks (also the zygote's: zygote.py) -----------------------------------------------------
def fork_running(child, *args) -> int:
    """Fork; the child runs ``child(*args)`` and exits with what it returns (70, its traceback on
    its standard error, if it raises), never returning into the caller's code."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = child(*args)
        except BaseException:  # noqa: BLE001 - report and die, never return into the caller's loop
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    return pid


def redirect_stdio(log: int) -> None:
    """Standard output and error to ``log`` (a descriptor), input from /dev/null, and new
    ``sys.stdout`` and ``sys.stderr`` on them, whatever they were in the process that forked."""
    os.dup2(log, 1)
    os.dup2(log, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115


def unshare_and_fork(flags: int) -> int | None:
    """What ``unshare --fork --kill-child`` does: new namespaces (``flags``, ``CLONE_NEW*``), then
    a fork. The child (returns None) is PID 1 of the new PID namespace and dies with this process;
    this process (returns the child's exit status) waits for it."""
    from lstm_course.instructor.grading.launcher import libc
    from lstm_course.instructor.grading.sandbox import _set_parent_death_signal

    if libc.unshare(flags) != 0:
        raise OSError(f"unshare: {os.strerror(ctypes.get_errno())}")
    pid = os.fork()
    if pid == 0:
        _set_parent_death_signal()  # unshare's --kill-child
        return None
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status) & 0xFF
        except InterruptedError:
            continue


# -- the server (its own process) ------------------------------------------------------------
def _become_pid_1() -> int | None:
    """In a new mount and PID namespace, fork: the child (returns None) is PID 1 there, with its
    own /proc; the parent (returns the child's exit status) waits for it and dies with it."""
    from lstm_course.instructor.grading.launcher import (
        MS_NODEV,
        MS_NOEXEC,
        MS_NOSUID,
        MS_PRIVATE,
        MS_REC,
        mount,
    )

    status = unshare_and_fork(CLONE_NEW["CLONE_NEWNS"] | CLONE_NEW["CLONE_NEWPID"])
    if status is None:
        mount("none", "/", None, MS_REC | MS_PRIVATE)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return status


def _worker_child(request: dict, keep_out: list[int]) -> int:
    """In the forked child: set the process up as the module docstring says, then grade."""
    from lstm_course.instructor.grading import cgroup, worker
    from lstm_course.instructor.grading.sandbox import _set_parent_death_signal

    for fd in keep_out:
        os.close(fd)
    os.setsid()
    if request.get("procs"):
        cgroup.join(request["procs"])
    _set_parent_death_signal()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    redirect_stdio(log)  # whatever they were in the server (a runner's, if forked from it)
    os.close(log)
    if request.get("pidns"):
        status = _become_pid_1()
        if status is not None:
            return status
    worker._STARTED = time.time()
    module, _, name = request.get("main", WORKER_MAIN).partition(":")
    return getattr(importlib.import_module(module), name)([request["spec"]])


def serve(inp: int, out: int) -> None:
    """The server's loop: fork a worker per request line on ``inp``, report on ``out``."""
    import lstm_course.instructor.grading.worker  # noqa: F401 - what every fork inherits
    from lstm_course.instructor.grading.sandbox import matplotlib_font_cache

    matplotlib_font_cache()  # read once, here: every fork inherits it

    children: dict[int, str] = {}
    buffer = b""
    open_input = True

    def send(message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(out, data):]

    # until the runner closes our input: it has waited for every worker it started by then
    while open_input:
        ready, _, _ = select.select([inp], [], [], 0.05)
        if ready:
            chunk = os.read(inp, 65536)
            if not chunk:
                open_input = False
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                try:
                    pid = fork_running(_worker_child, request, [inp, out])
                except OSError as err:
                    send({"id": request["id"], "error": f"could not start the worker: {err}"})
                    continue
                children[pid] = request["id"]
                send({"id": request["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in children:
                send({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})


def main() -> None:
    # The protocol gets its own descriptors; 0, 1 and 2 are the forks' to redirect.
    inp, out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)
    serve(inp, out)


# -- the runner's end ------------------------------------------------------------------------
class ServerGone(RuntimeError):
    """The fork server stopped (its workers died with it)."""


class Forked:
    """A worker the server forked, with the part of :class:`subprocess.Popen` the runner uses."""

    def __init__(self, server: ForkServer, request_id: str, pid: int) -> None:
        self.server, self.id, self.pid = server, request_id, pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.server._wait_exit(self.id, timeout)
        return self.returncode


class _ForkedServer:
    """The server as a fork of the runner itself: the part of :class:`subprocess.Popen` used."""

    def __init__(self, cwd: str, env: dict[str, str], log_path: str) -> None:
        from lstm_course.instructor.grading.sandbox import _set_parent_death_signal

        to_server, from_runner = os.pipe()[::-1]
        from_server, to_runner = os.pipe()
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.pid = os.fork()
        if self.pid == 0:  # the server
            code = 1
            try:
                os.close(to_server)
                os.close(from_server)
                os.setsid()
                _set_parent_death_signal()  # dies with the runner
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env)
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                serve(from_runner, to_runner)
                code = 0
            except BaseException:  # noqa: BLE001 - report and die, never return into the runner
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(log)
        os.close(from_runner)
        os.close(to_runner)
        self.stdin = os.fdopen(to_server, "wb")
        self.stdout = os.fdopen(from_server, "rb")
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("fork server", timeout)
            else:
                time.sleep(0.05)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass


class ForkServer:
    """Start the fork server; :meth:`start` a worker through it; :meth:`close` when done.

    A runner with one thread (``lstm-course grade`` on the command line) forks the server from
    itself: it has already imported most of the grader. One with more threads (a Dask worker, a
    test, the benchmark) starts ``python -m lstm_course.instructor.grading.forkserver``, since
    forking a process with other threads running may copy a lock another thread holds.
    """

    def __init__(self, cwd: str, env: dict[str, str], log_path: str, fork: bool | None = None) -> None:
        from lstm_course.instructor.grading.sandbox import join_and_die_with_parent

        if fork if fork is not None else threading.active_count() == 1:
            import lstm_course.instructor.grading.worker  # noqa: F401 - the forks inherit it

            sys.stdout.flush()
            sys.stderr.flush()
            self.proc = _ForkedServer(cwd, env, log_path)
        else:
            with open(log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "lstm_course.instructor.grading.forkserver"],
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=lambda: join_and_die_with_parent([]),  # the server dies with the runner
                )
        self._cond = threading.Condition()
        self._replies: dict[str, dict] = {}
        self._exits: dict[str, int] = {}
        self._gone = False
        self._count = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            with self._cond:
                if "exit" in message:
                    self._exits[message["id"]] = message["exit"]
                else:
                    self._replies[message["id"]] = message
                self._cond.notify_all()
        with self._cond:
            self._gone = True
            self._cond.notify_all()

    def start(self, spec: str, log: str, procs: list[str], pidns: bool, main: str = WORKER_MAIN) -> Forked:
        """Fork a worker for the submission whose spec is at ``spec``."""
        with self._cond:
            self._count += 1
            request_id = str(self._count)
            line = json.dumps({"id": request_id, "spec": spec, "log": log, "procs": procs, "pidns": pidns,
                               "main": main})
            try:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                raise ServerGone("the grader's fork server has stopped") from None
            while request_id not in self._replies and not self._gone:
                self._cond.wait()
            reply = self._replies.pop(request_id, None)
        if reply is None:
            raise ServerGone("the grader's fork server has stopped")
        if "error" in reply:
            raise ServerGone(reply["error"])
        return Forked(self, request_id, reply["pid"])

    def _wait_exit(self, request_id: str, timeout: float | None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while request_id not in self._exits:
                if self._gone:
                    return -9  # the server died: its workers were killed with it
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired("worker", timeout)
                self._cond.wait(left)
            return self._exits.pop(request_id)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    main()
