"""Keywords that check what arrived on event streams: gaps, ends, cuts, continuity, turns, evictions.

They read :class:`~keywords.traffic.stream_result.StreamResult` objects that the event keywords return
(`Read Events`, `Collect Events`); the protocol rules they check live in the model
(:mod:`keywords.traffic.stream_result`, :mod:`keywords.traffic.turns`, :mod:`keywords.traffic.limits`).
"""

from __future__ import annotations

from typing import Literal

from robotlibcore import keyword

from keywords.checks import whole_number
from keywords.components.component import Component, fail_on
from keywords.errors import HarnessConfigError
from keywords.traffic.client import PromptAccepted
from keywords.traffic.connections import ShutdownResult
from keywords.traffic.limits import (
    FrameDelivery,
    PromptFrames,
    StreamEviction,
    eviction_of,
    frame_delivery,
    prompt_frames,
)
from keywords.traffic.stream_options import END_REASONS
from keywords.traffic.stream_result import (
    TERMINAL_TYPES,
    TURN_END_TYPES,
    StreamResult,
    StreamsSummary,
    continuity_problems,
    find_frame,
    order_problems,
)
from keywords.traffic.turns import turn_span_problems

EndReason = Literal[END_REASONS]
TerminalFrame = Literal[TERMINAL_TYPES]
TurnEnd = Literal[TURN_END_TYPES]


class StreamCheckKeywords(Component):
    """Check what arrived on event streams."""

    @keyword(tags=("events", "assertion"))
    def stream_should_have_no_gaps(self, stream: StreamResult) -> None:
        """Fail if event ids did not rise by exactly one (gaps, duplicates, out of order) or frames were malformed.

        Args:
            stream: A stream result (`Read Events`, `Collect Events`).

        Example:
            | Stream Should Have No Gaps | ${stream} |
        """
        problems = order_problems(stream)
        fail_on(problems, "Event stream not continuous:", stream.summary())

    @keyword(tags=("events", "assertion"))
    def stream_should_have_ended_with(
        self,
        stream: StreamResult,
        end: EndReason,
        terminal: TerminalFrame | None = None,
        *,
        reason: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Fail unless the stream ended this way (terminal, eof, cut, timeout...) with this terminal frame.

        Args:
            stream: A stream result (`Read Events`, `Collect Events`).
            end: Expected ``end`` of the result.
            terminal: Expected terminal frame type; not checked when empty.
            reason: Expected ``reason`` of the terminal frame (``channel_closed``); not checked when empty.
            exit_code: Expected ``exitCode`` of the terminal frame (the agent's exit status in ``session_died``);
                not checked when empty.

        Example:
            | Stream Should Have Ended With | ${stream} | terminal | session_closed |
            | Stream Should Have Ended With | ${seen} | terminal | session_died | reason=channel_closed | exit_code=1 |
        """
        if stream.end != end or (terminal is not None and stream.terminal != terminal):
            raise AssertionError(
                f"Stream ended {stream.end} {stream.terminal or ''}, expected {end} "
                f"{terminal or ''} ({stream.summary()})."
            )
        exit_code = None if exit_code is None else whole_number("exit_code", exit_code, low=None)
        if reason is not None and stream.terminal_reason != reason:
            raise AssertionError(
                f"The stream's {stream.terminal} frame should give the reason {reason!r}, but gave "
                f"{stream.terminal_reason!r} ({stream.terminal_data})."
            )
        if exit_code is not None and stream.terminal_exit_code != exit_code:
            raise AssertionError(
                f"The stream's {stream.terminal} frame should give exit code {exit_code}, but gave "
                f"{stream.terminal_exit_code!r} ({stream.terminal_data})."
            )

    @keyword(tags=("events", "assertion"))
    def stream_should_have_been_cut_before_any_terminal_frame(self, stream: StreamResult) -> None:
        """Fail unless the connection broke (reset or truncated body) before any terminal frame arrived.

        This is how a stalled reader experiences its eviction on this daemon: the ``client_evicted`` frame is
        written behind a full kernel buffer and lost when the daemon destroys the socket. A cut alone does not
        say why (a daemon crash cuts too): `Wait For Eviction In Daemon Log` confirms an eviction.

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
        self, stream: StreamResult, cursor: int, last_id: int | None = None, *, replay: bool = True
    ) -> None:
        """Fail unless the stream holds exactly the events after ``cursor``.

        Ids must run ``cursor+1``, ``cursor+2``, ... with no gap, duplicate or malformed frame, and no
        ``state_resync_required`` may arrive. The failure names each thing that is off, e.g. "the first id is
        7, expected 6" or "no replay_complete frame after replaying from id 6".

        Args:
            stream: A stream result (`Read Events`, `Collect Events`).
            cursor: The id the stream continues after: the ``last_event_id`` it was opened with, or the
                ``last_event_id`` of a `Send Prompt` answer for a stream opened before the prompt.
            last_id: The id the stream must end at; not checked when empty. For the end of one turn use
                `Stream Should Hold Exactly The Turn`, which knows how many frames a turn has.
            replay: The stream was a reconnect (opened with ``last_event_id``): ``replay_complete`` must have
                arrived, right after the last replayed event, with ``replayedCount`` = the events replayed.
                Use ``replay=${False}`` for a stream subscribed before the events happened.

        Example:
            | ${again}= | Read Events | ${sid} | last_event_id=${first.last_id} | until=turn_complete |
            | Stream Should Continue Exactly After | ${again} | ${first.last_id} |
            | Stream Should Continue Exactly After | ${live} | ${accepted.last_event_id} | replay=${False} |
        """
        cursor = whole_number("cursor", cursor, low=0)
        last_id = None if last_id is None else whole_number("last_id", last_id, low=0)
        problems = continuity_problems(stream, cursor, last_id, replay)
        fail_on(problems, f"The stream did not continue exactly after id {cursor}:", stream.summary())

    @keyword(tags=("events", "assertion"))
    def stream_should_hold_exactly_the_turn(
        self,
        stream: StreamResult,
        accepted: PromptAccepted,
        *,
        chunks: int | None = None,
        end: TurnEnd = "turn_complete",
    ) -> None:
        """Fail unless the stream holds the whole turn of an accepted prompt, each of its events once.

        A turn of N chunks is the daemon's echo of the prompt, N agent chunks and the end frame: ids
        ``accepted.last_event_id + 1`` to ``accepted.last_event_id + N + 2``, with no gap or duplicate. Frames
        before the turn (a stream opened earlier, e.g. a reconnect) are not judged here; check them with
        `Stream Should Continue Exactly After`. A stream read with ``keep_events=${False}`` must hold only the
        turn and needs ``chunks`` (it is judged by its ids and its counts per type).

        Args:
            stream: A stream that was open during the turn (`Collect Events`, `Read Events`).
            accepted: The prompt's 202 answer (`Send Prompt`).
            chunks: The agent chunks the turn must have (the mock's ``chunks``); then the end frame's id is
                checked too. Not checked when empty.
            end: The frame that must end the turn.

        Example:
            | ${accepted}= | Send Prompt | ${sid} | flood | chunks=200 |
            | ${all}= | Collect Events | ${healthy} |
            | Stream Should Hold Exactly The Turn | ${all} | ${accepted} | chunks=200 |
        """
        chunks = None if chunks is None else whole_number("chunks", chunks, low=0)
        problems = turn_span_problems(stream, accepted, chunks=chunks, end=end)
        lead = f"The stream does not hold exactly the turn of prompt {accepted.prompt_id} (ids after "
        fail_on(problems, f"{lead}{accepted.last_event_id}):", stream.summary())

    @keyword(tags=("events", "assertion"))
    def stream_should_contain_event(
        self, stream: StreamResult, event_type: str, *, code: str | None = None, reason: str | None = None
    ) -> dict:
        """Fail unless a stream result holds a frame of this type (with this ``code``/``reason`` in its data).

        Only frames kept in the result are searched (not those of a subscription with ``keep_events=${False}``).

        Args:
            stream: A stream result (`Read Events`, `Collect Events`, ``${summary.results}``).
            event_type: The frame type, e.g. ``turn_error`` or ``client_evicted``.
            code: Required ``code`` of the frame's data (compared as text); not checked when empty.
            reason: Required ``reason`` of the frame's data; not checked when empty.

        Returns:
            The first matching frame (envelope dict with ``_recv_ms``, ms from the subscribe request).

        Example:
            | ${frame}= | Stream Should Contain Event | ${stream} | turn_error | code=session_closed |
        """
        found = find_frame(stream, event_type, code, reason)
        if found is None:
            want = " ".join(x for x in (event_type, code, reason) if x)
            raise AssertionError(f"No {want} frame arrived; saw {stream.counts} ({stream.summary()}).")
        return found

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

    @keyword(tags=("events", "assertion"))
    def every_stream_should_receive(
        self,
        streams: StreamsSummary | list[StreamResult],
        event_type: str,
        *,
        code: str | None = None,
        reason: str | None = None,
        after: PromptAccepted | ShutdownResult | None = None,
    ) -> FrameDelivery:
        """Fail unless every stream of a group received a frame of this type (with this ``code``/``reason``).

        With ``after`` a prompt's 202 answer, a frame that names a prompt must name that one, and the times
        count from the prompt's POST; with ``after`` a shutdown, they count from the signal.

        Args:
            streams: From `Collect Event Streams` (or a list of stream results).
            event_type: The frame type, e.g. ``turn_complete`` or ``session_died``.
            code: Required ``code`` of the frame's data (compared as text); not checked when empty.
            reason: Required ``reason`` of the frame's data; not checked when empty.
            after: `Send Prompt`'s answer or `Signal Daemon And Wait For Exit`'s result: what the times count
                from; without it no times are measured.

        Returns:
            ``FrameDelivery``: ``event_type``, ``detail``, ``streams``, ``reached`` (int), ``missing`` (list of
            1-based positions), ``since`` (str), ``first_ms``, ``last_ms`` (float ms after ``after``, ``None``
            without it), ``open_ms`` (float ms from the first subscribe request to the last stream's answer),
            ``figures()`` and ``line()``.

        Example:
            | ${accepted}= | Send Prompt | ${sid} | for everyone |
            | ${all}= | Collect Event Streams | ${subs} |
            | ${delivery}= | Every Stream Should Receive | ${all} | turn_complete | after=${accepted} |
            | Every Stream Should Receive | ${all} | session_died | reason=daemon_shutdown |
        """
        results = streams.results if isinstance(streams, StreamsSummary) else streams
        if not isinstance(results, list) or not all(isinstance(r, StreamResult) for r in results) or not results:
            raise HarnessConfigError(
                "streams must be what Collect Event Streams returned (or a list of stream results), "
                f"got {streams!r:.80}."
            )
        if isinstance(after, PromptAccepted):
            since_s, since, prompt_id = after.posted_at, "the prompt", after.prompt_id
        elif isinstance(after, ShutdownResult):
            since_s, since, prompt_id = after.signalled_at or None, f"SIG{after.signal_name}", None
        else:
            since_s, since, prompt_id = None, "", None
        delivery = frame_delivery(
            results, event_type, code=code, reason=reason, prompt_id=prompt_id, since_s=since_s, since=since
        )
        if delivery.missing:
            wanted = f"{event_type} {delivery.detail}".strip()
            raise AssertionError(
                f"Every stream should receive {wanted}, but {len(delivery.missing)} of {delivery.streams} did not "
                f"(streams {delivery.missing[:10]}): "
                + "; ".join(results[i - 1].summary() for i in delivery.missing[:3])
            )
        return self.reported(delivery)

    @keyword(tags=("events", "assertion"))
    def stream_should_have_been_evicted(self, stream: StreamResult, reason: str | None = None) -> StreamEviction:
        """Fail unless the stream ended with the daemon's ``client_evicted`` frame (with this ``reason``).

        A stalled reader whose eviction frame was lost behind a full buffer is cut instead: see
        `Stream Should Have Been Cut Before Any Terminal Frame`.

        Args:
            stream: A stream result (`Read Events`, `Collect Events`).
            reason: Required ``reason`` of the frame (``writer_idle_timeout``, ``queue_overflow``...); not
                checked when empty.

        Returns:
            ``StreamEviction``: ``reason`` (str), ``idle_for_ms`` (float, the daemon's ``idleForMs``, ``None``
            when not sent), ``evicted_at_ms`` (float, when the frame arrived, ms from the subscribe request),
            ``received`` (int, frames up to and with the eviction), ``figures()`` and ``line()``.

        Example:
            | ${eviction}= | Stream Should Have Been Evicted | ${idle} | writer_idle_timeout |
            | Record Result | ${eviction} | as=idle |
        """
        eviction = eviction_of(stream)
        if eviction is None or stream.end != "terminal":
            raise AssertionError(
                f"The stream should have been evicted (client_evicted), but it ended {stream.end} "
                f"{stream.terminal or ''} ({stream.summary()}).".replace("  ", " ")
            )
        if reason is not None and eviction.reason != reason:
            raise AssertionError(
                f"The stream should have been evicted for {reason}, but the daemon said {eviction.reason!r} "
                f"({stream.summary()})."
            )
        return eviction

    @keyword(tags=("events", "assertion"))
    def stream_should_have_a_frame_for_each_prompt(
        self, stream: StreamResult, event_type: str, prompts: list[PromptAccepted] | PromptAccepted
    ) -> PromptFrames:
        """Fail unless, for each prompt, the stream holds a frame of this type that names it (``promptId``).

        E.g. each queued prompt's ``pending_prompt_added`` and ``pending_prompt_started``, each turn's
        ``turn_complete``. Only frames kept in the result are searched.

        Args:
            stream: A stream result that was open while the prompts ran (`Collect Events`, `Read Events`).
            event_type: The frame type, e.g. ``pending_prompt_added`` or ``turn_complete``.
            prompts: `Send Prompt` answers (one or a list).

        Returns:
            ``PromptFrames``: ``event_type``, ``prompts``, ``named`` (int: prompts a frame named),
            ``missing`` (prompt ids no frame named), ``frames`` (int: frames of that type on the stream),
            ``figures()`` and ``line()``.

        Example:
            | ${accepted}= | Send Prompt | ${sid} | queued | mode=echo |
            | ${stream}= | Collect Events | ${sub} | stop=${True} |
            | Stream Should Have A Frame For Each Prompt | ${stream} | pending_prompt_added | ${accepted} |
        """
        given = prompts if isinstance(prompts, list) else [prompts]
        if not given or not all(isinstance(p, PromptAccepted) for p in given):
            raise HarnessConfigError(f"prompts must be one or more Send Prompt answers, got {prompts!r:.80}.")
        found = prompt_frames(stream, event_type, [p.prompt_id for p in given])
        if found.missing:
            raise AssertionError(
                f"Each prompt should have a {event_type} frame, but {len(found.missing)} of {found.prompts} had "
                f"none (prompts {', '.join(found.missing[:5])}; the stream had {stream.counts})."
            )
        return self.reported(found)
