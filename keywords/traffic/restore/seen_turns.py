"""Turns run in several sessions at once, kept as their streams showed them, and the sessions restored one
after another.

Nothing here imports Robot Framework; threads here never log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.measure.metrics import summarize
from keywords.traffic.barrier import results_or_raise, run_together
from keywords.traffic.client import DaemonClient, PromptAccepted
from keywords.traffic.restore.restore_call import RestoreResult, restore
from keywords.traffic.restore.turn_check import SeenTurn
from keywords.traffic.turns import follow_turn

MAX_SESSIONS = 200
MAX_TURNS = 1000


def prompt_text(directive: str, label: str, session_index: int, turn_index: int) -> str:
    """A prompt text that no other turn of the run has (so a replayed turn is recognised by it)."""
    text = f"{label} s{session_index + 1} t{turn_index + 1} {uuid.uuid4().hex[:8]}"
    return f"{directive} {text}" if directive else text


def seen_turn(session_id: str, accepted: PromptAccepted, text: str, turn: Any) -> SeenTurn:
    """The turn of ``accepted`` as its stream showed it (``turn``: what :func:`follow_turn` returned)."""
    return SeenTurn(session_id, accepted.prompt_id, text, turn.text, turn.outcome, turn.turn_ms)


@dataclass(frozen=True)
class SeenTurns:
    """Turns run in several sessions, as their streams showed them.

    Attributes:
        session_ids: The sessions, in order.
        turns: Every turn, session by session, in the order sent.
        wall_ms: First prompt to the last turn's end (monotonic clock, ms).
    """

    session_ids: tuple[str, ...]
    turns: tuple[SeenTurn, ...]
    wall_ms: float

    def figures(self) -> dict[str, Any]:
        """``sessions``, ``turns``, ``completed`` and ``turn`` (latency summary of completed turns, ms)."""
        done = [t for t in self.turns if t.completed]
        return {
            "sessions": len(self.session_ids),
            "turns": len(self.turns),
            "completed": len(done),
            "turn": summarize([t.turn_ms for t in done if t.turn_ms is not None]).to_dict(),
        }

    def line(self) -> str:
        """``12/12 turns completed in 3 sessions``."""
        done = sum(1 for t in self.turns if t.completed)
        return f"{done}/{len(self.turns)} turns completed in {len(self.session_ids)} sessions"


def run_seen_turns(
    client: DaemonClient,
    session_ids: Sequence[str],
    turns: int,
    *,
    directive: str = "",
    label: str = "restore",
    timeout_s: float = 30.0,
) -> SeenTurns:
    """Run ``turns`` prompts one after the other in each session (the sessions at once) and keep what was seen.

    Raises:
        HarnessConfigError: no session, or ``turns`` outside 1..1000.
    """
    count = whole_number("sessions", len(session_ids), low=1, high=MAX_SESSIONS)
    turns = whole_number("turns", turns, low=1, high=MAX_TURNS)
    timeout_s = seconds("timeout", timeout_s, high=3600)
    started = time.monotonic()

    def one(k: int) -> list[SeenTurn]:
        session_id = session_ids[k]
        out = []
        for i in range(turns):
            text = prompt_text(directive, label, k, i)
            accepted = client.prompt(session_id, text)
            out.append(
                seen_turn(session_id, accepted, text, follow_turn(client, session_id, accepted, timeout_s=timeout_s))
            )
        return out

    results = results_or_raise(run_together(count, one, what="sessions"))
    seen = tuple(t for item in results for t in item)
    return SeenTurns(tuple(session_ids), seen, (time.monotonic() - started) * 1000)


def restore_sessions(
    client: DaemonClient, session_ids: Sequence[str], action: str = "load", *, body: dict | None = None
) -> list[RestoreResult]:
    """Restore each session in turn (the first restore after a restart spawns the agent)."""
    return [restore(client, session_id, action, body=body) for session_id in session_ids]
