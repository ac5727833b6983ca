"""The one validator (keywords.checks) and the figures conventions (keywords.reporting.figures)."""

from __future__ import annotations

import datetime as dt

import pytest

from keywords import checks
from keywords.errors import HarnessConfigError
from keywords.reporting.figures import non_camel_keys, prefixed


@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("3", 3), (" 12 ", 12), (4.0, 4)])
def test_whole_number_accepts_ints_and_digit_texts(value, expected):
    assert checks.whole_number("burst", value, low=1, high=1000) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("ten", "burst must be a whole number from 1 to 1000, got 'ten'."),
        (2.5, "got 2.5."),
        (True, "got True."),
        (0, "got 0."),
        (5000, "got 5000."),
        (None, "got None."),
    ],
)
def test_whole_number_names_the_argument_the_range_and_the_value(value, fragment):
    with pytest.raises(HarnessConfigError, match="burst must be a whole number from 1 to 1000") as err:
        checks.whole_number("burst", value, low=1, high=1000)
    assert fragment in str(err.value)


def test_open_ranges_read_naturally():
    with pytest.raises(HarnessConfigError, match=r"chunks must be a whole number 0 or more, got -3\."):
        checks.whole_number("chunks", -3)
    with pytest.raises(HarnessConfigError, match=r"delay must be a number 0 ms or more, got 'slow'\."):
        checks.number("delay", "slow", unit="ms")


def test_large_bounds_are_written_in_full_not_in_exponent_form():
    with pytest.raises(HarnessConfigError) as err:
        checks.whole_number("delay_ms", -5, low=0, high=86_400_000, unit="ms")
    assert str(err.value) == "delay_ms must be a whole number from 0 to 86400000 ms, got -5."
    with pytest.raises(HarnessConfigError, match=r"above 0 and at most 2147483647 s, got '0\.5e10'"):
        checks.seconds("wait", "0.5e10", high=2**31 - 1)


def test_seconds_accepts_timedelta_and_refuses_zero_unless_allowed():
    assert checks.seconds("timeout", dt.timedelta(minutes=1.5)) == 90.0
    assert checks.seconds("settle", 0, allow_zero=True) == 0.0
    with pytest.raises(HarnessConfigError, match=r"timeout must be a number above 0 and at most 3600 s, got 0\."):
        checks.seconds("timeout", 0)
    with pytest.raises(HarnessConfigError, match="got inf"):
        checks.seconds("timeout", float("inf"))


def test_choice_and_known_names():
    assert checks.choice("mode", "echo", ["echo", "hang"]) == "echo"
    with pytest.raises(HarnessConfigError, match=r"mode must be one of echo, hang; got 'shout'\."):
        checks.choice("mode", "shout", ["echo", "hang"])
    with pytest.raises(HarnessConfigError, match=r"Unknown daemon flags 'a', 'b'; known: x, y\."):
        checks.known_names("daemon flag", ["a", "x", "b"], ["x", "y"])


def test_figure_keys_are_camel_case_and_prefixed_in_camel_case():
    assert prefixed("healthy", {"received": 3, "gapsCount": 0}) == {"healthyReceived": 3, "healthyGapsCount": 0}
    assert non_camel_keys({"evictionMs": 1, "late_ms": 2, "inner": {"p50": 1, "Bad": 2}, "rows": [{"x_y": 1}]}) == [
        "late_ms",
        "inner.Bad",
        "rows[0].x_y",
    ]
