"""What one event stream saw, and the checks over it: ids in order, replay after a cursor, frames found.

A :class:`StreamResult` is plain data a suite can check; :class:`StreamsSummary` counts a group of them.
Times are in milliseconds from the moment the subscribe request was sent; delivery delays compare the
daemon's ``serverTimestamp`` (wall clock, ms) with the wall-clock receipt time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keywords.measure.metrics import summarize

TERMINAL_TYPES = ("session_closed", "session_died", "client_evicted")
TURN_END_TYPES = ("turn_complete", "turn_error")


@dataclass
class StreamResult:
    """What one subscription saw.

    Attributes:
        status: HTTP status of the subscribe request (0 if it never answered).
        received: Frames with a JSON payload (synthetic frames such as ``replay_complete`` included).
        ids: Event ids in arrival order.
        last_id: Last event id seen (the value to reconnect with), or ``None``.
        headers_ms: Time to response headers.
        first_event_ms: Time to the first frame, or ``None``.
        gaps: Id gaps as ``"a->b"`` strings (ids must rise by exactly 1).
        duplicates: Ids that did not rise (duplicates or out of order).
        replay_complete: Payload of ``replay_complete`` when seen.
        replayed_count: Its ``replayedCount`` (events replayed after ``Last-Event-ID``), ``None`` without the frame.
        last_replayed_id: Its ``lastReplayedEventId``, ``None`` without the frame.
        resync: Payload of ``state_resync_required`` when seen.
        malformed: Frames whose payload was not a JSON object.
        end: Why it stopped: ``terminal``, ``turn_end``, ``max_events``, ``until_type``, ``chunks``, ``timeout``,
            ``eof`` (clean end of body), ``cut`` (connection broken before a terminal frame), ``stopped`` or ``error``.
        terminal: Type of the terminal frame (``session_closed``, ``session_died``, ``client_evicted``).
        terminal_data: Its payload.
        evicted: A ``client_evicted`` frame arrived (what the frame says). A stream cut before any terminal
            frame is ``cut_before_terminal`` (what was seen), whatever its cause: an eviction, a daemon crash.
        eviction_reason: ``reason`` of ``client_evicted``, ``None`` without that frame.
        error: Text of the error that cut or failed the stream.
        elapsed_ms: Whole subscription.
        counts: Frames per type.
        events: The frames (envelope dicts with ``_recv_ms`` added) when kept.
        delivery_ms: Per frame with a ``serverTimestamp``: receipt wall time minus that stamp.
        error_status_body: Body of a non-200 subscribe answer.
        stream_id: ``X-Qwen-SSE-Stream-Id`` of the answer (the daemon's log names subscribers by it).
        epoch: ``X-Qwen-Event-Epoch`` of the answer.
        started_at: Monotonic time (s) the request was sent; frame times (``_recv_ms``) count from it.
    """

    status: int = 0
    received: int = 0
    ids: list[int] = field(default_factory=list)
    last_id: int | None = None
    headers_ms: float | None = None
    first_event_ms: float | None = None
    gaps: list[str] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    replay_complete: dict | None = None
    replayed_count: int | None = None
    last_replayed_id: int | None = None
    resync: dict | None = None
    malformed: int = 0
    end: str = "error"
    terminal: str | None = None
    terminal_data: dict | None = None
    evicted: bool = False
    eviction_reason: str | None = None
    error: str | None = None
    elapsed_ms: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    delivery_ms: list[float] = field(default_factory=list)
    error_status_body: Any = None
    stream_id: str | None = None
    epoch: str | None = None
    started_at: float = 0.0

    @property
    def cut_before_terminal(self) -> bool:
        """The connection broke (reset or truncated body) before any terminal frame arrived."""
        return self.end == "cut" and self.terminal is None

    @property
    def terminal_reason(self) -> str | None:
        """``reason`` of the terminal frame (``channel_closed`` for a ``session_died``), ``None`` without one."""
        return (self.terminal_data or {}).get("reason") if isinstance(self.terminal_data, dict) else None

    @property
    def terminal_exit_code(self) -> int | None:
        """``exitCode`` of the terminal frame (the agent's exit status in ``session_died``), ``None`` without one."""
        code = (self.terminal_data or {}).get("exitCode") if isinstance(self.terminal_data, dict) else None
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    @property
    def no_gaps(self) -> bool:
        """Ids rose by exactly one each time."""
        return not self.gaps and not self.duplicates

    def of_type(self, event_type: str) -> list[dict]:
        """Kept frames of one type."""
        return [e for e in self.events if e.get("type") == event_type]

    def summary(self) -> str:
        """One line for logs: counts, ids, end (an eviction frame and a cut are named apart)."""
        ids = f"ids {self.ids[0]}..{self.ids[-1]}" if self.ids else "no ids"
        extra = ""
        if self.evicted:
            extra = f", evicted ({self.eviction_reason or 'no reason'})"
        elif self.cut_before_terminal:
            extra = ", cut before any terminal frame"
        return (
            f"{self.received} frames, {ids}, gaps {len(self.gaps)}, dups {len(self.duplicates)}, "
            f"end {self.end}{' ' + self.terminal if self.terminal else ''}{extra}"
        )

    def line(self) -> str:
        """One line of key figures for the test message (as :meth:`summary`)."""
        return self.summary()

    def figures(self) -> dict[str, Any]:
        """What this stream measured, by camelCase key (``None``: not seen in this run)."""
        return {
            "status": self.status or None,
            "received": self.received,
            "firstId": self.ids[0] if self.ids else None,
            "lastId": self.last_id,
            "gaps": len(self.gaps),
            "duplicates": len(self.duplicates),
            "malformed": self.malformed,
            "end": self.end,
            "terminal": self.terminal,
            "terminalReason": self.terminal_reason,
            "terminalExitCode": self.terminal_exit_code,
            "evicted": self.evicted,
            "evictionReason": self.eviction_reason,
            "cutBeforeTerminal": self.cut_before_terminal,
            "replayedCount": self.replayed_count,
            "resyncReason": (self.resync or {}).get("reason") if self.resync is not None else None,
            "headersMs": _rounded(self.headers_ms),
            "firstEventMs": _rounded(self.first_event_ms),
            "elapsedMs": _rounded(self.elapsed_ms),
            "deliveryMs": summarize(self.delivery_ms).to_dict() if self.delivery_ms else None,
        }


def _rounded(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


def camel(name: str) -> str:
    """``until_type`` -> ``untilType`` (frame types and end reasons as figure keys)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _frame_matches(env: dict, event_type: str, code: str | None, reason: str | None) -> bool:
    if env.get("type") != event_type:
        return False
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    if code is not None and str(data.get("code")) != code:
        return False
    return reason is None or data.get("reason") == reason


def find_frame(
    stream: StreamResult, event_type: str, code: str | None = None, reason: str | None = None
) -> dict | None:
    """The first kept frame of this type (with this ``code``/``reason`` in its data), or ``None``."""
    return next((env for env in stream.events if _frame_matches(env, event_type, code, reason)), None)


def matching_frames(
    stream: StreamResult, event_type: str, code: str | None = None, reason: str | None = None
) -> list[dict]:
    """Every kept frame of this type (with this ``code``/``reason`` in its data), in arrival order."""
    return [env for env in stream.events if _frame_matches(env, event_type, code, reason)]


@dataclass
class StreamsSummary:
    """What a group of background subscriptions saw.

    Attributes:
        count: Subscriptions collected.
        statuses: Subscribe status -> number of streams.
        ends: End reason (``terminal``, ``until_type``, ``timeout``...) -> number of streams.
        terminals: Terminal frame type -> number of streams.
        results: The individual ``StreamResult`` objects, in the order given.
    """

    count: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    ends: dict[str, int] = field(default_factory=dict)
    terminals: dict[str, int] = field(default_factory=dict)
    results: list[StreamResult] = field(default_factory=list)

    @classmethod
    def of(cls, results: list[StreamResult]) -> StreamsSummary:
        """Count statuses, ends and terminal frames of these results."""
        return cls(
            count=len(results),
            statuses=dict(Counter(r.status for r in results)),
            ends=dict(Counter(r.end for r in results)),
            terminals=dict(Counter(r.terminal for r in results if r.terminal)),
            results=results,
        )

    def count_with(self, event_type: str, code: str | None = None, reason: str | None = None) -> int:
        """Streams that received at least one frame of ``event_type`` (with this ``code``/``reason``)."""
        return sum(1 for r in self.results if find_frame(r, event_type, code, reason) is not None)

    def summary(self) -> str:
        """One line: statuses, ends, terminals."""
        return f"{self.count} streams; status {self.statuses}; ends {self.ends}; terminals {self.terminals}"

    def line(self) -> str:
        """One line of key figures for the test message (as :meth:`summary`)."""
        return self.summary()

    def figures(self) -> dict[str, Any]:
        """Streams, refusals, ends and terminal frames by camelCase key (``untilType``, ``sessionDied``)."""
        return {
            "streams": self.count,
            "answered": sum(n for status, n in self.statuses.items() if status == 200),
            "refused": sum(n for status, n in self.statuses.items() if status != 200),
            "ends": {camel(end): n for end, n in self.ends.items()},
            "terminals": {camel(t): n for t, n in self.terminals.items()},
            "received": sum(r.received for r in self.results),
        }


def continuity_problems(
    stream: StreamResult, cursor: int, last_id: int | None = None, replay: bool = True
) -> list[str]:
    """What keeps ``stream`` from holding exactly the events after ``cursor`` (empty when it does).

    Ids must run ``cursor+1, cursor+2, ...`` with no gap or duplicate (up to ``last_id`` when given); with
    ``replay``, ``replay_complete`` must have arrived, sit right after the last replayed event and count the
    events since the cursor; no ``state_resync_required``.
    """
    problems = []
    if not stream.ids:
        problems.append(f"no event with an id arrived (expected ids from {cursor + 1})")
    elif stream.ids[0] != cursor + 1:
        problems.append(f"the first id is {stream.ids[0]}, expected {cursor + 1}")
    problems += order_problems(stream)
    if last_id is not None and stream.last_id != last_id:
        problems.append(f"the last id is {stream.last_id}, expected {last_id}")
    if replay:
        problems += _replay_problems(stream, cursor)
    if stream.resync is not None:
        problems.append(f"state_resync_required {stream.resync}")
    return problems


def order_problems(stream: StreamResult) -> list[str]:
    """Gaps, repeated or out-of-order ids and malformed frames of a stream, as texts (empty when none)."""
    problems = []
    if stream.gaps:
        problems.append(f"gaps {', '.join(stream.gaps[:10])}")
    if stream.duplicates:
        problems.append(f"repeated/out-of-order ids {stream.duplicates[:10]}")
    if stream.malformed:
        problems.append(f"{stream.malformed} malformed frames")
    return problems


def _replay_problems(stream: StreamResult, cursor: int) -> list[str]:
    """``replay_complete`` must have arrived, right after the last replayed event, counting the events replayed."""
    if stream.replay_complete is None:
        seen = f"ids {stream.ids[0]}..{stream.last_id}" if stream.ids else "no id"
        return [f"no replay_complete frame after replaying from id {cursor + 1} (the stream got {seen})"]
    problems = []
    last_replayed, count = stream.last_replayed_id, stream.replayed_count
    if count is None:
        problems.append(f"replay_complete has no replayedCount: {stream.replay_complete}")
    if last_replayed is None:
        problems.append(f"replay_complete has no lastReplayedEventId: {stream.replay_complete}")
    if last_replayed is not None and count is not None and count != max(0, last_replayed - cursor):
        problems.append(
            f"replay_complete counts {count} replayed events, but ids {cursor + 1}..{last_replayed} "
            f"are {last_replayed - cursor}"
        )
    if stream.events and last_replayed is not None:
        before = None
        for env in stream.events:
            if env.get("type") == "replay_complete":
                break
            if isinstance(env.get("id"), int):
                before = env["id"]
        if before != (last_replayed if last_replayed > cursor else None):
            problems.append(f"replay_complete came after id {before}, but says the replay ended at {last_replayed}")
    return problems
