"""Percentiles through HdrHistogram (keywords.measure.metrics): known series, precision, empty input, merging."""

from __future__ import annotations

import pytest

from keywords.measure import metrics


def close(value, expected, rel=0.001):
    return value == pytest.approx(expected, rel=rel)


def test_known_series_percentiles_within_histogram_precision():
    summary = metrics.summarize([float(v) for v in range(1, 101)])
    assert summary.count == 100
    assert close(summary.p50, 50)
    assert close(summary.p90, 90)
    assert close(summary.p99, 99)
    assert close(summary.min, 1)
    assert close(summary.max, 100)
    assert close(summary.mean, 50.5, rel=0.002)


def test_sub_millisecond_values_keep_microsecond_resolution():
    summary = metrics.summarize([0.25, 0.5, 0.75])
    assert close(summary.min, 0.25)
    assert close(summary.max, 0.75)


def test_empty_series_has_no_figures():
    summary = metrics.summarize([])
    assert summary.count == 0
    assert summary.p50 is None and summary.p99 is None and summary.max is None
    assert summary.line() == "no samples"


def test_negative_and_huge_values_are_counted_out_of_range():
    recorder = metrics.LatencyRecorder("x")
    recorder.record_all_ms([-1.0, 5.0, 4_000_000_000.0])
    assert recorder.count == 1
    assert recorder.out_of_range == 2


def test_merge_and_encode_are_lossless():
    a = metrics.LatencyRecorder("a").record_all_ms([1.0, 2.0, 3.0])
    b = metrics.LatencyRecorder("b").record_all_ms([100.0])
    a.merge(b)
    assert a.count == 4 and close(a.summary().max, 100)
    decoded = metrics.LatencyRecorder.decode(a.encode())
    assert decoded.summary() == a.summary()


def test_summary_dict_has_upstream_keys_and_line_format():
    summary = metrics.summarize([10.0, 20.0, 30.0])
    assert set(summary.to_dict()) >= {"count", "p50", "p90", "p99", "mean", "min", "max"}
    line = summary.line()
    assert line.startswith("p50 ") and line.endswith("(n=3)")


def test_spectrum_is_monotonic():
    recorder = metrics.LatencyRecorder().record_all_ms([float(v) for v in range(1, 1001)])
    values = [v for _p, v in recorder.spectrum()]
    assert values == sorted(values)
    assert recorder.spectrum()[-1][0] == 100.0
