"""A daemon's process tree at one moment: who is the daemon, the agent, an MCP server; RSS by part.

Nothing here needs ``ps`` or ``pgrep``: the tree is read from ``/proc`` in one pass
(:mod:`keywords.measure.proc_stat`). A daemon's tree is its own process, the processes handed in as
``marked`` (found by the daemon's environment marker: agent children run in their own process group and
session, and may be re-parented to init, so a process-group or parentage walk alone would miss them), and
all their descendants.

The roles (the one rule of the harness; :func:`role_of` applies it):

* **daemon**: the daemon's own process.
* **agent**: a process whose parent is the daemon, or (any other process) whose parent is not in the tree,
  i.e. an agent child re-parented after its parent's death. This is the ACP child the daemon spawned: for
  the real agent ``qwen --acp``, for the mock agent its Node launcher (the Python mock agent behind the
  launcher is a descendant). The daemon spawns a new agent (a new pid) after the old one died.
* **mcp**: a process, not a child of the daemon, that runs one of the MCP servers declared in the settings
  given to :func:`snapshot_tree` (see :func:`mcp_servers_from`), or a process below such a one.
* **descendant**: any other process below an agent (the mock's Python agent, a tool's shell...).

The breakdown (:meth:`TreeSnapshot.breakdown`) has one part per role; the MCP part exists only when a
process of the tree is an MCP server, so a tree without MCP servers has no MCP figure at all.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil

from keywords.measure import proc_stat
from keywords.measure.proc_stat import MB, ProcStat

Role = Literal["daemon", "agent", "mcp", "descendant"]


@dataclass(frozen=True)
class McpServer:
    """An MCP server as the settings declare it (``mcpServers`` entry: ``command`` and ``args``).

    Attributes:
        name: The server's name in the settings.
        command: The command the agent runs.
        args: Its arguments.
    """

    name: str
    command: str
    args: tuple[str, ...] = ()

    def runs_as(self, argv: Sequence[str]) -> bool:
        """Whether a process with arguments ``argv`` runs this server.

        The process's arguments end with the declared ``args`` and, before them, one argument is the declared
        command (compared by file name, so ``python3`` matches ``/usr/bin/python3``, and a script started
        through its interpreter, ``node /usr/bin/npx ...``, matches ``npx``).
        """
        count = len(self.args)
        if len(argv) <= count or (count and tuple(argv[-count:]) != self.args):
            return False
        name = os.path.basename(self.command)
        return any(os.path.basename(part) == name for part in argv[: len(argv) - count])


def mcp_servers_from(settings: Mapping[str, Any] | None) -> list[McpServer]:
    """The MCP servers of a settings mapping: ``{name: {"command": ..., "args": [...]}}``.

    Accepts the ``mcpServers`` mapping itself (what `Idle MCP Servers` returns) or a whole settings document
    holding one. Entries without a command are skipped (the agent cannot start them either).
    """
    if not settings:
        return []
    servers = settings.get("mcpServers", settings)
    found = []
    for name, entry in servers.items() if isinstance(servers, Mapping) else ():
        if isinstance(entry, Mapping) and isinstance(entry.get("command"), str) and entry["command"]:
            args = tuple(str(a) for a in entry.get("args") or ())
            found.append(McpServer(str(name), entry["command"], args))
    return found


def declared_mcp_servers(home: str | Path | None) -> dict[str, Any]:
    """The ``mcpServers`` of the user settings in a daemon's HOME (``<home>/.qwen/settings.json``).

    These are the servers the real agent child starts (workspace settings need an approval first). Empty
    when there is no HOME, no settings file, or no server in it.
    """
    if home is None:
        return {}
    try:
        settings = json.loads((Path(home) / ".qwen" / "settings.json").read_text())
    except (OSError, ValueError):
        return {}
    servers = settings.get("mcpServers") if isinstance(settings, dict) else None
    return dict(servers) if isinstance(servers, dict) else {}


@dataclass(frozen=True)
class ProcInfo:
    """One process of a tree at one moment.

    Attributes:
        pid: Process id.
        ppid: Parent pid.
        role: ``daemon``, ``agent``, ``mcp`` or ``descendant`` (see the module's rule).
        rss_mb: Resident set size in MB (MiB).
        cmdline: Command line joined with spaces (truncated to 300 characters).
    """

    pid: int
    ppid: int
    role: Role
    rss_mb: float
    cmdline: str


@dataclass(frozen=True)
class TreePart:
    """One part of a tree's RSS breakdown.

    Attributes:
        part: ``daemon``, ``agents``, ``mcpServers`` or ``otherDescendants``.
        what: What the part is, in words.
        pids: Its processes.
        rss_mb: Their RSS summed (MB).
    """

    part: Literal["daemon", "agents", "mcpServers", "otherDescendants"]
    what: str
    pids: tuple[int, ...]
    rss_mb: float


_PART_TEXT = {
    "daemon": "the daemon process",
    "agents": "the daemon's agent children (for the mock agent, its Node launcher)",
    "mcpServers": "the declared MCP servers and their children",
    "otherDescendants": "the other processes below the agents (for the mock agent, the Python agent)",
}


@dataclass
class TreeSnapshot:
    """A daemon's process tree at one moment, with an RSS breakdown.

    Attributes:
        daemon_pid: Pid of the daemon.
        processes: Every live process of the tree.
        agent_pids: Pids of the agent children (sorted).
        descendant_pids: Pids of every other process (MCP servers included; sorted).
        mcp_pids: Pids of the MCP servers and their children (a subset of ``descendant_pids``).
        daemon_rss_mb: RSS of the daemon alone (0 when it is gone).
        agents_rss_mb: Sum over the agent children.
        descendants_rss_mb: Sum over every other process (below the agents; MCP servers included).
        total_rss_mb: Whole tree (shared pages are counted once per process, as ``ps`` does).
        mcp_rss_mb: Sum over ``mcp_pids``; ``None`` when the tree has no MCP server.
        mcp_declared: Number of MCP servers the snapshot looked for (declared in the settings).
    """

    daemon_pid: int
    processes: list[ProcInfo] = field(default_factory=list)
    agent_pids: list[int] = field(default_factory=list)
    descendant_pids: list[int] = field(default_factory=list)
    mcp_pids: list[int] = field(default_factory=list)
    daemon_rss_mb: float = 0.0
    agents_rss_mb: float = 0.0
    descendants_rss_mb: float = 0.0
    total_rss_mb: float = 0.0
    mcp_rss_mb: float | None = None
    mcp_declared: int = 0

    @property
    def agent_count(self) -> int:
        """Number of agent children."""
        return len(self.agent_pids)

    @property
    def daemon_alive(self) -> bool:
        """Whether the daemon itself was read."""
        return any(p.role == "daemon" for p in self.processes)

    def matching(self, pattern: str | re.Pattern[str]) -> list[ProcInfo]:
        """Processes other than the daemon whose command line matches the regular expression ``pattern``."""
        rx = re.compile(pattern)
        return [p for p in self.processes if p.role != "daemon" and rx.search(p.cmdline)]

    def breakdown(self) -> list[TreePart]:
        """The tree's parts, which sum to ``total_rss_mb``: daemon, agents, MCP servers (only when the tree
        has any) and the other processes below the agents. Empty when the daemon is gone."""
        if not self.daemon_alive:
            return []
        groups: dict[str, list[ProcInfo]] = {"daemon": [], "agents": [], "mcpServers": [], "otherDescendants": []}
        part_of = {"daemon": "daemon", "agent": "agents", "mcp": "mcpServers", "descendant": "otherDescendants"}
        for proc in self.processes:
            groups[part_of[proc.role]].append(proc)
        return [
            TreePart(name, _PART_TEXT[name], tuple(p.pid for p in procs), round(sum(p.rss_mb for p in procs), 2))
            for name, procs in groups.items()
            if procs or name != "mcpServers"
        ]

    def figures(self) -> dict[str, Any]:
        """``processes``, ``treeRssMB``, ``daemonRssMB``, ``agents``, ``agentsRssMB``, ``agentDescendants``,
        ``agentDescendantsRssMB``, ``mcpServers``, ``mcpServersRssMB``; an RSS is ``None`` for a part with no
        process, ``mcpServers`` is ``None`` when no MCP server was declared."""
        alive = self.daemon_alive
        return {
            "processes": len(self.processes),
            "treeRssMB": self.total_rss_mb if alive else None,
            "daemonRssMB": self.daemon_rss_mb if alive else None,
            "agents": self.agent_count,
            "agentsRssMB": self.agents_rss_mb if self.agent_pids else None,
            "agentDescendants": len(self.descendant_pids),
            "agentDescendantsRssMB": self.descendants_rss_mb if self.descendant_pids else None,
            "mcpServers": len(self.mcp_pids) if self.mcp_declared else None,
            "mcpServersRssMB": self.mcp_rss_mb,
        }

    def line(self) -> str:
        """One line: total and breakdown."""
        if not self.daemon_alive:
            return f"tree of pid {self.daemon_pid}: the daemon is gone"
        mcp = "" if self.mcp_rss_mb is None else f" (MCP servers {len(self.mcp_pids)}: {self.mcp_rss_mb:.1f})"
        return (
            f"tree {self.total_rss_mb:.1f} MB = daemon {self.daemon_rss_mb:.1f} + "
            f"{self.agent_count} agent(s) {self.agents_rss_mb:.1f} + "
            f"{len(self.descendant_pids)} descendant(s) {self.descendants_rss_mb:.1f}{mcp}"
        )


def rss_mb(pid: int) -> float:
    """RSS of one process in MB (raises ``psutil.NoSuchProcess`` when it is gone)."""
    return psutil.Process(pid).memory_info().rss / MB


def role_of(daemon_pid: int, pid: int, stats: Mapping[int, ProcStat], mcp: Iterable[int] = ()) -> Role:
    """The role of ``pid`` in the tree whose members' readings are ``stats`` (the module's rule).

    Args:
        daemon_pid: The daemon.
        pid: A member of the tree.
        stats: Every member's ``stat`` reading (for the parent map; zombies included, so the child of an
            exited but unreaped member keeps its role).
        mcp: Members that run a declared MCP server (by their own command line).
    """
    if pid == daemon_pid:
        return "daemon"
    ppid = stats[pid].ppid
    if ppid == daemon_pid:
        return "agent"
    mcp = mcp if isinstance(mcp, set) else set(mcp)
    at, hops = pid, 0
    while at in stats and at != daemon_pid and hops <= len(stats):  # the process or an ancestor runs a server
        if at in mcp:
            return "mcp"
        at, hops = stats[at].ppid, hops + 1
    return "agent" if ppid not in stats else "descendant"


def snapshot_tree(
    daemon_pid: int, marked: Iterable[psutil.Process] = (), *, mcp_servers: Mapping[str, Any] | None = None
) -> TreeSnapshot:
    """Measure a daemon's tree now (one pass over ``/proc`` for the parent map).

    Args:
        daemon_pid: The daemon process.
        marked: Further processes known to belong to the daemon (e.g. by environment marker); they are
            classified by ancestry, so an agent whose parent has gone still counts as an agent. Their
            descendants belong to the tree too.
        mcp_servers: The MCP servers declared to the agent (``{name: {command, args}}``, e.g.
            :func:`declared_mcp_servers` of the daemon's HOME); their processes get the role ``mcp``.

    Returns:
        A :class:`TreeSnapshot` (empty apart from ``daemon_pid`` when the daemon is gone).
    """
    stats = proc_stat.scan()
    members = proc_stat.closure([daemon_pid, *(p.pid for p in marked)], stats)
    return build_snapshot(daemon_pid, {pid: stats[pid] for pid in members}, cmdlines=True, mcp_servers=mcp_servers)


def build_snapshot(
    daemon_pid: int,
    stats: dict[int, ProcStat],
    *,
    cmdlines: bool,
    mcp_servers: Mapping[str, Any] | None = None,
) -> TreeSnapshot:
    """A snapshot of the tree whose members' ``stat`` readings are ``stats`` (zombies are skipped).

    ``cmdlines=False`` (the sampler's cheap tick) reads no command line; MCP servers are then not looked for.
    """
    servers = mcp_servers_from(mcp_servers) if cmdlines else []
    live = {pid: st for pid, st in stats.items() if not st.zombie}
    runs_server = set()
    if servers:
        for pid in live:
            argv = proc_stat.argv_of(pid) if pid != daemon_pid else []
            if any(server.runs_as(argv) for server in servers):
                runs_server.add(pid)
    snap = TreeSnapshot(daemon_pid=daemon_pid, mcp_declared=len(servers))
    sums = {"daemon": 0.0, "agent": 0.0, "mcp": 0.0, "descendant": 0.0}
    for pid in sorted(live):
        st = live[pid]
        role = role_of(daemon_pid, pid, stats, runs_server)
        cmd = proc_stat.cmdline_of(pid) if cmdlines else ""
        snap.processes.append(ProcInfo(pid=pid, ppid=st.ppid, role=role, rss_mb=round(st.rss_mb, 2), cmdline=cmd))
        sums[role] += st.rss_mb
        if role == "agent":
            snap.agent_pids.append(pid)
        elif role != "daemon":
            snap.descendant_pids.append(pid)
            if role == "mcp":
                snap.mcp_pids.append(pid)
    snap.daemon_rss_mb = round(sums["daemon"], 2)
    snap.agents_rss_mb = round(sums["agent"], 2)
    snap.descendants_rss_mb = round(sums["mcp"] + sums["descendant"], 2)
    snap.total_rss_mb = round(sum(sums.values()), 2)
    snap.mcp_rss_mb = round(sums["mcp"], 2) if snap.mcp_pids else None
    return snap
