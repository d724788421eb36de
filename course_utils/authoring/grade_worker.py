"""Execute one grading notebook in a sandboxed kernel: ``python -m ...grade_worker < job.json``.

Runs in its own process (one per submission notebook), started by ``course_utils.authoring.grade``.
The job (read from stdin, so no path shows in the process list) names the merged notebook, the
kernel, its working folder and environment, and the limits. Each executed cell is appended at
once to an events file (JSON lines), so a run killed at the total time limit still leaves the
results of the cells that finished. Per-cell timeouts interrupt the cell and go on; a kernel that
ignores the interrupt or dies ends the run with a recorded reason.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from course_utils.authoring.grading_notebook import GRADER_META, read_result
from course_utils.fileio import atomic_file

TIMEOUT_ENAME = "CellTimeoutError"
PROBE_TIMEOUT = 5.0


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel through ``course_utils.authoring.sandbox``.

    With ``ipc_dir`` set (a bubblewrap sandbox: no network, not even loopback) the kernel's sockets
    are unix sockets in that folder, and interrupts travel as messages on the control channel (a
    signal to the sandbox's launcher would not reach the kernel in its own session)."""

    sandbox_prefix: list[str] = []
    ipc_dir: str = ""

    def use_ipc(self, folder: str) -> None:
        """Unix-socket transport in ``folder`` (shared with the sandbox), interrupts by message."""
        self.ipc_dir = folder
        self.transport = "ipc"
        self.ip = str(Path(folder) / "k")

    @property
    def kernel_spec(self) -> Any:
        """The kernel spec, with message interrupts when the kernel runs in a bubblewrap sandbox."""
        spec = AsyncKernelManager.kernel_spec.fget(self)  # type: ignore[attr-defined]
        if spec is not None and self.ipc_dir:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel's command line, prefixed with the sandbox wrapper."""
        return [*self.sandbox_prefix, *super().format_kernel_cmd(extra_arguments)]


class GradingClient(NotebookClient):
    """nbclient with a cap on the output kept per cell (output floods cost neither memory nor disk)."""

    def __init__(self, *args: Any, output_limit: int, sandbox_prefix: list[str], ipc_dir: str = "",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ipc_dir = ipc_dir
        self.output_limit = output_limit
        self.sandbox_prefix = sandbox_prefix
        self.output_bytes: dict[int, int] = {}
        self.truncated: set[int] = set()

    def create_kernel_manager(self) -> AsyncKernelManager:
        """A SandboxKernelManager for the forced kernel name."""
        km = SandboxKernelManager(kernel_name=self.kernel_name, config=self.config)
        km.sandbox_prefix = self.sandbox_prefix
        if self.ipc_dir:
            km.use_ipc(self.ipc_dir)
        self.km = km
        return km

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> Any:
        """Keep an output only while the cell is under its output budget; note the first cut."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self.output_bytes.get(cell_index, 0) + size
        self.output_bytes[cell_index] = used
        if used > self.output_limit and GRADER_META not in self.nb.cells[cell_index].metadata:
            if cell_index not in self.truncated:
                self.truncated.add(cell_index)
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr",
                    text=f"\n[course grader: output cut after {self.output_limit // 1024} KB]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, command name) of every process (Linux /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[3]), comm)
    return table


def sandbox_processes(root_pid: int) -> list[int]:
    """Every process of the sandbox under ``root_pid`` (the launcher), bubblewrap's own left out."""
    if not Path("/proc/self/stat").exists():
        return []
    table = _process_table()
    return _tree(root_pid, table)


def _tree(root_pid: int, table: dict[int, tuple[int, int, str]]) -> list[int]:
    """``root_pid`` and every process below it in ``table`` (``_process_table``), bubblewrap's left out."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _comm) in table.items():
        children.setdefault(ppid, []).append(pid)
    below, todo = [root_pid], [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            below.append(child)
            todo.append(child)
    return [p for p in below if p in table and table[p][2] != "bwrap"]


def detached_processes(root_pid: int) -> list[int]:
    """Processes started by the kernel (under ``root_pid``, the sandbox launcher) that left its session:
    a `setsid` + double fork meant to outlive the grader. Empty where /proc is missing."""
    if not Path("/proc/self/stat").exists():
        return []
    table = _process_table()
    tree = _tree(root_pid, table)
    if not tree:
        return []
    kernel_sid = table[tree[0]][1]
    return [p for p in tree[1:] if table[p][1] != kernel_sid]


def _error_of(cell: Any) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return str(out.get("ename", "")), str(out.get("evalue", ""))[:1000]
    return None


class Run:
    """One notebook run: executes cells in order and streams one event per cell."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.nb = nbformat.read(job["notebook"], as_version=4)
        self.events = open(job["events"], "a", encoding="utf-8")  # noqa: SIM115 - closed in finish()
        limits = job["limits"]
        self.cell_timeout = float(limits["cell_timeout"])
        self.deadline = time.monotonic() + float(limits["total_timeout"])
        self.client = GradingClient(
            self.nb, kernel_name=job["kernel"], allow_errors=True, interrupt_on_timeout=True,
            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell interrupted at its time limit",
                              "traceback": []},
            timeout_func=self._timeout, iopub_timeout=4, shutdown_kernel="immediate",
            resources={"metadata": {"path": job["cwd"]}}, record_timing=False,
            output_limit=int(limits["output_kb"]) * 1024, sandbox_prefix=job["sandbox_prefix"],
            ipc_dir=job.get("ipc_dir", ""))
        self.client.on_cell_executed = self._on_executed
        self.last_reply: dict[str, Any] | None = None

    def _timeout(self, cell: Any) -> int:
        remaining = self.deadline - time.monotonic()
        return max(1, int(min(self.cell_timeout, remaining)))

    def emit(self, **event: Any) -> None:
        """Append one event line and flush it to disk."""
        self.events.write(json.dumps(event, default=str) + "\n")
        self.events.flush()
        os.fsync(self.events.fileno())

    def _cell_event(self, index: int, cell: Any, seconds: float, reply: dict[str, Any] | None) -> bool:
        """Record one executed cell; return True when it hit its time limit."""
        meta = cell.metadata.get(GRADER_META)
        content = (reply or {}).get("content", {})
        timed_out = content.get("ename") == TIMEOUT_ENAME
        err = _error_of(cell)
        event: dict[str, Any] = {"event": "cell", "index": index, "seconds": round(seconds, 3),
                                 "timed_out": timed_out, "truncated": index in self.client.truncated,
                                 "error": list(err) if err else None}
        if meta:
            result, problem = read_result(cell, self.job["nonce"], meta["exercise"], meta["part"])
            event.update(kind="check", exercise=meta["exercise"], part=meta["part"], result=result,
                         problem=problem)
        else:
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            event.update(kind="student", first_line=first)
        self.emit(**event)
        return timed_out

    async def _responsive(self) -> bool:
        """After a timeout: does the kernel answer a trivial cell again (i.e. did the interrupt work)?"""
        probe = nbformat.v4.new_code_cell("pass")
        self.client.nb.cells.append(probe)
        index = len(self.client.nb.cells) - 1
        saved, self.cell_timeout = self.cell_timeout, PROBE_TIMEOUT
        self.last_reply = None
        try:
            await self.client.async_execute_cell(probe, index, store_history=False)
            reply = cast("dict[str, Any] | None", self.last_reply)   # set by the reply hook during the await
            status = (reply or {}).get("content", {}).get("status")
            return status == "ok"
        finally:
            self.cell_timeout = saved
            self.client.nb.cells.pop()

    async def execute(self) -> None:
        """Start the kernel, run every code cell, record why a run stopped early."""
        kernel_log = open(self.job["kernel_log"], "ab")  # noqa: SIM115 - closed below
        try:
            async with self.client.async_setup_kernel(env=self.job["env"], stdout=kernel_log,
                                                      stderr=kernel_log):
                self.emit(event="started", kernel=self.job["kernel"])
                await self._cells()
                self._report_detached()
        finally:
            kernel_log.close()

    async def _cells(self) -> None:
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if time.monotonic() >= self.deadline:
                self.emit(event="stopped", reason="total_timeout", index=index)
                return
            start = time.monotonic()
            self.last_reply = None
            try:
                await self.client.async_execute_cell(cell, index)
            except DeadKernelError:
                self._cell_event(index, cell, time.monotonic() - start, None)
                self.emit(event="stopped", reason="kernel_died", index=index)
                return
            timed_out = self._cell_event(index, cell, time.monotonic() - start, self.last_reply)
            self._stop_fork_bomb()
            if timed_out and not await self._responsive():
                self.emit(event="stopped", reason="kernel_stuck", index=index)
                return
        self.emit(event="finished")

    def _stop_fork_bomb(self) -> None:
        """After a cell: when the sandbox holds half its process allowance or more (a fork bomb whose
        processes wait), kill every process the kernel started, so that the rest of the notebook (and the
        threads its libraries start) can run; the count is recorded (a review flag)."""
        provisioner = getattr(self.client.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        limit = int(self.job.get("limits", {}).get("processes") or 0)
        if not pid or not limit:
            return
        tree = sandbox_processes(int(pid))
        if len(tree) < max(16, limit // 2):
            return
        for child in tree[1:]:   # tree[0] is the kernel (bubblewrap's own processes are not listed)
            with contextlib.suppress(OSError):
                os.kill(child, 9)
        self.emit(event="processes", count=len(tree))

    def _report_detached(self) -> None:
        """Record (and kill) processes the notebook detached from its kernel's session."""
        provisioner = getattr(self.client.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if not pid:
            return
        found = detached_processes(int(pid))
        self.emit(event="processes", count=len(sandbox_processes(int(pid))))
        for child in found:
            with contextlib.suppress(OSError):
                os.kill(child, 9)
        if found:
            self.emit(event="detached", count=len(found))

    def _on_executed(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        """nbclient hook: keep the execute reply (a timed-out cell's reply names the timeout)."""
        self.last_reply = execute_reply

    def finish(self) -> None:
        """Write the executed notebook (atomically) and close the events file."""
        try:
            with atomic_file(self.job["executed"], "w", encoding="utf-8") as f:
                nbformat.write(self.nb, f)
        finally:
            self.events.close()


def main() -> int:
    """Read the job from stdin and run it; the exit status is 0 when the run itself worked."""
    job = json.loads(sys.stdin.read())
    run = Run(job)
    try:
        asyncio.run(run.execute())
    except DeadKernelError:
        run.emit(event="stopped", reason="kernel_died", index=-1)
    except Exception as err:  # noqa: BLE001 - report any failure to start the kernel
        run.emit(event="stopped", reason="grader_error", message=f"{type(err).__name__}: {err}")
    finally:
        run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
