"""Getting a session back: ``POST /session/:id/load`` and ``/resume``, the transcript's pages, and what they hold.

What the daemon does (``docs/daemon-restore.md``, measured on 0.24.4): a live session is attached to
(``attached: true``) and its history comes from the daemon's own event ring (``compactedReplay``, with the
daemon's prompt ids); a session that is not live (closed, or unknown after a restart) is restored by the agent,
which replays its history, and the answer then carries the daemon's ledger of earlier prompts
(``promptTerminals``: each prompt id with its terminal state). The replay is in ``compactedReplay`` (bulk replay)
or ``liveJournal`` (streamed replay, and the turn in flight of a live session); a journal over its caps starts
with a ``history_truncated`` marker. ``GET /session/:id/transcript`` pages through the transcript the agent
persisted (404 ``session_not_found`` when the agent keeps none the daemon can find).

Here:

* :func:`restore` - one ``/load`` or ``/resume`` as one client, answered as a :class:`RestoreResult`;
* :func:`read_transcript` - every page of a transcript (cursor by cursor, bounded);
* :func:`replay_turns` - the turns in a replay, split at each user message;
* :class:`SeenTurn` and :func:`compare_turns` - what the streams showed of each turn, compared turn by turn
  (prompt ids, the user's text, the agent's text) with what came back.

Nothing here imports Robot Framework; nothing here logs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from keywords.checks import choice, whole_number
from keywords.errors import HarnessConfigError
from keywords.measure.metrics import summarize
from keywords.traffic.client import DaemonClient

Action = Literal["load", "resume"]
ACTIONS = ("load", "resume")
REPLAY_MODES = ("full", "summary")
TRUNCATED = "history_truncated"
USER_UPDATE = "user_message_chunk"
AGENT_UPDATE = "agent_message_chunk"
TRANSCRIPT_MAX_LIMIT = 500  # the daemon's SESSION_TRANSCRIPT_MAX_LIMIT (0.24.4)
MAX_TRANSCRIPT_PAGES = 10_000


# -- one restore ---------------------------------------------------------------------------------------------


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
        compacted_replay=_envelopes(data.get("compactedReplay")),
        live_journal=_envelopes(data.get("liveJournal")),
        prompt_terminals=_envelopes(data.get("promptTerminals")),
        body_keys=tuple(data),
        sent_mono=sent,
        elapsed_ms=reply.elapsed_ms,
    )


def _failed(action: str, session_id: str, error: str, sent: float) -> RestoreResult:
    return RestoreResult(
        action, session_id, 0, None, error, None, None, None, None, None, [], [], [], (), sent,
        (time.monotonic() - sent) * 1000,
    )  # fmt: skip


def _envelopes(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# -- the turns of a replay -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayTurn:
    """One turn in a replay or transcript: a user message and what followed it up to the next one.

    Attributes:
        index: 0-based position among the turns.
        user_text: The user message's text (the prompt as the agent recorded it).
        agent_text: The agent's message chunks joined.
        updates: Session updates of the turn (the user message included).
        kinds: Their ``sessionUpdate`` kinds, in order.
        prompt_ids: Distinct ``promptId`` values of its envelopes (the daemon stamps them on a live session's
            ring; an agent's replay has none).
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
        prompt_id = env.get("promptId") or data.get("promptId")
        if etype == "session_update":
            update = data.get("update") if isinstance(data.get("update"), dict) else {}
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


# -- what the streams showed, compared with what came back ---------------------------------------------------


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
        p50 = "n/a" if latency.p50 is None else f"{latency.p50:.1f} ms"
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


# -- the transcript ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transcript:
    """Every page of ``GET /session/:id/transcript``, read cursor by cursor.

    Attributes:
        session_id: The session.
        status: Status of the last page read (200; 404 ``session_not_found`` when the daemon finds no
            transcript); 0 when a request failed in transport.
        code: The daemon's ``code`` of an error answer.
        error: Its ``error`` text, or the transport error.
        pages: Pages read with 200.
        page_sizes: Events on each page, in order.
        events: Every event of every page, in order.
        complete: The last page said ``hasMore: false`` (nothing left unread).
        page_ms: Time of each page's request (monotonic clock, ms).
    """

    session_id: str
    status: int
    code: str | None
    error: str | None
    pages: int
    page_sizes: tuple[int, ...]
    events: list[dict[str, Any]]
    complete: bool
    page_ms: tuple[float, ...] = field(default_factory=tuple)

    @property
    def turns(self) -> list[ReplayTurn]:
        """The turns of :attr:`events` (see :func:`replay_turns`)."""
        return replay_turns(self.events)

    def figures(self) -> dict[str, Any]:
        """``status``, ``pages``, ``events``, ``turns``, ``complete`` and ``page`` (latency summary, ms)."""
        return {
            "status": self.status or None,
            "pages": self.pages,
            "events": len(self.events),
            "turns": len(self.turns),
            "complete": self.complete,
            "page": summarize(self.page_ms).to_dict() if self.page_ms else None,
        }

    def line(self) -> str:
        """``transcript 200: 3 pages (100, 100, 12), 212 events, 10 turns, complete``."""
        if self.status != 200:
            return f"transcript {self.status} {self.code or ''}: {self.error}".replace("  ", " ")
        sizes = ", ".join(str(n) for n in self.page_sizes[:10])
        state = "complete" if self.complete else "incomplete"
        return (
            f"transcript 200: {self.pages} pages ({sizes}), {len(self.events)} events, {len(self.turns)} turns, {state}"
        )


def read_transcript(client: DaemonClient, session_id: str, *, limit: int = 100, max_pages: int = 1000) -> Transcript:
    """Read every page of a session's transcript from its start (``limit`` events a page, ``max_pages`` at most).

    The first page is asked without a cursor, each next one with the ``nextCursor`` of the page before, until a
    page says ``hasMore: false``; a cursor that does not advance ends the reading (``complete`` stays false).

    Raises:
        HarnessConfigError: ``limit`` outside 1..500 or ``max_pages`` outside 1..10000 (before anything is sent).
    """
    limit = whole_number("limit", limit, low=1, high=TRANSCRIPT_MAX_LIMIT, unit="events")
    max_pages = whole_number("max_pages", max_pages, low=1, high=MAX_TRANSCRIPT_PAGES)
    events: list[dict[str, Any]] = []
    sizes: list[int] = []
    times: list[float] = []
    cursor: str | None = None
    seen: set[str] = set()
    status, code, error, complete = 0, None, None, False
    for _ in range(max_pages):
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        try:
            reply = client.request(
                "GET",
                f"/session/{session_id}/transcript?{httpx.QueryParams(params)}",
                expected=None,
                route="/session/:id/transcript",
            )
        except httpx.HTTPError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
            break
        times.append(reply.elapsed_ms)
        status = reply.status
        body = reply.body if isinstance(reply.body, dict) else {}
        if status != 200:
            code, error = reply.code, str(body.get("error") if body else reply.body)[:300]
            break
        page = _envelopes(body.get("events"))
        events += page
        sizes.append(len(page))
        next_cursor = body.get("nextCursor")
        if not body.get("hasMore"):
            complete = True
            break
        if not isinstance(next_cursor, str) or next_cursor in seen:
            error = "the transcript said hasMore but gave no new cursor"
            break
        seen.add(next_cursor)
        cursor = next_cursor
    return Transcript(session_id, status, code, error, len(sizes), tuple(sizes), events, complete, tuple(times))
