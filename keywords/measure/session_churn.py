"""C9 / C10: sessions created and closed back to back - throughput in a window, and churn with RSS drift.

Failed operations are counted, not raised, and keep their texts (the first few distinct ones with their
counts), so a figure says what failed. While a throughput window runs, :class:`AgentWatcher` records every
agent child of the daemon, recognised by the process tree's one rule (``snapshot_tree(...).agent_pids``: a
tree member whose parent is the daemon, or whose parent is not in the tree), so the window is labelled by
whether the agent child was respawned.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psutil

from keywords.checks import seconds, whole_number
from keywords.measure import metrics
from keywords.measure.bench_common import (
    FailureText,
    Target,
    close_quietly,
    error_text,
    failure_figures,
    failure_line,
    tally_failures,
)
from keywords.measure.process_tree import snapshot_tree
from keywords.measure.tree_rss import TreeRss, measure_tree_rss

MAX_WINDOW_S = 600.0
MAX_FAILED_OPS = 1000
MAX_ROUNDS = 10000
MAX_ANCHORS = 100
RSS_SETTLE_S = 0.5


@dataclass
class ThroughputWindow:
    """Create+close operations in a fixed window.

    Attributes:
        mode: ``anchored`` or ``unanchored``.
        ops: Completed create+close operations.
        window_s: Window length.
        ops_per_sec: ``ops / window_s`` (2 decimals).
        failures: Failed operations.
        failure_texts: The first distinct error texts of the failed operations, with their counts.
        agent_spawns: Agent children that started during the window (from the process tree).
        agent_pids: Pids of the agent children seen during the window.
        label: What the window really measured (respawned or not).
    """

    mode: str
    ops: int
    window_s: float
    ops_per_sec: float
    failures: int
    failure_texts: list[FailureText]
    agent_spawns: int
    agent_pids: list[int]
    label: str

    def figures(self) -> dict[str, Any]:
        """``opsPerSec``, ``totalOps``, ``failures``, ``failureTexts``, agent spawns and the label."""
        return {
            "opsPerSec": self.ops_per_sec,
            "totalOps": self.ops,
            **failure_figures(self.failures, self.failure_texts),
            "agentSpawns": self.agent_spawns,
            "agentChildRespawned": self.agent_spawns > 0,
            "label": self.label,
        }

    def line(self) -> str:
        """``anchored 25.3 ops/s (…label…) · 0 failed``."""
        return (
            f"{self.mode} {self.ops_per_sec} ops/s ({self.label}) · {failure_line(self.failures, self.failure_texts)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form: mode and window length with the figures."""
        return {"mode": self.mode, "windowS": self.window_s, **self.figures()}


@dataclass
class ChurnResult:
    """Session churn with RSS drift.

    Attributes:
        latency: Per completed create+close round (ms).
        rounds: Rounds done.
        failures: Failed rounds.
        failure_texts: The first distinct error texts of the failed rounds, with their counts.
        before: Tree RSS before.
        after: Tree RSS after.
        drift_mb: ``after.total - before.total`` (1 decimal).
    """

    latency: metrics.LatencySummary
    rounds: int
    failures: int
    failure_texts: list[FailureText]
    before: TreeRss
    after: TreeRss
    drift_mb: float

    @property
    def drift_size_mb(self) -> float:
        """The drift's size, whichever way the RSS moved (``abs(drift_mb)``)."""
        return abs(self.drift_mb)

    def figures(self) -> dict[str, Any]:
        """Round latency (percentiles, ms), failures with their texts, RSS before and after, the drift."""
        return {
            "roundMs": self.latency.to_dict(),
            "completedRounds": self.latency.count,
            **failure_figures(self.failures, self.failure_texts),
            "rssBefore": self.before.figures(),
            "rssAfter": self.after.figures(),
            "rssDriftMB": self.drift_mb,
        }

    def line(self) -> str:
        """``churn p50 … · RSS drift 3.1 MB (300.0 -> 303.1) · 0 failed``."""
        return (
            f"churn {self.latency.line()} · RSS drift {self.drift_mb} MB ({self.before.total} -> "
            f"{self.after.total}) · {failure_line(self.failures, self.failure_texts)}"
        )


# -- C9: throughput ---------------------------------------------------------------------------------------


def measure_create_close_throughput(
    target: Target, window: timedelta | float = 10.0, *, anchors: int = 0
) -> ThroughputWindow:
    """Create and close ``thread`` sessions back to back for ``window`` seconds (at most 600); count agent spawns.

    ``anchors`` sessions (0..100) stay open during the window (closed afterwards). Failed operations are
    counted with their texts, not raised (the loop stops after 1000 failures).

    Raises:
        HarnessConfigError: a bad window or anchor count (before the daemon is reached).
    """
    window_s = seconds("window", window, high=MAX_WINDOW_S)
    anchors = whole_number("anchors", anchors, low=0, high=MAX_ANCHORS)
    running = target()
    client = running.client
    held = [client.create_session("thread").session_id for _ in range(anchors)]
    watcher = AgentWatcher(running.daemon.pid).start()
    ops = 0
    failures: list[str] = []
    wall_started = time.time()
    end = time.monotonic() + window_s
    try:
        while time.monotonic() < end and len(failures) < MAX_FAILED_OPS:
            try:
                client.close_session(client.create_session("thread").session_id)
                ops += 1
            except Exception as exc:  # counted with its text, not raised
                failures.append(error_text(exc))
    finally:
        seen = watcher.stop()
        close_quietly(client, held)
    return throughput_window(anchors, ops, window_s, failures, seen, wall_started)


def throughput_window(
    anchors: int, ops: int, window_s: float, failures: list[str], seen: dict[int, float], wall_started: float
) -> ThroughputWindow:
    """The window's figures; agent children created (wall clock) at or after ``wall_started`` count as spawns.

    Args:
        anchors: Sessions held open (``anchored`` when > 0).
        ops: Completed create+close operations.
        window_s: Window length.
        failures: Error texts of the failed operations.
        seen: Agent pid -> creation time (epoch seconds) of every agent child seen.
        wall_started: Wall-clock start of the window (epoch seconds).
    """
    spawned = [pid for pid, created in seen.items() if created >= wall_started]
    mode = "anchored" if anchors else "unanchored"
    return ThroughputWindow(
        mode=mode,
        ops=ops,
        window_s=window_s,
        ops_per_sec=round(ops / window_s, 2),
        failures=len(failures),
        failure_texts=tally_failures(failures),
        agent_spawns=len(spawned),
        agent_pids=sorted(seen),
        label=throughput_label(mode, len(spawned)),
    )


def throughput_label(mode: str, spawns: int) -> str:
    """What a window really measured: whether the agent child was respawned (cold starts included) or not."""
    if spawns:
        return f"{mode}: the agent child was respawned {spawns} time(s) (cold starts included)"
    return f"{mode}: the agent child stayed up (no respawn; not a cold start)"


class AgentWatcher:
    """Records every agent child of a daemon (the process tree's rule), polling in a background thread.

    Args:
        daemon_pid: The daemon.
        marked: Further processes of the daemon (e.g. found by its environment markers), read once at start;
            an agent child re-parented away from the daemon is still found through them.
        interval_s: Polling interval.
        max_s: Bound on the polling thread's life.
    """

    def __init__(
        self,
        daemon_pid: int,
        marked: Iterable[psutil.Process] = (),
        interval_s: float = 0.05,
        max_s: float = 900.0,
    ) -> None:
        self.daemon_pid = daemon_pid
        self.marked = list(marked)
        self.interval_s = interval_s
        self.max_s = max_s
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"agents-{daemon_pid}", daemon=True)

    def start(self) -> AgentWatcher:
        """Read the tree once, then keep polling in a background thread (bounded by ``max_s``)."""
        self._poll()
        self._thread.start()
        return self

    def _poll(self) -> None:
        for pid in snapshot_tree(self.daemon_pid, self.marked).agent_pids:
            if pid not in self.seen:
                with contextlib.suppress(psutil.Error):
                    self.seen[pid] = psutil.Process(pid).create_time()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval_s) and time.monotonic() - started < self.max_s:
            self._poll()

    def stop(self) -> dict[int, float]:
        """Stop polling, read once more; returns agent pid -> creation time (epoch seconds)."""
        self._stop.set()
        self._thread.join(5.0)
        self._poll()
        return dict(self.seen)


# -- C10: churn -------------------------------------------------------------------------------------------


def measure_session_churn(target: Target, rounds: int = 20, *, anchors: int = 3) -> ChurnResult:
    """Hold ``anchors`` sessions (0..100), create+close ``rounds`` sessions (1..10000), read tree RSS around it.

    Failed rounds are counted with their texts, not raised. The anchor sessions are closed at the end.

    Raises:
        HarnessConfigError: a bad count (before the daemon is reached).
    """
    rounds = whole_number("rounds", rounds, low=1, high=MAX_ROUNDS)
    anchors = whole_number("anchors", anchors, low=0, high=MAX_ANCHORS)
    client = target().client
    held = [client.create_session("thread").session_id for _ in range(anchors)]
    try:
        before = measure_tree_rss(target, sessions=len(held), settle=RSS_SETTLE_S)
        latencies: list[float] = []
        failures: list[str] = []
        for _ in range(rounds):
            t0 = time.monotonic()
            try:
                client.close_session(client.create_session("thread").session_id)
                latencies.append((time.monotonic() - t0) * 1000)
            except Exception as exc:  # counted with its text, not raised
                failures.append(error_text(exc))
        after = measure_tree_rss(target, sessions=len(held), settle=RSS_SETTLE_S)
    finally:
        close_quietly(client, held)
    return churn_result(latencies, rounds, failures, before, after)


def churn_result(
    latencies_ms: Iterable[float], rounds: int, failures: list[str], before: TreeRss, after: TreeRss
) -> ChurnResult:
    """Churn figures; the drift is ``after.total - before.total`` (MB, 1 decimal)."""
    return ChurnResult(
        latency=metrics.summarize(latencies_ms, "churn round"),
        rounds=rounds,
        failures=len(failures),
        failure_texts=tally_failures(failures),
        before=before,
        after=after,
        drift_mb=round(after.total - before.total, 1),
    )
