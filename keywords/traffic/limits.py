"""The daemon at its limits: whether it still serves after one was hit, and how its timers acted.

* :func:`check_service` proves the daemon serves: ``/health``, a fresh session and one prompt to its
  ``turn_complete`` (:class:`ServiceCheck`).
* :class:`TimerFiring` is a timer of the daemon (a prompt deadline, an initialize timeout) against the time
  the daemon took to act on it, with the margin it may take.
* :func:`wait_for_reaping` waits for the idle reaper to close a session, as the daemon's stderr tells it
  (:class:`SessionReaping`).
* :func:`stream_closes` reads the daemon's log records of closed SSE streams: why each closed and how much
  backpressure it met (:class:`StreamCloses`).
* :func:`prompt_frames` says which prompts a frame type named on one stream (each queued prompt's
  ``pending_prompt_added``, each turn's ``turn_complete``): :class:`PromptFrames`.
* :func:`frame_delivery` says which of a group of streams received a frame (a turn's end, a shutdown
  frame) and when, counted from a prompt or a signal (:class:`FrameDelivery`); :func:`eviction_of` reads a
  stream's ``client_evicted`` frame (:class:`StreamEviction`).

No Robot Framework imports.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keywords.checks import seconds
from keywords.daemon.daemon_log import log_fields
from keywords.errors import DaemonHttpError
from keywords.fakes import mock_control
from keywords.traffic.client import DaemonClient
from keywords.traffic.stream_result import StreamResult, find_frame, matching_frames
from keywords.traffic.turns import TurnResult, run_turn


@dataclass(frozen=True)
class ServiceCheck:
    """Proof that a daemon still serves: ``/health``, a fresh session, and one prompt to its ``turn_complete``.

    Attributes:
        health_status: Status of ``GET /health``.
        session_id: The fresh session, ``None`` when its creation was refused.
        session_ms: ``POST /session`` round trip, ms (``None`` when refused).
        turn: The fresh session's turn, ``None`` when no session was created.
        problems: What kept it from serving (empty when it served).
    """

    health_status: int
    session_id: str | None = None
    session_ms: float | None = None
    turn: TurnResult | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def served(self) -> bool:
        """It answered health, created the session and completed its turn as asked."""
        return not self.problems

    @property
    def turn_ms(self) -> float | None:
        """The fresh turn's time from its POST to ``turn_complete``, ms (``None`` when it did not end)."""
        return None if self.turn is None else self.turn.turn_ms

    def figures(self) -> dict[str, Any]:
        """``freshSessionMs`` and ``freshTurnMs`` (``None`` when not reached)."""
        return {
            "freshSessionMs": None if self.session_ms is None else round(self.session_ms, 1),
            "freshTurnMs": None if self.turn_ms is None else round(self.turn_ms, 1),
        }

    def line(self) -> str:
        """One line: the fresh session's and its turn's times, or what went wrong."""
        if self.problems:
            return f"not serving: {'; '.join(self.problems)}"
        return f"still serving: fresh session in {self.session_ms:.1f} ms, its turn in {self.turn_ms:.1f} ms"


SERVICE_CHUNKS = 2


def check_service(client: DaemonClient, *, client_id: str | None = None, timeout_s: float = 10.0) -> ServiceCheck:
    """Ask ``/health``, create a ``thread`` session and prompt it (mock agent: echo, two chunks) to its end.

    Args:
        client: Client of the daemon.
        client_id: ``X-Qwen-Client-Id`` for the session and its prompt (a fresh rate-limit bucket).
        timeout_s: Bound on the turn.
    """
    health = client.health(expected=None)
    if health.status != 200 or not isinstance(health.body, dict) or health.body.get("status") != "ok":
        return ServiceCheck(health.status, problems=[f"GET /health answered {health.status}: {health.body}"])
    try:
        info = client.create_session("thread", client_id=client_id)
    except DaemonHttpError as err:
        return ServiceCheck(health.status, problems=[f"the fresh session was refused: {err}"])
    text = mock_control.directive(mode="echo", chunks=SERVICE_CHUNKS) + "still serving?"
    turn = run_turn(client, info.session_id, text, timeout_s=timeout_s, client_id=info.client_id)
    problems = []
    if turn.outcome != "completed" or turn.stop_reason != "end_turn":
        problems.append(f"its turn ended {turn.summary()}, expected turn_complete end_turn")
    elif turn.chunks != SERVICE_CHUNKS or turn.session_updates != SERVICE_CHUNKS + 1:
        problems.append(
            f"its turn had {turn.chunks} chunks and {turn.session_updates} session updates, expected "
            f"{SERVICE_CHUNKS} and {SERVICE_CHUNKS + 1} (the prompt echo and the chunks)"
        )
    return ServiceCheck(health.status, info.session_id, info.elapsed_ms, turn, problems)


@dataclass(frozen=True)
class TimerFiring:
    """A timer of the daemon (a deadline, a timeout) against the time the daemon took to act on it.

    Attributes:
        what: The timer's name in messages, e.g. ``prompt deadline``.
        timer_ms: The timer as configured, ms.
        margin_ms: How late the daemon may act, ms.
        fired_ms: When it acted (the turn ended, the refusal came), ms from the request.
        early_allowed: Acting before the timer is fine (e.g. a timeout already under way).
    """

    what: str
    timer_ms: float
    margin_ms: float
    fired_ms: float
    early_allowed: bool = False

    @property
    def late_ms(self) -> float:
        """How long after the timer the daemon acted, ms (negative: before it)."""
        return self.fired_ms - self.timer_ms

    def problems(self) -> list[str]:
        """What was off: acted too late (past the margin) or, unless allowed, too early."""
        problems = []
        if self.late_ms > self.margin_ms:
            problems.append(
                f"it acted {self.late_ms:.1f} ms after the timer, over the margin of {self.margin_ms:g} ms "
                f"by {self.late_ms - self.margin_ms:.1f} ms"
            )
        if self.late_ms < 0 and not self.early_allowed:
            problems.append(f"it acted {-self.late_ms:.1f} ms before the timer")
        return problems

    def figures(self) -> dict[str, Any]:
        """``firedMs`` (when the daemon acted) and ``lateMs`` (after the timer; negative: before)."""
        return {"firedMs": round(self.fired_ms, 1), "lateMs": round(self.late_ms, 1)}

    def line(self) -> str:
        """One line: the timer, when the daemon acted, how late."""
        return (
            f"{self.what} of {self.timer_ms:g} ms acted on after {self.fired_ms:.1f} ms "
            f"({self.late_ms:+.1f} ms, margin {self.margin_ms:g} ms)"
        )


# -- the idle reaper, from the daemon's stderr ---------------------------------------------------------
_REAPING = 'reaping idle session "{sid}" \\(idle for (\\d+)s, threshold (\\d+)s\\)'
_REAPED = 'closing session "{sid}" \\(reason: idle_timeout\\)'


@dataclass(frozen=True)
class SessionReaping:
    """The idle reaper closing one session, as the daemon's stderr tells it.

    Attributes:
        session_id: The session.
        reaped: The daemon wrote ``closing session "<id>" (reason: idle_timeout)`` within the bound.
        waited_ms: From the start of the wait to that line (or to giving up), ms.
        idle_for_s: How long the daemon says the session was idle when it reaped it, s (``None``: no line).
        threshold_s: The idle threshold the daemon names, s (``None``: no line).
    """

    session_id: str
    reaped: bool
    waited_ms: float
    idle_for_s: int | None = None
    threshold_s: int | None = None

    def figures(self) -> dict[str, Any]:
        """``reapedAfterMs`` (``None`` when it was not reaped) and ``daemonIdleForSec``."""
        return {
            "reapedAfterMs": round(self.waited_ms, 1) if self.reaped else None,
            "daemonIdleForSec": self.idle_for_s,
        }

    def line(self) -> str:
        """One line: reaped or not, after how long, how idle the daemon saw it."""
        if not self.reaped:
            return f"session {self.session_id} not reaped within {self.waited_ms:.0f} ms"
        idle = f"; the daemon saw it idle for {self.idle_for_s} s" if self.idle_for_s is not None else ""
        return f"idle session reaped {self.waited_ms:.1f} ms into the wait{idle}"


def wait_for_reaping(
    read_stderr: Callable[[], str], session_id: str, timeout_s: float = 10.0, poll_s: float = 0.05
) -> SessionReaping:
    """Poll the daemon's stderr until the idle reaper closes ``session_id``, within ``timeout_s``.

    Args:
        read_stderr: Returns the daemon's stderr so far.
        session_id: The session expected to be reaped.
        timeout_s: Bound on the wait.
        poll_s: Pause between two reads.
    """
    timeout_s = seconds("timeout", timeout_s, high=600)
    sid = re.escape(session_id)
    reaped_rx, reaping_rx = re.compile(_REAPED.format(sid=sid)), re.compile(_REAPING.format(sid=sid))
    started = time.monotonic()
    for _ in range(int(timeout_s / poll_s) + 2):
        text = read_stderr()
        if reaped_rx.search(text):
            waited = (time.monotonic() - started) * 1000
            reaping = reaping_rx.search(text)
            idle, threshold = (int(reaping[1]), int(reaping[2])) if reaping else (None, None)
            return SessionReaping(session_id, True, waited, idle, threshold)
        if time.monotonic() - started >= timeout_s:
            break
        time.sleep(poll_s)
    return SessionReaping(session_id, False, (time.monotonic() - started) * 1000)


# -- closed SSE streams, from the daemon's log ---------------------------------------------------------
STREAM_CLOSED = "SSE stream closed"


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


@dataclass(frozen=True)
class StreamCloseRecord:
    """One ``SSE stream closed`` line of the daemon's log.

    Attributes:
        session_id: ``sessionId``.
        stream_id: ``streamId`` (the subscriber's ``X-Qwen-SSE-Stream-Id``).
        close_reason: ``closeReason`` (``writer_idle_timeout``, ``client_disconnect``...).
        terminal_event_type: ``terminalEventType`` (``client_evicted``...), ``None`` when none was written.
        backpressure_count: ``backpressureCount``: writes that met a full socket buffer.
        frames_written: ``eventFramesWriteSettled``: frames the daemon finished writing.
        line: The whole line.
    """

    session_id: str | None
    stream_id: str | None
    close_reason: str | None
    terminal_event_type: str | None
    backpressure_count: int | None
    frames_written: int | None
    line: str

    @classmethod
    def of(cls, line: str, fields: dict[str, str]) -> StreamCloseRecord:
        """The record of one log line and its ``key=value`` fields."""
        return cls(
            session_id=fields.get("sessionId"),
            stream_id=fields.get("streamId"),
            close_reason=fields.get("closeReason"),
            terminal_event_type=fields.get("terminalEventType"),
            backpressure_count=_int(fields.get("backpressureCount")),
            frames_written=_int(fields.get("eventFramesWriteSettled")),
            line=line,
        )


@dataclass(frozen=True)
class StreamCloses:
    """The ``SSE stream closed`` records of the daemon's log (of one close reason, when asked).

    Attributes:
        reason: The close reason asked for, ``None`` for all.
        records: The records, in log order.
    """

    reason: str | None
    records: list[StreamCloseRecord]

    @property
    def count(self) -> int:
        """Streams closed."""
        return len(self.records)

    @property
    def max_backpressure_count(self) -> int | None:
        """The highest ``backpressureCount`` of these streams (``None`` without records that carry one)."""
        counts = [r.backpressure_count for r in self.records if r.backpressure_count is not None]
        return max(counts) if counts else None

    def figures(self) -> dict[str, Any]:
        """``closes`` and ``maxBackpressureCount`` (``None`` without records)."""
        return {"closes": self.count, "maxBackpressureCount": self.max_backpressure_count}

    def line(self) -> str:
        """One line: how many streams closed (for which reason), the most backpressure met."""
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"{self.count} SSE stream closes{why} in the daemon's log, backpressureCount up to "
            f"{self.max_backpressure_count}"
        )


def stream_closes(lines: Iterable[str], reason: str | None = None) -> StreamCloses:
    """The ``SSE stream closed`` records among daemon log lines, only those of ``reason`` when given."""
    found = [(line, log_fields(line)) for line in lines if STREAM_CLOSED in line]
    return StreamCloses(
        reason, [StreamCloseRecord.of(line, f) for line, f in found if reason in (None, f.get("closeReason"))]
    )


# -- what groups of streams received -------------------------------------------------------------------
def _round(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


@dataclass(frozen=True)
class FrameDelivery:
    """One kind of frame across a group of streams: which streams received it, and when.

    Attributes:
        event_type: The frame type, e.g. ``turn_complete``.
        detail: The ``code``/``reason`` the frame had to carry (``code=daemon_shutdown``), empty for none.
        streams: Streams in the group.
        reached: Streams that received such a frame.
        missing: Positions (1-based) of the streams that did not.
        since: What the times count from (``the prompt``, ``SIGTERM``), empty when they are not measured.
        first_ms: From ``since`` to the first stream's frame, ms (``None`` without ``since`` or a frame).
        last_ms: From ``since`` to the last stream's frame, ms (``None`` without ``since`` or a frame).
        open_ms: From the first subscribe request to the last stream's answer, ms (``None``: none answered).
    """

    event_type: str
    detail: str
    streams: int
    reached: int
    missing: list[int]
    since: str = ""
    first_ms: float | None = None
    last_ms: float | None = None
    open_ms: float | None = None

    def figures(self) -> dict[str, Any]:
        """``streams``, ``reached``, ``firstMs``, ``lastMs`` and ``openMs`` (``None`` when not measured)."""
        return {
            "streams": self.streams,
            "reached": self.reached,
            "firstMs": _round(self.first_ms),
            "lastMs": _round(self.last_ms),
            "openMs": _round(self.open_ms),
        }

    def line(self) -> str:
        """One line: the frame, how many streams got it, the first and last after ``since``."""
        frame = f"{self.event_type} {self.detail}".strip()
        text = f"{frame} reached {self.reached}/{self.streams} streams"
        if self.last_ms is not None and self.first_ms is not None:
            text += f", the first {self.first_ms:.1f} ms and the last {self.last_ms:.1f} ms after {self.since}"
        if self.open_ms is not None:
            text += f" (all {self.streams} answered within {self.open_ms:.1f} ms)"
        return text


def frame_delivery(
    results: Sequence[StreamResult],
    event_type: str,
    *,
    code: str | None = None,
    reason: str | None = None,
    prompt_id: str | None = None,
    since_s: float | None = None,
    since: str = "",
) -> FrameDelivery:
    """Which of ``results`` received a frame of this type (``code``, ``reason``), and when.

    Args:
        results: The streams, in order.
        event_type: The frame type.
        code: Required ``code`` of the frame's data.
        reason: Required ``reason`` of the frame's data.
        prompt_id: A frame that names a prompt must name this one (frames naming none count).
        since_s: Monotonic time (s) the times count from (a prompt's POST, a signal); ``None``: no times.
        since: What ``since_s`` is, for the line.
    """
    times: list[float] = []
    missing: list[int] = []
    for position, result in enumerate(results, start=1):
        frames = matching_frames(result, event_type, code, reason)
        frame = next((env for env in frames if prompt_id is None or _prompt_of(env) in (None, prompt_id)), None)
        if frame is None:
            missing.append(position)
        elif since_s is not None and result.started_at:
            times.append((result.started_at - since_s) * 1000 + frame.get("_recv_ms", 0.0))
    answered = [r.started_at * 1000 + r.headers_ms for r in results if r.headers_ms is not None and r.started_at]
    opened = [r.started_at * 1000 for r in results if r.started_at]
    detail = " ".join(f"{name}={value}" for name, value in (("code", code), ("reason", reason)) if value)
    return FrameDelivery(
        event_type=event_type,
        detail=detail,
        streams=len(results),
        reached=len(results) - len(missing),
        missing=missing,
        since=since if since_s is not None else "",
        first_ms=min(times) if times else None,
        last_ms=max(times) if times else None,
        open_ms=max(answered) - min(opened) if answered and opened else None,
    )


def _prompt_of(env: dict) -> str | None:
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    return env.get("promptId") or data.get("promptId")


@dataclass(frozen=True)
class StreamEviction:
    """A stream the daemon evicted, as its ``client_evicted`` frame tells it.

    Attributes:
        reason: ``reason`` of the frame (``writer_idle_timeout``, ``queue_overflow``...).
        idle_for_ms: ``idleForMs`` of the frame: how long the daemon saw the writer idle (``None``: not sent).
        evicted_at_ms: When the frame arrived, ms from the subscribe request.
        received: Frames the stream received, the eviction frame included.
    """

    reason: str | None
    idle_for_ms: float | None
    evicted_at_ms: float | None
    received: int

    def figures(self) -> dict[str, Any]:
        """``evictionReason``, ``idleForMs``, ``evictedAtMs`` and ``received``."""
        return {
            "evictionReason": self.reason,
            "idleForMs": _round(self.idle_for_ms),
            "evictedAtMs": _round(self.evicted_at_ms),
            "received": self.received,
        }

    def line(self) -> str:
        """One line: the reason, when the frame came, after how many frames, how idle the daemon saw it."""
        at = "at an unknown time" if self.evicted_at_ms is None else f"at {self.evicted_at_ms:.0f} ms"
        idle = "" if self.idle_for_ms is None else f" (idleForMs {self.idle_for_ms:.0f})"
        return f"evicted ({self.reason}) {at} of the stream, frame {self.received}{idle}"


def eviction_of(stream: StreamResult) -> StreamEviction | None:
    """The stream's eviction, ``None`` when no ``client_evicted`` frame arrived."""
    if not stream.evicted:
        return None
    frame = find_frame(stream, "client_evicted")
    data = stream.terminal_data or {}
    idle = data.get("idleForMs")
    return StreamEviction(
        reason=stream.eviction_reason,
        idle_for_ms=float(idle) if isinstance(idle, (int, float)) and not isinstance(idle, bool) else None,
        evicted_at_ms=None if frame is None else frame.get("_recv_ms"),
        received=stream.received,
    )


@dataclass(frozen=True)
class PromptFrames:
    """Which prompts one frame type named on a stream (``pending_prompt_added``, ``turn_complete``...).

    Attributes:
        event_type: The frame type.
        prompts: Prompts asked about.
        named: Of those, prompts a frame of this type named.
        missing: Ids of the prompts no such frame named.
        frames: Frames of this type on the stream, for any prompt.
    """

    event_type: str
    prompts: int
    named: int
    missing: list[str]
    frames: int

    def figures(self) -> dict[str, Any]:
        """``prompts``, ``named`` and ``frames``."""
        return {"prompts": self.prompts, "named": self.named, "frames": self.frames}

    def line(self) -> str:
        """One line: the frame type, how many of the prompts it named, how many such frames arrived."""
        return f"{self.event_type} named {self.named}/{self.prompts} prompts ({self.frames} such frames)"


def prompt_frames(stream: StreamResult, event_type: str, prompt_ids: Sequence[str]) -> PromptFrames:
    """Which of ``prompt_ids`` a kept frame of ``event_type`` names (``promptId`` of the envelope or its data)."""
    named = {_prompt_of(env) for env in matching_frames(stream, event_type)}
    missing = [pid for pid in prompt_ids if pid not in named]
    return PromptFrames(
        event_type=event_type,
        prompts=len(prompt_ids),
        named=len(prompt_ids) - len(missing),
        missing=missing,
        frames=stream.counts.get(event_type, 0),
    )
