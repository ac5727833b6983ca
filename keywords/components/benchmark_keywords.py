"""Keywords of the daemon-versus-CLI benchmark (upstream's C1-C12).

Thin wrappers: each keyword checks its arguments, reaches the daemon through the shared context and calls
one measurement of :mod:`keywords.measure` (``cli_runs``, ``boot_timing``, ``session_timing``, ``tree_rss``,
``prompt_timer``, ``session_churn``, ``replay_flood``, ``side_by_side``); the result dataclasses are defined
there. Every result has ``figures()`` (camelCase keys, for the snapshot) and ``line()``
(for the test message).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any, Literal

from robotlibcore import keyword

from keywords.checks import seconds
from keywords.components.daemon_component import DaemonComponent
from keywords.fakes import real_agent
from keywords.fakes.oneshot_cli import CliSpec, OneShotCli
from keywords.measure import (
    bench_tunables,
    boot_timing,
    cli_runs,
    prompt_timer,
    replay_flood,
    session_churn,
    session_timing,
    side_by_side,
    tree_rss,
)
from keywords.measure.bench_common import Target
from keywords.measure.bench_tunables import BenchmarkTunables
from keywords.measure.boot_timing import BootSeries
from keywords.measure.cli_runs import CliSeries
from keywords.measure.prompt_timer import PromptSeries
from keywords.measure.replay_flood import SseFloodResult
from keywords.measure.session_churn import ChurnResult, ThroughputWindow
from keywords.measure.session_timing import SessionLimitRun, SessionTimings
from keywords.measure.side_by_side import CliComparison, SideBySide
from keywords.measure.tree_rss import TreeRss, TreeRssSeries

MAX_CLI_TIMEOUT_S = 1800.0


class BenchmarkKeywords(DaemonComponent):
    """The daemon-versus-CLI benchmark: one-shot CLI runs, boot/session/prompt timings, throughput, churn, floods."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._cli_count = 0

    def _target(self, daemon: str | None) -> Target:
        """The named (or current) daemon, looked up, and checked alive, at every use."""
        return functools.partial(self.ctx.get, daemon)

    # -- C1 / C5: the one-shot CLI --------------------------------------------------------------------
    @keyword(tags=("benchmark", "cli"))
    def run_one_shot_cli(
        self,
        provider_url: str,
        *,
        prompt: str = "say ok",
        iterations: int = 5,
        warmup: int = 1,
        profile_startup: bool = False,
        model: str = "fake-model",
        timeout: timedelta | float = 120.0,
        cli_entry: str | None = None,
    ) -> CliSeries:
        """Run the real one-shot CLI (``node cli-entry.js -p <prompt> --output-format text``) and measure it.

        The CLI gets a private HOME with the same model settings and environment as the daemon's real agent
        child (`Start Daemon With Real Agent`), so it talks to the same fake provider. Warm-up runs are
        excluded. Every run must exit 0 and print something, or the keyword fails with the CLI's stderr.

        Args:
            provider_url: OpenAI base URL of the fake provider (``${provider.base_url}``).
            prompt: The ``-p`` prompt.
            iterations: Measured runs (1..200).
            warmup: Excluded runs first (0..10).
            profile_startup: Set ``QWEN_CODE_PROFILE_STARTUP=1`` (and ``_OUTER=1``) and read the phases.
            model: Model name.
            timeout: Bound on one run (``2 min`` or seconds, at most 1800).
            cli_entry: Another build's entry script (default: the library's daemon build).

        Returns:
            ``CliSeries``: ``prompt`` (str), ``warmup`` (int), ``runs`` (list of ``CliRun``), ``wall``
            (``LatencySummary``, ms per run), ``full_startup`` (``LatencySummary`` of the profiler's
            ``fullStartupMs``, or ``None``), ``peak_rss_mb`` (``LatencySummary``, MB), ``phases``
            (``StartupPhases`` of the last run, or ``None``), ``phases_note`` (str), ``profile``
            (``ResourceProfile`` of the last run), ``rusage`` (``Rusage`` of the last run's root, or ``None``),
            ``failures`` (int), ``stdout`` (str); ``figures()``, ``line()`` and ``to_dict()``.

        Example:
            | ${cli}= | Run One Shot CLI | ${provider.base_url} | iterations=5 | profile_startup=${True} |
            | Report Figures | ${cli.line()} |
        """
        iterations, warmup = cli_runs.check_cli_counts(iterations, warmup)
        timeout_s = seconds("timeout", timeout, high=MAX_CLI_TIMEOUT_S)
        env, files = real_agent.settings(provider_url, model, None)
        self._cli_count += 1
        cli = OneShotCli(
            CliSpec(self.ctx.source(cli_entry), self.ctx.node().path, env=env, home_files=files, timeout_s=timeout_s),
            self.ctx.registry,
            name=f"cli-{self._cli_count}",
        )
        return cli_runs.run_cli_series(
            cli, prompt, iterations=iterations, warmup=warmup, profile_startup=bool(profile_startup), log=self.info
        )

    # -- C2: boot to the first session ---------------------------------------------------------------
    @keyword(tags=("benchmark", "daemon"))
    def measure_daemon_boot_to_first_session(
        self,
        provider_url: str,
        *,
        iterations: int = 5,
        daemon_entry: str | None = None,
        boot_timeout: timedelta | float = 60.0,
    ) -> BootSeries:
        """Start the daemon (real agent, not preheated) ``iterations`` times; time spawn → first session.

        Each iteration gets a fresh HOME and workspace and is stopped afterwards. The last iteration is
        profiled over its whole life (boot, first session, stop) from the process tree, and exactly through
        this process's ``RUSAGE_CHILDREN`` (the daemon is reaped here, its agent child by the daemon).

        Args:
            provider_url: OpenAI base URL of the fake provider the real agent uses (``${provider.base_url}``).
            iterations: Boots to measure (1..100).
            daemon_entry: Another build's entry script (default: the library's daemon build).
            boot_timeout: How long each boot may take to print its listening line (``1 min`` or seconds).

        Returns:
            ``BootSeries``: ``latency`` (spawn to the first ``POST /session`` answer), ``listen`` (spawn to the
            listening line), ``first_session`` (listening line to the first session), each a
            ``LatencySummary`` in ms; ``profile`` (``ResourceProfile`` of the last iteration, or ``None``),
            ``rusage`` (dict of exact counters of the last iteration), ``peak_tree_mb`` (float MB, or
            ``None``); ``figures()``, ``line()`` and ``to_dict()``.

        Example:
            | ${boot}= | Measure Daemon Boot To First Session | ${provider.base_url} | iterations=5 |
            | Figure Should Be At Most | boot p99 | ${boot.latency.p99} | 30000 |
        """
        start = self.real_agent_starter(provider_url, seconds("boot_timeout", boot_timeout, high=600))
        return boot_timing.measure_boot_to_first_session(
            functools.partial(start, daemon_entry, False),
            self._daemons.stop_daemon,
            self._target(None),
            iterations=iterations,
            log=self.info,
        )

    # -- C3 / C8: session creations ------------------------------------------------------------------
    @keyword(tags=("benchmark", "session"))
    def time_session_creations(
        self,
        count: int,
        *,
        concurrent: bool = False,
        scope: Literal["thread", "single"] = "thread",
        daemon: str | None = None,
    ) -> SessionTimings:
        """Create ``count`` sessions, one after another or all at once, timing each ``POST /session``.

        Failures are collected with their texts, not raised (the suite asserts on ``success_count``). A
        concurrent batch starts all requests together behind one barrier, one thread each; a barrier that
        breaks fails the keyword (the requests would not have started together).

        Args:
            count: Sessions to create (1..500); they are left open.
            concurrent: Send all requests at once instead of one after another.
            scope: ``sessionScope`` sent: ``thread`` (a new session each) or ``single``.

        Returns:
            ``SessionTimings``: ``latency`` (``LatencySummary``, ms per successful request, client side),
            ``session_ids`` (list of str), ``failures`` (list of error texts), ``wall_ms`` (float),
            ``concurrency`` (int), ``success_count`` (int); ``figures()`` and ``line()``.

        Example:
            | ${warm}= | Time Session Creations | 5 |
            | ${burst}= | Time Session Creations | 5 | concurrent=${True} |
        """
        return session_timing.time_session_creations(
            self._target(daemon), count, concurrent=bool(concurrent), scope=scope
        )

    # -- C4 / C10: tree RSS ------------------------------------------------------------------------
    @keyword(tags=("benchmark", "process"))
    def measure_tree_rss(
        self, *, sessions: int = 0, settle: timedelta | float = 1.0, daemon: str | None = None
    ) -> TreeRss:
        """Read the daemon's process-tree RSS with its daemon / agent / MCP breakdown, after ``settle``.

        Args:
            sessions: Sessions open at the time, recorded with the reading (not checked).
            settle: How long to wait before reading (``500 ms`` or seconds, 0..30).

        Returns:
            ``TreeRss`` in MB (1 decimal): ``total``, ``daemon``, ``agent``, ``mcp`` (the MCP servers; ``None``
            when none runs) as floats, plus ``sessions``, ``agents``, ``descendants`` (processes below the
            agents) and ``mcp_processes`` (processes of the declared MCP servers; ``None`` when none is declared)
            as int counts; ``figures()``,
            ``line()`` and ``to_dict()``.

        Example:
            | ${rss}= | Measure Tree RSS | sessions=5 |
            | Record Result | ${rss} |
        """
        return tree_rss.measure_tree_rss(self._target(daemon), sessions=sessions, settle=settle)

    @keyword(tags=("benchmark", "process"))
    def measure_tree_rss_at_session_counts(
        self, *counts: int, settle: timedelta | float = 1.0, daemon: str | None = None
    ) -> TreeRssSeries:
        """Open ``thread`` sessions up to each count and read the tree RSS at each, after ``settle`` (C4).

        The sessions stay open.

        Args:
            counts: Session counts, rising (``1    5    10``).
            settle: How long to wait before each reading (``1 s`` or seconds, 0..30).

        Returns:
            ``TreeRssSeries``: ``readings`` (list of ``TreeRss``, as `Measure Tree RSS` returns), ``first``
            and ``last`` (``TreeRss``), ``growth_per_session_mb`` (float or ``None``); ``figures()``
            (``daemon<N>Session(s)`` for each session count N, ``growthPerSessionMB``) and ``line()``.

        Example:
            | ${rss}= | Measure Tree RSS At Session Counts | 1 | 5 | 10 |
            | Should Be Equal As Integers | ${rss.last.mcp_processes} | 2 |
        """
        series = tree_rss.measure_tree_rss_at(self._target(daemon), counts, settle=settle)
        return self.reported(series)

    @keyword(tags=("benchmark", "report"))
    def compare_with_cli(self, result: Any, cli: CliSeries | None) -> CliComparison:
        """One daemon figure of this run against the one-shot CLI's, as a ratio.

        ``cli`` is ``${None}`` when the CLI scenario did not run: the CLI figure and the ratio are then not
        measured. Which figures are compared depends on the daemon result: warm session creations
        (`Time Session Creations`: the CLI's cold-start wall p50 over the creation p50, ``cliColdStartWallP50Ms``
        and ``cliOverDaemonP50``), a tree RSS reading (`Measure Tree RSS At Session Counts`: the tree at the
        first count over the CLI's peak RSS p50, ``cliPeakRssMB`` and ``daemonTreeOverCliPeak``) or timed
        prompts (`Time Prompts`: the CLI's wall p50 over the prompt p50, ``cliWallP50Ms`` and
        ``cliOverDaemonP50``).

        Args:
            result: The daemon's result.
            cli: The CLI's runs (`Run One Shot CLI`), or ``${None}``.

        Returns:
            ``CliComparison``: ``cli_key``, ``ratio_key``, ``what`` (str), ``cli_value``, ``daemon_value``,
            ``ratio`` (float or ``None``); ``figures()`` and ``line()``.

        Example:
            | ${versus}= | Compare With CLI | ${warm} | ${CLI_COLD} |
            | Record Result | ${versus} |
        """
        return side_by_side.versus_cli(result, cli)

    @keyword(tags=("benchmark", "session"))
    def saturate_the_session_limit(self, limit: int, *, daemon: str | None = None) -> SessionLimitRun:
        """Open ``limit`` sessions, ask for one more, close the first, then open one again (C11).

        What the daemon answers is recorded, not raised: assert on ``refusal_status``, ``refusal_code`` and
        ``recovered``.

        Args:
            limit: The daemon's ``--max-sessions`` (1..500).

        Returns:
            ``SessionLimitRun``: ``limit``, ``opened`` (int), ``open_failures`` (list of str),
            ``refusal_status`` (int or ``None``), ``refusal_code`` and ``extra_session`` (str or ``None``),
            ``recovered`` (bool), ``recovery_error`` (str or ``None``), ``limit_enforced`` (bool); ``figures()``
            and ``line()``.

        Example:
            | ${limit}= | Saturate The Session Limit | 5 |
            | Should Be Equal As Integers | ${limit.refusal_status} | 503 |
        """
        run = session_timing.saturate_session_limit(self._target(daemon), limit)
        return self.reported(run)

    @keyword(tags=("benchmark", "config"))
    def resolve_benchmark_tunables(
        self,
        heavy: bool | str = False,
        *,
        iterations: int | str | None = None,
        concurrent_sessions: int | str | None = None,
        throughput_window_s: float | str | None = None,
        churn_rounds: int | str | None = None,
    ) -> BenchmarkTunables:
        """The benchmark's tunables: each one given (not empty) is kept, the others get upstream's defaults.

        Defaults: ``iterations`` 5 (20 when ``heavy``), ``concurrent_sessions`` 5 (10), ``throughput_window_s``
        10 s (30 s), ``churn_rounds`` iterations x 4.

        Args:
            heavy: Upstream's heavy values (``True``/``False``).
            iterations: Measured iterations of C1, C2, C3, C5 (1..200).
            concurrent_sessions: Sessions of C6 and C8 (1..200); C12 opens twice as many streams.
            throughput_window_s: C9's window in seconds (at most 600).
            churn_rounds: C10's rounds (1..10000).

        Returns:
            ``BenchmarkTunables``: ``iterations``, ``concurrent_sessions``, ``churn_rounds``,
            ``sse_flood_streams`` (int), ``throughput_window_s`` (float), ``heavy`` (bool), ``parameters()``
            (the scenario parameters, camelCase) and ``line()``.

        Example:
            | ${tunables}= | Resolve Benchmark Tunables | ${HEAVY} | iterations=${ITERATIONS} |
            | Begin Scenario | C1 CLI cold start | &{tunables.parameters()} |
        """
        tunables = bench_tunables.resolve_tunables(
            heavy,
            iterations=iterations,
            concurrent_sessions=concurrent_sessions,
            throughput_window_s=throughput_window_s,
            churn_rounds=churn_rounds,
        )
        return self.reported(tunables)

    # -- C5 / C6: prompts --------------------------------------------------------------------------
    @keyword(tags=("benchmark", "prompt"))
    def time_prompts(
        self,
        session_id: str,
        text: str = "say ok",
        *,
        iterations: int = 5,
        warmup: int = 1,
        timeout: timedelta | float = 120.0,
        provider: Any = None,
        daemon: str | None = None,
    ) -> PromptSeries:
        """Send ``iterations`` prompts one after another on one session, the same text each; time each from its POST.

        The one prompt timer (also behind `Measure Prompt Latency`): each turn is followed without a race;
        a prompt that does not complete is counted as a failure with its outcome text, and none of its
        times enters a latency figure.

        Args:
            session_id: The session to prompt.
            text: The prompt text (the same for every prompt).
            iterations: Measured prompts (1..10000).
            warmup: Prompts sent first and left out of every figure (0..10).
            timeout: How long to wait for each turn's end (``2 min`` or seconds).
            provider: The fake provider the agent uses (`Start Fake Provider`), to time the arrival of each
                turn's model request; optional.

        Returns:
            ``PromptSeries``: ``prompts`` and ``concurrency`` (int); ``latency`` and ``first_chunk``
            (``LatencySummary``, ms from the POST to the end frame / first chunk, completed turns only);
            ``provider_arrival`` (``LatencySummary`` or ``None`` without a provider); the raw ``latency_ms``,
            ``first_chunk_ms``, ``provider_arrival_ms`` (lists of float); ``outcomes`` (per prompt:
            ``completed`` or the failure text); ``failed`` (``#n: <turn summary>`` per failed prompt);
            ``wall_ms`` (float, measured prompts); ``provider_requests`` and ``provider_max_in_flight`` (int
            or ``None``); ``completed`` and ``failures`` (int); ``figures()`` and ``line()``.

        Example:
            | ${daemon_prompt}= | Time Prompts | ${sid} | say ok | iterations=5 |
            | Should Be Empty | ${daemon_prompt.failed} |
        """
        return prompt_timer.time_prompts(
            self._target(daemon),
            session_id,
            text,
            iterations=iterations,
            warmup=warmup,
            timeout=timeout,
            provider=provider,
        )

    @keyword(tags=("benchmark", "prompt"))
    def time_concurrent_prompts(
        self,
        session_ids: list[str],
        *,
        provider: Any = None,
        timeout: timedelta | float = 300.0,
        daemon: str | None = None,
    ) -> PromptSeries:
        """Send one prompt on every session at the same moment; time each from its POST to the end of its turn.

        The prompts are released together by one barrier (a barrier that breaks fails the keyword) and carry
        their number (``say ok (3)``). With the fake provider given, its request log shows how the daemon's
        single agent child queued them: ``provider_max_in_flight`` (1 = one model call at a time) and
        ``provider_arrival`` (POST to that prompt's model request).

        Args:
            session_ids: The sessions, one prompt each (1..200).
            provider: The fake provider the agent uses (`Start Fake Provider`); optional.
            timeout: How long to wait for each turn's end (``5 min`` or seconds).

        Returns:
            ``PromptSeries`` as `Time Prompts` describes, with ``concurrency`` the number of sessions.

        Example:
            | ${conc}= | Time Concurrent Prompts | ${sids} | provider=${provider} |
            | Should Be Equal As Integers | ${conc.failures} | 0 |
        """
        return prompt_timer.time_concurrent_prompts(
            self._target(daemon), session_ids, timeout=timeout, provider=provider
        )

    # -- C9: throughput ----------------------------------------------------------------------------
    @keyword(tags=("benchmark", "session"))
    def measure_create_close_throughput(
        self, window: timedelta | float = 10.0, *, anchors: int = 0, daemon: str | None = None
    ) -> ThroughputWindow:
        """Create and close ``thread`` sessions back to back for ``window``; count agent child spawns.

        With ``anchors`` > 0 that many sessions stay open during the window (closed afterwards). A background
        thread reads the daemon's process tree every 50 ms; every agent child (the process tree's rule: a
        tree member whose parent is the daemon, or whose parent is not in the tree) that started during the
        window counts as a spawn, and the figure is labelled by what happened. Failed operations are counted
        with their texts, not raised (the loop stops after 1000 failures).

        Args:
            window: How long to create and close (``10 s`` or seconds, at most 600).
            anchors: Sessions held open during the window (0..100).

        Returns:
            ``ThroughputWindow``: ``mode`` (``anchored``/``unanchored``), ``ops`` (int), ``window_s`` and
            ``ops_per_sec`` (float), ``failures`` (int), ``failure_texts`` (the first distinct error texts,
            each with ``text`` and ``count``), ``agent_spawns`` (int), ``agent_pids`` (list of int),
            ``label`` (str); ``figures()``, ``line()`` and ``to_dict()``.

        Example:
            | ${anchored}= | Measure Create Close Throughput | 10 s | anchors=3 |
            | ${cold}= | Measure Create Close Throughput | 10 |
        """
        return session_churn.measure_create_close_throughput(self._target(daemon), window, anchors=anchors)

    # -- C10: churn ----------------------------------------------------------------------------------
    @keyword(tags=("benchmark", "session"))
    def measure_session_churn(self, rounds: int = 20, *, anchors: int = 3, daemon: str | None = None) -> ChurnResult:
        """Hold ``anchors`` sessions, then create+close ``rounds`` sessions, reading tree RSS before and after.

        Failed rounds are counted with their texts, not raised. The anchor sessions are closed at the end.

        Args:
            rounds: Create+close rounds (1..10000), one after another.
            anchors: Sessions held open during the churn (0..100).

        Returns:
            ``ChurnResult``: ``latency`` (``LatencySummary``, ms per completed round), ``rounds`` (int),
            ``failures`` (int), ``failure_texts`` (the first distinct error texts with their counts),
            ``before`` and ``after`` (``TreeRss``), ``drift_mb`` (float, ``after.total - before.total``);
            ``figures()`` and ``line()``.

        Example:
            | ${churn}= | Measure Session Churn | 20 |
            | Figure Should Be At Most | churn drift | ${churn.drift_mb.__abs__()} | 100 | unit=MB |
        """
        return session_churn.measure_session_churn(self._target(daemon), rounds, anchors=anchors)

    # -- C12: SSE flood -------------------------------------------------------------------------------
    @keyword(tags=("benchmark", "sse"))
    def open_sse_flood(
        self, session_id: str, *, count: int = 10, timeout: timedelta | float = 10.0, daemon: str | None = None
    ) -> SseFloodResult:
        """Open ``count`` SSE streams at once with ``Last-Event-ID: 0``; each waits for ``replay_complete``.

        The daemon sends ``replay_complete`` only to a reconnect (a ``Last-Event-ID`` header), so every stream
        asks for a replay from 0. All streams are stopped afterwards and ``/health`` is read.

        Args:
            session_id: The session whose stream is opened ``count`` times.
            count: Streams (1..500).
            timeout: How long each stream may wait for ``replay_complete`` (``10 s`` or seconds).

        Returns:
            ``SseFloodResult``: ``opened`` and ``connected`` (int; streams that saw ``replay_complete``),
            ``statuses`` (list of int), ``time_to_replay_complete`` (``LatencySummary``, ms from the subscribe
            request), ``healthy_after`` (bool), ``all_connected`` (bool); ``figures()`` and ``line()``.

        Example:
            | ${flood}= | Open SSE Flood | ${sid} | count=10 |
            | Should Be True | ${flood.all_connected} |
        """
        return replay_flood.open_sse_flood(self._target(daemon), session_id, count=count, timeout=timeout)

    # -- side by side ---------------------------------------------------------------------------------
    @keyword(tags=("benchmark", "report"))
    def daemon_versus_cli_figures(
        self,
        cli_cold: CliSeries | None = None,
        daemon_boot: BootSeries | None = None,
        prompt_cli: CliSeries | None = None,
        prompt_daemon: PromptSeries | None = None,
    ) -> SideBySide:
        """Pair the CLI's and the daemon's figures with their ratio (CLI / daemon), measured in the same run.

        Missing inputs (a scenario that did not run) give ``not run`` entries. Record the result with
        `Record Result` and draw it with `Plot Daemon Versus CLI`.

        Args:
            cli_cold: One-shot CLI runs (`Run One Shot CLI`) for the start-to-first-usable figure.
            daemon_boot: Daemon boots (`Measure Daemon Boot To First Session`).
            prompt_cli: One-shot CLI runs with the prompt, for the prompt latency figures.
            prompt_daemon: Prompts on a warm daemon session (`Time Prompts`).

        Returns:
            ``SideBySide``: ``pairs`` (dict: ``startToFirstUsableP50``, ``promptLatencyP50`` and
            ``promptLatencyP99``, each ``{cli, daemon, cliOverDaemon, unit, how}`` in ms or ``not run``, and
            ``resourceProfile``, sampled and exact figures of both or ``not run``), readable by key like the
            dictionary it was (``${side}[promptLatencyP50]``); ``bars()``, ``figures()`` and ``line()``.

        Example:
            | ${side}= | Daemon Versus CLI Figures | ${CLI_COLD} | ${DAEMON_BOOT} | ${PROMPT_CLI} | ${PROMPT_DAEMON} |
            | Record Result | ${side} |
        """
        return side_by_side.pair_figures(cli_cold, daemon_boot, prompt_cli, prompt_daemon)
