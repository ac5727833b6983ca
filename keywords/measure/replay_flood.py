"""C12: an SSE connection flood - N streams of one session opened at once, each waiting for ``replay_complete``.

The daemon sends ``replay_complete`` only to a reconnect (a ``Last-Event-ID`` header), so every stream asks
for a replay from 0. A stream counts as connected when its ``replay_complete`` frame arrives; its time is
from the subscribe request to that frame. Afterwards all streams are stopped and ``/health`` is read.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.measure import metrics
from keywords.measure.bench_common import Target
from keywords.traffic.sse import Subscription
from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.stream_result import StreamResult

MAX_STREAMS = 500
MAX_WAIT_S = 600.0
JOIN_GRACE_S = 5.0


@dataclass
class SseFloodResult:
    """An SSE connection flood.

    Attributes:
        opened: Streams opened.
        connected: Streams that saw ``replay_complete``.
        statuses: HTTP status per stream (0 for a stream that gave no result).
        time_to_replay_complete: Per connected stream, open to ``replay_complete`` (ms).
        healthy_after: ``GET /health`` answered ``{"status":"ok"}`` afterwards.
    """

    opened: int
    connected: int
    statuses: list[int]
    time_to_replay_complete: metrics.LatencySummary
    healthy_after: bool

    @property
    def all_connected(self) -> bool:
        """Every stream saw ``replay_complete``."""
        return self.connected == self.opened

    def figures(self) -> dict[str, Any]:
        """``connectionsOpened``, ``connected``, ``allConnected``, ``statuses``, ``timeToReplayCompleteMs``,
        ``daemonHealthyAfter``."""
        return {
            "connectionsOpened": self.opened,
            "connected": self.connected,
            "allConnected": self.all_connected,
            "statuses": list(self.statuses),
            "timeToReplayCompleteMs": self.time_to_replay_complete.to_dict(),
            "daemonHealthyAfter": self.healthy_after,
        }

    def line(self) -> str:
        """``10/10 streams saw replay_complete (p50 … ) · healthy after True``."""
        seen = f"{self.connected}/{self.opened} streams saw replay_complete"
        return f"{seen} ({self.time_to_replay_complete.line()}) · healthy after {self.healthy_after}"


def open_sse_flood(
    target: Target, session_id: str, *, count: int = 10, timeout: timedelta | float = 10.0
) -> SseFloodResult:
    """Open ``count`` SSE streams (1..500) at once with ``Last-Event-ID: 0``; each waits ``timeout`` s at most.

    Raises:
        HarnessConfigError: a bad count or timeout (before the daemon is reached).
    """
    count = whole_number("count", count, low=1, high=MAX_STREAMS)
    timeout_s = seconds("timeout", timeout, high=MAX_WAIT_S)
    running = target()
    options = StreamOptions(last_event_id=0, until_types=("replay_complete",), timeout_s=timeout_s)
    subs = [Subscription(running.client.base_url, session_id, options, running.client.token) for _ in range(count)]
    try:
        for sub in subs:
            sub.start()
        results = [sub.join(timeout_s + JOIN_GRACE_S) for sub in subs]
    finally:
        for sub in subs:
            sub.stop()
    healthy = False
    with contextlib.suppress(Exception):
        healthy = running.client.health().body.get("status") == "ok"
    return flood_result(count, results, healthy)


def flood_result(opened: int, results: Sequence[StreamResult | None], healthy: bool) -> SseFloodResult:
    """Flood figures from each stream's result (``None`` for a stream that gave none; status 0)."""
    connected = [r for r in results if r is not None and r.replay_complete is not None]
    times = []
    for r in connected:
        stamp = next((e.get("_recv_ms") for e in r.of_type("replay_complete")), None)
        if stamp is not None:
            times.append(float(stamp))
    return SseFloodResult(
        opened=opened,
        connected=len(connected),
        statuses=[r.status if r is not None else 0 for r in results],
        time_to_replay_complete=metrics.summarize(times, "replay_complete"),
        healthy_after=healthy,
    )
