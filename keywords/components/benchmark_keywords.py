"""Keywords of the daemon-versus-CLI benchmark (upstream's C1-C12) and of the A/B comparison of two builds.

Thin wrappers: each keyword checks its arguments, reaches the daemon through the shared context and calls
the measurement in :mod:`keywords.measure.daemon_vs_cli` (the A/B ratios come from :mod:`keywords.measure.ab`);
the result dataclasses are defined there and re-exported here.
"""

from __future__ import annotations

import functools
from typing import Any

from robotlibcore import keyword

from keywords.components.base import Component
from keywords.components.daemon_keywords import DaemonKeywords
from keywords.fakes.oneshot_cli import CliSpec, OneShotCli
from keywords.measure import ab, daemon_vs_cli
from keywords.measure.daemon_vs_cli import (
    BootSeries,
    ChurnResult,
    CliSeries,
    FloodResult,
    PromptSeries,
    SessionTimings,
    ThroughputWindow,
    TreeRss,
)

__all__ = [
    "BenchmarkKeywords",
    "BootSeries",
    "ChurnResult",
    "CliSeries",
    "FloodResult",
    "PromptSeries",
    "SessionTimings",
    "ThroughputWindow",
    "TreeRss",
]


class BenchmarkKeywords(Component):
    """The daemon-versus-CLI benchmark: one-shot CLI runs, boot/session/prompt timings, throughput, churn, floods."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._daemons = DaemonKeywords(ctx)
        self._cli_count = 0

    def _target(self, daemon: str | None) -> daemon_vs_cli.Target:
        """The named (or current) daemon, looked up, and checked alive, at every use."""
        return functools.partial(self.ctx.get, daemon)

    # -- C1 / C5: the one-shot CLI --------------------------------------------------------------------
    @keyword(tags=("benchmark", "cli"))
    def run_one_shot_cli(
        self,
        provider_url: str,
        prompt: str = "say ok",
        iterations: int = 5,
        warmup: int = 1,
        profile_startup: bool = False,
        model: str = "fake-model",
        timeout: float = 120.0,
        cli_entry: str | None = None,
    ) -> CliSeries:
        """Run the real one-shot CLI (``node cli-entry.js -p <prompt> --output-format text``) and measure it.

        The CLI gets a private HOME with the same model settings and environment as the daemon's real agent
        child (`Start Daemon` ``agent=real``), so it talks to the same fake provider. Warm-up runs are
        excluded. Every run must exit 0 and print something, or the keyword fails with the CLI's stderr.

        Args:
            provider_url: OpenAI base URL of the fake provider (``${provider.base_url}``).
            prompt: The ``-p`` prompt.
            iterations: Measured runs (1..200).
            warmup: Excluded runs first (0..10).
            profile_startup: Set ``QWEN_CODE_PROFILE_STARTUP=1`` (and ``_OUTER=1``) and read the phases.
            model: Model name.
            timeout: Bound on one run (seconds).
            cli_entry: Another build's entry script (default: the library's daemon build).

        Returns:
            A ``CliSeries`` (``wall``, ``full_startup``, ``peak_rss_mb``, ``phases``, ``profile``, ``to_dict()``).

        Example:
            | ${cli}= | Run One Shot CLI | ${provider.base_url} | iterations=5 | profile_startup=${True} |
            | Should Be True | ${cli.wall.p50} > 0 |
        """
        iterations, warmup = daemon_vs_cli.check_cli_counts(iterations, warmup)
        from keywords.fakes import provider as real_agent  # the fake provider's module owns the model settings

        env, files = real_agent.settings(provider_url, model, None)
        self._cli_count += 1
        cli = OneShotCli(
            CliSpec(self.ctx.source(cli_entry), self.ctx.node().path, env=env, home_files=files, timeout_s=timeout),
            self.ctx.registry,
            name=f"cli-{self._cli_count}",
        )
        return daemon_vs_cli.run_cli_series(cli, prompt, iterations, warmup, bool(profile_startup), log=self.info)

    # -- C2: boot to the first session ---------------------------------------------------------------
    @keyword(tags=("benchmark", "daemon"))
    def measure_daemon_boot_to_first_session(
        self, provider_url: str, iterations: int = 5, daemon_entry: str | None = None, boot_timeout: float = 60.0
    ) -> BootSeries:
        """Start the daemon (real agent, not preheated) ``iterations`` times; time spawn → first session.

        Each iteration gets a fresh HOME and workspace and is stopped afterwards. The last iteration is
        profiled over its whole life (boot, first session, stop) from the process tree, and exactly through
        this process's ``RUSAGE_CHILDREN`` (the daemon is reaped here, its agent child by the daemon).

        Args:
            provider_url: OpenAI base URL of the fake provider the real agent uses (``${provider.base_url}``).
            iterations: Boots to measure (1..100).
            daemon_entry: Another build's entry script (default: the library's daemon build).
            boot_timeout: Seconds each boot may take to print its listening line.

        Returns:
            ``BootSeries``: ``latency`` (spawn to the first ``POST /session`` answer), ``listen`` (spawn to the
            listening line), ``first_session`` (listening line to the first session) as ``LatencySummary`` in
            ms; ``profile`` (``ResourceProfile``), ``rusage`` (exact counters), ``peak_tree_mb`` of the last
            iteration; ``to_dict()``.

        Example:
            | ${boot}= | Measure Daemon Boot To First Session | ${provider.base_url} | iterations=5 |
            | Figure Should Be At Most | boot p99 | ${boot.latency.p99} | 30000 |
        """

        def start():
            return self._daemons.start_daemon(
                agent="real",
                provider_url=provider_url,
                preheat=False,
                daemon_entry=daemon_entry,
                boot_timeout=boot_timeout,
            )

        return daemon_vs_cli.measure_boot_to_first_session(
            start, self._daemons.stop_daemon, self._target(None), iterations, log=self.info
        )

    # -- C3 / C8: session creations ------------------------------------------------------------------
    @keyword(tags=("benchmark", "session"))
    def time_session_creations(
        self, count: int, concurrent: bool = False, scope: str = "thread", daemon: str | None = None
    ) -> SessionTimings:
        """Create ``count`` sessions, one after another or all at once, timing each ``POST /session``.

        Failures are collected, not raised (the suite asserts on ``success_count``). A concurrent batch starts
        all requests together behind a barrier, one thread each.

        Args:
            count: Sessions to create (1..500); they are left open.
            concurrent: Send all requests at once instead of one after another.
            scope: ``sessionScope`` sent: ``thread`` (a new session each) or ``single``.

        Returns:
            ``SessionTimings``: ``latency`` (``LatencySummary``, ms per successful request, client side),
            ``session_ids``, ``failures`` (error texts), ``wall_ms``, ``concurrency``, ``success_count``.

        Example:
            | ${warm}= | Time Session Creations | 5 |
            | ${burst}= | Time Session Creations | 5 | concurrent=${True} |
        """
        return daemon_vs_cli.time_session_creations(self._target(daemon), count, concurrent, scope)

    # -- C4 / C10: tree RSS ------------------------------------------------------------------------
    @keyword(tags=("benchmark", "process"))
    def measure_tree_rss(self, sessions: int = 0, settle: float = 1.0, daemon: str | None = None) -> TreeRss:
        """Read the daemon's process-tree RSS with its daemon / agent / MCP breakdown, after ``settle`` seconds.

        Args:
            sessions: Sessions open at the time, recorded with the reading (not checked).
            settle: Seconds to wait before reading (at most 30).

        Returns:
            ``TreeRss`` in MB (1 decimal): ``total``, ``daemon``, ``agent``, ``mcp`` (the agents' descendants),
            plus ``sessions``, ``agents``, ``descendants`` (counts), ``line()`` and ``to_dict()``.

        Example:
            | ${rss}= | Measure Tree RSS | sessions=5 |
            | Log | ${rss.line()} |
        """
        return daemon_vs_cli.measure_tree_rss(self._target(daemon), sessions, settle)

    # -- C5 / C6: prompts --------------------------------------------------------------------------
    @keyword(tags=("benchmark", "prompt"))
    def time_prompts(
        self,
        session_id: str,
        text: str = "say ok",
        iterations: int = 5,
        warmup: int = 1,
        timeout: float = 120.0,
        daemon: str | None = None,
    ) -> PromptSeries:
        """Send ``iterations`` prompts one after another on one session; time POST → end of turn.

        Each turn is followed without a race; a turn that does not complete is counted, not raised.

        Args:
            session_id: The session to prompt.
            text: The prompt text (the same for every prompt).
            iterations: Measured prompts.
            warmup: Prompts sent first and left out of the figures.
            timeout: Seconds to wait for each turn's end.

        Returns:
            ``PromptSeries``: ``latency`` (``LatencySummary``, ms from the POST to the end frame, completed turns
            only), ``outcomes``, ``failures``, ``wall_ms`` (warm-up included).

        Example:
            | ${daemon_prompt}= | Time Prompts | ${sid} | say ok | iterations=5 |
        """
        return daemon_vs_cli.time_prompts(self._target(daemon), session_id, text, iterations, warmup, timeout)

    @keyword(tags=("benchmark", "prompt"))
    def time_concurrent_prompts(
        self, session_ids: list[str], provider: Any = None, timeout: float = 300.0, daemon: str | None = None
    ) -> PromptSeries:
        """Send one prompt on every session at the same moment; time each to the end of its turn.

        With the fake provider given, its request log shows how the daemon's single agent child queued
        them: ``provider_max_in_flight`` (1 = one model call at a time) and ``queue_wait`` (POST to that
        prompt's first model request; prompts are told apart by their text).

        Args:
            session_ids: The sessions, one prompt each (1..200).
            provider: The fake provider the agent uses (`Start Fake Provider`); optional.
            timeout: Seconds to wait for each turn's end.

        Returns:
            ``PromptSeries``: ``latency`` (``LatencySummary``, ms from each POST to its end frame, completed turns
            only), ``outcomes``, ``failures``, ``wall_ms``; with a provider also ``provider_requests``,
            ``provider_max_in_flight`` and ``queue_wait`` (ms).

        Example:
            | ${conc}= | Time Concurrent Prompts | ${sids} | provider=${provider} |
        """
        return daemon_vs_cli.time_concurrent_prompts(self._target(daemon), session_ids, provider, timeout)

    # -- C9: throughput ----------------------------------------------------------------------------
    @keyword(tags=("benchmark", "session"))
    def measure_create_close_throughput(
        self, window: float = 10.0, anchors: int = 0, daemon: str | None = None
    ) -> ThroughputWindow:
        """Create and close ``thread`` sessions back to back for ``window`` seconds; count agent child spawns.

        With ``anchors`` > 0 that many sessions stay open during the window (closed afterwards). A background
        thread reads the daemon's direct children every 50 ms; every agent process (``--acp``) that started
        during the window counts as a spawn, and the figure is labelled by what happened. Failed operations
        are counted, not raised (the loop stops after 1000 failures).

        Args:
            window: Seconds of create+close (0.5..600).
            anchors: Sessions held open during the window.

        Returns:
            ``ThroughputWindow``: ``mode`` (``anchored``/``unanchored``), ``ops``, ``window_s``, ``ops_per_sec``,
            ``failures``, ``agent_spawns``, ``agent_pids``, ``label``, ``to_dict()``.

        Example:
            | ${anchored}= | Measure Create Close Throughput | 10 | anchors=3 |
            | ${cold}= | Measure Create Close Throughput | 10 |
        """
        return daemon_vs_cli.measure_create_close_throughput(self._target(daemon), window, anchors)

    # -- C10: churn ----------------------------------------------------------------------------------
    @keyword(tags=("benchmark", "session"))
    def measure_session_churn(self, rounds: int = 20, anchors: int = 3, daemon: str | None = None) -> ChurnResult:
        """Hold ``anchors`` sessions, then create+close ``rounds`` sessions, reading tree RSS before and after.

        Failed rounds are counted, not raised. The anchor sessions are closed at the end.

        Args:
            rounds: Create+close rounds (1..10000), one after another.
            anchors: Sessions held open during the churn.

        Returns:
            ``ChurnResult``: ``latency`` (``LatencySummary``, ms per round), ``rounds``, ``failures``, ``before``
            and ``after`` (``TreeRss``), ``drift_mb`` (``after.total - before.total``, MB).

        Example:
            | ${churn}= | Measure Session Churn | 20 |
            | Figure Should Be At Most | churn drift | ${churn.drift_mb.__abs__()} | 100 | MB |
        """
        return daemon_vs_cli.measure_session_churn(self._target(daemon), rounds, anchors)

    # -- C12: SSE flood -------------------------------------------------------------------------------
    @keyword(tags=("benchmark", "sse"))
    def open_sse_flood(
        self, session_id: str, count: int = 10, timeout: float = 10.0, daemon: str | None = None
    ) -> FloodResult:
        """Open ``count`` SSE streams at once with ``Last-Event-ID: 0``; each waits for ``replay_complete``.

        The daemon sends ``replay_complete`` only to a reconnect (a ``Last-Event-ID`` header), so every stream
        asks for a replay from 0. All streams are stopped afterwards and ``/health`` is read.

        Args:
            session_id: The session whose stream is opened ``count`` times.
            count: Streams (1..500).
            timeout: Seconds each stream may wait for ``replay_complete``.

        Returns:
            ``FloodResult``: ``opened``, ``connected`` (streams that saw ``replay_complete``), ``statuses``,
            ``time_to_replay_complete`` (``LatencySummary``, ms from the subscribe request), ``healthy_after``,
            ``all_connected``.

        Example:
            | ${flood}= | Open SSE Flood | ${sid} | count=10 |
            | Should Be True | ${flood.all_connected} |
        """
        return daemon_vs_cli.open_sse_flood(self._target(daemon), session_id, count, timeout)

    # -- side by side ---------------------------------------------------------------------------------
    @keyword(tags=("benchmark", "report"))
    def daemon_versus_cli_figures(
        self,
        cli_cold: CliSeries | None = None,
        daemon_boot: BootSeries | None = None,
        prompt_cli: CliSeries | None = None,
        prompt_daemon: PromptSeries | None = None,
    ) -> dict[str, Any]:
        """Pair the CLI's and the daemon's figures with their ratio (CLI / daemon), measured in the same run.

        Missing inputs (a scenario that did not run) give ``not run`` entries.

        Args:
            cli_cold: One-shot CLI runs (`Run One Shot CLI`) for the start-to-first-usable figure.
            daemon_boot: Daemon boots (`Measure Daemon Boot To First Session`).
            prompt_cli: One-shot CLI runs with the prompt, for the prompt latency figures.
            prompt_daemon: Prompts on a warm daemon session (`Time Prompts`).

        Returns:
            A dictionary for `Record Scenario`: ``startToFirstUsableP50``, ``promptLatencyP50`` and
            ``promptLatencyP99``, each ``{cli, daemon, cliOverDaemon, unit, how}`` (ms) or ``not run``, and
            ``resourceProfile`` (sampled and exact figures of both, or ``not run``).

        Example:
            | ${side}= | Daemon Versus CLI Figures | ${CLI_COLD} | ${DAEMON_BOOT} | ${PROMPT_CLI} | ${PROMPT_DAEMON} |
        """
        return daemon_vs_cli.side_by_side(cli_cold, daemon_boot, prompt_cli, prompt_daemon)

    # -- A/B comparison of two builds ------------------------------------------------------------------
    @keyword(tags=("benchmark", "compare"))
    def compare_daemon_builds(
        self,
        provider_url: str,
        a_entry: str = "",
        b_entry: str = "",
        rounds: int = 1,
        creates: int = 5,
        prompts: int = 3,
        boot_timeout: float = 60.0,
        warmup: int = 1,
    ) -> ab.Comparison:
        """Run the same measurements against two daemon builds, interleaved A B B A, and compare them.

        Each run starts the build (real agent, fake provider, not preheated) and measures boot to the first
        session, the median of ``creates`` warm ``thread`` creations, the median of ``prompts`` prompt
        latencies and the tree RSS with one session, then stops it.

        Args:
            provider_url: The fake provider's base URL.
            a_entry: Build A's entry script (empty: the library's build, normally the pinned release).
            b_entry: Build B's entry script (empty: the library's build).
            rounds: A B B A blocks.
            creates: Warm creations per run.
            prompts: Prompts per run (after one warm-up prompt).
            boot_timeout: Seconds each start may take to print its listening line.
            warmup: Runs of build A before the order starts, not recorded (first-run disk and cache effects).

        Returns:
            A ``Comparison`` (``results()``, ``to_dict()``, ``markdown()``).

        Example:
            | ${cmp}= | Compare Daemon Builds | ${provider.base_url} | b_entry=${LOCAL_BUILD} |
        """
        a_src, b_src = self.ctx.source(a_entry or None), self.ctx.source(b_entry or None)
        cmp = ab.Comparison(a_src.label, b_src.label, int(rounds))

        def start(entry: str | None, preheat: bool):
            return self._daemons.start_daemon(
                agent="real", provider_url=provider_url, preheat=preheat, daemon_entry=entry, boot_timeout=boot_timeout
            )

        return daemon_vs_cli.compare_builds(
            cmp,
            start,
            self._daemons.stop_daemon,
            self._target(None),
            a_entry=a_entry or None,
            b_entry=b_entry or None,
            creates=creates,
            prompts=prompts,
            warmup=warmup,
            log=self.info,
        )
