"""Base of the components that start and stop daemons themselves: benchmarks, A/B and gate runs, restores.

They reach the daemons through the library's `DaemonKeywords` (so every daemon is registered, logged and
stopped the same way) and resolve the two builds a paired run compares in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keywords.components.component import Component
from keywords.components.daemon_keywords import DaemonKeywords
from keywords.context import HarnessContext
from keywords.daemon.provision import DaemonSource, release_source


@dataclass(frozen=True)
class PairedBuilds:
    """The two builds of a paired run, by role, and how to start a fresh daemon of either.

    Attributes:
        roles: The two roles, the baseline side first: ``("reference", "candidate")`` or ``("control", "candidate")``.
        sources: Each role's build.
        same: Both roles are one file: the run checks its method against itself.
        start: ``start(role)`` starts a fresh daemon of that role's build and returns it with its HTTP client.
    """

    roles: tuple[str, str]
    sources: dict[str, DaemonSource]
    same: bool
    start: Callable[[str], tuple[Any, Any]]

    def label(self, role: str) -> str:
        """The report label of a role's build, e.g. ``release 0.24.4``."""
        return self.sources[role].label

    def describe(self, what: str, same_note: str) -> str:
        """``<what>: reference <label>, candidate <label>``, with ``(<same_note>)`` when both are one build."""
        first, second = self.roles
        line = f"{what}: {first} {self.label(first)}, {second} {self.label(second)}"
        return line + (f" ({same_note})" if self.same else "")


class DaemonComponent(Component):
    """A group of keywords that starts daemons through the daemon keywords.

    Args:
        ctx: The shared harness context.
        daemons: The library's daemon keywords (default: a new set on the same context).
    """

    def __init__(self, ctx: HarnessContext, daemons: DaemonKeywords | None = None) -> None:
        super().__init__(ctx)
        self._daemons = daemons or DaemonKeywords(ctx)

    def real_agent_starter(self, provider_url: str, boot_timeout_s: float) -> Callable[[str | None, bool], Any]:
        """``start(entry, preheat)``: starts a daemon of that build (``None``: the library's) with the real agent.

        The agent child is pointed at the fake provider ``provider_url``; each start gets a fresh HOME and
        workspace, as `Start Daemon With Real Agent` gives.
        """

        def start(entry: str | None, preheat: bool) -> Any:
            return self._daemons.start_daemon_with_real_agent(
                provider_url, preheat=preheat, daemon_entry=entry, boot_timeout=boot_timeout_s
            )

        return start

    def paired_builds(
        self,
        baseline: str | None,
        candidate: str | None,
        *,
        roles: tuple[str, str],
        start_daemon: Callable[[str], Any],
    ) -> PairedBuilds:
        """The baseline build (empty: the pinned release) and the candidate (empty: the library's build).

        ``start_daemon(entry)`` starts one daemon of the build at ``entry`` through the daemon keywords; the
        returned `PairedBuilds` starts either role with it.
        """
        first = self.ctx.source(baseline) if baseline else release_source()
        second = self.ctx.source(candidate or None)
        sources = {roles[0]: first, roles[1]: second}

        def start(role: str) -> tuple[Any, Any]:
            return start_daemon(sources[role].entry), self.ctx.get().client

        same = Path(first.entry).resolve() == Path(second.entry).resolve()
        return PairedBuilds(roles=roles, sources=sources, same=same, start=start)

    def stop_started(self, daemon: Any) -> None:
        """Stop a daemon that a start of this component returned."""
        self._daemons.stop_daemon(daemon.name)
