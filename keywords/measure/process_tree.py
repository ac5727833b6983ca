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

from keywords.daemon.registry import RUN_MARKER, TAG_MARKER

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


def _last_pid() -> int | None:
    """The pid the kernel allocated last in this pid namespace (``/proc/loadavg``, last field)."""
    text = _read("/proc/loadavg")
    try:
        return int(text.rsplit(None, 1)[-1]) if text else None
    except ValueError:
        return None


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


_BOOT_TIME: list[float] = []


def _create_time(st: _Stat) -> float:
    """The process's start as psutil's ``create_time()`` gives it (so keys agree with psutil's)."""
    if not _BOOT_TIME:
        _BOOT_TIME.append(psutil.boot_time())
    return _BOOT_TIME[0] + st.start / _TCK


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
        interval_ms: Sampling interval (10..60000).
        max_duration_s: Hard bound; the thread ends by itself after this long.
        max_samples: Bound on kept samples (older ones are thinned out by half when reached).
        rediscover_s: Time between full discoveries (0.1..3600).
        profile_every_s: Time between two readings of a process's peak RSS and context switches (0.1..3600).
    """

    def __init__(
        self,
        daemon_pid: int,
        marked: Callable[[], Iterable[psutil.Process]] | None = None,
        interval_ms: float = 100.0,
        max_duration_s: float = 3600.0,
        max_samples: int = 20000,
        rediscover_s: float = 5.0,
        profile_every_s: float = 1.0,
    ) -> None:
        if not 10 <= interval_ms <= 60000:
            raise ValueError(f"interval must be from 10 to 60000 ms, got {interval_ms}")
        if not (0.1 <= rediscover_s <= 3600 and 0.1 <= profile_every_s <= 3600):
            raise ValueError("rediscover_s and profile_every_s must be from 0.1 to 3600 s")
        self.daemon_pid = daemon_pid
        self._marked = marked or (lambda: ())
        self.interval_s = interval_ms / 1000
        self.max_duration_s = max_duration_s
        self.max_samples = max_samples
        self.rediscover_s = rediscover_s
        self.profile_every_s = profile_every_s
        self.result = RssSamples(interval_ms=interval_ms)
        self.profiler = TreeProfiler()
        self.full_discoveries = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._next_full = 0.0
        self._daemon_start: int | None = None
        self._marker = _markers_of(daemon_pid)
        self._members: dict[int, _Stat] = {}
        self._listed: set[int] = set()
        self._last_pid: int | None = None
        self._keys: dict[int, tuple[int, tuple[int, float]]] = {}  # pid -> (start ticks, profiler key)
        self._slow_at: dict[tuple[int, float], float] = {}
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
    def _discover_all(self) -> dict[int, _Stat]:
        """Full discovery: one ``/proc`` pass, the marked processes, the members still alive, descendants."""
        self.full_discoveries += 1
        try:
            marked = [proc.pid for proc in self._marked()]
        except Exception:
            marked = []
        stats = _scan()
        kept = [pid for pid, old in self._members.items() if pid in stats and stats[pid].start == old.start]
        members = _closure([self.daemon_pid, *marked, *kept], stats)
        return {pid: stats[pid] for pid in members}

    def _refresh(self, listed: set[int]) -> dict[int, _Stat]:
        """Cheap tick: re-read the members, admit the pids that are new since the last listing."""
        stats: dict[int, _Stat] = {}
        new = listed - self._listed
        for pid, old in self._members.items():
            st = _read_stat(pid)
            if st is None:
                continue
            if st.start != old.start:  # the pid was reused by a newer process
                new.add(pid)
                continue
            stats[pid] = st
        if new:
            self._admit(new, stats)
        return stats

    def _admit(self, new: set[int], stats: dict[int, _Stat]) -> None:
        """Add to ``stats`` the new pids whose parent is a member or that carry the daemon's markers."""
        pending = {}
        for pid in new:
            st = _read_stat(pid)
            if st is not None:
                pending[pid] = st
        markers_checked = False
        for _ in range(len(pending) + 1):  # each round admits at least one pid, or ends
            joined = [pid for pid, st in pending.items() if st.ppid in stats]
            if not joined and not markers_checked and self._marker is not None:
                markers_checked = True
                joined = [pid for pid in pending if _markers_of(pid) == self._marker]
            if not joined:
                return
            for pid in joined:
                stats[pid] = pending.pop(pid)

    # -- ticks ---------------------------------------------------------------------------------------
    def _tick(self) -> None:
        res = self.result
        now = time.monotonic()
        last_pid = _last_pid()
        # no pid allocated since the last listing: nothing new to examine
        unchanged = last_pid is not None and last_pid == self._last_pid
        listed = self._listed if unchanged else set(_proc_pids())
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
        snap = _build_snapshot(self.daemon_pid, stats, cmdlines=False)
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

    def _key(self, pid: int, st: _Stat) -> tuple[int, float]:
        cached = self._keys.get(pid)
        if cached is None or cached[0] != st.start:
            cached = (st.start, (pid, _create_time(st)))
            self._keys[pid] = cached
        return cached[1]

    def _profile(self, stats: dict[int, _Stat], now: float, force: bool = False) -> None:
        """Feed the profiler: every tick's ``stat``; peak RSS and per-thread switches when due."""
        for pid, st in stats.items():
            if st.zombie:
                continue
            key = self._key(pid, st)
            if force or now - self._slow_at.get(key, -1e9) >= self.profile_every_s:
                slow = _slow_counters(pid)
                if slow is not None:
                    self._slow_at[key] = now
                    hwm, threads = slow
                    self.profiler.record(key, _reading(st, hwm, threads), threads)
                    continue
            self.profiler.record(key, _reading(st))

    def _prune(self, stats: dict[int, _Stat]) -> None:
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
                st = _read_stat(pid)
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
