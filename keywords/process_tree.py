"""Process-tree measurement with psutil: RSS, breakdown, descendant counts, a sampler and resource profiles.

Nothing here needs ``ps``, ``pgrep`` or ``/usr/bin/time``. A daemon's tree is its own process, its agent
children (direct children of the daemon, or processes carrying the daemon's environment marker whose parent
is gone; they run in their own process group, so a process-group walk would miss them), and their
descendants (the real agent's MCP servers, the mock's Python agent behind its Node launcher).

The fields of :class:`ResourceProfile` are the ones upstream read from ``/usr/bin/time -v``: peak RSS
(``VmHWM``), user and system CPU, voluntary and involuntary context switches, minor and major page faults.
Linux keeps them per process in ``/proc``; the profiler keeps the last reading of every process it saw, so
a tree that has since ended is still profiled (up to its last sample). Context switches are counted per
thread in Linux (``/proc/<pid>/status`` holds the main thread's only, which is what psutil reads), so they
are summed over ``/proc/<pid>/task/*/status``; the profiler keeps every thread's last reading, so a thread
that ended between two readings still counts up to its last one.

Everything is read from ``/proc`` directly (one ``stat`` read gives a process's parent, state, RSS, CPU
times and page faults): a one-shot snapshot makes one pass over ``/proc`` to build the parent map, and the
sampler keeps the tree's membership between ticks and reads only the known processes on each tick (see
:class:`RssSampler` for the discovery bound).

The sampler's thread never logs; :meth:`RssSampler.stop` returns plain data to the caller's thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import psutil

from keywords.registry import RUN_MARKER, TAG_MARKER

MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TCK = os.sysconf("SC_CLK_TCK")


# -- /proc readers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stat:
    """The fields of ``/proc/<pid>/stat`` the harness uses (times in clock ticks, RSS in pages)."""

    ppid: int
    state: str
    minflt: int
    majflt: int
    utime: int
    stime: int
    start: int
    rss_pages: int

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")

    @property
    def rss_mb(self) -> float:
        return self.rss_pages * _PAGE / MB


def _read(path: str) -> bytes | None:
    """The whole file, or ``None`` when it cannot be read (the process is gone, or not ours)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_stat(pid: int) -> _Stat | None:
    """``/proc/<pid>/stat`` parsed, or ``None`` when the process is gone."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    try:
        f = text[text.rindex(b")") + 2 :].split()  # f[0] is field 3 (state)
        return _Stat(
            ppid=int(f[1]),
            state=f[0].decode(),
            minflt=int(f[7]),
            majflt=int(f[9]),
            utime=int(f[11]),
            stime=int(f[12]),
            start=int(f[19]),
            rss_pages=int(f[21]),
        )
    except (ValueError, IndexError):
        return None


def _proc_pids() -> list[int]:
    """Pids of every process now (``/proc`` lists thread-group leaders only)."""
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _scan() -> dict[int, _Stat]:
    """One pass over ``/proc``: every process's ``stat``."""
    stats = {}
    for pid in _proc_pids():
        st = _read_stat(pid)
        if st is not None:
            stats[pid] = st
    return stats


def _closure(roots: Iterable[int], stats: dict[int, _Stat]) -> set[int]:
    """``roots`` (those alive) and all their descendants, from the parent map in ``stats``."""
    children: dict[int, list[int]] = {}
    for pid, st in stats.items():
        children.setdefault(st.ppid, []).append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in stats]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def _cmdline_of(pid: int) -> str:
    raw = _read(f"/proc/{pid}/cmdline") or b""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")[:300]


def _markers_of(pid: int) -> tuple[bytes, bytes] | None:
    """The ``RUN=...`` and ``TAG=...`` environment entries of a process (``None`` without a run marker)."""
    raw = _read(f"/proc/{pid}/environ")
    if not raw:
        return None
    run = tag = None
    for entry in raw.split(b"\0"):
        if entry.startswith(RUN_MARKER.encode() + b"="):
            run = entry
        elif entry.startswith(TAG_MARKER.encode() + b"="):
            tag = entry
    if run is None:
        return None
    return run, tag or TAG_MARKER.encode() + b"="


def _create_time(st: _Stat) -> float:
    """The process's start as psutil's ``create_time()`` gives it (so keys agree with psutil's)."""
    return psutil.boot_time() + st.start / _TCK


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


def rss_mb(pid: int) -> float:
    """RSS of one process in MB (raises ``psutil.NoSuchProcess`` when it is gone)."""
    return psutil.Process(pid).memory_info().rss / MB


def _classify(daemon_pid: int, pid: int, ppid: int, members: Iterable[int] | set[int]) -> str:
    if pid == daemon_pid:
        return "daemon"
    if ppid == daemon_pid or ppid not in members:
        return "agent"
    return "descendant"


def snapshot_tree(daemon_pid: int, marked: Iterable[psutil.Process] = ()) -> TreeSnapshot:
    """Measure a daemon's tree now (one pass over ``/proc`` for the parent map).

    Args:
        daemon_pid: The daemon process.
        marked: Further processes known to belong to the daemon (e.g. by environment marker); they are
            classified by ancestry, so an agent whose parent has gone still counts as an agent. Their
            descendants belong to the tree too.

    Returns:
        A :class:`TreeSnapshot` (empty apart from ``daemon_pid`` when the daemon is gone).
    """
    stats = _scan()
    members = _closure([daemon_pid, *(p.pid for p in marked)], stats)
    return _build_snapshot(daemon_pid, {pid: stats[pid] for pid in members}, cmdlines=True)


def _build_snapshot(daemon_pid: int, stats: dict[int, _Stat], cmdlines: bool) -> TreeSnapshot:
    """A snapshot of the tree whose members' ``stat`` readings are ``stats`` (zombies are skipped)."""
    snap = TreeSnapshot(daemon_pid=daemon_pid)
    for pid in sorted(stats):
        st = stats[pid]
        if st.zombie:
            continue
        rss = st.rss_mb
        role = _classify(daemon_pid, pid, st.ppid, stats)
        cmd = _cmdline_of(pid) if cmdlines else ""
        snap.processes.append(ProcInfo(pid=pid, ppid=st.ppid, role=role, rss_mb=round(rss, 2), cmdline=cmd))
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


def _status_field(text: bytes, key: bytes) -> int | None:
    """The number after ``key:`` in a ``/proc/.../status`` text."""
    at = text.find(b"\n" + key + b":")
    if at < 0:
        return None
    try:
        return int(text[at + len(key) + 2 :].split(None, 1)[0])
    except (ValueError, IndexError):
        return None


def thread_ctx_switches(pid: int) -> dict[int, tuple[int, int]]:
    """Voluntary and involuntary context switches of every live thread of a process, by thread id.

    Linux counts context switches per thread; ``/proc/<pid>/status`` holds the main thread's only, so the
    process's figure is the sum over ``/proc/<pid>/task/*/status`` (threads that have ended are missing;
    only ``wait4`` of the parent gets those).
    """
    try:
        tids = [int(name) for name in os.listdir(f"/proc/{pid}/task") if name.isdigit()]
    except OSError:
        return {}
    counts = {}
    for tid in tids:
        text = _read(f"/proc/{pid}/task/{tid}/status")
        if not text:
            continue  # the thread ended meanwhile
        vol = _status_field(text, b"voluntary_ctxt_switches")
        invol = _status_field(text, b"nonvoluntary_ctxt_switches")
        if vol is not None and invol is not None:
            counts[tid] = (vol, invol)
    return counts


def _slow_counters(pid: int) -> tuple[float, dict[int, tuple[int, int]]] | None:
    """Peak RSS (``VmHWM``, MB) and per-thread context switches, or ``None`` when the process is gone."""
    text = _read(f"/proc/{pid}/status")
    if not text:
        return None
    hwm_kb = _status_field(text, b"VmHWM") or 0
    return hwm_kb / 1024, thread_ctx_switches(pid)


def _reading(st: _Stat, hwm_mb: float = 0.0, threads: dict[int, tuple[int, int]] | None = None) -> _ProcReading:
    vol = sum(v for v, _ in threads.values()) if threads else 0
    invol = sum(i for _, i in threads.values()) if threads else 0
    return _ProcReading(
        hwm_mb=max(st.rss_mb, hwm_mb),
        user_s=st.utime / _TCK,
        sys_s=st.stime / _TCK,
        vol=vol,
        invol=invol,
        minflt=st.minflt,
        majflt=st.majflt,
    )


def _read_full(pid: int) -> tuple[_Stat, _ProcReading, dict[int, tuple[int, int]]] | None:
    st = _read_stat(pid)
    if st is None or st.zombie:
        return None
    slow = _slow_counters(pid)
    if slow is None:
        return None
    hwm, threads = slow
    return st, _reading(st, hwm, threads), threads


def read_process(proc: psutil.Process) -> _ProcReading | None:
    """One process's counters now (context switches summed over its threads), or ``None`` when it is gone or
    a zombie."""
    full = _read_full(proc.pid)
    return None if full is None else full[1]


class TreeProfiler:
    """Keeps the last counters of every process of a tree, so the tree can be profiled after it ended.

    Call :meth:`update` while the tree runs (the sampler does it on each tick) and :meth:`profile` at any
    time. Context switches are kept per thread (last reading of every thread seen), so threads that ended
    between two readings still count. Thread-safe.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[int, float], _ProcReading] = {}
        self._threads: dict[tuple[int, float], dict[int, tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def record(
        self, key: tuple[int, float], reading: _ProcReading, threads: dict[int, tuple[int, int]] | None = None
    ) -> None:
        """Store a reading of the process ``key`` (pid, create time).

        ``threads`` (per-thread context switches) is merged with the earlier ones; without it the context
        switches of the previous reading are kept. The peak RSS never goes down.
        """
        with self._lock:
            prev = self._last.get(key)
            if threads is not None:
                merged = self._threads.setdefault(key, {})
                merged.update(threads)
                vol = sum(v for v, _ in merged.values())
                invol = sum(i for _, i in merged.values())
            elif prev is not None:
                vol, invol = prev.vol, prev.invol
            else:
                vol, invol = reading.vol, reading.invol
            hwm = max(reading.hwm_mb, prev.hwm_mb if prev else 0.0)
            self._last[key] = replace(reading, hwm_mb=hwm, vol=vol, invol=invol)

    def update(self, procs: Iterable[psutil.Process]) -> list[tuple[int, float]]:
        """Read every process now; returns the keys (pid, create time) read."""
        seen = []
        for proc in procs:
            full = _read_full(proc.pid)
            if full is None:
                continue
            st, reading, threads = full
            key = (proc.pid, _create_time(st))
            self.record(key, reading, threads)
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
