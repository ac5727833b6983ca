"""B1: the daemon's RSS sampled while 1, 5 and 10 sessions are open (upstream's ``rssScaling``).

At each session count the tree is sampled for a fixed time by an :class:`~keywords.measure.rss_sampler.RssSampler`
(the daemon alone, as upstream, and the whole tree with the agent child); each sampling is a window with its
start on the monotonic clock, so the windows can be drawn on one time axis. Growth per session is
``(peak at the last count - peak at the first) / (last count - first count)``.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from keywords.measure.process_tree import TreeSnapshot
from keywords.measure.resource_profile import ResourceProfile
from keywords.measure.rss_sampler import RssSampler, RssSamples
from keywords.measure.session_steps import plural
from keywords.reporting.figures import shown


@dataclass(frozen=True)
class RssWindow:
    """One sampling window.

    Attributes:
        start_s: When the sampling began (monotonic clock, s).
        sessions: Sessions open (opens counted: with scope ``single`` they are attaches to one session).
        samples: What the sampler collected.
    """

    start_s: float
    sessions: int
    samples: RssSamples


@dataclass
class RssTimeline:
    """Sampling windows merged on one time axis (for a plot).

    Attributes:
        times_s: Seconds since the first window began, one per sample.
        daemon_mb: The daemon's RSS per sample (MB).
        tree_mb: The whole tree's RSS per sample (MB).
        markers: ``(time s, label)`` where each window begins (its session count).
    """

    times_s: list[float] = field(default_factory=list)
    daemon_mb: list[float] = field(default_factory=list)
    tree_mb: list[float] = field(default_factory=list)
    markers: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class RssScaling:
    """RSS sampled at growing session counts, with the tree and its profile at the end.

    Attributes:
        scope: ``sessionScope`` of the opens (``single``: attaches, as upstream; ``thread``: distinct sessions).
        windows: One window per session count, in order.
        tree: The tree read after the last window (``None`` when not read).
        profile: The tree's resource profile after the last window (``None`` when not read).
    """

    scope: str
    windows: list[RssWindow] = field(default_factory=list)
    tree: TreeSnapshot | None = None
    profile: ResourceProfile | None = None

    def peak(self, sessions: int) -> float | None:
        """The daemon's peak RSS (MB, 1 decimal) in the window of that session count (``None``: no window)."""
        for w in self.windows:
            if w.sessions == sessions:
                return round(w.samples.peak_daemon_mb, 1) if w.samples.sample_count else None
        return None

    @property
    def peak_at_fewest(self) -> float | None:
        """The daemon's peak RSS at the smallest session count (MB; ``None`` without a window)."""
        return self.peak(self.windows[0].sessions) if self.windows else None

    @property
    def peak_at_most(self) -> float | None:
        """The daemon's peak RSS at the largest session count (MB; ``None`` without a window)."""
        return self.peak(self.windows[-1].sessions) if self.windows else None

    @property
    def growth_per_session_mb(self) -> float | None:
        """``(peak at the last count - peak at the first) / (last count - first count)`` (MB, 1 decimal)."""
        if len(self.windows) < 2:
            return None
        first, last = self.windows[0], self.windows[-1]
        if not (first.samples.sample_count and last.samples.sample_count):
            return None
        growth = (last.samples.peak_daemon_mb - first.samples.peak_daemon_mb) / (last.sessions - first.sessions)
        return round(growth, 1)

    @property
    def worst_dropped_ratio(self) -> float:
        """The largest dropped-sample ratio of the windows (upstream allows at most 0.2)."""
        return max((w.samples.dropped_ratio for w in self.windows), default=0.0)

    def figures(self) -> dict[str, Any]:
        """Upstream's ``session1MB``... (daemon peak per count), ``growthPerSessionMB``, ``sampleCount``,
        ``droppedSampleCount``; the whole tree's ``treeSession1MB``...; ``agentChildren``, ``agentsRssMB`` and
        ``resourceProfile`` of the tree at the end."""
        out: dict[str, Any] = {f"session{w.sessions}MB": self.peak(w.sessions) for w in self.windows}
        out["growthPerSessionMB"] = self.growth_per_session_mb
        out["sampleCount"] = sum(w.samples.sample_count for w in self.windows)
        out["droppedSampleCount"] = sum(w.samples.dropped for w in self.windows)
        for w in self.windows:
            out[f"treeSession{w.sessions}MB"] = round(w.samples.peak_tree_mb, 1) if w.samples.sample_count else None
        out["agentChildren"] = self.tree.agent_count if self.tree is not None else None
        out["agentsRssMB"] = self.tree.agents_rss_mb if self.tree is not None else None
        out["resourceProfile"] = self.profile.figures() if self.profile is not None else None
        return out

    def line(self) -> str:
        """``thread: peak 80.1 MB at 1 · 84.0 MB at 5 · 86.2 MB at 10 · +0.7 MB/session · tree 420.3 MB at 10 (…)``."""
        peaks = " · ".join(f"{self.peak(w.sessions)} MB at {w.sessions}" for w in self.windows)
        growth = self.growth_per_session_mb
        growth_text = shown(growth, "+.1f")
        last = self.windows[-1] if self.windows else None
        tree = f" · tree {round(last.samples.peak_tree_mb, 1)} MB at {last.sessions}" if last else ""
        agent = f" (agent child {round(self.tree.agents_rss_mb, 1)} MB)" if self.tree is not None else ""
        return f"{self.scope}: peak {peaks} · {growth_text} MB/session{tree}{agent}"

    def timeline(self) -> RssTimeline:
        """The windows on one time axis: seconds since the first window began, so the time between windows
        is the time spent opening sessions; each window's session count is a marker where it starts."""
        line = RssTimeline()
        if not self.windows:
            return line
        origin = self.windows[0].start_s
        for w in self.windows:
            line.times_s += [w.start_s - origin + t for t in w.samples.times_s]
            line.daemon_mb += list(w.samples.daemon_mb)
            line.tree_mb += list(w.samples.tree_mb)
            line.markers.append((round(w.start_s - origin, 3), plural(w.sessions)))
        return line


def sample_at_session_counts(
    steps: Iterable[int],
    scope: str,
    open_until: Callable[[int], Any],
    start_sampler: Callable[[], RssSampler],
    seconds_per_window: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> RssScaling:
    """Open sessions up to each count of ``steps`` and sample the tree for ``seconds_per_window`` at each.

    Raises:
        AssertionError: a window took no sample (the daemon could not be read).
    """
    result = RssScaling(scope)
    for count in steps:
        open_until(count)
        started = time.monotonic()
        sampler = start_sampler()
        try:
            sleep(seconds_per_window)
        finally:
            samples = sampler.stop()
        if not samples.sample_count:
            raise AssertionError(
                f"The RSS sampler took no sample in {seconds_per_window:g} s with {plural(count)} open "
                f"({samples.dropped} ticks dropped)."
            )
        result.windows.append(RssWindow(started, count, samples))
    return result
