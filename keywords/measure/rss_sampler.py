"""A background sampler of a daemon's process tree: RSS over time, peaks, and the tree's resource profile.

The sampler's thread never logs; :meth:`RssSampler.stop` returns plain data to the caller's thread. It reads
``/proc`` through :mod:`keywords.measure.proc_stat`, classifies each tick's members with the tree's rule
(:func:`keywords.measure.process_tree.build_snapshot`) and feeds a
:class:`~keywords.measure.resource_profile.TreeProfiler`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psutil

from keywords import checks
from keywords.measure import proc_stat
from keywords.measure.proc_stat import ProcStat
from keywords.measure.process_tree import build_snapshot
from keywords.measure.resource_profile import ProcKey, ResourceProfile, TreeProfiler, reading_of

MAX_DURATION_S = 24 * 3600.0
RECHECK_S = 1.0
"""How long a new process that did not join is looked at again: until its exec is done, its environment is
still its parent's, so a marked agent read at that moment carries no marker yet."""


@dataclass
class RssSamples:
    """What a sampler collected.

    Attributes:
        interval_ms: Requested sampling interval.
        profile: Resource profile of the tree up to its last sample (set by :meth:`RssSampler.stop`).
        duration_s: Sampling time from start to stop.
        sample_count: Good samples (the daemon was read).
        dropped: Ticks that produced no reading (the daemon could not be read, or the tick came more than
            one interval late).
        peak_daemon_mb: Highest daemon RSS.
        peak_tree_mb: Highest whole-tree RSS.
        peak_agents: Most agent children seen at once.
        times_s: Seconds since start, one per good sample (for plotting).
        daemon_mb: Daemon RSS per good sample.
        tree_mb: Tree RSS per good sample.
    """

    interval_ms: float
    profile: ResourceProfile | None = None
    duration_s: float = 0.0
    sample_count: int = 0
    dropped: int = 0
    peak_daemon_mb: float = 0.0
    peak_tree_mb: float = 0.0
    peak_agents: int = 0
    times_s: list[float] = field(default_factory=list)
    daemon_mb: list[float] = field(default_factory=list)
    tree_mb: list[float] = field(default_factory=list)

    @property
    def dropped_ratio(self) -> float:
        """Dropped / (good + dropped)."""
        total = self.sample_count + self.dropped
        return self.dropped / total if total else 0.0

    def figures(self) -> dict[str, Any]:
        """``durationS``, ``sampleCount``, ``droppedSamples``, ``droppedRatio``, ``peakDaemonRssMB``,
        ``peakTreeRssMB``, ``peakAgents`` and the tree's ``profile`` (its own figures); peaks are ``None``
        when no sample was taken, ``droppedRatio`` when no tick ran."""
        sampled = self.sample_count > 0
        ticks = self.sample_count + self.dropped
        return {
            "durationS": self.duration_s,
            "sampleCount": self.sample_count,
            "droppedSamples": self.dropped,
            "droppedRatio": round(self.dropped_ratio, 4) if ticks else None,
            "peakDaemonRssMB": self.peak_daemon_mb if sampled else None,
            "peakTreeRssMB": self.peak_tree_mb if sampled else None,
            "peakAgents": self.peak_agents if sampled else None,
            "profile": self.profile.figures() if self.profile is not None else None,
        }

    def line(self) -> str:
        """One line: peaks and sample counts."""
        if not self.sample_count:
            return f"no sample over {self.duration_s:.1f} s ({self.dropped} dropped)"
        return (
            f"peak daemon {self.peak_daemon_mb:.1f} MB, tree {self.peak_tree_mb:.1f} MB over "
            f"{self.duration_s:.1f} s ({self.sample_count} samples, {self.dropped} dropped)"
        )


class RssSampler:
    """Samples a daemon's tree in a background thread every ``interval_ms`` until :meth:`stop`.

    Each tick does the minimum. The tree's membership is kept between ticks:

    * **Full discovery** on the first tick and then every ``rediscover_s``: one pass over ``/proc`` for the
      parent map, plus ``marked()``; the tree is the daemon, the marked processes, the members still alive
      and all their descendants.
    * **Every other tick** lists the names in ``/proc`` (no reads; skipped when the kernel's last allocated
      pid in ``/proc/loadavg`` has not moved, i.e. no process or thread was created since) and examines
      only the pids that were not in the previous listing: a new pid joins when its parent is a member or
      when its environment carries the daemon's own run and tag markers (``QWEN_HARNESS_RUN``,
      ``QWEN_HARNESS_TAG``, read from the daemon at start); agent children run in their own session and may
      be re-parented to init, so the marker finds them. Then it reads ``/proc/<pid>/stat`` of the members
      only (parent, RSS, CPU, faults); a member that is gone (or whose pid now belongs to a newer process)
      leaves the tree.
    * Peak RSS (``VmHWM``) and per-thread context switches for the profile are read when a process is first
      seen and then at most every ``profile_every_s`` per process (and once more at :meth:`stop` for
      processes still alive); CPU times and page faults come with every tick's ``stat`` read.

    Discovery bound: a new process of the tree (a child of a member, or a process with the daemon's
    markers) is in the first sample taken after it appears in ``/proc``, i.e. within one interval (plus
    the tick's own lateness). A process that only ``marked()`` can find (no markers, parent outside the
    tree) is found within ``rediscover_s``. A process that lives less than one interval may be missed, as
    with any sampler.

    Args:
        daemon_pid: The daemon.
        marked: Callable returning further processes of the daemon (by marker); called on full discovery
            only (first tick, then every ``rediscover_s``).
        interval_ms: Sampling interval in ms (10..60000).
        max_duration_s: Hard bound in seconds (or a ``timedelta``; at most a day); the thread ends by itself
            after this long.
        max_samples: Bound on kept samples (10..10000000; older ones are thinned out by half when reached).
        rediscover_s: Time between full discoveries (0.1..3600).
        profile_every_s: Time between two readings of a process's peak RSS and context switches (0.1..3600).

    Raises:
        HarnessConfigError: an argument is out of its range (checked before the thread starts).
    """

    def __init__(
        self,
        daemon_pid: int,
        marked: Callable[[], Iterable[psutil.Process]] | None = None,
        *,
        interval_ms: float = 100.0,
        max_duration_s: timedelta | float = 3600.0,
        max_samples: int = 20000,
        rediscover_s: float = 5.0,
        profile_every_s: float = 1.0,
    ) -> None:
        interval_ms = checks.number("interval_ms", interval_ms, low=10, high=60000, unit="ms")
        self.max_duration_s = checks.seconds("max_duration_s", max_duration_s, high=MAX_DURATION_S)
        self.max_samples = checks.whole_number("max_samples", max_samples, low=10, high=10_000_000)
        self.rediscover_s = checks.number("rediscover_s", rediscover_s, low=0.1, high=3600, unit="s")
        self.profile_every_s = checks.number("profile_every_s", profile_every_s, low=0.1, high=3600, unit="s")
        self.daemon_pid = daemon_pid
        self._marked = marked or (lambda: ())
        self.interval_s = interval_ms / 1000
        self.result = RssSamples(interval_ms=interval_ms)
        self.profiler = TreeProfiler()
        self.full_discoveries = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._next_full = 0.0
        self._daemon_start: int | None = None
        self._marker = proc_stat.markers_of(daemon_pid)
        self._members: dict[int, ProcStat] = {}
        self._listed: set[int] = set()
        self._recheck: dict[int, float] = {}  # pid -> when it was first seen and did not join
        self._last_pid: int | None = None
        self._keys: dict[int, tuple[int, ProcKey]] = {}  # pid -> (start ticks, profiler key)
        self._slow_at: dict[ProcKey, float] = {}
        self.error: str | None = None

    def start(self) -> RssSampler:
        """Take the first sample now and start the thread."""
        self._started = time.monotonic()
        self._tick()
        self._thread = threading.Thread(target=self._run, name=f"rss-{self.daemon_pid}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        next_at = self._started + self.interval_s
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now - self._started >= self.max_duration_s:
                    return
                if now < next_at:
                    self._stop.wait(next_at - now)
                    continue
                late = int((now - next_at) // self.interval_s)
                if late:
                    self.result.dropped += late
                next_at += (late + 1) * self.interval_s
                self._tick()
        except Exception as exc:  # never let the thread die silently
            self.error = f"{type(exc).__name__}: {exc}"

    # -- membership ----------------------------------------------------------------------------------
    def _discover_all(self) -> dict[int, ProcStat]:
        """Full discovery: one ``/proc`` pass, the marked processes, the members still alive, descendants."""
        self.full_discoveries += 1
        try:
            marked = [proc.pid for proc in self._marked()]
        except Exception:
            marked = []
        stats = proc_stat.scan()
        kept = [pid for pid, old in self._members.items() if pid in stats and stats[pid].start == old.start]
        members = proc_stat.closure([self.daemon_pid, *marked, *kept], stats)
        return {pid: stats[pid] for pid in members}

    def _refresh(self, listed: set[int]) -> dict[int, ProcStat]:
        """Cheap tick: re-read the members, admit the pids that are new since the last listing."""
        stats: dict[int, ProcStat] = {}
        new = listed - self._listed
        now = time.monotonic()
        self._recheck = {pid: seen for pid, seen in self._recheck.items() if pid in listed and now - seen < RECHECK_S}
        new |= self._recheck.keys()
        for pid, old in self._members.items():
            st = proc_stat.read_stat(pid)
            if st is None:
                continue
            if st.start != old.start:  # the pid was reused by a newer process
                new.add(pid)
                continue
            stats[pid] = st
        if new:
            self._admit(new, stats)
        return stats

    def _admit(self, new: set[int], stats: dict[int, ProcStat]) -> None:
        """Add to ``stats`` the new pids whose parent is a member or that carry the daemon's markers."""
        pending = {}
        for pid in new:
            st = proc_stat.read_stat(pid)
            if st is not None:
                pending[pid] = st
        markers_checked = False
        for _ in range(len(pending) + 1):  # each round admits at least one pid, or ends
            joined = [pid for pid, st in pending.items() if st.ppid in stats]
            if not joined and not markers_checked and self._marker is not None:
                markers_checked = True
                joined = [pid for pid in pending if proc_stat.markers_of(pid) == self._marker]
            if not joined:
                break
            for pid in joined:
                stats[pid] = pending.pop(pid)
                self._recheck.pop(pid, None)
        if self._marker is not None:  # a parent is set at fork; only the markers can still change
            now = time.monotonic()
            for pid in pending:
                self._recheck.setdefault(pid, now)

    # -- ticks ---------------------------------------------------------------------------------------
    def _tick(self) -> None:
        res = self.result
        now = time.monotonic()
        last_pid = proc_stat.last_pid()
        # no pid allocated since the last listing: nothing new to examine
        unchanged = last_pid is not None and last_pid == self._last_pid
        listed = self._listed if unchanged else set(proc_stat.proc_pids())
        self._last_pid = last_pid
        if now >= self._next_full:
            self._next_full = now + self.rediscover_s
            stats = self._discover_all()
            self._prune(stats)
        else:
            stats = self._refresh(listed)
        self._listed = listed
        self._members = stats
        daemon = stats.get(self.daemon_pid)
        if daemon is not None and self._daemon_start is None:
            self._daemon_start = daemon.start
        if daemon is None or daemon.zombie or daemon.start != self._daemon_start:
            res.dropped += 1
            return
        snap = build_snapshot(self.daemon_pid, stats, cmdlines=False)
        self._profile(stats, now)
        res.sample_count += 1
        res.peak_daemon_mb = max(res.peak_daemon_mb, snap.daemon_rss_mb)
        res.peak_tree_mb = max(res.peak_tree_mb, snap.total_rss_mb)
        res.peak_agents = max(res.peak_agents, snap.agent_count)
        res.times_s.append(round(now - self._started, 3))
        res.daemon_mb.append(snap.daemon_rss_mb)
        res.tree_mb.append(snap.total_rss_mb)
        if len(res.times_s) > self.max_samples:
            for name in ("times_s", "daemon_mb", "tree_mb"):
                setattr(res, name, getattr(res, name)[::2])

    def _key(self, pid: int, st: ProcStat) -> ProcKey:
        cached = self._keys.get(pid)
        if cached is None or cached[0] != st.start:
            cached = (st.start, (pid, proc_stat.create_time(st)))
            self._keys[pid] = cached
        return cached[1]

    def _profile(self, stats: dict[int, ProcStat], now: float, force: bool = False) -> None:
        """Feed the profiler: every tick's ``stat``; peak RSS and per-thread switches when due."""
        for pid, st in stats.items():
            if st.zombie:
                continue
            key = self._key(pid, st)
            if force or now - self._slow_at.get(key, -1e9) >= self.profile_every_s:
                slow = proc_stat.peak_and_switches(pid)
                if slow is not None:
                    self._slow_at[key] = now
                    hwm, threads = slow
                    self.profiler.record(key, reading_of(st, hwm, threads), threads)
                    continue
            self.profiler.record(key, reading_of(st))

    def _prune(self, stats: dict[int, ProcStat]) -> None:
        """Forget bookkeeping of processes that left the tree (their profile readings stay)."""
        for pid in [pid for pid in self._keys if pid not in stats]:
            key = self._keys.pop(pid)[1]
            self._slow_at.pop(key, None)

    def stop(self, timeout_s: float = 5.0) -> RssSamples:
        """Stop the thread and return the samples (with the tree's resource profile).

        The processes of the tree still alive are read once more, so the profile is current for them.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if not self.running:
            alive = {}
            for pid, old in self._members.items():
                st = proc_stat.read_stat(pid)
                if st is not None and st.start == old.start:
                    alive[pid] = st
            with contextlib.suppress(Exception):
                self._profile(alive, time.monotonic(), force=True)
        res = self.result
        res.duration_s = round(time.monotonic() - self._started, 3)
        res.peak_daemon_mb = round(res.peak_daemon_mb, 2)
        res.peak_tree_mb = round(res.peak_tree_mb, 2)
        res.profile = self.profiler.profile()
        return res

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def pids(self) -> list[int]:
        """The tree's members as of the last tick."""
        return sorted(self._members)
