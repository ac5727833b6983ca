"""C4 (and the readings around C10): the daemon's process-tree RSS with its daemon / agent / MCP breakdown.

The reading is one :func:`keywords.measure.process_tree.snapshot_tree` of the daemon and the processes that
carry its markers, taken after a settle time, with the MCP servers declared in the daemon's HOME; what
counts as the agent or an MCP server is the process tree's one rule.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.measure.bench_common import Target
from keywords.measure.process_tree import TreeSnapshot, declared_mcp_servers, snapshot_tree

MAX_SETTLE_S = 30.0
FIGURE_KEYS = {
    "total": "treeRssMB",
    "daemon": "daemonRssMB",
    "agent": "agentsRssMB",
    "mcp": "mcpServersRssMB",
    "agents": "agents",
    "descendants": "agentDescendants",
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
    """

    sessions: int
    total: float
    daemon: float
    agent: float
    mcp: float | None
    agents: int
    descendants: int

    @classmethod
    def of(cls, snap: TreeSnapshot, sessions: int) -> TreeRss:
        """From a process-tree snapshot."""
        total, daemon, agent = (round(mb, 1) for mb in (snap.total_rss_mb, snap.daemon_rss_mb, snap.agents_rss_mb))
        mcp = None if snap.mcp_rss_mb is None else round(snap.mcp_rss_mb, 1)
        return cls(sessions, total, daemon, agent, mcp, snap.agent_count, len(snap.descendant_pids))

    def figures(self) -> dict[str, Any]:
        """``treeRssMB``, ``daemonRssMB``, ``agentsRssMB``, ``mcpServersRssMB`` (``None`` without MCP servers),
        ``agents`` and ``agentDescendants`` (counts), named as the process tree's own figures."""
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
