"""Upstream's first-output benchmark: which event of a session's stream is the prompt's first model output.

*First model output* is the first ``session_update`` of the accepted prompt that is model-derived: a non-empty
``agent_message_chunk`` (answer text), a non-empty ``agent_thought_chunk`` (thought text) or a ``tool_call``
with an id and a title. Not counted: the user echo (``user_message_chunk``, reported on its own), transcript
replay, the daemon's diagnostic messages (discrete messages, background notifications, slash commands, the
todo guard, compression notices), empty chunks, other updates, and anything of another prompt or after the
prompt's terminal event (``turn_complete`` or ``turn_error`` carrying the prompt's id at the top and in its
data).

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["answer_text", "thought_text", "tool_call", "user_echo", "complete", "error", "ignore"]
OUTPUT_KINDS = ("answer_text", "thought_text", "tool_call")
# The daemon's own messages that are no model output (the update's ``_meta.source``).
NON_MODEL_SOURCES = frozenset(
    {"background_notification", "background_notification_response", "slash_command", "todo_stop_guard"}
)
COMPRESSION_NOTICE = ("IMPORTANT: This conversation ", "A compressed context will be sent for future messages")
STREAM_ENDS = ("session_closed", "session_died", "client_evicted")


@dataclass(frozen=True)
class Classified:
    """What one event of the stream is for the accepted prompt.

    Attributes:
        kind: ``answer_text``, ``thought_text``, ``tool_call`` (model output), ``user_echo``, ``complete`` or
            ``error`` (the prompt's terminal event), or ``ignore``.
        reason: Why it was ignored (``wrong_prompt_id``, ``unrelated_event``, ``malformed_update``, ``replay``,
            ``diagnostic``, ``empty_content``, ``non_output_update``); empty otherwise.
        text: Text of an answer, thought or echo chunk.
        detail: Stop reason of ``complete``, code or message of ``error``.
    """

    kind: Kind
    reason: str = ""
    text: str | None = None
    detail: str | None = None


def as_dict(value: Any) -> dict:
    """``value`` when it is a dict, else an empty one (for walking JSON that may lack a level)."""
    return value if isinstance(value, dict) else {}


def _is_replay(meta: Mapping) -> bool:
    return isinstance(meta.get("qwenTranscript"), dict) or isinstance(meta.get("qwen.session.recordId"), str)


def _is_diagnostic(update: Mapping, text: str | None) -> bool:
    meta = as_dict(update.get("_meta"))
    if meta.get("qwenDiscreteMessage") is True or str(meta.get("source")) in NON_MODEL_SOURCES:
        return True
    prefix, notice = COMPRESSION_NOTICE
    return text is not None and text.startswith(prefix) and notice in text


def classify(event: Mapping, prompt_id: str) -> Classified:
    """Classify one SSE envelope (``{"type", "promptId", "data", "_meta"}``) for the prompt ``prompt_id``."""
    etype = event.get("type")
    data = event.get("data")
    if etype in ("turn_complete", "turn_error"):
        if not isinstance(data, dict):
            return Classified("ignore", "unrelated_event")
        if event.get("promptId") != prompt_id or data.get("promptId") != prompt_id:
            return Classified("ignore", "wrong_prompt_id")
        if etype == "turn_complete":
            return Classified("complete", detail=data.get("stopReason"))
        return Classified("error", detail=str(data.get("message") or data.get("code") or "turn_error"))
    if etype != "session_update":
        return Classified("ignore", "unrelated_event")
    if event.get("promptId") != prompt_id:
        return Classified("ignore", "wrong_prompt_id")
    update = as_dict(data).get("update")
    if not isinstance(update, dict):
        return Classified("ignore", "malformed_update")
    if _is_replay(as_dict(event.get("_meta"))) or _is_replay(as_dict(update.get("_meta"))):
        return Classified("ignore", "replay")
    kind = update.get("sessionUpdate")
    if kind in ("agent_message_chunk", "agent_thought_chunk", "user_message_chunk"):
        content = as_dict(update.get("content"))
        text = content.get("text") if content.get("type") == "text" and isinstance(content.get("text"), str) else None
        if kind == "user_message_chunk":
            return Classified("user_echo", text=text)
        if _is_diagnostic(update, text):
            return Classified("ignore", "diagnostic")
        if not text:
            return Classified("ignore", "empty_content")
        return Classified("answer_text" if kind == "agent_message_chunk" else "thought_text", text=text)
    if kind == "tool_call":
        if _is_diagnostic(update, None):
            return Classified("ignore", "diagnostic")
        if not isinstance(update.get("toolCallId"), str) or not update["toolCallId"] or update.get("title") is None:
            return Classified("ignore", "malformed_update")
        return Classified("tool_call")
    return Classified("ignore", "non_output_update")


@dataclass
class Observation:
    """What the stream showed of one prompt (times: ``time.monotonic()`` seconds of receipt).

    Attributes:
        user_echo: The first user echo.
        first_output: The first model output.
        first_output_kind: Its kind (``answer_text``, ``thought_text``, ``tool_call``).
        first_answer: The first answer text.
        answer_text: All answer chunks joined.
        terminal: The prompt's terminal event.
        terminal_kind: ``complete`` or ``error``.
        terminal_detail: Stop reason, or the error's message.
        ended_by: A stream-ending event (``session_died``...) that came before the terminal event.
        ignored: Ignored events by reason.
    """

    user_echo: float | None = None
    first_output: float | None = None
    first_output_kind: str | None = None
    first_answer: float | None = None
    answer_text: str = ""
    terminal: float | None = None
    terminal_kind: str | None = None
    terminal_detail: str | None = None
    ended_by: str | None = None
    ignored: dict[str, int] = field(default_factory=dict)


def observe(events: Sequence[Mapping], prompt_id: str, started_at: float) -> Observation:
    """Walk the stream's events (each with ``_recv_ms`` counted from ``started_at``) up to the prompt's end."""
    obs = Observation()
    ignored: Counter[str] = Counter()
    for event in events:
        at = started_at + float(event.get("_recv_ms", 0.0)) / 1000
        if event.get("type") in STREAM_ENDS:
            obs.ended_by = str(event["type"])
            break
        c = classify(event, prompt_id)
        if c.kind == "ignore":
            ignored[c.reason] += 1
        elif c.kind == "user_echo":
            obs.user_echo = at if obs.user_echo is None else obs.user_echo
        elif c.kind in OUTPUT_KINDS:
            if obs.first_output is None:
                obs.first_output, obs.first_output_kind = at, c.kind
            if c.kind == "answer_text":
                obs.first_answer = at if obs.first_answer is None else obs.first_answer
                obs.answer_text += c.text or ""
        else:
            obs.terminal, obs.terminal_kind, obs.terminal_detail = at, c.kind, c.detail
            break
    obs.ignored = dict(ignored)
    return obs
