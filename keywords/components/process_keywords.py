"""Keywords that measure a daemon's process tree: RSS by part, agent pids, descendants, sampler, profile, sockets."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import psutil
from robotlibcore import keyword

from keywords import checks
from keywords.components.component import Component
from keywords.daemon.daemon_process import Daemon
from keywords.daemon.registry import describe, processes_with_marker
from keywords.errors import HarnessConfigError
from keywords.measure.process_tree import TreeSnapshot, declared_mcp_servers, snapshot_tree
from keywords.measure.resource_profile import ResourceProfile, TreeProfiler
from keywords.measure.rss_sampler import MAX_DURATION_S, RssSampler, RssSamples
from keywords.measure.sockets import SocketReport, inet_sockets


class ProcessKeywords(Component):
    """Measure the daemon's tree from ``/proc`` (no ``ps``, ``pgrep`` or ``/usr/bin/time`` needed).

    Which process is the daemon, an agent, an MCP server or a descendant is the one rule of
    :mod:`keywords.measure.process_tree`; every keyword here uses it.
    """

    def _daemon(self, daemon: str | None):
        return self.ctx.get(daemon).daemon

    def _marked(self, d):
        run_id = self.ctx.registry.run_id
        tag = d.tag
        return lambda: processes_with_marker(run_id, tag)

    def _snapshot(self, daemon: str | None) -> TreeSnapshot:
        d = self._daemon(daemon)
        if d.pid is None:
            raise HarnessConfigError(f"{d.name} has no process; start it before measuring its tree.")
        return snapshot_tree(d.pid, self._marked(d)(), mcp_servers=declared_mcp_servers(d.home))

    @keyword(tags=("process",))
    def get_process_tree(self, *, daemon: str | None = None) -> TreeSnapshot:
        """The daemon's process tree now, with an RSS breakdown by part.

        Agent children run in their own process group; they are found through the daemon's environment
        marker as well as by parentage. MCP servers are the processes that run a server declared in the
        daemon's user settings (``mcp_servers`` of `Start Daemon`); without such a server the tree has no MCP
        part and its MCP figures are ``None``.

        Returns:
            ``TreeSnapshot`` with ``daemon_pid`` (int), ``processes`` (list of ``ProcInfo``: ``pid``,
            ``ppid``, ``role`` = daemon/agent/mcp/descendant, ``rss_mb``, ``cmdline``), ``daemon_rss_mb``,
            ``agents_rss_mb``, ``descendants_rss_mb`` (everything below the agents, MCP servers included),
            ``total_rss_mb`` (floats, MB), ``agent_pids``, ``descendant_pids``, ``mcp_pids`` (lists of int),
            ``mcp_rss_mb`` (float, ``None`` without MCP servers), ``mcp_declared`` (int), ``agent_count``
            (int), ``breakdown()`` (parts ``daemon``, ``agents``, ``mcpServers`` when any,
            ``otherDescendants``, each with ``what``, ``pids``, ``rss_mb``), ``matching(pattern)``,
            ``figures()`` and ``line()``.

        Example:
            | ${tree}= | Get Process Tree |
            | Should Be Equal As Integers | ${tree.agent_count} | 1 |
        """
        snap = self._snapshot(daemon)
        return self.reported(snap)

    @keyword(tags=("process",))
    def get_daemon_rss(self, *, daemon: str | None = None) -> float:
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
    def count_agent_children(self, *, daemon: str | None = None) -> int:
        """Number of agent children of the daemon (the tree's agent rule; see `Get Agent Pids`).

        Returns:
            The number of agent children now (an integer; 0 before the agent is spawned).

        Example:
            | ${n}= | Count Agent Children |
        """
        return self._snapshot(daemon).agent_count

    @keyword(tags=("process",))
    def get_agent_pids(self, *, daemon: str | None = None) -> list[int]:
        """Pids of the daemon's agent processes now, by the tree's agent rule.

        An agent is a process whose parent is the daemon, or (found by the daemon's environment marker) whose
        parent is not in the tree any more. For the mock agent that is the Node launcher the daemon started
        (the Python mock agent behind it is a descendant); for the real agent, the ``qwen --acp`` child.
        When the daemon respawns the agent (after it died) the new agent has a new pid, so comparing two
        calls shows a respawn.

        Returns:
            The agent pids (integers), sorted; empty when no agent runs.

        Example:
            | ${before}= | Get Agent Pids |
            | Should Not Be Empty | ${before} |
        """
        return sorted(self._snapshot(daemon).agent_pids)

    @keyword(tags=("process",))
    def count_descendants_matching(self, pattern: str, *, daemon: str | None = None) -> int:
        """Processes of the daemon's tree (at any depth, the daemon excluded) whose command line matches.

        Args:
            pattern: A regular expression searched for in each command line (joined with spaces, first 300
                characters).

        Returns:
            The number of matching processes now.

        Example:
            | ${n}= | Count Descendants Matching | idle_mcp |
        """
        return len(self._snapshot(daemon).matching(_regex(pattern)))

    @keyword(tags=("process",))
    def wait_for_descendants_matching(
        self,
        pattern: str,
        *,
        minimum: int = 1,
        timeout: timedelta | float = 10.0,
        settle: timedelta | float = 0.0,
        poll: timedelta | float = 0.25,
        daemon: str | None = None,
    ) -> TreeSnapshot:
        """Poll the tree until at least ``minimum`` processes match ``pattern`` and one agent child exists.

        After that, wait ``settle`` more and measure again, so that extra processes starting late are counted
        too (use it when asserting an exact count).

        Args:
            pattern: A regular expression searched for in each process's command line (the daemon excluded).
            minimum: How many matching processes are wanted (0..10000).
            timeout: How long to poll before failing (``10 s``, ``1 min``; at most 600 s).
            settle: How long to wait after the condition is met before the final measurement (at most 60 s).
            poll: Time between two polls (0.01..10 s).

        Returns:
            The last ``TreeSnapshot`` (fields as `Get Process Tree` returns them); use
            ``${tree.matching('pattern')}`` for the matching processes.

        Example:
            | ${tree}= | Wait For Descendants Matching | idle_mcp | minimum=2 | settle=1 s |
        """
        rx = _regex(pattern)
        minimum = checks.whole_number("minimum", minimum, low=0, high=10000)
        timeout_s = checks.seconds("timeout", timeout, high=600)
        settle_s = checks.seconds("settle", settle, high=60, allow_zero=True)
        poll_s = checks.number("poll", checks.seconds("poll", poll, high=10), low=0.01, high=10, unit="s")
        deadline = time.monotonic() + timeout_s
        while True:
            snap = self._snapshot(daemon)
            if snap.agent_count >= 1 and len(snap.matching(rx)) >= minimum:
                break
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"Expected {minimum} or more processes matching {pattern!r} and an agent child within "
                    f"{timeout_s:g} s; found {len(snap.matching(rx))} matching and {snap.agent_count} agent "
                    f"child(ren). Agents {snap.agent_pids}, matching {[p.pid for p in snap.matching(rx)]}."
                )
            time.sleep(poll_s)
        if settle_s:
            time.sleep(settle_s)
            snap = self._snapshot(daemon)
        self.info(f"{len(snap.matching(rx))} matching {pattern!r}; {snap.line()}")
        return snap

    @keyword(tags=("process",))
    def start_rss_sampler(
        self,
        *,
        interval_ms: float = 100.0,
        max_duration: timedelta | float = 900.0,
        daemon: str | None = None,
    ) -> RssSampler:
        """Sample the daemon's tree RSS in a background thread (it never logs) until `Stop RSS Sampler`.

        Args:
            interval_ms: Milliseconds between two samples (10..60000).
            max_duration: Hard bound (``15 min``, or seconds; at most a day); the thread ends by itself after
                this long.

        Returns:
            The running ``RssSampler``, to pass to `Stop RSS Sampler`.

        Example:
            | ${sampler}= | Start RSS Sampler | interval_ms=100 |
        """
        max_duration_s = checks.seconds("max_duration", max_duration, high=MAX_DURATION_S)
        d = self._daemon(daemon)
        if d.pid is None:
            raise HarnessConfigError(f"{d.name} has no process; start it before sampling its tree.")
        return RssSampler(d.pid, self._marked(d), interval_ms=interval_ms, max_duration_s=max_duration_s).start()

    @keyword(tags=("process",))
    def stop_rss_sampler(self, sampler: RssSampler) -> RssSamples:
        """Stop a sampler and return its samples (collected here, on the main thread).

        Args:
            sampler: What `Start RSS Sampler` returned.

        Returns:
            ``RssSamples`` with ``interval_ms``, ``duration_s`` (float), ``sample_count``, ``dropped``,
            ``peak_agents`` (int), ``dropped_ratio`` (float, dropped / all ticks), ``peak_daemon_mb``,
            ``peak_tree_mb`` (float, MB), ``times_s``, ``daemon_mb``, ``tree_mb`` (lists of float, one per
            sample, for plots), ``profile`` (``ResourceProfile`` of the tree up to its last sample, see
            `Get Resource Profile`), ``figures()`` and ``line()``.

        Example:
            | ${rss}= | Stop RSS Sampler | ${sampler} |
        """
        res = sampler.stop()
        if sampler.error:
            self.info(f"The sampler's thread stopped early: {sampler.error}")
        return self.reported(res)

    @keyword(tags=("process",))
    def get_resource_profile(self, *, daemon: str | None = None) -> ResourceProfile:
        """Peak RSS, user/system CPU, context switches and page faults of the daemon's live tree.

        These are the figures upstream read from ``/usr/bin/time -v``; to profile a tree up to its end,
        use the ``profile`` of `Stop RSS Sampler` (it keeps each process's last reading).

        Returns:
            ``ResourceProfile`` with ``processes`` (int), ``peak_rss_mb`` (float, largest single-process
            peak), ``peak_rss_sum_mb`` (float, sum of the peaks), ``user_cpu_s``, ``system_cpu_s`` (float),
            ``voluntary_ctx_switches``, ``involuntary_ctx_switches``, ``minor_page_faults``,
            ``major_page_faults``, ``ended`` (int), ``figures()`` and ``line()``.

        Example:
            | ${prof}= | Get Resource Profile |
            | Log | ${prof.line()} |
        """
        d = self._daemon(daemon)
        procs = []
        for info in self._snapshot(daemon).processes:
            try:
                procs.append(psutil.Process(info.pid))
            except psutil.Error:
                continue
        prof = TreeProfiler().profile(live=procs)
        self.info(f"{d.name}: {prof.line()}")
        return prof

    @keyword(tags=("daemon", "process"))
    def daemon_processes_should_be_gone(self, daemon_obj: Daemon) -> None:
        """Fail if any process of a stopped daemon's tree (daemon, launcher, agent) is still alive.

        The tree is the daemon's descendants plus every process carrying its environment marker (agent children
        that were re-parented are found too).

        Args:
            daemon_obj: The daemon object returned by a start keyword or `Get Daemon` (not a name).

        Example:
            | ${d}= | Start Daemon With Mock Agent |
            | Stop Daemon |
            | Daemon Processes Should Be Gone | ${d} |
        """
        alive = daemon_obj.tree()
        if alive:
            names = ", ".join(describe(p) for p in alive)
            raise AssertionError(f"{len(alive)} process(es) of {daemon_obj.name} still alive: {names}")

    @keyword(tags=("process", "assertion", "security"))
    def tree_should_only_use_loopback(self, *, daemon: str | None = None) -> SocketReport:
        """Fail if a socket of the daemon's tree is bound to or connected with a non-loopback address.

        Every TCP and UDP socket (IPv4 and IPv6) of every process of the tree is checked: listening,
        connected and merely bound ones. The keyword also fails when it could check no socket at all, or
        could not read the sockets of a running process of the tree: then nothing was proven.

        Returns:
            ``SocketReport`` with ``listening``, ``connected``, ``checked`` (int: socket counts),
            ``processes`` (int: processes read), ``gone`` (int: ended before they were read), ``unreadable``
            (list of str), ``sockets`` (list of ``InetSocket``: ``pid``, ``protocol``, ``local_ip``,
            ``local_port``, ``remote_ip``, ``remote_port``, ``status``), ``outside`` (the sockets that break
            the rule), ``figures()`` and ``line()``.

        Example:
            | ${sockets}= | Tree Should Only Use Loopback |
            | Should Be True | ${sockets.listening} >= 1 |
        """
        report = inet_sockets(p.pid for p in self._snapshot(daemon).processes)
        failure = report.failure()
        if failure:
            raise AssertionError(failure)
        return self.reported(report)

    @keyword(tags=("process", "assertion", "security"))
    def tree_should_only_connect_to_loopback(self, daemon: str | None = None) -> int:
        """*DEPRECATED* Use `Tree Should Only Use Loopback` instead.

        Runs `Tree Should Only Use Loopback` (so it also fails when no socket could be checked).

        Returns:
            The number of connected sockets checked.

        Example:
            | Tree Should Only Connect To Loopback |
        """
        return self.tree_should_only_use_loopback(daemon=daemon).connected


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise HarnessConfigError(f"pattern must be a regular expression, got {pattern!r} ({exc}).") from exc
