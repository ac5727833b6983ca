"""B5 / B6: what the SSE backpressure and replay tests measured, as results that carry their figures.

B5 (backpressure): one prompt floods a session with a healthy and a stalled subscriber; the daemon's log says
when and why it evicted the stalled one. B6 (replay): a reconnect with ``Last-Event-ID`` inside the event
ring, and one behind it after the ring wrapped. The readings come from the SSE streams
(:class:`keywords.traffic.stream_result.StreamResult`) and the daemon's log
(:class:`keywords.daemon.daemon_log.EvictionLogRecord`); the event-id arithmetic lives here, not in a suite.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.daemon.daemon_log import EvictionLogRecord
from keywords.traffic.client import PromptAccepted
from keywords.traffic.stream_result import StreamResult

OVERFLOW = "queue_overflow"
RING_EVICTED = "ring_evicted"


@dataclass
class Backpressure:
    """A stalled subscriber evicted while a healthy one reads the same flood (B5).

    Attributes:
        evicted: The daemon's log line for the stalled subscriber's eviction.
        accepted: The flood prompt's 202 answer (``posted_at``: when it was sent).
        stalled: What the stalled subscriber read before it was cut.
        healthy: What the healthy subscriber read.
        healthy_evictions: The daemon's log lines that evicted the healthy subscriber (none expected).
    """

    evicted: EvictionLogRecord
    accepted: PromptAccepted
    stalled: StreamResult
    healthy: StreamResult
    healthy_evictions: Sequence[str] = ()

    @property
    def eviction_ms(self) -> float | None:
        """From the flood prompt's POST to the harness finding the eviction in the log (ms, 1 decimal): the
        record's own ``ms_after_prompt`` when it was found for that prompt, else from its detection time."""
        if self.evicted.ms_after_prompt is not None:
            return round(self.evicted.ms_after_prompt, 1)
        if not self.evicted.detected_at or not self.accepted.posted_at:
            return None
        return round((self.evicted.detected_at - self.accepted.posted_at) * 1000, 1)

    @property
    def healthy_evicted(self) -> bool:
        """The daemon's log evicted the healthy subscriber too."""
        return len(self.healthy_evictions) > 0

    def figures(self) -> dict[str, Any]:
        """The eviction (reason, queue size, last queued id, time after the prompt) and what each subscriber got."""
        return {
            "evictionAtOverflow": self.evicted.reason == OVERFLOW,
            "evictionReason": self.evicted.reason,
            "queueSizeAtEviction": self.evicted.queue_size,
            "droppedAfter": self.evicted.dropped_after,
            "evictionMs": self.eviction_ms,
            "stalledReceived": self.stalled.received,
            "healthyReceived": self.healthy.received,
            "healthyEvicted": self.healthy_evicted,
        }

    def line(self) -> str:
        """``evicted (queue_overflow) at queue 17/16 812.3 ms after the prompt · stalled reader got 40 frames · …``."""
        healthy = "EVICTED too" if self.healthy_evicted else "not evicted"
        return (
            f"evicted ({self.evicted.reason}) at queue {self.evicted.queue_size}/{self.evicted.max_queued} "
            f"{self.eviction_ms} ms after the prompt · stalled reader got {self.stalled.received} frames · "
            f"healthy got {self.healthy.received}, {healthy}"
        )


@dataclass
class RingReplay:
    """Reconnects with ``Last-Event-ID`` inside and behind a ring of ``ring_size`` events (B6).

    Attributes:
        ring_size: The daemon's ``--event-ring-size``.
        cursor: The ``Last-Event-ID`` both reconnects sent.
        inside: The reconnect while the cursor was inside the ring.
        behind: The reconnect after the ring had wrapped past the cursor.
        last_event_id: The session's last event id at that time.
    """

    ring_size: int
    cursor: int
    inside: StreamResult
    behind: StreamResult
    last_event_id: int

    @property
    def first_id_kept(self) -> int:
        """The oldest event id the ring still holds: ``last_event_id - ring_size + 1``."""
        return self.last_event_id - self.ring_size + 1

    @property
    def replay_up_to_ring(self) -> bool:
        """The reconnect inside the ring got every event after the cursor, without a gap."""
        return self.inside.no_gaps and bool(self.inside.ids) and self.inside.ids[0] == self.cursor + 1

    @property
    def resync_reason(self) -> str | None:
        """``reason`` of the ``state_resync_required`` frame behind the ring (``None`` without the frame)."""
        return (self.behind.resync or {}).get("reason") if self.behind.resync is not None else None

    def figures(self) -> dict[str, Any]:
        """``replayUpToRing``, ``lastEventId``, ``resync`` (the frame), ``replayedAfterResync``,
        ``firstIdAfterResync``, ``lastIdAfterResync``."""
        return {
            "replayUpToRing": self.replay_up_to_ring,
            "lastEventId": self.last_event_id,
            "resync": self.behind.resync,
            "replayedAfterResync": len(self.behind.ids),
            "firstIdAfterResync": self.behind.ids[0] if self.behind.ids else None,
            "lastIdAfterResync": self.behind.last_id,
        }

    def line(self) -> str:
        """``ring 100: cursor 10 inside → 33 frames, ids 11..43 · cursor behind after 210 events → ring_evicted, …``."""

        def ids(stream: StreamResult) -> str:
            return f"ids {stream.ids[0]}..{stream.last_id}" if stream.ids else "no ids"

        return (
            f"ring {self.ring_size}: cursor {self.cursor} inside → {self.inside.received} frames, {ids(self.inside)} · "
            f"cursor behind after {self.last_event_id} events → {self.resync_reason}, then {ids(self.behind)} "
            f"({len(self.behind.ids)})"
        )

    def behind_problems(self) -> list[str]:
        """What is wrong behind the ring: no ``ring_evicted`` resync, or not exactly the ring's last events."""
        found = []
        if self.resync_reason != RING_EVICTED:
            found.append(
                f"a cursor behind the ring should get state_resync_required ({RING_EVICTED}), got {self.behind.resync}"
            )
        expected = list(range(self.first_id_kept, self.last_event_id + 1))
        if self.behind.ids != expected:
            found.append(
                f"after the resync the stream should hold the ring's {self.ring_size} events, ids "
                f"{self.first_id_kept}..{self.last_event_id}, got {_ids_text(self.behind.ids)}"
            )
        return found


def _ids_text(ids: Sequence[int]) -> str:
    if not ids:
        return "no ids"
    gaps = sum(1 for a, b in itertools.pairwise(ids) if b != a + 1)
    return f"{len(ids)} ids {ids[0]}..{ids[-1]}" + (f" with {gaps} break(s)" if gaps else "")
