"""C3 / C8: timed session creations, one after another (warm creations) or all at once (a burst).

A burst starts every request together through :func:`keywords.traffic.barrier.run_together`; a barrier that
breaks is an error (the requests would not have started together). A creation that fails is kept with its
error text, not raised; the sessions created are left open.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.checks import choice, whole_number
from keywords.measure import metrics
from keywords.measure.bench_common import FailureText, Target, error_text, failure_figures, failure_line, tally_failures
from keywords.traffic.barrier import run_together

MAX_CREATIONS = 500
SCOPES = ("thread", "single")


@dataclass
class SessionTimings:
    """Timed session creations.

    Attributes:
        latency: Per successful creation (ms, client side, request to full answer).
        session_ids: Created session ids.
        failures: Error texts of failed creations, in order.
        wall_ms: Wall time of the whole batch.
        concurrency: 1 for sequential, N for a burst.
    """

    latency: metrics.LatencySummary
    session_ids: list[str]
    failures: list[str]
    wall_ms: float
    concurrency: int

    @property
    def success_count(self) -> int:
        """Sessions created."""
        return len(self.session_ids)

    def failure_texts(self) -> list[FailureText]:
        """The first distinct error texts of the failed creations, with their counts."""
        return tally_failures(self.failures)

    def figures(self) -> dict[str, Any]:
        """``latencyMs`` (percentiles), ``created``, ``failures``, ``failureTexts``, ``wallMs``."""
        return {
            "latencyMs": self.latency.to_dict(),
            "created": self.success_count,
            **failure_figures(len(self.failures), self.failure_texts()),
            "wallMs": self.wall_ms,
        }

    def line(self) -> str:
        """``5 created · p50 … (n=5) · 0 failed · wall 120.3 ms``."""
        failed = failure_line(len(self.failures), self.failure_texts())
        return f"{self.success_count} created · {self.latency.line()} · {failed} · wall {self.wall_ms} ms"


Creation = tuple[float, "str | None", "str | None"]
"""One timed creation: ``(ms, session id or None, error text or None)``."""


def time_session_creations(
    target: Target, count: int, *, concurrent: bool = False, scope: str = "thread"
) -> SessionTimings:
    """Create ``count`` sessions (1..500), one after another or all at once behind a barrier; time each.

    Raises:
        HarnessConfigError: ``count`` or ``scope`` is bad (before the daemon is reached).
        BarrierBrokenError: a burst's requests could not be started together.
    """
    count = whole_number("count", count, low=1, high=MAX_CREATIONS)
    scope = choice("scope", scope, SCOPES)
    client = target().client

    def one(_: int) -> Creation:
        t0 = time.monotonic()
        try:
            info = client.create_session(scope)
        except Exception as exc:  # counted with its text, not raised
            return (time.monotonic() - t0) * 1000, None, error_text(exc)
        return (time.monotonic() - t0) * 1000, info.session_id, None

    started = time.monotonic()
    together = run_together(count, one, what="session creations") if concurrent else None
    results = together if together is not None else [one(i) for i in range(count)]
    wall = (time.monotonic() - started) * 1000
    return session_timings(results, wall, count if concurrent else 1)


def session_timings(results: Sequence[Creation | Exception], wall_ms: float, concurrency: int) -> SessionTimings:
    """Figures of timed creations: latency over the successful ones, ids, error texts, wall time."""
    done = [r if not isinstance(r, Exception) else (0.0, None, error_text(r)) for r in results]
    ok = [r for r in done if r[1]]
    return SessionTimings(
        latency=metrics.summarize([r[0] for r in ok], "session create"),
        session_ids=[r[1] for r in ok],
        failures=[r[2] for r in done if r[2]],
        wall_ms=round(wall_ms, 1),
        concurrency=concurrency,
    )
