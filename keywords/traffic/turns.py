"""Prompt turns: send a prompt, follow its events without a race, and classify how the turn ended.

The daemon answers a prompt with 202 at once; the outcome arrives only over SSE, and an echo turn can end
within 5 ms. Opening the stream with ``Last-Event-ID`` = the ``lastEventId`` of the 202 replays exactly this
prompt's events, so nothing is missed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from keywords.traffic.client import DaemonClient, PromptAccepted
from keywords.traffic.sse import Subscription
from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.stream_result import TURN_END_TYPES, StreamResult

OUTCOMES = (
    "completed",
    "error",
    "session_died",
    "session_closed",
    "timeout",
    "stream_cut",
    "stream_refused",
    "running",
)
ECHO_UPDATE = "user_message_chunk"
CHUNK_UPDATE = "agent_message_chunk"
AGENT_GONE = "agent channel closed"
"""What the daemon's ``turn_error`` message says when the agent child ended during the turn."""

HAPPENED: dict[str, str] = {
    "completed": "answered in full",
    "cancelled": "cancelled",
    "error": "ended with an error",
    "sessionDied": "ended as the agent stopped (session died)",
    "sessionGone": "found their session gone (the agent had stopped)",
    "sessionClosed": "ended as the session was closed",
    "timeout": "got no end in time",
    "running": "were still running when the read stopped",
    "streamCut": "lost their event stream before the end",
    "refused": "refused",
    "notSent": "never sent",
}
"""What happened to one prompt, in plain words, by its camelCase name (:func:`what_happened`)."""


def what_happened(
    outcome: str, stop_reason: str | None = None, error_message: str | None = None, stream_status: int | None = None
) -> str:
    """How a turn ended, as one of :data:`HAPPENED` (plain words for a report, without the daemon's jargon).

    ``turn_complete`` is ``completed`` (or ``cancelled`` for that stop reason); a ``turn_error`` that says the agent
    channel closed, and ``session_died``, are ``sessionDied``; an event stream refused with 404 (the session was
    already gone, as after an agent crash) is ``sessionGone``; other refusals are ``refused``.

    Args:
        outcome: A :data:`OUTCOMES` value, or ``not_run`` for a prompt never sent.
        stop_reason: ``stopReason`` of ``turn_complete``.
        error_message: ``message`` of ``turn_error``.
        stream_status: HTTP status of the event stream's answer.
    """
    if outcome == "completed":
        return "cancelled" if stop_reason == "cancelled" else "completed"
    if outcome == "error":
        return "sessionDied" if error_message and AGENT_GONE in error_message else "error"
    if outcome == "stream_refused":
        return "sessionGone" if stream_status == 404 else "refused"
    return {
        "session_died": "sessionDied",
        "session_closed": "sessionClosed",
        "timeout": "timeout",
        "stream_cut": "streamCut",
        "running": "running",
    }.get(outcome, "notSent")


@dataclass
class TurnResult:
    """How one prompt turn went.

    Attributes:
        prompt_id: The daemon's prompt id.
        outcome: ``completed`` (turn_complete), ``error`` (turn_error), ``session_died``, ``session_closed``,
            ``timeout`` (no end within the bound), ``stream_cut``, ``stream_refused`` (the event stream was
            answered with an error, e.g. 404 because the session died before the stream was opened), or
            ``running`` (the read stopped at its frame count before the turn ended: `Wait For Turn Chunks`).
        stop_reason: ``end_turn`` / ``cancelled`` for a completed turn.
        error_code: ``code`` of turn_error (e.g. ``prompt_deadline_exceeded``, ``-32603``), if any.
        error_message: ``message`` of turn_error or the reason of session_died/closed.
        cancelled: A ``prompt_cancelled`` frame came first (recorded, not taken as the end).
        cancel_reason: Its ``reason``.
        chunks: ``agent_message_chunk`` updates of this prompt.
        session_updates: All ``session_update`` frames of this prompt (the daemon's user echo included).
        text: The agent's text, joined.
        post_ms: POST to 202 (monotonic, ms).
        first_chunk_ms: POST start to the first agent chunk.
        turn_ms: POST start to the end frame.
        last_event_id: Last event id seen for the session.
        types: Frame types of this prompt in order.
        stream: The underlying :class:`StreamResult`.
    """

    prompt_id: str
    outcome: str = "timeout"
    stop_reason: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    cancelled: bool = False
    cancel_reason: str | None = None
    chunks: int = 0
    session_updates: int = 0
    text: str = ""
    post_ms: float = 0.0
    first_chunk_ms: float | None = None
    turn_ms: float | None = None
    last_event_id: int | None = None
    types: list[str] = field(default_factory=list)
    stream: StreamResult | None = None

    @property
    def happened(self) -> str:
        """How the turn ended in plain terms: a key of :data:`HAPPENED` (``completed``, ``sessionDied``...)."""
        status = self.stream.status if self.stream is not None else None
        return what_happened(self.outcome, self.stop_reason, self.error_message, status)

    def summary(self) -> str:
        """One line: outcome, reason/code, chunk count, time."""
        detail = self.stop_reason or self.error_code or self.error_message or ""
        ms = f"{self.turn_ms:.1f} ms" if self.turn_ms is not None else "no end"
        return f"{self.outcome} {detail} ({self.chunks} chunks, {ms})".replace("  ", " ")

    def line(self) -> str:
        """One line of key figures for the test message (as :meth:`summary`)."""
        return self.summary()

    def figures(self) -> dict[str, Any]:
        """How the turn went, by camelCase key; times in ms from the prompt's POST (``None``: not reached)."""
        return {
            "outcome": self.outcome,
            "happened": self.happened,
            "stopReason": self.stop_reason,
            "errorCode": self.error_code,
            "cancelled": self.cancelled,
            "chunks": self.chunks,
            "sessionUpdates": self.session_updates,
            "postMs": round(self.post_ms, 1),
            "firstChunkMs": None if self.first_chunk_ms is None else round(self.first_chunk_ms, 1),
            "turnMs": None if self.turn_ms is None else round(self.turn_ms, 1),
        }


def follow_turn(
    client: DaemonClient,
    session_id: str,
    accepted: PromptAccepted,
    *,
    timeout_s: float = 30.0,
) -> TurnResult:
    """Read the events of one accepted prompt until its turn ends (or the session ends, or the timeout).

    Args:
        client: Client of the daemon (for base URL and token).
        session_id: The session.
        accepted: The 202 answer of the prompt.
        timeout_s: Bound on the wait.
    """
    options = StreamOptions(
        last_event_id=accepted.last_event_id, until_turn_end=accepted.prompt_id, timeout_s=timeout_s
    )
    sub = Subscription(client.base_url, session_id, options, client.token)
    opened_at = time.monotonic()
    stream = sub.run()
    return classify(accepted, stream, offset_ms=(opened_at - accepted.posted_at) * 1000)


def follow_turn_until_chunks(
    client: DaemonClient, session_id: str, accepted: PromptAccepted, chunks: int, *, timeout_s: float = 30.0
) -> TurnResult:
    """Read an accepted prompt's events until ``chunks`` agent chunks arrived (or its turn ended, or the timeout).

    The stream stops at this prompt's ``chunks``-th ``agent_message_chunk`` (other frames of the turn, such as
    the daemon's echo of the prompt or the agent's command list, are not counted); the result's ``outcome`` is
    then ``running`` (``timeout`` when the chunks did not come in time).
    """
    options = StreamOptions(
        last_event_id=accepted.last_event_id,
        until_chunks=chunks,
        until_turn_end=accepted.prompt_id,
        timeout_s=timeout_s,
    )
    opened_at = time.monotonic()
    stream = Subscription(client.base_url, session_id, options, client.token).run()
    return classify(accepted, stream, offset_ms=(opened_at - accepted.posted_at) * 1000)


def classify(accepted: PromptAccepted, stream: StreamResult, offset_ms: float = 0.0) -> TurnResult:
    """Turn a stream of frames into the :class:`TurnResult` of ``accepted.prompt_id``.

    Args:
        accepted: The prompt's 202 answer.
        stream: Frames read from at least ``accepted.last_event_id``.
        offset_ms: Time from the POST to the stream's start (added to stream-relative times).
    """
    turn = TurnResult(
        prompt_id=accepted.prompt_id, post_ms=accepted.elapsed_ms, stream=stream, last_event_id=stream.last_id
    )
    texts: list[str] = []
    for env in stream.events:
        etype = env.get("type")
        data = env.get("data") if isinstance(env.get("data"), dict) else {}
        pid = env.get("promptId") or data.get("promptId")
        if pid is not None and pid != accepted.prompt_id:
            continue
        turn.types.append(etype)
        at = env.get("_recv_ms", 0.0) + offset_ms
        if etype == "session_update":
            turn.session_updates += 1
            update = data.get("update") or {}
            if update.get("sessionUpdate") == "agent_message_chunk":
                turn.chunks += 1
                if turn.first_chunk_ms is None:
                    turn.first_chunk_ms = at
                content = update.get("content") or {}
                if isinstance(content.get("text"), str):
                    texts.append(content["text"])
        elif etype == "prompt_cancelled":
            turn.cancelled = True
            turn.cancel_reason = data.get("reason")
        elif etype == "turn_complete":
            turn.outcome, turn.stop_reason, turn.turn_ms = "completed", data.get("stopReason"), at
            break
        elif etype == "turn_error":
            turn.outcome, turn.turn_ms = "error", at
            turn.error_code = None if data.get("code") is None else str(data.get("code"))
            turn.error_message = data.get("message")
            break
        elif etype in ("session_died", "session_closed"):
            turn.outcome, turn.turn_ms = etype, at
            turn.error_message = data.get("reason")
            break
    else:
        if stream.end in ("max_events", "chunks"):
            turn.outcome = "running"
        elif stream.end == "cut":
            turn.outcome = "stream_cut"
        elif stream.status not in (0, 200):
            turn.outcome = "stream_refused"
            turn.error_message = stream.error
    turn.text = "".join(texts)
    return turn


def run_turn(
    client: DaemonClient,
    session_id: str,
    text: str,
    *,
    timeout_s: float = 30.0,
    client_id: str | None = None,
    deadline_ms: int | None = None,
) -> TurnResult:
    """POST a prompt and follow it to the end of its turn."""
    accepted = client.prompt(session_id, text, client_id=client_id, deadline_ms=deadline_ms)
    return follow_turn(client, session_id, accepted, timeout_s=timeout_s)


def turn_span_problems(
    stream: StreamResult, accepted: PromptAccepted, *, chunks: int | None = None, end: str = "turn_complete"
) -> list[str]:
    """What keeps ``stream`` from holding exactly the turn of ``accepted`` (empty when it does).

    A turn of N chunks is, on the session's event bus, the daemon's echo of the prompt, the N chunks and the
    end frame: ids ``accepted.last_event_id + 1`` to ``accepted.last_event_id + N + 2``. Every id of that
    range must be there once, in order; frames before it (a stream opened earlier) are not judged. Without
    kept frames (``keep_events`` off) the whole stream must be the turn, and it is judged by ids and counts.
    """
    first = accepted.last_event_id + 1
    expected_end = None if chunks is None else first + chunks + 1
    if not stream.ids or stream.last_id is None or stream.last_id < first:
        return [f"no event of the turn arrived (expected ids from {first}; the stream got {stream.summary()})"]
    if not stream.events:
        return _span_by_counts(stream, first, expected_end, chunks, end)
    return _span_by_frames(stream, accepted, first, expected_end, chunks, end)


def _span_ids_problems(ids: list[int], first: int, last: int) -> list[str]:
    """Ids ``first..last`` each once and in order (``ids`` being those of that range, in arrival order)."""
    problems = []
    if not ids or ids[0] != first:
        problems.append(f"id {first}, the first of the turn, is missing (the turn's ids start at {ids[:1] or 'none'})")
    seen: set[int] = set()
    previous = None
    for event_id in ids:
        if event_id in seen or (previous is not None and event_id < previous):
            problems.append(f"id {event_id} came again or out of order")
        elif previous is not None and event_id != previous + 1:
            problems.append(f"ids {previous + 1}..{event_id - 1} are missing")
        seen.add(event_id)
        previous = event_id if previous is None else max(previous, event_id)
    if ids and max(ids) != last:
        problems.append(f"the turn's last id is {max(ids)}, expected {last}")
    return problems[:10]


def _span_by_frames(
    stream: StreamResult, accepted: PromptAccepted, first: int, expected_end: int | None, chunks: int | None, end: str
) -> list[str]:
    prompt_id = accepted.prompt_id
    turn_frames = [env for env in stream.events if isinstance(env.get("id"), int) and env["id"] >= first]
    end_frame = next(
        (env for env in turn_frames if env.get("type") in TURN_END_TYPES and _prompt_of(env) in (prompt_id, None)),
        None,
    )
    if end_frame is None:
        return [
            f"no {end} of prompt {prompt_id} arrived after id {accepted.last_event_id} "
            f"(the stream ended {stream.end}, last id {stream.last_id})"
        ]
    problems = []
    if end_frame["type"] != end:
        data = end_frame.get("data") or {}
        problems.append(
            f"the turn ended with {end_frame['type']} {data.get('code') or ''} at id {end_frame['id']}, "
            f"expected {end}".replace("  ", " ")
        )
    end_id = end_frame["id"]
    if expected_end is not None and end_id != expected_end:
        problems.append(
            f"{end_frame['type']} has id {end_id}, expected {expected_end} (the echo, {chunks} chunks, the end frame "
            f"after id {accepted.last_event_id})"
        )
    span = [env for env in turn_frames if env["id"] <= end_id]
    problems += _span_ids_problems([env["id"] for env in span], first, end_id)
    foreign = [env["id"] for env in span if _prompt_of(env) not in (prompt_id, None)]
    if foreign:
        problems.append(f"ids {foreign[:10]} of the turn's range belong to another prompt")
    kinds = [((env.get("data") or {}).get("update") or {}).get("sessionUpdate") for env in span]
    echoes, agent_chunks = kinds.count(ECHO_UPDATE), kinds.count(CHUNK_UPDATE)
    if echoes != 1:
        problems.append(f"{echoes} echoes of the prompt ({ECHO_UPDATE}) in ids {first}..{end_id}, expected 1")
    if chunks is not None and agent_chunks != chunks:
        problems.append(f"{agent_chunks} agent chunks in ids {first}..{end_id}, expected {chunks}")
    return problems


def _span_by_counts(
    stream: StreamResult, first: int, expected_end: int | None, chunks: int | None, end: str
) -> list[str]:
    if chunks is None or expected_end is None:
        return ["the stream kept no frames (keep_events off): give chunks= so the turn's ids and counts can be judged"]
    if stream.ids[0] != first:
        return [
            f"the stream kept no frames (keep_events off) and starts at id {stream.ids[0]}, not {first}: "
            "it cannot tell the turn's frames from earlier ones"
        ]
    problems = _span_ids_problems([i for i in stream.ids if i <= expected_end], first, expected_end)
    if stream.last_id != expected_end:
        problems.append(f"the last id is {stream.last_id}, expected {expected_end} (the turn's {end})")
    updates = stream.counts.get("session_update", 0)
    if updates != chunks + 1:
        problems.append(f"{updates} session_update frames, expected {chunks + 1} (the echo and {chunks} chunks)")
    if stream.counts.get(end, 0) != 1:
        problems.append(f"{stream.counts.get(end, 0)} {end} frames, expected 1 (saw {stream.counts})")
    return problems


def _prompt_of(env: dict) -> str | None:
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    return env.get("promptId") or data.get("promptId")
