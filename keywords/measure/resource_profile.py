"""Resource profile of a process tree: the figures upstream read from ``/usr/bin/time -v``.

The fields of :class:`ResourceProfile` are peak RSS (``VmHWM``), user and system CPU, voluntary and
involuntary context switches, minor and major page faults. Linux keeps them per process in ``/proc``; the
profiler keeps the last reading of every process it saw, so a tree that has since ended is still profiled
(up to its last reading). Context switches are counted per thread in Linux (``/proc/<pid>/status`` holds the
main thread's only, which is what psutil reads), so they are summed over ``/proc/<pid>/task/*/status``; the
profiler keeps every thread's last reading, so a thread that ended between two readings still counts up to
its last one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import psutil

from keywords.measure import proc_stat
from keywords.measure.proc_stat import CLOCK_TICKS, ProcStat

ProcKey = tuple[int, float]
"""A process as the profiler knows it: pid and create time (a reused pid is another process)."""


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

    def figures(self) -> dict[str, Any]:
        """``processes``, ``peakRssMB``, ``peakRssSumMB``, ``userCpuS``, ``systemCpuS``,
        ``voluntaryCtxSwitches``, ``involuntaryCtxSwitches``, ``minorPageFaults``, ``majorPageFaults``,
        ``endedProcesses``; every figure but ``processes`` is ``None`` when no process was profiled."""
        measured = self.processes > 0
        values = {
            "peakRssMB": self.peak_rss_mb,
            "peakRssSumMB": self.peak_rss_sum_mb,
            "userCpuS": self.user_cpu_s,
            "systemCpuS": self.system_cpu_s,
            "voluntaryCtxSwitches": self.voluntary_ctx_switches,
            "involuntaryCtxSwitches": self.involuntary_ctx_switches,
            "minorPageFaults": self.minor_page_faults,
            "majorPageFaults": self.major_page_faults,
            "endedProcesses": self.ended,
        }
        return {"processes": self.processes, **{k: v if measured else None for k, v in values.items()}}

    def line(self) -> str:
        """One line in the spirit of ``time -v``."""
        if not self.processes:
            return "no process profiled"
        return (
            f"{self.processes} proc(s): peak RSS {self.peak_rss_mb:.1f} MB (sum {self.peak_rss_sum_mb:.1f}), "
            f"user {self.user_cpu_s:.2f} s, sys {self.system_cpu_s:.2f} s, "
            f"ctx vol {self.voluntary_ctx_switches} / invol {self.involuntary_ctx_switches}, "
            f"faults minor {self.minor_page_faults} / major {self.major_page_faults}"
        )


@dataclass(frozen=True)
class ProcReading:
    """One process's counters at one moment (context switches summed over its threads)."""

    hwm_mb: float
    user_s: float
    sys_s: float
    vol: int
    invol: int
    minflt: int
    majflt: int


def reading_of(st: ProcStat, hwm_mb: float = 0.0, threads: dict[int, tuple[int, int]] | None = None) -> ProcReading:
    """A reading from a ``stat`` reading plus, when read, peak RSS and per-thread context switches."""
    vol = sum(v for v, _ in threads.values()) if threads else 0
    invol = sum(i for _, i in threads.values()) if threads else 0
    return ProcReading(
        hwm_mb=max(st.rss_mb, hwm_mb),
        user_s=st.utime / CLOCK_TICKS,
        sys_s=st.stime / CLOCK_TICKS,
        vol=vol,
        invol=invol,
        minflt=st.minflt,
        majflt=st.majflt,
    )


def read_full(pid: int) -> tuple[ProcStat, ProcReading, dict[int, tuple[int, int]]] | None:
    """``stat``, the full reading and per-thread switches of a process, or ``None`` (gone or a zombie)."""
    st = proc_stat.read_stat(pid)
    if st is None or st.zombie:
        return None
    slow = proc_stat.peak_and_switches(pid)
    if slow is None:
        return None
    hwm, threads = slow
    return st, reading_of(st, hwm, threads), threads


def read_process(proc: psutil.Process) -> ProcReading | None:
    """One process's counters now (context switches summed over its threads), or ``None`` when it is gone or
    a zombie."""
    full = read_full(proc.pid)
    return None if full is None else full[1]


class TreeProfiler:
    """Keeps the last counters of every process of a tree, so the tree can be profiled after it ended.

    Call :meth:`update` while the tree runs (the sampler does it on each tick) and :meth:`profile` at any
    time. Context switches are kept per thread (last reading of every thread seen), so threads that ended
    between two readings still count. Thread-safe.
    """

    def __init__(self) -> None:
        self._last: dict[ProcKey, ProcReading] = {}
        self._threads: dict[ProcKey, dict[int, tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def record(self, key: ProcKey, reading: ProcReading, threads: dict[int, tuple[int, int]] | None = None) -> None:
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

    def update(self, procs: Iterable[psutil.Process]) -> list[ProcKey]:
        """Read every process now; returns the keys (pid, create time) read."""
        seen = []
        for proc in procs:
            full = read_full(proc.pid)
            if full is None:
                continue
            st, reading, threads = full
            key = (proc.pid, proc_stat.create_time(st))
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
