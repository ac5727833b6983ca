"""Raw readings from ``/proc``: a process's ``stat`` and ``status``, its command line and markers, the process list.

Everything here reads ``/proc`` directly (no ``ps``, no psutil per-field calls): one ``stat`` read gives a
process's parent, state, RSS, CPU times and page faults. A reading of a process that is gone (or not ours)
is ``None``, never an exception. The tree (:mod:`keywords.measure.process_tree`), the resource profile
(:mod:`keywords.measure.resource_profile`) and the sampler (:mod:`keywords.measure.rss_sampler`) build on
these readers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from keywords.daemon.registry import RUN_MARKER, TAG_MARKER

MB = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CMDLINE_CHARS = 300


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the harness uses (times in clock ticks, RSS in pages).

    Attributes:
        ppid: Parent pid.
        state: One-letter process state (``R``, ``S``, ``Z``...).
        minflt: Minor page faults.
        majflt: Major page faults.
        utime: User CPU time in clock ticks.
        stime: System CPU time in clock ticks.
        start: Start time in clock ticks since boot (tells a reused pid from the process it replaced).
        rss_pages: Resident set size in pages.
    """

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
        """The process has exited (zombie or dead) and only waits to be reaped."""
        return self.state in ("Z", "X")

    @property
    def rss_mb(self) -> float:
        """Resident set size in MB (MiB)."""
        return self.rss_pages * PAGE_SIZE / MB


def read_file(path: str) -> bytes | None:
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


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/<pid>/stat`` parsed, or ``None`` when the process is gone."""
    text = read_file(f"/proc/{pid}/stat")
    if not text:
        return None
    try:
        f = text[text.rindex(b")") + 2 :].split()  # f[0] is field 3 (state)
        return ProcStat(
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


def proc_pids() -> list[int]:
    """Pids of every process now (``/proc`` lists thread-group leaders only)."""
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def last_pid() -> int | None:
    """The pid the kernel allocated last in this pid namespace (``/proc/loadavg``, last field)."""
    text = read_file("/proc/loadavg")
    try:
        return int(text.rsplit(None, 1)[-1]) if text else None
    except ValueError:
        return None


def scan() -> dict[int, ProcStat]:
    """One pass over ``/proc``: every process's ``stat``."""
    stats = {}
    for pid in proc_pids():
        st = read_stat(pid)
        if st is not None:
            stats[pid] = st
    return stats


def closure(roots: Iterable[int], stats: dict[int, ProcStat]) -> set[int]:
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


def argv_of(pid: int) -> list[str]:
    """The process's arguments (``/proc/<pid>/cmdline``), empty when it is gone or a kernel thread."""
    raw = read_file(f"/proc/{pid}/cmdline") or b""
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")] if raw else []


def cmdline_of(pid: int) -> str:
    """The command line joined with spaces, cut to its first 300 characters."""
    return " ".join(argv_of(pid))[:CMDLINE_CHARS]


def markers_of(pid: int) -> tuple[bytes, bytes] | None:
    """The ``RUN=...`` and ``TAG=...`` environment entries of a process (``None`` without a run marker)."""
    raw = read_file(f"/proc/{pid}/environ")
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


def create_time(st: ProcStat) -> float:
    """The process's start as psutil's ``create_time()`` gives it (so keys agree with psutil's)."""
    if not _BOOT_TIME:
        _BOOT_TIME.append(psutil.boot_time())
    return _BOOT_TIME[0] + st.start / CLOCK_TICKS


def status_field(text: bytes, key: bytes) -> int | None:
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
        text = read_file(f"/proc/{pid}/task/{tid}/status")
        if not text:
            continue  # the thread ended meanwhile
        vol = status_field(text, b"voluntary_ctxt_switches")
        invol = status_field(text, b"nonvoluntary_ctxt_switches")
        if vol is not None and invol is not None:
            counts[tid] = (vol, invol)
    return counts


def peak_and_switches(pid: int) -> tuple[float, dict[int, tuple[int, int]]] | None:
    """Peak RSS (``VmHWM``, MB) and per-thread context switches, or ``None`` when the process is gone."""
    text = read_file(f"/proc/{pid}/status")
    if not text:
        return None
    hwm_kb = status_field(text, b"VmHWM") or 0
    return hwm_kb / 1024, thread_ctx_switches(pid)
