"""Keywords of the baseline suite's measurements (B1-B8): each returns a result that carries its figures.

Thin wrappers: each keyword checks its arguments, reaches the daemon through the shared context and calls
one measurement of :mod:`keywords.measure` (``mcp_counts``, ``model_faults``, ``rss_scaling``,
``session_timing``, ``backpressure_replay``). Every result has ``figures()`` (camelCase keys, for `Record Result`)
and ``line()`` (for the test message).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any, Literal

from robotlibcore import keyword

from keywords.checks import number, seconds, whole_number
from keywords.components.component import Component, fail_on
from keywords.components.process_keywords import ProcessKeywords
from keywords.daemon.daemon_log import EvictionLogRecord
from keywords.errors import HarnessConfigError
from keywords.measure import mcp_counts, model_faults, rss_scaling, session_timing
from keywords.measure.backpressure_replay import Backpressure, RingReplay
from keywords.measure.mcp_counts import McpAccounting, McpAmplification
from keywords.measure.model_faults import ProviderFaultRun
from keywords.measure.rss_scaling import RssScaling
from keywords.measure.session_steps import check_scope, check_session_counts, open_sessions_until
from keywords.measure.session_timing import AttachTimings
from keywords.traffic.client import PromptAccepted
from keywords.traffic.stream_result import StreamResult

__all__ = [
    "AttachTimings",
    "Backpressure",
    "McpAccounting",
    "McpAmplification",
    "PerfBaselineKeywords",
    "ProviderFaultRun",
    "RingReplay",
    "RssScaling",
]

IDLE_MCP_PATTERN = r"idle_mcp\.py"
MAX_WINDOW_S = 600.0


class PerfBaselineKeywords(Component):
    """The baseline's measurements: MCP processes and accounting, provider faults, RSS scaling, attaches, SSE."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._tree = ProcessKeywords(ctx)

    def _opener(self, daemon: str | None, scope: str):
        opened: list[str] = []
        return lambda count: open_sessions_until(self.ctx.get(daemon).client, opened, count, scope)

    # -- B3 / B4: MCP ---------------------------------------------------------------------------------
    @keyword(tags=("baseline", "mcp"))
    def count_mcp_processes_at_session_counts(
        self,
        *counts: int,
        servers: int,
        pattern: str = IDLE_MCP_PATTERN,
        pending_server: str | None = None,
        pending_pattern: str | None = None,
        timeout: timedelta | float = 20.0,
        settle: timedelta | float = 1.0,
        daemon: str | None = None,
    ) -> McpAmplification:
        """Open ``thread`` sessions up to each count and count the MCP server processes of the tree then.

        At each count the tree is polled until ``servers`` processes match ``pattern`` (and an agent child
        runs), then read again after ``settle``, so late extra processes are counted too. With
        ``pending_server``, its state is read from ``GET /workspace/mcp`` at the end and the processes matching
        ``pending_pattern`` are counted (a server awaiting approval must have none).

        Args:
            counts: Session counts, rising (``1    3    5``).
            servers: MCP servers declared in the user settings (the processes waited for at each count).
            pattern: Regular expression that the MCP servers' command lines match.
            pending_server: Name of a workspace server declared without approval (``workspace-idle1``).
            pending_pattern: Regular expression of its processes (default: its name).
            timeout: How long to wait for the servers at each count (``20 s``, at most 600 s).
            settle: Wait after they appeared, before counting (at most 60 s).

        Returns:
            ``McpAmplification``: ``servers`` (int), ``counts`` (dict session count -> MCP processes),
            ``pending_server``, ``pending_state`` (str or ``None``), ``pending_processes`` (int or ``None``),
            ``at_fewest`` and ``at_most`` (MCP processes at the smallest and largest count),
            ``linear_amplification`` (bool, upstream's rule), ``off_counts()``; ``figures()``
            (``childrenAt<N>Session(s)`` for each session count N, ``linearAmplification``, ``workspaceServerState``,
            ``workspaceServerProcesses``) and ``line()``.

        Example:
            | ${mcp}= | Count MCP Processes At Session Counts | 1 | 3 | 5 | servers=2 |
            | Record Result | ${mcp} |
            | MCP Processes Should Be One Per Server | ${mcp} |
        """
        steps = check_session_counts(counts)
        servers = whole_number("servers", servers, low=0, high=100)
        wait = functools.partial(
            self._tree.wait_for_descendants_matching, pattern, timeout=timeout, settle=settle, daemon=daemon
        )
        result = mcp_counts.count_mcp_processes(
            steps,
            self._opener(daemon, "thread"),
            lambda minimum: wait(minimum=minimum),
            pattern,
            servers,
            status=lambda: self.ctx.get(daemon).client.workspace_mcp(),
            pending_server=pending_server,
            pending_pattern=pending_pattern,
            tree=lambda: self._tree.get_process_tree(daemon=daemon),
        )
        return self.reported(result)

    @keyword(tags=("baseline", "mcp", "assertion"))
    def mcp_processes_should_be_one_per_server(self, result: McpAmplification) -> None:
        """Fail unless the tree ran exactly one process per declared MCP server at every session count.

        A return of per-session amplification (more processes as sessions grow) fails here.

        Args:
            result: From `Count MCP Processes At Session Counts`.

        Example:
            | MCP Processes Should Be One Per Server | ${mcp} |
        """
        if not isinstance(result, McpAmplification):
            raise HarnessConfigError(
                f"Expected the result of Count MCP Processes At Session Counts, got {result!r:.80}."
            )
        off = result.off_counts()
        if off:
            detail = "; ".join(f"{c} at {n} session(s)" for n, c in off.items())
            raise AssertionError(
                f"Expected one MCP process per server ({result.servers}) at every session count, but found {detail}."
            )

    @keyword(tags=("baseline", "mcp"))
    def read_mcp_accounting(
        self,
        *,
        servers: int,
        pattern: str = IDLE_MCP_PATTERN,
        timeout: timedelta | float = 20.0,
        settle: timedelta | float = 1.0,
        daemon: str | None = None,
    ) -> McpAccounting:
        """Wait until ``servers`` MCP processes run, then read ``GET /workspace/mcp`` next to the tree.

        Args:
            servers: MCP servers declared in the user settings (the processes waited for).
            pattern: Regular expression that the MCP servers' command lines match.
            timeout: How long to wait for them (``20 s``, at most 600 s).
            settle: Wait after they appeared, before reading (at most 60 s).

        Returns:
            ``McpAccounting``: ``entry_count_sum``, ``observed`` (MCP processes in the tree), ``client_count``
            (int or ``None``), ``connected`` (servers whose ``mcpStatus`` is ``connected``), ``budget_mode``
            (str or ``None``); ``figures()`` and ``line()``.

        Example:
            | ${mcp}= | Read MCP Accounting | servers=2 |
            | Should Be Equal As Integers | ${mcp.entry_count_sum} | ${mcp.observed} |
        """
        servers = whole_number("servers", servers, low=0, high=100)
        tree = self._tree.wait_for_descendants_matching(
            pattern, minimum=servers, timeout=timeout, settle=settle, daemon=daemon
        )
        result = McpAccounting.of(self.ctx.get(daemon).client.workspace_mcp(), tree, pattern)
        return self.reported(result)

    # -- B8: provider faults ----------------------------------------------------------------------------
    @keyword(tags=("baseline", "provider"))
    def run_provider_faults(
        self,
        provider: Any,
        session_id: str,
        *faults: Literal["http500", "http429", "stall"],
        timeout: timedelta | float = 30.0,
        daemon: str | None = None,
    ) -> ProviderFaultRun:
        """For each fault: the provider fails, one prompt runs to its end, the provider heals, one more prompt.

        After each fault's second prompt ``/health`` is read. Nothing is raised for what the daemon does (see
        `Every Provider Fault Should End Its Turn And Leave The Session Usable`); the provider is healthy
        again when the keyword returns.

        Args:
            provider: The fake provider the agent uses (`Start Fake Provider`).
            session_id: The session to prompt.
            faults: ``http500``, ``http429`` and/or ``stall`` (default: all three).
            timeout: How long to wait for each turn's end (``30 s``, at most 1800 s).

        Returns:
            ``ProviderFaultRun``: ``faults`` (list of ``FaultOutcome``: ``fault``, ``outcome``, ``code``,
            ``turn_ms``, ``provider_requests``, ``next_outcome``, ``healthy_after``), ``problems()``;
            ``figures()`` (``faults`` by name) and ``line()``.

        Example:
            | ${faults}= | Run Provider Faults | ${provider} | ${sid} | http500 | stall | timeout=30 s |
            | Record Result | ${faults} |
        """
        target = functools.partial(self.ctx.get, daemon)
        run = model_faults.run_provider_faults(
            target, provider, session_id, faults or model_faults.FAULTS, timeout=timeout
        )
        return self.reported(run)

    @keyword(tags=("baseline", "provider", "assertion"))
    def every_provider_fault_should_end_its_turn_and_leave_the_session_usable(self, run: ProviderFaultRun) -> None:
        """Fail unless every faulty turn ended with ``turn_error``, the next prompt completed and ``/health`` was ok.

        Args:
            run: From `Run Provider Faults`.

        Example:
            | Every Provider Fault Should End Its Turn And Leave The Session Usable | ${faults} |
        """
        if not isinstance(run, ProviderFaultRun):
            raise HarnessConfigError(f"Expected the result of Run Provider Faults, got {run!r:.80}.")
        problems = run.problems()
        fail_on(
            problems, "Expected every faulty turn to end with turn_error and the session and daemon to stay usable, but"
        )

    # -- B1: RSS scaling --------------------------------------------------------------------------------
    @keyword(tags=("baseline", "process"))
    def sample_rss_at_session_counts(
        self,
        *counts: int,
        scope: Literal["thread", "single"] = "thread",
        window: timedelta | float = 3.0,
        interval_ms: float = 100.0,
        daemon: str | None = None,
    ) -> RssScaling:
        """Open sessions up to each count and sample the tree's RSS for ``window`` at each (upstream's B1).

        After the last window the tree and its resource profile are read. A window without a sample fails.

        Args:
            counts: Session counts, rising (``1    5    10``).
            scope: ``single`` (upstream's measure: attaches to one session) or ``thread`` (distinct sessions).
            window: How long to sample at each count (``3 s``, at most 600 s).
            interval_ms: Milliseconds between two samples (10..60000).

        Returns:
            ``RssScaling``: ``scope`` (str), ``windows`` (list of ``RssWindow``: ``start_s``, ``sessions``,
            ``samples``), ``tree`` (``TreeSnapshot``), ``profile`` (``ResourceProfile``), ``peak(sessions)``,
            ``peak_at_fewest`` and ``peak_at_most`` (float MB, the daemon's peak at the smallest and largest count),
            ``growth_per_session_mb`` (float or ``None``), ``worst_dropped_ratio`` (float), ``timeline()``;
            ``figures()`` (``session<N>MB`` for each session count N, ``growthPerSessionMB``, ``sampleCount``,
            ``droppedSampleCount``, ``treeSession<N>MB`` for each N, ``agentChildren``, ``agentsRssMB``,
            ``resourceProfile``) and ``line()``.

        Example:
            | ${rss}= | Sample RSS At Session Counts | 1 | 5 | 10 | scope=single |
            | Record Result | ${rss} |
        """
        steps = check_session_counts(counts)
        scope = check_scope(scope)
        window_s = seconds("window", window, high=MAX_WINDOW_S)
        interval_ms = number("interval_ms", interval_ms, low=10, high=60000, unit="ms")
        result = rss_scaling.sample_at_session_counts(
            steps,
            scope,
            self._opener(daemon, scope),
            lambda: self._tree.start_rss_sampler(interval_ms=interval_ms, daemon=daemon),
            window_s,
        )
        result.tree = self._tree.get_process_tree(daemon=daemon)
        result.profile = self._tree.get_resource_profile(daemon=daemon)
        return self.reported(result)

    # -- B2: attaches -------------------------------------------------------------------------------------
    @keyword(tags=("baseline", "session"))
    def time_attaches_to_the_workspace_session(self, count: int = 5, *, daemon: str | None = None) -> AttachTimings:
        """Send ``count`` same-workspace ``POST /session`` (scope ``single``) one after another; time each.

        The first creates the workspace's session (or attaches to it); every later one must attach.

        Args:
            count: Requests (2..100).

        Returns:
            ``AttachTimings``: ``sessions`` (list of ``SessionInfo``), ``elapsed_ms`` (list of float, in
            order), ``all_attached`` and ``same_session`` (bool); ``figures()`` (``firstCreateMs``,
            ``session<N>Ms`` for each attach N from 2, ``allAttached``, ``sameSession``) and ``line()``.

        Example:
            | ${attach}= | Time Attaches To The Workspace Session | 5 |
            | Figure Should Be At Most | 2nd attach | ${attach.elapsed_ms}[1] | 1000 |
        """
        result = session_timing.time_attaches(functools.partial(self.ctx.get, daemon), count)
        return self.reported(result)

    # -- B5 / B6: SSE ---------------------------------------------------------------------------------------
    @keyword(tags=("baseline", "events"))
    def summarize_sse_backpressure(
        self,
        evicted: EvictionLogRecord,
        accepted: PromptAccepted,
        stalled: StreamResult,
        healthy: StreamResult,
        healthy_evictions: list[str] | None = None,
    ) -> Backpressure:
        """Put together what the backpressure test read: the eviction, the flood prompt and both subscribers.

        Args:
            evicted: The stalled subscriber's eviction (`Wait For Eviction In Daemon Log`).
            accepted: The flood prompt's answer (`Send Prompt`).
            stalled: What the stalled subscriber read (`Collect Events`).
            healthy: What the healthy subscriber read.
            healthy_evictions: The daemon's log lines that evicted the healthy one (`Get Daemon Log Lines`).

        Returns:
            ``Backpressure``: the inputs, ``eviction_ms`` (POST to the eviction found in the log, ms),
            ``healthy_evicted`` (bool); ``figures()`` (``evictionAtOverflow``, ``evictionReason``,
            ``queueSizeAtEviction``, ``droppedAfter``, ``evictionMs``, ``stalledReceived``,
            ``healthyReceived``, ``healthyEvicted``) and ``line()``.

        Example:
            | ${flood}= | Summarize SSE Backpressure | ${evicted} | ${accepted} | ${cut} | ${all} | ${lines} |
            | Record Result | ${flood} |
        """
        if not isinstance(evicted, EvictionLogRecord):
            raise HarnessConfigError(f"evicted must come from Wait For Eviction In Daemon Log, got {evicted!r:.80}.")
        for name, stream in (("stalled", stalled), ("healthy", healthy)):
            if not isinstance(stream, StreamResult):
                raise HarnessConfigError(f"{name} must be a stream's result (Collect Events), got {stream!r:.80}.")
        return Backpressure(evicted, accepted, stalled, healthy, list(healthy_evictions or []))

    @keyword(tags=("baseline", "events"))
    def summarize_ring_replay(
        self, inside: StreamResult, behind: StreamResult, *, ring_size: int, cursor: int, last_event_id: int
    ) -> RingReplay:
        """Put together the two reconnects of the replay test: inside the event ring, and behind it.

        Args:
            inside: The reconnect with ``Last-Event-ID`` ``cursor`` while it was inside the ring.
            behind: The same reconnect after the ring wrapped past it.
            ring_size: The daemon's ``--event-ring-size``.
            cursor: The ``Last-Event-ID`` both sent.
            last_event_id: The session's last event id when ``behind`` was read.

        Returns:
            ``RingReplay``: the inputs, ``first_id_kept`` (int), ``replay_up_to_ring`` (bool),
            ``resync_reason`` (str or ``None``), ``behind_problems()``; ``figures()`` (``replayUpToRing``,
            ``lastEventId``, ``resync``, ``replayedAfterResync``, ``firstIdAfterResync``, ``lastIdAfterResync``)
            and ``line()``.

        Example:
            | ${r}= | Summarize Ring Replay | ${in} | ${out} | ring_size=100 | cursor=10 | last_event_id=${last} |
        """
        ring = whole_number("ring_size", ring_size, low=1)
        return RingReplay(
            ring,
            whole_number("cursor", cursor, low=0),
            inside,
            behind,
            whole_number("last_event_id", last_event_id, low=0),
        )

    @keyword(tags=("baseline", "events", "assertion"))
    def replay_behind_the_ring_should_hold_the_last_ring_of_events(self, replay: RingReplay) -> None:
        """Fail unless the reconnect behind the ring got ``state_resync_required`` (``ring_evicted``) and then
        exactly the ring's events: ids ``last_event_id - ring_size + 1`` to ``last_event_id``, without a gap.

        Args:
            replay: From `Summarize Ring Replay`.

        Example:
            | Replay Behind The Ring Should Hold The Last Ring Of Events | ${replay} |
        """
        if not isinstance(replay, RingReplay):
            raise HarnessConfigError(f"Expected the result of Summarize Ring Replay, got {replay!r:.80}.")
        problems = replay.behind_problems()
        fail_on(problems, f"Expected a resync and then the ring's last {replay.ring_size} events behind the ring, but")
