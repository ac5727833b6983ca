"""Crash durability: sessions mid-turn under load when the daemon is SIGKILLed, restarted on the same HOME, and
loaded; every turn completed before must come back. The kill and the restart come in as callables.

Nothing here imports Robot Framework; threads here never log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from keywords.checks import seconds, whole_number
from keywords.daemon.daemon_process import KillOutcome
from keywords.measure.metrics import summarize
from keywords.traffic.client import DaemonClient
from keywords.traffic.restore.seen_turns import MAX_SESSIONS, MAX_TURNS, prompt_text, restore_sessions, seen_turn
from keywords.traffic.restore.turn_check import RestoreCheck, SeenTurn, check_restores
from keywords.traffic.turns import follow_turn


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
                seen.append(seen_turn(session_id, accepted, text, turn))
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
