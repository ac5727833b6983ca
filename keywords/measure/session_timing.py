"""C3 / C8: timed session creations, one after another (warm creations) or all at once (a burst).

A burst starts every request together through :func:`keywords.traffic.barrier.run_together`; a barrier that
breaks is an error (the requests would not have started together). A creation that fails is kept with its
error text, not raised; the sessions created are left open.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.checks import choice, whole_number
from keywords.errors import DaemonHttpError
from keywords.measure import metrics
from keywords.measure.bench_common import FailureText, Target, error_text, failure_figures, failure_line, tally_failures
from keywords.traffic.barrier import run_together
from keywords.traffic.client import SessionInfo

MAX_CREATIONS = 500
MAX_ATTACHES = 100
SCOPES = ("thread", "single")


@dataclass
class SessionTimings:
    """Timed session creations.

    Attributes:
        latency: Per successful creation (ms, client side, request to full answer).
        session_ids: Created session ids.
        failures: Error texts of failed creations, in order.
        wall_ms: Wall time of the whole batch.
        concurrency: 1 for sequential, N for a burst.
    """

    latency: metrics.LatencySummary
    session_ids: list[str]
    failures: list[str]
    wall_ms: float
    concurrency: int

    @property
    def success_count(self) -> int:
        """Sessions created."""
        return len(self.session_ids)

    @property
    def requested(self) -> int:
        """Creations attempted (created and failed)."""
        return len(self.session_ids) + len(self.failures)

    @property
    def success_rate(self) -> float | None:
        """Created / attempted (``None`` when none was attempted)."""
        return round(self.success_count / self.requested, 4) if self.requested else None

    def failure_texts(self) -> list[FailureText]:
        """The first distinct error texts of the failed creations, with their counts."""
        return tally_failures(self.failures)

    def figures(self) -> dict[str, Any]:
        """``latencyMs`` (percentiles), ``created``, ``successRate``, ``failures``, ``failureTexts``, ``wallMs``,
        ``concurrency``."""
        return {
            "latencyMs": self.latency.to_dict(),
            "created": self.success_count,
            "successRate": self.success_rate,
            **failure_figures(len(self.failures), self.failure_texts()),
            "wallMs": self.wall_ms,
            "concurrency": self.concurrency,
        }

    def line(self) -> str:
        """``5 created · p50 … (n=5) · 0 failed · wall 120.3 ms``."""
        failed = failure_line(len(self.failures), self.failure_texts())
        return f"{self.success_count} created · {self.latency.line()} · {failed} · wall {self.wall_ms} ms"


Creation = tuple[float, "str | None", "str | None"]
"""One timed creation: ``(ms, session id or None, error text or None)``."""


def time_session_creations(
    target: Target, count: int, *, concurrent: bool = False, scope: str = "thread"
) -> SessionTimings:
    """Create ``count`` sessions (1..500), one after another or all at once behind a barrier; time each.

    Raises:
        HarnessConfigError: ``count`` or ``scope`` is bad (before the daemon is reached).
        BarrierBrokenError: a burst's requests could not be started together.
    """
    count = whole_number("count", count, low=1, high=MAX_CREATIONS)
    scope = choice("scope", scope, SCOPES)
    client = target().client

    def one(_: int) -> Creation:
        t0 = time.monotonic()
        try:
            info = client.create_session(scope)
        except Exception as exc:  # counted with its text, not raised
            return (time.monotonic() - t0) * 1000, None, error_text(exc)
        return (time.monotonic() - t0) * 1000, info.session_id, None

    started = time.monotonic()
    together = run_together(count, one, what="session creations") if concurrent else None
    results = together if together is not None else [one(i) for i in range(count)]
    wall = (time.monotonic() - started) * 1000
    return session_timings(results, wall, count if concurrent else 1)


def session_timings(results: Sequence[Creation | Exception], wall_ms: float, concurrency: int) -> SessionTimings:
    """Figures of timed creations: latency over the successful ones, ids, error texts, wall time."""
    done = [r if not isinstance(r, Exception) else (0.0, None, error_text(r)) for r in results]
    ok = [r for r in done if r[1]]
    return SessionTimings(
        latency=metrics.summarize([r[0] for r in ok], "session create"),
        session_ids=[r[1] for r in ok],
        failures=[r[2] for r in done if r[2]],
        wall_ms=round(wall_ms, 1),
        concurrency=concurrency,
    )


# -- B2: attaches to the workspace's session --------------------------------------------------------------


@dataclass
class AttachTimings:
    """Same-workspace ``POST /session`` requests with the default scope, one after another (B2).

    The first creates (or attaches to) the workspace's session; every later one must attach to it.

    Attributes:
        sessions: What the daemon answered to each request, in order (``session_id``, ``attached``,
            ``elapsed_ms``).
    """

    sessions: list[SessionInfo]

    @property
    def elapsed_ms(self) -> list[float]:
        """Each request's round trip (ms, client side), in order."""
        return [round(s.elapsed_ms, 1) for s in self.sessions]

    @property
    def attaches(self) -> list[SessionInfo]:
        """The requests after the first."""
        return self.sessions[1:]

    @property
    def all_attached(self) -> bool:
        """Every request after the first said ``attached`` (false when there is none)."""
        return bool(self.attaches) and all(s.attached for s in self.attaches)

    @property
    def same_session(self) -> bool:
        """Every request answered the first one's session id."""
        return len({s.session_id for s in self.sessions}) == 1

    def figures(self) -> dict[str, Any]:
        """``firstCreateMs``, ``session<n>Ms`` for every later request (upstream's ``session2Ms``,
        ``session5Ms``), ``allAttached`` and ``sameSession``."""
        out: dict[str, Any] = {"firstCreateMs": self.elapsed_ms[0] if self.sessions else None}
        out.update({f"session{n}Ms": ms for n, ms in enumerate(self.elapsed_ms[1:], start=2)})
        out["allAttached"] = self.all_attached
        out["sameSession"] = self.same_session
        return out

    def line(self) -> str:
        """``attach #2 4.1 ms · #3 … · #5 3.9 ms (first create 812 ms) · all attached``."""
        if not self.sessions:
            return "no session requested"
        attaches = " · ".join(f"#{n} {ms} ms" for n, ms in enumerate(self.elapsed_ms[1:], start=2))
        attached = "all attached to one session" if self.all_attached and self.same_session else "NOT all attached"
        return f"attach {attaches or 'none'} (first create {self.elapsed_ms[0]:.0f} ms) · {attached}"


def time_attaches(target: Target, count: int) -> AttachTimings:
    """Send ``count`` (2..100) same-workspace ``POST /session`` with scope ``single``, one after another.

    Raises:
        HarnessConfigError: ``count`` out of range (before the daemon is reached).
    """
    count = whole_number("count", count, low=2, high=MAX_ATTACHES)
    client = target().client
    return AttachTimings([client.create_session("single") for _ in range(count)])


# -- C11: the session limit -------------------------------------------------------------------------------


@dataclass
class SessionLimitRun:
    """The session limit filled, one more session asked for, then room made by closing one (C11).

    Attributes:
        limit: Sessions opened before the extra request (the daemon's ``--max-sessions``, as the caller said).
        opened: Sessions that opened of those.
        open_failures: Error texts of the ones that did not.
        refusal_status: HTTP status of the extra request's refusal (``None`` when it was not refused).
        refusal_code: Its ``code`` (``session_limit_exceeded``), ``None`` without one.
        extra_session: The id of the extra session when the daemon created it anyway (``None`` when refused).
        recovered: A session could be opened again after one was closed.
        recovery_error: Why it could not (``None`` when it could).
    """

    limit: int
    opened: int
    open_failures: list[str]
    refusal_status: int | None
    refusal_code: str | None
    extra_session: str | None
    recovered: bool
    recovery_error: str | None = None

    @property
    def limit_enforced(self) -> bool:
        """Every session up to the limit opened and the next one was refused with 503."""
        return self.opened == self.limit and self.refusal_status == 503

    def figures(self) -> dict[str, Any]:
        """``opened``, ``refusalStatus``, ``errorCode``, ``limitEnforced``, ``recoverySucceeded``."""
        return {
            "opened": self.opened,
            "refusalStatus": self.refusal_status,
            "errorCode": self.refusal_code,
            "limitEnforced": self.limit_enforced,
            "recoverySucceeded": self.recovered,
        }

    def line(self) -> str:
        """``5 of 5 opened · session 6 refused 503 session_limit_exceeded · recovered after one close``."""
        extra = (
            f"session {self.limit + 1} refused {self.refusal_status} {self.refusal_code}"
            if self.refusal_status is not None
            else f"session {self.limit + 1} was NOT refused (created {self.extra_session})"
        )
        recovery = "recovered after one close" if self.recovered else f"NOT recovered: {self.recovery_error}"
        return f"{self.opened} of {self.limit} opened · {extra} · {recovery}"


def saturate_session_limit(target: Target, limit: int) -> SessionLimitRun:
    """Open ``limit`` (1..500) ``thread`` sessions, ask for one more, close the first, and open one again.

    Nothing is raised for what the daemon answers: a refusal, an extra session or a failed recovery is
    recorded (the suite asserts on it).

    Raises:
        HarnessConfigError: ``limit`` out of range (before the daemon is reached).
    """
    limit = whole_number("limit", limit, low=1, high=MAX_CREATIONS)
    client = target().client
    ids: list[str] = []
    failures: list[str] = []
    for _ in range(limit):
        try:
            ids.append(client.create_session("thread").session_id)
        except Exception as exc:  # counted with its text, not raised
            failures.append(error_text(exc))
    status = code = extra = None
    try:
        extra = client.create_session("thread").session_id
    except DaemonHttpError as err:
        status, code = err.status, err.code
    recovered, why = False, None
    try:
        if ids:
            client.close_session(ids[0])
        client.create_session("thread")
        recovered = True
    except Exception as exc:  # recorded, the suite asserts on it
        why = error_text(exc)
    return SessionLimitRun(limit, len(ids), failures, status, code, extra, recovered, why)
