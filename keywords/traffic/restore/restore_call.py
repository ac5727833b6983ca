"""One ``POST /session/:id/load`` or ``/resume`` as one client, answered as a :class:`RestoreResult`.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from keywords.checks import choice, whole_number
from keywords.errors import HarnessConfigError
from keywords.traffic.client import DaemonClient
from keywords.traffic.restore.replayed_turns import ReplayTurn, envelopes, replay_turns

Action = Literal["load", "resume"]
ACTIONS = ("load", "resume")
REPLAY_MODES = ("full", "summary")
TRUNCATED = "history_truncated"
TRANSCRIPT_MAX_LIMIT = 500  # the daemon's SESSION_TRANSCRIPT_MAX_LIMIT (0.24.4)


@dataclass(frozen=True)
class RestoreResult:
    """One ``POST /session/:id/load`` or ``/resume`` and the daemon's answer.

    Attributes:
        action: ``load`` or ``resume``.
        session_id: The session asked for.
        status: HTTP status (200 restored; 404 unknown session; 500 an agent error); 0 when the request failed in
            transport.
        code: The daemon's ``code`` field of an error answer, if any.
        error: The daemon's ``error`` text, or the transport error.
        attached: The daemon attached to a live session (``True``) or had the agent restore it (``False``).
        client_id: The client id the daemon gave this restore.
        has_active_prompt: A prompt was running on the session.
        last_event_id: The session's last event id after the restore.
        event_epoch: The session's event epoch.
        compacted_replay: ``compactedReplay``: completed turns as event envelopes (``load`` only).
        live_journal: ``liveJournal``: the turn in flight, or a streamed replay (``load`` only).
        prompt_terminals: ``promptTerminals``: the daemon's ledger records of earlier prompts (``promptId``,
            ``terminal``, ``stopReason``), after a restore by the agent.
        body_keys: The keys of the answer, in order.
        sent_mono: When the request was sent (monotonic clock, s).
        elapsed_ms: Request sent to answer read (monotonic clock, ms).
    """

    action: str
    session_id: str
    status: int
    code: str | None
    error: str | None
    attached: bool | None
    client_id: str | None
    has_active_prompt: bool | None
    last_event_id: int | None
    event_epoch: str | None
    compacted_replay: list[dict[str, Any]]
    live_journal: list[dict[str, Any]]
    prompt_terminals: list[dict[str, Any]]
    body_keys: tuple[str, ...]
    sent_mono: float
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        """The daemon restored the session (200)."""
        return self.status == 200

    @property
    def replay(self) -> list[dict[str, Any]]:
        """``compactedReplay`` then ``liveJournal``, in that order (what a client renders)."""
        return [*self.compacted_replay, *self.live_journal]

    @property
    def turns(self) -> list[ReplayTurn]:
        """The turns of :attr:`replay` (see :func:`replay_turns`)."""
        return replay_turns(self.replay)

    def markers(self, where: Literal["compacted", "journal"] = "journal") -> list[tuple[int, dict[str, Any]]]:
        """``history_truncated`` markers of ``compactedReplay`` or ``liveJournal``, as (index, envelope)."""
        events = self.compacted_replay if where == "compacted" else self.live_journal
        return [(i, env) for i, env in enumerate(events) if env.get("type") == TRUNCATED]

    def terminal_ids(self, terminal: str = "completed") -> list[str]:
        """Prompt ids of the ledger records with this terminal state (``completed``, ``cancelled``...)."""
        return [str(r.get("promptId")) for r in self.prompt_terminals if r.get("terminal") == terminal]

    def figures(self) -> dict[str, Any]:
        """``status``, ``attached``, ``restoreMs``, ``compactedEvents``, ``journalEvents``, ``replayTurns``,
        ``promptTerminals``, ``journalMarkers`` and ``compactedMarkers`` (``None``: not in the answer)."""
        return {
            "status": self.status or None,
            "attached": self.attached,
            "restoreMs": round(self.elapsed_ms, 1),
            "compactedEvents": len(self.compacted_replay),
            "journalEvents": len(self.live_journal),
            "replayTurns": len(self.turns),
            "promptTerminals": len(self.prompt_terminals) if "promptTerminals" in self.body_keys else None,
            "journalMarkers": len(self.markers("journal")),
            "compactedMarkers": len(self.markers("compacted")),
        }

    def line(self) -> str:
        """``load 200 attached=False in 12.3 ms: 8 compacted + 0 journal events, 2 turns, 2 ledger records``."""
        if not self.ok:
            return f"{self.action} {self.status} {self.code or ''} in {self.elapsed_ms:.1f} ms: {self.error}".replace(
                "  ", " "
            )
        return (
            f"{self.action} {self.status} attached={self.attached} in {self.elapsed_ms:.1f} ms: "
            f"{len(self.compacted_replay)} compacted + {len(self.live_journal)} journal events, "
            f"{len(self.turns)} turns, {len(self.prompt_terminals)} ledger records"
        )


def restore_body(
    *,
    history_page_size: int | None = None,
    live_replay_mode: str | None = None,
    compacted_replay_mode: str | None = None,
) -> dict[str, Any]:
    """The JSON body of a restore; every option checked before anything is sent.

    Raises:
        HarnessConfigError: a page size outside 1..500 or a replay mode other than ``full``/``summary``.
    """
    body: dict[str, Any] = {}
    if history_page_size is not None:
        body["historyPageSize"] = whole_number(
            "history_page_size", history_page_size, low=1, high=TRANSCRIPT_MAX_LIMIT, unit="records"
        )
    if live_replay_mode is not None:
        body["liveReplayMode"] = choice("live_replay_mode", live_replay_mode, REPLAY_MODES)
    if compacted_replay_mode is not None:
        body["compactedReplayMode"] = choice("compacted_replay_mode", compacted_replay_mode, REPLAY_MODES)
    return body


def restore(
    client: DaemonClient,
    session_id: str,
    action: str = "load",
    *,
    client_id: str | None = None,
    body: dict[str, Any] | None = None,
) -> RestoreResult:
    """Send one ``/load`` or ``/resume``; an error answer is returned in the result, never raised.

    Raises:
        HarnessConfigError: an unknown action or an empty session id (before anything is sent).
    """
    action = choice("action", action, ACTIONS)
    if not isinstance(session_id, str) or not session_id.strip():
        raise HarnessConfigError(f"A restore needs the session id, got {session_id!r}.")
    headers = {"X-Qwen-Client-Id": client_id} if client_id else {}
    sent = time.monotonic()
    try:
        reply = client.request(
            "POST",
            f"/session/{session_id}/{action}",
            json_body=dict(body or {}),
            headers=headers,
            expected=None,
            route=f"/session/:id/{action}",
        )
    except httpx.HTTPError as exc:
        return _failed(action, session_id, f"{type(exc).__name__}: {exc}", sent)
    data = reply.body if isinstance(reply.body, dict) else {}
    ok = reply.status == 200
    return RestoreResult(
        action=action,
        session_id=session_id,
        status=reply.status,
        code=None if ok else reply.code,
        error=None if ok else str(data.get("error") if data else reply.body)[:300],
        attached=data.get("attached") if ok else None,
        client_id=data.get("clientId"),
        has_active_prompt=data.get("hasActivePrompt"),
        last_event_id=data.get("lastEventId") if isinstance(data.get("lastEventId"), int) else None,
        event_epoch=data.get("eventEpoch"),
        compacted_replay=envelopes(data.get("compactedReplay")),
        live_journal=envelopes(data.get("liveJournal")),
        prompt_terminals=envelopes(data.get("promptTerminals")),
        body_keys=tuple(data),
        sent_mono=sent,
        elapsed_ms=reply.elapsed_ms,
    )


def _failed(action: str, session_id: str, error: str, sent: float) -> RestoreResult:
    return RestoreResult(
        action, session_id, 0, None, error, None, None, None, None, None, [], [], [], (), sent,
        (time.monotonic() - sent) * 1000,
    )  # fmt: skip
