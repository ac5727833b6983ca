"""Prompt turns: send a prompt, follow its events without a race, and classify how the turn ended.

The daemon answers a prompt with 202 at once; the outcome arrives only over SSE, and an echo turn can end
within 5 ms. Opening the stream with ``Last-Event-ID`` = the ``lastEventId`` of the 202 replays exactly this
prompt's events, so nothing is missed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from keywords.traffic.client import DaemonClient, PromptAccepted
from keywords.traffic.sse import StreamOptions, StreamResult, Subscription


@dataclass
class TurnResult:
    """How one prompt turn went.

    Attributes:
        prompt_id: The daemon's prompt id.
        outcome: ``completed`` (turn_complete), ``error`` (turn_error), ``session_died``, ``session_closed``,
            ``timeout`` (no end within the bound), ``stream_cut``, or ``stream_refused`` (the event stream was
            answered with an error, e.g. 404 because the session died before the stream was opened).
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

    def summary(self) -> str:
        """One line: outcome, reason/code, chunk count, time."""
        detail = self.stop_reason or self.error_code or self.error_message or ""
        ms = f"{self.turn_ms:.1f} ms" if self.turn_ms is not None else "no end"
        return f"{self.outcome} {detail} ({self.chunks} chunks, {ms})".replace("  ", " ")


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
        if stream.end == "cut":
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
