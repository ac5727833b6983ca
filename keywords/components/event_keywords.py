"""Keywords that subscribe to a session's server-sent events and collect what arrived (checks: `stream_check_keywords`).

Every keyword that opens a stream takes the same options, documented once in the library introduction
(`Stream options`) and turned into :class:`~keywords.traffic.stream_options.StreamOptions` by one function,
:func:`keywords.traffic.stream_options.stream_options`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from robotlibcore import keyword

from keywords.checks import seconds, whole_number
from keywords.components.component import Component, Option, takes_options
from keywords.errors import HarnessConfigError
from keywords.traffic.sse import Subscription, wait_until_received
from keywords.traffic.stream_options import StreamOptions, stream_options
from keywords.traffic.stream_result import StreamResult, StreamsSummary

MAX_STREAMS = 256
CONNECT_S = 10.0
MAX_UNBOUNDED_READ_S = 600.0


STREAM_OPTIONS: dict[str, Option] = {  # the `Stream options` of the library introduction
    "last_event_id": Option(int | None, None),
    "max_queued": Option(int | None, None),
    "max_events": Option(int | None, None),
    "until": Option(list[str] | str | None, None),
    "until_turn_end": Option(str | None, None),
    "timeout": Option(timedelta | float, 30.0),
    "delay": Option(timedelta | float, 0.0),
    "stall": Option(timedelta | float, 0.0),
    "recv_buffer": Option(int | None, None),
    "keep_events": Option(bool, True),
}


def takes_stream_options(*, timeout: float) -> Callable[[Callable], Callable]:
    """Give a keyword the `Stream options` as typed keyword-only arguments, placed before ``daemon``.

    The keyword declares ``*, daemon=None, **options`` and passes ``options`` to
    :func:`~keywords.traffic.stream_options.stream_options`; ``timeout`` is the keyword's default bound.
    ``{stream_options}`` in its docstring names the options.
    """
    names = ", ".join(f"``{name}``" for name in STREAM_OPTIONS)

    def add(function: Callable) -> Callable:
        function.__doc__ = function.__doc__.replace("{stream_options}", f"`Stream options` ({names})")
        return takes_options(STREAM_OPTIONS, before="daemon", timeout=timeout)(function)

    return add


class EventKeywords(Component):
    """Subscribe to SSE streams (inline or in the background) and assert on the results."""

    @keyword(tags=("events",))
    @takes_stream_options(timeout=10.0)
    def read_events(
        self,
        session_id: str,
        *,
        daemon: str | None = None,
        **options: Any,
    ) -> StreamResult:
        """Subscribe to a session's events and read until a stop condition, then return what arrived.

        Takes the {stream_options}. A stream with no stop condition but its ``timeout`` may last at
        most 600 s.

        Args:
            session_id: The session.

        Returns:
            ``StreamResult`` (see `Stream options`): ``received``, ``ids``, ``last_id``, ``gaps``, ``end``,
            ``terminal``, ``evicted``, ``cut_before_terminal``, ``replayed_count``, ``figures()``, ``line()``.

        Example:
            | ${stream}= | Read Events | ${sid} | last_event_id=0 | until=replay_complete |
            | Stream Should Have No Gaps | ${stream} |
        """
        options = stream_options(**options)
        unbounded = options.max_events is None and not options.until_types and not options.until_turn_end
        if unbounded and options.timeout_s > MAX_UNBOUNDED_READ_S:
            raise HarnessConfigError(
                f"A stream read with no stop condition (max_events, until, until_turn_end) needs a timeout of "
                f"{MAX_UNBOUNDED_READ_S:g} s or less, got {options.timeout_s:g} s."
            )
        running = self.ctx.get(daemon)
        return Subscription(running.client.base_url, session_id, options, running.client.token).run()

    @keyword(tags=("events",))
    @takes_stream_options(timeout=30.0)
    def subscribe_to_events(
        self,
        session_id: str,
        *,
        daemon: str | None = None,
        **options: Any,
    ) -> Subscription:
        """Start reading a session's events in the background; collect them with `Collect Events`.

        Takes the {stream_options}. Returns once the daemon answered the subscription (fails if it did
        not within 10 s). Stopping the daemon also stops the subscription.

        Args:
            session_id: The session.

        Returns:
            The running ``Subscription`` (``result`` fills as frames arrive, ``done``); `Collect Events` turns
            it into a ``StreamResult``.

        Example:
            | ${sub}= | Subscribe To Events | ${sid} | until=turn_complete,turn_error | timeout=20 s |
            | Prompt And Wait | ${sid} |
            | ${stream}= | Collect Events | ${sub} |
        """
        options = stream_options(**options)
        sub = self._start(session_id, options, daemon)
        if not sub.wait_connected(CONNECT_S):
            raise AssertionError(f"The event stream of {session_id} did not answer within {CONNECT_S:g} s.")
        return sub

    @keyword(tags=("events",))
    @takes_stream_options(timeout=30.0)
    def open_event_streams(
        self,
        session_id: str,
        count: int,
        *,
        daemon: str | None = None,
        **options: Any,
    ) -> list[Subscription]:
        """Open ``count`` background subscriptions on one session and wait until each is answered with 200.

        Takes the {stream_options}, the same for every stream. Fails if any subscription is refused
        (probe the one over a cap with a plain request).

        Args:
            session_id: The session.
            count: Subscriptions, 1 to 256.

        Returns:
            The running ``Subscription`` objects, in opening order; pass them to `Collect Event Streams`.

        Example:
            | ${subs}= | Open Event Streams | ${sid} | 64 | until=turn_complete | timeout=20 s |
        """
        count = whole_number("count", count, low=1, high=MAX_STREAMS, unit="streams")
        options = stream_options(**options)
        subs = [self._start(session_id, dataclasses.replace(options), daemon) for _ in range(count)]
        deadline = time.monotonic() + 15.0
        for index, sub in enumerate(subs):
            if not sub.wait_connected(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"Event stream #{index + 1} of {session_id} did not answer within 15 s.")
            if sub.result.status != 200:
                raise AssertionError(f"Event stream #{index + 1} of {session_id} was refused: {sub.result.error}")
        return subs

    def _start(self, session_id: str, options: StreamOptions, daemon: str | None) -> Subscription:
        running = self.ctx.get(daemon)
        sub = Subscription(running.client.base_url, session_id, options, running.client.token).start()
        running.subscriptions.append(sub)
        return sub

    @keyword(tags=("events",))
    def wait_until_event_streams_receive(
        self,
        subscriptions: list[Subscription] | Subscription,
        *,
        frames: int = 1,
        timeout: timedelta | float = 10.0,
    ) -> list[int]:
        """Wait until every background stream has received ``frames`` frames; fail after ``timeout``.

        Use it instead of a fixed sleep when a step needs the streams to be flowing (a turn's frames arriving).
        A stream that ended before it got that many fails the wait too.

        Args:
            subscriptions: One subscription or a list (`Subscribe To Events`, `Open Event Streams`).
            frames: Frames each stream must have received, 1 or more.
            timeout: How long to wait (Robot time string or seconds, at most 120 s).

        Returns:
            The number of frames each stream had received when the wait ended, in the order given.

        Example:
            | ${sub}= | Subscribe To Events | ${sid} |
            | Send Prompt | ${sid} | stream on | chunks=5000 | chunk_delay_ms=2 |
            | Wait Until Event Streams Receive | ${sub} | frames=2 | timeout=5 s |
        """
        subs = subscriptions if isinstance(subscriptions, list) else [subscriptions]
        if not subs or not all(isinstance(sub, Subscription) for sub in subs):
            raise HarnessConfigError(
                "subscriptions must be one or more subscriptions from Subscribe To Events or Open Event Streams, "
                f"got {subscriptions!r}."
            )
        frames = whole_number("frames", frames, low=1)
        timeout_s = seconds("timeout", timeout, high=120)
        counts = wait_until_received(subs, frames, timeout_s)
        short = [f"#{i + 1} got {n}" for i, n in enumerate(counts) if n < frames]
        if short:
            raise AssertionError(
                f"Not every event stream received {frames} frame(s) within {timeout_s:g} s: {', '.join(short)} "
                f"(of {len(subs)} streams)."
            )
        return counts

    @keyword(tags=("events",))
    def collect_events(
        self, subscription: Subscription, *, timeout: timedelta | float = 30.0, stop: bool = False
    ) -> StreamResult:
        """Wait for a background subscription to finish (or stop it) and return its result.

        Args:
            subscription: From `Subscribe To Events`.
            timeout: How long to wait before stopping it (Robot time string or seconds).
            stop: Stop it now instead of waiting for its own stop condition.

        Returns:
            Its ``StreamResult`` (see `Stream options`).

        Example:
            | ${stream}= | Collect Events | ${sub} | timeout=10 s |
            | ${stream}= | Collect Events | ${sub} | stop=${True} |
        """
        timeout_s = seconds("timeout", timeout)
        if stop:
            subscription.stop()
        return subscription.join(timeout_s)

    @keyword(tags=("events",))
    def collect_event_streams(
        self, subscriptions: list[Subscription], *, timeout: timedelta | float = 30.0, stop: bool = False
    ) -> StreamsSummary:
        """Wait for background subscriptions to end (or stop them) and summarise what they saw.

        Args:
            subscriptions: From `Open Event Streams` or `Subscribe To Events`.
            timeout: Overall bound (Robot time string or seconds); subscriptions still running then are stopped.
            stop: Stop them all now instead of waiting for their stop conditions.

        Returns:
            ``StreamsSummary``: ``count``, ``statuses`` (status -> streams), ``ends`` (end -> streams),
            ``terminals`` (terminal frame -> streams), ``results`` (each ``StreamResult``),
            ``count_with(type, code, reason)`` (streams with such a frame), ``figures()``, ``line()``.

        Example:
            | ${all}= | Collect Event Streams | ${subs} | timeout=10 s |
            | Should Be Equal As Integers | ${all.count_with('turn_complete')} | 64 |
        """
        timeout_s = seconds("timeout", timeout)
        if stop:
            for sub in subscriptions:
                sub.stop()
        deadline = time.monotonic() + timeout_s
        summary = StreamsSummary.of([sub.join(max(0.1, deadline - time.monotonic())) for sub in subscriptions])
        return self.reported(summary)

    @keyword(tags=("events",))
    def release_stalled_reader(self, subscription: Subscription) -> None:
        """End a background reader's stall now, so it drains what the kernel buffered and sees how it ended.

        Args:
            subscription: A background subscription started with ``stall``.

        Example:
            | ${stalled}= | Subscribe To Events | ${sid} | max_queued=16 | stall=30 s | recv_buffer=4096 |
            | Release Stalled Reader | ${stalled} |
        """
        subscription.release()
