"""The one linear fit with a 95 % interval on its slope, and the leak verdict built on it.

Samples of a long run (RSS, heap, descriptors, threads) are autocorrelated: a garbage-collected heap saws up
and down over seconds, so neighbouring samples are not independent and an ordinary least-squares interval
over every sample would be far too narrow. :func:`fit_blocks` therefore averages the samples in ``blocks``
equal spans of time first and fits the block means (``blocks - 2`` degrees of freedom): the interval then
reflects how the level moves from span to span, not the sawtooth inside a span. The Student-t quantile is
the paired engine's (:func:`keywords.measure.paired_ratio.t_quantile`).

Verdict (:func:`verdict`) against a bound in units per hour: ``leak`` when the whole interval lies above the
bound, ``flat`` when it contains 0, ``inconclusive`` otherwise. Nothing here logs or imports Robot Framework.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from keywords.errors import HarnessConfigError
from keywords.measure.paired_ratio import t_quantile

Verdict = Literal["leak", "flat", "inconclusive"]
CONFIDENCE = 0.95


@dataclass(frozen=True)
class LinearFit:
    """``y = intercept + slope * x`` with a two-sided 95 % interval on the slope.

    Attributes:
        slope: Units of y per unit of x.
        intercept: y at x = 0.
        slope_low: Lower end of the slope's 95 % interval.
        slope_high: Upper end of the slope's 95 % interval.
        points: Points fitted (block means for :func:`fit_blocks`).
        residual_sd: Standard deviation of the residuals.
    """

    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    points: int
    residual_sd: float

    def at(self, x: float) -> float:
        """The fitted value at ``x``."""
        return self.intercept + self.slope * x

    def scaled(self, factor: float) -> tuple[float, float, float]:
        """``(slope, low, high)`` times ``factor`` (e.g. per second to per hour)."""
        ends = sorted((self.slope_low * factor, self.slope_high * factor))
        return self.slope * factor, ends[0], ends[1]


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Ordinary least squares with the slope's 95 % interval (Student t, ``n - 2`` degrees of freedom).

    Raises:
        HarnessConfigError: fewer than 3 points, lengths that differ, or every x the same.
    """
    n = len(xs)
    if n != len(ys):
        raise HarnessConfigError(f"A fit needs as many y values as x values, got {n} and {len(ys)}.")
    if n < 3:
        raise HarnessConfigError(f"A fit with an interval needs at least 3 points, got {n}.")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise HarnessConfigError("A fit needs x values that differ; every x was the same.")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    sse = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    residual_sd = math.sqrt(sse / (n - 2))
    half = t_quantile(1 - (1 - CONFIDENCE) / 2, n - 2) * residual_sd / math.sqrt(sxx)
    return LinearFit(slope, intercept, slope - half, slope + half, n, residual_sd)


def block_means(xs: Sequence[float], ys: Sequence[float], blocks: int) -> tuple[list[float], list[float]]:
    """Means of x and y over ``blocks`` equal spans of x (spans without a sample are skipped)."""
    lo, hi = min(xs), max(xs)
    width = (hi - lo) / blocks or 1.0
    sums: dict[int, list[float]] = {}
    for x, y in zip(xs, ys, strict=True):
        b = min(int((x - lo) / width), blocks - 1)
        acc = sums.setdefault(b, [0.0, 0.0, 0])
        acc[0] += x
        acc[1] += y
        acc[2] += 1
    keys = sorted(sums)
    return [sums[k][0] / sums[k][2] for k in keys], [sums[k][1] / sums[k][2] for k in keys]


def fit_blocks(xs: Sequence[float], ys: Sequence[float], blocks: int = 12) -> LinearFit:
    """:func:`linear_fit` over the means of ``blocks`` equal spans of time (fewer samples: every sample)."""
    if len(xs) <= blocks:
        return linear_fit(xs, ys)
    bx, by = block_means(xs, ys, blocks)
    return linear_fit(bx, by)


def verdict(low: float, high: float, bound: float) -> Verdict:
    """``leak`` when ``low`` is above ``bound``, ``flat`` when ``low <= 0 <= high``, else ``inconclusive``."""
    if low > bound:
        return "leak"
    if low <= 0 <= high:
        return "flat"
    return "inconclusive"
