"""B3 / B4: the MCP server processes of a daemon's tree as sessions grow, and the daemon's MCP accounting.

The MCP servers are counted in the process tree by their command line (a regular expression such as
``idle_mcp\\.py``); the daemon's own view is ``GET /workspace/mcp`` (``servers`` with ``entryCount``,
``mcpStatus`` or ``approvalState``, and ``clientCount``). The tree is read through a callable, so this module
needs neither Robot Framework nor a particular way of finding the daemon's processes.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from keywords.measure.process_tree import TreeSnapshot
from keywords.measure.session_steps import count_key, plural
from keywords.reporting.figures import field_figures

WaitForTree = Callable[[int], TreeSnapshot]
"""``wait(minimum)``: polls the tree until ``minimum`` MCP processes run (and an agent child), then returns it."""


def server_states(status: dict) -> dict[str, str | None]:
    """Each server of a ``GET /workspace/mcp`` answer by name: its ``approvalState`` or else its ``mcpStatus``."""
    return {
        str(s.get("name")): s.get("approvalState") or s.get("mcpStatus")
        for s in status.get("servers") or []
        if isinstance(s, dict)
    }


@dataclass
class McpAmplification:
    """MCP server processes counted at growing numbers of open sessions (B3).

    Attributes:
        servers: MCP servers declared in the user settings (the caller's configuration).
        counts: Session count -> MCP server processes counted in the tree then, in order.
        pending_server: Name of a server declared in the workspace settings without approval (``None``: none).
        pending_state: Its state as ``GET /workspace/mcp`` reported it (``None`` when not listed).
        pending_processes: Processes of the tree that run it (``None`` when there is no such server).
    """

    servers: int
    counts: dict[int, int] = field(default_factory=dict)
    pending_server: str | None = None
    pending_state: str | None = None
    pending_processes: int | None = None

    @property
    def linear_amplification(self) -> bool:
        """Upstream's test of per-session amplification: at the largest count, at least half of
        ``servers x sessions`` processes run."""
        if not self.counts:
            return False
        most = max(self.counts)
        return self.counts[most] >= self.servers * most * 0.5

    @property
    def at_fewest(self) -> int | None:
        """MCP processes at the smallest session count (``None`` before any count)."""
        return self.counts[min(self.counts)] if self.counts else None

    @property
    def at_most(self) -> int | None:
        """MCP processes at the largest session count (``None`` before any count)."""
        return self.counts[max(self.counts)] if self.counts else None

    def off_counts(self) -> dict[int, int]:
        """The session counts at which the MCP processes were not exactly one per declared server."""
        return {n: c for n, c in self.counts.items() if c != self.servers}

    def figures(self) -> dict[str, Any]:
        """``childrenAt1Session``, ``childrenAt3Sessions``... per count, ``linearAmplification``, and the pending
        server's ``workspaceServerState`` and ``workspaceServerProcesses``."""
        out: dict[str, Any] = {count_key("childrenAt", n): c for n, c in self.counts.items()}
        out["linearAmplification"] = self.linear_amplification
        out["workspaceServerState"] = self.pending_state
        out["workspaceServerProcesses"] = self.pending_processes
        return out

    def line(self) -> str:
        """``MCP processes 2 at 1 · 2 at 3 · 2 at 5 sessions (2 servers) · workspace server pending, 0 process(es)``."""
        counts = " · ".join(f"{c} at {n}" for n, c in self.counts.items())
        last = plural(max(self.counts)).split(" ", 1)[1] if self.counts else "sessions"
        text = f"MCP processes {counts} {last} ({self.servers} servers)"
        if self.pending_server is not None:
            text += f" · workspace server {self.pending_state}, {self.pending_processes} process(es)"
        return text


def count_mcp_processes(
    steps: Iterable[int],
    open_until: Callable[[int], Any],
    wait: WaitForTree,
    pattern: str,
    servers: int,
    *,
    status: Callable[[], dict] | None = None,
    pending_server: str | None = None,
    pending_pattern: str | None = None,
    tree: Callable[[], TreeSnapshot] | None = None,
) -> McpAmplification:
    """Open sessions up to each count of ``steps`` and count the MCP processes then (``wait(servers)``).

    Afterwards, with ``pending_server`` given, read its state from ``status()`` and count the processes of
    ``tree()`` matching ``pending_pattern``.
    """
    result = McpAmplification(servers=servers, pending_server=pending_server)
    for count in steps:
        open_until(count)
        result.counts[count] = len(wait(servers).matching(pattern))
    if pending_server is not None and status is not None and tree is not None:
        result.pending_state = server_states(status()).get(pending_server)
        result.pending_processes = len(tree().matching(pending_pattern or pending_server))
    return result


@dataclass
class McpAccounting:
    """The daemon's MCP accounting (``GET /workspace/mcp``) next to the MCP processes in its tree (B4).

    Attributes:
        entry_count_sum: Sum of the servers' ``entryCount``.
        observed: MCP server processes counted in the tree.
        client_count: The answer's ``clientCount`` (``None`` when absent).
        connected: Servers whose ``mcpStatus`` is ``connected``.
        budget_mode: The answer's ``budgetMode`` (``None`` when absent).
    """

    entry_count_sum: int
    observed: int
    client_count: int | None
    connected: int
    budget_mode: str | None

    @classmethod
    def of(cls, status: dict, tree: TreeSnapshot, pattern: str) -> McpAccounting:
        """From a ``GET /workspace/mcp`` answer and the tree read at the same time."""
        servers = [s for s in status.get("servers") or [] if isinstance(s, dict)]
        return cls(
            entry_count_sum=sum(int(s.get("entryCount") or 0) for s in servers),
            observed=len(tree.matching(pattern)),
            client_count=status.get("clientCount"),
            connected=sum(1 for s in servers if s.get("mcpStatus") == "connected"),
            budget_mode=status.get("budgetMode"),
        )

    def figures(self) -> dict[str, Any]:
        """``entryCountSum``, ``observedProcesses``, ``clientCount``, ``connectedServers``, ``budgetMode``."""
        return {
            **field_figures(self, "entry_count_sum", "client_count", "budget_mode"),
            "observedProcesses": self.observed,
            "connectedServers": self.connected,
        }

    def line(self) -> str:
        """``entryCount sum 2 · observed 2 MCP processes · clientCount 0 · connected 2``."""
        return (
            f"entryCount sum {self.entry_count_sum} · observed {self.observed} MCP processes · "
            f"clientCount {self.client_count} · connected {self.connected}"
        )
