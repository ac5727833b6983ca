"""Keywords of the capacity search and the soak: plan (checked before any daemon starts), run, judge, plot."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from robot.api import logger
from robotlibcore import keyword

from keywords import checks
from keywords.components.component import Component, html_table, pop_options, subset, takes_options
from keywords.components.load_keywords import LOAD_OPTIONS, SLO_OPTIONS, LiveLine, mock_text, plan_of, slo_bounds
from keywords.components.plot_keywords import PlotKeywords
from keywords.errors import HarnessConfigError
from keywords.measure.capacity import CapacityPlan, CapacityResult, CapacityStep, search, wait_until_idle
from keywords.measure.soak import SoakPlan, SoakResult, SoakSampler, run_soak
from keywords.reporting import plots
from keywords.traffic.open_model import run_load

Workload = Literal["prompt", "lifecycle", "fanout"]
SoakVariant = Literal["constant", "churn"]


# The load options of a capacity step and of a soak's load (the step's rate and length are the search's).
_CAPACITY_LOAD = {
    **SLO_OPTIONS,
    **subset(LOAD_OPTIONS, "sessions", "subscribers", "workers", "backlog", "late_tolerance_ms", "max_start_lag_ms"),
    **subset(LOAD_OPTIONS, "drain", "answer_permissions", "text"),
}
# A step is judged by its SLO, so the search has bounds by default; it loads the daemon wider than a plain load.
_CAPACITY_SLO = {"p99_bound_ms": 100.0, "max_errors": 0, "max_dropped": 0}
_CAPACITY_DEFAULTS = {**_CAPACITY_SLO, "sessions": 8, "subscribers": 8, "workers": 64, "backlog": 1024, "drain": 10.0}
_SOAK_LOAD = {
    **subset(LOAD_OPTIONS, "sessions", "workers", "processes", "late_tolerance_ms", "max_start_lag_ms", "drain"),
    **subset(LOAD_OPTIONS, "answer_permissions", "text"),
}


class CapacityKeywords(Component):
    """Capacity search: stepped arrival rates, then bisection to the highest rate whose SLO holds a whole step."""

    def __init__(self, ctx, plots_: PlotKeywords) -> None:
        super().__init__(ctx)
        self._plots = plots_

    @keyword(tags=("capacity", "load"))
    @takes_options(_CAPACITY_LOAD, keep_var_keyword=True, **_CAPACITY_DEFAULTS, text="capacity search")
    def plan_capacity_search(
        self,
        workload: Workload = "prompt",
        *,
        start_rate: float = 25.0,
        factor: float = 2.0,
        max_rate: float = 3200.0,
        step: timedelta | float = 5.0,
        min_arrivals: int = 200,
        bisections: int = 4,
        resolution: float = 0.1,
        max_steps: int = 16,
        time_budget: timedelta | float = 120.0,
        settle: timedelta | float = 10.0,
        processes: int = 1,
        max_processes: int = 4,
        **mock_settings,
    ) -> CapacityPlan:
        """Check a capacity search's arguments and return its plan; starts nothing (call it before the daemon).

        Every argument is checked here, so a bad one fails before any daemon starts. `Find Capacity` then
        runs the plan against the current daemon.

        Args:
            workload: ``prompt`` (prompts over ``sessions`` sessions), ``lifecycle`` (session create + close)
                or ``fanout`` (prompts over ``sessions`` sessions with ``subscribers`` streams each).
            start_rate: First step's rate, per second.
            factor: Each further step's rate is the previous one times this.
            max_rate: No step above this rate.
            step: One step's length: seconds or a Robot time (at least; see ``min_arrivals``).
            min_arrivals: A step lasts long enough for at least this many arrivals (up to 60 s), so its p99 is
                not just its slowest arrival.
            bisections: At most this many bisection steps after the first broken step.
            resolution: Bisection ends when the broken rate is within this fraction above the held one.
            max_steps: At most this many steps in all.
            time_budget: No step starts after this much time (seconds or a Robot time).
            settle: After each step, wait at most this long until the daemon has no active prompt.
            processes: Load-generating processes of the first step.
            max_processes: A step broken by a saturated harness is run again with one more process, up to this.
            {options}
            mock_settings: Mock agent settings for every prompt (``chunks=3``, ``tool_calls=4``...).

        Returns:
            ``CapacityPlan`` with ``workload``, ``slo`` (``Slo``: ``p99_ms``, ``max_errors``, ``max_late``,
            ``max_dropped``, ``text()``), ``start_rate``, ``factor``, ``max_rate``, ``step_s``, ``min_arrivals``,
            ``bisections``,
            ``resolution``, ``max_steps``, ``time_budget_s``, ``settle_s``, ``processes``, ``max_processes``,
            ``load`` (the ``LoadPlan`` of a step) and ``parameters()`` (the scenario's inputs).

        Example:
            | ${plan}= | Plan Capacity Search | prompt | p99_bound_ms=100 | sessions=8 | chunks=3 |
            | Start Daemon With Mock Agent | max_sessions=0 |
            | ${capacity}= | Find Capacity | ${plan} |
        """
        kind = checks.choice("workload", workload, ("prompt", "lifecycle", "fanout"))
        start_rate = checks.number("start_rate", start_rate, high=5000, unit="per second", low_open=True)
        step_s = checks.seconds("step", step, high=600)
        options = pop_options(_CAPACITY_LOAD, mock_settings)
        load = plan_of(
            kind,
            {**options, "rate": start_rate, "duration": step_s},
            prompt_text=mock_text(options["text"], mock_settings),
        )
        slo = slo_bounds(options)
        return CapacityPlan(
            workload=kind,
            slo=slo,
            start_rate=start_rate,
            factor=factor,
            max_rate=max_rate,
            step_s=step_s,
            min_arrivals=min_arrivals,
            bisections=bisections,
            resolution=resolution,
            max_steps=max_steps,
            time_budget_s=time_budget,
            settle_s=settle,
            processes=processes,
            max_processes=max_processes,
            load=load,
        ).validate()

    @keyword(tags=("capacity", "load"))
    def find_capacity(self, plan: CapacityPlan, *, daemon: str | None = None) -> CapacityResult:
        """Run a capacity search against the daemon: steps up, then bisection; every step is kept and logged.

        Each step is a sustained load at one rate for the plan's step length with the plan's SLO; it stops
        early once a bound can no longer hold. The log gets one line per step and a table of every step, the
        console a live line during each step.

        Args:
            plan: From `Plan Capacity Search`.
            daemon: Daemon name (default: the current one).

        Returns:
            ``CapacityResult`` with ``capacity`` (float per second, ``None`` when not even the first step
            held), ``first_broken`` (float, ``None`` when no step broke), ``broken_because`` (str: the breached
            bounds with their measured values), ``limited_by`` (``daemon`` or ``harness``), ``ended_by`` (str),
            ``elapsed_s`` (float), ``steps`` (``CapacityStep`` list: ``number``, ``phase``, ``rate``,
            ``processes``, ``held``, ``reason``, ``bottleneck``, ``load``), ``plan``, ``knee()``,
            ``figures()`` and ``line()``.

        Example:
            | ${capacity}= | Find Capacity | ${plan} |
            | Record Result | ${capacity} |
        """
        if not isinstance(plan, CapacityPlan):
            raise HarnessConfigError(f"Find Capacity needs the plan from `Plan Capacity Search`, got {plan!r:.100}.")
        client = self.ctx.get(daemon).client
        lines: list[str] = []

        def run_step(load_plan, slo):
            live = LiveLine(max(load_plan.duration_s, 11.0), f"capacity {plan.workload} {load_plan.rate:g}/s")
            try:
                return run_load(client, load_plan, slo=slo, on_progress=live)
            finally:
                live.end()

        def on_step(step: CapacityStep) -> None:
            lines.append(step.line())
            self.info(f"Capacity step {step.line()}")
            if step.load.events is not None:
                self.info(f"Capacity step #{step.number} SSE: {step.load.sse_line()}")

        result = search(plan, run_step, settle=lambda s: wait_until_idle(client, s), on_step=on_step)
        self.info(self._table(result), html=True)
        self.info(f"Capacity: {result.line()}")
        return result

    @staticmethod
    def _table(result: CapacityResult) -> str:
        rows = []
        for step in result.steps:
            f = step.figures()
            rows.append(
                [
                    str(step.number),
                    step.phase,
                    f"{step.rate:g}",
                    f"{f['achievedRatePerSec']:g}",
                    str(step.processes),
                    "held" if step.held else "broke",
                    "" if f["responseP50Ms"] is None else f"{f['responseP50Ms']:.1f}",
                    "" if f["responseP99Ms"] is None else f"{f['responseP99Ms']:.1f}",
                    f"{f['errorCount']}/{f['late']}/{f['dropped']}",
                    f"{f['harnessCpuPeakPct'] or 0:.0f}",
                    step.bottleneck,
                    step.reason,
                ]
            )
        headers = ["#", "phase", "rate/s", "achieved/s", "procs", "SLO", "p50 ms", "p99 ms", "err/late/drop"]
        headers += ["harness CPU peak %", "bottleneck", "why it broke"]
        return html_table(f"Capacity search, {result.plan.workload}: {result.line()}", headers, rows)

    @keyword(tags=("capacity", "assertion"))
    def capacity_should_have_been_found(self, result: CapacityResult, *, within: timedelta | float = 300.0) -> None:
        """Fail unless the search found a capacity, a rate that broke the SLO with its reason, within ``within``.

        Args:
            result: From `Find Capacity`.
            within: The search's time bound: seconds or a Robot time.

        Example:
            | Capacity Should Have Been Found | ${capacity} | within=3 min |
        """
        bound = checks.seconds("within", within, high=24 * 3600)
        problems = []
        if result.capacity is None:
            problems.append("no step held the SLO")
        if result.first_broken is None:
            problems.append(f"no step broke the SLO up to {result.plan.max_rate:g}/s (raise max_rate)")
        elif not result.broken_because:
            problems.append("the broken step names no breached bound")
        if result.elapsed_s > bound:
            problems.append(f"it took {result.elapsed_s:.0f} s, more than {bound:g} s")
        if problems:
            raise AssertionError(
                f"The {result.plan.workload} capacity search should have found a capacity and the rate that broke "
                f"its SLO within {bound:g} s, but " + "; ".join(problems) + f". {result.line()}"
            )

    @keyword(tags=("capacity", "plot", "report"))
    def plot_capacity_knee(self, result: CapacityResult, title: str = "") -> plots.Plot:
        """Draw the response-time percentiles of every step against its rate (the knee), embed it in the log.

        The capacity and the first broken rate are marked, the SLO's p99 bound is a flat line.

        Args:
            result: From `Find Capacity`.
            title: Figure title (default: the workload and its capacity).

        Returns:
            ``Plot`` with ``path`` (Path of the PNG), ``title`` (str), ``png`` (bytes), ``width`` and
            ``height`` (int, pixels).

        Example:
            | Plot Capacity Knee | ${capacity} |
        """
        rates, series = result.knee()
        if not rates:
            raise HarnessConfigError("The capacity search has no step with a completed arrival to plot.")
        title = title or f"{result.plan.workload}: response time by rate (SLO {result.plan.slo.text()})"
        marks = []
        if result.capacity is not None:
            marks.append((result.capacity, f"capacity {result.capacity:g}/s"))
        if result.first_broken is not None:
            marks.append((result.first_broken, f"broke {result.first_broken:g}/s"))
        p50 = series.pop("p50")
        if result.plan.slo.p99_ms is not None:
            series["p99 bound"] = [result.plan.slo.p99_ms] * len(rates)
        return self._plots._show(
            title,
            lambda path: plots.series(
                rates, p50, title, path, "arrival rate (per second)", "response time (ms)", marks, "p50", extra=series
            ),
        )


class SoakKeywords(Component):
    """Soak: constant load for a set time, the daemon's resources sampled, a leak verdict per series."""

    def __init__(self, ctx, plots_: PlotKeywords) -> None:
        super().__init__(ctx)
        self._plots = plots_

    @keyword(tags=("soak", "load"))
    @takes_options(_SOAK_LOAD, keep_var_keyword=True, text="soak")
    def plan_soak(
        self,
        variant: SoakVariant = "constant",
        *,
        duration: timedelta | float = 600.0,
        warm_up: timedelta | float = 60.0,
        interval: timedelta | float = 2.0,
        memory_bound_mb_per_hour: float = 50.0,
        count_bound_per_hour: float = 60.0,
        blocks: int = 12,
        rate: float = 10.0,
        **mock_settings,
    ) -> SoakPlan:
        """Check a soak's arguments and return its plan; starts nothing (call it before the daemon).

        Args:
            variant: ``constant`` (prompts at ``rate`` over ``sessions`` sessions) or ``churn`` (session
                create + close at ``rate``).
            duration: The load's length: seconds or a Robot time (``10 min``).
            warm_up: Samples before this are not fitted.
            interval: Sampling interval.
            memory_bound_mb_per_hour: A memory series (RSS, heap) leaks when its slope's whole 95 % interval
                lies above this.
            count_bound_per_hour: Descriptors or threads leak when their whole interval lies above this.
            blocks: Spans of time whose means are fitted (the interval reflects level changes between spans).
            rate: Arrivals per second.
            {options}
            mock_settings: Mock agent settings for every prompt (``chunks=3``, ``tool_calls=4``...).

        Returns:
            ``SoakPlan`` with ``variant``, ``duration_s``, ``warmup_s``, ``interval_s``,
            ``memory_bound_mb_per_hour``, ``count_bound_per_hour``, ``blocks``, ``load`` (``LoadPlan``) and
            ``parameters()``.

        Example:
            | ${plan}= | Plan Soak | churn | duration=60 s | warm_up=10 s | rate=5 |
        """
        variant = checks.choice("variant", variant, ("constant", "churn"))
        options = pop_options(_SOAK_LOAD, mock_settings)
        load = plan_of(
            "prompt" if variant == "constant" else "lifecycle",
            {**options, "rate": rate, "duration": duration},
            prompt_text=mock_text(options["text"], mock_settings),
        )
        return SoakPlan(
            variant=variant,
            duration_s=duration,
            warmup_s=warm_up,
            interval_s=interval,
            memory_bound_mb_per_hour=memory_bound_mb_per_hour,
            count_bound_per_hour=count_bound_per_hour,
            blocks=blocks,
            load=load,
        ).validate()

    @keyword(tags=("soak", "load"))
    def run_soak(self, plan: SoakPlan, *, daemon: str | None = None) -> SoakResult:
        """Run a soak against the daemon: the plan's load while its resources are sampled; judge every series.

        The console shows a live line of the load; the log gets every series' verdict with its interval.

        Args:
            plan: From `Plan Soak`.
            daemon: Daemon name (default: the current one).

        Returns:
            ``SoakResult`` with ``trends`` (``SeriesTrend`` list: ``name``, ``unit``, ``samples``, ``first``,
            ``last``, ``slope_per_hour``, ``low_per_hour``, ``high_per_hour``, ``bound_per_hour``, ``verdict``
            (``leak``, ``flat``, ``inconclusive``, ``None``), ``fit``), ``verdicts`` (dict series -> verdict),
            ``retained_kb_per_session`` (churn: ``(estimate, low, high)`` KB, else ``None``), ``samples``,
            ``load`` (the ``SustainedLoadResult``), ``load_started_s``, ``plan``, ``trend(name)``,
            ``points(name)``, ``figures()`` and ``line()``.

        Example:
            | ${soak}= | Run Soak | ${plan} |
            | Record Result | ${soak} |
        """
        if not isinstance(plan, SoakPlan):
            raise HarnessConfigError(f"Run Soak needs the plan from `Plan Soak`, got {plan!r:.100}.")
        running = self.ctx.get(daemon)
        client = running.client
        sampler = SoakSampler(client.base_url, client.token, running.daemon.pid, plan.interval_s)
        live = LiveLine(plan.duration_s, f"soak {plan.variant} {plan.load.rate:g}/s")
        try:
            result = run_soak(plan, sampler, lambda load_plan: run_load(client, load_plan, on_progress=live))
        finally:
            live.end()
        for trend in result.trends:
            self.info(f"Soak {trend.line()}")
        self.info(f"Soak load: {result.load.line() if result.load else 'none'}")
        return result

    @keyword(tags=("soak", "assertion"))
    def soak_verdict_should_be(self, result: SoakResult, series: str, *verdicts: str) -> None:
        """Fail unless the series' verdict is one of ``verdicts``.

        Args:
            result: From `Run Soak`.
            series: ``daemonRss``, ``agentRss``, ``daemonHeap``, ``daemonExternal``, ``daemonFds`` or
                ``daemonThreads``.
            verdicts: Accepted verdicts (``leak``, ``flat``, ``inconclusive``).

        Example:
            | Soak Verdict Should Be | ${soak} | daemonRss | leak |
            | Soak Verdict Should Be | ${soak} | daemonFds | flat | inconclusive |
        """
        names = [t.name for t in result.trends]
        checks.choice("series", series, names)
        for v in verdicts:
            checks.choice("verdict", v, ("leak", "flat", "inconclusive"))
        trend = result.trend(series)
        if trend.verdict not in verdicts:
            raise AssertionError(
                f"The soak's {series} should be {' or '.join(verdicts)}, but it is {trend.verdict}: {trend.line()}."
            )

    @keyword(tags=("soak", "assertion"))
    def soak_should_not_leak(self, result: SoakResult) -> None:
        """Fail when any series' verdict is ``leak``; the message lists each with its slope and interval.

        Args:
            result: From `Run Soak`.

        Example:
            | Soak Should Not Leak | ${soak} |
        """
        leaking = [t for t in result.trends if t.verdict == "leak"]
        if leaking:
            raise AssertionError(
                f"The {result.plan.variant} soak should not leak, but {len(leaking)} series did: "
                + "; ".join(t.line() for t in leaking)
                + "."
            )

    @keyword(tags=("soak", "assertion"))
    def soak_should_have_judged_every_series(self, result: SoakResult) -> None:
        """Fail unless every series was sampled after the warm-up, fitted with an interval and given a verdict.

        The check of the machinery itself (a short soak cannot tell a leak from a process still warming up).

        Args:
            result: From `Run Soak`.

        Example:
            | Soak Should Have Judged Every Series | ${soak} |
        """
        missing = [t.name for t in result.trends if t.verdict is None or t.low_per_hour is None]
        if missing:
            raise AssertionError(
                f"The soak should have judged every series, but {', '.join(missing)} had too few samples after the "
                f"warm-up ({', '.join(f'{t.name} {t.samples}' for t in result.trends)})."
            )
        self.info("Soak verdicts: " + ", ".join(f"{t.name} {t.verdict}" for t in result.trends))

    @keyword(tags=("soak", "plot", "report"))
    def plot_soak_series(self, result: SoakResult) -> list[plots.Plot]:
        """Draw every sampled series over time with its fitted line and the end of the warm-up; embed them.

        Args:
            result: From `Run Soak`.

        Returns:
            One ``Plot`` per series that was read (``path``, ``title``, ``png``, ``width``, ``height``).

        Example:
            | Plot Soak Series | ${soak} |
        """
        drawn = []
        warm = result.load_started_s + result.plan.warmup_s
        for trend in result.trends:
            times, values = result.points(trend.name)
            if len(times) < 2:
                logger.info(f"Soak series {trend.name}: too few samples to plot.")
                continue
            extra = None
            if trend.fit is not None:
                extra = {"fit after warm-up": [trend.fit.at(t) if t >= warm else trend.fit.at(warm) for t in times]}
            unit = "MB" if trend.unit == "MB" else "count"
            title = f"soak {result.plan.variant}: {trend.name} ({trend.verdict or 'not fitted'})"
            drawn.append(
                self._plots._show(
                    title,
                    lambda path, t=times, v=values, e=extra, u=unit, title=title: plots.series(
                        t, v, title, path, "time (s)", u, [(warm, "warm-up ends")], "sampled", extra=e
                    ),
                )
            )
        return drawn
