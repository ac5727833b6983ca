"""Start the load-generating processes, give them one start time, watch their progress, merge their reports.

Every process is started through the harness's process registry (:mod:`keywords.daemon.registry`: run
markers, parent-death signal, stopped with the run) as ``python -m keywords.traffic.loadgen.worker``. The
driver waits until each has its connections and streams open, then sends every one the same ``t0`` (the
machine's monotonic clock), so arrival ``i`` is intended at ``t0 + i / rate`` whichever process sends it.
While they run, the calling thread merges their progress lines about every ``progress_s`` and hands a
:class:`~keywords.traffic.loadgen.progress.Progress` to ``on_progress``; when ``should_stop`` returns a reason,
every process is told to stop. Reader threads only store what the processes write; they never log.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from keywords.daemon.registry import registry, terminate
from keywords.errors import HarnessError
from keywords.traffic.loadgen.progress import Progress, merge
from keywords.traffic.loadgen.spec import WorkerReport, WorkerSpec
from keywords.traffic.open_model.plan import LoadPlan

ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 60.0
START_MARGIN_S = 0.1


class LoadGeneratorError(HarnessError):
    """A load-generating process failed to start or to report (its words and last stderr lines attached)."""


@dataclass
class _Proc:
    """One worker process and what it wrote (filled by reader threads)."""

    popen: subprocess.Popen
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    progress: dict | None = None
    report: WorkerReport | None = None
    error: str | None = None
    stderr: deque = field(default_factory=lambda: deque(maxlen=20))

    def send(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.popen.stdin.write(line + "\n")
            self.popen.stdin.flush()

    def read_stdout(self) -> None:
        for raw in self.popen.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                self.stderr.append(raw.rstrip())
                continue
            kind = msg.get("type")
            if kind == "ready":
                self.ready.set()
            elif kind == "progress":
                self.progress = msg
            elif kind == "result":
                self.report = WorkerReport.from_json(msg["report"])
            elif kind == "error":
                self.error = str(msg.get("message"))
                self.ready.set()
        self.done.set()
        self.ready.set()

    def read_stderr(self) -> None:
        for raw in self.popen.stderr:
            self.stderr.append(raw.rstrip())

    def why(self) -> str:
        tail = "\n".join(self.stderr)
        return f"{self.error or 'no report'} (exit {self.popen.poll()}){': ' + tail if tail else ''}"


@dataclass
class GeneratorOutcome:
    """What the processes did, before it is merged into a load result.

    Attributes:
        reports: One report per process, in process order.
        t0: The shared start (monotonic seconds).
        stopped_early: Why the run was stopped before its schedule ended (``None``: it ran to the end).
        last_progress: The last merged progress.
    """

    reports: list[WorkerReport]
    t0: float
    stopped_early: str | None = None
    last_progress: Progress | None = None


# What every process's spec takes from the plan as it is (the schedule is shared; connections are split).
_AS_PLANNED = ("kind", "rate", "arrivals", "subscribers", "prompt_text", "backlog", "late_ms", "max_start_lag_ms")
_AS_PLANNED += ("drain_s", "answer_permissions", "cpu_interval_s")


def worker_specs(
    plan: LoadPlan, port: int, token: str | None, session_ids: list[str], p99_bound_ms: float | None
) -> list[WorkerSpec]:
    """The spec of each process: the plan split between ``plan.processes`` processes.

    With sessions, a process follows the sessions it owns, so no process can have more processes than sessions.
    """
    processes = min(plan.processes, len(session_ids)) if session_ids else plan.processes
    per = max(1, math.ceil(plan.workers / processes))
    return [
        WorkerSpec(
            index=k,
            processes=processes,
            port=port,
            token=token,
            session_ids=list(session_ids),
            connections=per,
            p99_bound_ms=p99_bound_ms,
            **{name: getattr(plan, name) for name in _AS_PLANNED},
        )
        for k in range(processes)
    ]


def run_generator(
    specs: list[WorkerSpec],
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[Progress], str | None] | None = None,
    stop: threading.Event | None = None,
    progress_s: float = 1.0,
) -> GeneratorOutcome:
    """Run the processes of ``specs`` to the end of their schedule (or an early stop) and collect their reports.

    Args:
        specs: One spec per process (:func:`worker_specs`).
        on_progress: Called in this thread about every ``progress_s`` with the merged progress.
        should_stop: Called with each merged progress; a returned reason stops every process.
        stop: Set from anywhere to stop every process.
        progress_s: How often progress is merged.

    Raises:
        LoadGeneratorError: a process could not set up (e.g. a subscription was refused) or never reported.
    """
    reg = registry()
    env = reg.child_env(tag="loadgen")
    env["PYTHONPATH"] = str(ROOT)
    procs: list[_Proc] = []
    plan_planned = specs[0].arrivals if specs else 0
    spec0 = specs[0]
    bound_s = spec0.arrivals / spec0.rate + spec0.drain_s + spec0.max_start_lag_ms / 1000 + 60
    try:
        for spec in specs:
            popen = reg.spawn(
                [sys.executable, "-m", "keywords.traffic.loadgen.worker"],
                env=env,
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            popen.stdin = _text(popen.stdin, "w")
            popen.stdout = _text(popen.stdout, "r")
            popen.stderr = _text(popen.stderr, "r")
            proc = _Proc(popen)
            procs.append(proc)
            threading.Thread(target=proc.read_stdout, name=f"loadgen-out-{spec.index}", daemon=True).start()
            threading.Thread(target=proc.read_stderr, name=f"loadgen-err-{spec.index}", daemon=True).start()
            proc.send(spec.dumps())
        deadline = time.monotonic() + READY_TIMEOUT_S
        for proc in procs:
            if not proc.ready.wait(max(0.0, deadline - time.monotonic())) or proc.error or proc.done.is_set():
                raise LoadGeneratorError(f"A load-generating process did not get ready: {proc.why()}")
        t0 = time.monotonic() + START_MARGIN_S
        for proc in procs:
            proc.send(f"go {t0!r}")
        outcome = GeneratorOutcome(reports=[], t0=t0)
        end_by = t0 + bound_s
        next_progress = t0 + progress_s
        previous: Progress | None = None
        while not all(p.done.is_set() for p in procs) and time.monotonic() < end_by:
            time.sleep(0.05)
            now = time.monotonic()
            if now >= next_progress:
                next_progress = now + progress_s
                previous = merge([p.progress for p in procs], plan_planned, now - t0, previous)
                outcome.last_progress = previous
                if on_progress is not None:
                    on_progress(previous)
                reason = should_stop(previous) if should_stop is not None and outcome.stopped_early is None else None
                if reason is not None:
                    outcome.stopped_early = reason
            if outcome.stopped_early is None and stop is not None and stop.is_set():
                outcome.stopped_early = "stopped by the caller"
            if outcome.stopped_early is not None:
                for proc in procs:
                    proc.send("stop")
        for proc in procs:
            proc.done.wait(max(0.0, end_by - time.monotonic()))
            if proc.report is None:
                raise LoadGeneratorError(f"A load-generating process ended without its report: {proc.why()}")
            outcome.reports.append(proc.report)
        return outcome
    finally:
        for proc in procs:
            proc.send("stop")
            with contextlib.suppress(OSError, ValueError):
                proc.popen.stdin.close()
        alive = []
        for proc in procs:
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                alive.append(proc.popen.pid)
        if alive:
            import psutil

            terminate([psutil.Process(pid) for pid in alive if psutil.pid_exists(pid)], grace_s=2.0)
        for proc in procs:
            reg.release(proc.popen)


def _text(stream, mode: str):
    import io

    if mode == "w":
        return io.TextIOWrapper(stream, encoding="utf-8", line_buffering=True)
    return io.TextIOWrapper(stream, encoding="utf-8")
