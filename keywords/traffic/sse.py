"""SSE subscriptions to a session's events (sseclient-py over an httpx stream) and their results.

A subscription runs in the calling thread (:func:`consume`) or in a background thread
(:class:`Subscription`), never logs, and returns a :class:`StreamResult`: plain data a suite can check.
Times use the monotonic clock, in milliseconds from the moment the request was sent; delivery delays
compare the daemon's ``serverTimestamp`` (wall clock, ms) with the wall-clock receipt time.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sseclient import SSEClient

from keywords.checks import seconds, whole_number
from keywords.errors import HarnessConfigError
from keywords.measure.metrics import summarize

_decode = json.JSONDecoder().decode
TERMINAL_TYPES = ("session_closed", "session_died", "client_evicted")
TURN_END_TYPES = ("turn_complete", "turn_error")
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


class _Ended(Exception):
    """The deadline passed, or a stop was asked, while bytes but no event arrived (heartbeat comments)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _until(chunks, deadline: float, stopped) -> Iterator[bytes]:
    """The byte chunks, ended at the deadline or a stop even when no event arrives: a heartbeat comment (every
    15 s from the daemon) keeps each read shorter than the read timeout but yields no event to check."""
    for chunk in chunks:
        yield chunk
        if stopped():
            raise _Ended("stopped")
        if time.monotonic() >= deadline:
            raise _Ended("timeout")


class _Chunks:
    """Byte-chunk iterator with the ``close`` method SSEClient expects (httpx closes the stream itself)."""

    def __init__(self, chunks) -> None:
        self._chunks = chunks

    def __iter__(self):
        return iter(self._chunks)

    def close(self) -> None:  # SSEClient API
        pass


_SSL_CONTEXT: ssl.SSLContext | None = None
_SSL_LOCK = threading.Lock()


def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every subscription: building one loads the CA bundle (~20 ms), and each
    transport would build its own although streams only ever go to plain-HTTP loopback daemons."""
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = ssl.create_default_context()
        return _SSL_CONTEXT


def _transport(recv_buffer: int | None) -> httpx.HTTPTransport:
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)] if recv_buffer else None
    return httpx.HTTPTransport(socket_options=options, retries=0, verify=_ssl_context())


class Subscription:
    """One SSE subscription; use :meth:`run` inline or :meth:`start` for a background thread.

    Args:
        base_url: Daemon base URL (loopback).
        session_id: Session to follow.
        options: :class:`StreamOptions`.
        token: Bearer token, if the daemon needs one.
    """

    def __init__(self, base_url: str, session_id: str, options: StreamOptions, token: str | None = None) -> None:
        options.validate()
        self.base_url = base_url
        self.session_id = session_id
        self.options = options
        self.token = token
        self.result = StreamResult()
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._release = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: httpx.Response | None = None
        self._socket: socket.socket | None = None
        self._last: dict | None = None
        self._turn_ended = False
        self._chunks = 0

    # -- control ------------------------------------------------------------------------------
    def start(self) -> Subscription:
        """Run in a daemon thread; returns once the request is sent (not necessarily answered)."""
        self._thread = threading.Thread(target=self.run, name=f"sse-{self.session_id[:8]}", daemon=True)
        self._thread.start()
        return self

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """Block until the response headers arrived (or the subscription ended)."""
        return self.connected.wait(timeout_s)

    def release(self) -> None:
        """End a stall now: the reader starts draining what the kernel buffered."""
        self._release.set()

    def stop(self) -> None:
        """Ask the reader to stop and close its connection."""
        self._stop.set()
        self._release.set()
        sock = self._socket
        if sock is not None:  # closing the response alone does not wake a read blocked until the next frame
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()

    def join(self, timeout_s: float | None = None) -> StreamResult:
        """Wait for the background reader; stop it if it outlives ``timeout_s``."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self.stop()
                self._thread.join(5.0)
        return self.result

    @property
    def done(self) -> bool:
        """Whether the reader has finished."""
        return self._thread is not None and not self._thread.is_alive()

    # -- reading ------------------------------------------------------------------------------
    def run(self) -> StreamResult:
        """Subscribe and read until a stop condition; always returns a result."""
        opts = self.options
        res = self.result
        started = time.monotonic()
        res.started_at = started
        deadline = started + opts.timeout_s
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if opts.last_event_id is not None:
            headers["Last-Event-ID"] = str(opts.last_event_id)
        if opts.client_id:
            headers["X-Qwen-Client-Id"] = opts.client_id
        params = {}
        if opts.max_queued is not None:
            params["maxQueued"] = str(opts.max_queued)
        if opts.snapshot:
            params["snapshot"] = "1"
        timeout = httpx.Timeout(connect=10.0, read=opts.timeout_s, write=10.0, pool=10.0)
        client = httpx.Client(
            base_url=self.base_url, transport=_transport(opts.recv_buffer), timeout=timeout, trust_env=False
        )
        try:
            with client.stream("GET", f"/session/{self.session_id}/events", headers=headers, params=params) as response:
                self._response = response
                self._socket = _socket_of(response)
                res.status = response.status_code
                res.headers_ms = (time.monotonic() - started) * 1000
                res.stream_id = response.headers.get("x-qwen-sse-stream-id")
                res.epoch = response.headers.get("x-qwen-event-epoch")
                self.connected.set()
                if response.status_code != 200:
                    response.read()
                    res.error_status_body = _json_or_text(response.content)
                    res.end = "error"
                    res.error = f"GET /session/:id/events -> {response.status_code}: {res.error_status_body}"
                    return res
                if opts.stall_s:
                    self._release.wait(min(opts.stall_s, max(0.0, deadline - time.monotonic())))
                    if self._stop.is_set():  # stopped while stalled: the response is closed, nothing to drain
                        res.end = "stopped"
                        return res
                self._read(response, started, deadline)
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            self._ended_by_error(exc, "cut")
        except httpx.StreamError as exc:  # the response was closed under the reader (stop())
            self._ended_by_error(exc, "error")
        except httpx.TimeoutException as exc:
            if res.end == "error":
                res.end = "timeout"
                res.error = None if res.status == 200 else str(exc)
        except httpx.HTTPError as exc:
            self._ended_by_error(exc, "error")
        finally:
            self.connected.set()
            res.elapsed_ms = (time.monotonic() - started) * 1000
            with contextlib.suppress(Exception):
                client.close()
        return res

    def _ended_by_error(self, exc: Exception, kind: str) -> None:
        res = self.result
        if self._stop.is_set():
            res.end = "stopped"
            return
        res.end = kind
        res.error = f"{type(exc).__name__}: {exc}"

    def _read(self, response: httpx.Response, started: float, deadline: float) -> None:
        # The per-frame path is hot (tens of thousands of frames per second): names are bound locally.
        opts = self.options
        res = self.result
        counts: Counter[str] = Counter()
        take, stop_reason, stop_set, monotonic = self._take, self._stop_reason, self._stop.is_set, time.monotonic
        delay = opts.delay_per_event_s
        try:
            for frame in SSEClient(_Chunks(_until(response.iter_raw(), deadline, stop_set))).events():
                now = monotonic()
                take(frame.data, (now - started) * 1000, counts)
                stop = stop_reason(res)
                if stop:
                    res.end = stop
                    return
                if stop_set():
                    res.end = "stopped"
                    return
                if now >= deadline:
                    res.end = "timeout"
                    return
                if delay:
                    self._stop.wait(delay)
            res.end = "eof"
        except _Ended as ended:
            res.end = ended.reason
        finally:
            res.counts = dict(counts)

    def _take(self, data: str, recv_ms: float, counts: Counter) -> None:
        res = self.result
        try:
            env = _decode(data)
            if not isinstance(env, dict) or not isinstance(env.get("type"), str):
                raise ValueError("not an event envelope")
        except ValueError:
            res.malformed += 1
            return
        res.received += 1
        if res.first_event_ms is None:
            res.first_event_ms = recv_ms
        etype = env["type"]
        counts[etype] += 1
        stamp = (env.get("_meta") or {}).get("serverTimestamp")
        if isinstance(stamp, (int, float)):
            res.delivery_ms.append(time.time() * 1000 - stamp)
        event_id = env.get("id")
        if isinstance(event_id, int):
            if res.last_id is not None:
                if event_id <= res.last_id:
                    res.duplicates.append(event_id)
                elif event_id != res.last_id + 1:
                    res.gaps.append(f"{res.last_id}->{event_id}")
            res.ids.append(event_id)
            if res.last_id is None or event_id > res.last_id:
                res.last_id = event_id
        payload = env.get("data") if isinstance(env.get("data"), dict) else {}
        if etype == "replay_complete":
            res.replay_complete = payload
            count, last = payload.get("replayedCount"), payload.get("lastReplayedEventId")
            res.replayed_count = count if isinstance(count, int) else None
            res.last_replayed_id = last if isinstance(last, int) else None
        elif etype == "state_resync_required":
            res.resync = payload
        elif etype in TERMINAL_TYPES:
            res.terminal = etype
            res.terminal_data = payload
            if etype == "client_evicted":
                res.evicted = True
                res.eviction_reason = payload.get("reason")
        env["_recv_ms"] = recv_ms
        self._last = env
        if self.options.until_chunks is not None and self._is_chunk(env):
            self._chunks += 1
        if self.options.keep_events:
            res.events.append(env)

    def _is_chunk(self, env: dict) -> bool:
        data = env.get("data") if isinstance(env.get("data"), dict) else {}
        if (data.get("update") or {}).get("sessionUpdate") != "agent_message_chunk":
            return False
        wanted = self.options.until_turn_end
        return wanted is None or (env.get("promptId") or data.get("promptId")) in (None, wanted)

    def _stop_reason(self, res: StreamResult) -> str | None:
        opts = self.options
        if res.terminal is not None:
            return "terminal"
        last = self._last
        if last is not None:
            etype = last["type"]
            if opts.until_turn_end and etype in TURN_END_TYPES:
                pid = last.get("promptId") or (last.get("data") or {}).get("promptId")
                if pid == opts.until_turn_end:
                    self._turn_ended = True
            if self._turn_ended and (opts.last_event_id is None or res.replay_complete is not None):
                # a turn end inside the replay waits for replay_complete, which the daemon sends right after
                return "turn_end"
            if opts.until_types and etype in opts.until_types:
                return "until_type"
            if opts.until_chunks is not None and self._chunks >= opts.until_chunks:
                return "chunks"
        if opts.max_events is not None and res.received >= opts.max_events:
            return "max_events"
        return None


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


def wait_until_received(
    subscriptions: Sequence[Subscription], frames: int, timeout_s: float, interval_s: float = 0.02
) -> list[int]:
    """Poll until every subscription has received ``frames`` frames (or ended); return the counts then.

    Bounded in time (``timeout_s``) and in polls; the caller judges the counts it gets back.
    """
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / interval_s) + 2):
        counts = [sub.result.received for sub in subscriptions]
        if all(n >= frames or sub.done for n, sub in zip(counts, subscriptions, strict=True)):
            return counts
        if time.monotonic() >= deadline:
            break
        time.sleep(interval_s)
    return [sub.result.received for sub in subscriptions]


def consume(base_url: str, session_id: str, options: StreamOptions, token: str | None = None) -> StreamResult:
    """Subscribe in the calling thread and return when a stop condition is met."""
    return Subscription(base_url, session_id, options, token).run()


def _socket_of(response: httpx.Response) -> socket.socket | None:
    """The connection's socket (so :meth:`Subscription.stop` can wake a blocked read), if httpx exposes it."""
    with contextlib.suppress(Exception):
        sock = response.extensions["network_stream"].get_extra_info("socket")
        if isinstance(sock, socket.socket):
            return sock
    return None


def _json_or_text(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content.decode(errors="replace")[:500]
