"""The A/B engine (order, ratios, spread, drift cancellation, validation, metrics not measured) and the run of
two daemon builds through it, with fake daemons."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from keywords.errors import HarnessConfigError
from keywords.measure import ab
from keywords.measure.ab import daemon_builds
from keywords.reporting.figures import HasFigures, non_camel_keys
from keywords.traffic.client import SessionInfo


def test_order_is_abba_repeated():
    assert ab.abba_order(1) == ["A", "B", "B", "A"]
    assert ab.abba_order(2) == ["A", "B", "B", "A", "A", "B", "B", "A"]
    for bad in (0, 51, 1.5, True):
        with pytest.raises(HarnessConfigError, match="rounds must be a whole number from 1 to 50"):
            ab.abba_order(bad)


def test_add_enforces_order_and_numbers():
    cmp = ab.BuildComparison("a", "b")
    with pytest.raises(HarnessConfigError, match="must use build A"):
        cmp.add("B", x=1)
    cmp.add("A", x=1)
    with pytest.raises(HarnessConfigError, match="metric x must be a number above 0"):
        cmp.add("B", x="fast")
    with pytest.raises(HarnessConfigError, match="metric x must be a number above 0"):
        cmp.add("B", x=float("nan"))
    with pytest.raises(HarnessConfigError, match="camelCase"):
        cmp.add("B", tree_rss_mb=1)
    cmp.add("B", x=2)
    cmp.add("B", x=2)
    cmp.add("A", x=1)
    assert cmp.complete and cmp.next_build is None
    with pytest.raises(HarnessConfigError, match="already has all"):
        cmp.add("A", x=1)


def _compare(values_by_position, rounds=1):
    cmp = ab.BuildComparison("release", "branch", rounds)
    for value in values_by_position:
        cmp.add(cmp.next_build, t=value)
    return cmp.compare("t")


def test_identical_builds_give_ratio_one_and_no_spread():
    m = _compare([100, 100, 100, 100])
    assert m.ratio == pytest.approx(1.0)
    assert m.ratio_min == m.ratio_max == pytest.approx(1.0)
    assert m.pairs == m.possible_pairs == 2 and m.verdict == "within interval" and m.missing_runs == []


def test_linear_drift_cancels():
    # The machine slows by 10 % per run (a multiplicative drift); B is truly 1.5x A. Positions: A B B A.
    true = {"A": 100.0, "B": 150.0}
    factor = [1.0, 1.1, 1.2, 1.3]
    values = [true[b] * f for b, f in zip(ab.abba_order(1), factor, strict=True)]
    m = _compare(values)
    assert m.ratio == pytest.approx(1.5, rel=0.01)  # 1.5 * sqrt(1.1 * 1.2 / 1.3): off by 0.8 % only
    assert m.ratio_min < 1.5 < m.ratio_max  # the two adjacent pairs err in opposite directions
    # Running A A then B B on the same drifting machine would report 1.5 * (1.2 + 1.3) / (1.0 + 1.1) = 1.79.


def test_ratio_is_symmetric_and_verdicts():
    slower = _compare([100, 200, 210, 105])
    assert slower.ratio == pytest.approx(2.0)
    assert slower.verdict == "B larger"
    swapped = _compare([200, 100, 105, 210])
    assert swapped.ratio == pytest.approx(1 / slower.ratio)
    faster = _compare([100, 50, 52, 101])
    assert faster.verdict == "B smaller"
    noisy = _compare([100, 120, 90, 100])
    assert noisy.verdict == "within interval"
    # Both pairs below 1 is no finding by itself: the 95 % interval of two pairs 0.6 and 0.9 holds 1.
    unsure = _compare([100, 60, 90, 100])
    assert unsure.ratio_max < 1 and unsure.verdict == "within interval"
    assert unsure.interval[0] < 1 < unsure.interval[1]
    assert _compare([100, 200]).verdict == "one pair"


def test_spread_figures_and_markdown():
    cmp = ab.BuildComparison("release 0.24.4", "local build /x/cli.js", 2)
    for value in [100, 110, 90, 100, 100, 95, 105, 100]:
        cmp.add(cmp.next_build, bootMs=value, rssMB=200.0)
    m = cmp.compare("bootMs")
    assert m.pairs == 4 and len(m.pair_ratios) == 4
    assert m.ratio_min <= m.ratio <= m.ratio_max
    assert m.spread_pct == pytest.approx((m.ratio_max - m.ratio_min) / 2 / m.ratio * 100)
    assert m.a_median is not None and m.b_median is not None
    doc = cmp.to_dict()
    assert doc["order"] == "A B B A A B B A" and set(doc["metrics"]) == {"bootMs", "rssMB"}
    assert doc["metrics"]["rssMB"]["ratio"] == 1.0 and doc["runs"] == 8
    assert isinstance(cmp, HasFigures) and non_camel_keys(cmp.figures()) == []
    assert cmp.line().startswith("B/A over 8 runs: bootMs ")
    md = cmp.markdown()
    assert "| bootMs |" in md and "release 0.24.4" in md and "4 of 4 pairs" in md


def test_a_metric_a_run_did_not_measure_has_no_value_and_fewer_pairs_never_a_zero():
    cmp = ab.BuildComparison("a", "b")
    cmp.add("A", promptP50Ms=100.0)
    run = cmp.add("B", promptP50Ms=None)  # every prompt of this run failed: no median
    cmp.add("B", promptP50Ms=110.0)
    cmp.add("A", promptP50Ms=100.0)
    assert run.values == {} and run.missing == ["promptP50Ms"]
    m = cmp.compare("promptP50Ms")
    assert m.b_values == [110.0] and m.b_median == pytest.approx(110.0, rel=1e-3)
    assert m.pairs == 1 and m.possible_pairs == 2 and m.ratio == pytest.approx(1.1)
    assert m.missing_runs == ["run 2 (B)"]
    assert "1 of 2 pairs (not measured in run 2 (B))" in m.line()
    assert m.figures()["missingRuns"] == ["run 2 (B)"] and m.figures()["possiblePairs"] == 2


def test_a_metric_with_no_pair_is_not_measured_and_a_zero_is_refused():
    cmp = ab.BuildComparison("a", "b")
    with pytest.raises(HarnessConfigError, match=r"above 0, got 0\.0\. Give None for a metric"):
        cmp.add("A", t=0.0)
    for _ in range(4):
        cmp.add(cmp.next_build, t=None)
    m = cmp.compare("t")
    assert cmp.metric_names() == ["t"]
    assert m.ratio is None and m.pairs == 0 and m.verdict == "not measured" and "not measured" in m.line()
    assert m.a_median is None and m.figures()["a"] == {"values": [], "median": None}
    assert ab.median([]) is None


# -- two builds through the engine, with fake daemons -------------------------------------------------------


class FakeDaemonClient:
    """Creates sessions at once; refuses every prompt (so no run can measure a prompt latency)."""

    def __init__(self) -> None:
        self.n = 0

    def create_session(self, scope: str = "thread") -> SessionInfo:
        self.n += 1
        return SessionInfo(f"s{self.n}", None, False, None, 1.0)

    def prompt(self, session_id: str, text: str, **_):
        raise RuntimeError("409 prompt refused")


def test_a_run_whose_prompts_all_failed_records_no_prompt_latency():
    started: list[tuple[str | None, bool]] = []
    client = FakeDaemonClient()
    me = SimpleNamespace(pid=os.getpid(), tree=list, home=None)  # this process stands in for the daemon's tree
    lines: list[str] = []
    cmp = daemon_builds.compare_builds(
        ab.BuildComparison("a", "b"),
        lambda entry, preheat: started.append((entry, preheat)),
        lambda: None,
        lambda: SimpleNamespace(client=client, daemon=me),
        a_entry="/a/cli.js",
        b_entry="/b/cli.js",
        creates=2,
        prompts=1,
        warmup=1,
        log=lines.append,
    )
    assert started == [
        ("/a/cli.js", True),
        ("/a/cli.js", False),
        ("/b/cli.js", False),
        ("/b/cli.js", False),
        ("/a/cli.js", False),
    ]
    assert all(run.missing == ["promptP50Ms"] for run in cmp.runs)
    assert all(set(run.values) == {"bootToFirstSessionMs", "warmCreateP50Ms", "treeRssMB"} for run in cmp.runs)
    prompt = cmp.compare("promptP50Ms")
    assert prompt.verdict == "not measured" and prompt.pairs == 0 and prompt.possible_pairs == 2
    assert cmp.compare("warmCreateP50Ms").pairs == 2
    assert "not measured: promptP50Ms" in lines[0] and "1 prompt(s) failed" in lines[0]


def test_the_build_run_checks_its_counts_before_any_daemon_starts():
    def no_start(entry, preheat):
        raise AssertionError("a daemon was started before the counts were checked")

    for bad in ({"creates": 0}, {"prompts": 201}, {"warmup": 11}):
        with pytest.raises(HarnessConfigError, match="must be a whole number"):
            daemon_builds.compare_builds(ab.BuildComparison("a", "b"), no_start, no_start, no_start, **bad)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"rounds": 0}, "rounds must be a whole number from 1 to 50, got 0."),
        ({"creates": 0}, "creates must be a whole number from 1 to 500, got 0."),
        ({"boot_timeout": -1}, "boot_timeout must be a number above 0 and at most 600 s, got -1."),
    ],
)
def test_compare_daemon_builds_refuses_bad_arguments_before_any_daemon_starts(bad, message):
    from keywords.components.ab_keywords import BuildComparisonKeywords

    ctx = SimpleNamespace(source=lambda entry=None: SimpleNamespace(label=f"build {entry}"), get=no_daemon)
    keywords = BuildComparisonKeywords(ctx)
    keywords._daemons = SimpleNamespace(start_daemon=no_daemon, stop_daemon=no_daemon)
    with pytest.raises(HarnessConfigError) as err:
        keywords.compare_daemon_builds("http://127.0.0.1:9/v1", **bad)
    assert str(err.value) == message


def no_daemon(*_, **__):
    raise AssertionError("a daemon was started before the arguments were checked")
