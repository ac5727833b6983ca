"""Asking for permission requests and watching them arrive: the prompt that makes the mock agent ask, a
background subscription that hands out a session's requests in order, and how a turn ended.

:class:`PermissionWatch` wakes its waiters at every frame (no polling), so a request is answered as soon as it
is read. Its threads never log and never call Robot Framework.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from keywords.checks import seconds
from keywords.errors import HarnessConfigError
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import VOTE_EVENTS, PermissionRequest, Resolution, resolution_of
from keywords.traffic.sse import Subscription
from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.stream_result import TERMINAL_TYPES, TURN_END_TYPES
from mock_acp import directives

T = TypeVar("T")


def permission_prompt(permissions: int, text: str = "permission round trip", **settings: Any) -> str:
    """A prompt whose mock turn runs ``permissions`` tool calls, each asking first (plus other mock settings)."""
    tool_calls = settings.pop("tool_calls", permissions)
    try:
        prefix = directives.format_directive(tool_calls=tool_calls, permissions=permissions, **settings)
    except directives.MockSettingsError as exc:
        raise HarnessConfigError(str(exc)) from exc
    return f"{prefix} {text}"


def turn_end_text(env: dict[str, Any] | None) -> str:
    """``turn_complete end_turn``, ``turn_error prompt_deadline_exceeded``, ``session_closed`` or ``timeout``."""
    if env is None:
        return "timeout"
    etype = env.get("type")
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    if etype == "turn_complete":
        return f"turn_complete {data.get('stopReason')}"
    if etype == "turn_error":
        return f"turn_error {data.get('code')}"
    return str(etype)


def _prompt_of(env: dict[str, Any]) -> str | None:
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    return env.get("promptId") or data.get("promptId")


class PermissionWatch(Subscription):
    """A background subscription to one session that hands out its permission requests in arrival order.

    Every frame wakes the threads waiting in :meth:`wait_until`, so a request is answered as soon as it is read.
    Each kept frame also gets ``_wall`` (wall-clock receipt time, s), for figures that compare with the mock
    agent's report.

    Args:
        base_url: Daemon base URL (loopback).
        session_id: The session to follow.
        token: Bearer token, if the daemon needs one.
        timeout_s: Bound on the whole subscription.
        client_id: ``X-Qwen-Client-Id`` of the subscriber (diagnostic only for SSE).
        last_event_id: Replay after this id (``0`` replays the ring: requests published before are handed out too).
    """

    def __init__(
        self,
        base_url: str,
        session_id: str,
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        client_id: str | None = None,
        last_event_id: int | None = None,
    ) -> None:
        timeout_s = seconds("timeout", timeout_s, high=3600)
        options = StreamOptions(timeout_s=timeout_s, client_id=client_id, last_event_id=last_event_id)
        super().__init__(base_url, session_id, options, token)
        self._changed = threading.Condition()
        self._cursor = 0

    def _take(self, data: str, recv_ms: float, counts: Counter) -> None:
        before = self._last
        super()._take(data, recv_ms, counts)
        if self._last is not None and self._last is not before:
            self._last["_wall"] = time.time()
        with self._changed:
            self._changed.notify_all()

    def run(self):
        """Read until the stream ends, then wake every waiter (they see it ended)."""
        try:
            return super().run()
        finally:
            with self._changed:
                self._changed.notify_all()

    def wait_until(self, found: Callable[[list[dict[str, Any]]], T | None], timeout_s: float) -> T | None:
        """Call ``found(frames)`` at every new frame until it returns something, the stream ends, or the time is up.

        Returns:
            What ``found`` returned, or ``None``.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._changed:
            while True:
                value = found(self.result.events)
                if value is not None:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.done:
                    return None
                self._changed.wait(min(remaining, 0.25))

    def next_request(self, timeout_s: float = 10.0) -> PermissionRequest | None:
        """The next ``permission_request`` not handed out yet (waiting up to ``timeout_s``), or ``None``."""

        def find(events: list[dict[str, Any]]) -> PermissionRequest | None:
            for index in range(self._cursor, len(events)):
                if events[index].get("type") == "permission_request":
                    self._cursor = index + 1
                    return PermissionRequest.from_event(events[index], self.result.started_at)
            self._cursor = len(events)
            return None

        return self.wait_until(find, timeout_s)

    def requests(self) -> list[PermissionRequest]:
        """Every ``permission_request`` read so far (handed out or not), in order."""
        return [
            PermissionRequest.from_event(e, self.result.started_at)
            for e in list(self.result.events)
            if e.get("type") == "permission_request"
        ]

    def resolution(self, request_id: str, *, refusals: int = 0, timeout_s: float = 5.0) -> Resolution:
        """Wait until the request was resolved and ``refusals`` late votes were refused
        (``permission_already_resolved``), or the time is up; return what the stream showed by then."""

        def find(events: list[dict[str, Any]]) -> Resolution | None:
            seen = resolution_of(events, request_id, self.result.started_at)
            return seen if seen.resolved and seen.already_resolved >= refusals else None

        return self.wait_until(find, timeout_s) or resolution_of(
            list(self.result.events), request_id, self.result.started_at
        )

    def next_vote_event(self, after: int, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """The first vote frame (:data:`VOTE_EVENTS`) among the kept frames past index ``after``, or ``None``."""

        def find(events: list[dict[str, Any]]) -> dict[str, Any] | None:
            return next((e for e in events[after:] if e.get("type") in VOTE_EVENTS), None)

        return self.wait_until(find, timeout_s)

    def turn_end(self, prompt_id: str, timeout_s: float = 30.0) -> dict[str, Any] | None:
        """The frame that ended the turn of ``prompt_id`` (``turn_complete``/``turn_error``), or the session's
        terminal frame (``session_closed``, ``session_died``, ``client_evicted``); ``None`` within the time."""

        def find(events: list[dict[str, Any]]) -> dict[str, Any] | None:
            for env in events:
                etype = env.get("type")
                if etype in TURN_END_TYPES and _prompt_of(env) == prompt_id:
                    return env
                if etype in TERMINAL_TYPES:
                    return env
            return None

        return self.wait_until(find, timeout_s)

    def frame_mono(self, env: dict[str, Any]) -> float:
        """When the harness read a kept frame (monotonic clock, s)."""
        return self.result.started_at + env.get("_recv_ms", 0.0) / 1000


def open_watch(client: DaemonClient, session_id: str, *, timeout_s: float = 120.0, **options: Any) -> PermissionWatch:
    """Start a :class:`PermissionWatch` and wait for the daemon's answer to the subscription.

    Raises:
        AssertionError: the stream did not answer within 10 s, or not with 200.
    """
    watch = PermissionWatch(client.base_url, session_id, token=client.token, timeout_s=timeout_s, **options).start()
    if not watch.wait_connected(10.0):
        watch.stop()
        raise AssertionError(f"The event stream of session {session_id} did not answer within 10 s.")
    if watch.result.status != 200:
        watch.join(5.0)
        raise AssertionError(
            f"The event stream of session {session_id} was refused with {watch.result.status}: "
            f"{watch.result.error_status_body}."
        )
    return watch


def end_watch(watch: PermissionWatch) -> None:
    """Stop a watch and wait for its reader (bounded)."""
    watch.stop()
    watch.join(5.0)
