"""Start each sandboxed kernel as a fork of a process that has already imported PyTorch.

A kernel started as a new Python spends about 2.5 s of CPU importing PyTorch, NumPy and
ipykernel before it runs a cell: more than the cells of a chapter's exercises and tests take.
So a grading run as root starts one *zygote*: a new Python, with a kernel's environment and none
of the grader's, that imports those libraries (:data:`PRELOAD`) and nothing else, and forks a
kernel for each submission. Each fork then does what ``unshare ... python launcher.py`` does for
a kernel started as a new process, in the same order and with the same code
(:func:`lstm_course.instructor.grading.launcher.main`):

* it closes every descriptor of the zygote, writes to the submission's ``kernel.log``, starts a
  session of its own, joins the submission's ``kernel`` cgroup and dies with the zygote (which
  dies with the grader);
* it enters new mount, network, PID, IPC and UTS namespaces and forks PID 1 of the new PID
  namespace, which dies with it (``--kill-child``);
* PID 1 builds the kernel's root file system, pivots into it and forks the kernel, which drops
  every privilege, sets the limits and loads the system-call filter, as before; only the last
  step differs: where a new process would exec ``python -m ipykernel_launcher``, the fork starts
  the kernel in the interpreter it already has.

Why no secret can leak through the fork: the zygote is a new program (``exec``), started with
the environment :func:`~lstm_course.instructor.grading.sandbox.kernel_env` gives a kernel, and it
holds nothing but the libraries it imported. Each kernel draws its own random numbers (Python's
generator reseeds itself in a fork, NumPy's is reseeded if the zygote loaded it).

The protocol: a worker connects to the zygote's Unix socket (private to the run), sends one
JSON line ``{"spec", "log", "procs"}`` (the launcher's spec, the kernel's log, the cgroup) and
gets ``{"pid"}`` back, then ``{"exit"}`` when the kernel has ended. A line ``{"signal"}`` from
the worker signals the kernel's namespace; when the worker's end of the connection closes (it
ended, or was killed), the zygote kills the kernel. :class:`ZygoteProcess` is the worker's end,
with the part of :class:`subprocess.Popen` that jupyter_client uses.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

from lstm_course.instructor.grading.forkserver import fork_running, redirect_stdio, unshare_and_fork
from lstm_course.instructor.grading.syscalls import CLONE_NEW

#: What the zygote imports once for every kernel, before the libraries the chapter imports (which
#: the grader names on its command line: ``guard_config``'s list without the course's own modules:
#: those must be imported by the kernel, as ``lstm_course.teach.checks`` hooks into the running
#: IPython shell when it is imported).
PRELOAD = ("numpy", "torch", "torch.nn", "ipykernel.kernelapp", "ipykernel.ipkernel", "IPython")
#: The kernel's new namespaces (as ``unshare --mount --net --pid --ipc --uts`` gives them).
NAMESPACES = (CLONE_NEW["CLONE_NEWNS"] | CLONE_NEW["CLONE_NEWNET"] | CLONE_NEW["CLONE_NEWPID"]
              | CLONE_NEW["CLONE_NEWIPC"] | CLONE_NEW["CLONE_NEWUTS"])
#: The matplotlib backend ipykernel sets (``MPLBACKEND``) before a notebook imports matplotlib.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: How a kernel's command line starts (SandboxKernelManager's kernel spec); the rest are its arguments.
KERNEL_MODULE = "ipykernel_launcher"


# -- the zygote (its own process) ------------------------------------------------------------
def _start_kernel(spec: dict) -> int:
    """In the kernel's process, privileges dropped: what ``python -m ipykernel_launcher`` does."""
    argv = spec["argv"]
    os.environ.clear()
    os.environ.update(spec["env"])
    import importlib.util

    sys.argv = [importlib.util.find_spec(KERNEL_MODULE).origin, *argv[argv.index(KERNEL_MODULE) + 1:]]
    del sys.path[0]  # the zygote's working folder, which `-m` put first (ipykernel_launcher removes it)
    if "numpy.random" in sys.modules:  # Python's `random` reseeds itself in a fork; NumPy's not
        sys.modules["numpy.random"].seed()
    import atexit

    from ipykernel.kernelapp import IPKernelApp

    try:
        IPKernelApp.launch_instance()
    finally:
        atexit._run_exitfuncs()  # what the interpreter would do at exit (the fork ends in os._exit)
    return 0


def _kernel_child(request: dict, log: int) -> int:
    """In the zygote's fork: set the process up as the module docstring says; PID 1 runs the
    launcher, and this process waits for it."""
    from lstm_course.instructor.grading import cgroup, launcher
    from lstm_course.instructor.grading.sandbox import _set_parent_death_signal

    redirect_stdio(log)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.setsid()
    if request.get("procs"):
        cgroup.join(request["procs"])
    _set_parent_death_signal()
    status = unshare_and_fork(NAMESPACES)
    if status is None:
        launcher.main(request["spec"], start=_start_kernel)  # never returns
    return status


def _fork_kernel(request: dict) -> int:
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return fork_running(_kernel_child, request, log)
    finally:
        os.close(log)


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall((json.dumps(message) + "\n").encode())
    except OSError:
        pass


def serve(listener: socket.socket, stop: int) -> None:
    """Fork a kernel for each connection's request; end when ``stop`` becomes readable (the
    grader closed it, or died)."""
    conns: dict[socket.socket, bytes] = {}   # connection -> what it sent so far
    kernels: dict[socket.socket, int] = {}   # connection -> its kernel (the zygote's fork)
    while True:
        ready, _, _ = select.select([listener, stop, *conns], [], [], 0.05)
        if stop in ready:
            break
        if listener in ready:
            conn, _ = listener.accept()
            conns[conn] = b""
        for conn in [c for c in ready if c in conns]:
            chunk = conn.recv(65536)
            if not chunk:  # the worker is gone: so is its kernel
                if conn in kernels:
                    _kill(kernels.pop(conn))
                del conns[conn]
                conn.close()
                continue
            conns[conn] += chunk
            while b"\n" in conns[conn]:
                line, conns[conn] = conns[conn].split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:
                    _send(conn, {"error": "the request is not JSON"})
                    continue
                if "spec" in message and conn not in kernels:
                    try:
                        kernels[conn] = _fork_kernel(message)
                        _send(conn, {"pid": kernels[conn]})
                    except OSError as err:
                        _send(conn, {"error": f"could not start the kernel: {err}"})
                elif "signal" in message and conn in kernels:
                    try:
                        os.kill(kernels[conn], int(message["signal"]))
                    except ProcessLookupError:
                        pass
        while True:  # reap every ended fork (also those killed when their worker went away)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for conn, kernel in list(kernels.items()):
                if kernel == pid:
                    del kernels[conn]
                    _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
    for pid in kernels.values():
        _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(path: str, modules: list[str]) -> None:
    """Listen, tell the grader (a line on standard output), then import :data:`PRELOAD` and
    ``modules`` (names that are not modules are skipped): a worker may connect at once, and its
    request waits until the imports are done."""
    import importlib

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    listener.bind(path)
    os.umask(old_umask)
    listener.listen(256)
    print("listening", flush=True)
    stop = os.dup(0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)
    for name in PRELOAD:
        importlib.import_module(name)
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    serve(listener, stop)


# -- the grader's end ------------------------------------------------------------------------
class Zygote:
    """Start the zygote for one grading run (root mode); :meth:`close` when the run is done.

    Its Unix socket is ``path`` (in the run's private folder), or "" when it could not start
    (kernels then start as new processes); its output goes to ``log_path``.
    """

    def __init__(self, path: str, log_path: str, env: dict[str, str], modules: list[str] = ()) -> None:
        from lstm_course.instructor.grading.sandbox import join_and_die_with_parent

        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-Xfrozen_modules=off", "-m", "lstm_course.instructor.grading.zygote",
                 path, *modules],
                cwd=os.path.dirname(path),
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                preexec_fn=lambda: join_and_die_with_parent([]),  # dies with the grader
            )

        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        listening = bool(ready) and self.proc.stdout.readline().strip() == b"listening"
        self.path = path if listening else ""

    @classmethod
    def for_chapter(cls, scratch, source) -> Zygote:
        """The zygote of a run (its files in the run's private ``scratch`` folder) that imports
        the libraries ``source`` (a :class:`~.notebook.ChapterSource`) imports. It imports
        matplotlib as a kernel does: with ipykernel's inline backend, and the grader's font list
        at hand."""
        from lstm_course.instructor.grading.notebook import guard_config
        from lstm_course.instructor.grading.sandbox import kernel_env, seed_matplotlib_config

        home = scratch / "zygote-home"
        seed_matplotlib_config(home)
        env = kernel_env(str(home), str(scratch), {"MPLBACKEND": INLINE_BACKEND})
        libraries = [m for m in guard_config(source)["modules"] if m.split(".")[0] != "lstm_course"]
        return cls(str(scratch / "zygote.sock"), str(scratch / "zygote.log"), env, libraries)

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
        self.proc.stdout.close()


class ZygoteProcess:
    """A kernel the zygote forked, seen from the worker: the part of :class:`subprocess.Popen`
    that jupyter_client's provisioner uses (``pid`` is the zygote's number for it: it lives in
    no PID namespace the worker sees)."""

    stdin = stdout = stderr = None

    def __init__(self, path: str, spec: str, log: str, procs: list[str]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall((json.dumps({"spec": spec, "log": log, "procs": procs}) + "\n").encode())
        self._buffer = b""
        self.returncode: int | None = None
        reply = self._message(timeout=60)
        if reply is None or "pid" not in reply:
            self.sock.close()
            raise OSError((reply or {}).get("error", "the kernel zygote did not answer"))
        self.pid = reply["pid"]

    def _message(self, timeout: float | None) -> dict | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                return {"exit": -9}  # the zygote died, and its kernels with it
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def poll(self) -> int | None:
        if self.returncode is None:
            message = self._message(timeout=0)
            if message is not None and "exit" in message:
                self.returncode = message["exit"]
                self.sock.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            self._message_wait(0.05)
        return self.returncode

    def _message_wait(self, seconds: float) -> None:
        select.select([self.sock], [], [], seconds)

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                self.sock.sendall((json.dumps({"signal": int(signum)}) + "\n").encode())
            except OSError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
