"""The same prompt workload over each transport: N sessions released together, each sending its prompts one
after another, over REST/SSE and over ``/acp``; and the two side by side.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from keywords.checks import choice, seconds, whole_number
from keywords.measure.metrics import summarize
from keywords.reporting.figures import shown
from keywords.traffic.acp.acp_connection import AcpConnection
from keywords.traffic.acp.messages import MAX_CONNECTIONS, TRANSPORTS, AcpError, AcpRefused, AcpTurn
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.turns import run_turn


@dataclass(frozen=True)
class TransportRun:
    """One prompt workload over one transport: N sessions at once, each sending its prompts one after another.

    Attributes:
        transport: ``rest`` (REST prompts, SSE events), ``ws`` or ``http`` (``/acp``).
        sessions: Sessions (one ``/acp`` connection each).
        prompts: Prompts per session.
        turn_ms: Send to turn end of each completed turn (REST: POST to ``turn_complete``; ``/acp``: the prompt's
            request to its answer), monotonic clock, ms.
        failed: Turns that did not complete (an error answer, a timeout, a refused connection).
        updates: Session updates the client received for the completed turns (the daemon's echo of the prompt
            included).
        wall_ms: The release of the sessions to the last turn's end, ms.
        connect_ms: ``/acp``: connect and ``initialize`` of each connection, ms (empty for REST).
        errors: Up to ten error texts.
        late_updates: ``/acp``: updates that arrived after their prompt's answer (``None`` for REST, where the turn
            ends with an event of the stream itself).
    """

    transport: str
    sessions: int
    prompts: int
    turn_ms: tuple[float, ...]
    failed: int
    updates: int
    wall_ms: float
    connect_ms: tuple[float, ...] = ()
    errors: tuple[str, ...] = ()
    late_updates: int | None = None

    @property
    def events_per_s(self) -> float | None:
        """Session updates received per second of the workload's wall time."""
        return None if self.wall_ms <= 0 else self.updates / (self.wall_ms / 1000)

    def figures(self) -> dict[str, Any]:
        """``sessions``, ``turns``, ``completed``, ``failed``, ``updates``, ``wallMs``, ``eventsPerSec``, ``turn``
        (latency summary, ms), ``connect`` (``/acp`` only, latency summary, ms) and ``lateUpdates``."""
        rate = self.events_per_s
        return {
            "sessions": self.sessions,
            "turns": self.sessions * self.prompts,
            "completed": len(self.turn_ms),
            "failed": self.failed,
            "updates": self.updates,
            "wallMs": round(self.wall_ms, 1),
            "eventsPerSec": None if rate is None else round(rate, 1),
            "turn": summarize(self.turn_ms).to_dict(),
            "connect": summarize(self.connect_ms).to_dict() if self.connect_ms else None,
            "lateUpdates": self.late_updates,
        }

    def line(self) -> str:
        """``ws: 40/40 turns, turn p50 12.0 ms p99 30.1 ms, 1800 events/s``."""
        latency = summarize(self.turn_ms)
        rate = shown(self.events_per_s, ".0f")
        turns = f"{len(self.turn_ms)}/{self.sessions * self.prompts} turns"
        return f"{self.transport}: {turns}, turn p50 {_ms(latency.p50)} p99 {_ms(latency.p99)}, {rate} events/s"


def _ms(value: float | None) -> str:
    return shown(value, ".1f", " ms")


def _check_workload(sessions: Any, prompts: Any, timeout_s: Any) -> tuple[int, int, float]:
    return (
        whole_number("sessions", sessions, low=1, high=MAX_CONNECTIONS),
        whole_number("prompts", prompts, low=1, high=10_000),
        seconds("timeout", timeout_s, high=3600),
    )


def run_acp_turns(
    base_url: str,
    cwd: str,
    sessions: int,
    prompts: int,
    text: str,
    *,
    transport: str = "ws",
    token: str | None = None,
    timeout_s: float = 30.0,
) -> TransportRun:
    """``sessions`` ``/acp`` connections (one session each) released together, each sending ``prompts`` prompts.

    Raises:
        HarnessConfigError: a bad count, transport or timeout (before anything is sent).
        BarrierBrokenError: the connections could not start together.
    """
    sessions, prompts, timeout_s = _check_workload(sessions, prompts, timeout_s)
    transport = choice("transport", transport, TRANSPORTS)
    ready = []
    for _ in range(sessions):
        conn = AcpConnection(base_url, transport=transport, token=token, timeout_s=timeout_s)
        ready.append(conn)
    connect_ms: list[float] = []
    session_ids: list[str | None] = []
    errors: list[str] = []
    try:
        for conn in ready:
            try:
                conn.connect()
                connect_ms.append(conn.connect_ms or 0.0)
                session_ids.append(conn.new_session(cwd))
            except (AcpRefused, AcpError) as exc:
                session_ids.append(None)
                errors.append(str(exc))
        started = time.monotonic()

        def one(k: int) -> list[AcpTurn]:
            if session_ids[k] is None:
                return []
            return [ready[k].prompt(session_ids[k], f"{text} {i + 1}") for i in range(prompts)]

        results = run_together(sessions, one, what="acp connections")
        wall_ms = (time.monotonic() - started) * 1000
    finally:
        for conn in ready:
            conn.close()
    turns = _gathered(results, errors)
    done = [t for t in turns if t.completed and t.turn_ms is not None]
    errors += [t.error for t in turns if t.error]
    return TransportRun(
        transport, sessions, prompts, tuple(t.turn_ms for t in done), sessions * prompts - len(done),
        sum(t.updates for t in done), wall_ms, tuple(connect_ms), tuple(errors[:10]),
        late_updates=sum(t.late_updates for t in done),
    )  # fmt: skip


def run_rest_turns(
    client: DaemonClient, sessions: int, prompts: int, text: str, *, timeout_s: float = 30.0
) -> TransportRun:
    """The same workload over REST and SSE: ``sessions`` sessions released together, ``prompts`` turns each.

    Raises:
        HarnessConfigError: a bad count or timeout (before anything is sent).
        BarrierBrokenError: the sessions could not start together.
    """
    sessions, prompts, timeout_s = _check_workload(sessions, prompts, timeout_s)
    session_ids = [client.create_session().session_id for _ in range(sessions)]
    started = time.monotonic()
    results = run_together(
        sessions,
        lambda k: [run_turn(client, session_ids[k], f"{text} {i + 1}", timeout_s=timeout_s) for i in range(prompts)],
        what="sessions",
    )
    wall_ms = (time.monotonic() - started) * 1000
    client.close_sessions(session_ids)
    errors: list[str] = []
    turns = _gathered(results, errors)
    done = [t for t in turns if t.outcome == "completed" and t.turn_ms is not None]
    errors += [t.summary() for t in turns if t.outcome != "completed"]
    return TransportRun(
        "rest", sessions, prompts, tuple(t.turn_ms for t in done), sessions * prompts - len(done),
        sum(t.session_updates for t in done), wall_ms, errors=tuple(errors[:10]),
    )  # fmt: skip


def _gathered(results: list, errors: list[str]) -> list:
    """The turns of every item of a :func:`run_together` run; an item that failed adds its error instead."""
    turns: list = []
    for item in results:
        if isinstance(item, Exception):
            errors.append(f"{type(item).__name__}: {item}")
        else:
            turns += item
    return turns


@dataclass(frozen=True)
class TransportComparison:
    """The same workload over REST/SSE and over ``/acp``, side by side.

    Attributes:
        rest: The REST/SSE run.
        acp: The ``/acp`` run.
    """

    rest: TransportRun
    acp: TransportRun

    def ratio(self, what: Literal["p50", "p99", "eventsPerSec"]) -> float | None:
        """``/acp`` over REST for a turn percentile or the event rate (``None`` when one side measured nothing)."""
        if what == "eventsPerSec":
            a, r = self.acp.events_per_s, self.rest.events_per_s
        else:
            a, r = getattr(summarize(self.acp.turn_ms), what), getattr(summarize(self.rest.turn_ms), what)
        return None if a is None or not r else a / r

    def figures(self) -> dict[str, Any]:
        """Each run's figures under ``rest`` and ``acp``, and ``acpOverRestP50``, ``acpOverRestP99``,
        ``acpOverRestEventsPerSec``."""
        rounded = {k: None if v is None else round(v, 3) for k, v in (
            ("acpOverRestP50", self.ratio("p50")),
            ("acpOverRestP99", self.ratio("p99")),
            ("acpOverRestEventsPerSec", self.ratio("eventsPerSec")),
        )}  # fmt: skip
        return {"rest": self.rest.figures(), "acp": self.acp.figures(), **rounded}

    def line(self) -> str:
        """Both runs' lines."""
        return f"{self.rest.line()} | {self.acp.line()}"
