"""What the streams showed of each turn before a restart or a kill, compared turn by turn (prompt ids, the
user's text, the agent's text) with what a restore gave back.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.measure.metrics import summarize
from keywords.reporting.figures import shown
from keywords.traffic.restore.restore_call import RestoreResult


@dataclass(frozen=True)
class SeenTurn:
    """One prompt as the harness saw it on the session's stream before a restart or a kill.

    Attributes:
        session_id: The session.
        prompt_id: The daemon's prompt id (from the 202).
        prompt_text: The text the harness sent.
        agent_text: The agent's chunks the stream showed, joined.
        outcome: ``completed`` when its ``turn_complete`` was read; else how its stream ended (``stream_cut``,
            ``timeout``...), which makes it a turn in flight.
        turn_ms: POST to the turn's end frame (monotonic clock, ms), ``None`` when no end was read.
    """

    session_id: str
    prompt_id: str
    prompt_text: str
    agent_text: str
    outcome: str
    turn_ms: float | None = None

    @property
    def completed(self) -> bool:
        """Its ``turn_complete`` was read."""
        return self.outcome == "completed"


@dataclass(frozen=True)
class TurnComparison:
    """The completed turns the streams showed for one session, checked turn by turn against a restore.

    Attributes:
        session_id: The session.
        expected: Turns completed before (the streams showed their ``turn_complete``).
        matched: Those found once in the replay, in order, with the same user text and agent text (and, where
            the daemon's ledger answered, its prompt id recorded ``completed``).
        problems: One text per turn that did not match (what was expected, what came back).
        replay_turns: Turns in the replay.
        ledger_checked: The answer carried the daemon's ledger (``promptTerminals``), so prompt ids were compared.
        in_flight: Turns in flight when the streams ended (no end read).
        in_flight_completed: Of those, turns the daemon's ledger records as completed.
        in_flight_replayed: Of those, turns whose user text is in the replay (the agent kept the turn, or part).
    """

    session_id: str
    expected: int
    matched: int
    problems: tuple[str, ...]
    replay_turns: int
    ledger_checked: bool
    in_flight: int = 0
    in_flight_completed: int = 0
    in_flight_replayed: int = 0

    @property
    def lost(self) -> int:
        """Completed turns that did not come back intact."""
        return self.expected - self.matched


def compare_turns(seen: Sequence[SeenTurn], restored: RestoreResult) -> TurnComparison:
    """Compare the turns the streams showed for one session with what a restore gave back.

    Each completed turn is looked up in the replay by its user text (every prompt of a run is unique); it must
    be there once, after the turn before it, with the same agent text. When the answer carries prompt ids
    (``promptId`` on a live session's envelopes, or the ledger's ``promptTerminals`` after an agent restore) the
    turn's prompt id must be there too, recorded as completed. Turns the session had before the ones seen are
    allowed. Turns in flight are not judged: they are counted, with what the ledger and the replay say of them.
    """
    session_id = seen[0].session_id if seen else restored.session_id
    done = [t for t in seen if t.completed]
    flying = [t for t in seen if not t.completed]
    turns = restored.turns
    positions: dict[str, list[int]] = {}
    for turn in turns:
        positions.setdefault(turn.user_text, []).append(turn.index)
    ledger = "promptTerminals" in restored.body_keys
    completed_ids = set(restored.terminal_ids("completed"))
    recorded_ids = {str(r.get("promptId")) for r in restored.prompt_terminals}
    problems: list[str] = []
    matched = 0
    previous = -1
    for i, want in enumerate(done):
        found = positions.get(want.prompt_text, [])
        why = []
        if not found:
            why.append(f"its user text {want.prompt_text[:60]!r} is not in the replay of {len(turns)} turns")
        else:
            got = turns[found[0]]
            if len(found) > 1:
                why.append(f"it is in the replay {len(found)} times")
            if got.index <= previous:
                why.append(f"it is turn {got.index + 1} of the replay, before the turn seen before it")
            previous = max(previous, got.index)
            if got.agent_text != want.agent_text:
                why.append(f"agent text of {len(got.agent_text)} characters instead of {len(want.agent_text)}")
            if got.prompt_ids and want.prompt_id not in got.prompt_ids:
                why.append(f"prompt id {got.prompt_ids[0]} instead of {want.prompt_id}")
        if ledger and want.prompt_id not in completed_ids:
            state = "another state" if want.prompt_id in recorded_ids else "no record"
            why.append(f"the daemon's ledger has {state} for prompt {want.prompt_id}")
        if why:
            problems.append(f"turn {i + 1} (prompt {want.prompt_id}): " + "; ".join(why))
        else:
            matched += 1
    return TurnComparison(
        session_id=session_id,
        expected=len(done),
        matched=matched,
        problems=tuple(problems),
        replay_turns=len(turns),
        ledger_checked=ledger,
        in_flight=len(flying),
        in_flight_completed=sum(1 for t in flying if t.prompt_id in completed_ids),
        in_flight_replayed=sum(1 for t in flying if t.prompt_text in positions),
    )


@dataclass(frozen=True)
class RestoreCheck:
    """Sessions restored after their turns were seen, compared turn by turn.

    Attributes:
        action: ``load`` or ``resume``.
        results: One restore per session, in the order of the sessions.
        comparisons: One comparison per session, in the same order.
    """

    action: str
    results: tuple[RestoreResult, ...]
    comparisons: tuple[TurnComparison, ...]

    @property
    def expected(self) -> int:
        """Turns completed before, over all sessions."""
        return sum(c.expected for c in self.comparisons)

    @property
    def matched(self) -> int:
        """Of those, turns that came back intact."""
        return sum(c.matched for c in self.comparisons)

    @property
    def problems(self) -> list[str]:
        """Every mismatch and every failed restore, one text each."""
        found = [f"session {r.session_id}: {r.line()}" for r in self.results if not r.ok]
        for comparison in self.comparisons:
            found += [f"session {comparison.session_id}: {p}" for p in comparison.problems]
        return found

    def figures(self) -> dict[str, Any]:
        """``sessions``, ``restored``, ``turnsBefore``, ``turnsMatched``, ``turnsLost``, ``replayTurns``,
        ``ledgerChecked`` (sessions whose ledger answered) and ``restore`` (latency summary, ms)."""
        return {
            "sessions": len(self.results),
            "restored": sum(1 for r in self.results if r.ok),
            "turnsBefore": self.expected,
            "turnsMatched": self.matched,
            "turnsLost": self.expected - self.matched,
            "replayTurns": sum(c.replay_turns for c in self.comparisons),
            "ledgerChecked": sum(1 for c in self.comparisons if c.ledger_checked),
            "restore": summarize([r.elapsed_ms for r in self.results]).to_dict(),
        }

    def line(self) -> str:
        """``load of 3 sessions: 9/9 turns back intact; restore p50 20 ms``."""
        latency = summarize([r.elapsed_ms for r in self.results])
        p50 = shown(latency.p50, ".1f", " ms")
        return (
            f"{self.action} of {len(self.results)} sessions: {self.matched}/{self.expected} turns back intact; "
            f"restore p50 {p50}"
        )


def check_restores(seen: Sequence[SeenTurn], results: Sequence[RestoreResult], action: str) -> RestoreCheck:
    """Compare each restore with the turns seen on its session (sessions in the order of ``results``)."""
    by_session: dict[str, list[SeenTurn]] = {}
    for turn in seen:
        by_session.setdefault(turn.session_id, []).append(turn)
    comparisons = tuple(compare_turns(by_session.get(r.session_id, []), r) for r in results)
    return RestoreCheck(action, tuple(results), comparisons)
