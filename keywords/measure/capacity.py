"""Capacity search: raise the arrival rate in steps, then bisect to the highest rate whose SLO holds a whole step.

One workload at a time (prompts over N sessions, session create + close, SSE fan-out), one daemon for the
whole search. Each step is a sustained open-model load (:mod:`keywords.traffic.open_model`) at one rate for
``step_s``; it stops early as soon as an SLO bound can no longer hold, so a broken step costs little. Steps go
up by ``factor`` from ``start_rate`` until one breaks (or ``max_rate``); then the rate between the highest
held and the lowest broken one is tried, ``bisections`` times or until the two are within ``resolution``.

Every step is kept with its figures and whether the **harness** (a load-generating process saturated: its
figures are unreliable) or the **daemon** (the SLO broke while the harness kept up) set its limit. A step that
broke while the harness was saturated is run again with one more process (up to ``max_processes``), so the
search ends on the daemon's limit where the machine allows it. The search is bounded in steps and in time.
Nothing here logs or imports Robot Framework.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from keywords import checks
from keywords.errors import HarnessConfigError
from keywords.reporting.figures import shown
from keywords.traffic.open_model import LoadPlan, Slo, SustainedLoadResult
from keywords.traffic.open_model.plan import KINDS

Workload = Literal["prompt", "lifecycle", "fanout"]
WORKLOADS: tuple[Workload, ...] = ("prompt", "lifecycle", "fanout")
Bottleneck = Literal["harness", "daemon", "none"]
MAX_STEP_S = 60.0


@dataclass
class CapacityPlan:
    """What to search and within which bounds.

    Attributes:
        workload: ``prompt``, ``lifecycle`` or ``fanout``.
        slo: The objective every step must hold for its whole length.
        start_rate: First step's rate, arrivals per second.
        factor: Each further step's rate is the previous one times this (above 1).
        max_rate: No step goes above this rate.
        step_s: Length of one step's schedule, seconds (at least; see ``min_arrivals``).
        min_arrivals: A step lasts long enough to schedule at least this many arrivals (``step_s`` grows at low
            rates, up to ``MAX_STEP_S``): with fewer than 100 arrivals a p99 is the maximum, and one slow
            arrival would break the SLO.
        bisections: At most this many bisection steps.
        resolution: Bisection ends when the broken rate is within this fraction above the held one.
        max_steps: At most this many steps in all (retries included).
        time_budget_s: The search starts no step after this much time.
        settle_s: After each step, wait (at most this long) until the daemon has no active prompt.
        processes: Load-generating processes of the first step.
        max_processes: A step broken by a saturated harness is run again with one more process, up to this.
        load: The rest of each step's plan (sessions, subscribers, connections, prompt text...); its
            ``kind``, ``rate``, ``duration_s`` and ``processes`` are set per step.
    """

    workload: Workload = "prompt"
    slo: Slo = field(default_factory=lambda: Slo(p99_ms=100.0))
    start_rate: float = 25.0
    factor: float = 2.0
    max_rate: float = 3200.0
    step_s: float | timedelta = 5.0
    min_arrivals: int = 200
    bisections: int = 4
    resolution: float = 0.1
    max_steps: int = 16
    time_budget_s: float | timedelta = 120.0
    settle_s: float | timedelta = 10.0
    processes: int = 1
    max_processes: int = 4
    load: LoadPlan = field(default_factory=LoadPlan)

    def validate(self) -> CapacityPlan:
        """Check every field (converting texts of numbers and Robot times) and return the plan.

        Raises:
            HarnessConfigError: naming the first bad field, its allowed range or values and the value given.
        """
        self.workload = checks.choice("workload", self.workload, WORKLOADS)
        if not isinstance(self.slo, Slo):
            raise HarnessConfigError(f"slo must be an Slo, got {self.slo!r}.")
        self.slo.validate()
        if not self.slo.bounds():
            raise HarnessConfigError("The capacity search needs at least one SLO bound (p99, errors, late, dropped).")
        self.start_rate = checks.number("start_rate", self.start_rate, high=5000, unit="per second", low_open=True)
        self.factor = checks.number("factor", self.factor, low=1.0, high=10.0, low_open=True)
        self.max_rate = checks.number("max_rate", self.max_rate, low=self.start_rate, high=5000, unit="per second")
        self.step_s = checks.seconds("step", self.step_s, high=MAX_STEP_S)
        self.min_arrivals = checks.whole_number("min_arrivals", self.min_arrivals, low=1, high=100_000)
        if self.step_s * self.start_rate < 1:
            raise HarnessConfigError(
                f"A step of {self.step_s:g} s at start_rate {self.start_rate:g}/s schedules no arrival; "
                "raise start_rate or step."
            )
        self.bisections = checks.whole_number("bisections", self.bisections, low=0, high=20)
        self.resolution = checks.number("resolution", self.resolution, high=1.0, low_open=True)
        self.max_steps = checks.whole_number("max_steps", self.max_steps, low=1, high=100)
        self.time_budget_s = checks.seconds("time_budget", self.time_budget_s, high=3600)
        self.settle_s = checks.seconds("settle", self.settle_s, high=600, allow_zero=True)
        self.processes = checks.whole_number("processes", self.processes, low=1, high=16)
        self.max_processes = checks.whole_number("max_processes", self.max_processes, low=self.processes, high=16)
        if self.load.kind not in KINDS:
            raise HarnessConfigError(f"load kind must be one of {', '.join(KINDS)}; got {self.load.kind!r}.")
        self.load = self.step_plan(self.start_rate, self.processes).validate()
        return self

    def step_plan(self, rate: float, processes: int) -> LoadPlan:
        """The load plan of one step."""
        from dataclasses import replace

        duration = min(MAX_STEP_S, max(self.step_s, self.min_arrivals / rate))
        return replace(self.load, kind=self.workload, rate=rate, duration_s=duration, processes=processes)

    def parameters(self) -> dict[str, Any]:
        """The search's inputs as scenario parameters (camelCase, units in the keys)."""
        return {
            "workload": self.workload,
            "startRatePerSec": self.start_rate,
            "factor": self.factor,
            "maxRatePerSec": self.max_rate,
            "stepSec": self.step_s,
            "minArrivals": self.min_arrivals,
            "bisections": self.bisections,
            "resolution": self.resolution,
            "maxSteps": self.max_steps,
            "timeBudgetSec": self.time_budget_s,
            "sessions": self.load.sessions if self.workload != "lifecycle" else None,
            "subscribers": self.load.subscribers if self.workload == "fanout" else None,
            "workers": self.load.workers,
            "maxProcesses": self.max_processes,
            **self.slo.parameters(),
        }


@dataclass
class CapacityStep:
    """One step of the search.

    Attributes:
        number: 1-based position in the search.
        phase: ``step`` (raising the rate), ``bisect`` or ``retry`` (the same rate with one more process).
        rate: Arrival rate asked for (per second).
        processes: Load-generating processes used.
        held: The SLO held for the whole step.
        reason: Which bounds broke, with their measured values (``""`` when it held).
        bottleneck: ``harness`` (a load-generating process saturated), ``daemon`` (the SLO broke while the
            harness kept up) or ``none`` (the SLO held and the harness kept up).
        load: The step's full result.
    """

    number: int
    phase: str
    rate: float
    processes: int
    held: bool
    reason: str
    bottleneck: Bottleneck
    load: SustainedLoadResult

    def figures(self) -> dict[str, Any]:
        """The step's key figures (for the search's ``steps`` rows)."""
        load = self.load
        response = load.response
        return {
            "step": self.number,
            "phase": self.phase,
            "ratePerSec": self.rate,
            "achievedRatePerSec": load.achieved_rate,
            "processes": self.processes,
            "held": self.held,
            "reason": self.reason or None,
            "bottleneck": self.bottleneck,
            "sent": load.sent,
            "completed": load.completed,
            "errorCount": load.error_count,
            "late": load.late,
            "dropped": load.dropped,
            "responseP50Ms": response.p50 if response else None,
            "responseP90Ms": response.p90 if response else None,
            "responseP99Ms": response.p99 if response else None,
            "responseP999Ms": response.p999 if response else None,
            "startLagP99Ms": load.start_lag.p99 if load.start_lag else None,
            "deliveryP99Ms": load.delivery.p99 if load.delivery else None,
            "eventsPerSec": load.events_per_s,
            "permissionAnswered": load.permission_answered,
            "harnessCpuPeakPct": load.harness_cpu.peak_pct,
            "harnessSaturated": load.harness_cpu.saturated,
            "clientCpuMsPerOp": load.client_cpu_ms_per_op,
            "stoppedEarly": load.stopped_early,
            "wallMs": round(load.wall_s * 1000, 1),
        }

    def line(self) -> str:
        """``#3 step 100/s: held · p99 12.1 ms · harness CPU peak 30% · bottleneck none``."""
        p99 = self.load.response.p99 if self.load.response else None
        state = "held" if self.held else f"broke ({self.reason})"
        p99_text = shown(p99, ".1f", " ms")
        return (
            f"#{self.number} {self.phase} {self.rate:g}/s x{self.processes} proc: {state} · p99 {p99_text} · "
            f"harness CPU peak {self.load.harness_cpu.peak_pct or 0:.0f}% · bottleneck {self.bottleneck}"
        )


@dataclass
class CapacityResult:
    """The outcome of a capacity search.

    Attributes:
        plan: The search plan.
        steps: Every step, in order.
        capacity: The highest rate whose SLO held for a whole step (``None``: not even the first held).
        first_broken: The lowest rate at which the SLO broke (``None``: it held up to where the search ended).
        broken_because: Why ``first_broken`` broke: the breached bounds with their measured values.
        limited_by: Who set the limit at ``first_broken``: ``daemon`` or ``harness`` (``None`` when nothing
            broke).
        ended_by: Why the search ended: ``resolution``, ``bisections``, ``max rate``, ``max steps`` or
            ``time budget``.
        elapsed_s: The whole search, seconds.
    """

    plan: CapacityPlan
    steps: list[CapacityStep] = field(default_factory=list)
    capacity: float | None = None
    first_broken: float | None = None
    broken_because: str = ""
    limited_by: str | None = None
    ended_by: str = ""
    elapsed_s: float = 0.0

    def figures(self) -> dict[str, Any]:
        """``capacityPerSec``, ``firstBrokenPerSec``, ``brokenBecause``, ``limitedBy``, ``endedBy``, ``sloText``,
        ``stepCount``, ``steps`` (one row of figures per step) and ``elapsedMs``."""
        return {
            "capacityPerSec": self.capacity,
            "firstBrokenPerSec": self.first_broken,
            "brokenBecause": self.broken_because or None,
            "limitedBy": self.limited_by,
            "endedBy": self.ended_by,
            "sloText": self.plan.slo.text(),
            "stepCount": len(self.steps),
            "steps": [step.figures() for step in self.steps],
            "elapsedMs": round(self.elapsed_s * 1000, 1),
        }

    def line(self) -> str:
        """The capacity, the SLO it held, the next rate that broke and why, and who the bottleneck was."""
        unit = {"prompt": "prompts/s", "lifecycle": "create+close/s", "fanout": "fan-out prompts/s"}
        what = unit[self.plan.workload]
        held = "none held" if self.capacity is None else f"{self.capacity:g} {what}"
        broke = (
            f"; {self.first_broken:g}/s broke ({self.broken_because}; bottleneck: {self.limited_by})"
            if self.first_broken is not None
            else "; no step broke"
        )
        return (
            f"capacity {held} with SLO {self.plan.slo.text()}{broke}; {len(self.steps)} steps in "
            f"{self.elapsed_s:.0f} s, ended by {self.ended_by}"
        )

    def knee(self) -> tuple[list[float], dict[str, list[float]]]:
        """Response-time percentiles against rate for a plot: rates ascending, ``{p50: [...], p99: [...]...}``.

        One point per rate (the last step run at that rate); steps without a completed arrival are left out.
        """
        by_rate: dict[float, CapacityStep] = {}
        for step in self.steps:
            if step.load.response is not None:
                by_rate[step.rate] = step
        rates = sorted(by_rate)
        series = {name: [] for name in ("p50", "p90", "p99", "p99.9")}
        for rate in rates:
            response = by_rate[rate].load.response
            for name, value in zip(series, (response.p50, response.p90, response.p99, response.p999), strict=True):
                series[name].append(value)
        return rates, series


StepRunner = Callable[[LoadPlan, Slo], SustainedLoadResult]


def bottleneck_of(load: SustainedLoadResult, held: bool) -> Bottleneck:
    """``harness`` when a load-generating process saturated, else ``daemon`` when the SLO broke, else ``none``."""
    if load.harness_cpu.saturated:
        return "harness"
    return "none" if held else "daemon"


def search(
    plan: CapacityPlan,
    run_step: StepRunner,
    *,
    settle: Callable[[float], None] | None = None,
    on_step: Callable[[CapacityStep], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CapacityResult:
    """Run the search: steps up by ``plan.factor``, then bisection (see the module's text).

    Args:
        plan: The search (validated here).
        run_step: Runs one step's load with the SLO and returns its result.
        settle: Called after each step with ``plan.settle_s`` (waits until the daemon is idle).
        on_step: Called after each step (in the caller's thread) with the step.
        clock: Monotonic clock in seconds.
    """
    plan.validate()
    result = CapacityResult(plan=plan)
    started = clock()
    processes = plan.processes
    held_rate: float | None = None
    broken: CapacityStep | None = None

    def run(rate: float, phase: str) -> CapacityStep:
        load = run_step(plan.step_plan(rate, processes), plan.slo)
        verdict = load.slo if load.slo is not None else plan.slo.check(load, load.stopped_early)
        held = verdict.held
        step = CapacityStep(
            len(result.steps) + 1, phase, rate, processes, held, verdict.reason(), bottleneck_of(load, held), load
        )
        result.steps.append(step)
        if on_step is not None:
            on_step(step)
        if settle is not None and plan.settle_s:
            settle(plan.settle_s)
        return step

    def out_of_budget() -> str | None:
        if len(result.steps) >= plan.max_steps:
            return "max steps"
        if clock() - started >= plan.time_budget_s:
            return "time budget"
        return None

    def tried(rate: float, phase: str) -> CapacityStep:
        nonlocal processes
        step = run(rate, phase)
        while not step.held and step.bottleneck == "harness" and processes < plan.max_processes:
            if out_of_budget():
                break
            processes += 1
            step = run(rate, "retry")
        return step

    rate = plan.start_rate
    ended = None
    while ended is None:
        step = tried(rate, "step")
        if step.held:
            held_rate = rate
            if rate >= plan.max_rate:
                ended = "max rate"
                break
            rate = min(plan.max_rate, rate * plan.factor)
        else:
            broken = step
            break
        ended = out_of_budget()
    bisected = 0
    while ended is None and broken is not None:
        low = held_rate if held_rate is not None else 0.0
        if low > 0 and (broken.rate - low) / low <= plan.resolution:
            ended = "resolution"
            break
        if bisected >= plan.bisections:
            ended = "bisections"
            break
        ended = out_of_budget()
        if ended:
            break
        middle = round((low + broken.rate) / 2, 2) if low > 0 else round(broken.rate / plan.factor, 2)
        if middle <= 0 or middle * plan.step_s < 1:
            ended = "resolution"
            break
        bisected += 1
        step = tried(middle, "bisect")
        if step.held:
            held_rate = middle
        else:
            broken = step
    result.capacity = held_rate
    if broken is not None:
        result.first_broken = broken.rate
        result.broken_because = broken.reason
        result.limited_by = broken.bottleneck
    result.ended_by = ended or "max steps"
    result.elapsed_s = clock() - started
    return result


def wait_until_idle(client: Any, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Wait (at most ``timeout_s``) until the daemon reports no active prompt (``/health?deep=1``).

    Returns:
        ``True`` when it was idle within the bound.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            body = client.health(deep=True, expected=None).body
        except Exception:
            body = None
        if isinstance(body, dict) and not body.get("activePrompts"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
