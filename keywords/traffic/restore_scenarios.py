"""The restore scenarios: turns seen before a restart, crash durability, concurrent restores, the live journal.

Each engine drives the daemon through :class:`~keywords.traffic.client.DaemonClient` and returns a result that
carries its figures. What needs the daemon's process (a SIGKILL, a restart on the same HOME) comes in as a
callable, so nothing here knows processes; what needs the mock agent's report (how many restores reached the
agent) is added by the keyword layer.

Nothing here imports Robot Framework; threads here never log.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from keywords.checks import seconds, whole_number
from keywords.daemon.daemon_process import KillOutcome
from keywords.measure.metrics import summarize
from keywords.traffic.barrier import results_or_raise, run_together
from keywords.traffic.client import DaemonClient, PromptAccepted
from keywords.traffic.restore import (
    TRUNCATED,
    RestoreCheck,
    RestoreResult,
    SeenTurn,
    check_restores,
    restore,
)
from keywords.traffic.sse import StreamOptions, Subscription, continuity_problems
from keywords.traffic.turns import classify, follow_turn

MAX_SESSIONS = 200
MAX_TURNS = 1000
MID_TURN_POLL_S = 0.002


def prompt_text(directive: str, label: str, session_index: int, turn_index: int) -> str:
    """A prompt text that no other turn of the run has (so a replayed turn is recognised by it)."""
    text = f"{label} s{session_index + 1} t{turn_index + 1} {uuid.uuid4().hex[:8]}"
    return f"{directive} {text}" if directive else text


def _seen(session_id: str, accepted: PromptAccepted, text: str, turn: Any) -> SeenTurn:
    return SeenTurn(session_id, accepted.prompt_id, text, turn.text, turn.outcome, turn.turn_ms)


# -- turns seen on the streams -------------------------------------------------------------------------------


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
                _seen(session_id, accepted, text, follow_turn(client, session_id, accepted, timeout_s=timeout_s))
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


# -- crash durability ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrashDurability:
    """Sessions mid-turn under load when the daemon was SIGKILLed, restarted, and loaded.

    Attributes:
        kill: What the SIGKILL did.
        kill_after_ms: First prompt to the kill (monotonic clock, ms): the chosen moment.
        restart_boot_ms: The new process's spawn to its listening line, ms.
        turns: Every turn the streams showed (completed ones and those in flight at the kill).
        unconfirmed: Prompts whose POST got no answer because the daemon died under it (no prompt id).
        check: The loads after the restart, compared turn by turn with :attr:`turns`.
    """

    kill: KillOutcome
    kill_after_ms: float
    restart_boot_ms: float | None
    turns: tuple[SeenTurn, ...]
    unconfirmed: int
    check: RestoreCheck

    @property
    def completed_before(self) -> int:
        """Turns whose ``turn_complete`` was read before the kill."""
        return self.check.expected

    @property
    def recovered(self) -> int:
        """Of those, turns that came back intact after the restart (replay and ledger)."""
        return self.check.matched

    @property
    def lost(self) -> int:
        """Completed turns that did not come back intact."""
        return self.completed_before - self.recovered

    @property
    def in_flight(self) -> int:
        """Turns accepted (202) whose end was not read before the kill."""
        return sum(c.in_flight for c in self.check.comparisons)

    def figures(self) -> dict[str, Any]:
        """``completedBeforeKill``, ``recovered``, ``lost``, ``inFlightAtKill``, ``inFlightCompletedInLedger``,
        ``inFlightInReplay``, ``unconfirmedPrompts``, ``killAfterMs``, ``killMs``, ``childrenGoneMs``,
        ``restartBootMs``, ``sessionsRestored`` and ``restore`` / ``turn`` (latency summaries, ms)."""
        done = [t for t in self.turns if t.completed and t.turn_ms is not None]
        return {
            "completedBeforeKill": self.completed_before,
            "recovered": self.recovered,
            "lost": self.lost,
            "inFlightAtKill": self.in_flight,
            "inFlightCompletedInLedger": sum(c.in_flight_completed for c in self.check.comparisons),
            "inFlightInReplay": sum(c.in_flight_replayed for c in self.check.comparisons),
            "unconfirmedPrompts": self.unconfirmed,
            "killAfterMs": round(self.kill_after_ms, 1),
            "killMs": round(self.kill.kill_ms, 1),
            "childrenGoneMs": None if self.kill.children_gone_ms is None else round(self.kill.children_gone_ms, 1),
            "restartBootMs": None if self.restart_boot_ms is None else round(self.restart_boot_ms, 1),
            "sessionsRestored": sum(1 for r in self.check.results if r.ok),
            "restore": summarize([r.elapsed_ms for r in self.check.results]).to_dict(),
            "turn": summarize([t.turn_ms for t in done]).to_dict(),
        }

    def line(self) -> str:
        """``SIGKILL after 1500 ms: 18 turns completed before, 18 recovered, 0 lost; 4 in flight (0 in the ledger)``."""
        flying = sum(c.in_flight_completed for c in self.check.comparisons)
        return (
            f"SIGKILL after {self.kill_after_ms:.0f} ms: {self.completed_before} turns completed before, "
            f"{self.recovered} recovered, {self.lost} lost; {self.in_flight} in flight ({flying} completed in the "
            f"ledger), {self.unconfirmed} prompts unanswered"
        )


def run_crash_durability(
    client: DaemonClient,
    session_ids: Sequence[str],
    *,
    kill: Callable[[], KillOutcome],
    restart: Callable[[], tuple[DaemonClient, float | None]],
    kill_after_s: float,
    directive: str = "",
    timeout_s: float = 30.0,
) -> CrashDurability:
    """Keep every session busy with one turn after another, SIGKILL the daemon after ``kill_after_s``, restart it
    on the same HOME, load every session and compare.

    Args:
        client: Client of the daemon before the kill.
        session_ids: The sessions under load.
        kill: SIGKILLs the daemon (called once, at the chosen moment).
        restart: Starts the new process; returns its client and its boot time (ms).
        kill_after_s: Time from the first prompt to the kill.
        directive: Mock directive put before every prompt (how long a turn takes).
        timeout_s: Bound on every wait (a turn, a worker after the kill).

    Raises:
        HarnessConfigError: a bad count or duration (before anything is sent).
    """
    count = whole_number("sessions", len(session_ids), low=1, high=MAX_SESSIONS)
    kill_after_s = seconds("kill_after", kill_after_s, high=600)
    timeout_s = seconds("timeout", timeout_s, high=3600)
    stop = threading.Event()
    lock = threading.Lock()
    seen: list[SeenTurn] = []
    unconfirmed = [0]

    def worker(k: int) -> None:
        session_id = session_ids[k]
        for i in range(MAX_TURNS):
            if stop.is_set():
                return
            text = prompt_text(directive, "crash", k, i)
            try:
                accepted = client.prompt(session_id, text)
            except httpx.HTTPError:
                with lock:
                    unconfirmed[0] += 1
                return
            except Exception:  # the daemon answered with an error while dying
                return
            turn = follow_turn(client, session_id, accepted, timeout_s=timeout_s)
            with lock:
                seen.append(_seen(session_id, accepted, text, turn))
            if turn.outcome != "completed":
                return

    threads = [threading.Thread(target=worker, args=(k,), daemon=True, name=f"crash-{k}") for k in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(kill_after_s)
    kill_at = time.monotonic()
    outcome = kill()
    stop.set()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic()))
    with lock:
        turns = tuple(seen)
    client.close()
    new_client, boot_ms = restart()
    results = restore_sessions(new_client, session_ids, "load")
    check = check_restores(turns, results, "load")
    return CrashDurability(outcome, (kill_at - started) * 1000, boot_ms, turns, unconfirmed[0], check)


# -- concurrent restores of one session ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConcurrentRestores:
    """N clients restoring one session at the same instant.

    Attributes:
        session_id: The session.
        results: Every client's restore, in client order.
        agent_restores: Restores that reached the agent (the mock's report: ``session_load``/``session_resume``
            events for the session during the burst); ``None`` when not read.
    """

    session_id: str
    results: tuple[RestoreResult, ...]
    agent_restores: int | None = None

    @property
    def replays(self) -> list[tuple[tuple[str, str], ...]]:
        """Each answer's replay as its turns' (user text, agent text), in client order."""
        return [tuple((t.user_text, t.agent_text) for t in r.turns) for r in self.results if r.ok]

    @property
    def distinct_replays(self) -> int:
        """How many different replays the clients got (1: all the same)."""
        return len(set(self.replays))

    def figures(self) -> dict[str, Any]:
        """``clients``, ``restored``, ``attached`` (answers on an already live session), ``agentRestores``,
        ``distinctReplays``, ``replayTurns`` (of the first answer), ``restore`` (latency summary,
        ms) and ``spreadMs`` (first to last answer)."""
        ok = [r for r in self.results if r.ok]
        ends = [r.sent_mono * 1000 + r.elapsed_ms for r in self.results]
        return {
            "clients": len(self.results),
            "restored": len(ok),
            "attached": sum(1 for r in ok if r.attached),
            "agentRestores": self.agent_restores,
            "distinctReplays": self.distinct_replays,
            "replayTurns": len(self.replays[0]) if self.replays else None,
            "restore": summarize([r.elapsed_ms for r in self.results]).to_dict(),
            "spreadMs": round(max(ends) - min(ends), 1) if ends else None,
        }

    def line(self) -> str:
        """``8 loads at once: 8 restored, 1 agent restore, 1 distinct replay; p50 40 ms``."""
        latency = summarize([r.elapsed_ms for r in self.results])
        agent = "?" if self.agent_restores is None else str(self.agent_restores)
        p50 = "n/a" if latency.p50 is None else f"{latency.p50:.1f} ms"
        return (
            f"{len(self.results)} restores at once: {sum(1 for r in self.results if r.ok)} restored, "
            f"{agent} agent restore(s), {self.distinct_replays} distinct replay(s); p50 {p50}, "
            f"max {latency.max or 0:.1f} ms"
        )


def restore_together(
    client: DaemonClient, session_id: str, clients: int, action: str = "load", *, barrier_timeout_s: float = 10.0
) -> tuple[RestoreResult, ...]:
    """``clients`` restores of one session released by one barrier (each as its own client).

    Raises:
        HarnessConfigError: ``clients`` outside 1..1000.
        BarrierBrokenError: the restores could not start together.
    """
    clients = whole_number("clients", clients, low=1, high=1000)

    def restore_one(_i: int) -> RestoreResult:
        return restore(client, session_id, action)

    return tuple(results_or_raise(run_together(clients, restore_one, timeout_s=barrier_timeout_s)))


# -- the live journal ----------------------------------------------------------------------------------------


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


def agent_text(env: dict[str, Any]) -> str:
    """The text of an ``agent_message_chunk`` envelope (merged chunks included); empty for any other."""
    if not _is_agent_chunk(env):
        return ""
    content = env["data"]["update"].get("content")
    return content["text"] if isinstance(content, dict) and isinstance(content.get("text"), str) else ""


def _is_agent_chunk(env: dict[str, Any]) -> bool:
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    update = data.get("update") if isinstance(data.get("update"), dict) else {}
    return env.get("type") == "session_update" and update.get("sessionUpdate") == "agent_message_chunk"


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
