"""The A/B engine: runs of two builds interleaved A B B A, per-metric values, and the ratios B/A.

"Did my branch get slower?" on a shared, noisy machine: each build is run the same number of times in the
order A B B A (repeated for more rounds: A B B A A B B A ...). A drift that grows steadily over the run (a
warming disk cache, a neighbour's job ramping up) then hits both builds equally, because within each block
the two A runs sit symmetrically around the two B runs.

For every metric the comparison reports:

* each build's values and their median (HdrHistogram, :mod:`keywords.measure.metrics`);
* the **ratio** B/A as the geometric mean of the ratios of *adjacent* runs (A1->B1 and B2->A2 in each block):
  under linear drift the two adjacent ratios err in opposite directions and their geometric mean cancels
  the drift to first order; swapping A and B gives exactly the reciprocal;
* the **spread**: the smallest and largest adjacent ratio (how far one pair of runs can disagree), and
  ``spread_pct``, half that range relative to the ratio.

``ratio > 1`` means B has the larger value (slower, for a latency; bigger, for RSS). A ratio whose spread
contains 1 is "no difference measurable on this machine".

Figures are never invented: a run that did not measure a metric records no value for it (``None``), so the
metric has fewer adjacent pairs and its comparison says how many of the possible pairs it rests on; a metric
with no pair at all is "not measured". A value must be above 0 (a ratio of a zero means nothing), so a
caller cannot stand in a 0 for a value it does not have.

The engine knows nothing of daemons or benchmarks: order, runs, per-metric values, ratios. Nothing here
imports Robot Framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from keywords.checks import number, whole_number
from keywords.errors import HarnessConfigError
from keywords.measure import metrics, paired_ratio
from keywords.reporting.figures import is_camel, rounded, shown

BLOCK = ("A", "B", "B", "A")
MAX_ROUNDS = 50
NOT_MEASURED = "not measured"


def abba_order(rounds: int = 1) -> list[str]:
    """The run order: ``rounds`` blocks of A B B A.

    Raises:
        HarnessConfigError: ``rounds`` is not a whole number from 1 to 50.
    """
    return list(BLOCK) * whole_number("rounds", rounds, low=1, high=MAX_ROUNDS)


@dataclass
class BuildRun:
    """One run of one build: its position in the order and the metrics it measured.

    Attributes:
        position: 0-based position in the A B B A order.
        build: ``A`` or ``B``.
        values: Metric name -> value (one figure per run, e.g. that run's median); only measured metrics.
        missing: Metrics this run was asked for but did not measure (given as ``None``).
    """

    position: int
    build: str
    values: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def label(self) -> str:
        """``run 3 (B)``."""
        return f"run {self.position + 1} ({self.build})"


@dataclass(frozen=True)
class MetricComparison:
    """One metric compared across the two builds; the medians and ratios are derived from the values.

    Attributes:
        name: Metric name (camelCase with its unit), e.g. ``bootToFirstSessionMs``.
        a_values: Build A's values in run order.
        b_values: Build B's values in run order.
        pair_ratios: B/A of every adjacent pair whose two runs both measured the metric, in order.
        possible_pairs: Adjacent pairs of the runs recorded.
        missing_runs: Runs that did not measure the metric (``run 3 (B)``).
    """

    name: str
    a_values: list[float]
    b_values: list[float]
    pair_ratios: list[float]
    possible_pairs: int
    missing_runs: list[str] = field(default_factory=list)

    @property
    def a_median(self) -> float | None:
        """Median of A (HdrHistogram), ``None`` without values."""
        return median(self.a_values)

    @property
    def b_median(self) -> float | None:
        """Median of B."""
        return median(self.b_values)

    @property
    def pairs(self) -> int:
        """Adjacent pairs whose two runs both measured the metric."""
        return len(self.pair_ratios)

    @property
    def ratio(self) -> float | None:
        """B/A, the geometric mean of the adjacent-run ratios (``None`` without a pair)."""
        if not self.pair_ratios:
            return None
        return math.exp(sum(math.log(r) for r in self.pair_ratios) / len(self.pair_ratios))

    @property
    def ratio_min(self) -> float | None:
        """Smallest adjacent-run ratio."""
        return min(self.pair_ratios, default=None)

    @property
    def ratio_max(self) -> float | None:
        """Largest adjacent-run ratio."""
        return max(self.pair_ratios, default=None)

    @property
    def spread_pct(self) -> float | None:
        """``(ratio_max - ratio_min) / 2 / ratio`` in percent."""
        ratio = self.ratio
        if ratio is None:
            return None
        return (max(self.pair_ratios) - min(self.pair_ratios)) / 2 / ratio * 100

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95 % interval of B/A from the adjacent pairs (the gate's engine, :mod:`keywords.measure.paired_ratio`);
        ``None`` with fewer than two pairs."""
        if len(self.pair_ratios) < 2:
            return None
        found = paired_ratio.estimate(self.name, [(1.0, r) for r in self.pair_ratios], kind="ratio")
        return (found.low, found.high) if found.low is not None and found.high is not None else None

    @property
    def verdict(self) -> str:
        """``B larger`` or ``B smaller`` (the 95 % interval excludes 1), ``within interval`` (it holds 1),
        ``one pair`` (no interval from a single pair) or ``not measured``."""
        if self.ratio is None:
            return NOT_MEASURED
        interval = self.interval
        if interval is None:
            return "one pair"
        low, high = interval
        if low <= 1.0 <= high:
            return "within interval"
        return "B larger" if low > 1.0 else "B smaller"

    def pairs_text(self) -> str:
        """``2 of 2 pairs``, plus the runs that did not measure the metric when there are any."""
        text = f"{self.pairs} of {self.possible_pairs} pairs"
        if self.missing_runs:
            text += f" (not measured in {', '.join(self.missing_runs)})"
        return text

    def line(self) -> str:
        """One line: ``name: B/A 1.030 (95 % 0.970-1.090; pairs 0.990-1.070) within interval; medians ...``."""
        if self.ratio is None:
            return f"{self.name}: {NOT_MEASURED}; {self.pairs_text()}"
        interval = self.interval
        ival = "no interval" if interval is None else f"95 % {interval[0]:.3f}-{interval[1]:.3f}"
        return (
            f"{self.name}: B/A {self.ratio:.3f} ({ival}; pairs {self.ratio_min:.3f}-{self.ratio_max:.3f}) "
            f"{self.verdict}; medians A {_fmt(self.a_median)} B {_fmt(self.b_median)}; {self.pairs_text()}"
        )

    def figures(self) -> dict[str, Any]:
        """Both builds' values and medians, the ratio with its spread, the pairs used, the verdict."""
        return {
            "a": {"values": self.a_values, "median": self.a_median},
            "b": {"values": self.b_values, "median": self.b_median},
            "ratio": rounded(self.ratio, 4),
            "ratioLow": rounded(self.interval[0], 4) if self.interval else None,
            "ratioHigh": rounded(self.interval[1], 4) if self.interval else None,
            "ratioMin": rounded(self.ratio_min, 4),
            "ratioMax": rounded(self.ratio_max, 4),
            "spreadPct": None if self.spread_pct is None else round(self.spread_pct, 2),
            "pairs": self.pairs,
            "possiblePairs": self.possible_pairs,
            "pairRatios": [rounded(r, 4) for r in self.pair_ratios],
            "missingRuns": list(self.missing_runs),
            "verdict": self.verdict,
        }


def _fmt(value: float | None) -> str:
    return shown(value, ".1f")


def median(values: list[float]) -> float | None:
    """Median through the one percentile method (HdrHistogram); ``None`` without values."""
    return metrics.summarize(values).p50 if values else None


class BuildComparison:
    """Collects the runs of an A/B comparison and computes the ratios.

    Args:
        a_label: Description of build A (e.g. ``release 0.24.4``).
        b_label: Description of build B.
        rounds: Number of A B B A blocks (1..50).
        same_build: The caller's word that A and B are one and the same build (then every ratio should be
            near 1, and a ratio far from it means the mechanism is broken, not the build).
    """

    def __init__(self, a_label: str, b_label: str, rounds: int = 1, *, same_build: bool = False) -> None:
        self.a_label = a_label
        self.b_label = b_label
        self.order = abba_order(rounds)
        self.same_build = bool(same_build)
        self.runs: list[BuildRun] = []

    @property
    def full_pairs(self) -> int:
        """Adjacent pairs of the whole order (two per A B B A block): what a metric measured in every run has."""
        return len(self.order) // 2

    def short_of_pairs(self) -> list[MetricComparison]:
        """The metrics that rest on fewer than :attr:`full_pairs` adjacent pairs (a run missed them, or the order
        is not complete)."""
        return [m for m in self.results() if m.pairs < self.full_pairs]

    @property
    def next_build(self) -> str | None:
        """The build the next run must use (``None`` when the order is complete)."""
        return self.order[len(self.runs)] if len(self.runs) < len(self.order) else None

    @property
    def complete(self) -> bool:
        """Every position of the order has a run."""
        return len(self.runs) == len(self.order)

    def add(self, build: str, **values: float | None) -> BuildRun:
        """Record the next run's metrics; ``build`` must be the one the order expects.

        A metric given as ``None`` was not measured in this run: it records no value (and is named in the
        run's ``missing``).

        Raises:
            HarnessConfigError: the order is complete, the build is out of order, a metric name is not
                camelCase, or a value is not a number above 0.
        """
        expected = self.next_build
        if expected is None:
            raise HarnessConfigError(f"The comparison already has all {len(self.order)} runs ({' '.join(self.order)}).")
        if build != expected:
            raise HarnessConfigError(
                f"Run {len(self.runs) + 1} of the order {' '.join(self.order)} must use build {expected}, "
                f"got {build!r}."
            )
        run = BuildRun(len(self.runs), build)
        for name, value in values.items():
            if not is_camel(name):
                raise HarnessConfigError(f"Metric names are camelCase with their unit (treeRssMB), got {name!r}.")
            if value is None:
                run.missing.append(name)
                continue
            try:
                run.values[name] = number(f"metric {name}", value, low=0.0, low_open=True)
            except HarnessConfigError as exc:
                raise HarnessConfigError(f"{exc} Give None for a metric this run did not measure.") from None
        self.runs.append(run)
        return run

    def metric_names(self) -> list[str]:
        """Every metric name, measured or missing, in first-seen order."""
        names: list[str] = []
        for run in self.runs:
            names += [n for n in [*run.values, *run.missing] if n not in names]
        return names

    def compare(self, name: str) -> MetricComparison:
        """Compare one metric over the runs that measured it."""
        a_vals = [r.values[name] for r in self.runs if r.build == "A" and name in r.values]
        b_vals = [r.values[name] for r in self.runs if r.build == "B" and name in r.values]
        adjacent = self._adjacent_pairs()
        ratios = []
        for first, second in adjacent:
            a_run, b_run = (first, second) if first.build == "A" else (second, first)
            a, b = a_run.values.get(name), b_run.values.get(name)
            if a is not None and b is not None:
                ratios.append(b / a)
        return MetricComparison(
            name,
            a_vals,
            b_vals,
            ratios,
            len(adjacent),
            [r.label() for r in self.runs if name not in r.values],
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

    def figures(self) -> dict[str, Any]:
        """The builds compared (``a``, ``b``: their labels) in their ``order``, ``runs`` recorded, ``sameBuild``
        (as the caller said) and, per metric name, its comparison's figures (``metrics``)."""
        return {
            "a": self.a_label,
            "b": self.b_label,
            "order": " ".join(self.order),
            "runs": len(self.runs),
            "sameBuild": self.same_build,
            "metrics": {m.name: m.figures() for m in self.results()},
        }

    def line(self) -> str:
        """``B/A: name 1.030 within interval (2 of 2 pairs) · …`` over every metric."""
        parts = [
            f"{m.name} {NOT_MEASURED}" if m.ratio is None else f"{m.name} {m.ratio:.3f} {m.verdict}"
            for m in self.results()
        ]
        return f"B/A over {len(self.runs)} runs: " + " · ".join(parts) if parts else f"{len(self.runs)} runs"

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form: the builds, the order and the method with the figures."""
        return {
            "a": self.a_label,
            "b": self.b_label,
            "order": " ".join(self.order),
            "method": (
                "runs interleaved A B B A; ratio = B/A as the geometric mean of adjacent-run ratios "
                "(drift cancels to first order); spread = smallest..largest adjacent-run ratio; a run that "
                "did not measure a metric records no value for it"
            ),
            **self.figures(),
        }

    def markdown(self) -> str:
        """A Markdown table: metric | A median | B median | B/A | spread | pairs | verdict."""
        lines = [
            f"A: {self.a_label}  ",
            f"B: {self.b_label}  ",
            f"Order: {' '.join(self.order)} ({len(self.runs)} runs)",
            "",
            "| Metric | A median | B median | B/A | spread (min-max) | pairs | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in self.results():
            if m.ratio is None:
                ratio, spread = "n/a", "n/a"
            else:
                ratio = f"{m.ratio:.3f}"
                spread = f"{m.ratio_min:.3f}-{m.ratio_max:.3f} (±{m.spread_pct:.1f}%)"
            lines.append(
                f"| {m.name} | {_fmt(m.a_median)} | {_fmt(m.b_median)} | {ratio} | {spread} | {m.pairs_text()} | "
                f"{m.verdict} |"
            )
        return "\n".join(lines) + "\n"
