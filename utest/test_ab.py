"""A/B comparison model: order, ratios, spread, drift cancellation, validation."""

from __future__ import annotations

import pytest

from keywords.errors import HarnessConfigError
from keywords.measure import ab


def test_order_is_abba_repeated():
    assert ab.abba_order(1) == ["A", "B", "B", "A"]
    assert ab.abba_order(2) == ["A", "B", "B", "A", "A", "B", "B", "A"]
    for bad in (0, 51, 1.5, True):
        with pytest.raises(HarnessConfigError):
            ab.abba_order(bad)


def test_add_enforces_order_and_numbers():
    cmp = ab.Comparison("a", "b")
    with pytest.raises(HarnessConfigError, match="must use build A"):
        cmp.add("B", x=1)
    cmp.add("A", x=1)
    with pytest.raises(HarnessConfigError, match="must be a number"):
        cmp.add("B", x="fast")
    with pytest.raises(HarnessConfigError, match="finite"):
        cmp.add("B", x=float("nan"))
    cmp.add("B", x=2)
    cmp.add("B", x=2)
    cmp.add("A", x=1)
    assert cmp.complete and cmp.next_build is None
    with pytest.raises(HarnessConfigError, match="already has all"):
        cmp.add("A", x=1)


def _run(values_by_position, rounds=1):
    cmp = ab.Comparison("release", "branch", rounds)
    for value in values_by_position:
        cmp.add(cmp.next_build, t=value)
    return cmp.compare("t")


def test_identical_builds_give_ratio_one_and_no_spread():
    m = _run([100, 100, 100, 100])
    assert m.ratio == pytest.approx(1.0)
    assert m.ratio_min == m.ratio_max == pytest.approx(1.0)
    assert m.pairs == 2 and m.verdict == "within spread"


def test_linear_drift_cancels():
    # The machine slows by 10 % per run (a multiplicative drift); B is truly 1.5x A. Positions: A B B A.
    true = {"A": 100.0, "B": 150.0}
    factor = [1.0, 1.1, 1.2, 1.3]
    values = [true[b] * f for b, f in zip(ab.abba_order(1), factor, strict=True)]
    m = _run(values)
    assert m.ratio == pytest.approx(1.5, rel=0.01)  # 1.5 * sqrt(1.1 * 1.2 / 1.3): off by 0.8 % only
    assert m.ratio_min < 1.5 < m.ratio_max  # the two adjacent pairs err in opposite directions
    # Running A A then B B on the same drifting machine would report 1.5 * (1.2 + 1.3) / (1.0 + 1.1) = 1.79.


def test_ratio_is_symmetric_and_verdicts():
    slower = _run([100, 200, 210, 105])
    assert slower.ratio == pytest.approx(2.0)
    assert slower.verdict == "B larger"
    swapped = _run([200, 100, 105, 210])
    assert swapped.ratio == pytest.approx(1 / slower.ratio)
    faster = _run([100, 50, 52, 101])
    assert faster.verdict == "B smaller"
    noisy = _run([100, 120, 90, 100])
    assert noisy.verdict == "within spread"


def test_spread_and_json_and_markdown():
    cmp = ab.Comparison("release 0.24.4", "local build /x/cli.js", 2)
    for value in [100, 110, 90, 100, 100, 95, 105, 100]:
        cmp.add(cmp.next_build, boot=value, rss=200.0)
    m = cmp.compare("boot")
    assert m.pairs == 4 and len(m.pair_ratios) == 4
    assert m.ratio_min <= m.ratio <= m.ratio_max
    assert m.spread_pct == pytest.approx((m.ratio_max - m.ratio_min) / 2 / m.ratio * 100)
    assert m.a_median is not None and m.b_median is not None
    doc = cmp.to_dict()
    assert doc["order"] == "A B B A A B B A" and set(doc["metrics"]) == {"boot", "rss"}
    assert doc["metrics"]["rss"]["ratio"] == 1.0
    md = cmp.markdown()
    assert "| boot |" in md and "release 0.24.4" in md


def test_missing_or_zero_values_are_not_measured():
    cmp = ab.Comparison("a", "b")
    for _ in range(4):
        cmp.add(cmp.next_build, t=0.0)
    m = cmp.compare("t")
    assert m.ratio is None and m.verdict == "not measured" and "not measured" in m.line()
    assert ab.median([]) is None
    assert ab.median([0.0, 2.0]) == 1.0
