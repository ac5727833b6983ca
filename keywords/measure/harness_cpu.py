"""The harness process's own CPU during a run, and the rule that says when the harness was the bottleneck.

A load driver that saturates its own core measures itself, not the daemon. :class:`CpuMeter` samples this
process's user+system CPU over wall time in a background thread; :func:`saturated` applies the rule in
:data:`SATURATION_RULE`. Nothing here logs or imports Robot Framework.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from keywords.reporting.figures import prefixed, shown

SATURATION_RULE = (
    "harness saturated when its process used more than {threshold:g}% of one core (user+system CPU over wall "
    "time) averaged over the run, or in {windows} consecutive {interval:g}-s windows; Python runs one thread "
    "at a time (GIL), so one core is the harness's ceiling"
)


@dataclass
class HarnessCpu:
    """The harness process's own CPU during a run.

    Attributes:
        mean_pct: User+system CPU over wall time, % of one core, over the whole run (``None``: not measured).
        peak_pct: Highest window (``None`` when no window closed).
        windows_pct: Every window, in order.
        threshold_pct: The saturation threshold used.
        saturated: The rule in ``rule`` fired.
        rule: The saturation rule, in words.
        cores: Logical cores of the machine (the daemon shares them).
    """

    mean_pct: float | None = None
    peak_pct: float | None = None
    windows_pct: list[float] = field(default_factory=list)
    threshold_pct: float = 90.0
    saturated: bool = False
    rule: str = ""
    cores: int = 1

    def figures(self, prefix: str = "harnessCpu") -> dict[str, Any]:
        """Measured figures: ``<prefix>MeanPct``, ``PeakPct``, ``Windows`` (count), ``Saturated``, ``Cores``."""
        own = {
            "meanPct": self.mean_pct,
            "peakPct": self.peak_pct,
            "windows": len(self.windows_pct),
            "saturated": self.saturated,
            "cores": self.cores,
        }
        return prefixed(prefix, own)

    def line(self) -> str:
        """``harness CPU 42% (peak 80%)``, with a warning mark when saturated."""
        flag = " (UNRELIABLE: harness saturated)" if self.saturated else ""
        return f"harness CPU {_pct_text(self.mean_pct)} (peak {_pct_text(self.peak_pct)}){flag}"


def _pct_text(value: float | None) -> str:
    return shown(value, ".0f", "%")


def saturated(mean_pct: float | None, windows_pct: list[float], threshold_pct: float, consecutive: int) -> bool:
    """The saturation rule: the run's mean over the threshold, or ``consecutive`` windows in a row over it."""
    if mean_pct is not None and mean_pct > threshold_pct:
        return True
    run = 0
    for pct in windows_pct:
        run = run + 1 if pct > threshold_pct else 0
        if run >= consecutive:
            return True
    return False


class CpuMeter:
    """Samples the harness process's CPU (user+system) in a background thread.

    Args:
        interval_s: Window length.
        threshold_pct: Saturation threshold (% of one core).
        windows: Consecutive windows over the threshold that count as saturation.
        read: Returns ``(cpu_seconds, wall_seconds)``; defaults to this process via psutil and the monotonic
            clock (tests pass a fake).
        max_windows: Bound on kept windows.
    """

    def __init__(
        self,
        interval_s: float = 0.5,
        threshold_pct: float = 90.0,
        windows: int = 3,
        read: Callable[[], tuple[float, float]] | None = None,
        max_windows: int = 20_000,
    ) -> None:
        self.interval_s = interval_s
        self.threshold_pct = threshold_pct
        self.windows = windows
        self.max_windows = max_windows
        self._proc = psutil.Process()
        self._read = read or self._read_process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: tuple[float, float] | None = None
        self._last: tuple[float, float] | None = None
        self._result: HarnessCpu | None = None
        self.windows_pct: list[float] = []

    def _read_process(self) -> tuple[float, float]:
        times = self._proc.cpu_times()
        return times.user + times.system, time.monotonic()

    def start(self) -> CpuMeter:
        """Take the first reading and start sampling."""
        self._first = self._last = self._read()
        self._thread = threading.Thread(target=self._run, name="harness-cpu", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """Close one window (called by the thread; tests call it directly)."""
        now = self._read()
        if self._last is not None:
            pct = _pct(now, self._last)
            if pct is not None and len(self.windows_pct) < self.max_windows:
                self.windows_pct.append(round(pct, 1))
        self._last = now

    def stop(self) -> HarnessCpu:
        """Stop the thread and return the figures (a second call returns the same figures)."""
        if self._result is not None:
            return self._result
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 2.0)
        mean = _pct(self._read(), self._first) if self._first is not None else None
        mean = None if mean is None else round(mean, 1)
        self._result = HarnessCpu(
            mean_pct=mean,
            peak_pct=max(self.windows_pct, default=mean),
            windows_pct=list(self.windows_pct),
            threshold_pct=self.threshold_pct,
            saturated=saturated(mean, self.windows_pct, self.threshold_pct, self.windows),
            rule=SATURATION_RULE.format(threshold=self.threshold_pct, windows=self.windows, interval=self.interval_s),
            cores=psutil.cpu_count() or 1,
        )
        return self._result


def _pct(now: tuple[float, float], then: tuple[float, float]) -> float | None:
    wall = now[1] - then[1]
    if wall <= 0:
        return None
    return max(0.0, (now[0] - then[0]) / wall * 100)
