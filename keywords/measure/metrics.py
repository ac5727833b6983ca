"""The one way figures are computed: latencies recorded in HdrHistogram, percentiles taken from it.

Values are recorded in integer microseconds (1 µs to 1 hour, 3 significant digits, so any reported value is
within 0.1 % of the recorded one). Percentiles are HdrHistogram's value at percentile; ``min``/``max`` are
exact to that precision; ``mean`` is the histogram mean. Histograms from several workers merge losslessly
(:meth:`LatencyRecorder.merge`, :meth:`LatencyRecorder.encode`/:meth:`decode`). All inputs are milliseconds
measured with the monotonic clock unless a report says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
SPECTRUM = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)
METHOD = "HdrHistogram, µs resolution, 3 significant digits; monotonic clock"


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of one latency series, in milliseconds (``None`` when nothing was recorded).

    Attributes:
        count: Number of values.
        p50: Median.
        p90: 90th percentile.
        p99: 99th percentile.
        p999: 99.9th percentile.
        mean: Mean.
        min: Smallest value.
        max: Largest value.
    """

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None
    mean: float | None
    min: float | None
    max: float | None

    def figures(self) -> dict:
        """Its figures for a snapshot (:class:`keywords.reporting.figures.HasFigures`): the percentile dict.

        Recorded with a prefix (``Record Result    ${lat}    as=cycle``) they read ``cycleCount``, ``cycleP50``
        ... ``cycleMax``; not measured (no samples) is ``None``, never 0.
        """
        return self.to_dict()

    def line(self, unit: str = "ms") -> str:
        """One line for a test message, e.g. ``p50 12.1 ms · p90 20.3 ms · p99 31.0 ms · max 40.2 ms (n=20)``."""
        if not self.count:
            return "no samples"
        parts = [f"p50 {_fmt(self.p50)} {unit}", f"p90 {_fmt(self.p90)} {unit}", f"p99 {_fmt(self.p99)} {unit}"]
        return " · ".join([*parts, f"max {_fmt(self.max)} {unit}"]) + f" (n={self.count})"

    def to_dict(self) -> dict:
        """Upstream's percentile shape (count, p50, p90, p99, mean, min, max) plus p999."""
        return asdict(self)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


class LatencyRecorder:
    """A latency series backed by an HdrHistogram.

    Args:
        name: Series name for reports (``cycle``, ``time to first chunk``...).
        keep_values: Also keep raw values (for plots); at most ``max_kept`` of them.
        max_kept: Bound on kept raw values.
    """

    def __init__(self, name: str = "", keep_values: bool = True, max_kept: int = 200_000) -> None:
        self.name = name
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self.keep_values = keep_values
        self.max_kept = max_kept
        self.values_ms: list[float] = []
        self.out_of_range = 0

    def record_ms(self, value_ms: float) -> None:
        """Record one latency in milliseconds (negative values are counted as out of range, not recorded)."""
        us = round(value_ms * 1000)
        if us < 0 or us > HIGHEST_US:
            self.out_of_range += 1
            return
        self.histogram.record_value(max(us, LOWEST_US))
        if self.keep_values and len(self.values_ms) < self.max_kept:
            self.values_ms.append(float(value_ms))

    def record_all_ms(self, values: Iterable[float]) -> LatencyRecorder:
        """Record many values; returns ``self``."""
        for value in values:
            self.record_ms(value)
        return self

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return self.histogram.get_total_count()

    def percentile_ms(self, percentile: float) -> float | None:
        """Value at ``percentile`` (0-100) in ms, or ``None`` when empty."""
        if not self.count:
            return None
        return self.histogram.get_value_at_percentile(percentile) / 1000.0

    def summary(self) -> LatencySummary:
        """p50/p90/p99/p99.9/mean/min/max in ms."""
        if not self.count:
            return LatencySummary(0, None, None, None, None, None, None, None)
        h = self.histogram
        return LatencySummary(
            count=self.count,
            p50=self.percentile_ms(50),
            p90=self.percentile_ms(90),
            p99=self.percentile_ms(99),
            p999=self.percentile_ms(99.9),
            mean=h.get_mean_value() / 1000.0,
            min=h.get_min_value() / 1000.0,
            max=h.get_max_value() / 1000.0,
        )

    def spectrum(self) -> list[tuple[float, float]]:
        """``(percentile, ms)`` pairs for 50, 75, 90, 95, 99, 99.9, 99.99 and 100."""
        if not self.count:
            return []
        return [(p, self.percentile_ms(p)) for p in SPECTRUM]

    def merge(self, other: LatencyRecorder) -> LatencyRecorder:
        """Add another recorder's histogram (and kept values) to this one; returns ``self``."""
        self.histogram.add(other.histogram)
        room = self.max_kept - len(self.values_ms)
        if self.keep_values and room > 0:
            self.values_ms.extend(other.values_ms[:room])
        self.out_of_range += other.out_of_range
        return self

    def encode(self) -> str:
        """Compressed base64 form of the histogram (to merge results from other processes)."""
        return self.histogram.encode().decode("ascii")

    @classmethod
    def decode(cls, encoded: str, name: str = "") -> LatencyRecorder:
        """A recorder from :meth:`encode` output (no raw values)."""
        recorder = cls(name, keep_values=False)
        recorder.histogram = HdrHistogram.decode(encoded.encode("ascii"))
        return recorder


def summarize(values_ms: Iterable[float], name: str = "") -> LatencySummary:
    """Percentiles of a list of millisecond values through the same histogram method."""
    return LatencyRecorder(name, keep_values=False).record_all_ms(values_ms).summary()


def exact_median(values: Iterable[float]) -> float | None:
    """The exact median: the middle value, or the mean of the two middle ones; ``None`` without values.

    For values that may be negative (differences between two builds, signed stages), which the histogram cannot
    hold, and for tables whose rows must agree with such values.
    """
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
