"""Upstream's first-output benchmark, paired: control and candidate runs in AB/BA pairs, one verdict per stage.

A *pair* is one run of each build (:func:`keywords.measure.first_output_run.measure_run`), one after the other:
``AB`` runs the control first, ``BA`` the candidate first, alternating pair by pair in the order of
:func:`keywords.measure.ab.abba_order`; unrecorded warm-up pairs come first. Each stage is then compared
candidate - control as a paired *difference* in ms by the shared engine (:func:`keywords.measure.paired_ratio.
estimate`, Student-t interval), with upstream's material threshold (10 ms) as the tolerance: a stage is
*regressed* when the whole interval lies above +10 ms, *improved* when it lies below -10 ms. The confidence of
each interval is set so that the 14 hold together with 95 % confidence (Bonferroni): 14 verdicts at 95 % each
would call a control compared with itself regressed on some stage far more often than one run in 40.

A Student-t interval alone trusts the spread of few pairs, and the stages spread over hundreds of ms from run to
run (prompt to provider request: 311 to 540 ms in one run of 20 at a dwell of 500 ms): two pairs that agree by
chance then give a narrow interval, and the build compared with itself was called regressed. So a verdict
needs the exact sign test too (:mod:`keywords.measure.sign_test`): more pairs beyond the threshold than chance
allows at the stage's confidence. With 14 stages at 95 % together that takes at least 10 pairs (upstream runs
30, 30 and 10); with fewer a stage is reported with its interval and ``too few pairs``, never a verdict.

Upstream's order-sensitivity check comes on top: the median difference of the AB pairs and that of the BA pairs
have opposite signs and one of them is at least the threshold in size. Then which build ran first decides
the result more than the build does, and the stage gets no verdict (``order-sensitive``).

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keywords.checks import choice, whole_number
from keywords.fakes.provider import FakeProvider
from keywords.measure.ab import abba_order
from keywords.measure.first_output_run import STAGES, FirstOutputRun, RunPlan, Stage, measure_run
from keywords.measure.metrics import exact_median
from keywords.measure.paired_ratio import PairedEstimate, estimate
from keywords.measure.sign_test import SignTest, fewest_pairs, sign_test
from keywords.reporting.figures import field_figures

MATERIAL_MS = 10.0
# The 14 intervals hold together with this confidence (Bonferroni): a control compared with itself is called
# regressed on some stage by chance at most (1 - FAMILY_CONFIDENCE) / 2 of the time, however many stages.
FAMILY_CONFIDENCE = 0.95
STAGE_CONFIDENCE = 1 - (1 - FAMILY_CONFIDENCE) / len(STAGES)
# One side of a stage's two-sided confidence: the sign test's level, and the fewest pairs that can reach it.
STAGE_ALPHA = (1 - STAGE_CONFIDENCE) / 2
VERDICT_PAIRS = fewest_pairs(STAGE_ALPHA)
DWELLS_MS = ("0", "100", "500")
ORDERS = {"A": "AB", "B": "BA"}
METHOD = (
    "one fresh daemon process per run (real agent child, fake provider in the harness process); control and "
    "candidate runs one after the other in AB/BA pairs after unrecorded warm-up pairs; every stamp on the "
    "harness's monotonic clock (the listening line polled every 10 ms; the daemon's queue wait is its own "
    "whole-ms figure); per stage candidate - control as a paired difference with a Student-t interval against "
    "the 10 ms material threshold, the 14 intervals together at 95 % confidence (Bonferroni), a verdict "
    "also needing the exact sign test of the pairs beyond the threshold at the same level; order "
    "sensitivity = AB and BA median differences of opposite sign, one at least the threshold; medians exact "
    "(middle value, or mean of the two middle ones)"
)


@dataclass(frozen=True)
class OrderSensitivity:
    """Upstream's order check of one stage: do the AB pairs and the BA pairs disagree materially?

    Attributes:
        ab_pairs: AB pairs (control first) with both values.
        ba_pairs: BA pairs (candidate first) with both values.
        ab_median_delta_ms: Median candidate - control of the AB pairs (``None`` without any).
        ba_median_delta_ms: Median candidate - control of the BA pairs.
        threshold_ms: The size one of the medians must reach.
        sensitive: The medians have opposite signs and one is at least the threshold in size.
    """

    ab_pairs: int
    ba_pairs: int
    ab_median_delta_ms: float | None
    ba_median_delta_ms: float | None
    threshold_ms: float
    sensitive: bool

    def figures(self) -> dict[str, Any]:
        """Snapshot form (camelCase)."""
        return {
            **field_figures(self, "ab_pairs", "ba_pairs"),
            **field_figures(self, "ab_median_delta_ms", "ba_median_delta_ms", digits=3),
            "sensitive": self.sensitive,
        }


def order_sensitivity(deltas: Sequence[tuple[str, float]], threshold_ms: float = MATERIAL_MS) -> OrderSensitivity:
    """Upstream's rule on ``(order, candidate - control)`` per pair, ``order`` being ``AB`` or ``BA`` (medians of
    signed differences: :func:`keywords.measure.metrics.exact_median`)."""
    ab = [d for order, d in deltas if order == "AB"]
    ba = [d for order, d in deltas if order == "BA"]
    ab_med, ba_med = exact_median(ab), exact_median(ba)
    sensitive = (
        ab_med is not None
        and ba_med is not None
        and ab_med * ba_med < 0
        and max(abs(ab_med), abs(ba_med)) >= threshold_ms
    )
    return OrderSensitivity(len(ab), len(ba), ab_med, ba_med, threshold_ms, sensitive)


@dataclass
class FirstOutputPair:
    """One recorded (or warm-up) pair.

    Attributes:
        pair: 1-based number (0 for a warm-up pair).
        order: ``AB`` (control first) or ``BA`` (candidate first).
        control: The control build's run.
        candidate: The candidate build's run.
    """

    pair: int
    order: str
    control: FirstOutputRun
    candidate: FirstOutputRun


@dataclass(frozen=True)
class StageComparison:
    """One stage, candidate against control.

    Attributes:
        stage: The stage (name, stamps, whether it is signed and required).
        control_median_ms: Median of the control runs (exact, like every median here: two stages are signed and
            the rows of one table must agree).
        candidate_median_ms: Median of the candidate runs.
        difference: Candidate - control, paired, with its interval and verdict (the shared engine).
        order: Upstream's order-sensitivity check.
        slower: Sign test of the pairs above +threshold (candidate slower).
        faster: Sign test of the pairs below -threshold (candidate faster).
    """

    stage: Stage
    control_median_ms: float | None
    candidate_median_ms: float | None
    difference: PairedEstimate
    order: OrderSensitivity
    slower: SignTest
    faster: SignTest

    @property
    def decision(self) -> str:
        """``regressed`` or ``improved`` (interval and sign test agree), ``unconfirmed`` (the interval lies
        beyond the threshold, the sign test does not confirm it), ``no material change``, ``order-sensitive``,
        ``too few pairs`` (fewer than the sign test needs for any verdict) or ``not measured``."""
        est = self.difference
        if est.low is None or est.high is None:
            return "not measured"
        if self.order.sensitive:
            return "order-sensitive"
        if self.slower.too_few_pairs:
            return "too few pairs"
        if est.verdict == "fail":
            return "regressed" if self.slower.significant else "unconfirmed"
        if est.high < -est.tolerance:
            return "improved" if self.faster.significant else "unconfirmed"
        return "no material change"

    def figures(self) -> dict[str, Any]:
        """Snapshot form (camelCase)."""
        return {
            **field_figures(self, "control_median_ms", "candidate_median_ms", digits=3),
            "difference": self.difference.figures(),
            "orderSensitivity": self.order.figures(),
            "signTest": {"slower": self.slower.figures(), "faster": self.faster.figures()},
            "decision": self.decision,
        }

    def cells(self) -> list[str]:
        """Table cells: stage, control median, candidate median, difference with interval, pairs beyond the
        threshold either way (sign test), AB/BA medians, decision."""
        est = self.difference
        if est.estimate is None:
            diff = "n/a"
        elif est.low is None:
            diff = f"{est.estimate:+.1f} ms (1 pair, no interval)"
        else:
            diff = f"{est.estimate:+.1f} ms ({est.low:+.1f} .. {est.high:+.1f})"
        orders = f"{_text(self.order.ab_median_delta_ms, '+')} / {_text(self.order.ba_median_delta_ms, '+')}"
        signs = (
            f"{self.slower.beyond} above, {self.faster.beyond} below of {self.slower.pairs} "
            f"(p {self.slower.p_value:.2g} / {self.faster.p_value:.2g})"
        )
        return [
            f"{self.stage.name} ({self.stage.what})",
            _text(self.control_median_ms),
            _text(self.candidate_median_ms),
            diff,
            signs,
            orders,
            self.decision,
        ]


def _text(value: float | None, sign: str = "") -> str:
    return "n/a" if value is None else f"{value:{sign}.1f} ms"


def compare(
    pairs: Sequence[FirstOutputPair], threshold_ms: float = MATERIAL_MS, confidence: float = STAGE_CONFIDENCE
) -> list[StageComparison]:
    """One comparison per stage from the recorded pairs (a run that did not measure a stage leaves its pair out)."""
    out = []
    for stage in STAGES:
        values = [(p.control.stages.get(stage.name), p.candidate.stages.get(stage.name)) for p in pairs]
        deltas = [
            (p.order, cand - ctrl)
            for p, (ctrl, cand) in zip(pairs, values, strict=True)
            if ctrl is not None and cand is not None
        ]
        alpha = (1 - confidence) / 2
        differences = [d for _, d in deltas]
        est = estimate(
            stage.name,
            values,
            kind="difference",
            better="lower",
            tolerance=threshold_ms,
            confidence=confidence,
            unit="ms",
        )
        out.append(
            StageComparison(
                stage,
                exact_median([c for c, _ in values if c is not None]),
                exact_median([k for _, k in values if k is not None]),
                est,
                order_sensitivity(deltas, threshold_ms),
                sign_test(differences, threshold=threshold_ms, side="above", alpha=alpha),
                sign_test(differences, threshold=threshold_ms, side="below", alpha=alpha),
            )
        )
    return out


@dataclass
class FirstOutputResult:
    """The first-output benchmark at one dwell: every run, and per stage the comparison of the two builds.

    Attributes:
        dwell_ms: Pause between the open event stream and the prompt (0, 100 or 500 ms).
        control: Label of the control build.
        candidate: Label of the candidate build.
        same_build: The candidate is the control build (the run is the benchmark's false-alarm check).
        pairs: The recorded pairs, in run order.
        warmup_pairs: The unrecorded warm-up pairs.
        stages: One comparison per stage, in upstream's order.
        wall_s: Wall time of the whole benchmark.
        method: How the figures were measured.
    """

    dwell_ms: int
    control: str
    candidate: str
    same_build: bool
    pairs: list[FirstOutputPair] = field(default_factory=list)
    warmup_pairs: list[FirstOutputPair] = field(default_factory=list)
    stages: list[StageComparison] = field(default_factory=list)
    wall_s: float = 0.0
    method: str = METHOD

    @property
    def runs(self) -> list[FirstOutputRun]:
        """The recorded runs in run order."""
        return [run for p in self.pairs for run in _in_order(p)]

    @property
    def order(self) -> str:
        """The recorded pairs' orders, e.g. ``AB BA``."""
        return " ".join(p.order for p in self.pairs)

    @property
    def regressed(self) -> list[StageComparison]:
        """Stages on which the candidate is slower than the threshold with confidence."""
        return [s for s in self.stages if s.decision == "regressed"]

    @property
    def improved(self) -> list[StageComparison]:
        """Stages on which the candidate is faster than the threshold with confidence."""
        return [s for s in self.stages if s.decision == "improved"]

    @property
    def order_sensitive(self) -> list[StageComparison]:
        """Stages whose AB and BA pairs disagree materially."""
        return [s for s in self.stages if s.order.sensitive]

    @property
    def missing(self) -> list[str]:
        """Every required stage a recorded run did not measure, with the run and the reason."""
        return [
            f"{stage.name} in pair {run.pair} ({run.build}): {run.missing.get(stage.name, 'not measured')}"
            for run in self.runs
            for stage in STAGES
            if stage.required and run.stages.get(stage.name) is None
        ]

    @property
    def problems(self) -> list[str]:
        """What went wrong in recorded runs, with the run named."""
        return [f"pair {run.pair} ({run.build}): {p}" for run in self.runs for p in run.problems]

    def decided(self, decision: str) -> list[StageComparison]:
        """The stages with this decision (see :attr:`StageComparison.decision`), e.g. ``unconfirmed`` or
        ``too few pairs``."""
        return [s for s in self.stages if s.decision == decision]

    def stage(self, name: str) -> StageComparison:
        """The comparison of one stage by name (``KeyError`` for an unknown one)."""
        for comparison in self.stages:
            if comparison.stage.name == name:
                return comparison
        raise KeyError(name)

    def line(self) -> str:
        """One line of key figures for the test message."""
        who = "control is the candidate" if self.same_build else "candidate vs control"
        parts = [f"first output, dwell {self.dwell_ms} ms, {len(self.pairs)} pairs ({self.order}), {who}"]
        by_name = {s.stage.name: s for s in self.stages}
        for name, label in (
            ("promptToProviderRequestArrivalMs", "prompt to provider"),
            ("promptToFirstModelOutputMs", "prompt to first output"),
            ("processToFirstModelOutputMs", "spawn to first output"),
        ):
            if name in by_name:
                s = by_name[name]
                parts.append(f"{label} {_text(s.control_median_ms)} / {_text(s.candidate_median_ms)} ({s.cells()[3]})")
        for label, found in (
            ("regressed", self.regressed),
            ("improved", self.improved),
            ("unconfirmed", self.decided("unconfirmed")),
            ("order-sensitive", self.order_sensitive),
        ):
            parts.append(f"{label}: {', '.join(s.stage.name for s in found) or 'none'}")
        if without := self.decided("too few pairs"):
            parts.append(
                f"no verdict on {len(without)} stage(s): {len(self.pairs)} pairs, a verdict needs at "
                f"least {VERDICT_PAIRS}"
            )
        parts.append(f"stages missing in runs: {len(self.missing)}")
        return " · ".join(parts)

    def figures(self) -> dict[str, Any]:
        """Snapshot form (camelCase): per stage its comparison, and every recorded run."""
        return {
            **field_figures(self, "control", "candidate", "same_build"),
            "pairs": len(self.pairs),
            "order": self.order,
            "warmupPairs": len(self.warmup_pairs),
            "stages": {s.stage.name: s.figures() for s in self.stages},
            "regressed": [s.stage.name for s in self.regressed],
            "improved": [s.stage.name for s in self.improved],
            "unconfirmed": [s.stage.name for s in self.decided("unconfirmed")],
            "orderSensitive": [s.stage.name for s in self.order_sensitive],
            "withoutVerdict": [s.stage.name for s in self.decided("too few pairs")],
            "verdictPairs": VERDICT_PAIRS,
            "missing": self.missing,
            "runs": [run.figures() for run in self.runs],
            "wallSec": round(self.wall_s, 1),
            "method": self.method,
        }

    def table_rows(self) -> list[list[str]]:
        """Rows of the log table (see :meth:`StageComparison.cells`)."""
        return [s.cells() for s in self.stages]


def _in_order(pair: FirstOutputPair) -> tuple[FirstOutputRun, FirstOutputRun]:
    return (pair.control, pair.candidate) if pair.order == "AB" else (pair.candidate, pair.control)


def pair_orders(pairs: int) -> list[str]:
    """``AB``/``BA`` of each pair, alternating as the first build of each :func:`abba_order` half-block."""
    blocks = math.ceil(pairs / 2)
    return [ORDERS[letter] for i, letter in enumerate(abba_order(blocks)) if i % 2 == 0][:pairs]


def run_benchmark(
    start: Callable[[str], Any],
    stop: Callable[[Any], Any],
    provider: FakeProvider,
    *,
    dwell_ms: int,
    pairs: int = VERDICT_PAIRS,
    warmup: int = 1,
    timeout_s: float = 60.0,
    control: str = "control",
    candidate: str = "candidate",
    same_build: bool = False,
    threshold_ms: float = MATERIAL_MS,
    log: Callable[[str], None] = lambda _line: None,
    clock: Callable[[], float] = time.monotonic,
) -> FirstOutputResult:
    """Run ``warmup`` unrecorded pairs, then ``pairs`` recorded AB/BA pairs, and compare every stage.

    Args:
        start: ``start(build)`` for ``control`` or ``candidate``: a fresh daemon with its real agent child
            against ``provider``, not preheated; returns ``(daemon, client)``.
        stop: ``stop(daemon)``.
        provider: The fake provider (its fixed time to first token and reply apply to every run).
        dwell_ms: 0, 100 or 500: pause between the open event stream and the prompt.
        pairs: Recorded pairs (2..50; upstream uses 30, 30 and 10 for the three dwells; fewer than
            :data:`VERDICT_PAIRS` measure every stage but give no verdict).
        warmup: Unrecorded pairs first (0..5).
        timeout_s: Bound on each wait of a run.
        control: Label of the control build.
        candidate: Label of the candidate build.
        same_build: Whether the candidate is the control build.
        threshold_ms: Material threshold (tolerance of every stage, and of the order check).
        log: Gets one line per run (called on this thread).
        clock: Monotonic clock of the wall time (tests pass a fake).

    Raises:
        HarnessConfigError: a count, the dwell or the timeout is out of range (before any process starts).
    """
    dwell = int(choice("dwell (ms)", str(whole_number("dwell", dwell_ms, low=0, high=500)), DWELLS_MS))
    pairs = whole_number("pairs", pairs, low=2, high=50)
    warmup = whole_number("warmup", warmup, low=0, high=5)
    plan = RunPlan(dwell_s=dwell / 1000, timeout_s=timeout_s).checked()
    result = FirstOutputResult(dwell, control, candidate, same_build)
    began = clock()

    def one_pair(number: int, order: str, is_warmup: bool) -> FirstOutputPair:
        runs = {}
        for build in ("control", "candidate") if order == "AB" else ("candidate", "control"):
            run = measure_run(start, stop, provider, plan, build=build, pair=number, order=order, warmup=is_warmup)
            runs[build] = run
            log(run.line())
        return FirstOutputPair(number, order, runs["control"], runs["candidate"])

    for i in range(warmup):
        result.warmup_pairs.append(one_pair(0, "AB" if i % 2 == 0 else "BA", True))
    for number, order in enumerate(pair_orders(pairs), start=1):
        result.pairs.append(one_pair(number, order, False))
    result.stages = compare(result.pairs, threshold_ms)
    result.wall_s = clock() - began
    return result
