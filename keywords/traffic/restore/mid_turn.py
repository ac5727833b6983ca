"""The live journal: a load and a reconnect while a turn is still streaming, and where the journal's
``history_truncated`` marker stands.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.traffic.client import DaemonClient
from keywords.traffic.restore.replayed_turns import agent_text
from keywords.traffic.restore.restore_call import TRUNCATED, RestoreResult, restore
from keywords.traffic.sse import Subscription
from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.stream_result import continuity_problems
from keywords.traffic.turns import classify

MID_TURN_POLL_S = 0.002


@dataclass(frozen=True)
class MidTurnRestore:
    """A load and a reconnect while a turn was still streaming.

    Attributes:
        prompt_id: The turn's prompt id.
        updates_before: Session updates of the turn (the daemon's echo of the prompt included) the first stream had
            read when the load and the reconnect were sent.
        load: The ``/load`` sent mid-turn.
        journal_text: The agent's text in its ``liveJournal`` (the turn so far).
        journal_prompt_ids: Prompt ids on the journal's entries.
        final_text: The whole turn's agent text (read to its end by the first stream).
        reconnect_problems: What keeps the reconnected stream (``Last-Event-ID`` of the prompt's 202) from holding
            exactly the turn's events, once each (empty: none).
        reconnect_received: Frames the reconnected stream got.
        marker: The journal's ``history_truncated`` marker (index 0 when the caps overflowed), or ``None``.
        marker_index: Its position in ``liveJournal``.
        turn_outcome: How the turn ended on the first stream.
    """

    prompt_id: str
    updates_before: int
    load: RestoreResult
    journal_text: str
    journal_prompt_ids: tuple[str, ...]
    final_text: str
    reconnect_problems: tuple[str, ...]
    reconnect_received: int
    marker: dict[str, Any] | None
    marker_index: int | None
    turn_outcome: str

    @property
    def journal_is_prefix(self) -> bool:
        """The journal's text is where the turn's final text starts (what a client renders then grows)."""
        return bool(self.journal_text) and self.final_text.startswith(self.journal_text)

    @property
    def journal_tail_is_turn(self) -> bool:
        """The journal's text is a piece of the turn's final text (its oldest part may have been dropped)."""
        return bool(self.journal_text) and self.journal_text in self.final_text

    def figures(self) -> dict[str, Any]:
        """``updatesBeforeLoad``, ``journalEvents``, ``journalChars``, ``finalChars``, ``journalIsPrefix``,
        ``journalInTurn``, ``reconnectReceived``, ``reconnectProblems``, ``loadMs``, ``markerIndex`` and the
        marker's ``truncatedEvents``, ``retainedEvents``, ``markerMaxEvents``, ``markerMaxBytes`` (``None``: no
        marker)."""
        data = (self.marker or {}).get("data") or {}
        return {
            "updatesBeforeLoad": self.updates_before,
            "journalEvents": len(self.load.live_journal),
            "journalChars": len(self.journal_text),
            "finalChars": len(self.final_text),
            "journalIsPrefix": self.journal_is_prefix,
            "journalInTurn": self.journal_tail_is_turn,
            "reconnectReceived": self.reconnect_received,
            "reconnectProblems": len(self.reconnect_problems),
            "loadMs": round(self.load.elapsed_ms, 1),
            "markerIndex": self.marker_index,
            "truncatedEvents": data.get("truncatedEvents"),
            "retainedEvents": data.get("retainedEvents"),
            "markerMaxEvents": data.get("maxEvents"),
            "markerMaxBytes": data.get("maxBytes"),
        }

    def line(self) -> str:
        """``load after 10 updates: journal 3 entries, 70 of 210 characters (prefix); reconnect 0 problems; ...``."""
        where = "none" if self.marker_index is None else f"at {self.marker_index}"
        kind = "prefix" if self.journal_is_prefix else "in turn" if self.journal_tail_is_turn else "not the turn"
        return (
            f"load after {self.updates_before} updates: journal {len(self.load.live_journal)} entries, "
            f"{len(self.journal_text)} of {len(self.final_text)} characters ({kind}); reconnect "
            f"{len(self.reconnect_problems)} problems; history_truncated marker {where}"
        )


def restore_mid_turn(
    client: DaemonClient,
    session_id: str,
    text: str,
    *,
    after_updates: int,
    timeout_s: float = 30.0,
) -> MidTurnRestore:
    """Start a streaming turn; once ``after_updates`` of its session updates arrived (the daemon's echo of the
    prompt included), load the session and reconnect a second stream from the prompt's ``lastEventId``; then read
    both to the turn's end.

    Raises:
        HarnessConfigError: ``after_updates`` below 1.
    """
    after_updates = whole_number("after_updates", after_updates, low=1)
    timeout_s = seconds("timeout", timeout_s, high=3600)
    accepted = client.prompt(session_id, text)
    options = StreamOptions(
        last_event_id=accepted.last_event_id, until_turn_end=accepted.prompt_id, timeout_s=timeout_s
    )
    first = Subscription(client.base_url, session_id, options, client.token).start()
    deadline = time.monotonic() + timeout_s
    updates = 0
    for _ in range(int(timeout_s / MID_TURN_POLL_S) + 2):
        updates = sum(1 for env in list(first.result.events) if env.get("type") == "session_update")
        if updates >= after_updates or first.done or time.monotonic() >= deadline:
            break
        time.sleep(MID_TURN_POLL_S)
    load = restore(client, session_id, "load")
    second = Subscription(client.base_url, session_id, options, client.token).start()
    stream = first.join(timeout_s)
    again = second.join(timeout_s)
    turn = classify(accepted, stream)
    markers = load.markers("journal")
    journal_text = "".join(agent_text(env) for env in load.live_journal)
    problems = continuity_problems(again, accepted.last_event_id)
    ids = {str(env.get("promptId")) for env in load.live_journal if env.get("promptId")}
    return MidTurnRestore(
        prompt_id=accepted.prompt_id,
        updates_before=updates,
        load=load,
        journal_text=journal_text,
        journal_prompt_ids=tuple(sorted(ids)),
        final_text=turn.text,
        reconnect_problems=tuple(problems),
        reconnect_received=again.received,
        marker=markers[0][1] if markers else None,
        marker_index=markers[0][0] if markers else None,
        turn_outcome=turn.outcome,
    )


def marker_problems(result: MidTurnRestore, *, scope: str = "live_journal") -> list[str]:
    """What keeps the journal's ``history_truncated`` marker from being where the daemon's code puts it (empty
    when it is): the first entry of ``liveJournal``, ``scope`` live_journal, reason ``replay_window_exceeded``,
    counting the dropped events, stamped with the turn's prompt id."""
    marker = result.marker
    if marker is None:
        return [f"no {TRUNCATED} marker in the journal of {len(result.load.live_journal)} entries"]
    data = marker.get("data") if isinstance(marker.get("data"), dict) else {}
    problems = []
    if result.marker_index != 0:
        problems.append(f"the marker is entry {result.marker_index} of the journal, not the first")
    if data.get("scope") != scope:
        problems.append(f"its scope is {data.get('scope')!r}, not {scope!r}")
    if data.get("reason") != "replay_window_exceeded":
        problems.append(f"its reason is {data.get('reason')!r}, not 'replay_window_exceeded'")
    if not isinstance(data.get("truncatedEvents"), int) or data["truncatedEvents"] < 1:
        problems.append(f"it counts {data.get('truncatedEvents')!r} dropped events")
    if marker.get("promptId") != result.prompt_id:
        problems.append(f"it names prompt {marker.get('promptId')!r}, not the turn's {result.prompt_id}")
    return problems
