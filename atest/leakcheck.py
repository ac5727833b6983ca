"""Helpers for the leak tests: run ``robot`` in a subprocess and find every process and folder it started.

A run's processes are recognised by the owner marker the registry puts into every child's environment
(``QWEN_HARNESS_OWNER_PID`` = the robot process's pid); its watchdog by its command line; its temporary
root by the ``qwen-harness-<robot pid>-`` prefix under the run's private ``TMPDIR``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from keywords.daemon.registry import OWNER_MARKER, ROOT_PREFIX, RUN_MARKER, TAG_MARKER

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROBOT = str(Path(sys.executable).with_name("robot"))


def kind_of(cmdline: list[str]) -> str:
    """A short name for a harness process from its command line."""
    text = " ".join(cmdline)
    for needle, kind in (
        ("keywords.daemon.watchdog", "watchdog"),
        ("cli-entry.js serve", "daemon"),
        ("launcher.cjs", "launcher"),
        ("mock_acp/agent.py", "mock agent"),
        ("idle_mcp", "mcp server"),
        ("provider", "fake provider"),
        ("--acp", "agent child"),
    ):
        if needle in text:
            return kind
    return "other"


@dataclass
class Seen:
    """A process of the run, as first seen."""

    pid: int
    create_time: float
    kind: str
    cmdline: str

    def alive(self) -> bool:
        """Still running (same pid and start time, not a zombie)."""
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.create_time and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def run_processes(owner_pid: int) -> list[psutil.Process]:
    """Live processes carrying ``owner_pid`` as their owner marker, plus the run's watchdog."""
    found = []
    for proc in psutil.process_iter():
        try:
            cmd = proc.cmdline()
            if "keywords.daemon.watchdog" in cmd and str(owner_pid) in cmd:
                found.append(proc)
                continue
            if proc.environ().get(OWNER_MARKER) == str(owner_pid):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return [p for p in found if _not_zombie(p)]


def _not_zombie(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class RobotRun:
    """A ``robot`` subprocess with its own output folder and ``TMPDIR``, and a sampler of its processes."""

    args: list[str]
    outdir: Path
    tmpdir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    seen: dict[int, Seen] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RobotRun:
        """Spawn robot (own session, so only the signals we send reach it) and start sampling."""
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in (RUN_MARKER, OWNER_MARKER, TAG_MARKER)}
        env.update(TMPDIR=str(self.tmpdir), PYTHONUNBUFFERED="1", **self.env_extra)
        with open(self.outdir / "console.txt", "wb") as console:
            self.proc = subprocess.Popen(
                [ROBOT, "--outputdir", str(self.outdir), "--console", "verbose", *self.args],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def sample(self) -> None:
        """Record every process of the run alive now.

        A process caught between its fork and its exec still shows its parent's command line (a launcher
        first looks like the daemon that forks it), so a process already seen is classified again while its
        command line changes. A process that is exiting shows an empty command line: that is not a change
        (the watchdog, seen as such, was once reclassified as "other" in its last moment).
        """
        for proc in run_processes(self.proc.pid):
            with contextlib.suppress(psutil.Error):
                cmd = proc.cmdline()
                if not cmd:
                    continue
                text = " ".join(cmd)[:200]
                known = self.seen.get(proc.pid)
                if known is None or (known.cmdline != text and known.create_time == proc.create_time()):
                    self.seen[proc.pid] = Seen(proc.pid, proc.create_time(), kind_of(cmd), text)

    def kinds_seen(self) -> set[str]:
        """Kinds of processes seen so far."""
        return {s.kind for s in list(self.seen.values())}

    def wait_for_kinds(self, kinds: set[str], timeout_s: float) -> bool:
        """Wait until processes of all these kinds have been seen (bounded)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if kinds <= self.kinds_seen():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the robot process."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def wait(self, timeout_s: float) -> int | None:
        """Wait for robot to exit; kill it (and fail later) if it does not within the bound."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            return None

    def stop_sampling(self) -> None:
        """Take a last sample and stop the sampler thread."""
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def alive(self) -> list[Seen]:
        """Processes of the run still alive (seen ones, and any still carrying its marker)."""
        for proc in run_processes(self.proc.pid):
            with contextlib.suppress(psutil.Error):
                if proc.pid not in self.seen:
                    cmd = proc.cmdline()
                    self.seen[proc.pid] = Seen(proc.pid, proc.create_time(), kind_of(cmd), " ".join(cmd)[:200])
        return [s for s in self.seen.values() if s.alive()]

    def roots(self) -> list[Path]:
        """The run's temporary roots still on disk."""
        return sorted(self.tmpdir.glob(f"{ROOT_PREFIX}{self.proc.pid}-*"))

    def console(self) -> str:
        """What robot printed."""
        with contextlib.suppress(OSError):
            return (self.outdir / "console.txt").read_text(errors="replace")
        return ""

    def kill_everything(self) -> None:
        """Last resort after a failed test: kill whatever of the run is left, remove its roots."""
        for seen in self.alive():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                os.kill(seen.pid, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def wait_until(predicate, timeout_s: float, interval_s: float = 0.05) -> float | None:
    """Poll until ``predicate()`` is true; return the seconds it took, or ``None`` on timeout."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started >= timeout_s:
            return None
        time.sleep(interval_s)


def describe(procs: list[Seen]) -> str:
    """Readable list for assertion messages."""
    return "; ".join(f"{s.kind} pid {s.pid}: {s.cmdline}" for s in procs) or "none"
