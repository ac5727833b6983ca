"""What the streams showed of each turn before a restart or a kill, compared turn by turn (prompt ids, the
user's text, the agent's text) with what a restore gave back, or with a session's transcript.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.measure.metrics import summarize
from keywords.reporting.figures import shown
from keywords.traffic.restore.replayed_turns import ReplayTurn
from keywords.traffic.restore.restore_call import RestoreResult
from keywords.traffic.restore.transcript import Transcript


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
    """The completed turns the streams showed for one session, checked turn by turn against a restore's replay
    or the session's transcript.

    Attributes:
        session_id: The session.
        expected: Turns completed before (the streams showed their ``turn_complete``).
        matched: Those found once in the replay, in order, with the same user text and agent text (and, where
            the daemon's ledger answered, its prompt id recorded ``completed``; in a transcript, with its prompt
            id on the user's message).
        problems: One text per turn that did not match (what was expected, what came back).
        replay_turns: Turns in the replay (or the transcript).
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
    (``promptId`` on a live session's envelopes, ``_meta.promptId`` on a user message the agent recorded, or the
    ledger's ``promptTerminals`` after an agent restore) the turn's prompt id must be there too, recorded as
    completed. Turns the session had before the ones seen are allowed. Turns in flight are not judged: they are
    counted, with what the ledger and the replay say of them.
    """
    ledger = "promptTerminals" in restored.body_keys
    recorded = {str(r.get("promptId")) for r in restored.prompt_terminals}
    return _compare(
        seen,
        restored.turns,
        seen[0].session_id if seen else restored.session_id,
        ledger=(set(restored.terminal_ids("completed")), recorded) if ledger else None,
    )


def compare_transcript(seen: Sequence[SeenTurn], transcript: Transcript) -> TurnComparison:
    """Compare the turns the streams showed for one session with its transcript, as :func:`compare_turns` does
    with a replay, and each turn's prompt id must be the ``_meta.promptId`` of its user message (the agent
    records the daemon's prompt id with the prompt)."""
    return _compare(seen, transcript.turns, transcript.session_id, ids_required=True, source="transcript")


def _compare(
    seen: Sequence[SeenTurn],
    turns: Sequence[ReplayTurn],
    session_id: str,
    *,
    ledger: tuple[set[str], set[str]] | None = None,
    ids_required: bool = False,
    source: str = "replay",
) -> TurnComparison:
    """The comparison of :func:`compare_turns`: ``ledger`` is (prompt ids recorded completed, all recorded);
    ``source`` names the turns' origin in the problems."""
    done = [t for t in seen if t.completed]
    flying = [t for t in seen if not t.completed]
    positions: dict[str, list[int]] = {}
    for turn in turns:
        positions.setdefault(turn.user_text, []).append(turn.index)
    completed_ids, recorded_ids = ledger or (set(), set())
    problems: list[str] = []
    matched = 0
    previous = -1
    for i, want in enumerate(done):
        found = positions.get(want.prompt_text, [])
        why = []
        if not found:
            why.append(f"its user text {want.prompt_text[:60]!r} is not in the {source} of {len(turns)} turns")
        else:
            got = turns[found[0]]
            if len(found) > 1:
                why.append(f"it is in the {source} {len(found)} times")
            if got.index <= previous:
                why.append(f"it is turn {got.index + 1} of the {source}, before the turn seen before it")
            previous = max(previous, got.index)
            if got.agent_text != want.agent_text:
                why.append(f"agent text of {len(got.agent_text)} characters instead of {len(want.agent_text)}")
            if got.prompt_ids and want.prompt_id not in got.prompt_ids:
                why.append(f"prompt id {got.prompt_ids[0]} instead of {want.prompt_id}")
            elif ids_required and not got.prompt_ids:
                why.append("its user message has no prompt id")
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
        ledger_checked=ledger is not None,
        in_flight=len(flying),
        in_flight_completed=sum(1 for t in flying if t.prompt_id in completed_ids),
        in_flight_replayed=sum(1 for t in flying if t.prompt_text in positions),
    )


class _Compared:
    """What a check of several sessions adds up from its ``comparisons`` (one :class:`TurnComparison` each)."""

    comparisons: tuple[TurnComparison, ...]

    @property
    def expected(self) -> int:
        """Turns completed before, over all sessions."""
        return sum(c.expected for c in self.comparisons)

    @property
    def matched(self) -> int:
        """Of those, turns that came back intact."""
        return sum(c.matched for c in self.comparisons)

    def _mismatches(self) -> list[str]:
        return [f"session {c.session_id}: {p}" for c in self.comparisons for p in c.problems]


@dataclass(frozen=True)
class RestoreCheck(_Compared):
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
    def where(self) -> str:
        """Where the turns should have come back, for a failure message: ``after the load``."""
        return f"after the {self.action}"

    @property
    def problems(self) -> list[str]:
        """Every mismatch and every failed restore, one text each."""
        return [f"session {r.session_id}: {r.line()}" for r in self.results if not r.ok] + self._mismatches()

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


@dataclass(frozen=True)
class TranscriptCheck(_Compared):
    """Sessions' transcripts (every page) compared turn by turn with what the streams showed.

    Attributes:
        transcripts: One transcript per session, in the order of the sessions.
        comparisons: One comparison per session, in the same order.
    """

    transcripts: tuple[Transcript, ...]
    comparisons: tuple[TurnComparison, ...]

    @property
    def where(self) -> str:
        """Where the turns should have come back, for a failure message."""
        return "in the transcripts"

    @property
    def problems(self) -> list[str]:
        """Every mismatch and every transcript not read to its end, one text each."""
        unread = [f"session {t.session_id}: {t.line()}" for t in self.transcripts if t.status != 200 or not t.complete]
        return unread + self._mismatches()

    def figures(self) -> dict[str, Any]:
        """``sessions``, ``read`` (transcripts read with 200 to their last page), ``turnsBefore``, ``turnsMatched``,
        ``turnsLost``, ``turns`` (in the transcripts), ``pages``, ``events`` and ``page`` (latency summary of every
        page, ms)."""
        times = [ms for t in self.transcripts for ms in t.page_ms]
        return {
            "sessions": len(self.transcripts),
            "read": sum(1 for t in self.transcripts if t.status == 200 and t.complete),
            "turnsBefore": self.expected,
            "turnsMatched": self.matched,
            "turnsLost": self.expected - self.matched,
            "turns": sum(c.replay_turns for c in self.comparisons),
            "pages": sum(t.pages for t in self.transcripts),
            "events": sum(len(t.events) for t in self.transcripts),
            "page": summarize(times).to_dict() if times else None,
        }

    def line(self) -> str:
        """``transcripts of 3 sessions: 12/12 turns intact; 9 pages, page p50 4.2 ms``."""
        times = [ms for t in self.transcripts for ms in t.page_ms]
        p50 = shown(summarize(times).p50 if times else None, ".1f", " ms")
        pages = sum(t.pages for t in self.transcripts)
        return (
            f"transcripts of {len(self.transcripts)} sessions: {self.matched}/{self.expected} turns intact; "
            f"{pages} pages, page p50 {p50}"
        )


def _by_session(seen: Sequence[SeenTurn]) -> dict[str, list[SeenTurn]]:
    by_session: dict[str, list[SeenTurn]] = {}
    for turn in seen:
        by_session.setdefault(turn.session_id, []).append(turn)
    return by_session


def check_restores(seen: Sequence[SeenTurn], results: Sequence[RestoreResult], action: str) -> RestoreCheck:
    """Compare each restore with the turns seen on its session (sessions in the order of ``results``)."""
    by_session = _by_session(seen)
    comparisons = tuple(compare_turns(by_session.get(r.session_id, []), r) for r in results)
    return RestoreCheck(action, tuple(results), comparisons)


def check_transcripts(seen: Sequence[SeenTurn], transcripts: Sequence[Transcript]) -> TranscriptCheck:
    """Compare each transcript with the turns seen on its session (sessions in the order of ``transcripts``)."""
    by_session = _by_session(seen)
    comparisons = tuple(compare_transcript(by_session.get(t.session_id, []), t) for t in transcripts)
    return TranscriptCheck(tuple(transcripts), comparisons)
