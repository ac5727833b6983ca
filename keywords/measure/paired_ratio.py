"""Candidate against reference from interleaved runs: a paired estimate with its confidence interval.

The runs of two builds are interleaved A B B A (see :mod:`keywords.measure.ab`): each block gives two
*adjacent pairs* (A1, B1) and (B2, A2), and within a pair the two runs met nearly the same machine. One figure
per run (e.g. that run's median prompt latency) gives one paired comparison per pair:

* **ratio** metrics (latencies, RSS, throughput): ``d = ln(candidate / reference)``; the estimate is
  ``exp(mean d)`` (the geometric mean of the pair ratios, under steady drift the two pairs of a block err in
  opposite directions) and the interval is ``exp(mean d ± t * se)``;
* **difference** metrics (memory retained per session, which is about 0 for a sound build):
  ``d = candidate - reference`` with the interval ``mean d ± t * se``;

where ``se = sd(d) / sqrt(pairs)`` and ``t`` is Student's quantile with ``pairs - 1`` degrees of freedom. The
verdict compares the interval with a tolerance in the direction that is worse for the metric: the candidate
*fails* only when the whole interval lies beyond ``1 + tolerance`` (ratio) or ``tolerance`` (difference), i.e.
it is worse than the tolerance with the stated confidence. The *smallest detectable change* is the true change
that this sample size would catch with 80 % power, given the spread measured in this run.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from keywords.checks import number
from keywords.reporting.figures import field_figures, rounded

Kind = Literal["ratio", "difference"]
Better = Literal["lower", "higher"]
POWER = 0.80


def _t_pdf(x: float, df: int) -> float:
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    return c * (1 + x * x / df) ** (-(df + 1) / 2)


def t_cdf(x: float, df: int) -> float:
    """Student's t cumulative distribution (Simpson's rule on the density; accurate to about 1e-7)."""
    if df < 1:
        raise ValueError("df must be 1 or more")
    if x == 0:
        return 0.5
    # integrate from 0 to |x| on the substitution u = atan(t), which keeps the heavy tails finite
    upper = math.atan(abs(x))
    steps = 2000
    h = upper / steps

    def g(u: float) -> float:
        t = math.tan(u)
        return _t_pdf(t, df) / math.cos(u) ** 2

    total = g(0) + g(upper) + sum((4 if i % 2 else 2) * g(i * h) for i in range(1, steps))
    half = total * h / 3
    return 0.5 + half if x > 0 else 0.5 - half


@functools.cache
def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (bisection on :func:`t_cdf`; remembered, as every metric of a run asks the same)."""
    if not 0 < p < 1:
        raise ValueError("p must be between 0 and 1")
    if p == 0.5:
        return 0.0
    lo, hi = -1e3, 1e3
    for _ in range(80):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class PairedEstimate:
    """One metric of the candidate against the reference.

    Attributes:
        metric: Metric name (camelCase, unit in the name, e.g. ``promptTurnMs``).
        kind: ``ratio`` (candidate / reference) or ``difference`` (candidate - reference, in the metric's unit).
        better: ``lower`` or ``higher`` values are better.
        pairs: The adjacent pairs used, ``(reference, candidate)`` per pair.
        dropped: Pairs left out, with the reason (a run that measured nothing, a zero in a ratio).
        confidence: Two-sided confidence of the interval (0.95 = 95 %).
        estimate: Candidate / reference (ratio) or candidate - reference (difference); ``None`` without pairs.
        low: Lower end of the interval (``None`` with fewer than 2 pairs).
        high: Upper end of the interval.
        tolerance: How much worse the candidate may be (a fraction for ratios, the unit for differences).
        verdict: ``fail`` (worse than the tolerance with confidence), ``pass`` or ``not measured``
            (fewer than 2 usable pairs).
        smallest_detectable: The smallest worse change this sample would catch with 80 % power (a fraction
            for ratios, e.g. 0.08 = 8 % worse; the unit for differences), or ``None``.
        unit: Unit of the metric's values.
    """

    metric: str
    kind: Kind
    better: Better
    pairs: list[tuple[float, float]]
    dropped: list[str] = field(default_factory=list)
    confidence: float = 0.95
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    tolerance: float = 0.0
    verdict: str = "not measured"
    smallest_detectable: float | None = None
    unit: str = ""

    @property
    def worse_by(self) -> float | None:
        """How much worse the estimate is, in the worse direction (fraction for ratios, unit for differences)."""
        if self.estimate is None:
            return None
        if self.kind == "ratio":
            return self.estimate - 1 if self.better == "lower" else 1 / self.estimate - 1
        return self.estimate if self.better == "lower" else -self.estimate

    def line(self) -> str:
        """``promptTurnMs: 1.031 (0.990-1.074, 95 %) pass, tolerance +5 %, detects >= 8.2 %``."""
        if self.estimate is None or self.low is None:
            why = "; ".join(self.dropped) or "no pairs"
            if self.estimate is None:
                return f"{self.metric}: not measured ({why})"
            return f"{self.metric}: {self.estimate:.3f} from {len(self.pairs)} pair, no interval ({why})"
        if self.kind == "ratio":
            est = f"{self.estimate:.3f}"
            ival = "" if self.low is None else f" ({self.low:.3f}-{self.high:.3f}, {self.confidence:.0%})"
            tol = f"tolerance {self.tolerance:+.0%}" if self.better == "lower" else f"tolerance {-self.tolerance:+.0%}"
            mde = "" if self.smallest_detectable is None else f", detects >= {self.smallest_detectable:.1%} worse"
        else:
            est = f"{self.estimate:+.3f} {self.unit}"
            ival = "" if self.low is None else f" ({self.low:+.3f}..{self.high:+.3f}, {self.confidence:.0%})"
            tol = f"tolerance {self.tolerance:g} {self.unit}"
            mde = "" if self.smallest_detectable is None else f", detects >= {self.smallest_detectable:.3f} {self.unit}"
        return f"{self.metric}: {est}{ival} {self.verdict}, {tol}{mde}"

    def figures(self) -> dict[str, Any]:
        """Snapshot form (camelCase)."""
        return {
            **field_figures(self, "kind", "better", "unit"),
            **field_figures(self, "estimate", "low", "high", digits=4),
            **field_figures(self, "confidence", "tolerance", "verdict"),
            "smallestDetectable": rounded(self.smallest_detectable, 4),
            "pairs": [[rounded(r, 4), rounded(c, 4)] for r, c in self.pairs],
            "dropped": list(self.dropped),
        }


def estimate(
    metric: str,
    pairs: Sequence[tuple[float | None, float | None]],
    *,
    kind: Kind = "ratio",
    better: Better = "lower",
    tolerance: float = 0.05,
    confidence: float = 0.95,
    unit: str = "",
) -> PairedEstimate:
    """The paired estimate of one metric from ``(reference, candidate)`` values of adjacent runs.

    A pair with a missing value (``None``: that run did not measure the metric) is dropped and named, never
    turned into 0; in a ratio a pair with a value <= 0 is dropped too.
    """
    confidence = number("confidence", confidence, low=0.5, high=0.999)
    tolerance = number("tolerance", tolerance, low=0.0)
    used: list[tuple[float, float]] = []
    dropped: list[str] = []
    for i, (ref, cand) in enumerate(pairs, start=1):
        if ref is None or cand is None:
            dropped.append(f"pair {i}: {'reference' if ref is None else 'candidate'} run measured nothing")
        elif kind == "ratio" and (ref <= 0 or cand <= 0):
            dropped.append(f"pair {i}: a value <= 0 has no ratio ({ref:g}, {cand:g})")
        else:
            used.append((float(ref), float(cand)))
    base = PairedEstimate(metric, kind, better, used, dropped, confidence, tolerance=tolerance, unit=unit)
    if not used:
        return base
    diffs = [math.log(c / r) if kind == "ratio" else c - r for r, c in used]
    mean = sum(diffs) / len(diffs)
    est = math.exp(mean) if kind == "ratio" else mean
    if len(diffs) < 2:
        return PairedEstimate(**{**base.__dict__, "estimate": est})
    df = len(diffs) - 1
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / df)
    se = sd / math.sqrt(len(diffs))
    t = t_quantile(1 - (1 - confidence) / 2, df)
    lo_d, hi_d = mean - t * se, mean + t * se
    # the smallest worse change caught with POWER: the interval's near end must clear the tolerance
    reach = (t + t_quantile(POWER, df)) * se
    if kind == "ratio":
        low, high = math.exp(lo_d), math.exp(hi_d)
        limit = math.log1p(tolerance)
        worse = lo_d > limit if better == "lower" else hi_d < -limit
        mde = math.expm1(limit + reach)
    else:
        low, high = lo_d, hi_d
        worse = lo_d > tolerance if better == "lower" else hi_d < -tolerance
        mde = tolerance + reach
    return PairedEstimate(
        **{
            **base.__dict__,
            "estimate": est,
            "low": low,
            "high": high,
            "verdict": "fail" if worse else "pass",
            "smallest_detectable": mde,
        }
    )
