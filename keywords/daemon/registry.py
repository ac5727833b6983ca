"""One owner for every process and temporary folder the harness creates.

Every child process gets two environment markers (the run id and the owner pid). Stop paths:

* normal: :meth:`Registry.stop_all` (suite teardown, ``atexit``);
* the owner dies, even by SIGKILL: a watchdog process (own session) notices within a fraction of a second
  and kills everything carrying the run marker, then removes the run's temporary root;
* the daemon itself also gets ``PR_SET_PDEATHSIG`` so it dies with the process that spawned it;
* a later run sweeps leftovers of runs whose owner is gone (belt and braces).

The agent children run in their own session and process group, so they are found by marker, not by group.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import psutil

RUN_MARKER = "QWEN_HARNESS_RUN"
OWNER_MARKER = "QWEN_HARNESS_OWNER_PID"
TAG_MARKER = "QWEN_HARNESS_TAG"
ROOT_PREFIX = "qwen-harness-"
_PR_SET_PDEATHSIG = 1


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _marker_of(proc: psutil.Process) -> tuple[str | None, str | None, str | None]:
    try:
        env = proc.environ()
    except (psutil.Error, OSError):
        return None, None, None
    return env.get(RUN_MARKER), env.get(OWNER_MARKER), env.get(TAG_MARKER)


def processes_with_marker(run_id: str, tag: str | None = None) -> list[psutil.Process]:
    """Processes whose environment carries ``run_id`` (and ``tag`` when given), excluding this one."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        run, _owner, ptag = _marker_of(proc)
        if run == run_id and (tag is None or ptag == tag):
            found.append(proc)
    return found


def describe(proc: psutil.Process) -> str:
    """``<pid> <command>`` of a process (the command cut at 120 characters; ``?`` when it cannot be read).

    A process whose command line reads empty (one being created or ending) is named by its executable's name.
    """
    try:
        command = " ".join(proc.cmdline())[:120] or f"[{proc.name()}]"
    except psutil.Error:
        return f"{proc.pid} ?"
    return f"{proc.pid} {command}"


def terminate(procs: Iterable[psutil.Process], grace_s: float = 3.0) -> list[int]:
    """SIGTERM every process, wait up to ``grace_s``, then SIGKILL what is left.

    Returns:
        The pids that had to be killed with SIGKILL.
    """
    procs = [p for p in procs if p.is_running()]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=2.0)
    return [p.pid for p in alive]


class Registry:
    """Tracks processes and temp folders of one harness run (one per interpreter)."""

    def __init__(self) -> None:
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.root = Path(tempfile.gettempdir()) / f"{ROOT_PREFIX}{self.run_id}"
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._watchdog: subprocess.Popen | None = None
        self._counter = 0
        self.swept: list[str] = []

    # -- environment -------------------------------------------------------------------------------
    def child_env(self, base: dict[str, str] | None = None, tag: str = "") -> dict[str, str]:
        """Environment for a child: ``base`` (default ``os.environ``) plus the run markers."""
        env = dict(os.environ if base is None else base)
        env[RUN_MARKER] = self.run_id
        env[OWNER_MARKER] = str(os.getpid())
        env[TAG_MARKER] = tag
        return env

    # -- temp folders ------------------------------------------------------------------------------
    def make_dir(self, label: str) -> Path:
        """A fresh folder under this run's temporary root (removed when the run ends)."""
        self._ensure_started()
        with self._lock:
            self._counter += 1
            n = self._counter
        path = self.root / f"{n:03d}-{label}"
        path.mkdir(parents=True)
        return path

    # -- processes ---------------------------------------------------------------------------------
    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: str | os.PathLike | None = None,
        stdout=None,
        stderr=None,
        stdin=subprocess.DEVNULL,
        pdeathsig: bool = True,
    ) -> subprocess.Popen:
        """Start a child that this registry owns until :meth:`release` or :meth:`stop_all`."""
        self._ensure_started()
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=_set_pdeathsig if pdeathsig and sys.platform.startswith("linux") else None,
        )
        with self._lock:
            self._procs[proc.pid] = proc
        return proc

    def release(self, proc: subprocess.Popen) -> None:
        """Forget a process that has been stopped."""
        with self._lock:
            self._procs.pop(proc.pid, None)

    def stop_all(self, grace_s: float = 3.0) -> list[int]:
        """Stop every tracked process and everything carrying this run's marker; remove temp folders.

        Returns:
            Pids that needed SIGKILL.
        """
        with self._lock:
            tracked = list(self._procs.values())
            self._procs.clear()
        procs: dict[int, psutil.Process] = {}
        for popen in tracked:
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(popen.pid)
                procs[parent.pid] = parent
                for child in parent.children(recursive=True):
                    procs[child.pid] = child
        for proc in processes_with_marker(self.run_id):
            if self._watchdog is None or proc.pid != self._watchdog.pid:
                procs.setdefault(proc.pid, proc)
        killed = terminate(procs.values(), grace_s) if procs else []
        for popen in tracked:
            with contextlib.suppress(Exception):
                popen.wait(timeout=1)
        shutil.rmtree(self.root, ignore_errors=True)
        return killed

    def shutdown(self) -> None:
        """Final stop at interpreter exit: everything, then the watchdog."""
        self.stop_all(grace_s=2.0)
        if self._watchdog is not None and self._watchdog.poll() is None:
            self._watchdog.terminate()
            with contextlib.suppress(Exception):
                self._watchdog.wait(timeout=2)

    # -- start-up ----------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._watchdog is not None:
            return
        self.swept = sweep_leftovers()
        self.root.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in (RUN_MARKER, OWNER_MARKER, TAG_MARKER)}
        self._watchdog = subprocess.Popen(
            [sys.executable, "-m", "keywords.daemon.watchdog", str(os.getpid()), self.run_id, str(self.root)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        atexit.register(self.shutdown)


def sweep_leftovers() -> list[str]:
    """Kill processes and remove temp roots left by earlier runs whose owner process is gone.

    Returns:
        A description of each thing removed (empty when nothing was left behind).
    """
    removed: list[str] = []
    stale: list[psutil.Process] = []
    for proc in psutil.process_iter():
        run, owner, _tag = _marker_of(proc)
        if run and owner and owner.isdigit() and not _alive(int(owner), run):
            stale.append(proc)
            removed.append(f"process {proc.pid} of run {run}")
    if stale:
        terminate(stale, grace_s=2.0)
    tmp = Path(tempfile.gettempdir())
    for root in tmp.glob(f"{ROOT_PREFIX}*"):
        owner = root.name[len(ROOT_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner), root.name[len(ROOT_PREFIX) :]):
            shutil.rmtree(root, ignore_errors=True)
            removed.append(f"folder {root}")
    return removed


def _alive(pid: int, run_id: str) -> bool:
    """Whether the owner of ``run_id`` still runs (pid reuse is checked by create time vs. run root)."""
    if pid == os.getpid():
        return True
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return False
    root = Path(tempfile.gettempdir()) / f"{ROOT_PREFIX}{run_id}"
    with contextlib.suppress(OSError):
        if proc.create_time() > root.stat().st_mtime + 1:
            return False
    return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry (created on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY
