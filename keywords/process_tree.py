"""Process-tree measurement with psutil: RSS, breakdown, descendant counts, a sampler and resource profiles.

Nothing here needs ``ps``, ``pgrep`` or ``/usr/bin/time``. A daemon's tree is its own process, its agent
children (direct children of the daemon, or processes carrying the daemon's environment marker whose parent
is gone; they run in their own process group, so a process-group walk would miss them), and their
descendants (the real agent's MCP servers, the mock's Python agent behind its Node launcher).

The fields of :class:`ResourceProfile` are the ones upstream read from ``/usr/bin/time -v``: peak RSS
(``VmHWM``), user and system CPU, voluntary and involuntary context switches, minor and major page faults.
Linux keeps them per process in ``/proc``; the profiler keeps the last reading of every process it saw, so
a tree that has since ended is still profiled (up to its last sample).

The sampler's thread never logs; :meth:`RssSampler.stop` returns plain data to the caller's thread.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psutil

MB = 1024 * 1024


@dataclass(frozen=True)
class ProcInfo:
    """One process of a tree at one moment.

    Attributes:
        pid: Process id.
        ppid: Parent pid.
        role: ``daemon``, ``agent`` (a direct agent child) or ``descendant``.
        rss_mb: Resident set size in MB (MiB).
        cmdline: Command line joined with spaces (truncated to 300 characters).
    """

    pid: int
    ppid: int
    role: str
    rss_mb: float
    cmdline: str


@dataclass
class TreeSnapshot:
    """A daemon's process tree at one moment, with an RSS breakdown.

    Attributes:
        daemon_pid: Pid of the daemon.
        processes: Every live process of the tree.
        daemon_rss_mb: RSS of the daemon alone.
        agents_rss_mb: Sum over the agent children.
        descendants_rss_mb: Sum over the agents' descendants (MCP servers, the mock's Python agent...).
        total_rss_mb: Whole tree (shared pages are counted once per process, as ``ps`` does).
        agent_pids: Pids of the agent children.
        descendant_pids: Pids of their descendants.
    """

    daemon_pid: int
    processes: list[ProcInfo] = field(default_factory=list)
    daemon_rss_mb: float = 0.0
    agents_rss_mb: float = 0.0
    descendants_rss_mb: float = 0.0
    total_rss_mb: float = 0.0
    agent_pids: list[int] = field(default_factory=list)
    descendant_pids: list[int] = field(default_factory=list)

    @property
    def agent_count(self) -> int:
        """Number of agent children."""
        return len(self.agent_pids)

    def matching(self, pattern: str) -> list[ProcInfo]:
        """Processes other than the daemon whose command line matches the regular expression ``pattern``."""
        rx = re.compile(pattern)
        return [p for p in self.processes if p.role != "daemon" and rx.search(p.cmdline)]

    def summary(self) -> str:
        """One line: total and breakdown."""
        return (
            f"tree {self.total_rss_mb:.1f} MB = daemon {self.daemon_rss_mb:.1f} + "
            f"{self.agent_count} agent(s) {self.agents_rss_mb:.1f} + "
            f"{len(self.descendant_pids)} descendant(s) {self.descendants_rss_mb:.1f}"
        )


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:300]
    except (psutil.Error, OSError):
        return ""


def rss_mb(pid: int) -> float:
    """RSS of one process in MB (raises ``psutil.NoSuchProcess`` when it is gone)."""
    return psutil.Process(pid).memory_info().rss / MB


def snapshot_tree(daemon_pid: int, marked: Iterable[psutil.Process] = ()) -> TreeSnapshot:
    """Measure a daemon's tree now.

    Args:
        daemon_pid: The daemon process.
        marked: Further processes known to belong to the daemon (e.g. by environment marker); they are
            classified by ancestry, so an agent whose parent has gone still counts as an agent.

    Returns:
        A :class:`TreeSnapshot` (empty apart from ``daemon_pid`` when the daemon is gone).
    """
    procs: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(daemon_pid)
        procs[root.pid] = root
        for child in root.children(recursive=True):
            procs[child.pid] = child
    for proc in marked:
        procs.setdefault(proc.pid, proc)
    # Children of marked processes too (a descendant started without the marker).
    for proc in list(procs.values()):
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                procs.setdefault(child.pid, child)
    snap = TreeSnapshot(daemon_pid=daemon_pid)
    parents: dict[int, int] = {}
    readings: dict[int, tuple[float, str]] = {}
    for pid, proc in procs.items():
        try:
            with proc.oneshot():
                parents[pid] = proc.ppid()
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                readings[pid] = (proc.memory_info().rss / MB, _cmdline(proc))
        except (psutil.Error, OSError):
            continue
    for pid, (rss, cmd) in sorted(readings.items()):
        ppid = parents.get(pid, 0)
        if pid == daemon_pid:
            role = "daemon"
        elif ppid == daemon_pid or ppid not in procs:
            role = "agent"
        else:
            role = "descendant"
        info = ProcInfo(pid=pid, ppid=ppid, role=role, rss_mb=round(rss, 2), cmdline=cmd)
        snap.processes.append(info)
        if role == "daemon":
            snap.daemon_rss_mb = rss
        elif role == "agent":
            snap.agents_rss_mb += rss
            snap.agent_pids.append(pid)
        else:
            snap.descendants_rss_mb += rss
            snap.descendant_pids.append(pid)
    snap.total_rss_mb = snap.daemon_rss_mb + snap.agents_rss_mb + snap.descendants_rss_mb
    for name in ("daemon_rss_mb", "agents_rss_mb", "descendants_rss_mb", "total_rss_mb"):
        setattr(snap, name, round(getattr(snap, name), 2))
    return snap


# -- resource profile ---------------------------------------------------------------------------------


@dataclass
class ResourceProfile:
    """Resource use of a process or tree, with the fields of ``/usr/bin/time -v``.

    Attributes:
        processes: Number of processes profiled.
        peak_rss_mb: Largest single-process peak RSS (``VmHWM``), as ``time -v`` reports for one process.
        peak_rss_sum_mb: Sum of the per-process peaks (an upper bound of the tree's peak).
        user_cpu_s: User CPU seconds (sum).
        system_cpu_s: System CPU seconds (sum).
        voluntary_ctx_switches: Voluntary context switches (sum).
        involuntary_ctx_switches: Involuntary context switches (sum).
        minor_page_faults: Minor page faults (sum).
        major_page_faults: Major page faults (sum).
        ended: Processes seen earlier that are gone now (their last reading is used).
    """

    processes: int = 0
    peak_rss_mb: float = 0.0
    peak_rss_sum_mb: float = 0.0
    user_cpu_s: float = 0.0
    system_cpu_s: float = 0.0
    voluntary_ctx_switches: int = 0
    involuntary_ctx_switches: int = 0
    minor_page_faults: int = 0
    major_page_faults: int = 0
    ended: int = 0

    def summary(self) -> str:
        """One line in the spirit of ``time -v``."""
        return (
            f"{self.processes} proc(s): peak RSS {self.peak_rss_mb:.1f} MB (sum {self.peak_rss_sum_mb:.1f}), "
            f"user {self.user_cpu_s:.2f} s, sys {self.system_cpu_s:.2f} s, "
            f"ctx vol {self.voluntary_ctx_switches} / invol {self.involuntary_ctx_switches}, "
            f"faults minor {self.minor_page_faults} / major {self.major_page_faults}"
        )


@dataclass(frozen=True)
class _ProcReading:
    hwm_mb: float
    user_s: float
    sys_s: float
    vol: int
    invol: int
    minflt: int
    majflt: int


def _status_kb(pid: int, key: str) -> int | None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _faults(pid: int) -> tuple[int, int]:
    """Minor and major page faults of a process (``/proc/<pid>/stat`` fields 10 and 12)."""
    with open(f"/proc/{pid}/stat") as fh:
        text = fh.read()
    fields = text[text.rindex(")") + 2 :].split()  # fields from 3 on (state ...)
    return int(fields[7]), int(fields[9])


def read_process(proc: psutil.Process) -> _ProcReading | None:
    """One process's counters now, or ``None`` when it is gone or a zombie."""
    try:
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            cpu = proc.cpu_times()
            ctx = proc.num_ctx_switches()
            rss = proc.memory_info().rss / MB
        hwm_kb = _status_kb(proc.pid, "VmHWM")
        minflt, majflt = _faults(proc.pid)
    except (psutil.Error, OSError, ValueError, IndexError):
        return None
    hwm = max(rss, (hwm_kb or 0) / 1024)
    return _ProcReading(hwm, cpu.user, cpu.system, ctx.voluntary, ctx.involuntary, minflt, majflt)


class TreeProfiler:
    """Keeps the last counters of every process of a tree, so the tree can be profiled after it ended.

    Call :meth:`update` while the tree runs (the sampler does it on each tick) and :meth:`profile` at any
    time. Thread-safe.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[int, float], _ProcReading] = {}
        self._lock = threading.Lock()

    def update(self, procs: Iterable[psutil.Process]) -> list[tuple[int, float]]:
        """Read every process now; returns the keys (pid, create time) read."""
        seen = []
        for proc in procs:
            try:
                key = (proc.pid, proc.create_time())
            except psutil.Error:
                continue
            reading = read_process(proc)
            if reading is None:
                continue
            with self._lock:
                self._last[key] = reading
            seen.append(key)
        return seen

    def profile(self, live: Iterable[psutil.Process] | None = None) -> ResourceProfile:
        """Sum the last readings (after refreshing ``live`` processes, when given)."""
        alive_keys = set(self.update(live)) if live is not None else None
        with self._lock:
            readings = dict(self._last)
        prof = ResourceProfile(processes=len(readings))
        for key, r in readings.items():
            prof.peak_rss_mb = max(prof.peak_rss_mb, r.hwm_mb)
            prof.peak_rss_sum_mb += r.hwm_mb
            prof.user_cpu_s += r.user_s
            prof.system_cpu_s += r.sys_s
            prof.voluntary_ctx_switches += r.vol
            prof.involuntary_ctx_switches += r.invol
            prof.minor_page_faults += r.minflt
            prof.major_page_faults += r.majflt
            if alive_keys is not None and key not in alive_keys:
                prof.ended += 1
        prof.peak_rss_mb = round(prof.peak_rss_mb, 2)
        prof.peak_rss_sum_mb = round(prof.peak_rss_sum_mb, 2)
        prof.user_cpu_s = round(prof.user_cpu_s, 3)
        prof.system_cpu_s = round(prof.system_cpu_s, 3)
        return prof


# -- sampler --------------------------------------------------------------------------------------------


@dataclass
class RssSamples:
    """What a sampler collected.

    Attributes:
        interval_ms: Requested sampling interval.
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
        profile: Resource profile of the tree up to its last sample.
    """

    interval_ms: float
    duration_s: float = 0.0
    sample_count: int = 0
    dropped: int = 0
    peak_daemon_mb: float = 0.0
    peak_tree_mb: float = 0.0
    peak_agents: int = 0
    times_s: list[float] = field(default_factory=list)
    daemon_mb: list[float] = field(default_factory=list)
    tree_mb: list[float] = field(default_factory=list)
    profile: ResourceProfile | None = None

    @property
    def dropped_ratio(self) -> float:
        """Dropped / (good + dropped)."""
        total = self.sample_count + self.dropped
        return self.dropped / total if total else 0.0

    def summary(self) -> str:
        """One line: peaks and sample counts."""
        return (
            f"peak daemon {self.peak_daemon_mb:.1f} MB, tree {self.peak_tree_mb:.1f} MB over "
            f"{self.duration_s:.1f} s ({self.sample_count} samples, {self.dropped} dropped)"
        )


class RssSampler:
    """Samples a daemon's tree in a background thread every ``interval_ms`` until :meth:`stop`.

    Args:
        daemon_pid: The daemon.
        marked: Callable returning further processes of the daemon (by marker); called on every tick.
        interval_ms: Sampling interval (10..60000).
        max_duration_s: Hard bound; the thread ends by itself after this long.
        max_samples: Bound on kept samples (older ones are thinned out by half when reached).
    """

    def __init__(
        self,
        daemon_pid: int,
        marked: Callable[[], Iterable[psutil.Process]] | None = None,
        interval_ms: float = 100.0,
        max_duration_s: float = 3600.0,
        max_samples: int = 20000,
    ) -> None:
        if not 10 <= interval_ms <= 60000:
            raise ValueError(f"interval must be from 10 to 60000 ms, got {interval_ms}")
        self.daemon_pid = daemon_pid
        self._marked = marked or (lambda: ())
        self.interval_s = interval_ms / 1000
        self.max_duration_s = max_duration_s
        self.max_samples = max_samples
        self.result = RssSamples(interval_ms=interval_ms)
        self.profiler = TreeProfiler()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
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

    def _tick(self) -> None:
        res = self.result
        try:
            marked = list(self._marked())
        except Exception:
            marked = []
        snap = snapshot_tree(self.daemon_pid, marked)
        if snap.daemon_rss_mb == 0:
            res.dropped += 1
            return
        pids = {p.pid for p in snap.processes}
        with contextlib.suppress(Exception):
            self.profiler.update(psutil.Process(pid) for pid in pids if psutil.pid_exists(pid))
        res.sample_count += 1
        res.peak_daemon_mb = max(res.peak_daemon_mb, snap.daemon_rss_mb)
        res.peak_tree_mb = max(res.peak_tree_mb, snap.total_rss_mb)
        res.peak_agents = max(res.peak_agents, snap.agent_count)
        res.times_s.append(round(time.monotonic() - self._started, 3))
        res.daemon_mb.append(snap.daemon_rss_mb)
        res.tree_mb.append(snap.total_rss_mb)
        if len(res.times_s) > self.max_samples:
            for name in ("times_s", "daemon_mb", "tree_mb"):
                setattr(res, name, getattr(res, name)[::2])

    def stop(self, timeout_s: float = 5.0) -> RssSamples:
        """Stop the thread and return the samples (with the tree's resource profile)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
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
