"""nbgrader's ``Execute`` step, run in the sandbox and made to survive what a submission does.

:class:`SandboxedExecute` replaces nbgrader's ``Execute`` preprocessor in ``autograde``. It starts
the kernel with :class:`~lstm_course.instructor.grading.sandbox.SandboxKernelManager`, installs the test
guard (:mod:`lstm_course.instructor.grading.guard`), and keeps going when the submission misbehaves:

* a cell that runs past its time limit is interrupted; if the kernel does not come back, it is
  killed and the remaining cells are not run;
* the whole notebook has a time budget; cells after it are not run;
* a kernel that dies (``os._exit``, a crash, the memory limit) ends the run, it does not end
  the grading;
* output beyond the limit is dropped and the cell that produced it is interrupted.

Every test cell that did not run gets an error output, so nbgrader's ``SaveAutoGrades`` gives it
0 points (nbgrader gives full marks to a test cell with no output). What happened is written to a
JSON report for the grader's one-sentence summary.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade
from traitlets import Any, Dict, Float, List, Unicode

from lstm_course.instructor.grading.guard import source_hash
from lstm_course.instructor.grading.sandbox import (
    MPL_CONFIG,
    Limits,
    SandboxKernelManager,
    SandboxSpec,
    matplotlib_font_cache,
    seed_matplotlib_config,
)

GUARD_STARTUP = """\
import os as _os, traceback as _tb
try:
    import lstm_course.instructor.grading.guard as _guard
    _guard.install({path!r})
    del _guard
except BaseException:
    _tb.print_exc()
    _os._exit(75)   # fail closed: no test runs without the guard
del _os, _tb
"""

STARTUP_FILE = "/sandbox/home/.ipython/profile_default/startup/00-lstm-course-guard.py"
#: How long a kernel gets to come back after an interrupt before it is killed.
INTERRUPT_GRACE_S = 10.0


def cell_label(cell: NotebookNode, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"`{grade_id}`" if grade_id else f"{index + 1}"


def _output_size(msg: dict) -> int:
    content = msg.get("content", {})
    size = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value))
    size += len(content.get("evalue", "") or "") + sum(len(x) for x in content.get("traceback", []) or [])
    return size


class SandboxedExecute(Execute):
    """Execute a submission in its sandbox; see the module docstring."""

    #: "root", "userns", or "" to run unsandboxed (``--unsafe``)
    sandbox_mode = Unicode("").tag(config=True)
    run_dir = Unicode("").tag(config=True)
    sandbox_uid = Any(0).tag(config=True)
    limits = Dict({}).tag(config=True)
    guard = Dict({}).tag(config=True)
    report_path = Unicode("").tag(config=True)
    cgroup_procs = List(Unicode()).tag(config=True)  # the submission's kernel cgroup, if any
    zygote = Unicode("").tag(config=True)  # the run's kernel zygote's socket (root mode), if any
    start_time = Float(0.0).tag(config=True)
    raise_on_iopub_timeout = False  # a dropped oversized message must not end the run
    startup_timeout = 180  # a busy machine imports PyTorch slowly; the kernel starts before any cell

    def _limits(self) -> Limits:
        return Limits(**self.limits)

    # -- kernel ---------------------------------------------------------------------------
    def create_kernel_manager(self):
        run_dir = Path(self.run_dir)
        limits = self._limits()
        guard_config = {**self.guard, "test_cells": self._test_hashes}
        work_src = self.resources.get("metadata", {}).get("path") or None
        if self.sandbox_mode:
            spec = SandboxSpec(
                mode=self.sandbox_mode,
                run_dir=run_dir,
                uid=int(self.sandbox_uid),
                limits=limits,
                work_src=Path(work_src) if work_src else None,
                extra_env={"NBGRADER_EXECUTION": "autograde"},
                cgroup_procs=list(self.cgroup_procs),
            )
            spec.files = {
                "/sandbox/guard.json": json.dumps(guard_config),
                STARTUP_FILE: GUARD_STARTUP.format(path="/sandbox/guard.json"),
            }
            if fonts := matplotlib_font_cache():
                spec.files[f"/sandbox/home/{MPL_CONFIG}/{fonts[0]}"] = fonts[1]
            spec.prepare()
            self.km = SandboxKernelManager(
                sandbox=spec,
                kernel_log=str(run_dir / "kernel.log"),
                cgroup_procs=list(self.cgroup_procs),
                zygote=self.zygote,
                config=self.config,
            )
        else:
            ipython_dir = run_dir / "ipython"
            startup = ipython_dir / "profile_default" / "startup"
            startup.mkdir(parents=True, exist_ok=True)
            seed_matplotlib_config(run_dir / "home")
            (run_dir / "guard.json").write_text(json.dumps(guard_config))
            (startup / "00-lstm-course-guard.py").write_text(
                GUARD_STARTUP.format(path=str(run_dir / "guard.json"))
            )
            self.km = SandboxKernelManager(
                sandbox=None,
                kernel_log=str(run_dir / "kernel.log"),
                cgroup_procs=list(self.cgroup_procs),
                extra_env={
                    "HOME": str(run_dir / "home"),
                    "IPYTHONDIR": str(ipython_dir),
                    "NBGRADER_EXECUTION": "autograde",
                    "PYTHONHASHSEED": "0",
                },
                config=self.config,
            )
        return self.km

    # -- the run --------------------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        limits = self._limits()
        Path(self.run_dir).mkdir(parents=True, exist_ok=True)
        self._test_hashes = [source_hash(c.source) for c in nb.cells if c.cell_type == "code" and is_grade(c)]
        self._events: list[dict] = []
        self._stop: str | None = None
        self._output_used = 0
        self._cut_cells: set[int] = set()
        self._kept: dict[int, int] = {}
        self._timed_out: int | None = None
        self._cell_timeout = limits.cell_timeout
        begin = self.start_time or time.monotonic()
        self._deadline = begin + limits.submission_timeout
        t0 = self._t0 = time.monotonic()
        self._kernel_ready = None
        try:
            return super().preprocess(nb, resources, km=None)
        except Exception as err:
            if not self._stop:
                self._event("error", None, f"{type(err).__name__}: {err}")
            raise
        finally:
            self._write_report(time.monotonic() - t0)

    def preprocess_cell(self, cell, resources, index):
        if self._kernel_ready is None:
            self._kernel_ready = time.monotonic() - self._t0
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if self._stop:
            self._not_run(cell)
            return cell, self.resources
        remaining = self._deadline - time.monotonic()
        if remaining < 1:
            self._stop = "submission_timeout"
            self._event("submission_timeout", index, cell_label(cell, index))
            self._not_run(cell)
            return cell, self.resources
        limits = self._limits()
        self._cell_timeout = max(1, int(min(limits.cell_timeout, remaining)))
        self._current = (index, cell)
        self._timed_out = None
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            self._stop_at(
                "kernel_died", index, cell, "KernelDied",
                "The kernel stopped while running this cell (the process exited, crashed, or hit the "
                f"memory limit of {limits.memory / 2**30:g} GiB); later cells were not run.",
            )
        except CellTimeoutError:
            self._kill(index, cell)
        else:
            if self._timed_out is not None and not self._kernel_recovers():
                self._kill(index, cell)
        return cell, self.resources

    def _stop_at(self, kind: str, index, cell, ename: str, message: str) -> None:
        """End the run at this cell: record why, and show it as the cell's error output."""
        self._stop = kind
        self._event(kind, index, cell_label(cell, index))
        cell.outputs.append(_error(ename, message))

    def _kill(self, index, cell) -> None:
        self._stop_at(
            "unresponsive", index, cell, "CellTimeoutError",
            "This cell did not stop when interrupted; the kernel was stopped and later cells were not run.",
        )
        try:
            self._run_async(self.km.shutdown_kernel(now=True))
        except Exception:  # noqa: BLE001 - it is being killed anyway
            pass

    def _run_async(self, coro):
        from jupyter_core.utils import run_sync

        async def wrapper():
            return await coro

        return run_sync(wrapper)()

    def _kernel_recovers(self) -> bool:
        """After an interrupt: does the kernel answer a no-op within the grace period?"""

        async def probe() -> bool:
            msg_id = self.kc.execute("pass", silent=True, store_history=False)
            deadline = time.monotonic() + INTERRUPT_GRACE_S
            while time.monotonic() < deadline:
                try:
                    msg = await self.kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
                except Exception:  # noqa: BLE001 - queue.Empty: no reply yet
                    if not await self.kc.is_alive():
                        return False
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
            return False

        try:
            return bool(self._run_async(probe()))
        except Exception:  # noqa: BLE001
            return False

    def _get_timeout(self, cell):
        return self._cell_timeout

    async def _async_handle_timeout(self, timeout, cell=None):
        index = self._current[0] if getattr(self, "_current", None) else None
        self._timed_out = index
        budget = self._deadline - time.monotonic() < 1
        if budget:
            self._stop = "submission_timeout"
        kind = "submission_timeout" if budget else "cell_timeout"
        self._event(kind, index, cell_label(cell, index) if cell is not None else "?", seconds=timeout)
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        size = _output_size(msg)
        limit = self._limits().output
        if self._output_used + size > limit:
            if cell_index not in self._cut_cells:
                self._cut_cells.add(cell_index)
                cell = self.nb.cells[cell_index]
                self._event("output_cut", cell_index, cell_label(cell, cell_index), mib=limit / 2**20)
                outs.append(
                    NotebookNode(
                        output_type="stream",
                        name="stdout",
                        text=(
                            f"\n[output cut: the notebook sent more than {limit / 2**20:g} MiB of output; "
                            "this cell was stopped]\n"
                        ),
                    )
                )
                asyncio.ensure_future(self.km.interrupt_kernel())
            if self._decides_grade(msg, cell_index) and self._kept.get(cell_index, 0) < 3:
                self._kept[cell_index] = self._kept.get(cell_index, 0) + 1
                # Never drop what decides a test's points (nbgrader gives full marks to a test
                # cell without an error): keep errors, stderr and results of test cells, shortened.
                return super().output(outs, _shortened(msg), display_id, cell_index)
            return None
        self._output_used += size
        return super().output(outs, msg, display_id, cell_index)

    def _decides_grade(self, msg: dict, cell_index: int) -> bool:
        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        if not is_grade(self.nb.cells[cell_index]):
            return False
        return kind in ("error", "execute_result") or (
            kind == "stream" and msg.get("content", {}).get("name") == "stderr"
        )

    # -- bookkeeping ----------------------------------------------------------------------
    def _not_run(self, cell) -> None:
        if is_grade(cell):
            why = {
                "kernel_died": "the kernel had stopped in an earlier cell",
                "unresponsive": "an earlier cell did not stop when interrupted",
                "submission_timeout": "the notebook used up its time limit",
            }.get(self._stop, "grading stopped early")
            cell.outputs = [_error("NotRun", f"This test did not run because {why}.")]

    def _event(self, kind: str, index, label: str, **extra) -> None:
        self._events.append({"kind": kind, "cell": index, "label": label, **extra})

    def _write_report(self, seconds: float) -> None:
        if not self.report_path:
            return
        report = {
            "events": self._events,
            "stopped": self._stop,
            "execute_seconds": seconds,
            "kernel_start_seconds": self._kernel_ready,
        }
        Path(self.report_path).write_text(json.dumps(report, indent=1))


def _shortened(msg: dict, keep: int = 2000) -> dict:
    """A copy of an output message with its text cut to ``keep`` characters."""
    content = dict(msg.get("content", {}))
    if "text" in content:
        content["text"] = content["text"][:keep]
    if "evalue" in content:
        content["evalue"] = content["evalue"][:keep]
    if "traceback" in content:
        content["traceback"] = [line[:keep] for line in content["traceback"][-20:]]
    if "data" in content:
        content["data"] = {
            k: v[:keep] if isinstance(v, str) else v for k, v in content["data"].items() if k == "text/plain"
        }
    return {**msg, "content": content}


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
