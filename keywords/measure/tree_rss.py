"""C4 (and the readings around C10): the daemon's process-tree RSS with its daemon / agent / MCP breakdown.

The reading is one :func:`keywords.measure.process_tree.snapshot_tree` of the daemon and the processes that
carry its markers, taken after a settle time, with the MCP servers declared in the daemon's HOME; what
counts as the agent or an MCP server is the process tree's one rule.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.measure.bench_common import Target
from keywords.measure.process_tree import TreeSnapshot, declared_mcp_servers, snapshot_tree
from keywords.measure.session_steps import check_scope, check_session_counts, count_key, open_sessions_until, plural

MAX_SETTLE_S = 30.0
FIGURE_KEYS = {
    "total": "treeRssMB",
    "daemon": "daemonRssMB",
    "agent": "agentsRssMB",
    "mcp": "mcpServersRssMB",
    "agents": "agents",
    "descendants": "agentDescendants",
    "mcp_processes": "mcpServers",
}
"""Field of a reading -> its figure key (the keys of :meth:`TreeSnapshot.figures`)."""


@dataclass
class TreeRss:
    """A tree RSS reading with its breakdown (MB).

    Attributes:
        sessions: Sessions open when read (as the caller said; not checked).
        total: Whole tree.
        daemon: The daemon process.
        agent: The agent child(ren).
        mcp: The MCP servers and their children; ``None`` when the tree has no MCP server.
        agents: Number of agent children.
        descendants: Number of processes below the agents (MCP servers included).
        mcp_processes: Number of processes that run a declared MCP server, or run below one
            (``len(snap.mcp_pids)``); ``None`` when no MCP server was declared.
    """

    sessions: int
    total: float
    daemon: float
    agent: float
    mcp: float | None
    agents: int
    descendants: int
    mcp_processes: int | None = None

    @classmethod
    def of(cls, snap: TreeSnapshot, sessions: int) -> TreeRss:
        """From a process-tree snapshot."""
        total, daemon, agent = (round(mb, 1) for mb in (snap.total_rss_mb, snap.daemon_rss_mb, snap.agents_rss_mb))
        mcp = None if snap.mcp_rss_mb is None else round(snap.mcp_rss_mb, 1)
        mcp_processes = len(snap.mcp_pids) if snap.mcp_declared else None
        return cls(sessions, total, daemon, agent, mcp, snap.agent_count, len(snap.descendant_pids), mcp_processes)

    def figures(self) -> dict[str, Any]:
        """``treeRssMB``, ``daemonRssMB``, ``agentsRssMB``, ``mcpServersRssMB`` (``None`` without MCP servers),
        ``agents``, ``agentDescendants`` and ``mcpServers`` (counts; ``mcpServers`` is ``None`` when no MCP
        server was declared), named as the process tree's own figures."""
        return {key: getattr(self, name) for name, key in FIGURE_KEYS.items()}

    def line(self) -> str:
        """``total=<x>MB (daemon=… acp=… mcp=…)`` as upstream."""
        mcp = "none" if self.mcp is None else self.mcp
        return f"total={self.total}MB (daemon={self.daemon} acp={self.agent} mcp={mcp})"

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form: the sessions open at the reading and its figures."""
        return {"sessions": self.sessions, **self.figures()}


def measure_tree_rss(target: Target, *, sessions: int = 0, settle: timedelta | float = 1.0) -> TreeRss:
    """The daemon's tree RSS with its breakdown, read after ``settle`` seconds (0..30).

    Raises:
        HarnessConfigError: ``sessions`` or ``settle`` out of range (before anything is read).
    """
    sessions = whole_number("sessions", sessions, low=0)
    settle_s = seconds("settle", settle, high=MAX_SETTLE_S, allow_zero=True)
    if settle_s > 0:
        time.sleep(settle_s)
    d = target().daemon
    return TreeRss.of(snapshot_tree(d.pid, d.tree(), mcp_servers=declared_mcp_servers(d.home)), sessions)


@dataclass
class TreeRssSeries:
    """Tree RSS readings at growing numbers of open sessions (C4).

    Attributes:
        readings: One reading per session count, in order (at least one).
    """

    readings: list[TreeRss]

    @property
    def first(self) -> TreeRss:
        """The reading at the smallest session count."""
        return self.readings[0]

    @property
    def last(self) -> TreeRss:
        """The reading at the largest session count."""
        return self.readings[-1]

    @property
    def growth_per_session_mb(self) -> float | None:
        """``(last.total - first.total) / (last.sessions - first.sessions)`` (MB, 1 decimal); ``None`` with one
        reading."""
        sessions = self.last.sessions - self.first.sessions
        if sessions <= 0:
            return None
        return round((self.last.total - self.first.total) / sessions, 1)

    def figures(self) -> dict[str, Any]:
        """One reading per count (``daemon1Session``, ``daemon5Sessions``...: sessions and the tree's figures)
        and ``growthPerSessionMB``."""
        out: dict[str, Any] = {count_key("daemon", r.sessions): r.to_dict() for r in self.readings}
        out["growthPerSessionMB"] = self.growth_per_session_mb
        return out

    def line(self) -> str:
        """``1 session total=…MB (…) · 5 sessions total=… · growth 4.2 MB/session``."""
        parts = [f"{plural(r.sessions)} {r.line()}" for r in self.readings]
        return " · ".join([*parts, f"growth {self.growth_per_session_mb} MB/session"])


def measure_tree_rss_at(
    target: Target, counts: Iterable[Any], *, settle: timedelta | float = 1.0, scope: str = "thread"
) -> TreeRssSeries:
    """Open sessions up to each of ``counts`` (rising, e.g. 1 5 10) and read the tree RSS at each.

    The sessions are left open (the daemon's stop closes them).

    Raises:
        HarnessConfigError: bad counts, settle or scope (before any session is opened).
    """
    steps = check_session_counts(counts)
    seconds("settle", settle, high=MAX_SETTLE_S, allow_zero=True)
    scope = check_scope(scope)
    client = target().client
    opened: list[str] = []
    readings = []
    for count in steps:
        open_sessions_until(client, opened, count, scope)
        readings.append(measure_tree_rss(target, sessions=count, settle=settle))
    return TreeRssSeries(readings)
