"""The turns in a replay or transcript: event envelopes split at each user message, and the agent's text of an
envelope.

Two envelope shapes hold a session update: the daemon's event ring and a restore's replay put it at
``data.update`` (``{"type": "session_update", "data": {"sessionId", "update": {...}}}``), a transcript page puts
the update itself in ``data`` (``{"type": "session_update", "data": {"sessionUpdate": ...}}``). The user's message
of a turn the agent recorded carries the daemon's prompt id as ``_meta.promptId`` (the real agent's replays and
transcripts, and the mock's).

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

USER_UPDATE = "user_message_chunk"
AGENT_UPDATE = "agent_message_chunk"


def envelopes(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list from an answer (``compactedReplay``, ``events``...); anything else gives none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@dataclass(frozen=True)
class ReplayTurn:
    """One turn in a replay or transcript: a user message and what followed it up to the next one.

    Attributes:
        index: 0-based position among the turns.
        user_text: The user message's text (the prompt as the agent recorded it).
        agent_text: The agent's message chunks joined.
        updates: Session updates of the turn (the user message included).
        kinds: Their ``sessionUpdate`` kinds, in order.
        prompt_ids: Distinct prompt ids of the turn: ``promptId`` of its envelopes (the daemon stamps them on a
            live session's ring) and ``_meta.promptId`` of its user message (what the agent recorded).
        ended: Types of the turn-end frames in it (``turn_complete``, ``turn_error``).
    """

    index: int
    user_text: str
    agent_text: str
    updates: int
    kinds: tuple[str, ...]
    prompt_ids: tuple[str, ...]
    ended: tuple[str, ...]


def _text_of(update: dict[str, Any]) -> str:
    content = update.get("content")
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    return ""


def session_update(env: dict[str, Any]) -> dict[str, Any]:
    """The session update of a ``session_update`` envelope, in either shape (see the module); ``{}`` for none."""
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    if isinstance(data.get("update"), dict):
        return data["update"]
    return data if isinstance(data.get("sessionUpdate"), str) else {}


def _recorded_prompt_id(update: dict[str, Any]) -> Any:
    meta = update.get("_meta") if isinstance(update.get("_meta"), dict) else {}
    return meta.get("promptId") if update.get("sessionUpdate") == USER_UPDATE else None


def replay_turns(events: Iterable[dict[str, Any]]) -> list[ReplayTurn]:
    """Split event envelopes into turns at each ``user_message_chunk``; envelopes before the first are ignored.

    Consecutive user chunks (a prompt sent in several) open one turn. Duplicate ids (an envelope both in the
    compacted replay and the journal) are counted once.
    """
    turns: list[dict[str, Any]] = []
    seen_ids: set[int] = set()
    previous_kind = None
    for env in events:
        event_id = env.get("id")
        if isinstance(event_id, int):
            if event_id in seen_ids:
                continue
            seen_ids.add(event_id)
        etype = env.get("type")
        data = env.get("data") if isinstance(env.get("data"), dict) else {}
        update = session_update(env) if etype == "session_update" else {}
        prompt_id = env.get("promptId") or data.get("promptId") or _recorded_prompt_id(update)
        if etype == "session_update":
            kind = str(update.get("sessionUpdate"))
            if kind == USER_UPDATE and previous_kind != USER_UPDATE:
                turns.append({"user": [], "agent": [], "kinds": [], "ids": [], "ended": []})
            previous_kind = kind
            if not turns:
                continue
            turn = turns[-1]
            turn["kinds"].append(kind)
            if kind == USER_UPDATE:
                turn["user"].append(_text_of(update))
            elif kind == AGENT_UPDATE:
                turn["agent"].append(_text_of(update))
        elif turns and etype in ("turn_complete", "turn_error"):
            turns[-1]["ended"].append(etype)
        if turns and isinstance(prompt_id, str) and prompt_id not in turns[-1]["ids"]:
            turns[-1]["ids"].append(prompt_id)
    return [
        ReplayTurn(
            index=i,
            user_text="".join(t["user"]),
            agent_text="".join(t["agent"]),
            updates=len(t["kinds"]),
            kinds=tuple(t["kinds"]),
            prompt_ids=tuple(t["ids"]),
            ended=tuple(t["ended"]),
        )
        for i, t in enumerate(turns)
    ]


def agent_text(env: dict[str, Any]) -> str:
    """The text of an ``agent_message_chunk`` envelope (merged chunks included); empty for any other."""
    update = session_update(env) if env.get("type") == "session_update" else {}
    return _text_of(update) if update.get("sessionUpdate") == AGENT_UPDATE else ""
