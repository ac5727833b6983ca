"""The pre-merge performance gate: a candidate daemon build against a reference build, in the same run.

Both builds run with the mock agent, so what is measured is the daemon's own cost. After an unrecorded
warm-up pair (first starts pay for cold disk caches), ``2 * blocks`` pairs follow, each one fresh daemon of
each build measured alternately request by request (:func:`keywords.measure.pair_probe.measure_pair`); which
build boots and goes first alternates A B, B A per block (:func:`keywords.measure.ab.abba_order`). Every gated
metric is then estimated from the pairs with its confidence interval and judged against its tolerance
(:mod:`keywords.measure.paired_ratio`): the gate fails when the candidate is worse than a metric's tolerance
with confidence, and names each such metric.

The metrics, their direction and unit are defined here; their tolerances come from one file
(``resources/perf-gate.json``), whose values are the documented defaults.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.checks import known_names, number, whole_number
from keywords.errors import HarnessConfigError
from keywords.measure.ab import abba_order
from keywords.measure.pair_probe import METHOD, GateRun, PairPlan, measure_pair
from keywords.measure.paired_ratio import Better, Kind, PairedEstimate, estimate
from keywords.reporting.figures import field_figures, shown

BUILDS = {"A": "reference", "B": "candidate"}


@dataclass(frozen=True)
class GateMetric:
    """One gated metric.

    Attributes:
        name: camelCase name with its unit.
        kind: ``ratio`` (candidate / reference) or ``difference`` (candidate - reference).
        better: ``lower`` or ``higher`` values are better.
        unit: Unit of one run's figure.
        what: What it is, in one line.
    """

    name: str
    kind: Kind
    better: Better
    unit: str
    what: str


METRICS: tuple[GateMetric, ...] = (
    GateMetric("bootToListenMs", "ratio", "lower", "ms", "spawn to the listening line"),
    GateMetric("listenToFirstSessionMs", "ratio", "lower", "ms", "listening line to the first session (agent start)"),
    GateMetric("sessionCreateMs", "ratio", "lower", "ms", "warm POST /session round trip, median"),
    GateMetric("promptAcceptedMs", "ratio", "lower", "ms", "prompt POST to its 202, median"),
    GateMetric("promptFirstEventMs", "ratio", "lower", "ms", "prompt POST to its first frame on an open stream"),
    GateMetric("promptTurnEndMs", "ratio", "lower", "ms", "prompt POST to turn_complete on an open stream"),
    GateMetric("replayEventsPerSec", "ratio", "higher", "events/s", "replay fan-out to N streams at once"),
    GateMetric("liveDeliveryP99Ms", "difference", "lower", "ms", "serverTimestamp to receipt, p99, N streams"),
    GateMetric("idleRssMB", "ratio", "lower", "MB", "daemon RSS with one idle session"),
    GateMetric("retainedPerSessionMB", "difference", "lower", "MB/session", "RSS slope over sessions churned"),
    GateMetric("eventLoopP99Ms", "ratio", "lower", "ms", "the daemon's own event-loop delay p99"),
    GateMetric("eventLoopMeanMs", "ratio", "lower", "ms", "the daemon's own event-loop delay mean"),
)
METRIC_NAMES = tuple(m.name for m in METRICS)


@dataclass(frozen=True)
class Tolerances:
    """The gate's tolerances (one file) and confidence.

    Attributes:
        confidence: Two-sided confidence of every interval.
        by_metric: Metric name -> tolerance (fraction for ratios, unit for differences).
        source: Where they were read from.
    """

    confidence: float
    by_metric: dict[str, float]
    source: str


def load_tolerances(path: str | Path) -> Tolerances:
    """Read a tolerance file: ``{"confidence": 0.95, "metrics": {"<name>": {"tolerance": 0.05, ...}}}``.

    Every gated metric needs a tolerance; an unknown metric name is refused (a typo would gate nothing).

    Raises:
        HarnessConfigError: the file is missing, not JSON, or a name or value is wrong (naming it).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise HarnessConfigError(f"The gate's tolerance file {path} cannot be read ({exc.strerror}).") from exc
    except ValueError as exc:
        raise HarnessConfigError(f"The gate's tolerance file {path} is not valid JSON: {exc}.") from exc
    entries = doc.get("metrics") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise HarnessConfigError(f'The gate\'s tolerance file {path} needs a "metrics" object.')
    known_names("gate metric", entries, METRIC_NAMES, hint=f"(in {path})")
    missing = [m for m in METRIC_NAMES if m not in entries]
    if missing:
        raise HarnessConfigError(f"The gate's tolerance file {path} has no tolerance for {', '.join(missing)}.")
    by_metric = {
        name: number(f"tolerance of {name}", (entry or {}).get("tolerance"), low=0.0) for name, entry in entries.items()
    }
    confidence = number("confidence", doc.get("confidence", 0.95), low=0.5, high=0.999)
    return Tolerances(confidence, by_metric, str(path))


@dataclass
class GateResult:
    """The gate's verdict with every figure behind it.

    Attributes:
        reference: Label of the reference build.
        candidate: Label of the candidate build.
        same_build: The candidate is the reference build (the run is the gate's false-alarm check).
        order: Which build went first in each recorded pair (it alternates), e.g. ``A B A B A B`` (A: reference).
        runs: Every recorded run, pair by pair (reference, candidate).
        pairs: The recorded pairs as ``(reference run, candidate run)``.
        warmup_runs: Unrecorded warm-up runs.
        estimates: One estimate per gated metric, in table order.
        tolerances: The tolerances used.
        method: How the figures were measured.
        wall_s: Wall time of the whole gate.
    """

    reference: str
    candidate: str
    same_build: bool
    order: str
    runs: list[GateRun] = field(default_factory=list)
    pairs: list[tuple[GateRun, GateRun]] = field(default_factory=list)
    warmup_runs: list[GateRun] = field(default_factory=list)
    estimates: list[PairedEstimate] = field(default_factory=list)
    tolerances: Tolerances | None = None
    method: str = METHOD
    wall_s: float = 0.0

    @property
    def failed(self) -> list[PairedEstimate]:
        """Metrics on which the candidate is worse than the tolerance with confidence."""
        return [e for e in self.estimates if e.verdict == "fail"]

    @property
    def unmeasured(self) -> list[PairedEstimate]:
        """Metrics with fewer than two usable pairs (no verdict possible)."""
        return [e for e in self.estimates if e.low is None]

    @property
    def passed(self) -> bool:
        """No metric failed and every metric was measured."""
        return not self.failed and not self.unmeasured

    @property
    def problems(self) -> list[str]:
        """Problems of individual runs (a step that failed), with the run named."""
        return [f"run {r.position + 1} ({r.build}): {p}" for r in self.runs for p in r.problems]

    def line(self) -> str:
        """One line for the test message."""
        what = "candidate is the reference (false-alarm check)" if self.same_build else "candidate vs reference"
        verdict = "PASS" if self.passed else f"FAIL on {', '.join(e.metric for e in self.failed + self.unmeasured)}"
        return f"performance gate {verdict}: {what}, {len(self.pairs)} pairs ({self.order}) in {self.wall_s:.0f} s"

    def figures(self) -> dict[str, Any]:
        """Snapshot form (camelCase)."""
        return {
            **field_figures(self, "reference", "candidate", "same_build", "order"),
            "runs": [
                {
                    "build": r.build,
                    "position": r.position,
                    "wallS": r.wall_s,
                    "values": r.values,
                    "problems": r.problems,
                }
                for r in self.runs
            ],
            "warmupRuns": len(self.warmup_runs),
            "confidence": None if self.tolerances is None else self.tolerances.confidence,
            "tolerances": None if self.tolerances is None else self.tolerances.source,
            "metrics": {e.metric: e.figures() for e in self.estimates},
            "verdict": "pass" if self.passed else "fail",
            "wallS": round(self.wall_s, 1),
            "method": self.method,
        }

    def table_rows(self) -> list[list[str]]:
        """Rows of the report table: metric, reference median, candidate median, estimate, interval, tolerance,
        smallest detectable change, verdict."""
        rows = []
        for metric, est in zip(METRICS, self.estimates, strict=True):
            ref = [r for r, _ in est.pairs]
            cand = [c for _, c in est.pairs]
            rows.append(
                [
                    f"{metric.name} ({metric.what})",
                    _median_text(ref, metric.unit),
                    _median_text(cand, metric.unit),
                    *_estimate_cells(est),
                    est.verdict,
                ]
            )
        return rows


def _median_text(values: list[float], unit: str) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    mid = len(ordered) // 2
    med = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return f"{med:.4g} {unit}"


def _estimate_cells(est: PairedEstimate) -> list[str]:
    if est.estimate is None:
        return ["n/a", "n/a", "n/a", "n/a"]
    if est.kind == "ratio":
        ival = "n/a" if est.low is None else f"{est.low:.3f} - {est.high:.3f}"
        sign = "+" if est.better == "lower" else "-"
        tol = f"{sign}{est.tolerance:.0%}"
        mde = shown(est.smallest_detectable, ".1%")
        return [f"{est.estimate:.3f}", ival, tol, mde]
    ival = "n/a" if est.low is None else f"{est.low:+.3f} .. {est.high:+.3f}"
    mde = "n/a" if est.smallest_detectable is None else f"{est.smallest_detectable:.3f} {est.unit}"
    return [f"{est.estimate:+.3f} {est.unit}", ival, f"{est.tolerance:g} {est.unit}", mde]


def judge(pairs: list[tuple[GateRun, GateRun]], tolerances: Tolerances) -> list[PairedEstimate]:
    """One estimate per gated metric from recorded ``(reference run, candidate run)`` pairs."""
    estimates = []
    for metric in METRICS:
        values = [(ref.values.get(metric.name), cand.values.get(metric.name)) for ref, cand in pairs]
        estimates.append(
            estimate(
                metric.name,
                values,
                kind=metric.kind,
                better=metric.better,
                tolerance=tolerances.by_metric[metric.name],
                confidence=tolerances.confidence,
                unit=metric.unit,
            )
        )
    return estimates


def run_gate(
    start: Callable[[str], Any],
    stop: Callable[[Any], Any],
    *,
    reference: str,
    candidate: str,
    same_build: bool,
    tolerances: Tolerances,
    blocks: int = 3,
    warmup: int = 1,
    plan: PairPlan | None = None,
    log: Callable[[str], None] = lambda _line: None,
    clock: Callable[[], float] | None = None,
) -> GateResult:
    """Run the gate: ``warmup`` unrecorded pairs, then ``blocks`` blocks of two pairs (A first, then B first).

    Args:
        start: ``start(build)`` starts a fresh, not preheated daemon of ``reference`` or ``candidate`` and
            returns ``(daemon, client)``.
        stop: ``stop(daemon)`` stops that daemon.
        reference: Label of the reference build.
        candidate: Label of the candidate build.
        same_build: Whether the candidate is the reference build.
        tolerances: From :func:`load_tolerances`.
        blocks: Blocks of two pairs (1..20).
        warmup: Unrecorded pairs first (0..5).
        plan: Sample counts of one pair.
        log: Gets one line per run (called on this thread).
        clock: Monotonic clock (tests pass a fake).
    """
    import time

    clock = clock or time.monotonic
    blocks = whole_number("blocks", blocks, low=1, high=20)
    warmup = whole_number("warmup", warmup, low=0, high=5)
    plan = (plan or PairPlan()).checked()
    order = [letter for i, letter in enumerate(abba_order(blocks)) if i % 2 == 0]
    result = GateResult(reference, candidate, same_build, " ".join(order), tolerances=tolerances)
    started = clock()
    for i in range(warmup):
        ref, cand = measure_pair(-1 - i, "reference", start, stop, plan)
        result.warmup_runs += [ref, cand]
        log(f"warm-up {ref.line()}")
        log(f"warm-up {cand.line()}")
    for position, letter in enumerate(order):
        ref, cand = measure_pair(position, BUILDS[letter], start, stop, plan)
        result.pairs.append((ref, cand))
        result.runs += [ref, cand]
        for run in (ref, cand):
            log(run.line() + (f"; problems: {run.problems}" if run.problems else ""))
    result.estimates = judge(result.pairs, tolerances)
    result.wall_s = clock() - started
    return result
