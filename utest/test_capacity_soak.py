"""Capacity search, the SLO and its early stop, the live progress, the slope fit and the soak's verdicts.

The search runs against a fake step runner (a daemon whose p99 grows past the bound above a known rate); the
soak judges synthetic samples (a leaking and a flat series). No daemon starts here.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from keywords.errors import HarnessConfigError
from keywords.measure import leak_fit
from keywords.measure.capacity import CapacityPlan, search
from keywords.measure.harness_cpu import HarnessCpu
from keywords.measure.metrics import LatencyRecorder
from keywords.measure.soak import SoakPlan, SoakSample, judge
from keywords.reporting.figures import non_camel_keys
from keywords.traffic.loadgen.progress import merge
from keywords.traffic.open_model import LoadPlan, Slo, SustainedLoadResult
from keywords.traffic.open_model.slo import tail_allowance


def fake_load(plan: LoadPlan, p99_ms: float, *, errors: int = 0, saturated: bool = False) -> SustainedLoadResult:
    recorder = LatencyRecorder(keep_values=False).record_all_ms([p99_ms * 0.5] * 98 + [p99_ms] * 2)
    sent = 100
    return SustainedLoadResult(
        plan=plan,
        planned=sent,
        sent=sent,
        completed=sent - errors,
        errors={"prompt_queue_full": errors} if errors else {},
        response=recorder.summary(),
        over_bound=0,
        harness_cpu=HarnessCpu(
            mean_pct=95.0 if saturated else 20.0, peak_pct=97.0 if saturated else 25.0, saturated=saturated
        ),
        achieved_rate=plan.rate,
    )


def daemon_with_knee(knee: float, harness_limit: float | None = None):
    """A step runner: p99 10 ms up to ``knee`` per second, 500 ms above; the harness saturates above its limit."""
    ran: list[tuple[float, int]] = []

    def run(plan: LoadPlan, slo: Slo) -> SustainedLoadResult:
        ran.append((plan.rate, plan.processes))
        saturated = harness_limit is not None and plan.rate > harness_limit * plan.processes
        load = fake_load(plan, 10.0 if plan.rate <= knee and not saturated else 500.0, saturated=saturated)
        load.slo = slo.check(load)
        return load

    return run, ran


# -- SLO --------------------------------------------------------------------------------------------------------


def test_slo_names_every_bound_with_its_measured_value():
    slo = Slo(p99_ms=100, max_errors=0, max_late=5, max_dropped=0).validate()
    load = fake_load(LoadPlan(), 400.0, errors=3)
    verdict = slo.check(load)
    assert [c.name for c in verdict.breached] == ["p99", "errors"]
    assert verdict.checks[0].measured == pytest.approx(400.0, rel=0.01)
    assert (
        "p99 400 ms (bound 100 ms)" in verdict.reason()
        and "errors 3 (bound 0: 3x prompt_queue_full)" in verdict.reason()
    )
    figures = verdict.figures()
    assert figures["sloHeld"] is False and figures["sloErrorsMeasured"] == 3 and non_camel_keys(figures) == []


def test_p99_counts_missing_arrivals_as_slower_than_the_bound():
    # p99 of the completed ones is fine, but 2 of 100 never completed: more than the 1 the tail allows
    slo = Slo(p99_ms=100, max_errors=None, max_dropped=None)
    load = fake_load(LoadPlan(), 10.0)
    load.unfinished = 2
    assert tail_allowance(100) == 1
    assert not slo.check(load).held


def test_a_run_stopped_early_is_judged_against_its_whole_schedule_as_the_stop_was():
    slo = Slo(p99_ms=100, max_errors=None, max_dropped=None)
    load = fake_load(LoadPlan(rate=100, duration_s=4), 10.0)  # 400 planned, 100 sent before the stop
    load.over_bound = 3
    early = slo.check(load, stopped_early="p99 can no longer be within 100 ms")
    assert "3 of 400 planned slower or missing (at most 4)" in early.checks[0].detail
    assert not early.held  # a stopped run never holds
    assert "3 of 100 sent slower or missing (at most 1)" in slo.check(load).checks[0].detail


def test_doomed_says_when_a_bound_can_no_longer_hold():
    slo = Slo(p99_ms=50, max_errors=2, max_late=None, max_dropped=0)
    assert slo.doomed(1000, errors=0, late=99, dropped=0, slower=10) is None  # 10 slower of 1000: still possible
    assert slo.doomed(1000, errors=2, late=0, dropped=0, slower=9) is not None  # failed ones count as slower too
    assert slo.doomed(1000, errors=3, late=0, dropped=0, slower=0).startswith("3 errors already")
    assert "dropped" in slo.doomed(1000, errors=0, late=0, dropped=1, slower=0)
    assert slo.doomed(1000, errors=0, late=0, dropped=0, slower=11).startswith("p99 can no longer be within 50 ms")


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        (Slo(p99_ms=0), "p99 bound must be a number above 0"),
        (Slo(max_errors=-1), "max_errors must be a whole number from 0 to 1000000, got -1."),
        (Slo(max_late="many"), "max_late must be a whole number"),
    ],
)
def test_bad_slo_bounds_are_refused(slo, message):
    with pytest.raises(HarnessConfigError, match=message):
        slo.validate()


def test_progress_merges_counts_and_the_exact_p99_of_every_process():
    a = LatencyRecorder(keep_values=False).record_all_ms([1.0] * 99)
    b = LatencyRecorder(keep_values=False).record_all_ms([500.0] * 2)
    lines = [
        {"sent": 50, "completed": 49, "errors": 0, "late": 1, "dropped": 0, "inFlight": 1, "slower": 0, "cpuPct": 30.0,
         "response": a.encode()},
        {"sent": 52, "completed": 2, "errors": 1, "late": 0, "dropped": 2, "inFlight": 4, "slower": 2, "cpuPct": 10.0,
         "response": b.encode()},
    ]  # fmt: skip
    first = merge(lines, planned=200, elapsed_s=1.0)
    assert (first.sent, first.completed, first.errors, first.dropped, first.in_flight) == (102, 51, 1, 2, 5)
    assert first.p99_ms == pytest.approx(500.0, rel=0.01)  # merged: 2 of 101 at 500 ms
    assert first.harness_cpu_pct == 40.0 and first.busiest_cpu_pct == 30.0
    second = merge([{**lines[0], "sent": 150}, lines[1]], planned=200, elapsed_s=2.0, previous=first)
    assert second.rate == pytest.approx(100.0)
    assert "done 51/200" in first.line() and "harness CPU 40%" in first.line()


# -- capacity search --------------------------------------------------------------------------------------------


def plan(**change) -> CapacityPlan:
    base = {"start_rate": 25.0, "factor": 2.0, "step_s": 1.0, "settle_s": 0, "bisections": 6, "resolution": 0.05}
    base["min_arrivals"] = 1
    return CapacityPlan(**({"slo": Slo(p99_ms=100)} | base | change))


def test_steps_then_bisection_find_the_knee_within_the_resolution():
    run, ran = daemon_with_knee(knee=130.0)
    result = search(plan(), run)
    assert [rate for rate, _ in ran[:4]] == [25.0, 50.0, 100.0, 200.0]  # steps up by the factor
    assert 130.0 * 0.95 <= result.capacity <= 130.0 < result.first_broken
    assert (result.first_broken - result.capacity) / result.capacity <= 0.05
    assert result.limited_by == "daemon" and result.ended_by == "resolution"
    assert "p99" in result.broken_because
    assert all(step.bottleneck in ("none", "daemon") for step in result.steps)
    figures = result.figures()
    assert non_camel_keys(figures) == [] and figures["stepCount"] == len(ran)
    assert "capacity" in result.line() and "broke" in result.line()
    rates, series = result.knee()
    assert rates == sorted(rates) and len(series["p99"]) == len(rates)


def test_a_step_broken_by_a_saturated_harness_is_run_again_with_one_more_process():
    run, ran = daemon_with_knee(knee=150.0, harness_limit=60.0)
    result = search(plan(max_processes=3), run)
    assert (100.0, 1) in ran and (100.0, 2) in ran  # retried with a second process
    retries = [s for s in result.steps if s.phase == "retry"]
    assert retries and retries[0].held
    assert any(s.bottleneck == "harness" for s in result.steps)
    assert result.limited_by == "daemon"  # the search ended on the daemon's limit


def test_the_search_is_bounded_in_steps_and_time():
    run, ran = daemon_with_knee(knee=10_000.0)
    result = search(plan(max_steps=3, max_rate=5000), run)
    assert len(ran) == 3 and result.ended_by == "max steps" and result.first_broken is None
    ticks = iter(range(0, 1000, 50))
    result = search(plan(time_budget_s=60), daemon_with_knee(knee=10_000.0)[0], clock=lambda: float(next(ticks)))
    assert result.ended_by == "time budget" and len(result.steps) <= 3


def test_a_step_at_a_low_rate_lasts_long_enough_for_its_p99_to_mean_something():
    search_plan = plan(min_arrivals=200, step_s=4.0).validate()
    assert search_plan.step_plan(100.0, 1).duration_s == 4.0  # 400 arrivals in 4 s
    assert search_plan.step_plan(20.0, 1).duration_s == 10.0  # 200 arrivals need 10 s
    assert search_plan.step_plan(1.0, 1).duration_s == 60.0  # bounded


def test_a_first_step_that_breaks_steps_down():
    run, ran = daemon_with_knee(knee=8.0)
    result = search(plan(start_rate=40.0, step_s=1.0), run)
    assert ran[0][0] == 40.0 and ran[1][0] == 20.0  # below the start by the factor
    assert result.capacity is not None and result.capacity <= 8.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"workload": "burst"}, "workload must be one of prompt, lifecycle, fanout; got 'burst'."),
        ({"factor": 1}, "factor must be a number above 1 and at most 10, got 1."),
        ({"start_rate": 0.1, "step_s": 1}, "schedules no arrival"),
        ({"max_processes": 0}, "max_processes must be a whole number from 1 to 16, got 0."),
        ({"slo": Slo(p99_ms=None, max_errors=None, max_dropped=None)}, "needs at least one SLO bound"),
        ({"time_budget_s": "soon"}, "time_budget must be a number above 0"),
    ],
)
def test_bad_capacity_plans_are_refused_naming_the_argument(change, message):
    with pytest.raises(HarnessConfigError, match=message):
        plan(**change).validate()


def test_the_capacity_keyword_refuses_bad_arguments_before_any_daemon_exists():
    from keywords.components.capacity_keywords import CapacityKeywords

    ctx = SimpleNamespace(daemons={}, get=lambda daemon=None: pytest.fail("no daemon may be asked for"))
    keywords = CapacityKeywords(ctx, plots_=None)
    with pytest.raises(HarnessConfigError, match="start_rate must be a number above 0"):
        keywords.plan_capacity_search("prompt", start_rate=-1)
    with pytest.raises(HarnessConfigError, match="Unknown mock setting"):
        keywords.plan_capacity_search("prompt", chunkz=3)
    good = keywords.plan_capacity_search("fanout", sessions=2, subscribers=4, chunks=2)
    assert good.load.kind == "fanout" and good.load.subscribers == 4 and "[[mock" in good.load.prompt_text
    assert ctx.daemons == {}


# -- the fit and the soak ---------------------------------------------------------------------------------------


def test_linear_fit_recovers_a_known_slope_with_an_interval_around_it():
    rng = random.Random(7)
    xs = [float(i) for i in range(200)]
    ys = [5.0 + 0.25 * x + rng.gauss(0, 1.0) for x in xs]
    fit = leak_fit.linear_fit(xs, ys)
    assert fit.slope_low < 0.25 < fit.slope_high and fit.slope == pytest.approx(0.25, abs=0.01)
    assert fit.at(0) == pytest.approx(5.0, abs=0.5) and fit.points == 200
    assert fit.scaled(3600)[0] == pytest.approx(fit.slope * 3600)


def test_fit_refuses_what_it_cannot_fit():
    with pytest.raises(HarnessConfigError, match="at least 3 points"):
        leak_fit.linear_fit([1, 2], [1, 2])
    with pytest.raises(HarnessConfigError, match="x values that differ"):
        leak_fit.linear_fit([1, 1, 1], [1, 2, 3])


def test_verdicts_leak_flat_and_inconclusive():
    assert leak_fit.verdict(60.0, 90.0, bound=50.0) == "leak"
    assert leak_fit.verdict(-3.0, 4.0, bound=50.0) == "flat"
    assert leak_fit.verdict(10.0, 70.0, bound=50.0) == "inconclusive"  # above 0, not wholly above the bound
    assert leak_fit.verdict(-9.0, -1.0, bound=50.0) == "inconclusive"


def test_block_means_widen_the_interval_of_a_sawtooth():
    xs = [i * 0.5 for i in range(600)]
    ys = [100.0 + (i % 40) * 0.5 for i in range(600)]  # a garbage-collector sawtooth, no trend
    every = leak_fit.linear_fit(xs, ys)
    blocks = leak_fit.fit_blocks(xs, ys, 12)
    assert blocks.points == 12
    assert (blocks.slope_high - blocks.slope_low) > (every.slope_high - every.slope_low)


def soak_samples(rss_mb_per_s: float, seconds: int = 120) -> list[SoakSample]:
    rng = random.Random(11)
    out = []
    for t in range(seconds):
        values = {
            "daemonRss": 200.0 + rss_mb_per_s * t + rng.gauss(0, 0.3),
            "agentRss": 80.0 + rng.gauss(0, 0.3),
            "daemonHeap": 50.0 + rng.gauss(0, 0.2),
            "daemonExternal": 4.0,
            "daemonFds": 40.0,
            "daemonThreads": 11.0 + (t % 2),
        }
        out.append(SoakSample(float(t), values))
    return out


def test_the_soak_judges_a_leaking_and_a_flat_series_and_the_retained_memory_per_session():
    soak = SoakPlan(variant="churn", duration_s=120, warmup_s=10, interval_s=1, memory_bound_mb_per_hour=50).validate()
    load = fake_load(LoadPlan(kind="lifecycle", rate=5), 10.0)
    load.achieved_rate = 5.0
    result = judge(soak, soak_samples(0.5), load, 0.0)  # +0.5 MB/s = 1800 MB/h
    assert result.verdicts["daemonRss"] == "leak"
    assert result.verdicts["agentRss"] == "flat" and result.verdicts["daemonHeap"] == "flat"
    rss = result.trend("daemonRss")
    assert rss.low_per_hour > 50 and rss.low_per_hour < 1800 < rss.high_per_hour
    est, low, high = result.retained_kb_per_session  # 0.5 MB/s over 5 sessions/s = 102.4 KB a session
    assert low < 102.4 < high and est == pytest.approx(102.4, rel=0.05)
    figures = result.figures()
    assert non_camel_keys(figures) == [] and figures["verdicts"]["daemonRss"] == "leak"
    assert "daemonRss leak" in result.line() and "KB/session" in result.line()
    flat = judge(soak, soak_samples(0.0), load, 0.0)
    assert flat.verdicts["daemonRss"] == "flat"


def test_a_series_never_read_is_not_judged_never_zero():
    soak = SoakPlan(duration_s=60, warmup_s=5, interval_s=1).validate()
    samples = [SoakSample(float(t), {"daemonRss": 100.0 + t, "daemonHeap": None}) for t in range(60)]
    result = judge(soak, samples, None, 0.0)
    heap = result.trend("daemonHeap")
    assert heap.verdict is None and heap.slope_per_hour is None and heap.samples == 0
    assert result.trend("daemonRss").samples == 55  # the warm-up left out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variant": "burst"}, "variant must be one of constant, churn; got 'burst'."),
        ({"duration_s": 10, "warmup_s": 9}, "warm_up must be a number from 0 to 5 s"),
        ({"duration_s": 4, "warmup_s": 0, "interval_s": 2}, "leaves 2 samples to fit"),
        ({"blocks": 2}, "blocks must be a whole number from 3 to 1000, got 2."),
    ],
)
def test_bad_soak_plans_are_refused(change, message):
    with pytest.raises(HarnessConfigError, match=message):
        SoakPlan(**change).validate()


def test_the_soak_assertions_name_each_series_with_its_interval():
    from keywords.components.capacity_keywords import SoakKeywords

    soak = SoakPlan(variant="churn", duration_s=120, warmup_s=10, interval_s=1).validate()
    load = fake_load(LoadPlan(kind="lifecycle", rate=5), 10.0)
    leaking = judge(soak, soak_samples(0.5), load, 0.0)
    keywords = SoakKeywords(SimpleNamespace(), plots_=None)
    with pytest.raises(AssertionError, match=r"The churn soak should not leak, but 1 series did: daemonRss leak: \+"):
        keywords.soak_should_not_leak(leaking)
    keywords.soak_verdict_should_be(leaking, "daemonRss", "leak")
    with pytest.raises(AssertionError, match="daemonFds should be leak, but it is flat"):
        keywords.soak_verdict_should_be(leaking, "daemonFds", "leak")
    with pytest.raises(HarnessConfigError, match="series must be one of daemonRss"):
        keywords.soak_verdict_should_be(leaking, "rss", "leak")
    keywords.soak_should_have_judged_every_series(leaking)
    unread = judge(soak, [SoakSample(float(t), {"daemonRss": 1.0 + t}) for t in range(60)], load, 0.0)
    with pytest.raises(
        AssertionError, match="agentRss, daemonHeap, daemonExternal, daemonFds, daemonThreads had too few samples"
    ):
        keywords.soak_should_have_judged_every_series(unread)
