"""Change points of a figure over runs, found by Apache Otava, and the history check built on them.

Otava (the Apache incubator project that grew out of MongoDB's and DataStax's performance CI, "Hunter") finds
change points with E-Divisive means over sliding windows and keeps those a Student's t-test finds
significant (``max_pvalue``) and large enough (``min_magnitude``, relative). It is made for exactly this: a
few dozen results of a performance test, one per merge, noisy, where a step matters and a single outlier
should not. Its defaults are ours: ``max_pvalue`` 0.001, window 50; ``min_magnitude`` 0.05 (a step under 5 %
is not marked).

Which way is worse comes from the figure's key: a time (``...Ms``, ``...Sec``, percentiles ``p50``/``P99``,
``mean``, ``min``, ``max``), a size (``...MB``, ``...KB``, ``...Bytes``), a CPU share (``...Pct``) or a
count of failures (``failed``, ``errors``, ``dropped``...) is worse higher; a rate (``...PerSec``) is worse
lower; any other figure (a count of events received, a flag) changes without a direction: it is marked on
the trend page but never fails the check. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from keywords import checks
from keywords.reporting.run_records import Point, Run, SeriesKey
from keywords.reporting.run_store import HistoryStore

MAX_PVALUE = 0.001
MIN_MAGNITUDE = 0.05
WINDOW = 50
MIN_HISTORY = 5
Direction = Literal["lower", "higher"]

_LOWER_UNITS = re.compile(r"(Ms|Sec|Us|MB|KB|GB|Bytes|Pct|P\d+|Mean|Min|Max|Stddev|Lag|Delay|Latency)$")
_LOWER_WORDS = re.compile(r"^(p\d+|mean|min|max|ms|latency)$")
_FAILURE_WORDS = re.compile(r"(fail|error|drop|lost|gap|duplicate|timeout|leak|malformed|reject)", re.I)
_HIGHER_UNITS = re.compile(r"(PerSec|Throughput|Rps)$")


def better(metric: str) -> Direction | None:
    """Which way the figure ``metric`` improves: ``lower``, ``higher`` or ``None`` (no direction known)."""
    last = metric.rsplit(".", 1)[-1]
    if _HIGHER_UNITS.search(last):
        return "higher"
    if _LOWER_UNITS.search(last) or _LOWER_WORDS.search(last) or _FAILURE_WORDS.search(last):
        return "lower"
    return None


@dataclass(frozen=True)
class ChangePoint:
    """A run where a figure's level changed.

    Attributes:
        index: Position in the series of the first value after the change.
        run_id: The run of that value.
        before: Mean of the values before it (back to the previous change point).
        after: Mean of the values from it (up to the next change point).
        change_pct: Relative step, ``after / before - 1``, in percent (``None`` when ``before`` is 0).
        pvalue: Otava's t-test p-value of the two sides.
        direction: ``worse``, ``better`` or ``changed`` (the figure has no known direction).
    """

    index: int
    run_id: int
    before: float
    after: float
    change_pct: float | None
    pvalue: float
    direction: Literal["worse", "better", "changed"]

    def to_dict(self) -> dict[str, Any]:
        """The change point for the trend page's data."""
        return {
            "index": self.index,
            "runId": self.run_id,
            "before": self.before,
            "after": self.after,
            "changePct": self.change_pct,
            "pvalue": self.pvalue,
            "direction": self.direction,
        }


def find(
    points: Sequence[Point],
    metric: str,
    *,
    max_pvalue: float = MAX_PVALUE,
    min_magnitude: float = MIN_MAGNITUDE,
    window: int = WINDOW,
) -> list[ChangePoint]:
    """The change points of one series (Otava's ``compute_change_points``).

    Args:
        points: The series, oldest first.
        metric: The figure's key (for its direction).
        max_pvalue: Largest p-value of a change point kept.
        min_magnitude: Smallest relative step kept (0.05: 5 %).
        window: Otava's window length (runs).
    """
    if len(points) < 3:
        return []
    from otava.analysis import compute_change_points

    values = [p.value for p in points]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant stretches divide by a zero spread
        found, _weak = compute_change_points(
            values, window_len=window, max_pvalue=max_pvalue, min_magnitude=min_magnitude
        )
    way = better(metric)
    out = []
    for cp in found:
        index = int(cp.index)
        before, after = float(cp.stats.mean_before()), float(cp.stats.mean_after())
        pvalue = float(cp.stats.pvalue)
        if not (0 < index < len(points)) or not math.isfinite(pvalue):
            continue
        change = (after / before - 1) * 100 if before else None
        if way is None or after == before:
            direction = "changed"
        else:
            direction = "worse" if (after > before) == (way == "lower") else "better"
        out.append(ChangePoint(index, points[index].run_id, before, after, change, pvalue, direction))
    return out


@dataclass(frozen=True)
class Regression:
    """A figure whose latest value is a change point for the worse.

    Attributes:
        series: Which figure (kind, scenario, parameters, metric).
        change: The change point (its run is the latest).
        previous_run: The run before it in the series.
        previous_build: That run's daemon build.
        latest_build: The latest run's daemon build.
    """

    series: SeriesKey
    change: ChangePoint
    previous_run: int
    previous_build: str
    latest_build: str

    def line(self) -> str:
        """``smoke · prompt-round-trip · turnP50: 25.1 -> 330.4 (+1216%, p=1e-20) at run #11 ...``."""
        pct = f"{self.change.change_pct:+.0f}%" if self.change.change_pct is not None else "from 0"
        return (
            f"{self.series.label}: {self.change.before:.4g} -> {self.change.after:.4g} ({pct}, "
            f"p={self.change.pvalue:.2g}) at run #{self.change.run_id} ({self.latest_build}), "
            f"after run #{self.previous_run} ({self.previous_build})"
        )


@dataclass
class HistoryCheck:
    """The history check: is the latest run a change point for the worse on any figure?

    Attributes:
        database: The history database's file name.
        latest_run: The run judged (``None`` when the history has no finished run).
        latest_build: Its daemon build.
        runs: Runs in the window judged.
        series: Figures of the latest run with enough history to judge.
        too_short: Figures of the latest run with fewer than ``min_history`` earlier values.
        regressions: Figures whose latest value is a change point for the worse.
        improvements: Figures whose latest value is a change point for the better.
        changes: Figures without a direction whose latest value is a change point.
        max_pvalue: The significance used.
        min_magnitude: The smallest step used (relative).
    """

    database: str
    latest_run: int | None
    latest_build: str
    runs: int
    series: int
    too_short: int
    regressions: list[Regression] = field(default_factory=list)
    improvements: list[Regression] = field(default_factory=list)
    changes: list[Regression] = field(default_factory=list)
    max_pvalue: float = MAX_PVALUE
    min_magnitude: float = MIN_MAGNITUDE

    @property
    def passed(self) -> bool:
        """No figure of the latest run is a change point for the worse."""
        return not self.regressions

    def figures(self) -> dict[str, Any]:
        """Counts of the check (camelCase)."""
        return {
            "latestRun": self.latest_run,
            "runsJudged": self.runs,
            "seriesJudged": self.series,
            "seriesTooShort": self.too_short,
            "regressions": len(self.regressions),
            "improvements": len(self.improvements),
            "undirectedChanges": len(self.changes),
        }

    def line(self) -> str:
        """One line: the run judged, how many figures, how many regressions."""
        if self.latest_run is None:
            return f"history {self.database}: no finished run to judge"
        return (
            f"history check of run #{self.latest_run} ({self.latest_build}) over {self.runs} runs: "
            f"{self.series} figures judged, {len(self.regressions)} worse, {len(self.improvements)} better, "
            f"{len(self.changes)} changed, {self.too_short} with too little history"
        )

    def report(self) -> str:
        """The line, then one line per regression, improvement and undirected change."""
        lines = [self.line()]
        lines += [f"  worse: {r.line()}" for r in self.regressions]
        lines += [f"  better: {r.line()}" for r in self.improvements]
        lines += [f"  changed: {r.line()}" for r in self.changes]
        return "\n".join(lines)


def check(
    store: HistoryStore,
    *,
    last: int = WINDOW,
    max_pvalue: float = MAX_PVALUE,
    min_magnitude: float = MIN_MAGNITUDE,
    min_history: int = MIN_HISTORY,
) -> HistoryCheck:
    """Judge the latest finished run of the history against the ``last`` runs before it.

    Args:
        store: The history.
        last: How many runs (the latest included) the window holds.
        max_pvalue: Largest p-value of a change point.
        min_magnitude: Smallest relative step (0.05: 5 %).
        min_history: Fewest earlier values a figure needs to be judged.

    Raises:
        HarnessConfigError: an option is out of range.
    """
    last = checks.whole_number("last", last, low=2, high=10000)
    max_pvalue = checks.number("max_pvalue", max_pvalue, low=0.0, high=0.5, low_open=True)
    min_magnitude = checks.number("min_magnitude", min_magnitude, low=0.0, high=10.0)
    min_history = checks.whole_number("min_history", min_history, low=2, high=1000)
    runs = [r for r in store.runs() if r.status in ("passed", "failed")][-last:]
    name = store.path.name
    if not runs:
        return HistoryCheck(name, None, "", 0, 0, 0, max_pvalue=max_pvalue, min_magnitude=min_magnitude)
    latest = runs[-1]
    by_id: dict[int, Run] = {r.id: r for r in runs}
    result = HistoryCheck(
        name, latest.id, latest.build, len(runs), 0, 0, max_pvalue=max_pvalue, min_magnitude=min_magnitude
    )
    for key, points in store.series(by_id).items():
        if points[-1].run_id != latest.id:
            continue
        if len(points) - 1 < min_history:
            result.too_short += 1
            continue
        result.series += 1
        for cp in find(points, key.metric, max_pvalue=max_pvalue, min_magnitude=min_magnitude):
            if cp.index != len(points) - 1:
                continue
            previous = points[cp.index - 1].run_id
            found = Regression(key, cp, previous, by_id[previous].build, latest.build)
            {"worse": result.regressions, "better": result.improvements, "changed": result.changes}[
                cp.direction
            ].append(found)
    return result
