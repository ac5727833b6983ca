"""State shared by the keyword components: the registry, the daemons, their clients and subscriptions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.daemon.daemon_process import Daemon
from keywords.daemon.provision import DaemonSource, NodeInfo, check_node, resolve_daemon
from keywords.daemon.registry import Registry, registry
from keywords.errors import DaemonDiedError, HarnessConfigError
from keywords.traffic.client import DaemonClient
from keywords.traffic.sse import Subscription


@dataclass
class RunningDaemon:
    """A daemon with its client, mock control state and open subscriptions."""

    daemon: Daemon
    client: DaemonClient
    control_file: Path | None = None
    control: dict[str, Any] = field(default_factory=dict)
    subscriptions: list[Subscription] = field(default_factory=list)
    agent: str = "mock"


class HarnessContext:
    """Everything the library owns for one Robot run (GLOBAL scope).

    Args:
        daemon_entry: A local daemon build (empty: ``QWEN_SERVE_ENTRY``, else the pinned release).
        results_dir: Folder for artifacts chosen by the user (empty: ``output_dir``).
        output_dir: Robot's output directory, set by the library (this module does not import Robot).
    """

    def __init__(self, daemon_entry: str = "", results_dir: str = "", output_dir: str = "") -> None:
        self.daemon_entry = daemon_entry
        self._results_dir = results_dir
        self.output_dir = output_dir
        self.registry: Registry = registry()
        self.daemons: dict[str, RunningDaemon] = {}
        self.current: str | None = None
        self._source: DaemonSource | None = None
        self._node: NodeInfo | None = None
        self._count = 0

    # -- where things are ---------------------------------------------------------------------
    @property
    def results_dir(self) -> Path:
        """Folder for artifacts: the library argument, else Robot's output directory, else ``results``."""
        return Path(self._results_dir or self.output_dir or "results")

    def source(self, entry: str | None = None) -> DaemonSource:
        """The daemon build (resolved once per entry)."""
        if entry:
            return resolve_daemon(entry)
        if self._source is None:
            self._source = resolve_daemon(self.daemon_entry or None)
        return self._source

    def node(self) -> NodeInfo:
        """Node.js that runs the daemon (checked once)."""
        if self._node is None:
            self._node = check_node()
        return self._node

    def next_name(self) -> str:
        """A unique daemon name within the run."""
        self._count += 1
        return f"daemon-{self._count}"

    def artifacts_for(self, name: str, test_name: str | None) -> Path:
        """Per-daemon artifact folder under ``results/daemons``."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", test_name or "suite").strip("-").lower()[:60]
        return self.results_dir / "daemons" / f"{slug}-{name}"

    # -- lookup -------------------------------------------------------------------------------
    def get(self, name: str | None = None, alive: bool = True) -> RunningDaemon:
        """The named daemon, or the current one.

        Args:
            name: Daemon name; ``None`` for the current daemon.
            alive: Fail with the daemon's exit code and last stderr lines when its process has ended.

        Raises:
            HarnessConfigError: no daemon of that name was started (or none is current).
            DaemonDiedError: ``alive`` is set and the daemon's process has ended.
        """
        key = name or self.current
        if key is None or key not in self.daemons:
            started = ", ".join(self.daemons) or "none"
            raise HarnessConfigError(
                f"No running daemon {'named ' + repr(name) if name else 'is current'} (running: {started}). "
                "Start one with `Start Daemon With Mock Agent` or `Start Daemon With Real Agent` first."
            )
        running = self.daemons[key]
        daemon = running.daemon
        if alive and daemon.proc is not None and daemon.proc.poll() is not None:
            raise DaemonDiedError(daemon.name, daemon.pid, daemon.proc.returncode, daemon.stderr_tail(10))
        return running

    def add(self, running: RunningDaemon) -> None:
        """Register a started daemon and make it current."""
        self.daemons[running.daemon.name] = running
        self.current = running.daemon.name

    def remove(self, name: str) -> RunningDaemon | None:
        """Forget a daemon (after stop)."""
        running = self.daemons.pop(name, None)
        if self.current == name:
            self.current = next(reversed(self.daemons), None) if self.daemons else None
        return running
