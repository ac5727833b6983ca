"""Keywords that subscribe to a session's server-sent events and check what arrived."""

from __future__ import annotations

from robotlibcore import keyword

from keywords.components.base import Component
from keywords.errors import HarnessConfigError
from keywords.traffic.sse import StreamOptions, StreamResult, Subscription


class EventKeywords(Component):
    """Subscribe to SSE streams (inline or in the background) and assert on the results."""

    def _options(
        self,
        last_event_id,
        max_queued,
        max_events,
        until,
        timeout,
        delay,
        stall,
        recv_buffer,
        keep_events=True,
        until_turn_end=None,
    ) -> StreamOptions:
        until_types = tuple(t.strip() for t in until.split(",") if t.strip()) if until else ()
        return StreamOptions(
            last_event_id=last_event_id,
            max_queued=max_queued,
            max_events=max_events,
            until_types=until_types,
            timeout_s=float(timeout),
            delay_per_event_s=float(delay),
            stall_s=float(stall),
            recv_buffer=recv_buffer,
            keep_events=keep_events,
            until_turn_end=until_turn_end or None,
        )

    @keyword(tags=("events",))
    def read_events(
        self,
        session_id: str,
        last_event_id: int | None = None,
        max_queued: int | None = None,
        max_events: int | None = None,
        until: str | None = None,
        timeout: float = 10.0,
        delay: float = 0.0,
        stall: float = 0.0,
        recv_buffer: int | None = None,
        until_turn_end: str | None = None,
        daemon: str | None = None,
    ) -> StreamResult:
        """Subscribe to a session's events and read until a stop condition, then return what arrived.

        Args:
            session_id: The session.
            last_event_id: Send ``Last-Event-ID`` (0 replays the whole ring; the daemon then sends
                ``replay_complete``).
            max_queued: The daemon's per-subscriber queue cap (16..2048).
            max_events: Stop after this many frames.
            until: Stop at the first frame of these types (comma separated), e.g. ``replay_complete``.
            timeout: Overall bound in seconds (ending by timeout is not an error; see ``${stream.end}``).
            delay: Seconds to sleep after each frame (a slow consumer).
            stall: Seconds to read nothing after connecting (a stalled consumer), then drain.
            recv_buffer: Socket receive buffer in bytes, set before connecting.
            until_turn_end: Stop when the turn of this prompt id ends (``turn_complete``/``turn_error``).

        Returns:
            ``StreamResult``: ``received``, ``ids``, ``last_id``, ``gaps``, ``duplicates``, ``end``,
            ``terminal``, ``evicted``, ``eviction_reason``, ``replay_complete``, ``first_event_ms``...

        Example:
            | ${stream}= | Read Events | ${sid} | last_event_id=0 | until=replay_complete |
            | Stream Should Have No Gaps | ${stream} |
        """
        running = self.ctx.get(daemon)
        options = self._options(
            last_event_id, max_queued, max_events, until, timeout, delay, stall, recv_buffer, True, until_turn_end
        )
        return _run_checked(Subscription(running.client.base_url, session_id, options, running.client.token))

    @keyword(tags=("events",))
    def subscribe_to_events(
        self,
        session_id: str,
        last_event_id: int | None = None,
        max_queued: int | None = None,
        max_events: int | None = None,
        until: str | None = None,
        timeout: float = 30.0,
        delay: float = 0.0,
        stall: float = 0.0,
        recv_buffer: int | None = None,
        keep_events: bool = True,
        until_turn_end: str | None = None,
        daemon: str | None = None,
    ) -> Subscription:
        """Start reading a session's events in the background; collect them with `Collect Events`.

        Takes the arguments of `Read Events`. Returns once the daemon answered the subscription (fails if it
        did not within 10 s). Stopping the daemon also stops the subscription.

        Args:
            session_id: The session.
            last_event_id: Send ``Last-Event-ID`` (0 replays the whole ring; the daemon then sends
                ``replay_complete``).
            max_queued: The daemon's per-subscriber queue cap (16..2048).
            max_events: Stop after this many frames.
            until: Stop at the first frame of these types (comma separated), e.g. ``session_closed``.
            timeout: Overall bound on the subscription in seconds (ending by timeout is not an error).
            delay: Seconds to sleep after each frame (a slow consumer).
            stall: Seconds to read nothing after connecting (a stalled consumer), then drain;
                `Release Stalled Reader` ends the stall early.
            recv_buffer: Socket receive buffer in bytes, set before connecting (small: a stall bites fast).
            keep_events: Keep every frame in the result; turn off for long floods (counts and ids are still
                recorded).
            until_turn_end: Stop when the turn of this prompt id ends (``turn_complete``/``turn_error``).

        Returns:
            The running ``Subscription``; `Collect Events` turns it into a ``StreamResult``.

        Example:
            | ${sub}= | Subscribe To Events | ${sid} |
            | Prompt And Wait | ${sid} |
            | ${stream}= | Collect Events | ${sub} |
        """
        running = self.ctx.get(daemon)
        options = self._options(
            last_event_id,
            max_queued,
            max_events,
            until,
            timeout,
            delay,
            stall,
            recv_buffer,
            keep_events,
            until_turn_end,
        )
        sub = Subscription(running.client.base_url, session_id, options, running.client.token).start()
        running.subscriptions.append(sub)
        if not sub.wait_connected(10.0):
            raise AssertionError(f"The event stream of {session_id} did not answer within 10 s.")
        return sub

    @keyword(tags=("events",))
    def collect_events(self, subscription: Subscription, timeout: float = 30.0, stop: bool = False) -> StreamResult:
        """Wait for a background subscription to finish (or stop it) and return its result.

        Args:
            subscription: From `Subscribe To Events`.
            timeout: Seconds to wait before stopping it.
            stop: Stop it now instead of waiting for its own stop condition.

        Example:
            | ${stream}= | Collect Events | ${sub} | stop=${True} |
        """
        if stop:
            subscription.stop()
        return subscription.join(float(timeout))

    @keyword(tags=("events", "assertion"))
    def stream_should_have_no_gaps(self, stream: StreamResult) -> None:
        """Fail if event ids did not rise by exactly one (gaps, duplicates, out of order) or frames were malformed.

        Example:
            | Stream Should Have No Gaps | ${stream} |
        """
        problems = []
        if stream.gaps:
            problems.append(f"gaps {', '.join(stream.gaps[:10])}")
        if stream.duplicates:
            problems.append(f"repeated/out-of-order ids {stream.duplicates[:10]}")
        if stream.malformed:
            problems.append(f"{stream.malformed} malformed frames")
        if problems:
            raise AssertionError(f"Event stream not continuous: {'; '.join(problems)} ({stream.summary()}).")

    @keyword(tags=("events", "assertion"))
    def stream_should_have_ended_with(self, stream: StreamResult, end: str, terminal: str | None = None) -> None:
        """Fail unless the stream ended this way (terminal, eof, cut, timeout...) with this terminal frame.

        Args:
            stream: A stream result (`Read Events`, `Collect Events`).
            end: Expected ``end``: ``terminal``, ``turn_end``, ``max_events``, ``until_type``, ``timeout``,
                ``eof``, ``cut``, ``stopped`` or ``error``.
            terminal: Expected terminal frame type (``session_closed``, ``session_died``, ``client_evicted``);
                not checked when empty.

        Example:
            | Stream Should Have Ended With | ${stream} | terminal | session_closed |
        """
        if stream.end != end or (terminal is not None and stream.terminal != terminal):
            raise AssertionError(
                f"Stream ended {stream.end} {stream.terminal or ''}, expected {end} "
                f"{terminal or ''} ({stream.summary()})."
            )

    @keyword(tags=("events",))
    def release_stalled_reader(self, subscription: Subscription) -> None:
        """End a background reader's stall now, so it drains what the kernel buffered and sees how it ended.

        Args:
            subscription: A background subscription started with ``stall``.

        Example:
            | ${stalled}= | Subscribe To Events | ${sid} | max_queued=16 | stall=30 | recv_buffer=4096 |
            | Release Stalled Reader | ${stalled} |
        """
        subscription.release()

    @keyword(tags=("events", "assertion"))
    def stream_should_have_been_cut_before_any_terminal_frame(self, stream: StreamResult) -> None:
        """Fail unless the connection broke (reset or truncated body) before any terminal frame arrived.

        This is how a stalled reader experiences its eviction on this daemon: the ``client_evicted`` frame is
        written behind a full kernel buffer and lost when the daemon destroys the socket.

        Args:
            stream: The stalled reader's result (`Collect Events`).

        Example:
            | Stream Should Have Been Cut Before Any Terminal Frame | ${stalled_stream} |
        """
        if not stream.cut_before_terminal:
            raise AssertionError(
                f"Expected the stream to be cut before any terminal frame, but it ended {stream.end} "
                f"{stream.terminal or ''} ({stream.summary()}; error: {stream.error})."
            )

    @keyword(tags=("events", "assertion"))
    def stream_should_continue_exactly_after(
        self, stream: StreamResult, cursor: int, last_id: int | None = None, replay: bool = True
    ) -> None:
        """Fail unless the stream holds exactly the events after ``cursor``: ids cursor+1, cursor+2, ... with
        no gap or duplicate, up to ``last_id`` when given, and ``replay_complete`` seen when ``replay`` is true.

        Example:
            | ${again}= | Read Events | ${sid} | last_event_id=${first.last_id} | until=turn_complete |
            | Stream Should Continue Exactly After | ${again} | ${first.last_id} | ${accepted.last_event_id} |
        """
        cursor = int(cursor)
        problems = []
        if not stream.ids:
            problems.append("no event with an id arrived")
        elif stream.ids[0] != cursor + 1:
            problems.append(f"the first id is {stream.ids[0]}, expected {cursor + 1}")
        if stream.gaps:
            problems.append(f"gaps {', '.join(stream.gaps[:10])}")
        if stream.duplicates:
            problems.append(f"repeated/out-of-order ids {stream.duplicates[:10]}")
        if stream.malformed:
            problems.append(f"{stream.malformed} malformed frames")
        if last_id is not None and stream.last_id != int(last_id):
            problems.append(f"the last id is {stream.last_id}, expected {last_id}")
        if replay and stream.replay_complete is None:
            problems.append("no replay_complete frame")
        elif replay:
            problems += _replay_boundary_problems(stream, cursor)
        if stream.resync is not None:
            problems.append(f"state_resync_required {stream.resync}")
        if problems:
            raise AssertionError(
                f"The stream did not continue exactly after id {cursor}: {'; '.join(problems)} ({stream.summary()})."
            )

    @keyword(tags=("events",))
    def count_events(self, stream: StreamResult, event_type: str) -> int:
        """Number of frames of one type in a stream result.

        Frames are counted as they arrive, so the count is right even with ``keep_events=${False}``.

        Args:
            stream: A stream result (`Read Events`, `Collect Events`).
            event_type: The frame type, e.g. ``session_update`` or ``turn_complete``.

        Returns:
            The number of frames of that type (0 when none arrived).

        Example:
            | ${n}= | Count Events | ${stream} | session_update |
        """
        return stream.counts.get(event_type, 0)


def _run_checked(sub: Subscription) -> StreamResult:
    opts = sub.options
    if opts.max_events is None and not opts.until_types and not opts.until_turn_end and opts.timeout_s > 600:
        raise HarnessConfigError("A stream without a stop condition needs a timeout of 600 s or less.")
    return sub.run()


def _replay_boundary_problems(stream: StreamResult, cursor: int) -> list[str]:
    """``replay_complete`` must sit right after the last replayed event and count the events since the cursor."""
    done = stream.replay_complete or {}
    last_replayed = done.get("lastReplayedEventId")
    count = done.get("replayedCount")
    problems = []
    if isinstance(last_replayed, int) and isinstance(count, int) and count != last_replayed - cursor:
        problems.append(
            f"replay_complete counts {count} replayed events, but ids {cursor + 1}..{last_replayed} "
            f"are {last_replayed - cursor}"
        )
    if stream.events and isinstance(last_replayed, int):
        before = None
        for env in stream.events:
            if env.get("type") == "replay_complete":
                break
            if isinstance(env.get("id"), int):
                before = env["id"]
        if before != (last_replayed if last_replayed > cursor else None):
            problems.append(f"replay_complete came after id {before}, but says the replay ended at {last_replayed}")
    return problems
