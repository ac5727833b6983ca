"""Isolation (#11795): the other sessions' prompt latency with and without one session's request left
unanswered, in alternating phases (A B B A), compared with a paired ratio.

Harness times are the monotonic clock. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from keywords.checks import number, seconds, whole_number
from keywords.measure.paired_ratio import PairedEstimate, estimate
from keywords.reporting.figures import field_figures
from keywords.traffic.client import DaemonClient
from keywords.traffic.open_model import LoadPlan, run_prompt_load
from keywords.traffic.permissions.answering import answer
from keywords.traffic.permissions.auto_answer import AutoAnswer
from keywords.traffic.permissions.request_watch import PermissionWatch, permission_prompt
from keywords.traffic.permissions.scenario_kit import need, rounded_ms, watched_session


@dataclass(frozen=True)
class IsolationPhase:
    """One phase of fixed-rate prompts on the other sessions.

    Attributes:
        condition: ``alone`` (no request pending elsewhere) or ``pending`` (session A's request unanswered).
        sent: Prompts sent.
        completed: Prompts whose turn ended ``turn_complete`` in the phase (and its drain).
        unfinished: Prompts whose turn had not ended when the drain ran out.
        errors: Refused prompts and turns that ended otherwise.
        service_p50_ms: Prompt sent to turn end, median (harness monotonic, ms); ``None`` without samples.
        service_p99_ms: The same, 99th percentile.
        held: (``pending``) A's request was still pending when the phase ended.
    """

    condition: str
    sent: int
    completed: int
    unfinished: int
    errors: int
    service_p50_ms: float | None
    service_p99_ms: float | None
    held: bool | None

    def figures(self) -> dict[str, Any]:
        """The phase as a dict of camelCase keys (every field)."""
        return field_figures(self, *vars(self), digits=1)


@dataclass
class IsolationResult:
    """The other sessions' prompt latency with and without one unanswered request, in alternating phases.

    Attributes:
        others: Sessions under load (B, C, ...), each prompt asking one permission that is answered at once.
        rate: Prompts per second over those sessions.
        phases: The phases in the order run (blocks of alone, pending, pending, alone).
        ratio: The paired estimate of the median service time pending / alone (``keywords.measure.paired_ratio``).
        answered: Requests of the other sessions answered by their background answerers.
        blocked: A pending phase left turns unfinished that the alone phases finished: the pending request
            blocked the other sessions.
    """

    others: int
    rate: float
    phases: list[IsolationPhase] = field(default_factory=list)
    ratio: PairedEstimate | None = None
    answered: int = 0
    blocked: bool = False

    @property
    def verdict(self) -> str:
        """``blocked``, ``slower`` (the ratio is above its tolerance with confidence), ``isolated`` or
        ``not measured`` (fewer than two usable pairs)."""
        if self.blocked:
            return "blocked"
        if self.ratio is None or self.ratio.verdict == "not measured":
            return "not measured"
        return "slower" if self.ratio.verdict == "fail" else "isolated"

    def figures(self) -> dict[str, Any]:
        """The verdict, the ratio with its interval, and each phase's counts and latencies."""
        alone = [p.service_p50_ms for p in self.phases if p.condition == "alone" and p.service_p50_ms is not None]
        pending = [p.service_p50_ms for p in self.phases if p.condition == "pending" and p.service_p50_ms is not None]
        return {
            "verdict": self.verdict,
            "blocked": self.blocked,
            "ratio": self.ratio.figures() if self.ratio else None,
            "aloneServiceP50Ms": rounded_ms(statistics.median(alone)) if alone else None,
            "pendingServiceP50Ms": rounded_ms(statistics.median(pending)) if pending else None,
            "sent": sum(p.sent for p in self.phases),
            "completed": sum(p.completed for p in self.phases),
            "unfinished": sum(p.unfinished for p in self.phases),
            "errors": sum(p.errors for p in self.phases),
            "answered": self.answered,
            "pendingHeld": all(p.held for p in self.phases if p.condition == "pending"),
            "phases": [p.figures() for p in self.phases],
        }

    def line(self) -> str:
        """The verdict and the ratio on one line."""
        figures = self.figures()
        ratio = self.ratio.line() if self.ratio else "no ratio"
        return (
            f"isolation {self.verdict}: {self.others} sessions at {self.rate:g}/s, service p50 alone "
            f"{figures['aloneServiceP50Ms']} ms vs pending {figures['pendingServiceP50Ms']} ms; {ratio}; "
            f"{figures['completed']}/{figures['sent']} turns complete, {figures['unfinished']} unfinished"
        )


def run_isolation(
    client: DaemonClient,
    *,
    others: int = 4,
    rate: float = 8.0,
    phase_s: float = 1.5,
    blocks: int = 2,
    tolerance: float = 0.5,
    drain_s: float = 3.0,
) -> IsolationResult:
    """Fixed-rate prompts on ``others`` sessions, in phases alone and with session A's request pending
    (A B B A per block, so steady machine drift cancels in the paired ratio), after one unrecorded warm-up
    of half a phase.

    Each prompt of the other sessions asks one permission, answered at once by a background answerer per
    session. In a ``pending`` phase session A's prompt asks one permission that nobody answers until the phase
    ended (then it is allowed and A's turn completes).

    Args:
        client: Client of the daemon.
        others: Sessions under load (1..16).
        rate: Prompts per second over them.
        phase_s: Length of one phase's arrival schedule.
        blocks: A B B A blocks (each gives two pairs).
        tolerance: How much slower (a fraction) the pending phases may be before the ratio fails.
        drain_s: After a phase's last arrival, how long to wait for its turns.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
        AssertionError: session A's request never arrived.
    """
    others = whole_number("others", others, low=1, high=16)
    rate = number("rate", rate, low=0.0, high=200.0, low_open=True)
    phase_s = seconds("phase", phase_s, high=120)
    blocks = whole_number("blocks", blocks, low=1, high=20)
    tolerance = number("tolerance", tolerance, low=0.0, high=100.0)
    drain_s = seconds("drain", drain_s, high=120)
    holder = client.create_session("thread").session_id
    loaded = [client.create_session("thread").session_id for _ in range(others)]
    result = IsolationResult(others, rate)
    plan = LoadPlan(
        kind="prompt",
        rate=rate,
        duration_s=phase_s,
        sessions=others,
        workers=min(16, max(4, others * 2)),
        drain_s=drain_s,
        prompt_text=permission_prompt(1, "isolation load"),
        answer_permissions="none",  # the AutoAnswer below answers them (and counts them)
    )
    life_s = blocks * 4 * (phase_s + drain_s + 10) + 60
    answerers = [AutoAnswer(client, sid, timeout_s=life_s) for sid in loaded]
    with watched_session(client, holder, timeout_s=life_s) as watch:
        try:
            for answerer in answerers:
                answerer.start()
            run_prompt_load(client, replace(plan, duration_s=max(0.5, phase_s / 2)), session_ids=loaded)  # warm-up
            for _ in range(blocks):
                for condition in ("alone", "pending", "pending", "alone"):
                    result.phases.append(_phase(client, plan, loaded, holder, watch, condition, drain_s))
        finally:
            for answerer in answerers:
                with contextlib.suppress(Exception):
                    result.answered += answerer.stop().answered
            client.close_sessions(loaded)
    pairs = []
    for b in range(blocks):
        a1, p1, p2, a2 = result.phases[b * 4 : b * 4 + 4]
        pairs += [(a1.service_p50_ms, p1.service_p50_ms), (a2.service_p50_ms, p2.service_p50_ms)]
    result.ratio = estimate("serviceP50Ms", pairs, kind="ratio", better="lower", tolerance=tolerance, unit="ms")
    alone_clean = all(p.unfinished == 0 for p in result.phases if p.condition == "alone")
    result.blocked = alone_clean and any(p.unfinished > 0 for p in result.phases if p.condition == "pending")
    return result


def _phase(
    client: DaemonClient,
    plan: LoadPlan,
    loaded: list[str],
    holder: str,
    watch: PermissionWatch,
    condition: str,
    drain_s: float,
) -> IsolationPhase:
    request = accepted = None
    if condition == "pending":
        accepted = client.prompt(holder, permission_prompt(1, "held unanswered"))
        request = need(watch.next_request(10.0), "Session A's permission request did not arrive within 10 s.")
    load = run_prompt_load(client, plan, session_ids=loaded)
    held = None
    if request is not None and accepted is not None:
        status = client.session_status(holder).body or {}
        held = bool(status.get("isWaitingForPermission"))
        answer(client, request)
        watch.turn_end(accepted.prompt_id, drain_s + 5)
    service = load.service
    return IsolationPhase(
        condition,
        load.sent,
        load.completed,
        load.unfinished,
        load.error_count,
        service.p50 if service else None,
        service.p99 if service else None,
        held,
    )
