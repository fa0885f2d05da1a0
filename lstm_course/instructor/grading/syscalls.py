"""The system-call filter of the sandboxed kernel: no route back to privilege, no tampering.

Built here, outside the sandbox, with libseccomp (``libseccomp.so.2``, the library Docker,
systemd and bubblewrap use, installed on every Debian and Ubuntu as a dependency of apt),
through ``ctypes``: libseccomp knows each architecture's system-call numbers, so we keep no
table of our own. It is exported as a classic BPF program (the format ``bwrap --seccomp FD``
also reads) into the submission's private folder; the launcher loads it into the kernel's
process with ``prctl(PR_SET_SECCOMP)`` just before ``exec``, after ``no_new_privs``, and every
process the kernel starts inherits it and cannot remove it.

Refused with ``EPERM``:

* new namespaces and entering others: ``unshare``, ``setns``, and ``clone`` with any
  ``CLONE_NEW*`` flag (so no nested user namespace, where a process would hold capabilities
  again); ``clone3``, whose flags a filter cannot read, fails with ``ENOSYS`` so that the C
  library falls back to ``clone``;
* the file system's shape: ``mount``, ``umount2``, ``pivot_root``, ``chroot`` and the new mount
  API (``open_tree``, ``move_mount``, ``fsopen``, ``fsconfig``, ``fsmount``, ``fspick``,
  ``mount_setattr``);
* looking into or steering other processes: ``ptrace``, ``process_vm_readv``/``writev``,
  ``kcmp``, ``pidfd_getfd``;
* the kernel's keyrings, BPF and performance counters: ``keyctl``, ``add_key``, ``request_key``,
  ``bpf``, ``perf_event_open``, ``userfaultfd``;
* kernel modules and the machine itself: ``init_module``, ``finit_module``, ``delete_module``,
  ``kexec_load``, ``kexec_file_load``, ``reboot``, ``swapon``, ``swapoff``, ``acct``, ``quotactl``,
  ``syslog``, ``iopl``, ``ioperm``, ``settimeofday``, ``clock_settime``, ``clock_adjtime``,
  ``adjtimex``, ``open_by_handle_at``, ``name_to_handle_at``.

System calls of another ABI (32-bit calls from a 64-bit process) kill the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import tempfile

DENIED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "open_by_handle_at", "name_to_handle_at",
)  # fmt: skip
CLONE_NEW = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}
#: clone's flags are its first argument, but its second on s390.
CLONE_FLAGS_ARG = 1 if platform.machine().startswith("s390") else 0
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7


def SCMP_ACT_ERRNO(code: int) -> int:  # noqa: N802 - libseccomp's name
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class FilterUnavailable(RuntimeError):
    """libseccomp is missing or refused the filter; the message says what to install."""


def _library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        lib = None
    try:
        lib = lib or ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so", use_errno=True)
    except OSError:
        raise FilterUnavailable(
            "libseccomp is not installed (Debian and Ubuntu: `apt-get install libseccomp2`); the "
            "sandbox needs it to filter the kernel's system calls."
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def number(name: str) -> int:
    """The number of system call ``name`` on this machine's architecture."""
    nr = _library().seccomp_syscall_resolve_name(name.encode())
    if nr < 0:
        raise FilterUnavailable(f"no system call {name} on this architecture")
    return nr


def build_filter() -> bytes:
    """The filter as a classic BPF program (``struct sock_filter`` array, 8 bytes per op)."""
    lib = _library()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise FilterUnavailable("seccomp_init failed")
    try:

        def rule(action: int, name: str, *cmps: _ArgCmp) -> None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:  # not a system call on this architecture (iopl on arm64...)
                return
            array = (_ArgCmp * len(cmps))(*cmps) if cmps else None
            ret = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
            if ret < 0:
                raise FilterUnavailable(f"libseccomp refused the rule for {name}: {os.strerror(-ret)}")

        for name in DENIED:
            rule(SCMP_ACT_ERRNO(errno.EPERM), name)
        for flag in CLONE_NEW.values():
            has_flag = _ArgCmp(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, flag, flag)
            rule(SCMP_ACT_ERRNO(errno.EPERM), "clone", has_flag)
        rule(SCMP_ACT_ERRNO(errno.ENOSYS), "clone3")
        with tempfile.TemporaryFile() as f:
            ret = lib.seccomp_export_bpf(ctx, f.fileno())
            if ret < 0:
                raise FilterUnavailable(f"libseccomp could not export the filter: {os.strerror(-ret)}")
            f.seek(0)
            program = f.read()
    finally:
        lib.seccomp_release(ctx)
    if not program or len(program) % 8:
        raise FilterUnavailable("libseccomp exported an empty or malformed filter")
    return program
