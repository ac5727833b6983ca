"""What the performance gate measures on a pair of live daemons, one of each build (mock agent, loopback).

A *pair* is one fresh daemon of the reference build and one of the candidate build, started cold (not
preheated) one after the other and then measured **alternately, request by request**, both alive at the same
time: a change of machine load during the pair hits both builds alike, so it cancels out of their ratio. Each
daemon of a pair gives one :class:`GateRun` with one figure per metric:

1. ``bootToListenMs``: spawn to the listening line (the harness polls the daemon's stdout every 10 ms).
2. ``listenToFirstSessionMs``: a ``POST /session`` sent right after the listening line, to its answer: the
   daemon's runtime start and the mock agent's spawn and ``initialize`` are inside it.
3. ``idleRssMB``: the daemon process's RSS (``/proc`` through psutil) after ``settle_s`` with one idle session.
4. ``sessionCreateMs``: median of ``creates`` warm ``POST /session`` round trips (each closed right after).
5. ``promptAcceptedMs``, ``promptFirstEventMs``, ``promptTurnEndMs``: ``prompts`` prompts one after another on
   one session whose event stream is open before the first prompt; per prompt the POST to its 202, to the
   first frame of that prompt on the stream (the daemon's echo of the user prompt), and to its
   ``turn_complete``; medians.
6. ``replayEventsPerSec``: ``subscribers`` streams opened together with ``Last-Event-ID: 0`` on a session
   holding one turn of ``replay_chunks`` chunks: all frames received by all streams over the time from the
   first subscribe to the last ``replay_complete`` (the daemon's fan-out with no agent work in the way).
7. ``liveDeliveryP99Ms``: the same streams stay open for one live prompt of ``live_chunks`` chunks: 99th
   percentile over every frame of receipt wall time minus the daemon's ``serverTimestamp`` (both wall clock,
   1 ms resolution).
8. ``retainedPerSessionMB``: ``churn`` sessions created and closed in ``churn_steps`` steps, the daemon's RSS
   read after each step; the least-squares slope of RSS over sessions created (MB per session).
9. ``eventLoopP99Ms``, ``eventLoopMeanMs``: the daemon's own event-loop delay figures from
   ``GET /daemon/status`` (``runtime.perf.eventLoop``) at the end of the pair.

Latencies come from the harness's monotonic clock; medians go through :mod:`keywords.measure.metrics`
(HdrHistogram). A step that fails leaves its metrics out of that run (``None``) and says why in ``problems``;
nothing is invented. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from keywords.checks import seconds, whole_number
from keywords.fakes import mock_control
from keywords.measure import metrics
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.sse import Subscription
from keywords.traffic.stream_options import StreamOptions

MB = 1024 * 1024
METHOD = (
    "pairs of fresh daemons (one per build, mock agent, not preheated) measured alternately request by request; "
    "latencies on the harness's monotonic clock, medians "
    "through HdrHistogram; RSS of the daemon process from /proc (psutil); retained memory = least-squares slope "
    "of RSS over sessions created and closed; event loop from the daemon's /daemon/status"
)


@dataclass(frozen=True)
class PairPlan:
    """How much one run measures (sample counts are chosen from measured noise; see the README).

    Attributes:
        creates: Warm session creations timed.
        prompts: Prompts timed, one after another, on one session.
        chunks: Agent chunks per timed prompt.
        subscribers: Streams of the fan-out measurements.
        replay_chunks: Chunks of the turn the fan-out streams replay.
        live_chunks: Chunks of the live prompt the fan-out streams receive.
        churn: Sessions created and closed for the retained-memory slope.
        churn_steps: RSS readings along the churn.
        settle_s: Pause before the idle RSS reading.
        timeout_s: Bound on any single wait of the run.
    """

    creates: int = 20
    prompts: int = 30
    chunks: int = 3
    subscribers: int = 8
    replay_chunks: int = 200
    live_chunks: int = 50
    churn: int = 120
    churn_steps: int = 6
    settle_s: float = 0.5
    timeout_s: float = 15.0

    def checked(self) -> PairPlan:
        """The plan with every count checked (raises ``HarnessConfigError`` naming the bad one)."""
        return PairPlan(
            creates=whole_number("creates", self.creates, low=3, high=1000),
            prompts=whole_number("prompts", self.prompts, low=3, high=1000),
            chunks=whole_number("chunks", self.chunks, low=1, high=1000),
            subscribers=whole_number("subscribers", self.subscribers, low=1, high=64),
            replay_chunks=whole_number("replay_chunks", self.replay_chunks, low=1, high=5000),
            live_chunks=whole_number("live_chunks", self.live_chunks, low=1, high=5000),
            churn=whole_number("churn", self.churn, low=10, high=5000),
            churn_steps=whole_number("churn_steps", self.churn_steps, low=3, high=100),
            settle_s=seconds("settle", self.settle_s, high=30, allow_zero=True),
            timeout_s=seconds("timeout", self.timeout_s, high=300),
        )


@dataclass
class GateRun:
    """The figures of one run.

    Attributes:
        build: ``reference`` or ``candidate``.
        position: 0-based position in the run order.
        values: Metric name -> this run's figure (``None``: not measured in this run).
        problems: What went wrong in this run (a metric left out says why here).
        wall_s: Wall time of the run, spawn to stop.
        pid: The daemon's process id.
    """

    build: str
    position: int
    values: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    pid: int | None = None

    def line(self) -> str:
        """One line: build, position, figures."""
        shown = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3g}'}" for k, v in self.values.items())
        return f"run {self.position + 1} ({self.build}, pid {self.pid}, {self.wall_s:.1f} s): {shown}"


def _median(values: list[float]) -> float | None:
    return metrics.summarize(values).p50 if values else None


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``y`` over ``x`` (``None`` with fewer than 2 distinct x)."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx


STEP_METRICS = {
    "session creates": ("sessionCreateMs",),
    "prompt stream": ("promptAcceptedMs", "promptFirstEventMs", "promptTurnEndMs"),
    "prompts": ("promptAcceptedMs", "promptFirstEventMs", "promptTurnEndMs"),
    "fan-out": ("replayEventsPerSec", "liveDeliveryP99Ms"),
    "churn": ("retainedPerSessionMB",),
}


class _Stream:
    """A background subscription whose frames can be looked up by prompt while it runs."""

    def __init__(self, client: DaemonClient, session_id: str, timeout_s: float, last_event_id: int | None = None):
        opts = StreamOptions(last_event_id=last_event_id, timeout_s=timeout_s)
        self.sub = Subscription(client.base_url, session_id, opts, client.token).start()

    def wait_connected(self, timeout_s: float) -> bool:
        return self.sub.wait_connected(timeout_s) and self.sub.result.status == 200

    def frame_time(self, prompt_id: str, kinds: tuple[str, ...] | None, deadline: float) -> float | None:
        """Monotonic receipt time of the first frame of ``prompt_id`` (of one of ``kinds``; any when ``None``)."""
        started = self.sub.result.started_at
        seen = 0
        while time.monotonic() < deadline:
            events = self.sub.result.events
            for env in events[seen:]:
                if (kinds is None or env.get("type") in kinds) and _prompt_of(env) == prompt_id:
                    return started + env["_recv_ms"] / 1000
            seen = len(events)
            if self.sub.done:
                return None
            time.sleep(0.0005)
        return None

    def stop(self) -> None:
        self.sub.stop()
        self.sub.join(5.0)


def _prompt_of(env: dict) -> str | None:
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    return env.get("promptId") or data.get("promptId")


class Probe:
    """The measurements of one live daemon, step by step, so that two daemons can be measured alternately."""

    def __init__(self, run: GateRun, daemon: Any, client: DaemonClient, plan: PairPlan) -> None:
        self.run = run
        self.daemon = daemon
        self.client = client
        self.plan = plan
        self.proc = psutil.Process(daemon.pid)
        self.session_id: str | None = None
        self.stream: _Stream | None = None
        self._samples: dict[str, list[float]] = {}
        self._churn: list[tuple[float, float]] = []
        self._made = 0
        self._failed: set[str] = set()

    @property
    def usable(self) -> bool:
        """The first session was created (every later step needs it)."""
        return self.session_id is not None

    def step(self, name: str, fn: Callable[[], None]) -> None:
        """Run one step; a failure leaves its metrics out of this run and is named in ``problems``.

        A step that failed once is not tried again in this run (its samples would be incomplete anyway).
        """
        if (not self.usable and name != "first session") or name in self._failed:
            return
        try:
            fn()
        except Exception as exc:  # one failed step leaves its metrics out; the run goes on
            self._failed.add(name)
            self.run.problems.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
            for metric in STEP_METRICS.get(name, ()):
                self._samples.pop(metric, None)
                self.run.values[metric] = None

    def _add(self, name: str, value: float) -> None:
        self._samples.setdefault(name, []).append(value)

    # -- steps ---------------------------------------------------------------------------------
    def first_session(self) -> None:
        info = self.client.create_session("thread")
        self.session_id = info.session_id
        self.run.values["listenToFirstSessionMs"] = info.elapsed_ms

    def idle_rss(self) -> None:
        self.run.values["idleRssMB"] = self.proc.memory_info().rss / MB

    def create_once(self) -> None:
        info = self.client.create_session("thread")
        self._add("sessionCreateMs", info.elapsed_ms)
        self.client.close_session(info.session_id)

    def open_stream(self) -> None:
        self.stream = _Stream(self.client, self.session_id, self.plan.timeout_s * (self.plan.prompts + 2))
        if not self.stream.wait_connected(self.plan.timeout_s):
            raise AssertionError(f"the event stream was not answered 200 within {self.plan.timeout_s:g} s")

    def prompt_once(self) -> None:
        if self.stream is None:
            raise AssertionError("no event stream is open")
        accepted = self.client.prompt(self.session_id, mock_control.directive(chunks=self.plan.chunks) + "gate")
        deadline = time.monotonic() + self.plan.timeout_s
        first = self.stream.frame_time(accepted.prompt_id, None, deadline)
        end = self.stream.frame_time(accepted.prompt_id, ("turn_complete",), deadline)
        if end is None:
            raise AssertionError(f"a prompt had no turn_complete within {self.plan.timeout_s:g} s")
        self._add("promptAcceptedMs", accepted.elapsed_ms)
        if first is not None:
            self._add("promptFirstEventMs", (first - accepted.posted_at) * 1000)
        self._add("promptTurnEndMs", (end - accepted.posted_at) * 1000)

    def close_stream(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream = None

    def fanout(self) -> None:
        plan, client = self.plan, self.client
        sid = client.create_session("thread").session_id
        try:
            seed = client.prompt(sid, mock_control.directive(chunks=plan.replay_chunks) + "ring")
            watch = _Stream(client, sid, plan.timeout_s, last_event_id=seed.last_event_id)
            watch.frame_time(seed.prompt_id, ("turn_complete",), time.monotonic() + plan.timeout_s)
            watch.stop()
            self.run.values.update(_fan_out(client, sid, plan))
        finally:
            with contextlib.suppress(Exception):
                client.close_session(sid)

    def churn_step(self) -> None:
        if not self._churn:
            self._churn.append((0.0, self.proc.memory_info().rss / MB))
        for _ in range(max(1, self.plan.churn // self.plan.churn_steps)):
            self.client.close_session(self.client.create_session("thread").session_id)
            self._made += 1
        self._churn.append((float(self._made), self.proc.memory_info().rss / MB))

    def event_loop(self) -> None:
        loop = ((self.client.daemon_status().get("runtime") or {}).get("perf") or {}).get("eventLoop") or {}
        for key, name in (("p99Ms", "eventLoopP99Ms"), ("meanMs", "eventLoopMeanMs")):
            value = loop.get(key)
            self.run.values[name] = float(value) if isinstance(value, (int, float)) else None

    def finish(self) -> None:
        """Medians of the sampled metrics and the churn slope into the run's values."""
        for name in ("sessionCreateMs", "promptAcceptedMs", "promptFirstEventMs", "promptTurnEndMs"):
            if name in self._samples:
                self.run.values[name] = _median(self._samples[name])
        if len(self._churn) >= 3 and "churn" not in self._failed:
            self.run.values["retainedPerSessionMB"] = slope(self._churn)


def _fan_out(client: DaemonClient, sid: str, plan: PairPlan) -> dict[str, float | None]:
    """Replay rate of ``plan.subscribers`` streams opened together, then their live delivery tail."""
    options = StreamOptions(last_event_id=0, timeout_s=plan.timeout_s)
    t_sub = time.monotonic()

    def open_one(_: int) -> Subscription:
        return Subscription(client.base_url, sid, options, client.token).start()

    subs = [s for s in run_together(plan.subscribers, open_one, what="streams") if isinstance(s, Subscription)]
    try:
        deadline = time.monotonic() + plan.timeout_s
        while time.monotonic() < deadline and not all(s.result.replay_complete for s in subs):
            time.sleep(0.001)
        if not subs or not all(s.result.replay_complete for s in subs):
            raise AssertionError("not every fan-out stream finished its replay")
        done_at = max(s.result.started_at + _recv_of(s, "replay_complete") / 1000 for s in subs)
        rate = sum(s.result.received for s in subs) / (done_at - t_sub)
        marks = [len(s.result.delivery_ms) for s in subs]
        live = client.prompt(sid, mock_control.directive(chunks=plan.live_chunks) + "live")
        deadline = time.monotonic() + plan.timeout_s
        for s in subs:
            while time.monotonic() < deadline and not any(
                e.get("type") == "turn_complete" and _prompt_of(e) == live.prompt_id for e in s.result.events[-5:]
            ):
                time.sleep(0.001)
        delays = [d for s, m in zip(subs, marks, strict=True) for d in s.result.delivery_ms[m:]]
    finally:
        for s in subs:
            s.stop()
        for s in subs:
            s.join(5.0)
    p99 = metrics.summarize([max(d, 0.001) for d in delays]).p99 if delays else None
    return {"replayEventsPerSec": rate, "liveDeliveryP99Ms": p99}


def measure_pair(
    position: int,
    first: str,
    start: Callable[[str], Any],
    stop: Callable[[Any], Any],
    plan: PairPlan,
) -> tuple[GateRun, GateRun]:
    """Start one daemon of each build and measure them alternately, request by request.

    Both daemons are alive at the same time, so a change of machine load during the pair hits both alike.
    ``first`` boots first (and goes first in every alternation); boots are one after another so that each
    boot is timed alone.

    Args:
        position: The pair's position (recorded).
        first: ``reference`` or ``candidate``.
        start: ``start(build)`` starts a fresh, not preheated daemon and returns ``(daemon, client)`` where
            ``daemon`` has ``pid`` and ``boot_s``.
        stop: ``stop(daemon)`` stops it (always called, also when a step failed).
        plan: The sample counts.

    Returns:
        ``(reference run, candidate run)``.
    """
    order = (first, "candidate" if first == "reference" else "reference")
    runs = {build: GateRun(build=build, position=position) for build in order}
    started = {build: time.monotonic() for build in order}
    probes: list[Probe] = []
    try:
        for build in order:
            started[build] = time.monotonic()
            daemon, client = start(build)
            run = runs[build]
            run.pid = daemon.pid
            run.values["bootToListenMs"] = daemon.boot_s * 1000
            probe = Probe(run, daemon, client, plan)
            probe.step("first session", probe.first_session)
            probes.append(probe)
        time.sleep(plan.settle_s)
        # The measurements in order, each repeated ``times`` over, the two builds taking turns at every step.
        for name, measure, times in (
            ("idle RSS", Probe.idle_rss, 1),
            ("session creates", Probe.create_once, plan.creates),
            ("prompt stream", Probe.open_stream, 1),
            ("prompts", Probe.prompt_once, plan.prompts),
            ("close stream", Probe.close_stream, 1),
            ("fan-out", Probe.fanout, 1),
            ("churn", Probe.churn_step, plan.churn_steps),
            ("event loop", Probe.event_loop, 1),
        ):
            for _ in range(times):
                for probe in probes:
                    probe.step(name, functools.partial(measure, probe))
        for probe in probes:
            probe.finish()
    finally:
        for probe in probes:
            probe.close_stream()
            with contextlib.suppress(Exception):
                stop(probe.daemon)
        for build in order:
            runs[build].wall_s = round(time.monotonic() - started[build], 2)
    return runs["reference"], runs["candidate"]


def _recv_of(sub: Subscription, etype: str) -> float:
    return next(e["_recv_ms"] for e in sub.result.events if e.get("type") == etype)
