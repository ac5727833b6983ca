"""Keywords of the daemon-versus-CLI benchmark (upstream's C1-C12) and of the A/B comparison of two builds.

Every figure is measured on the harness's monotonic clock and summarised through :mod:`keywords.metrics`
(HdrHistogram); process figures come from :mod:`keywords.process_tree` (psutil) plus, where this process
reaps the measured process itself, the exact ``wait4``/``RUSAGE_CHILDREN`` counters ``/usr/bin/time`` prints.
"""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import psutil
from robotlibcore import keyword

from keywords import bench, metrics
from keywords.cli import CliRun, CliSpec, OneShotCli, StartupPhases
from keywords.components.base import Component
from keywords.components.daemon_keywords import DaemonKeywords
from keywords.errors import HarnessConfigError
from keywords.events import StreamOptions, Subscription
from keywords.process_tree import ResourceProfile, RssSampler, TreeSnapshot, snapshot_tree
from keywords.sessions import run_turn

WALL_METHOD = "monotonic clock from just before spawn to wait4 reaping the process (2 ms polling)"
TREE_METHOD = "psutil process-tree readings (VmHWM, /proc stat counters), sampled"


# -- results --------------------------------------------------------------------------------------------


@dataclass
class CliSeries:
    """Measured runs of the one-shot CLI (after excluded warm-up runs).

    Attributes:
        prompt: The ``-p`` prompt.
        warmup: Warm-up runs (not in the figures).
        runs: The measured runs.
        wall: Wall time per run (ms).
        full_startup: Profiler ``fullStartupMs`` per run, when the profiler wrote it.
        peak_rss_mb: Peak single-process RSS per run (MB), through the same percentile method.
        phases: Startup phases of the last run (``None`` when the profiler wrote nothing).
        phases_note: Why phases are missing (empty when present).
        profile: Resource profile of the last run's tree.
        rusage: Exact ``wait4`` rusage of the last run's root.
        failures: Runs that did not exit 0 within the timeout.
        stdout: What the last run printed.
    """

    prompt: str
    warmup: int
    runs: list[CliRun]
    wall: metrics.LatencySummary
    full_startup: metrics.LatencySummary | None
    peak_rss_mb: metrics.LatencySummary
    phases: StartupPhases | None
    phases_note: str
    profile: ResourceProfile
    rusage: dict | None
    failures: int
    stdout: str

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form."""
        return {
            "prompt": self.prompt,
            "warmupRuns": self.warmup,
            "wallMs": self.wall.to_dict(),
            "fullStartupMs": self.full_startup.to_dict() if self.full_startup else None,
            "peakRssMB": self.peak_rss_mb.to_dict(),
            "startupPhases": self.phases.to_dict() if self.phases else None,
            "startupPhasesNote": self.phases_note or "from the CLI's startup profiler (last run)",
            "resourceProfile": asdict(self.profile),
            "rusageExact": self.rusage,
            "failures": self.failures,
            "method": f"wall: {WALL_METHOD}; resources: {TREE_METHOD} every 50 ms; rusageExact: wait4 of the root",
        }


@dataclass
class BootSeries:
    """Daemon boot to the first session, per iteration.

    Attributes:
        latency: Spawn to the first ``POST /session`` answer (ms).
        listen: Spawn to the listening line (ms).
        first_session: Listening line to the first session's answer (ms; includes the agent child's start).
        profile: Resource profile of the last iteration's whole tree, from spawn through stop (sampled).
        rusage: Exact counters of the last daemon's lifetime (``RUSAGE_CHILDREN`` delta around it; the agent
            children it reaped included); its ``max_rss_mb`` is not a delta and is left out.
        peak_tree_mb: Peak whole-tree RSS of the last iteration (sampled every 100 ms).
    """

    latency: metrics.LatencySummary
    listen: metrics.LatencySummary
    first_session: metrics.LatencySummary
    profile: ResourceProfile
    rusage: dict
    peak_tree_mb: float

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form."""
        return {
            "bootToFirstSessionMs": self.latency.to_dict(),
            "spawnToListenMs": self.listen.to_dict(),
            "listenToFirstSessionMs": self.first_session.to_dict(),
            "resourceProfile": asdict(self.profile),
            "rusageExact": self.rusage,
            "peakTreeRssMB": self.peak_tree_mb,
            "method": (
                "monotonic clock from just before spawn (daemon not preheated) to the first POST /session "
                f"answer; resources: {TREE_METHOD} every 100 ms over boot + first session + stop"
            ),
        }


@dataclass
class SessionTimings:
    """Timed session creations.

    Attributes:
        latency: Per successful creation (ms, client side, request to full answer).
        session_ids: Created session ids.
        failures: Error texts of failed creations.
        wall_ms: Wall time of the whole batch.
        concurrency: 1 for sequential, N for a burst.
    """

    latency: metrics.LatencySummary
    session_ids: list[str]
    failures: list[str]
    wall_ms: float
    concurrency: int

    @property
    def success_count(self) -> int:
        """Sessions created."""
        return len(self.session_ids)


@dataclass
class TreeRss:
    """A tree RSS reading with its breakdown (MB).

    Attributes:
        sessions: Sessions open when read.
        total: Whole tree.
        daemon: The daemon process.
        agent: The agent child(ren).
        mcp: The agents' descendants (MCP servers).
        agents: Number of agent children.
        descendants: Number of descendants.
    """

    sessions: int
    total: float
    daemon: float
    agent: float
    mcp: float
    agents: int
    descendants: int

    @classmethod
    def of(cls, snap: TreeSnapshot, sessions: int) -> TreeRss:
        """From a process-tree snapshot."""
        return cls(
            sessions,
            round(snap.total_rss_mb, 1),
            round(snap.daemon_rss_mb, 1),
            round(snap.agents_rss_mb, 1),
            round(snap.descendants_rss_mb, 1),
            snap.agent_count,
            len(snap.descendant_pids),
        )

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form."""
        return asdict(self)

    def line(self) -> str:
        """``total=<x>MB (daemon=… acp=… mcp=…)`` as upstream."""
        return f"total={self.total}MB (daemon={self.daemon} acp={self.agent} mcp={self.mcp})"


@dataclass
class PromptSeries:
    """Timed prompts on the daemon.

    Attributes:
        latency: POST to the turn's end frame, per completed turn (ms).
        outcomes: Outcome per prompt (``completed``, ``error``...).
        failures: Prompts that did not complete.
        wall_ms: Wall time of the batch.
        provider_requests: Chat-completion requests the provider received during the batch.
        provider_max_in_flight: Most provider requests open at once (1 = the model calls were serialised).
        queue_wait: Per prompt, POST to its first provider request (ms), when it could be matched.
    """

    latency: metrics.LatencySummary
    outcomes: list[str]
    failures: int
    wall_ms: float
    provider_requests: int = 0
    provider_max_in_flight: int = 0
    queue_wait: metrics.LatencySummary | None = None


@dataclass
class ThroughputWindow:
    """Create+close operations in a fixed window.

    Attributes:
        mode: ``anchored`` or ``unanchored``.
        ops: Completed create+close operations.
        window_s: Window length.
        ops_per_sec: ``ops / window_s`` (2 decimals).
        failures: Failed operations.
        agent_spawns: Agent children that started during the window (from the process tree).
        agent_pids: Pids of the agent children seen during the window.
        label: What the window really measured (respawned or not).
    """

    mode: str
    ops: int
    window_s: float
    ops_per_sec: float
    failures: int
    agent_spawns: int
    agent_pids: list[int]
    label: str

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form."""
        return {
            "mode": self.mode,
            "opsPerSec": self.ops_per_sec,
            "totalOps": self.ops,
            "windowS": self.window_s,
            "failures": self.failures,
            "agentSpawns": self.agent_spawns,
            "agentChildRespawned": self.agent_spawns > 0,
            "label": self.label,
        }


@dataclass
class ChurnResult:
    """Session churn with RSS drift.

    Attributes:
        latency: Per create+close round (ms).
        rounds: Rounds done.
        failures: Failed rounds.
        before: Tree RSS before.
        after: Tree RSS after.
        drift_mb: ``after.total - before.total`` (1 decimal).
    """

    latency: metrics.LatencySummary
    rounds: int
    failures: int
    before: TreeRss
    after: TreeRss
    drift_mb: float


@dataclass
class FloodResult:
    """An SSE connection flood.

    Attributes:
        opened: Streams opened.
        connected: Streams that saw ``replay_complete``.
        statuses: HTTP status per stream.
        time_to_replay_complete: Per connected stream, open to ``replay_complete`` (ms).
        healthy_after: ``GET /health`` answered ``{"status":"ok"}`` afterwards.
    """

    opened: int
    connected: int
    statuses: list[int]
    time_to_replay_complete: metrics.LatencySummary
    healthy_after: bool

    @property
    def all_connected(self) -> bool:
        """Every stream saw ``replay_complete``."""
        return self.connected == self.opened


# -- keywords -------------------------------------------------------------------------------------------


class BenchmarkKeywords(Component):
    """The daemon-versus-CLI benchmark: one-shot CLI runs, boot/session/prompt timings, throughput, churn, floods."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._daemons = DaemonKeywords(ctx)
        self._cli_count = 0

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
        iterations, warmup = int(iterations), int(warmup)
        if not 1 <= iterations <= 200:
            raise HarnessConfigError(f"iterations must be from 1 to 200, got {iterations}.")
        if not 0 <= warmup <= 10:
            raise HarnessConfigError(f"warmup must be from 0 to 10, got {warmup}.")
        from keywords import provider as real_agent  # the fake provider's module owns the model settings

        env, files = real_agent.settings(provider_url, model, None)
        self._cli_count += 1
        cli = OneShotCli(
            CliSpec(self.ctx.source(cli_entry), self.ctx.node().path, env=env, home_files=files, timeout_s=timeout),
            self.ctx.registry,
            name=f"cli-{self._cli_count}",
        )
        runs: list[CliRun] = []
        for i in range(warmup + iterations):
            run = cli.run(prompt, profile_startup=bool(profile_startup))
            label = "warm-up" if i < warmup else "measured"
            self.info(f"CLI {label} {run.summary()}")
            if not run.ok or not run.stdout.strip():
                raise AssertionError(
                    f"The one-shot CLI failed (exit {run.exit_code}, timed out {run.timed_out}, stdout "
                    f"{run.stdout[:200]!r}).\nLast stderr lines:\n{run.stderr_tail}"
                )
            if i >= warmup:
                runs.append(run)
        full = [r.phases.full_startup_ms for r in runs if r.phases and r.phases.full_startup_ms]
        last = runs[-1]
        note = ""
        if profile_startup and last.phases is None:
            note = last.phases_note
        elif not profile_startup:
            note = "startup profiler not requested; wall time only"
        return CliSeries(
            prompt=prompt,
            warmup=warmup,
            runs=runs,
            wall=metrics.summarize([r.wall_ms for r in runs], "cli wall"),
            full_startup=metrics.summarize(full, "cli full startup") if full else None,
            peak_rss_mb=metrics.summarize([r.profile.peak_rss_mb for r in runs], "cli peak rss"),
            phases=last.phases,
            phases_note=note,
            profile=last.profile,
            rusage=asdict(last.rusage) if last.rusage else None,
            failures=sum(not r.ok for r in runs),
            stdout=last.stdout,
        )

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
        iterations = int(iterations)
        if not 1 <= iterations <= 100:
            raise HarnessConfigError(f"iterations must be from 1 to 100, got {iterations}.")
        total, listen, first = [], [], []
        profile, rusage, peak = ResourceProfile(), {}, 0.0
        for i in range(iterations):
            last = i == iterations - 1
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            daemon = self._daemons.start_daemon(
                agent="real",
                provider_url=provider_url,
                preheat=False,
                daemon_entry=daemon_entry,
                boot_timeout=boot_timeout,
            )
            sampler = RssSampler(daemon.pid, marked=daemon.tree, interval_ms=100).start() if last else None
            client = self.ctx.get().client
            listen_at = started + daemon.boot_s
            client.create_session("thread")
            done = time.monotonic()
            total.append((done - started) * 1000)
            listen.append(daemon.boot_s * 1000)
            first.append((done - listen_at) * 1000)
            self._daemons.stop_daemon()
            if sampler is not None:
                samples = sampler.stop()
                profile, peak = samples.profile or ResourceProfile(), samples.peak_tree_mb
                rusage = _rusage_delta(before, resource.getrusage(resource.RUSAGE_CHILDREN))
            self.info(f"boot {i + 1}: listen {listen[-1]:.0f} ms, first session {total[-1]:.0f} ms after spawn")
        return BootSeries(
            latency=metrics.summarize(total, "boot to first session"),
            listen=metrics.summarize(listen, "spawn to listen"),
            first_session=metrics.summarize(first, "listen to first session"),
            profile=profile,
            rusage=rusage,
            peak_tree_mb=peak,
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
        count = int(count)
        if not 1 <= count <= 500:
            raise HarnessConfigError(f"count must be from 1 to 500, got {count}.")
        client = self.ctx.get(daemon).client

        def one(_: int) -> tuple[float, str | None, str | None]:
            t0 = time.monotonic()
            try:
                info = client.create_session(scope)
            except Exception as exc:
                return (time.monotonic() - t0) * 1000, None, f"{type(exc).__name__}: {exc}"[:300]
            return (time.monotonic() - t0) * 1000, info.session_id, None

        started = time.monotonic()
        if concurrent:
            barrier = threading.Barrier(count, timeout=30)

            def at_once(i: int) -> tuple[float, str | None, str | None]:
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
                return one(i)

            with ThreadPoolExecutor(max_workers=count) as pool:
                results = list(pool.map(at_once, range(count)))
        else:
            results = [one(i) for i in range(count)]
        wall = (time.monotonic() - started) * 1000
        ok = [r for r in results if r[1]]
        return SessionTimings(
            latency=metrics.summarize([r[0] for r in ok], "session create"),
            session_ids=[r[1] for r in ok],
            failures=[r[2] for r in results if r[2]],
            wall_ms=round(wall, 1),
            concurrency=count if concurrent else 1,
        )

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
        if float(settle) > 0:
            time.sleep(min(float(settle), 30.0))
        d = self.ctx.get(daemon).daemon
        return TreeRss.of(snapshot_tree(d.pid, d.tree()), int(sessions))

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
        client = self.ctx.get(daemon).client
        latencies, outcomes = [], []
        started = time.monotonic()
        for i in range(int(warmup) + int(iterations)):
            turn = run_turn(client, session_id, text, timeout_s=float(timeout))
            if i < int(warmup):
                continue
            outcomes.append(turn.outcome)
            if turn.outcome == "completed" and turn.turn_ms is not None:
                latencies.append(turn.turn_ms)
        return PromptSeries(
            latency=metrics.summarize(latencies, "prompt"),
            outcomes=outcomes,
            failures=sum(o != "completed" for o in outcomes),
            wall_ms=round((time.monotonic() - started) * 1000, 1),
        )

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
        client = self.ctx.get(daemon).client
        n = len(session_ids)
        if not 1 <= n <= 200:
            raise HarnessConfigError(f"Give 1 to 200 session ids, got {n}.")
        texts = [f"say ok number {i + 1}" for i in range(n)]
        barrier = threading.Barrier(n, timeout=30)
        posted: dict[int, float] = {}

        def one(i: int):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            posted[i] = time.monotonic()
            try:
                return run_turn(client, session_ids[i], texts[i], timeout_s=float(timeout))
            except Exception as exc:
                return exc

        mark = len(provider.requests()) if provider is not None else 0
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            turns = list(pool.map(one, range(n)))
        wall = (time.monotonic() - started) * 1000
        outcomes = [t.outcome if not isinstance(t, Exception) else f"exception: {t}"[:200] for t in turns]
        latencies = [
            t.turn_ms for t in turns if not isinstance(t, Exception) and t.outcome == "completed" and t.turn_ms
        ]
        series = PromptSeries(
            latency=metrics.summarize(latencies, "concurrent prompt"),
            outcomes=outcomes,
            failures=sum(o != "completed" for o in outcomes),
            wall_ms=round(wall, 1),
        )
        if provider is not None:
            reqs = provider.requests()[mark:]
            series.provider_requests = len(reqs)
            series.provider_max_in_flight = _max_in_flight(
                [(r.at_monotonic, r.done_monotonic or r.at_monotonic) for r in reqs]
            )
            waits = []
            for i, text in enumerate(texts):
                first = next((r for r in reqs if text in r.last_user_text), None)
                if first is not None and i in posted:
                    waits.append((first.at_monotonic - posted[i]) * 1000)
            series.queue_wait = metrics.summarize(waits, "queue wait") if waits else None
        return series

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
        window, anchors = float(window), int(anchors)
        if not 0.5 <= window <= 600:
            raise HarnessConfigError(f"window must be from 0.5 to 600 seconds, got {window}.")
        running = self.ctx.get(daemon)
        client = running.client
        held = [client.create_session("thread").session_id for _ in range(anchors)]
        watcher = _AgentWatcher(running.daemon.pid).start()
        ops = failures = 0
        wall_started = time.time()
        started = time.monotonic()
        end = started + window
        while time.monotonic() < end and failures < 1000:
            try:
                sid = client.create_session("thread").session_id
                client.close_session(sid)
                ops += 1
            except Exception:
                failures += 1
        seen = watcher.stop()
        for sid in held:
            with contextlib.suppress(Exception):
                client.close_session(sid)
        spawned = [pid for pid, created in seen.items() if created >= wall_started]
        mode = "anchored" if anchors else "unanchored"
        if spawned:
            label = f"{mode}: the agent child was respawned {len(spawned)} time(s) (cold starts included)"
        else:
            label = f"{mode}: the agent child stayed up (no respawn; not a cold start)"
        return ThroughputWindow(
            mode=mode,
            ops=ops,
            window_s=window,
            ops_per_sec=round(ops / window, 2),
            failures=failures,
            agent_spawns=len(spawned),
            agent_pids=sorted(seen),
            label=label,
        )

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
        rounds = int(rounds)
        if not 1 <= rounds <= 10000:
            raise HarnessConfigError(f"rounds must be from 1 to 10000, got {rounds}.")
        client = self.ctx.get(daemon).client
        held = [client.create_session("thread").session_id for _ in range(int(anchors))]
        before = self.measure_tree_rss(len(held), 0.5, daemon)
        lat, failures = [], 0
        for _ in range(rounds):
            t0 = time.monotonic()
            try:
                client.close_session(client.create_session("thread").session_id)
                lat.append((time.monotonic() - t0) * 1000)
            except Exception:
                failures += 1
        after = self.measure_tree_rss(len(held), 0.5, daemon)
        for sid in held:
            with contextlib.suppress(Exception):
                client.close_session(sid)
        return ChurnResult(
            latency=metrics.summarize(lat, "churn round"),
            rounds=rounds,
            failures=failures,
            before=before,
            after=after,
            drift_mb=round(after.total - before.total, 1),
        )

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
        count = int(count)
        if not 1 <= count <= 500:
            raise HarnessConfigError(f"count must be from 1 to 500, got {count}.")
        running = self.ctx.get(daemon)
        options = StreamOptions(last_event_id=0, until_types=("replay_complete",), timeout_s=float(timeout))
        subs = [Subscription(running.client.base_url, session_id, options, running.client.token) for _ in range(count)]
        for sub in subs:
            sub.start()
        results = [sub.join(float(timeout) + 5) for sub in subs]
        for sub in subs:
            sub.stop()
        connected = [r for r in results if r is not None and r.replay_complete is not None]
        times = []
        for r in connected:
            stamp = next((e.get("_recv_ms") for e in r.events if e.get("type") == "replay_complete"), None)
            if stamp is not None:
                times.append(float(stamp))
        healthy = False
        with contextlib.suppress(Exception):
            healthy = running.client.health().body.get("status") == "ok"
        return FloodResult(
            opened=count,
            connected=len(connected),
            statuses=[r.status if r is not None else 0 for r in results],
            time_to_replay_complete=metrics.summarize(times, "replay_complete"),
            healthy_after=healthy,
        )

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
        out: dict[str, Any] = {}

        def pair(name: str, cli: float | None, daemon: float | None, how: str, unit: str = "ms") -> None:
            if cli is None or daemon is None:
                out[name] = "not run"
                return
            ratio = round(cli / daemon, 2) if daemon else None
            out[name] = {
                "cli": round(cli, 1),
                "daemon": round(daemon, 1),
                "cliOverDaemon": ratio,
                "unit": unit,
                "how": how,
            }

        pair(
            "startToFirstUsableP50",
            cli_cold.wall.p50 if cli_cold else None,
            daemon_boot.latency.p50 if daemon_boot else None,
            "CLI: whole -p run, spawn to exit; daemon: spawn to first session (not preheated)",
        )
        pair(
            "promptLatencyP50",
            prompt_cli.wall.p50 if prompt_cli else None,
            prompt_daemon.latency.p50 if prompt_daemon else None,
            "CLI: whole -p run with the prompt; daemon: POST prompt to turn_complete on a warm session",
        )
        pair(
            "promptLatencyP99",
            prompt_cli.wall.p99 if prompt_cli else None,
            prompt_daemon.latency.p99 if prompt_daemon else None,
            "as promptLatencyP50, 99th percentile",
        )
        if cli_cold is not None and daemon_boot is not None:
            out["resourceProfile"] = {
                "cli": {"sampled": asdict(cli_cold.profile), "exactWait4": cli_cold.rusage},
                "daemon": {"sampled": asdict(daemon_boot.profile), "exactRusageChildren": daemon_boot.rusage},
                "how": (
                    "sampled: psutil readings of every process of the tree every 50 ms (CLI) / 100 ms (daemon), "
                    "last reading per process (peak RSS = largest VmHWM; context switches are the main "
                    "thread's); exact: wait4 rusage of the CLI root / RUSAGE_CHILDREN delta over the daemon's "
                    "life (all threads, reaped children included), as /usr/bin/time -v reports"
                ),
                "cliRun": "one -p run (the last of C1)",
                "daemonRun": "boot + first session + SIGTERM stop (the last of C2)",
            }
        else:
            out["resourceProfile"] = "not run"
        return out

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
    ) -> bench.Comparison:
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
        cmp = bench.Comparison(a_src.label, b_src.label, int(rounds))
        for _ in range(int(warmup)):
            self._daemons.start_daemon(
                agent="real",
                provider_url=provider_url,
                preheat=True,
                daemon_entry=a_entry or None,
                boot_timeout=boot_timeout,
            )
            try:
                self.ctx.get().client.create_session("thread")
            finally:
                self._daemons.stop_daemon()
        while not cmp.complete:
            build = cmp.next_build
            entry = (a_entry if build == "A" else b_entry) or None
            started = time.monotonic()
            self._daemons.start_daemon(
                agent="real", provider_url=provider_url, preheat=False, daemon_entry=entry, boot_timeout=boot_timeout
            )
            try:
                running = self.ctx.get()
                sid = running.client.create_session("thread").session_id
                boot_ms = (time.monotonic() - started) * 1000
                warm = self.time_session_creations(int(creates))
                series = self.time_prompts(sid, "say ok", iterations=int(prompts), warmup=1)
                rss = self.measure_tree_rss(1 + warm.success_count, 0.5)
            finally:
                self._daemons.stop_daemon()
            run = cmp.add(
                build,
                boot_to_first_session_ms=boot_ms,
                warm_create_p50_ms=warm.latency.p50 or 0.0,
                prompt_p50_ms=series.latency.p50 or 0.0,
                tree_rss_mb=rss.total,
            )
            self.info(f"run {run.position + 1} ({build}): {run.values}")
        return cmp


# -- helpers --------------------------------------------------------------------------------------------


def _rusage_delta(before, after) -> dict[str, Any]:
    return {
        "user_cpu_s": round(after.ru_utime - before.ru_utime, 3),
        "system_cpu_s": round(after.ru_stime - before.ru_stime, 3),
        "voluntary_ctx_switches": after.ru_nvcsw - before.ru_nvcsw,
        "involuntary_ctx_switches": after.ru_nivcsw - before.ru_nivcsw,
        "minor_page_faults": after.ru_minflt - before.ru_minflt,
        "major_page_faults": after.ru_majflt - before.ru_majflt,
    }


def _max_in_flight(spans: list[tuple[float, float]]) -> int:
    """Most intervals open at the same time."""
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda p: (p[0], p[1]))
    best = cur = 0
    for _, step in points:
        cur += step
        best = max(best, cur)
    return best


class _AgentWatcher:
    """Records every agent child (``--acp`` in its command line) of a daemon, polling every 50 ms."""

    def __init__(self, daemon_pid: int, interval_s: float = 0.05, max_s: float = 900.0) -> None:
        self.daemon_pid = daemon_pid
        self.interval_s = interval_s
        self.max_s = max_s
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"agents-{daemon_pid}", daemon=True)

    def start(self) -> _AgentWatcher:
        self._poll()
        self._thread.start()
        return self

    def _poll(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.daemon_pid).children():
                with contextlib.suppress(psutil.Error):
                    if child.pid not in self.seen and any(a.startswith("--acp") for a in child.cmdline()):
                        self.seen[child.pid] = child.create_time()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval_s) and time.monotonic() - started < self.max_s:
            self._poll()

    def stop(self) -> dict[int, float]:
        self._stop.set()
        self._thread.join(5.0)
        self._poll()
        return dict(self.seen)
