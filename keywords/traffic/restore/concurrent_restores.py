"""N clients restoring one session at the same instant, and what they got back.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keywords.checks import whole_number
from keywords.measure.metrics import summarize
from keywords.reporting.figures import shown
from keywords.traffic.barrier import results_or_raise, run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.restore.restore_call import RestoreResult, restore


@dataclass(frozen=True)
class ConcurrentRestores:
    """N clients restoring one session at the same instant.

    Attributes:
        session_id: The session.
        results: Every client's restore, in client order.
        agent_restores: Restores that reached the agent (the mock's report: ``session_load``/``session_resume``
            events for the session during the burst); ``None`` when not read.
    """

    session_id: str
    results: tuple[RestoreResult, ...]
    agent_restores: int | None = None

    @property
    def replays(self) -> list[tuple[tuple[str, str], ...]]:
        """Each answer's replay as its turns' (user text, agent text), in client order."""
        return [tuple((t.user_text, t.agent_text) for t in r.turns) for r in self.results if r.ok]

    @property
    def distinct_replays(self) -> int:
        """How many different replays the clients got (1: all the same)."""
        return len(set(self.replays))

    def figures(self) -> dict[str, Any]:
        """``clients``, ``restored``, ``attached`` (answers on an already live session), ``agentRestores``,
        ``distinctReplays``, ``replayTurns`` (of the first answer), ``restore`` (latency summary,
        ms) and ``spreadMs`` (first to last answer)."""
        ok = [r for r in self.results if r.ok]
        ends = [r.sent_mono * 1000 + r.elapsed_ms for r in self.results]
        return {
            "clients": len(self.results),
            "restored": len(ok),
            "attached": sum(1 for r in ok if r.attached),
            "agentRestores": self.agent_restores,
            "distinctReplays": self.distinct_replays,
            "replayTurns": len(self.replays[0]) if self.replays else None,
            "restore": summarize([r.elapsed_ms for r in self.results]).to_dict(),
            "spreadMs": round(max(ends) - min(ends), 1) if ends else None,
        }

    def line(self) -> str:
        """``8 loads at once: 8 restored, 1 agent restore, 1 distinct replay; p50 40 ms``."""
        latency = summarize([r.elapsed_ms for r in self.results])
        agent = "?" if self.agent_restores is None else str(self.agent_restores)
        p50 = shown(latency.p50, ".1f", " ms")
        return (
            f"{len(self.results)} restores at once: {sum(1 for r in self.results if r.ok)} restored, "
            f"{agent} agent restore(s), {self.distinct_replays} distinct replay(s); p50 {p50}, "
            f"max {latency.max or 0:.1f} ms"
        )


def restore_together(
    client: DaemonClient, session_id: str, clients: int, action: str = "load", *, barrier_timeout_s: float = 10.0
) -> tuple[RestoreResult, ...]:
    """``clients`` restores of one session released by one barrier (each as its own client).

    Raises:
        HarnessConfigError: ``clients`` outside 1..1000.
        BarrierBrokenError: the restores could not start together.
    """
    clients = whole_number("clients", clients, low=1, high=1000)

    def restore_one(_i: int) -> RestoreResult:
        return restore(client, session_id, action)

    return tuple(results_or_raise(run_together(clients, restore_one, timeout_s=barrier_timeout_s)))
