"""Keywords that measure a daemon's process tree: RSS, breakdown, descendant counts, sampler, resource profile."""

from __future__ import annotations

import ipaddress
import time

import psutil
from robotlibcore import keyword

from keywords.components.base import Component
from keywords.daemon.registry import processes_with_marker
from keywords.errors import HarnessConfigError
from keywords.measure.process_tree import (
    ResourceProfile,
    RssSampler,
    RssSamples,
    TreeProfiler,
    TreeSnapshot,
    snapshot_tree,
)


class ProcessKeywords(Component):
    """Measure the daemon's tree with psutil (no ``ps``, ``pgrep`` or ``/usr/bin/time`` needed)."""

    def _daemon(self, daemon: str | None):
        return self.ctx.get(daemon).daemon

    def _marked(self, d):
        run_id = self.ctx.registry.run_id
        tag = d.tag
        return lambda: processes_with_marker(run_id, tag)

    def _snapshot(self, daemon: str | None) -> TreeSnapshot:
        d = self._daemon(daemon)
        if d.pid is None:
            raise HarnessConfigError(f"{d.name} has no process.")
        return snapshot_tree(d.pid, self._marked(d)())

    @keyword(tags=("process",))
    def get_process_tree(self, daemon: str | None = None) -> TreeSnapshot:
        """The daemon's process tree now, with an RSS breakdown.

        Agent children run in their own process group; they are found through the daemon's environment
        marker as well as by parentage.

        Returns:
            ``TreeSnapshot``: ``daemon_rss_mb``, ``agents_rss_mb``, ``descendants_rss_mb``, ``total_rss_mb``,
            ``agent_count``, ``agent_pids``, ``descendant_pids``, ``processes`` and ``summary()``.

        Example:
            | ${tree}= | Get Process Tree |
            | Should Be Equal As Integers | ${tree.agent_count} | 1 |
        """
        snap = self._snapshot(daemon)
        self.info(snap.summary())
        return snap

    @keyword(tags=("process",))
    def get_daemon_rss(self, daemon: str | None = None) -> float:
        """RSS of the daemon process alone, in MB.

        Agent children and their descendants are not included; see `Get Process Tree` for the breakdown.

        Returns:
            The daemon's resident set size in MB (MiB) as a float.

        Example:
            | ${rss}= | Get Daemon RSS |
            | Should Be True | ${rss} < 400 |
        """
        return self._snapshot(daemon).daemon_rss_mb

    @keyword(tags=("process",))
    def count_agent_children(self, daemon: str | None = None) -> int:
        """Number of agent children of the daemon.

        Agent children are found by parentage and by the daemon's environment marker (they run in their own
        process group).

        Returns:
            The number of agent children now (an integer; 0 before the agent is spawned).

        Example:
            | ${n}= | Count Agent Children |
        """
        return self._snapshot(daemon).agent_count

    @keyword(tags=("process",))
    def count_descendants_matching(self, pattern: str, daemon: str | None = None) -> int:
        """Processes of the daemon's tree (at any depth, the daemon excluded) whose command line matches.

        Args:
            pattern: A regular expression searched for in each command line (joined with spaces, first 300
                characters).

        Returns:
            The number of matching processes now.

        Example:
            | ${n}= | Count Descendants Matching | idle_mcp |
        """
        return len(self._snapshot(daemon).matching(pattern))

    @keyword(tags=("process",))
    def wait_for_descendants_matching(
        self,
        pattern: str,
        minimum: int = 1,
        timeout: float = 10.0,
        settle: float = 0.0,
        poll: float = 0.25,
        daemon: str | None = None,
    ) -> TreeSnapshot:
        """Poll the tree until at least ``minimum`` processes match ``pattern`` and one agent child exists.

        After that, wait ``settle`` seconds more and measure again, so that extra processes starting late
        are counted too (use it when asserting an exact count).

        Args:
            pattern: A regular expression searched for in each process's command line (the daemon excluded).
            minimum: How many matching processes are wanted.
            timeout: Seconds to poll before failing (at most 600).
            settle: Seconds to wait after the condition is met before the final measurement (at most 60).
            poll: Seconds between two polls (0.01..10).

        Returns:
            The last ``TreeSnapshot``; use ``${tree.matching('pattern')}`` for the matching processes.

        Example:
            | ${tree}= | Wait For Descendants Matching | idle_mcp | minimum=2 | settle=1 |
        """
        if minimum < 0 or not 0 < timeout <= 600 or not 0.01 <= poll <= 10 or not 0 <= settle <= 60:
            raise HarnessConfigError("minimum >= 0, 0 < timeout <= 600, 0.01 <= poll <= 10, 0 <= settle <= 60.")
        deadline = time.monotonic() + timeout
        while True:
            snap = self._snapshot(daemon)
            if snap.agent_count >= 1 and len(snap.matching(pattern)) >= minimum:
                break
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"Within {timeout:g} s found {len(snap.matching(pattern))} process(es) matching {pattern!r} "
                    f"(wanted >= {minimum}) and {snap.agent_count} agent child(ren); agents "
                    f"{snap.agent_pids}, matching {[p.pid for p in snap.matching(pattern)]}."
                )
            time.sleep(poll)
        if settle:
            time.sleep(settle)
            snap = self._snapshot(daemon)
        self.info(f"{len(snap.matching(pattern))} matching {pattern!r}; {snap.summary()}")
        return snap

    @keyword(tags=("process",))
    def start_rss_sampler(self, interval_ms: float = 100.0, max_duration: float = 900.0, daemon: str | None = None):
        """Sample the daemon's tree RSS in a background thread (it never logs) until `Stop RSS Sampler`.

        Args:
            interval_ms: Milliseconds between two samples (10..60000).
            max_duration: Hard bound in seconds; the thread ends by itself after this long.

        Returns:
            The running ``RssSampler``, to pass to `Stop RSS Sampler`.

        Example:
            | ${sampler}= | Start RSS Sampler | interval_ms=100 |
        """
        d = self._daemon(daemon)
        try:
            return RssSampler(d.pid, self._marked(d), interval_ms=interval_ms, max_duration_s=max_duration).start()
        except ValueError as exc:
            raise HarnessConfigError(str(exc)) from exc

    @keyword(tags=("process",))
    def stop_rss_sampler(self, sampler: RssSampler) -> RssSamples:
        """Stop a sampler and return its samples (collected here, on the main thread).

        Returns:
            ``RssSamples``: ``peak_daemon_mb``, ``peak_tree_mb``, ``sample_count``, ``dropped``,
            ``dropped_ratio``, ``times_s``/``daemon_mb``/``tree_mb`` (for plots) and ``profile``.

        Example:
            | ${rss}= | Stop RSS Sampler | ${sampler} |
        """
        res = sampler.stop()
        if sampler.error:
            self.info(f"The sampler's thread stopped early: {sampler.error}")
        self.info(res.summary())
        return res

    @keyword(tags=("process",))
    def get_resource_profile(self, daemon: str | None = None) -> ResourceProfile:
        """Peak RSS, user/system CPU, context switches and page faults of the daemon's live tree.

        These are the figures upstream read from ``/usr/bin/time -v``; to profile a tree up to its end,
        use the ``profile`` of `Stop RSS Sampler` (it keeps each process's last reading).

        Returns:
            ``ResourceProfile``: ``processes``, ``peak_rss_mb`` (largest single-process peak), ``peak_rss_sum_mb``,
            ``user_cpu_s``, ``system_cpu_s``, ``voluntary_ctx_switches``, ``involuntary_ctx_switches``,
            ``minor_page_faults``, ``major_page_faults``, ``ended`` and ``summary()``.

        Example:
            | ${prof}= | Get Resource Profile |
            | Log | ${prof.summary()} |
        """
        d = self._daemon(daemon)
        snap = self._snapshot(daemon)
        procs = []
        for info in snap.processes:
            try:
                procs.append(psutil.Process(info.pid))
            except psutil.Error:
                continue
        prof = TreeProfiler().profile(live=procs)
        self.info(f"{d.name}: {prof.summary()}")
        return prof

    @keyword(tags=("process", "assertion"))
    def tree_should_only_connect_to_loopback(self, daemon: str | None = None) -> int:
        """Fail if any process of the daemon's tree has a socket connected to a non-loopback address.

        Returns:
            The number of connected sockets checked.

        Example:
            | Tree Should Only Connect To Loopback |
        """
        checked, outside = 0, []
        for info in self._snapshot(daemon).processes:
            try:
                conns = psutil.Process(info.pid).net_connections(kind="inet")
            except (psutil.Error, OSError):
                continue
            for conn in conns:
                if not conn.raddr:
                    continue
                checked += 1
                if not ipaddress.ip_address(conn.raddr.ip).is_loopback:
                    outside.append(f"pid {info.pid} -> {conn.raddr.ip}:{conn.raddr.port} ({conn.status})")
        if outside:
            raise AssertionError(f"Connections beyond the loopback: {'; '.join(outside)}")
        return checked
