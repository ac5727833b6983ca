"""Soak: constant load for a long time, the daemon's resources sampled, and a leak verdict per series.

While a sustained load runs (prompts at a constant rate, or session create + close for the churn variant),
a sampler thread reads every ``interval_s``: the RSS of the daemon and of its agent child (the child's whole
subtree: for the mock, its Node launcher and the Python agent), the daemon's heap and its memory outside the
heap (``/daemon/status`` ``runtime.process.heapUsed`` and ``external``: RSS that grows while the heap stays
flat is told apart), and the daemon's open file descriptors and threads. After the warm-up, each
series gets a linear fit with a 95 % interval on its slope (:mod:`keywords.measure.leak_fit`, over block means)
and a verdict against its bound per hour: ``leak``, ``flat`` or ``inconclusive``. The churn variant also
reports the memory the daemon retains per created session (its RSS slope over the session rate) with its
interval. The sampler thread never logs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import psutil

from keywords import checks
from keywords.errors import HarnessConfigError
from keywords.measure.leak_fit import LinearFit, Verdict, fit_blocks, verdict
from keywords.measure.process_tree import snapshot_tree
from keywords.traffic.client import DaemonClient
from keywords.traffic.open_model import LoadPlan, SustainedLoadResult

Variant = Literal["constant", "churn"]
VARIANTS: tuple[Variant, ...] = ("constant", "churn")
MB = 1024 * 1024
# series name -> (unit, bound kind): memory series are judged in MB per hour, counts in units per hour
SERIES = {
    "daemonRss": ("MB", "memory"),
    "agentRss": ("MB", "memory"),
    "daemonHeap": ("MB", "memory"),
    "daemonExternal": ("MB", "memory"),
    "daemonFds": ("count", "count"),
    "daemonThreads": ("count", "count"),
}
MAX_SAMPLES = 100_000


@dataclass
class SoakPlan:
    """What a soak runs and how it judges.

    Attributes:
        variant: ``constant`` (prompts at a constant rate) or ``churn`` (session create + close).
        duration_s: Length of the load.
        warmup_s: Samples before this are not fitted.
        interval_s: Sampling interval.
        memory_bound_mb_per_hour: A memory series leaks when its whole slope interval lies above this.
        count_bound_per_hour: A descriptor or thread series leaks when its whole interval lies above this.
        blocks: Spans of time whose means are fitted (see :mod:`keywords.measure.leak_fit`).
        load: The load's plan (its ``kind`` follows the variant, its ``duration_s`` the soak's).
    """

    variant: Variant = "constant"
    duration_s: float | timedelta = 600.0
    warmup_s: float | timedelta = 60.0
    interval_s: float | timedelta = 2.0
    memory_bound_mb_per_hour: float = 50.0
    count_bound_per_hour: float = 60.0
    blocks: int = 12
    load: LoadPlan = field(default_factory=LoadPlan)

    def validate(self) -> SoakPlan:
        """Check every field and return the plan (the load plan too).

        Raises:
            HarnessConfigError: naming the first bad field, its range and the value given.
        """
        from dataclasses import replace

        self.variant = checks.choice("variant", self.variant, VARIANTS)
        self.duration_s = checks.seconds("duration", self.duration_s, high=24 * 3600)
        self.warmup_s = checks.seconds("warm_up", self.warmup_s, high=self.duration_s / 2, allow_zero=True)
        self.interval_s = checks.seconds("interval", self.interval_s, high=60)
        self.memory_bound_mb_per_hour = checks.number(
            "memory bound", self.memory_bound_mb_per_hour, high=1_000_000, unit="MB per hour"
        )
        self.count_bound_per_hour = checks.number(
            "count bound", self.count_bound_per_hour, high=1_000_000, unit="per hour"
        )
        self.blocks = checks.whole_number("blocks", self.blocks, low=3, high=1000)
        fitted = (self.duration_s - self.warmup_s) / self.interval_s
        if fitted < 3:
            raise HarnessConfigError(
                f"A soak of {self.duration_s:g} s with {self.warmup_s:g} s of warm-up and a sample every "
                f"{self.interval_s:g} s leaves {fitted:.0f} samples to fit; it needs at least 3."
            )
        kind = "prompt" if self.variant == "constant" else "lifecycle"
        self.load = replace(self.load, kind=kind, duration_s=self.duration_s).validate()
        return self

    def bound_of(self, series: str) -> float:
        """The bound per hour of a series."""
        return self.memory_bound_mb_per_hour if SERIES[series][1] == "memory" else self.count_bound_per_hour

    def parameters(self) -> dict[str, Any]:
        """The soak's inputs as scenario parameters."""
        return {
            "variant": self.variant,
            "durationSec": self.duration_s,
            "warmUpSec": self.warmup_s,
            "intervalSec": self.interval_s,
            "memoryBoundMBPerHour": self.memory_bound_mb_per_hour,
            "countBoundPerHour": self.count_bound_per_hour,
            "blocks": self.blocks,
            **self.load.parameters(),
        }


@dataclass(frozen=True)
class SoakSample:
    """One reading of the daemon's resources.

    Attributes:
        t_s: Seconds since the sampler started (monotonic clock).
        values: Series name (:data:`SERIES`) -> value (``None``: could not be read this time).
    """

    t_s: float
    values: dict[str, float | None]


@dataclass(frozen=True)
class SeriesTrend:
    """One series after the warm-up: its fit and its verdict.

    Attributes:
        name: Series name (``daemonRss``...).
        unit: ``MB`` or ``count``.
        samples: Samples fitted.
        first: Mean of the first fitted block.
        last: Mean of the last fitted block.
        slope_per_hour: Fitted slope, units per hour.
        low_per_hour: Lower end of its 95 % interval.
        high_per_hour: Upper end of its 95 % interval.
        bound_per_hour: The bound the verdict compares with.
        verdict: ``leak``, ``flat`` or ``inconclusive`` (``None``: too few samples to fit).
        fit: The fit over time in seconds (``None`` without one).
    """

    name: str
    unit: str
    samples: int
    first: float | None
    last: float | None
    slope_per_hour: float | None
    low_per_hour: float | None
    high_per_hour: float | None
    bound_per_hour: float
    verdict: Verdict | None
    fit: LinearFit | None

    def figures(self) -> dict[str, Any]:
        """The series' figures with its unit in the keys (``slopeMBPerHour`` or ``slopePerHour``)."""
        unit = "MB" if self.unit == "MB" else ""
        return {
            "series": self.name,
            "samples": self.samples,
            f"first{unit}": _r(self.first),
            f"last{unit}": _r(self.last),
            f"slope{unit}PerHour": _r(self.slope_per_hour),
            f"slopeLow{unit}PerHour": _r(self.low_per_hour),
            f"slopeHigh{unit}PerHour": _r(self.high_per_hour),
            f"bound{unit}PerHour": self.bound_per_hour,
            "verdict": self.verdict,
        }

    def line(self) -> str:
        """``daemonRss leak: +812 MB/h [640, 984] (bound 50)``."""
        if self.verdict is None:
            return f"{self.name}: not enough samples"
        unit = "MB/h" if self.unit == "MB" else "/h"
        return (
            f"{self.name} {self.verdict}: {self.slope_per_hour:+.1f} {unit} "
            f"[{self.low_per_hour:.1f}, {self.high_per_hour:.1f}] (bound {self.bound_per_hour:g})"
        )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class SoakResult:
    """What a soak measured and concluded.

    Attributes:
        plan: The soak's plan.
        samples: Every sample, in order.
        trends: One :class:`SeriesTrend` per series.
        load: The load that ran during the soak.
        retained_kb_per_session: Churn only: the daemon's RSS slope per created session, KB, with its 95 %
            interval as ``(estimate, low, high)`` (``None`` for the constant variant or without a fit).
        load_started_s: When the load's schedule began, seconds on the samples' clock.
    """

    plan: SoakPlan
    samples: list[SoakSample] = field(default_factory=list)
    trends: list[SeriesTrend] = field(default_factory=list)
    load: SustainedLoadResult | None = None
    retained_kb_per_session: tuple[float, float, float] | None = None
    load_started_s: float = 0.0

    def trend(self, name: str) -> SeriesTrend:
        """The trend of one series by name."""
        for trend in self.trends:
            if trend.name == name:
                return trend
        raise KeyError(name)

    @property
    def verdicts(self) -> dict[str, Verdict | None]:
        """Series name -> verdict."""
        return {t.name: t.verdict for t in self.trends}

    def points(self, name: str) -> tuple[list[float], list[float]]:
        """``(times in s, values)`` of one series (samples where it was read)."""
        pairs = [(s.t_s, s.values.get(name)) for s in self.samples if s.values.get(name) is not None]
        return [t for t, _ in pairs], [v for _, v in pairs]

    def figures(self) -> dict[str, Any]:
        """``samples``, ``series`` (one row of figures per series), ``verdicts`` (series -> verdict), the
        churn's ``retainedKBPerSession`` with ``retainedLowKBPerSession``/``retainedHighKBPerSession``, and the
        load's key figures (``loadCompleted``, ``loadErrorCount``, ``loadAchievedRatePerSec``)."""
        retained = self.retained_kb_per_session
        load = self.load
        return {
            "samples": len(self.samples),
            "series": [t.figures() for t in self.trends],
            "verdicts": dict(self.verdicts),
            "retainedKBPerSession": _r(retained[0]) if retained else None,
            "retainedLowKBPerSession": _r(retained[1]) if retained else None,
            "retainedHighKBPerSession": _r(retained[2]) if retained else None,
            "loadCompleted": load.completed if load else None,
            "loadErrorCount": load.error_count if load else None,
            "loadAchievedRatePerSec": load.achieved_rate if load else None,
        }

    def line(self) -> str:
        """Every series' verdict with its interval (and the churn's retained memory per session)."""
        parts = [t.line() for t in self.trends]
        if self.retained_kb_per_session:
            est, low, high = self.retained_kb_per_session
            parts.append(f"retained {est:.1f} KB/session [{low:.1f}, {high:.1f}]")
        return " | ".join(parts)


class SoakSampler:
    """Reads the daemon's resources every ``interval_s`` in a background thread (never logs).

    Args:
        base_url: The daemon's URL (the sampler has its own client).
        token: Bearer token, if any.
        daemon_pid: The daemon's process id.
        interval_s: Sampling interval.
        clock: Monotonic clock.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        daemon_pid: int,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = DaemonClient(base_url, token, timeout_s=5.0)
        self.daemon_pid = daemon_pid
        self.interval_s = interval_s
        self.clock = clock
        self.samples: list[SoakSample] = []
        self.started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> dict[str, float | None]:
        """One reading of every series (a series that cannot be read this time is ``None``)."""
        values: dict[str, float | None] = dict.fromkeys(SERIES)
        with contextlib.suppress(psutil.Error, OSError):
            proc = psutil.Process(self.daemon_pid)
            values["daemonRss"] = proc.memory_info().rss / MB
            values["daemonFds"] = float(proc.num_fds())
            values["daemonThreads"] = float(proc.num_threads())
        with contextlib.suppress(psutil.Error, OSError):
            tree = snapshot_tree(self.daemon_pid)
            if tree.agent_pids:
                values["agentRss"] = tree.agents_rss_mb + tree.descendants_rss_mb
        with contextlib.suppress(Exception):
            process = self.client.daemon_status().get("runtime", {}).get("process", {})
            if isinstance(process.get("heapUsed"), (int, float)):
                values["daemonHeap"] = process["heapUsed"] / MB
            if isinstance(process.get("external"), (int, float)):
                values["daemonExternal"] = process["external"] / MB  # Buffers and other memory outside the heap
        return values

    def start(self) -> SoakSampler:
        """Take the first sample now and go on in a background thread."""
        self.started = self.clock()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        values = self.read()
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(SoakSample(round(self.clock() - self.started, 3), values))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def stop(self) -> list[SoakSample]:
        """Stop sampling (bounded wait) and return the samples."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 10.0)
        self.client.close()
        return list(self.samples)


def judge(
    plan: SoakPlan, samples: list[SoakSample], load: SustainedLoadResult | None, load_started_s: float
) -> SoakResult:
    """Fit every series after the warm-up and give each its verdict (and the churn's retained memory)."""
    result = SoakResult(plan=plan, samples=samples, load=load, load_started_s=load_started_s)
    cut = load_started_s + plan.warmup_s
    for name, (unit, _kind) in SERIES.items():
        times, values = result.points(name)
        kept = [(t, v) for t, v in zip(times, values, strict=True) if t >= cut]
        bound = plan.bound_of(name)
        if len(kept) < 3 or len({t for t, _ in kept}) < 2:
            result.trends.append(SeriesTrend(name, unit, len(kept), None, None, None, None, None, bound, None, None))
            continue
        xs, ys = [t for t, _ in kept], [v for _, v in kept]
        fit = fit_blocks(xs, ys, plan.blocks)
        slope, low, high = fit.scaled(3600.0)
        result.trends.append(
            SeriesTrend(
                name,
                unit,
                len(kept),
                fit.at(xs[0]),
                fit.at(xs[-1]),
                slope,
                low,
                high,
                bound,
                verdict(low, high, bound),
                fit,
            )
        )
        if name == "daemonRss" and plan.variant == "churn" and load is not None and load.achieved_rate > 0:
            per_session = 1024.0 / load.achieved_rate  # MB/s over sessions/s, in KB
            est, lo, hi = fit.scaled(per_session)
            result.retained_kb_per_session = (est, lo, hi)
    return result


def run_soak(
    plan: SoakPlan,
    sampler: SoakSampler,
    run_load: Callable[[LoadPlan], SustainedLoadResult],
) -> SoakResult:
    """Start sampling, run the load for the soak's duration, stop sampling, and judge every series.

    Args:
        plan: The soak (validated here).
        sampler: A sampler of the daemon (started and stopped here).
        run_load: Runs the load plan (in this thread) and returns its result.
    """
    plan.validate()
    sampler.start()
    load_started = 0.0
    try:
        load_started = sampler.clock() - sampler.started
        load = run_load(plan.load)
    finally:
        samples = sampler.stop()
    return judge(plan, samples, load, load_started)
