"""SSE subscriptions to a session's events (sseclient-py over an httpx stream).

A subscription runs in the calling thread (:func:`consume`) or in a background thread
(:class:`Subscription`), never logs, and returns a :class:`~keywords.traffic.stream_result.StreamResult`:
plain data a suite can check. Its options are :class:`~keywords.traffic.stream_options.StreamOptions`.
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
from typing import Any

import httpx
from sseclient import SSEClient

from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.stream_result import TERMINAL_TYPES, TURN_END_TYPES, StreamResult

_decode = json.JSONDecoder().decode


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
