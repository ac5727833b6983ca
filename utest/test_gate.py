"""The performance gate's statistics and driver (no daemon): paired estimates, tolerances, pair order."""

from __future__ import annotations

import json
import math

import pytest

from keywords.errors import HarnessConfigError
from keywords.measure import pair_probe, perf_gate
from keywords.measure.pair_probe import GateRun, slope
from keywords.measure.paired_ratio import estimate, t_quantile


@pytest.mark.parametrize(("p", "df", "expected"), [(0.975, 1, 12.706), (0.975, 5, 2.571), (0.95, 3, 2.353)])
def test_t_quantiles_match_the_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=2e-3)


def test_same_build_passes_and_a_ten_percent_slower_one_fails():
    same = estimate("promptTurnEndMs", [(10, 10.1), (10, 9.95), (10, 10.05), (10, 9.9)], tolerance=0.05)
    assert same.verdict == "pass" and same.low < 1 < same.high
    slower = estimate("promptTurnEndMs", [(10, 11.1), (10, 10.95), (10, 11.05), (10, 10.9)], tolerance=0.05)
    assert slower.verdict == "fail" and slower.low > 1.05
    assert slower.estimate == pytest.approx(math.exp(sum(math.log(x / 10) for x in (11.1, 10.95, 11.05, 10.9)) / 4))
    assert "fail" in slower.line() and "1.100" in slower.line()


def test_higher_is_better_fails_only_when_the_candidate_is_lower():
    faster = estimate("replayEventsPerSec", [(100, 150), (100, 140), (100, 145)], better="higher", tolerance=0.1)
    assert faster.verdict == "pass"
    slower = estimate("replayEventsPerSec", [(100, 70), (100, 72), (100, 71)], better="higher", tolerance=0.1)
    assert slower.verdict == "fail" and slower.worse_by == pytest.approx(1 / slower.estimate - 1)


def test_missing_values_are_dropped_and_named_never_zero():
    est = estimate("sessionCreateMs", [(5.0, None), (None, 5.0), (5.0, 5.1), (5.0, 0.0), (5.0, 5.05)])
    assert est.pairs == [(5.0, 5.1), (5.0, 5.05)]
    assert [d.split(":")[0] for d in est.dropped] == ["pair 1", "pair 2", "pair 4"]
    only_one = estimate("sessionCreateMs", [(5.0, 5.1), (5.0, None)])
    assert only_one.low is None and only_one.verdict == "not measured" and "no interval" in only_one.line()
    none = estimate("sessionCreateMs", [(None, None)])
    assert none.estimate is None and "not measured" in none.line()


def test_difference_metric_catches_a_megabyte_per_session():
    leak = estimate(
        "retainedPerSessionMB", [(0.02, 1.01), (0.03, 0.98), (0.01, 1.0)], kind="difference", tolerance=0.25
    )
    assert leak.verdict == "fail" and leak.estimate == pytest.approx((0.99 + 0.95 + 0.99) / 3)
    sound = estimate(
        "retainedPerSessionMB", [(0.02, 0.03), (0.03, 0.01), (0.01, 0.02)], kind="difference", tolerance=0.25
    )
    assert sound.verdict == "pass"


def test_smallest_detectable_change_shrinks_with_less_noise():
    noisy = estimate("x", [(10, 10.8), (10, 9.3), (10, 10.5), (10, 9.6)], tolerance=0.05)
    quiet = estimate("x", [(10, 10.1), (10, 9.95), (10, 10.05), (10, 9.9)], tolerance=0.05)
    assert quiet.smallest_detectable < noisy.smallest_detectable
    assert quiet.smallest_detectable > 0.05


def _tolerance_file(tmp_path, **overrides):
    doc = {"confidence": 0.95, "metrics": {m: {"tolerance": 0.05} for m in perf_gate.METRIC_NAMES}}
    doc["metrics"].update(overrides)
    path = tmp_path / "tol.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_shipped_tolerance_file_covers_every_metric():
    tol = perf_gate.load_tolerances("resources/perf-gate.json")
    assert set(tol.by_metric) == set(perf_gate.METRIC_NAMES) and tol.confidence == 0.95


def test_tolerance_file_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(HarnessConfigError, match="Unknown gate metric 'promptTurnMs'"):
        perf_gate.load_tolerances(_tolerance_file(tmp_path, promptTurnMs={"tolerance": 0.1}))
    doc = {"metrics": {m: {"tolerance": 0.05} for m in perf_gate.METRIC_NAMES if m != "idleRssMB"}}
    (tmp_path / "short.json").write_text(json.dumps(doc))
    with pytest.raises(HarnessConfigError, match="no tolerance for idleRssMB"):
        perf_gate.load_tolerances(tmp_path / "short.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(HarnessConfigError, match="not valid JSON"):
        perf_gate.load_tolerances(tmp_path / "bad.json")
    with pytest.raises(HarnessConfigError, match="tolerance of idleRssMB must be a number"):
        perf_gate.load_tolerances(_tolerance_file(tmp_path, idleRssMB={"tolerance": "small"}))


def test_slope_is_the_least_squares_fit():
    assert slope([(0, 100.0), (20, 120.0), (40, 140.0)]) == pytest.approx(1.0)
    assert slope([(0, 100.0), (0, 101.0)]) is None


def test_run_gate_alternates_which_build_goes_first_and_keeps_warmup_out(monkeypatch, tmp_path):
    firsts = []

    def fake_pair(position, first, start, stop, plan):
        firsts.append((position, first))
        ref = GateRun("reference", position, {m: 10.0 for m in perf_gate.METRIC_NAMES})
        cand = GateRun("candidate", position, {m: 10.0 * (1.2 if position >= 0 else 5) for m in perf_gate.METRIC_NAMES})
        return ref, cand

    monkeypatch.setattr(perf_gate, "measure_pair", fake_pair)
    tol = perf_gate.load_tolerances(_tolerance_file(tmp_path))
    result = perf_gate.run_gate(None, None, reference="r", candidate="c", same_build=False, tolerances=tol, blocks=2)
    assert firsts == [(-1, "reference"), (0, "reference"), (1, "candidate"), (2, "reference"), (3, "candidate")]
    assert result.order == "A B A B" and len(result.pairs) == 4 and len(result.warmup_runs) == 2
    ratio_metrics = [e for e in result.estimates if e.kind == "ratio"]
    assert all(e.estimate == pytest.approx(1.2) for e in ratio_metrics)
    assert not result.passed and {e.metric for e in result.failed} >= {"promptTurnEndMs", "sessionCreateMs"}
    assert "FAIL on" in result.line()


def test_a_failed_step_leaves_its_metrics_out_of_that_run():
    run = GateRun("candidate", 0)

    class Fake:
        pid = 1
        boot_s = 0.5

    probe = pair_probe.Probe.__new__(pair_probe.Probe)
    probe.run, probe.plan, probe._samples, probe._failed = run, pair_probe.PairPlan(), {"sessionCreateMs": [1.0]}, set()
    probe.session_id = "s"

    def boom():
        raise RuntimeError("503 session_limit_exceeded")

    probe.step("session creates", boom)
    probe.step("session creates", lambda: pytest.fail("a failed step is not tried again"))
    assert run.values["sessionCreateMs"] is None and "sessionCreateMs" not in probe._samples
    assert run.problems == ["session creates: RuntimeError: 503 session_limit_exceeded"]


def test_should_pass_names_the_failed_metrics_the_run_problems_and_both_builds(monkeypatch, tmp_path):
    from keywords.components.daemon_keywords import DaemonKeywords
    from keywords.components.perf_gate_keywords import PerfGateKeywords
    from keywords.context import HarnessContext

    def fake_pair(position, first, start, stop, plan):
        ref = GateRun("reference", position, {m: 10.0 for m in perf_gate.METRIC_NAMES})
        cand = GateRun("candidate", position, {m: 10.0 * (1.3 + 0.01 * position) for m in perf_gate.METRIC_NAMES})
        if position == 1:
            cand.problems.append("prompts: RuntimeError: 503 prompt_queue_full")
        return ref, cand

    monkeypatch.setattr(perf_gate, "measure_pair", fake_pair)
    tol = perf_gate.load_tolerances(_tolerance_file(tmp_path))
    ctx = HarnessContext()
    keywords = PerfGateKeywords(ctx, DaemonKeywords(ctx))
    slower = perf_gate.run_gate(None, None, reference="r", candidate="c", same_build=False, tolerances=tol, blocks=2)
    with pytest.raises(AssertionError) as caught:
        keywords.performance_gate_should_pass(slower)
    text = str(caught.value)
    assert text.startswith("The candidate build is slower, bigger or leakier than the reference on ")
    assert "Run problems: run 2 (candidate): prompts: RuntimeError: 503 prompt_queue_full." in text
    assert text.endswith("Reference: r; candidate: c.")


def test_paired_builds_start_each_role_from_its_own_entry_and_say_when_both_are_one_build(monkeypatch, tmp_path):
    from keywords.components.daemon_component import DaemonComponent
    from keywords.context import HarnessContext

    old, new = tmp_path / "old.js", tmp_path / "new.js"
    old.write_text("// old build\n")
    new.write_text("// new build\n")
    ctx = HarnessContext()
    monkeypatch.setattr(ctx, "get", lambda *args, **kwargs: type("Running", (), {"client": "client"})())
    component = DaemonComponent(ctx)
    started = []
    builds = component.paired_builds(
        str(old), str(new), roles=("reference", "candidate"), start_daemon=lambda entry: started.append(entry) or entry
    )
    assert not builds.same
    assert builds.start("reference") == (str(old.resolve()), "client")
    assert builds.start("candidate") == (str(new.resolve()), "client")
    assert started == [str(old.resolve()), str(new.resolve())]
    line = builds.describe("Performance gate", "the same build: false-alarm check")
    assert line == f"Performance gate: reference {builds.label('reference')}, candidate {builds.label('candidate')}"
    same = component.paired_builds(str(old), str(old), roles=("control", "candidate"), start_daemon=str)
    assert same.same
    assert same.describe("First output", "control-vs-control").endswith("(control-vs-control)")
