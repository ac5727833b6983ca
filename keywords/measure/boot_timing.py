"""C2: daemon boot to the first session, per iteration, with the last boot's resource profile.

Each iteration starts a fresh daemon (not preheated, so the agent child's start is inside the figure), times
spawn -> listening line -> first ``thread`` session on the monotonic clock, and stops it. The last iteration
is profiled over its whole life (boot, first session, stop) from the process tree, and exactly through this
process's ``RUSAGE_CHILDREN`` (the daemon is reaped here, its agent child by the daemon).

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keywords.checks import whole_number
from keywords.measure import metrics
from keywords.measure.bench_common import Log, Target, quiet
from keywords.measure.counters import counter_figures, rusage_delta
from keywords.measure.resource_profile import ResourceProfile
from keywords.measure.rss_sampler import RssSampler

MAX_BOOTS = 100
SAMPLE_MS = 100
METHOD = (
    "monotonic clock from just before spawn (daemon not preheated) to the first POST /session answer; "
    f"resources: psutil process-tree readings (VmHWM, /proc stat counters) every {SAMPLE_MS} ms over boot + "
    "first session + stop"
)


@dataclass
class BootSeries:
    """Daemon boot to the first session, per iteration.

    Attributes:
        latency: Spawn to the first ``POST /session`` answer (ms).
        listen: Spawn to the listening line (ms).
        first_session: Listening line to the first session's answer (ms; includes the agent child's start).
        profile: Resource profile of the last iteration's whole tree, from spawn through stop (sampled;
            ``None`` when the sampler took no sample).
        rusage: Exact counters of the last daemon's lifetime (``RUSAGE_CHILDREN`` delta around it; the agent
            children it reaped included); its ``max_rss_mb`` is not a delta and is left out.
        peak_tree_mb: Peak whole-tree RSS of the last iteration (sampled every 100 ms; ``None`` without a
            sample).
    """

    latency: metrics.LatencySummary
    listen: metrics.LatencySummary
    first_session: metrics.LatencySummary
    profile: ResourceProfile | None
    rusage: dict[str, Any]
    peak_tree_mb: float | None

    def figures(self) -> dict[str, Any]:
        """The three spans (percentiles, ms), the last boot's profile, exact counters and peak tree RSS."""
        return {
            "bootToFirstSessionMs": self.latency.to_dict(),
            "spawnToListenMs": self.listen.to_dict(),
            "listenToFirstSessionMs": self.first_session.to_dict(),
            "resourceProfile": self.profile.figures() if self.profile else None,
            "rusageExact": counter_figures(self.rusage),
            "peakTreeRssMB": self.peak_tree_mb,
        }

    def line(self) -> str:
        """``boot to first session p50 … · listening after p50 … ms``."""
        return f"boot to first session {self.latency.line()} · listening after {self.listen.line()}"

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form: the figures and how they were measured."""
        return {**self.figures(), "method": METHOD}


def measure_boot_to_first_session(
    start: Callable[[], Any],
    stop: Callable[[], Any],
    target: Target,
    *,
    iterations: int = 5,
    log: Log = quiet,
) -> BootSeries:
    """Start a daemon ``iterations`` times and time spawn -> listening line -> first ``thread`` session.

    Args:
        start: Starts a fresh daemon (not preheated) and returns it (a ``Daemon``: ``pid``, ``boot_s``,
            ``tree``); ``target`` then returns it.
        stop: Stops that daemon.
        target: The running daemon just started.
        iterations: Boots to measure (1..100).
        log: Gets one line per boot.

    Raises:
        HarnessConfigError: ``iterations`` out of range (before the first start).
    """
    iterations = whole_number("iterations", iterations, low=1, high=MAX_BOOTS)
    total, listen, first = [], [], []
    profile, rusage, peak = None, {}, None
    for i in range(iterations):
        last = i == iterations - 1
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        daemon = start()
        sampler = RssSampler(daemon.pid, marked=daemon.tree, interval_ms=SAMPLE_MS).start() if last else None
        try:
            target().client.create_session("thread")
            done = time.monotonic()
        finally:
            stop()  # the profile covers the stop too
            samples = sampler.stop() if sampler is not None else None
        total.append((done - started) * 1000)
        listen.append(daemon.boot_s * 1000)
        first.append((done - started - daemon.boot_s) * 1000)
        if samples is not None:
            if samples.sample_count:
                profile, peak = samples.profile, samples.peak_tree_mb
            rusage = rusage_delta(before, resource.getrusage(resource.RUSAGE_CHILDREN))
        log(f"boot {i + 1}: listen {listen[-1]:.0f} ms, first session {total[-1]:.0f} ms after spawn")
    return BootSeries(
        latency=metrics.summarize(total, "boot to first session"),
        listen=metrics.summarize(listen, "spawn to listen"),
        first_session=metrics.summarize(first, "listen to first session"),
        profile=profile,
        rusage=rusage,
        peak_tree_mb=peak,
    )
