"""Base of the components that start and stop daemons themselves: benchmarks, A/B and gate runs, restores.

They reach the daemons through the library's `DaemonKeywords` (so every daemon is registered, logged and
stopped the same way) and resolve the two builds a paired run compares in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from keywords.components.component import Component
from keywords.components.daemon_keywords import DaemonKeywords
from keywords.context import HarnessContext
from keywords.daemon.provision import DaemonSource, release_source


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

    def build_pair(self, reference: str | None, candidate: str | None) -> tuple[DaemonSource, DaemonSource, bool]:
        """The reference build (empty: the pinned release), the candidate (empty: the library's build) and
        whether both are one file (then the run checks the method against itself)."""
        ref = self.ctx.source(reference) if reference else release_source()
        cand = self.ctx.source(candidate or None)
        return ref, cand, Path(ref.entry).resolve() == Path(cand.entry).resolve()

    def stop_started(self, daemon: Any) -> None:
        """Stop a daemon that a start of this component returned."""
        self._daemons.stop_daemon(daemon.name)
