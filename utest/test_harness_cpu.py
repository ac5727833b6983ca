"""The harness process's own CPU (keywords.measure.harness_cpu): the saturation rule, the meter, its figures."""

from __future__ import annotations

import time

from keywords.measure.harness_cpu import CpuMeter, HarnessCpu, saturated
from keywords.reporting.figures import figures_of, non_camel_keys


def test_saturation_rule():
    assert saturated(95.0, [], 90, 3)
    assert not saturated(50.0, [95, 95, 10, 95, 95], 90, 3)
    assert saturated(50.0, [10, 95, 96, 97, 10], 90, 3)
    assert not saturated(90.0, [90, 90, 90], 90, 3)  # "more than" the threshold
    assert not saturated(None, [], 90, 3)


def test_cpu_meter_with_a_fake_reading():
    # (cpu seconds, wall seconds): 20% for one window, then 3 windows at 100%
    readings = iter([(0.0, 0.0), (0.1, 0.5), (0.6, 1.0), (1.1, 1.5), (1.6, 2.0), (1.6, 2.0)])
    meter = CpuMeter(interval_s=0.5, threshold_pct=90, windows=3, read=lambda: next(readings))
    meter._first = meter._last = meter._read()
    for _ in range(4):
        meter.sample()
    cpu = meter.stop()
    assert meter.windows_pct == [20.0, 100.0, 100.0, 100.0]
    assert cpu.mean_pct == 80.0
    assert cpu.peak_pct == 100.0
    assert cpu.saturated
    assert "90% of one core" in cpu.rule
    assert meter.stop() is cpu  # a second stop (a driver's finally) keeps the figures of the first


def test_cpu_meter_sees_a_busy_harness():
    idle_meter = CpuMeter(interval_s=0.1).start()
    time.sleep(0.4)
    idle = idle_meter.stop()
    meter = CpuMeter(interval_s=0.1).start()
    end = time.monotonic() + 0.6
    x = 0
    while time.monotonic() < end:
        x += 1
    busy = meter.stop()
    # one busy thread; other work may share the box's cores, so only compare with the idle reading
    assert busy.mean_pct > idle.mean_pct + 10
    assert len(busy.windows_pct) >= 4


def test_a_meter_that_never_ran_reports_nothing_measured_not_zero():
    cpu = CpuMeter(interval_s=0.1).stop()
    assert cpu.mean_pct is None and cpu.peak_pct is None and not cpu.saturated
    assert cpu.figures()["harnessCpuMeanPct"] is None
    assert "n/a" in cpu.line()


def test_figures_are_camel_case_and_carry_the_measured_windows():
    cpu = HarnessCpu(mean_pct=42.5, peak_pct=97.0, windows_pct=[10.0, 97.0, 20.0], saturated=False, cores=2)
    figures = cpu.figures()
    assert non_camel_keys(figures) == [] and figures_of(cpu) == figures
    assert figures == {
        "harnessCpuMeanPct": 42.5,
        "harnessCpuPeakPct": 97.0,
        "harnessCpuWindows": 3,
        "harnessCpuSaturated": False,
        "harnessCpuCores": 2,
    }
    assert cpu.line() == "harness CPU 42% (peak 97%)"
    assert "UNRELIABLE" in HarnessCpu(mean_pct=95.0, peak_pct=99.0, saturated=True).line()
