"""Facts about a run for the report's top-level metadata: daemon, agent, Node, Python, Robot, machine, git.

Nothing here imports Robot Framework: the library passes Robot's version in.
"""

from __future__ import annotations

import os
import platform

from keywords.reporting.snapshot import git, git_head, platform_info


def git_state(cwd: str | os.PathLike | None = None) -> str:
    """``<sha>`` of the harness checkout, with `` (uncommitted changes)`` when the tree is dirty, or ``unknown``."""
    sha = git_head(cwd)
    if not sha:
        return "unknown"
    status = git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    if status is None:
        return sha
    return f"{sha} (uncommitted changes)" if status else sha


def run_facts(daemon_label: str, daemon_version: str, node_version: str, robot_version: str) -> dict[str, str]:
    """Metadata name -> value for the top suite (``Agent`` is added as daemons start).

    Args:
        daemon_label: ``release 0.24.4`` or ``local build /path/dist/cli.js``.
        daemon_version: The daemon's version.
        node_version: Node.js version running the daemon.
        robot_version: Robot Framework's version.
    """
    plat = platform_info(node_version)
    cpu = f"{plat['cpuCount']} x {plat['cpuModel']}" if plat.get("cpuModel") else str(plat["cpuCount"])
    return {
        "Daemon": f"{daemon_version} — {daemon_label}",
        "Node": node_version,
        "Python": platform.python_version(),
        "Robot Framework": robot_version,
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "CPUs": cpu,
        "Harness git commit": git_state(),
    }


AGENT_NAMES = {"mock": "mock ACP agent", "real": "real agent child (fake model provider)"}
# The keywords that start a daemon (the deprecated one included).
START_KEYWORDS = ("Start Daemon With Mock Agent", "Start Daemon With Real Agent", "Start Daemon")


class RunMetadata:
    """Puts :func:`run_facts` on the top-level suite once, and the agents of started daemons as they start.

    Driven by the library's listener with Robot's result objects (duck-typed: ``parent``, ``metadata``,
    ``name``, ``passed``), so this module needs no Robot import.

    Args:
        ctx: The library's ``HarnessContext`` (daemon source, Node, running daemons).
        robot_version: Robot Framework's version, for the metadata.
    """

    def __init__(self, ctx, robot_version: str = "unknown") -> None:
        self.ctx = ctx
        self.robot_version = robot_version
        self.top = None
        self.agents: set[str] = set()

    def start_suite(self, suite) -> None:
        """Set the facts on the top suite of ``suite`` the first time a suite starts."""
        if self.top is not None:
            return
        top = suite
        while getattr(top, "parent", None) is not None:
            top = top.parent
        self.top = top
        try:
            source = self.ctx.source()
            label, version = source.label, source.version
        except Exception as exc:  # the run goes on; the tests that need a daemon report the cause
            label, version = f"not resolved ({exc})", "unknown"
        try:
            node = self.ctx.node().version
        except Exception as exc:
            node = f"not found ({exc})"
        for name, value in run_facts(label, version, node, self.robot_version).items():
            top.metadata[name] = value
        top.metadata["Agent"] = "no daemon started yet"

    def end_keyword(self, keyword) -> None:
        """After a passed start keyword (:data:`START_KEYWORDS`), add the current daemon's agent to ``Agent``."""
        if self.top is None or getattr(keyword, "name", "") not in START_KEYWORDS or not getattr(keyword, "passed", 0):
            return
        current = self.ctx.daemons.get(self.ctx.current) if self.ctx.current else None
        if current is None:
            return
        self.agents.add(AGENT_NAMES.get(current.agent, current.agent))
        self.top.metadata["Agent"] = ", ".join(sorted(self.agents))
