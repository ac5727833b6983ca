"""The daemon-versus-CLI benchmark (upstream's C1-C12) and the A/B run of two builds, as plain measurements.

Every figure is measured on the harness's monotonic clock and summarised through :mod:`keywords.measure.metrics`
(HdrHistogram); process figures come from :mod:`keywords.measure.process_tree` (psutil) plus, where this process
reaps the measured process itself, the exact ``wait4``/``RUSAGE_CHILDREN`` counters ``/usr/bin/time`` prints.
Prompt turns are sent and followed by :func:`keywords.traffic.turns.run_turn`; the one-shot CLI is run by
:class:`keywords.fakes.oneshot_cli.OneShotCli`; the A/B ratios are computed by :class:`keywords.measure.ab.Comparison`.

The daemon under measurement is reached through ``target``, a callable returning its
:class:`keywords.context.RunningDaemon` (daemon and client). It is called again before each use, so a daemon
that died in the middle is reported by whatever check the callable makes (the keyword layer passes
``HarnessContext.get``, which fails with the daemon's exit code and last stderr lines). Daemons are started
and stopped through callables as well, so a plain script can pass its own. ``log`` callables are only ever
called on the caller's thread; background threads here never log.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from keywords.context import RunningDaemon
from keywords.errors import HarnessConfigError
from keywords.fakes.oneshot_cli import CliRun, OneShotCli, StartupPhases
from keywords.measure import ab, metrics
from keywords.measure.process_tree import TreeSnapshot, snapshot_tree
from keywords.measure.resource_profile import ResourceProfile
from keywords.measure.rss_sampler import RssSampler
from keywords.traffic.client import DaemonClient
from keywords.traffic.sse import StreamOptions, StreamResult, Subscription
from keywords.traffic.turns import TurnResult, run_turn

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


# -- conventions and validation ---------------------------------------------------------------------------

Target = Callable[[], RunningDaemon]
"""How a measurement reaches its daemon: returns the running daemon (and may check it is still alive)."""


def _quiet(_: str) -> None:
    """The default ``log``: say nothing."""


def _check_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    """Raise :class:`HarnessConfigError` ``"<name> must be from <low> to <high>[ unit], got <value>."``."""
    if not low <= value <= high:
        raise HarnessConfigError(f"{name} must be from {low} to {high}{' ' + unit if unit else ''}, got {value}.")


def check_cli_counts(iterations: int, warmup: int) -> tuple[int, int]:
    """``(iterations, warmup)`` as integers, checked (1..200 measured runs, 0..10 warm-up runs)."""
    iterations, warmup = int(iterations), int(warmup)
    _check_range("iterations", iterations, 1, 200)
    _check_range("warmup", warmup, 0, 10)
    return iterations, warmup


# -- C1 / C5: the one-shot CLI ----------------------------------------------------------------------------


def run_cli_series(
    cli: OneShotCli,
    prompt: str = "say ok",
    iterations: int = 5,
    warmup: int = 1,
    profile_startup: bool = False,
    log: Callable[[str], None] = _quiet,
) -> CliSeries:
    """Run the one-shot CLI ``warmup + iterations`` times; every run must exit 0 and print something.

    Args:
        cli: The CLI (its private HOME carries the model settings).
        prompt: The ``-p`` prompt.
        iterations: Measured runs (1..200).
        warmup: Excluded runs first (0..10).
        profile_startup: Ask the CLI's startup profiler for its phases.
        log: Gets one line per run (warm-up runs included).

    Raises:
        AssertionError: a run failed or printed nothing (with the CLI's stderr).
    """
    iterations, warmup = check_cli_counts(iterations, warmup)
    runs: list[CliRun] = []
    for i in range(warmup + iterations):
        run = cli.run(prompt, profile_startup=bool(profile_startup))
        label = "warm-up" if i < warmup else "measured"
        log(f"CLI {label} {run.summary()}")
        if not run.ok or not run.stdout.strip():
            raise AssertionError(
                f"The one-shot CLI failed (exit {run.exit_code}, timed out {run.timed_out}, stdout "
                f"{run.stdout[:200]!r}).\nLast stderr lines:\n{run.stderr_tail}"
            )
        if i >= warmup:
            runs.append(run)
    return cli_series(prompt, warmup, runs, bool(profile_startup))


def cli_series(prompt: str, warmup: int, runs: Sequence[CliRun], profile_startup: bool) -> CliSeries:
    """The figures of measured CLI runs (at least one): percentiles over the runs, details of the last."""
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
        runs=list(runs),
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


# -- C2: boot to the first session ------------------------------------------------------------------------


def measure_boot_to_first_session(
    start: Callable[[], Any],
    stop: Callable[[], Any],
    target: Target,
    iterations: int = 5,
    log: Callable[[str], None] = _quiet,
) -> BootSeries:
    """Start a daemon ``iterations`` times and time spawn → listening line → first ``thread`` session.

    The last iteration is profiled over its whole life (boot, first session, stop) from the process tree,
    and exactly through this process's ``RUSAGE_CHILDREN`` (the daemon is reaped here, its agent child by the
    daemon).

    Args:
        start: Starts a fresh daemon (not preheated) and returns it (a ``Daemon``: ``pid``, ``boot_s``,
            ``tree``); ``target`` then returns it.
        stop: Stops that daemon.
        target: The running daemon just started.
        iterations: Boots to measure (1..100).
        log: Gets one line per boot.
    """
    iterations = int(iterations)
    _check_range("iterations", iterations, 1, 100)
    total, listen, first = [], [], []
    profile, rusage, peak = ResourceProfile(), {}, 0.0
    for i in range(iterations):
        last = i == iterations - 1
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        daemon = start()
        sampler = RssSampler(daemon.pid, marked=daemon.tree, interval_ms=100).start() if last else None
        client = target().client
        listen_at = started + daemon.boot_s
        client.create_session("thread")
        done = time.monotonic()
        total.append((done - started) * 1000)
        listen.append(daemon.boot_s * 1000)
        first.append((done - listen_at) * 1000)
        stop()
        if sampler is not None:
            samples = sampler.stop()
            profile, peak = samples.profile or ResourceProfile(), samples.peak_tree_mb
            rusage = rusage_delta(before, resource.getrusage(resource.RUSAGE_CHILDREN))
        log(f"boot {i + 1}: listen {listen[-1]:.0f} ms, first session {total[-1]:.0f} ms after spawn")
    return BootSeries(
        latency=metrics.summarize(total, "boot to first session"),
        listen=metrics.summarize(listen, "spawn to listen"),
        first_session=metrics.summarize(first, "listen to first session"),
        profile=profile,
        rusage=rusage,
        peak_tree_mb=peak,
    )


def rusage_delta(before: Any, after: Any) -> dict[str, Any]:
    """``after - before`` of two ``getrusage`` readings (CPU seconds to 3 decimals; ``ru_maxrss`` left out)."""
    return {
        "user_cpu_s": round(after.ru_utime - before.ru_utime, 3),
        "system_cpu_s": round(after.ru_stime - before.ru_stime, 3),
        "voluntary_ctx_switches": after.ru_nvcsw - before.ru_nvcsw,
        "involuntary_ctx_switches": after.ru_nivcsw - before.ru_nivcsw,
        "minor_page_faults": after.ru_minflt - before.ru_minflt,
        "major_page_faults": after.ru_majflt - before.ru_majflt,
    }


# -- C3 / C8: session creations ---------------------------------------------------------------------------

Creation = tuple[float, "str | None", "str | None"]
"""One timed creation: ``(ms, session id or None, error text or None)``."""


def time_session_creations(
    target: Target, count: int, concurrent: bool = False, scope: str = "thread"
) -> SessionTimings:
    """Create ``count`` sessions (1..500), one after another or all at once behind a barrier; time each.

    Failures are collected, not raised; the sessions are left open.
    """
    count = int(count)
    _check_range("count", count, 1, 500)
    client = target().client

    def one(_: int) -> Creation:
        t0 = time.monotonic()
        try:
            info = client.create_session(scope)
        except Exception as exc:
            return (time.monotonic() - t0) * 1000, None, f"{type(exc).__name__}: {exc}"[:300]
        return (time.monotonic() - t0) * 1000, info.session_id, None

    started = time.monotonic()
    if concurrent:
        barrier = threading.Barrier(count, timeout=30)

        def at_once(i: int) -> Creation:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            return one(i)

        with ThreadPoolExecutor(max_workers=count) as pool:
            results = list(pool.map(at_once, range(count)))
    else:
        results = [one(i) for i in range(count)]
    wall = (time.monotonic() - started) * 1000
    return session_timings(results, wall, count if concurrent else 1)


def session_timings(results: Sequence[Creation], wall_ms: float, concurrency: int) -> SessionTimings:
    """Figures of timed creations: latency over the successful ones, ids, error texts, wall time."""
    ok = [r for r in results if r[1]]
    return SessionTimings(
        latency=metrics.summarize([r[0] for r in ok], "session create"),
        session_ids=[r[1] for r in ok],
        failures=[r[2] for r in results if r[2]],
        wall_ms=round(wall_ms, 1),
        concurrency=concurrency,
    )


# -- C4 / C10: tree RSS -----------------------------------------------------------------------------------


def measure_tree_rss(target: Target, sessions: int = 0, settle: float = 1.0) -> TreeRss:
    """The daemon's tree RSS with its breakdown, read after ``settle`` seconds (at most 30)."""
    if float(settle) > 0:
        time.sleep(min(float(settle), 30.0))
    d = target().daemon
    return TreeRss.of(snapshot_tree(d.pid, d.tree()), int(sessions))


# -- C5 / C6: prompts -------------------------------------------------------------------------------------


def time_prompts(
    target: Target,
    session_id: str,
    text: str = "say ok",
    iterations: int = 5,
    warmup: int = 1,
    timeout: float = 120.0,
) -> PromptSeries:
    """Send ``warmup + iterations`` prompts one after another on one session; time POST → end of turn."""
    client = target().client
    turns: list[TurnResult] = []
    started = time.monotonic()
    for i in range(int(warmup) + int(iterations)):
        turn = run_turn(client, session_id, text, timeout_s=float(timeout))
        if i >= int(warmup):
            turns.append(turn)
    return prompt_series(turns, (time.monotonic() - started) * 1000, "prompt")


def prompt_series(turns: Iterable[TurnResult | Exception], wall_ms: float, name: str) -> PromptSeries:
    """Figures of measured turns: latency over the completed ones, every outcome, failures, wall time.

    A turn that raised is given as its exception; its outcome reads ``exception: <text>``.
    """
    outcomes: list[str] = []
    latencies: list[float] = []
    for t in turns:
        if isinstance(t, Exception):
            outcomes.append(f"exception: {t}"[:200])
            continue
        outcomes.append(t.outcome)
        if t.outcome == "completed" and t.turn_ms:
            latencies.append(t.turn_ms)
    return PromptSeries(
        latency=metrics.summarize(latencies, name),
        outcomes=outcomes,
        failures=sum(o != "completed" for o in outcomes),
        wall_ms=round(wall_ms, 1),
    )


def time_concurrent_prompts(
    target: Target, session_ids: Sequence[str], provider: Any = None, timeout: float = 300.0
) -> PromptSeries:
    """Send one prompt on every session (1..200) at the same moment; time each to the end of its turn.

    With the fake provider given, its request log since the start tells how the model calls were queued
    (:func:`provider_queueing`).
    """
    client = target().client
    n = len(session_ids)
    if not 1 <= n <= 200:
        raise HarnessConfigError(f"Give 1 to 200 session ids, got {n}.")
    texts = [f"say ok number {i + 1}" for i in range(n)]
    barrier = threading.Barrier(n, timeout=30)
    posted: dict[int, float] = {}

    def one(i: int) -> TurnResult | Exception:
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
    series = prompt_series(turns, (time.monotonic() - started) * 1000, "concurrent prompt")
    if provider is not None:
        reqs = provider.requests()[mark:]
        series.provider_requests, series.provider_max_in_flight, series.queue_wait = provider_queueing(
            reqs, texts, posted
        )
    return series


def provider_queueing(
    requests: Sequence[Any], texts: Sequence[str], posted: dict[int, float]
) -> tuple[int, int, metrics.LatencySummary | None]:
    """How the provider saw a batch of prompts: ``(requests, most open at once, queue wait)``.

    Args:
        requests: The provider's requests of the batch (``at_monotonic``, ``done_monotonic``,
            ``last_user_text``).
        texts: Prompt texts by prompt index (each must be told apart by its text).
        posted: Monotonic time each prompt index was posted.

    Returns:
        The request count, the most requests open at the same time (an unfinished one is a zero-length
        span, see :func:`max_in_flight`), and per prompt the wait from its POST to its first provider
        request (``None`` when no prompt could be matched).
    """
    in_flight = max_in_flight([(r.at_monotonic, r.done_monotonic or r.at_monotonic) for r in requests])
    waits = []
    for i, text in enumerate(texts):
        first = next((r for r in requests if text in r.last_user_text), None)
        if first is not None and i in posted:
            waits.append((first.at_monotonic - posted[i]) * 1000)
    return len(requests), in_flight, metrics.summarize(waits, "queue wait") if waits else None


def max_in_flight(spans: Iterable[tuple[float, float]]) -> int:
    """Most ``(start, end)`` intervals open at the same time.

    An interval ending exactly when another starts does not overlap it; a zero-length interval is never open.
    """
    spans = list(spans)
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda p: (p[0], p[1]))
    best = cur = 0
    for _, step in points:
        cur += step
        best = max(best, cur)
    return best


# -- C9: throughput ---------------------------------------------------------------------------------------


def measure_create_close_throughput(target: Target, window: float = 10.0, anchors: int = 0) -> ThroughputWindow:
    """Create and close ``thread`` sessions back to back for ``window`` seconds (0.5..600); count agent spawns.

    ``anchors`` sessions stay open during the window (closed afterwards). Failed operations are counted, not
    raised (the loop stops after 1000 failures).
    """
    window, anchors = float(window), int(anchors)
    _check_range("window", window, 0.5, 600, "seconds")
    running = target()
    client = running.client
    held = [client.create_session("thread").session_id for _ in range(anchors)]
    watcher = AgentWatcher(running.daemon.pid).start()
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
    close_quietly(client, held)
    return throughput_window(anchors, ops, window, failures, seen, wall_started)


def throughput_window(
    anchors: int, ops: int, window_s: float, failures: int, seen: dict[int, float], wall_started: float
) -> ThroughputWindow:
    """The window's figures; agent children created (wall clock) at or after ``wall_started`` count as spawns.

    Args:
        anchors: Sessions held open (``anchored`` when > 0).
        ops: Completed create+close operations.
        window_s: Window length.
        failures: Failed operations.
        seen: Agent pid -> creation time (epoch seconds) of every agent child seen.
        wall_started: Wall-clock start of the window (epoch seconds).
    """
    spawned = [pid for pid, created in seen.items() if created >= wall_started]
    mode = "anchored" if anchors else "unanchored"
    return ThroughputWindow(
        mode=mode,
        ops=ops,
        window_s=window_s,
        ops_per_sec=round(ops / window_s, 2),
        failures=failures,
        agent_spawns=len(spawned),
        agent_pids=sorted(seen),
        label=throughput_label(mode, len(spawned)),
    )


def throughput_label(mode: str, spawns: int) -> str:
    """What a window really measured: whether the agent child was respawned (cold starts included) or not."""
    if spawns:
        return f"{mode}: the agent child was respawned {spawns} time(s) (cold starts included)"
    return f"{mode}: the agent child stayed up (no respawn; not a cold start)"


class AgentWatcher:
    """Records every agent child (``--acp`` in its command line) of a daemon, polling every 50 ms."""

    def __init__(self, daemon_pid: int, interval_s: float = 0.05, max_s: float = 900.0) -> None:
        self.daemon_pid = daemon_pid
        self.interval_s = interval_s
        self.max_s = max_s
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"agents-{daemon_pid}", daemon=True)

    def start(self) -> AgentWatcher:
        """Read the children once, then keep polling in a background thread (bounded by ``max_s``)."""
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
        """Stop polling, read once more; returns agent pid -> creation time (epoch seconds)."""
        self._stop.set()
        self._thread.join(5.0)
        self._poll()
        return dict(self.seen)


def close_quietly(client: DaemonClient, session_ids: Iterable[str]) -> None:
    """Close sessions, ignoring errors (clean-up)."""
    for sid in session_ids:
        with contextlib.suppress(Exception):
            client.close_session(sid)


# -- C10: churn -------------------------------------------------------------------------------------------


def measure_session_churn(target: Target, rounds: int = 20, anchors: int = 3) -> ChurnResult:
    """Hold ``anchors`` sessions, create+close ``rounds`` sessions (1..10000), read tree RSS before and after.

    Failed rounds are counted, not raised. The anchor sessions are closed at the end.
    """
    rounds = int(rounds)
    _check_range("rounds", rounds, 1, 10000)
    client = target().client
    held = [client.create_session("thread").session_id for _ in range(int(anchors))]
    before = measure_tree_rss(target, len(held), 0.5)
    lat, failures = [], 0
    for _ in range(rounds):
        t0 = time.monotonic()
        try:
            client.close_session(client.create_session("thread").session_id)
            lat.append((time.monotonic() - t0) * 1000)
        except Exception:
            failures += 1
    after = measure_tree_rss(target, len(held), 0.5)
    close_quietly(client, held)
    return churn_result(lat, rounds, failures, before, after)


def churn_result(
    latencies_ms: Iterable[float], rounds: int, failures: int, before: TreeRss, after: TreeRss
) -> ChurnResult:
    """Churn figures; the drift is ``after.total - before.total`` (MB, 1 decimal)."""
    return ChurnResult(
        latency=metrics.summarize(latencies_ms, "churn round"),
        rounds=rounds,
        failures=failures,
        before=before,
        after=after,
        drift_mb=round(after.total - before.total, 1),
    )


# -- C12: SSE flood ---------------------------------------------------------------------------------------


def open_sse_flood(target: Target, session_id: str, count: int = 10, timeout: float = 10.0) -> FloodResult:
    """Open ``count`` SSE streams (1..500) at once with ``Last-Event-ID: 0``; each waits for ``replay_complete``.

    All streams are stopped afterwards and ``/health`` is read.
    """
    count = int(count)
    _check_range("count", count, 1, 500)
    running = target()
    options = StreamOptions(last_event_id=0, until_types=("replay_complete",), timeout_s=float(timeout))
    subs = [Subscription(running.client.base_url, session_id, options, running.client.token) for _ in range(count)]
    for sub in subs:
        sub.start()
    results = [sub.join(float(timeout) + 5) for sub in subs]
    for sub in subs:
        sub.stop()
    healthy = False
    with contextlib.suppress(Exception):
        healthy = running.client.health().body.get("status") == "ok"
    return flood_result(count, results, healthy)


def flood_result(opened: int, results: Sequence[StreamResult | None], healthy: bool) -> FloodResult:
    """Flood figures from each stream's result (``None`` for a stream that gave none; status 0)."""
    connected = [r for r in results if r is not None and r.replay_complete is not None]
    times = []
    for r in connected:
        stamp = next((e.get("_recv_ms") for e in r.of_type("replay_complete")), None)
        if stamp is not None:
            times.append(float(stamp))
    return FloodResult(
        opened=opened,
        connected=len(connected),
        statuses=[r.status if r is not None else 0 for r in results],
        time_to_replay_complete=metrics.summarize(times, "replay_complete"),
        healthy_after=healthy,
    )


# -- side by side -----------------------------------------------------------------------------------------

SIDE_BY_SIDE_PROFILE_HOW = (
    "sampled: psutil readings of every process of the tree every 50 ms (CLI) / 100 ms (daemon), "
    "last reading per process (peak RSS = largest VmHWM; context switches are the main "
    "thread's); exact: wait4 rusage of the CLI root / RUSAGE_CHILDREN delta over the daemon's "
    "life (all threads, reaped children included), as /usr/bin/time -v reports"
)


def figure_pair(cli: float | None, daemon: float | None, how: str, unit: str = "ms") -> dict[str, Any] | str:
    """``{cli, daemon, cliOverDaemon, unit, how}`` (values to 1 decimal, ratio to 2), or ``not run``.

    ``not run`` when either value is missing; the ratio is ``None`` when the daemon's value is 0.
    """
    if cli is None or daemon is None:
        return "not run"
    return {
        "cli": round(cli, 1),
        "daemon": round(daemon, 1),
        "cliOverDaemon": round(cli / daemon, 2) if daemon else None,
        "unit": unit,
        "how": how,
    }


def side_by_side(
    cli_cold: CliSeries | None = None,
    daemon_boot: BootSeries | None = None,
    prompt_cli: CliSeries | None = None,
    prompt_daemon: PromptSeries | None = None,
) -> dict[str, Any]:
    """The CLI's and the daemon's figures paired with their ratio (CLI / daemon); a missing input gives ``not run``.

    Returns:
        ``startToFirstUsableP50``, ``promptLatencyP50`` and ``promptLatencyP99`` (see :func:`figure_pair`) and
        ``resourceProfile`` (sampled and exact figures of both sides, or ``not run``).
    """
    out: dict[str, Any] = {
        "startToFirstUsableP50": figure_pair(
            cli_cold.wall.p50 if cli_cold else None,
            daemon_boot.latency.p50 if daemon_boot else None,
            "CLI: whole -p run, spawn to exit; daemon: spawn to first session (not preheated)",
        ),
        "promptLatencyP50": figure_pair(
            prompt_cli.wall.p50 if prompt_cli else None,
            prompt_daemon.latency.p50 if prompt_daemon else None,
            "CLI: whole -p run with the prompt; daemon: POST prompt to turn_complete on a warm session",
        ),
        "promptLatencyP99": figure_pair(
            prompt_cli.wall.p99 if prompt_cli else None,
            prompt_daemon.latency.p99 if prompt_daemon else None,
            "as promptLatencyP50, 99th percentile",
        ),
    }
    if cli_cold is not None and daemon_boot is not None:
        out["resourceProfile"] = {
            "cli": {"sampled": asdict(cli_cold.profile), "exactWait4": cli_cold.rusage},
            "daemon": {"sampled": asdict(daemon_boot.profile), "exactRusageChildren": daemon_boot.rusage},
            "how": SIDE_BY_SIDE_PROFILE_HOW,
            "cliRun": "one -p run (the last of C1)",
            "daemonRun": "boot + first session + SIGTERM stop (the last of C2)",
        }
    else:
        out["resourceProfile"] = "not run"
    return out


# -- A/B comparison of two builds -------------------------------------------------------------------------


def compare_builds(
    cmp: ab.Comparison,
    start: Callable[[str | None, bool], Any],
    stop: Callable[[], Any],
    target: Target,
    a_entry: str | None = None,
    b_entry: str | None = None,
    creates: int = 5,
    prompts: int = 3,
    warmup: int = 1,
    log: Callable[[str], None] = _quiet,
) -> ab.Comparison:
    """Fill ``cmp`` with one run per position of its A B B A order, after ``warmup`` unrecorded runs of A.

    Each run starts the build (not preheated) and measures boot to the first session, the median of
    ``creates`` warm ``thread`` creations, the median of ``prompts`` prompt latencies (after one warm-up
    prompt) and the tree RSS with the sessions open, then stops it.

    Args:
        cmp: The comparison to fill (its order says which build runs next).
        start: ``start(entry, preheat)`` starts a daemon of that build (``None``: the default build).
        stop: Stops it.
        target: The daemon just started.
        a_entry: Build A's entry script (``None``: the default build).
        b_entry: Build B's entry script (``None``: the default build).
        creates: Warm creations per run.
        prompts: Prompts per run.
        warmup: Unrecorded runs of build A first (preheated, one session).
        log: Gets one line per recorded run.
    """
    for _ in range(int(warmup)):
        start(a_entry or None, True)
        try:
            target().client.create_session("thread")
        finally:
            stop()
    while not cmp.complete:
        build = cmp.next_build
        entry = (a_entry if build == "A" else b_entry) or None
        started = time.monotonic()
        start(entry, False)
        try:
            sid = target().client.create_session("thread").session_id
            boot_ms = (time.monotonic() - started) * 1000
            warm = time_session_creations(target, int(creates))
            series = time_prompts(target, sid, "say ok", iterations=int(prompts), warmup=1)
            rss = measure_tree_rss(target, 1 + warm.success_count, 0.5)
        finally:
            stop()
        run = cmp.add(
            build,
            boot_to_first_session_ms=boot_ms,
            warm_create_p50_ms=warm.latency.p50 or 0.0,
            prompt_p50_ms=series.latency.p50 or 0.0,
            tree_rss_mb=rss.total,
        )
        log(f"run {run.position + 1} ({build}): {run.values}")
    return cmp
