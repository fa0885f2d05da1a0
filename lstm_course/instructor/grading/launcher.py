"""Set up a submission's sandbox and start its kernel (runs as root inside fresh namespaces).

Started by :class:`lstm_course.instructor.grading.sandbox.SandboxKernelManager` as::

    unshare --mount --net --pid --ipc --uts --fork --kill-child [--user --map-root-user] \
        python -I -S launcher.py SPEC.json

so this process is PID 1 of a new PID namespace, with its own mount table and an empty network
namespace. It uses only the standard library (``-I -S``: no site-packages, no environment).

It builds a new root file system on a tmpfs that holds only what a kernel needs (the system
directories, the Python installation, the virtual environment and the ``lstm_course`` package,
all read-only; a private ``/tmp``, ``/dev`` and ``/proc``; the submission's working copy in
``/sandbox/work``; the directory of the kernel's sockets), moves into it with ``pivot_root`` and
detaches the old root, so nothing else on the machine (solutions, gradebook, other students, the
instructor's home) can even be named. Then it forks the kernel, which drops every capability and
(when the grader is root) switches to an unprivileged user, sets the resource limits, loads the
system-call filter (:mod:`lstm_course.instructor.grading.syscalls`: no new namespaces, mounts,
ptrace, keyrings, BPF, kernel modules...) and execs the kernel. This process stays PID 1: it
reaps orphans and exits with the kernel, and when it exits the kernel of Linux kills every
process left in the namespace.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
RLIMITS = {
    "as": "RLIMIT_AS",
    "nproc": "RLIMIT_NPROC",
    "fsize": "RLIMIT_FSIZE",
    "nofile": "RLIMIT_NOFILE",
    "core": "RLIMIT_CORE",
}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class SetupError(RuntimeError):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def _kept_flags(path: str) -> int:
    """Mount flags of ``path`` that a read-only remount must keep (they may be locked)."""
    st = os.statvfs(path).f_flag
    flags = 0
    for st_flag, ms_flag in (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (os.ST_RELATIME, MS_RELATIME),
    ):
        if st & st_flag:
            flags |= ms_flag
    return flags


def bind(src: str, root: str, *, writable: bool = False, dest: str | None = None) -> None:
    """Bind ``src`` at the same path (or ``dest``) under ``root``; read-only unless ``writable``."""
    target = root + (dest or src)
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    mount(src, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | _kept_flags(target)
    if not writable:
        flags |= MS_RDONLY | MS_NODEV
    mount("none", target, None, flags)


def build_root(spec: dict) -> None:
    root = spec["root"]
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("sandbox-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    # Read-only paths under /tmp (a course cloned into /tmp, its venv) are bound after the
    # private /tmp is mounted, or it would hide them.
    under_tmp = [p for p in spec["ro"] if p == "/tmp" or p.startswith("/tmp/")]
    for path in spec["ro"]:
        if path in under_tmp:
            continue
        if os.path.islink(path) and os.path.dirname(path) == "/":
            os.symlink(os.readlink(path), root + path)  # merged /usr: /bin -> usr/bin
        elif os.path.exists(path):
            bind(path, root)
    # /etc/passwd and /etc/group that know the kernel's user (some libraries look it up).
    private = root + "/.sandbox-etc"
    os.makedirs(private)
    for name, text in (("passwd", spec["passwd"]), ("group", spec["group"])):
        with open(f"{private}/{name}", "w") as f:
            f.write(text)
        if os.path.exists(root + "/etc/" + name):
            mount(f"{private}/{name}", root + "/etc/" + name, None, MS_BIND)
    # /dev: a few harmless devices only.
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    mount("sandbox-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            open(f"{dev}/{name}", "w").close()
            mount("/dev/" + name, f"{dev}/{name}", None, MS_BIND)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(dev + "/shm")
    mount("sandbox-shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=64m")
    # /proc of the new PID namespace: only this submission's processes are visible.
    os.makedirs(root + "/proc", exist_ok=True)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # /sandbox: the only writable place (working copy, home, /tmp), size-limited.
    sandbox = root + "/sandbox"
    os.makedirs(sandbox)
    mount("sandbox", sandbox, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={spec['tmpfs_size']}")
    uid, gid = spec["uid"], spec["gid"]
    for sub in ("work", "home", "tmp"):
        os.makedirs(f"{sandbox}/{sub}")
    os.chmod(f"{sandbox}/tmp", 0o1777)
    if spec.get("work_src"):
        shutil.copytree(spec["work_src"], f"{sandbox}/work", dirs_exist_ok=True, symlinks=True)
    for path, text in spec.get("files", {}).items():
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        with open(root + path, "w") as f:
            f.write(text)
    for sub in ("work", "home"):
        for dirpath, dirnames, filenames in os.walk(f"{sandbox}/{sub}"):
            os.lchown(dirpath, uid, gid)
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, gid)
    os.makedirs(root + "/tmp", exist_ok=True)
    mount(f"{sandbox}/tmp", root + "/tmp", None, MS_BIND)
    for path in under_tmp:
        if os.path.exists(path):
            bind(path, root)
    for path in spec["rw"]:  # the kernel's sockets (may lie under /tmp: bind after it)
        bind(path, root, writable=True)
    # Enter the new root and let go of the old one.
    os.chdir(root)
    os.makedirs(root + "/.old-root")
    _check(libc.syscall(spec["syscalls"]["pivot_root"], b".", b".old-root"), "pivot_root")
    os.chdir("/")
    _check(libc.umount2(b"/.old-root", MNT_DETACH), "umount old root")
    os.rmdir("/.old-root")
    mount("none", "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_privileges(spec: dict, exec_follows: bool = True) -> None:
    """Runs in the kernel's process, just before exec: no capabilities, no way back.

    Without an exec to follow (a kernel forked from the zygote, :mod:`.zygote`), the process is
    made dumpable again once it has its user, as an exec would make it: else ``/proc/self/fd``
    and the like would belong to root and be closed to the kernel."""
    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last_cap + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if spec["mode"] == "root":
        os.setgroups([])
        os.setresgid(spec["gid"], spec["gid"], spec["gid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
        if not exec_follows:
            _check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
    else:
        # Root of a user namespace: keep the uid, lose every capability.
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        _check(libc.syscall(spec["syscalls"]["capset"], header, data), "capset")
    import resource

    for key, value in spec["limits"].items():
        which = getattr(resource, RLIMITS[key])
        soft, hard = (value, value) if not isinstance(value, list) else value
        resource.setrlimit(which, (soft, hard))
    load_filter(spec["seccomp_program"])


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_filter(program: bytes) -> None:
    """The last step before exec: the system-call filter (built by ``syscalls.build_filter``)
    for this process and all it starts; it cannot be removed, only narrowed."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def main(spec_path: str, start=None) -> None:
    """PID 1 of the sandbox: build the root, fork the kernel, wait for it. The kernel execs
    ``spec["argv"]``, or, given ``start`` (the zygote's), calls ``start(spec)`` instead."""
    with open(spec_path) as f:
        spec = json.load(f)
    with open(spec["seccomp"], "rb") as f:  # read before the old root goes away
        spec["seccomp_program"] = f.read()
    log = sys.stderr
    try:
        build_root(spec)
    except (OSError, SetupError) as err:
        print(f"sandbox setup failed: {err}", file=log, flush=True)
        os._exit(70)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.chdir("/sandbox/work")
            drop_privileges(spec, exec_follows=start is None)
            if start is None:
                os.execve(spec["argv"][0], spec["argv"], spec["env"])
            try:
                code = start(spec)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        except BaseException as err:  # noqa: BLE001 - report and die, never return into PID 1's code
            print(f"sandbox: could not start the kernel: {err!r}", file=log, flush=True)
        os._exit(71)

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            child, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if child == pid:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main(sys.argv[1])
