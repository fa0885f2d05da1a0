"""The sandbox a submission's kernel runs in, and the kernel manager that starts it there.

Two ways to isolate, chosen by :func:`detect`:

``root``
    The grader is root (containers, CI): the kernel runs as an unprivileged user of its own
    (one per concurrent submission), in new mount, PID, network, IPC and UTS namespaces.
``userns``
    The grader is an ordinary user: the same namespaces inside a user namespace, where the
    kernel keeps the grader's uid but has no capabilities.

In both, :mod:`lstm_course.instructor.grading.launcher` gives the kernel a root file system with only the
system directories, Python, the virtual environment and ``lstm_course`` (read-only), a private
``/tmp`` and working copy, no network (not even the host's loopback), limits on memory, CPU
time, processes, file size and open files, a system-call filter
(:mod:`lstm_course.instructor.grading.syscalls`: no new namespaces, no mounts, no ptrace...), and
it kills every process of the submission when the kernel ends. The kernel's processes also share
the submission's cgroup (:mod:`lstm_course.instructor.grading.cgroup`), which limits their memory,
processes and CPU together. The client talks to the kernel over ZeroMQ ``ipc`` sockets in a directory that
belongs to the submission alone (loopback TCP does not cross network namespaces).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import pwd
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import zmq
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any, Dict, List, Unicode

from lstm_course.instructor.grading import cgroup, syscalls
from lstm_course.instructor.grading.zygote import ZygoteProcess

GiB = 1024**3
MiB = 1024**2
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
LAUNCHER = Path(__file__).with_name("launcher.py")
#: Largest ZeroMQ message the grader accepts from a kernel; a bigger one drops the connection
#: instead of filling the grader's memory (one `print` of 200 MB is one message).
MAX_MESSAGE_BYTES = 32 * MiB


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one submission (all processes of its kernel)."""

    memory: int = 4 * GiB  # all processes of the submission together (its cgroup)
    process_memory: int = 4 * GiB  # address space of each process (RLIMIT_AS), at least `memory`
    cell_timeout: float = 60.0  # wall-clock seconds per cell
    submission_timeout: float = 600.0  # wall-clock seconds for the whole notebook
    processes: int = 128  # processes and threads: of the cgroup, and of the kernel's user (RLIMIT_NPROC)
    cpus: float = 1.0  # CPU cores the submission may use at most (its cgroup)
    file_size: int = 64 * MiB  # largest file it may write (RLIMIT_FSIZE)
    disk: int = 512 * MiB  # its working copy, home and /tmp together (tmpfs)
    output: int = 8 * MiB  # text and images it may send back, for the whole notebook
    open_files: int = 1024

    def address_space(self, per_submission: bool) -> int:
        """RLIMIT_AS of each process: with a cgroup holding the total, enough for PyTorch's
        reservations; without one, the memory limit itself (the only memory limit there is)."""
        return max(self.memory, self.process_memory) if per_submission else self.memory


class SandboxUnavailable(RuntimeError):
    """Isolation cannot be set up here; the message says why and what to do."""


def _run_probe(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def detect(forced: str | None = None) -> str:
    """The isolation mode available here: ``"root"`` or ``"userns"``.

    Raises :class:`SandboxUnavailable` with an explanation where neither works. ``forced``
    (or the environment variable ``LSTM_COURSE_SANDBOX``) picks a mode, for tests.
    """
    forced = forced or os.environ.get("LSTM_COURSE_SANDBOX") or None
    if forced == "none":
        raise SandboxUnavailable("isolation is switched off here (LSTM_COURSE_SANDBOX=none).")
    if platform.system() != "Linux":
        raise SandboxUnavailable(
            f"the grading sandbox needs Linux namespaces, and this is {platform.system()}."
        )
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SandboxUnavailable("the `unshare` command (util-linux) is not installed.")
    try:
        syscalls.build_filter()
    except syscalls.FilterUnavailable as err:
        raise SandboxUnavailable(str(err)) from None
    namespaces = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
    modes = [forced] if forced else (["root"] if os.geteuid() == 0 else []) + ["userns"]
    reasons = []
    for mode in modes:
        if mode == "root" and os.geteuid() != 0:
            reasons.append("root mode needs the grader to run as root")
            continue
        user = ["--user", "--map-root-user"] if mode == "userns" else []
        probe = _run_probe([unshare, *user, *namespaces, "--mount-proc", "true"])
        if probe.returncode == 0:
            return mode
        reasons.append(f"{mode}: {probe.stderr.strip() or 'unshare failed'}")
    raise SandboxUnavailable(
        "could not create the namespaces the grading sandbox needs ("
        + "; ".join(reasons)
        + "). Unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone"
        " or user.max_user_namespaces), or a container may forbid them."
    )


def _mapped(ids_file: str, first: int, count: int) -> bool:
    """Whether ids first..first+count-1 are all mapped in this user namespace."""
    try:
        lines = Path(ids_file).read_text().split("\n")
    except OSError:
        return first + count <= 65536
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            inside, _, length = map(int, parts)
            if inside <= first and first + count <= inside + length:
                return True
    return False


def choose_uid_base(slots: int) -> int:
    """First of ``slots`` consecutive unused uids (and gids) for the kernels of this run.

    Derived from this process's id, so two grading runs on one machine use different users.
    """
    slots = max(1, slots)
    candidates = [0x40000000 + ((os.getpid() & 0xFFFFF) << 8)]
    candidates += [base for base in range(60000, 65536 - slots, 256)]
    for base in candidates:
        if slots > 256 or not _mapped("/proc/self/uid_map", base, slots):
            continue
        if not _mapped("/proc/self/gid_map", base, slots):
            continue
        taken = False
        for uid in range(base, base + slots):
            try:
                pwd.getpwuid(uid)
                taken = True
                break
            except KeyError:
                pass
        if not taken:
            return base
    raise SandboxUnavailable("found no free range of user ids for the sandboxed kernels.")


def readonly_paths() -> list[str]:
    """What a kernel may read: system directories, Python, the venv, the course package."""
    import lstm_course

    paths = list(SYSTEM_DIRS)
    for prefix in {sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix}:
        paths.append(os.path.realpath(prefix))
    # The interpreter the venv points at may live outside base_prefix's realpath (pyenv shims).
    paths.append(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    for key in ("purelib", "platlib"):
        paths.append(os.path.realpath(sysconfig.get_paths()[key]))
    paths.append(os.path.realpath(Path(lstm_course.__file__).parent))
    out: list[str] = []
    for path in paths:
        if path not in out and os.path.exists(path) and path != "/":
            out.append(path)
    # Drop paths inside another listed (non-system) path: binding the parent covers them.
    return [
        p
        for p in out
        if p in SYSTEM_DIRS
        or not any(p != q and q not in SYSTEM_DIRS and p.startswith(q.rstrip("/") + "/") for q in out)
    ]


#: Matplotlib's config folder (``MPLCONFIGDIR``) in a kernel's home.
MPL_CONFIG = ".config/matplotlib"


def kernel_env(home: str, tmp: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a kernel: nothing of the grader's (no database URL, token or
    credential an instructor exported), only what Python, Jupyter and the libraries need."""
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "IPYTHONDIR": f"{home}/.ipython",
        "MPLCONFIGDIR": f"{home}/{MPL_CONFIG}",
        "XDG_CACHE_HOME": f"{home}/.cache",
        "JUPYTER_PLATFORM_DIRS": "1",
        **(extra or {}),
    }


@functools.cache
def matplotlib_font_cache() -> tuple[str, str] | None:
    """Matplotlib's font list as the grader has it (file name, text), to put in each kernel's
    config folder (``MPLCONFIGDIR``): a kernel that must build it scans every font on the machine,
    about 0.3 s of CPU per submission. The fonts' paths are the same inside the sandbox (the
    system folders and the environment are bound where they are); a list that does not fit is
    rebuilt by matplotlib. None without matplotlib."""
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    try:
        return path.name, path.read_text()
    except OSError:
        return None


def seed_matplotlib_config(home: Path) -> None:
    """Matplotlib's config folder in ``home`` (an unsandboxed kernel's, or the zygote's), with
    the grader's font list (:func:`matplotlib_font_cache`) in it."""
    folder = home / MPL_CONFIG
    folder.mkdir(parents=True, exist_ok=True)
    if fonts := matplotlib_font_cache():
        (folder / fonts[0]).write_text(fonts[1])


@dataclasses.dataclass
class SandboxSpec:
    """Everything the launcher needs for one kernel."""

    mode: str  # "root" or "userns"
    run_dir: Path  # private to this submission, owned by the grader
    uid: int
    limits: Limits
    work_src: Path | None = None  # copied into the kernel's working directory
    files: dict[str, str] = dataclasses.field(default_factory=dict)  # extra files, by sandbox path
    extra_env: dict[str, str] = dataclasses.field(default_factory=dict)
    cgroup_procs: list[str] = dataclasses.field(default_factory=list)  # the kernel's cgroup, if any

    @property
    def ipc_dir(self) -> Path:
        return self.run_dir / "ipc"

    @property
    def kernel_uid(self) -> int:
        return self.uid if self.mode == "root" else 0

    def prepare(self) -> None:
        """Create the private folders; the socket folder belongs to the kernel's user."""
        (self.run_dir / "root").mkdir(parents=True, exist_ok=True)
        self.ipc_dir.mkdir(exist_ok=True)
        os.chmod(self.run_dir, 0o711)
        if self.mode == "root":
            os.chown(self.ipc_dir, self.uid, self.uid)
        os.chmod(self.ipc_dir, 0o700)
        fd = os.open(self.run_dir / "seccomp.bpf", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(syscalls.build_filter())

    def launcher_spec(self, argv: list[str]) -> dict:
        uid = self.kernel_uid
        limits = self.limits
        home = "/sandbox/home"
        env = kernel_env(home, "/tmp", self.extra_env)
        return {
            "mode": self.mode,
            "root": str(self.run_dir / "root"),
            "ro": readonly_paths(),
            "rw": [str(self.ipc_dir)],
            "work_src": str(self.work_src) if self.work_src else None,
            "files": self.files,
            "uid": uid,
            "gid": uid,
            "passwd": f"root:x:0:0:root:/root:/bin/false\nstudent:x:{uid}:{uid}:student:{home}:/bin/false\n"
            if uid
            else f"student:x:0:0:student:{home}:/bin/false\n",
            "group": f"root:x:0:\nstudent:x:{uid}:\n" if uid else "student:x:0:\n",
            "tmpfs_size": limits.disk,
            "seccomp": str(self.run_dir / "seccomp.bpf"),
            "syscalls": {name: syscalls.number(name) for name in ("pivot_root", "capset")},
            "limits": {
                "as": limits.address_space(bool(self.cgroup_procs)),
                # No RLIMIT_CPU: it turns on Linux's process-wide CPU timer, after which
                # time.process_time() only advances at the scheduler's tick (4 ms), and a
                # notebook's CPU-time measurements read 0. CPU time is bounded anyway: the wall-clock
                # timeouts end the PID namespace, and the cgroup caps the rate at `cpus` cores.
                "nproc": limits.processes,
                "fsize": limits.file_size,
                "nofile": limits.open_files,
                "core": 0,
            },
            "env": env,
            "argv": argv,
        }

    @property
    def launcher_spec_path(self) -> Path:
        return self.run_dir / "launcher.json"

    def command(self, argv: list[str]) -> list[str]:
        """The command that starts ``argv`` (the kernel) inside the sandbox (it writes the
        launcher's spec, which a kernel forked from the zygote reads too)."""
        spec_path = self.launcher_spec_path
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.launcher_spec(argv), f)
        user = ["--user", "--map-root-user"] if self.mode == "userns" else []
        return [
            shutil.which("unshare") or "unshare",
            *user,
            "--mount",
            "--net",
            "--pid",
            "--ipc",
            "--uts",
            "--fork",
            "--kill-child",
            sys.executable,
            "-I",
            "-S",
            str(LAUNCHER),
            str(spec_path),
        ]


def _set_parent_death_signal() -> None:
    """In the child, before exec: die with the grader (SIGKILL when its parent goes away)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort; the PID namespace is the real guarantee
        pass


def join_and_die_with_parent(procs_files: list[str]) -> None:
    """In a child before exec (the kernel, a submission's worker): into its cgroup, if there is
    one (its children follow), and die with the process that started it."""
    if procs_files:
        cgroup.join(procs_files)
    _set_parent_death_signal()


class SandboxKernelManager(AsyncKernelManager):
    """Start the kernel inside a :class:`SandboxSpec`, and talk to it over ``ipc`` sockets.

    With ``sandbox=None`` the kernel starts unsandboxed (``lstm-course grade --unsafe``), still
    with the output limit.
    """

    sandbox = Any(None, allow_none=True)
    kernel_log = Unicode("")
    extra_env = Dict()
    cgroup_procs = List(Unicode())  # the submission's kernel cgroup (cgroup.procs files)
    zygote = Unicode("")  # the run's kernel zygote (its socket), root mode only: see zygote.py

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.kernel_name = "python3"
        self._kernel_spec = KernelSpec(
            argv=[
                sys.executable,
                "-Xfrozen_modules=off",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
            display_name="Python 3 (sandboxed)",
            language="python",
            interrupt_mode="message",
            metadata={},
            env={},
        )
        if self.sandbox is not None:
            self.transport = "ipc"
            self.ip = str(self.sandbox.ipc_dir / "kernel")
            self.connection_file = str(self.sandbox.ipc_dir / "kernel.json")
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self.sandbox is not None and self.sandbox.mode == "root":
            os.chown(self.connection_file, self.sandbox.uid, self.sandbox.uid)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        argv = super().format_kernel_cmd(extra_arguments)
        if self.sandbox is None:
            return argv
        return self.sandbox.command(argv)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if self.zygote and self.sandbox is not None and self.sandbox.mode == "root":
            try:
                process = ZygoteProcess(self.zygote, str(self.sandbox.launcher_spec_path),
                                        self.kernel_log or os.devnull, list(self.cgroup_procs))
            except OSError as err:  # the zygote is gone: start the kernel as a new process
                with open(self.kernel_log or os.devnull, "a") as log:
                    print(f"the kernel zygote failed ({err}); starting a new process", file=log)
            else:
                provisioner = self.provisioner
                provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, None
                provisioner.cwd = str(self.sandbox.run_dir)
                self._reconcile_connection_info(provisioner.connection_info)
                return
        if self.sandbox is not None:
            kw["cwd"] = str(self.sandbox.run_dir)
            kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:  # --unsafe: the grader's files, but still none of its environment
            home = self.extra_env.get("HOME") or os.path.dirname(self.connection_file) or "/tmp"
            kw["env"] = kernel_env(home, os.environ.get("TMPDIR", "/tmp"), self.extra_env)
        if self.kernel_log:
            log = open(self.kernel_log, "ab")  # noqa: SIM115 - handed to the kernel process
            kw["stdout"] = log
            kw["stderr"] = subprocess.STDOUT
        kw["preexec_fn"] = functools.partial(join_and_die_with_parent, list(self.cgroup_procs))
        await super()._async_launch_kernel(kernel_cmd, **kw)
