"""Lines of the daemon's own log as data: ``key=value`` fields and ``SSE client evicted`` records.

A stalled SSE reader usually never receives the ``client_evicted`` frame (the daemon destroys the socket
behind a full kernel buffer), so the daemon's log line is its word that it evicted the subscriber. Nothing
here logs or imports Robot Framework; times are monotonic seconds.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from keywords import checks

_FIELD = re.compile(r"(\w+)=(\S+)")
EVICTION_MESSAGE = "SSE client evicted"


@dataclass(frozen=True)
class EvictionLogRecord:
    """One ``SSE client evicted`` line of the daemon's log.

    Attributes:
        session_id: ``sessionId`` field.
        stream_id: ``streamId`` field (the subscriber's ``X-Qwen-SSE-Stream-Id``).
        reason: ``queue_overflow``, ``queue_bytes_overflow`` or ``writer_idle_timeout``.
        dropped_after: ``droppedAfter``: the last event id queued for the subscriber.
        queue_size: ``queueSize`` when evicted.
        max_queued: ``maxQueued`` of the subscriber.
        queued_bytes: ``queuedBytes`` when evicted.
        timestamp: The line's ISO timestamp.
        log_line: The whole line of the log.
        detected_at: Monotonic time (s) the harness found the line (0 when parsed offline).
        ms_after_prompt: Milliseconds from the POST of the given prompt to the detection (``None`` when no
            prompt was given).
    """

    session_id: str | None
    stream_id: str | None
    reason: str | None
    dropped_after: int | None
    queue_size: int | None
    max_queued: int | None
    queued_bytes: int | None
    timestamp: str | None
    log_line: str
    detected_at: float = 0.0
    ms_after_prompt: float | None = None

    def figures(self) -> dict[str, Any]:
        """``reason``, ``droppedAfter``, ``queueSize``, ``maxQueued``, ``queuedBytes`` (from the log line) and
        ``evictionMs`` (prompt POST to detection, ``None`` without a prompt)."""
        return {
            "reason": self.reason,
            "droppedAfter": self.dropped_after,
            "queueSize": self.queue_size,
            "maxQueued": self.max_queued,
            "queuedBytes": self.queued_bytes,
            "evictionMs": self.ms_after_prompt,
        }

    def line(self) -> str:
        """``evicted (queue_overflow, droppedAfter 22, queue 16/16) 123.4 ms after the prompt``."""
        after = f" {self.ms_after_prompt:.1f} ms after the prompt" if self.ms_after_prompt is not None else ""
        return (
            f"evicted ({self.reason}, droppedAfter {self.dropped_after}, queue {self.queue_size}/{self.max_queued})"
            + after
        )


def log_fields(line: str) -> dict[str, str]:
    """``key=value`` fields of a daemon log line."""
    return dict(_FIELD.findall(line))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def find_evictions(
    lines: Iterable[str], session_id: str | None = None, stream_id: str | None = None
) -> list[EvictionLogRecord]:
    """Eviction records in daemon log lines, optionally only those of one session and/or subscriber stream."""
    found = []
    for line in lines:
        if EVICTION_MESSAGE not in line:
            continue
        f = log_fields(line)
        if session_id is not None and f.get("sessionId") != session_id:
            continue
        if stream_id is not None and f.get("streamId") != stream_id:
            continue
        found.append(
            EvictionLogRecord(
                session_id=f.get("sessionId"),
                stream_id=f.get("streamId"),
                reason=f.get("reason"),
                dropped_after=_int(f.get("droppedAfter")),
                queue_size=_int(f.get("queueSize")),
                max_queued=_int(f.get("maxQueued")),
                queued_bytes=_int(f.get("queuedBytes")),
                timestamp=line.split(" ", 1)[0] if line[:1].isdigit() else None,
                log_line=line,
            )
        )
    return found


def wait_for_eviction(
    read_lines: Callable[[], list[str]],
    session_id: str | None = None,
    stream_id: str | None = None,
    *,
    timeout_s: float = 10.0,
    poll_s: float = 0.02,
    prompt_posted_at: float | None = None,
) -> EvictionLogRecord | None:
    """Poll the daemon's log until it records an eviction (of this session/stream); ``None`` on timeout.

    Args:
        read_lines: Returns the daemon's log lines so far.
        session_id: Only evictions of this session.
        stream_id: Only evictions of this subscriber stream.
        timeout_s: Bound on the wait.
        poll_s: Pause between reads.
        prompt_posted_at: Monotonic time (s) a prompt was posted (``PromptAccepted.posted_at``); the record
            then carries ``ms_after_prompt``, the time from that POST to the detection.
    """
    timeout_s = checks.seconds("timeout", timeout_s, high=600)
    poll_s = checks.seconds("poll interval", poll_s, high=10)
    deadline = time.monotonic() + timeout_s
    while True:
        found = find_evictions(read_lines(), session_id, stream_id)
        if found:
            now = time.monotonic()
            after = None if prompt_posted_at is None else round((now - prompt_posted_at) * 1000, 1)
            return dataclasses.replace(found[0], detected_at=now, ms_after_prompt=after)
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)
