"""A/B comparison of two daemon builds, interleaved A B B A so that machine drift cancels.

"Did my branch get slower?" on a shared, noisy machine: each build is run the same number of times in the
order A B B A (repeated for more rounds: A B B A A B B A ...). A drift that grows steadily over the run (a
warming disk cache, a neighbour's job ramping up) then hits both builds equally, because within each block
the two A runs sit symmetrically around the two B runs.

For every metric the comparison reports:

* each build's values and their median (HdrHistogram, :mod:`keywords.measure.metrics`);
* the **ratio** B/A as the geometric mean of the ratios of *adjacent* runs (A1→B1 and B2→A2 in each block):
  under linear drift the two adjacent ratios err in opposite directions and their geometric mean cancels
  the drift to first order; swapping A and B gives exactly the reciprocal;
* the **spread**: the smallest and largest adjacent ratio (how far one pair of runs can disagree), and
  ``spread_pct``, half that range relative to the ratio.

``ratio > 1`` means B has the larger value (slower, for a latency; bigger, for RSS). A ratio whose spread
contains 1 is "no difference measurable on this machine".

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from keywords.errors import HarnessConfigError
from keywords.measure import metrics

BLOCK = ("A", "B", "B", "A")


def abba_order(rounds: int = 1) -> list[str]:
    """The run order: ``rounds`` blocks of A B B A.

    Raises:
        HarnessConfigError: ``rounds`` is not 1..50.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 50:
        raise HarnessConfigError(f"rounds must be a whole number from 1 to 50, got {rounds!r}.")
    return list(BLOCK) * rounds


@dataclass
class BuildRun:
    """One run of one build: its position in the order and the metrics it measured.

    Attributes:
        position: 0-based position in the A B B A order.
        build: ``A`` or ``B``.
        values: Metric name -> value (one figure per run, e.g. that run's median).
    """

    position: int
    build: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricComparison:
    """One metric compared across the two builds.

    Attributes:
        name: Metric name, e.g. ``boot_to_first_session_ms``.
        a_values: Build A's values in run order.
        b_values: Build B's values in run order.
        a_median: Median of A (HdrHistogram for positive values, plain median otherwise).
        b_median: Median of B.
        ratio: B/A, geometric mean of adjacent-run ratios (``None`` when no pair had both values > 0).
        ratio_min: Smallest adjacent-run ratio.
        ratio_max: Largest adjacent-run ratio.
        spread_pct: ``(ratio_max - ratio_min) / 2 / ratio`` in percent.
        pairs: Number of adjacent pairs used.
        pair_ratios: The adjacent-run ratios, in order.
    """

    name: str
    a_values: list[float]
    b_values: list[float]
    a_median: float | None
    b_median: float | None
    ratio: float | None
    ratio_min: float | None
    ratio_max: float | None
    spread_pct: float | None
    pairs: int
    pair_ratios: list[float]

    @property
    def verdict(self) -> str:
        """``B larger``, ``B smaller`` or ``within spread`` (the spread contains 1)."""
        if self.ratio is None or self.ratio_min is None or self.ratio_max is None:
            return "not measured"
        if self.ratio_min <= 1.0 <= self.ratio_max:
            return "within spread"
        return "B larger" if self.ratio > 1 else "B smaller"

    def line(self) -> str:
        """One line: ``name: B/A 1.03 (0.97-1.09, ±6%) within spread``."""
        if self.ratio is None:
            return f"{self.name}: not measured"
        return (
            f"{self.name}: B/A {self.ratio:.3f} ({self.ratio_min:.3f}-{self.ratio_max:.3f}, "
            f"±{self.spread_pct:.1f}%) {self.verdict}; medians A {_fmt(self.a_median)} B {_fmt(self.b_median)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "a": {"values": self.a_values, "median": self.a_median},
            "b": {"values": self.b_values, "median": self.b_median},
            "ratio": _round(self.ratio),
            "ratioMin": _round(self.ratio_min),
            "ratioMax": _round(self.ratio_max),
            "spreadPct": None if self.spread_pct is None else round(self.spread_pct, 2),
            "pairs": self.pairs,
            "pairRatios": [_round(r) for r in self.pair_ratios],
            "verdict": self.verdict,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def median(values: list[float]) -> float | None:
    """Median through the one percentile method (HdrHistogram) when every value is > 0, else a plain median."""
    if not values:
        return None
    if all(v > 0 for v in values):
        return metrics.summarize(values).p50
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class Comparison:
    """Collects the runs of an A/B comparison and computes the ratios.

    Args:
        a_label: Description of build A (e.g. ``release 0.24.4``).
        b_label: Description of build B.
        rounds: Number of A B B A blocks.
    """

    def __init__(self, a_label: str, b_label: str, rounds: int = 1) -> None:
        self.a_label = a_label
        self.b_label = b_label
        self.order = abba_order(rounds)
        self.runs: list[BuildRun] = []

    @property
    def next_build(self) -> str | None:
        """The build the next run must use (``None`` when the order is complete)."""
        return self.order[len(self.runs)] if len(self.runs) < len(self.order) else None

    @property
    def complete(self) -> bool:
        """Every position of the order has a run."""
        return len(self.runs) == len(self.order)

    def add(self, build: str, **values: float) -> BuildRun:
        """Record the next run's metrics; ``build`` must be the one the order expects.

        Raises:
            HarnessConfigError: the order is complete, the build is out of order, or a value is not a number.
        """
        expected = self.next_build
        if expected is None:
            raise HarnessConfigError(f"The comparison already has all {len(self.order)} runs ({' '.join(self.order)}).")
        if build != expected:
            raise HarnessConfigError(
                f"Run {len(self.runs) + 1} of the order {' '.join(self.order)} must use build {expected}, "
                f"got {build!r}."
            )
        clean: dict[str, float] = {}
        for name, value in values.items():
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise HarnessConfigError(f"Metric {name} must be a number, got {value!r}.") from exc
            if not math.isfinite(number):
                raise HarnessConfigError(f"Metric {name} must be finite, got {value!r}.")
            clean[name] = number
        run = BuildRun(len(self.runs), build, clean)
        self.runs.append(run)
        return run

    def metric_names(self) -> list[str]:
        """Every metric name, in first-seen order."""
        names: list[str] = []
        for run in self.runs:
            names += [n for n in run.values if n not in names]
        return names

    def compare(self, name: str) -> MetricComparison:
        """Compare one metric."""
        a_vals = [r.values[name] for r in self.runs if r.build == "A" and name in r.values]
        b_vals = [r.values[name] for r in self.runs if r.build == "B" and name in r.values]
        ratios = []
        for first, second in self._adjacent_pairs():
            a_run, b_run = (first, second) if first.build == "A" else (second, first)
            a, b = a_run.values.get(name), b_run.values.get(name)
            if a is not None and b is not None and a > 0 and b > 0:
                ratios.append(b / a)
        if ratios:
            ratio = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            lo, hi = min(ratios), max(ratios)
            spread = (hi - lo) / 2 / ratio * 100
        else:
            ratio = lo = hi = spread = None
        return MetricComparison(
            name=name,
            a_values=a_vals,
            b_values=b_vals,
            a_median=median(a_vals),
            b_median=median(b_vals),
            ratio=ratio,
            ratio_min=lo,
            ratio_max=hi,
            spread_pct=spread,
            pairs=len(ratios),
            pair_ratios=ratios,
        )

    def _adjacent_pairs(self) -> list[tuple[BuildRun, BuildRun]]:
        """(A1, B1) and (B2, A2) of every complete or partial block."""
        pairs = []
        for start in range(0, len(self.runs), 4):
            block = self.runs[start : start + 4]
            if len(block) >= 2:
                pairs.append((block[0], block[1]))
            if len(block) == 4:
                pairs.append((block[2], block[3]))
        return pairs

    def results(self) -> list[MetricComparison]:
        """Every metric compared."""
        return [self.compare(name) for name in self.metric_names()]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the snapshot."""
        return {
            "a": self.a_label,
            "b": self.b_label,
            "order": " ".join(self.order),
            "runs": len(self.runs),
            "method": (
                "runs interleaved A B B A; ratio = B/A as the geometric mean of adjacent-run ratios "
                "(drift cancels to first order); spread = smallest..largest adjacent-run ratio"
            ),
            "metrics": {m.name: m.to_dict() for m in self.results()},
        }

    def markdown(self) -> str:
        """A Markdown table: metric | A median | B median | B/A | spread | verdict."""
        lines = [
            f"A: {self.a_label}  ",
            f"B: {self.b_label}  ",
            f"Order: {' '.join(self.order)} ({len(self.runs)} runs)",
            "",
            "| Metric | A median | B median | B/A | spread (min-max) | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for m in self.results():
            if m.ratio is None:
                lines.append(f"| {m.name} | {_fmt(m.a_median)} | {_fmt(m.b_median)} | n/a | n/a | not measured |")
            else:
                lines.append(
                    f"| {m.name} | {_fmt(m.a_median)} | {_fmt(m.b_median)} | {m.ratio:.3f} | "
                    f"{m.ratio_min:.3f}-{m.ratio_max:.3f} (±{m.spread_pct:.1f}%) | {m.verdict} |"
                )
        return "\n".join(lines) + "\n"
