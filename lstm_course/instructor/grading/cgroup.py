"""Limits per submission, not per process: each submission's processes in a cgroup of their own.

For every submission the runner makes a control group ``lstm-grade-<pid>/s<n>`` with two
children: ``worker`` (the grading process: nbgrader, the kernel's client) and ``kernel`` (the
sandboxed kernel and everything it starts), and only the ``kernel`` group has limits:

* ``memory``: all its processes together (``memory.max`` / ``memory.limit_in_bytes``); going
  over it gets a process of the submission killed by the kernel's OOM killer, never one of the
  grader's, and the run reports the submission as stopped for its memory;
* ``pids``: processes and threads together (``pids.max``);
* ``cpu``: a share of the CPU equal to every other submission's (``cpu.weight`` / ``cpu.shares``;
  the run as a whole weighs as much as ``--jobs`` ordinary processes) and at most ``Limits.cpus``
  cores (``cpu.max`` / ``cpu.cfs_quota_us``).

Ending a submission is one operation: :meth:`SubmissionCgroup.kill` kills every process in its
group (``cgroup.kill`` on cgroup v2, a SIGKILL to each member until none is left on v1), then
removes the groups. It works for cgroup v2 (unified) and v1 (the ``memory``, ``pids`` and ``cpu``
hierarchies), where the grader may create groups (as root, or in a delegated v2 subtree).
Elsewhere :func:`detect` says why not, and the grader falls back to per-process limits with a
warning (see the instructor guide).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000


class CgroupUnavailable(RuntimeError):
    """No cgroup the grader may use here; the message says why."""


def _own_path(controller: str | None) -> str:
    """This process's cgroup in ``controller``'s hierarchy (None: the v2 unified one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        num, controllers, path = line.split(":", 2)
        if controller is None and num == "0" and controllers == "":
            return path
        if controller is not None and controller in controllers.split(","):
            return path
    raise CgroupUnavailable(f"this process is in no {controller or 'cgroup v2'} hierarchy")


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, super options) of every cgroup mount."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fstype, _source, options = right.split(" ", 2)
        if fstype in ("cgroup", "cgroup2"):
            out.append((left.split(" ")[4], fstype, set(options.split(","))))
    return out


def _writable_dir(base: Path, name: str) -> Path:
    """Make ``base/name`` (a new cgroup) or say why not."""
    if not base.is_dir():
        raise CgroupUnavailable(f"{base} does not exist")
    path = base / name
    try:
        path.mkdir(exist_ok=True)
    except OSError as err:
        raise CgroupUnavailable(f"cannot create a cgroup in {base} ({err.strerror})") from None
    return path


@dataclasses.dataclass
class CgroupLimits:
    memory: int  # bytes, all processes of the kernel together
    pids: int  # processes and threads
    cpus: float  # cores at most


@dataclasses.dataclass
class SubmissionCgroup:
    """The groups of one submission: ``dirs[controller]`` is its own folder in that hierarchy."""

    version: int
    dirs: dict[str, Path]

    def procs_files(self, part: str) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid into to join ``part``."""
        return [str(d / part / "cgroup.procs") for d in self.dirs.values()]

    def oom_kills(self) -> int:
        """How many of the kernel's processes the OOM killer ended for going over the limit."""
        if self.version == 2:
            events = self.dirs["unified"] / "kernel" / "memory.events"
        else:
            events = self.dirs["memory"] / "kernel" / "memory.oom_control"
        try:
            for line in events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        return 0

    def peak_memory(self) -> int | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        base = self.dirs["unified" if self.version == 2 else "memory"] / "kernel"
        try:
            return int((base / name).read_text())
        except (OSError, ValueError):
            return None

    def _members(self) -> set[int]:
        pids = set()
        for d in self.dirs.values():
            for procs in d.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in procs.read_text().split())
        return pids

    def kill(self, timeout: float = 10.0) -> int:
        """End every process of the submission; return how many were still there."""
        killed = 0
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.dirs["unified"] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout
        while True:
            members = self._members() - {os.getpid()}
            if not members:
                return killed
            for pid in members:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
            if time.monotonic() > deadline:
                return killed
            time.sleep(0.05)

    def remove(self) -> None:
        for d in self.dirs.values():
            for sub in ("kernel", "worker", ""):
                path = d / sub if sub else d
                for _ in range(50):  # a killed process leaves its group a moment later
                    try:
                        path.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)


class RunCgroups:
    """The parent groups of one grading run, ``lstm-grade-<pid>`` in each hierarchy used."""

    def __init__(self, version: int, bases: dict[str, Path]):
        self.version = version
        self.bases = bases

    def weigh_as(self, jobs: int) -> None:
        """Give the run the CPU weight of ``jobs`` ordinary processes: a group competes with the
        machine's other processes as one, so without this every submission graded at once would
        share one process's share of a busy machine."""
        jobs = max(1, jobs)
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.bases["unified"] / "cpu.weight").write_text(str(min(10000, 100 * jobs)))
        else:
            with contextlib.suppress(OSError):
                (self.bases["cpu"] / "cpu.shares").write_text(str(1024 * jobs))

    def describe(self) -> str:
        if self.version == 2:
            return f"cgroup v2 ({self.bases['unified']})"
        return "cgroup v1 (" + ", ".join(f"{k}: {v}" for k, v in self.bases.items()) + ")"

    def create(self, name: str, limits: CgroupLimits) -> SubmissionCgroup:
        dirs = {key: _writable_dir(base, name) for key, base in self.bases.items()}
        for d in dirs.values():
            for part in ("worker", "kernel"):
                (d / part).mkdir(exist_ok=True)
        group = SubmissionCgroup(self.version, dirs)
        quota = max(1000, int(limits.cpus * CPU_PERIOD_US))
        if self.version == 2:
            d = dirs["unified"]
            (d / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            kernel = d / "kernel"
            (kernel / "memory.max").write_text(str(limits.memory))
            with contextlib.suppress(OSError):  # no swap for the sandbox
                (kernel / "memory.swap.max").write_text("0")
            (kernel / "pids.max").write_text(str(limits.pids))
            (kernel / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
        else:
            kernel = dirs["memory"] / "kernel"
            (kernel / "memory.limit_in_bytes").write_text(str(limits.memory))
            with contextlib.suppress(OSError):  # swap accounting may be off
                (kernel / "memory.memsw.limit_in_bytes").write_text(str(limits.memory))
            (dirs["pids"] / "kernel" / "pids.max").write_text(str(limits.pids))
            (dirs["cpu"] / "kernel" / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (dirs["cpu"] / "kernel" / "cpu.cfs_quota_us").write_text(str(quota))
        return group

    def close(self) -> None:
        for base in self.bases.values():
            for child in base.glob("*"):
                if child.is_dir():
                    SubmissionCgroup(self.version, {"x": child}).kill(timeout=2)
                    SubmissionCgroup(self.version, {"x": child}).remove()
            with contextlib.suppress(OSError):
                base.rmdir()


def detect(name: str | None = None) -> RunCgroups:
    """Make this run's parent groups, on cgroup v2 if it can hold the controllers, else v1.

    Raises :class:`CgroupUnavailable` with the reasons where neither is usable (not Linux, not
    root and no delegated subtree, controllers missing), or where ``LSTM_COURSE_CGROUP=none``.
    """
    if os.environ.get("LSTM_COURSE_CGROUP") == "none":
        raise CgroupUnavailable("cgroups are switched off here (LSTM_COURSE_CGROUP=none)")
    name = name or f"lstm-grade-{os.getpid()}"
    reasons = []
    try:
        mounts = _mounts()
    except OSError as err:
        raise CgroupUnavailable(f"cannot read the mounts ({err})") from None
    wanted = os.environ.get("LSTM_COURSE_CGROUP")  # "v1" or "v2", for tests
    for point, fstype, _ in mounts:
        if fstype != "cgroup2" or wanted == "v1":
            continue
        try:
            base = Path(point) / _own_path(None).lstrip("/")
            available = set((base / "cgroup.controllers").read_text().split())
            missing = {"memory", "pids", "cpu"} - available
            if missing:
                lacks = ", ".join(sorted(missing))
                raise CgroupUnavailable(f"cgroup v2 at {point} lacks the {lacks} controller")
            run = _writable_dir(base, name)
            try:
                (base / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                (run / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            except OSError as err:
                run.rmdir()
                raise CgroupUnavailable(f"cannot enable controllers under {base} ({err.strerror})") from None
            return RunCgroups(2, {"unified": run})
        except CgroupUnavailable as err:
            reasons.append(str(err))
    if wanted != "v2":
        bases: dict[str, Path] = {}
        try:
            for controller in V1_CONTROLLERS:
                point = next(
                    (p for p, t, opts in mounts if t == "cgroup" and controller in opts), None
                )
                if point is None:
                    raise CgroupUnavailable(f"no cgroup v1 {controller} hierarchy is mounted")
                base = Path(point) / _own_path(controller).lstrip("/")
                bases[controller] = _writable_dir(base, name)
            return RunCgroups(1, bases)
        except CgroupUnavailable as err:
            for made in bases.values():
                with contextlib.suppress(OSError):
                    made.rmdir()
            reasons.append(str(err))
    raise CgroupUnavailable("; ".join(reasons) or "no cgroup file system is mounted")


def join(procs_files: list[str]) -> None:
    """In a child before exec: move this process into the groups (its children follow)."""
    pid = str(os.getpid())
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid.encode())
        finally:
            os.close(fd)
