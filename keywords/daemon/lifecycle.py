"""Stopping and restarting a running daemon, and what it did, as results that carry their own figures.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from keywords.context import RunningDaemon
from keywords.daemon.registry import describe, terminate
from keywords.reporting.figures import shown
from keywords.traffic.client import DaemonClient

PREHEAT_TIMEOUT_MS = 60000
STREAM_JOIN_S = 5.0


@dataclass(frozen=True)
class StopResult:
    """How a daemon stopped.

    Attributes:
        daemon: The daemon's name (``daemon-2``).
        signal_name: The first signal sent: TERM, INT, HUP or KILL.
        exit_code: Exit status (negative: killed by that signal); ``None`` when it was not running.
        stop_ms: Signal to process exit, monotonic clock, ms; ``None`` when it had already ended.
        killed: Pids of its tree that had to be SIGKILLed after the daemon exited.
        leftovers: Pids of its tree still alive after the stop (should be empty; they were killed then).
        leftover_processes: ``<pid> <command>`` of each leftover, for the failure message.
    """

    daemon: str
    signal_name: str
    exit_code: int | None
    stop_ms: float | None
    killed: list[int]
    leftovers: list[int]
    leftover_processes: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """``exitCode``, ``stopMs`` (``None``: not measured), ``killedCount`` and ``leftoverCount``."""
        return {
            "exitCode": self.exit_code,
            "stopMs": None if self.stop_ms is None else round(self.stop_ms, 1),
            "killedCount": len(self.killed),
            "leftoverCount": len(self.leftovers),
        }

    def line(self) -> str:
        """One line: exit code, time to exit, what had to be killed and what was left."""
        took = shown(self.stop_ms, ".0f", " ms")
        left = ", ".join(self.leftover_processes) or "nothing"
        return (
            f"{self.daemon} stopped by SIG{self.signal_name}: exit {self.exit_code} after {took}; "
            f"killed {len(self.killed)} process(es); left {left}"
        )


@dataclass(frozen=True)
class RestartResult:
    """A daemon started again on the same HOME and workspace.

    Attributes:
        daemon: The daemon's name.
        generation: Which process of the daemon this is (2 after the first restart).
        pid: The new process's pid.
        previous_pid: The pid of the process before it.
        boot_ms: Spawn to listening line of the new process, monotonic clock, ms.
        base_url: Its new base URL.
    """

    daemon: str
    generation: int
    pid: int
    previous_pid: int
    boot_ms: float
    base_url: str

    def figures(self) -> dict[str, Any]:
        """``generation`` and ``restartBootMs``."""
        return {"generation": self.generation, "restartBootMs": round(self.boot_ms, 1)}

    def line(self) -> str:
        """``daemon-1 restarted (process 2, pid 123) in 850 ms``."""
        return f"{self.daemon} restarted (process {self.generation}, pid {self.pid}) in {self.boot_ms:.0f} ms"


def close_streams(running: RunningDaemon) -> None:
    """Stop the daemon's open subscriptions and wait (bounded) for their readers to end."""
    for sub in running.subscriptions:
        sub.stop()
    for sub in running.subscriptions:
        sub.join(STREAM_JOIN_S)


def stop(running: RunningDaemon, sig: int, grace_s: float) -> StopResult:
    """Close its streams, signal the daemon, kill whatever of its tree is left, and discard its HOME."""
    close_streams(running)
    daemon = running.daemon
    code = daemon.stop(grace_s=grace_s, sig=sig)
    survivors = daemon.tree()
    described = [describe(p) for p in survivors]
    if survivors:
        terminate(survivors, grace_s=2.0)
    daemon.discard_home()
    return StopResult(
        daemon=daemon.name,
        signal_name=signal.Signals(sig).name.removeprefix("SIG"),
        exit_code=code,
        stop_ms=None if daemon.stop_s is None else daemon.stop_s * 1000,
        killed=list(daemon.killed_pids),
        leftovers=[p.pid for p in survivors],
        leftover_processes=described,
    )


def restart(running: RunningDaemon, *, preheat: bool = False) -> RestartResult:
    """Start a new process of the daemon on the same HOME, and point the running daemon's client at it."""
    close_streams(running)
    running.subscriptions.clear()
    daemon = running.daemon
    previous = daemon.pid
    running.client.close()
    daemon.restart()
    client = DaemonClient(daemon.base_url, token=daemon.spec.token)
    daemon.on_stop(client.close)
    running.client = client
    if preheat:
        client.preheat(timeout_ms=PREHEAT_TIMEOUT_MS)
    return RestartResult(
        daemon.name, daemon.generation, int(daemon.pid or 0), int(previous or 0), daemon.boot_s * 1000,
        daemon.base_url,
    )  # fmt: skip
