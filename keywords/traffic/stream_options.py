"""The options of one event-stream subscription: what to send and when to stop, built and checked in one place.

:class:`StreamOptions` holds them; :func:`stream_options` turns the stream options of a keyword (durations as
seconds or ``timedelta``, counts as whole numbers) into validated options, and :func:`frame_types` reads the
``until`` frame types. :data:`END_REASONS` names every way a stream can end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.errors import HarnessConfigError

END_REASONS = (
    "terminal",
    "turn_end",
    "max_events",
    "until_type",
    "chunks",
    "timeout",
    "eof",
    "cut",
    "stopped",
    "error",
)
MAX_STREAM_S = 3600.0


@dataclass
class StreamOptions:
    """How to subscribe and when to stop.

    Attributes:
        last_event_id: Send ``Last-Event-ID`` (replay after this id; ``0`` replays the whole ring).
        max_queued: Per-subscriber queue cap (``?maxQueued=``, 16..2048).
        max_events: Stop after this many frames.
        until_types: Stop at the first frame of one of these types.
        until_turn_end: Stop when the turn of this prompt id ends (``turn_complete``/``turn_error``).
        until_chunks: Stop once this many ``agent_message_chunk`` updates arrived (of the prompt ``until_turn_end``
            names, when it names one).
        timeout_s: Overall bound on the subscription.
        delay_per_event_s: Sleep after each frame (a slow consumer).
        stall_s: After the headers, do not read at all for this long (a stalled consumer), then drain;
            :meth:`Subscription.release` ends the stall early.
        recv_buffer: ``SO_RCVBUF`` in bytes, set before connecting (a small one makes a stall bite fast).
        keep_events: Keep every frame in the result (turn off for long floods).
        client_id: ``X-Qwen-Client-Id`` header (diagnostic only for SSE).
        snapshot: Ask for a ``session_snapshot`` frame.
    """

    last_event_id: int | None = None
    max_queued: int | None = None
    max_events: int | None = None
    until_types: tuple[str, ...] = ()
    until_turn_end: str | None = None
    until_chunks: int | None = None
    timeout_s: float = 30.0
    delay_per_event_s: float = 0.0
    stall_s: float = 0.0
    recv_buffer: int | None = None
    keep_events: bool = True
    client_id: str | None = None
    snapshot: bool = False

    def validate(self) -> None:
        """Raise :class:`HarnessConfigError` naming the first bad option (through :mod:`keywords.checks`)."""
        if self.max_queued is not None:
            whole_number("max_queued", self.max_queued, low=16, high=2048, unit="events (the daemon's range)")
        if self.max_events is not None:
            whole_number("max_events", self.max_events, low=1)
        if self.until_chunks is not None:
            whole_number("until_chunks", self.until_chunks, low=1)
        if self.last_event_id is not None:
            whole_number("last_event_id", self.last_event_id, low=0)
        seconds("timeout", self.timeout_s, high=MAX_STREAM_S)
        seconds("delay", self.delay_per_event_s, high=60, allow_zero=True)
        seconds("stall", self.stall_s, high=MAX_STREAM_S, allow_zero=True)
        if self.recv_buffer is not None:
            whole_number("recv_buffer", self.recv_buffer, low=256, unit="bytes")
        for name in self.until_types:
            if not isinstance(name, str) or not name:
                raise HarnessConfigError(f"until must name frame types, got {self.until_types!r}.")


def frame_types(until: str | Sequence[str] | None) -> tuple[str, ...]:
    """Frame types from a list or a comma-separated text (``"turn_complete, turn_error"``); ``()`` for none."""
    if until is None:
        return ()
    items = until.split(",") if isinstance(until, str) else list(until)
    if not all(isinstance(item, str) for item in items):
        raise HarnessConfigError(f"until must be frame type names (a list or comma-separated text), got {until!r}.")
    return tuple(item.strip() for item in items if item.strip())


def stream_options(
    *,
    last_event_id: Any = None,
    max_queued: Any = None,
    max_events: Any = None,
    until: str | Sequence[str] | None = None,
    until_turn_end: str | None = None,
    timeout: Any = 30.0,
    delay: Any = 0.0,
    stall: Any = 0.0,
    recv_buffer: Any = None,
    keep_events: bool = True,
) -> StreamOptions:
    """The one place that turns the stream options of a keyword into validated :class:`StreamOptions`.

    Durations (``timeout``, ``delay``, ``stall``) are seconds or ``timedelta``; counts are whole numbers.

    Raises:
        HarnessConfigError: the first bad option, named, with its range and the value given.
    """

    def count(name: str, value: Any, low: int, high: int | None = None, unit: str = "") -> int | None:
        return None if value is None else whole_number(name, value, low=low, high=high, unit=unit)

    options = StreamOptions(
        last_event_id=count("last_event_id", last_event_id, 0),
        max_queued=count("max_queued", max_queued, 16, 2048, "events (the daemon's range)"),
        max_events=count("max_events", max_events, 1),
        until_types=frame_types(until),
        until_turn_end=until_turn_end or None,
        timeout_s=seconds("timeout", timeout, high=MAX_STREAM_S),
        delay_per_event_s=seconds("delay", delay, high=60, allow_zero=True),
        stall_s=seconds("stall", stall, high=MAX_STREAM_S, allow_zero=True),
        recv_buffer=count("recv_buffer", recv_buffer, 256, unit="bytes"),
        keep_events=bool(keep_events),
    )
    options.validate()
    return options
