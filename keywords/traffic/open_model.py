"""Open-model load: arrivals on a fixed-rate clock, both latencies, late and dropped starts, SSE-native figures.

A closed loop (each flow waits for its previous step) stops sampling while the daemon stalls, so its tail
percentiles come out optimistic (coordinated omission). Here every arrival has an *intended* start time
``t0 + i / rate`` set by a scheduler thread, whatever the daemon does, and two latencies are recorded:

- **response time**: intended start → done (what a user arriving on schedule would see);
- **service time**: actual send → done (what the daemon took once asked).

An arrival is **late** when it was sent more than ``late_ms`` after its intended start, and **dropped**
(k6's ``dropped_iterations``) when it could not start at all: the hand-off queue to the workers was full, or
it waited longer than ``max_start_lag_ms`` for a free worker. Dropped arrivals are not sent.

For prompts, "done" is the turn's end as seen on the session's SSE stream: one long-lived subscription per
session reads every frame and matches it to its prompt by the envelope's ``promptId``, so a prompt costs one
POST, never a stream of its own. Per prompt it records the time to the first ``agent_message_chunk``, the
gaps between the prompt's frames, and the delivery delay (the daemon's ``_meta.serverTimestamp`` to
receipt, wall clock). Every series is an HdrHistogram (:mod:`keywords.measure.metrics`): each worker and each
session reader records into its own recorders, and the result merges them.

The harness process's own CPU is sampled during the run (:class:`CpuMeter`); the result is marked
unreliable when the harness, not the daemon, was the bottleneck (rule in :data:`SATURATION_RULE`).

Threads here never log and never call Robot Framework; the caller gets a :class:`LoadResult`.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import psutil

from keywords.errors import DaemonHttpError, HarnessConfigError
from keywords.measure.metrics import LatencyRecorder, LatencySummary
from keywords.traffic.client import DaemonClient
from keywords.traffic.sse import TERMINAL_TYPES, TURN_END_TYPES, StreamOptions, Subscription

KINDS = ("prompt", "lifecycle")
SATURATION_RULE = (
    "harness saturated when its process used more than {threshold:g}% of one core (user+system CPU over wall "
    "time) averaged over the run, or in {windows} consecutive {interval:g}-s windows; Python runs one thread "
    "at a time (GIL), so one core is the harness's ceiling"
)


# -- the plan ------------------------------------------------------------------------------------------


@dataclass
class LoadPlan:
    """What to drive and how.

    Attributes:
        kind: ``prompt`` (prompts round-robin over ``sessions`` sessions) or ``lifecycle`` (create + close).
        rate: Arrivals per second.
        duration_s: Length of the arrival schedule.
        sessions: Sessions the prompts are spread over (``prompt`` only).
        workers: Worker threads that send requests.
        backlog: Arrivals that may wait for a free worker; one more is dropped.
        late_ms: An arrival sent more than this after its intended start is late.
        max_start_lag_ms: An arrival that waited longer than this for a worker is dropped, not sent.
        drain_s: After the last arrival, how long to wait for outstanding turns to end.
        prompt_text: Prompt text (a mock directive prefix may be part of it).
        cpu_threshold_pct: Harness CPU (% of one core) above which the run counts as harness-bound.
        cpu_interval_s: Harness CPU sampling window.
        cpu_windows: Consecutive windows over the threshold that also count as saturation.
    """

    kind: str = "prompt"
    rate: float = 10.0
    duration_s: float = 20.0
    sessions: int = 5
    workers: int = 16
    backlog: int = 256
    late_ms: float = 10.0
    max_start_lag_ms: float = 1000.0
    drain_s: float = 30.0
    prompt_text: str = "sustained load"
    cpu_threshold_pct: float = 90.0
    cpu_interval_s: float = 0.5
    cpu_windows: int = 3

    @property
    def arrivals(self) -> int:
        """Number of scheduled arrivals: ``rate * duration`` rounded down (at least one)."""
        return max(1, math.floor(self.rate * self.duration_s + 1e-9))

    def validate(self) -> None:
        """Raise :class:`HarnessConfigError` naming the first bad field."""
        if self.kind not in KINDS:
            raise HarnessConfigError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        if not 0 < self.rate <= 5000:
            raise HarnessConfigError(f"rate must be above 0 and at most 5000 per second, got {self.rate}.")
        if not 0 < self.duration_s <= 3600:
            raise HarnessConfigError(f"duration must be above 0 and at most 3600 s, got {self.duration_s}.")
        if self.arrivals > 1_000_000:
            raise HarnessConfigError(f"rate * duration gives {self.arrivals} arrivals; at most 1,000,000.")
        if self.kind == "prompt" and not 1 <= self.sessions <= 64:
            raise HarnessConfigError(f"sessions must be from 1 to 64, got {self.sessions}.")
        if not 1 <= self.workers <= 256:
            raise HarnessConfigError(f"workers must be from 1 to 256, got {self.workers}.")
        if not 1 <= self.backlog <= 100_000:
            raise HarnessConfigError(f"backlog must be from 1 to 100000, got {self.backlog}.")
        if self.late_ms < 0 or self.max_start_lag_ms <= 0:
            raise HarnessConfigError("late_ms must be 0 or more and max_start_lag_ms above 0.")
        if not 0 < self.drain_s <= 600:
            raise HarnessConfigError(f"drain must be above 0 and at most 600 s, got {self.drain_s}.")
        if not 0 < self.cpu_threshold_pct <= 100 or not 0.05 <= self.cpu_interval_s <= 10 or self.cpu_windows < 1:
            raise HarnessConfigError("cpu threshold must be in (0, 100], interval in [0.05, 10] s, windows >= 1.")

    def intended_offset_s(self, index: int) -> float:
        """Intended start of arrival ``index`` in seconds after the schedule's start (``index / rate``)."""
        return index / self.rate


# -- harness CPU ---------------------------------------------------------------------------------------


@dataclass
class HarnessCpu:
    """The harness process's own CPU during a run.

    Attributes:
        mean_pct: User+system CPU over wall time, % of one core, over the whole run.
        peak_pct: Highest window.
        windows_pct: Every window, in order.
        threshold_pct: The saturation threshold used.
        saturated: The rule in ``rule`` fired.
        rule: The saturation rule, in words.
        cores: Logical cores of the machine (the daemon shares them).
    """

    mean_pct: float = 0.0
    peak_pct: float = 0.0
    windows_pct: list[float] = field(default_factory=list)
    threshold_pct: float = 90.0
    saturated: bool = False
    rule: str = ""
    cores: int = 1


def saturated(mean_pct: float, windows_pct: list[float], threshold_pct: float, consecutive: int) -> bool:
    """The saturation rule: the run's mean over the threshold, or ``consecutive`` windows in a row over it."""
    if mean_pct > threshold_pct:
        return True
    run = 0
    for pct in windows_pct:
        run = run + 1 if pct > threshold_pct else 0
        if run >= consecutive:
            return True
    return False


class CpuMeter:
    """Samples the harness process's CPU (user+system) in a background thread.

    Args:
        interval_s: Window length.
        threshold_pct: Saturation threshold (% of one core).
        windows: Consecutive windows over the threshold that count as saturation.
        read: Returns ``(cpu_seconds, wall_seconds)``; defaults to this process via psutil and the monotonic
            clock (tests pass a fake).
        max_windows: Bound on kept windows.
    """

    def __init__(
        self,
        interval_s: float = 0.5,
        threshold_pct: float = 90.0,
        windows: int = 3,
        read: Callable[[], tuple[float, float]] | None = None,
        max_windows: int = 20_000,
    ) -> None:
        self.interval_s = interval_s
        self.threshold_pct = threshold_pct
        self.windows = windows
        self.max_windows = max_windows
        self._proc = psutil.Process()
        self._read = read or self._read_process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: tuple[float, float] | None = None
        self._last: tuple[float, float] | None = None
        self.windows_pct: list[float] = []

    def _read_process(self) -> tuple[float, float]:
        times = self._proc.cpu_times()
        return times.user + times.system, time.monotonic()

    def start(self) -> CpuMeter:
        """Take the first reading and start sampling."""
        self._first = self._last = self._read()
        self._thread = threading.Thread(target=self._run, name="harness-cpu", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """Close one window (called by the thread; tests call it directly)."""
        now = self._read()
        if self._last is not None:
            pct = _pct(now, self._last)
            if pct is not None and len(self.windows_pct) < self.max_windows:
                self.windows_pct.append(round(pct, 1))
        self._last = now

    def stop(self) -> HarnessCpu:
        """Stop the thread and return the figures."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 2.0)
        end = self._read()
        mean = _pct(end, self._first) if self._first is not None else None
        mean = 0.0 if mean is None else mean
        return HarnessCpu(
            mean_pct=round(mean, 1),
            peak_pct=max(self.windows_pct, default=round(mean, 1)),
            windows_pct=list(self.windows_pct),
            threshold_pct=self.threshold_pct,
            saturated=saturated(mean, self.windows_pct, self.threshold_pct, self.windows),
            rule=SATURATION_RULE.format(threshold=self.threshold_pct, windows=self.windows, interval=self.interval_s),
            cores=psutil.cpu_count() or 1,
        )


def _pct(now: tuple[float, float], then: tuple[float, float]) -> float | None:
    wall = now[1] - then[1]
    if wall <= 0:
        return None
    return max(0.0, (now[0] - then[0]) / wall * 100)


# -- the open-model engine -----------------------------------------------------------------------------


@dataclass
class Arrival:
    """One scheduled arrival.

    Attributes:
        index: Position in the schedule (0-based).
        intended: Intended start, monotonic seconds.
        started: Actual send, monotonic seconds (set by the worker just before the request).
    """

    index: int
    intended: float
    started: float = 0.0


class ArrivalFailed(Exception):
    """Raised by an action: the arrival was sent and failed with this error code (counted, not fatal)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# An action sends one arrival's request(s). It sets ``arrival.started`` right before sending (the engine sets
# it too, just before the call) and returns the monotonic time the arrival was done, or ``None`` when the
# completion is observed elsewhere (a turn ending on an SSE stream) and recorded by the caller.
Action = Callable[[Arrival, "WorkerRecorders"], "float | None"]


@dataclass
class WorkerRecorders:
    """Recorders owned by one worker thread (merged at the end; no locks)."""

    response: LatencyRecorder = field(default_factory=lambda: LatencyRecorder("response", keep_values=False))
    service: LatencyRecorder = field(default_factory=lambda: LatencyRecorder("service", keep_values=False))
    start_lag: LatencyRecorder = field(default_factory=lambda: LatencyRecorder("start lag", keep_values=False))
    accept: LatencyRecorder = field(default_factory=lambda: LatencyRecorder("accept", keep_values=False))
    sent: int = 0
    late: int = 0
    dropped_lag: int = 0
    completed: int = 0
    errors: Counter = field(default_factory=Counter)
    done_ticks: Counter = field(default_factory=Counter)  # completions per TICK_S of the monotonic clock


@dataclass
class EngineOutcome:
    """What the schedule and the workers did (before per-kind figures are added).

    Attributes:
        planned: Scheduled arrivals.
        sent: Arrivals that started.
        late: Started arrivals sent more than ``late_ms`` after their intended start.
        dropped: Arrivals never sent (queue full or waited past ``max_start_lag_ms``).
        dropped_queue_full: Of those, dropped because the hand-off queue was full.
        completed: Arrivals whose action returned a completion time.
        errors: Error code -> count.
        schedule_s: First intended start to the last hand-off.
        wall_s: Schedule start to the last worker's end.
        started_at: Monotonic time of the schedule's start (the timeline's zero).
        recorders: The merged recorders.
    """

    planned: int = 0
    sent: int = 0
    late: int = 0
    dropped: int = 0
    dropped_queue_full: int = 0
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    schedule_s: float = 0.0
    wall_s: float = 0.0
    started_at: float = 0.0
    recorders: WorkerRecorders = field(default_factory=WorkerRecorders)


_STOP = object()
TICK_S = 0.01  # resolution of the per-second timeline's counters (a count lands at most 10 ms early)


def per_second(ticks: Counter, origin: float, seconds: int) -> list[int]:
    """Counts per whole second since ``origin`` from counters keyed by ``TICK_S`` ticks of the monotonic clock."""
    counts = [0] * max(seconds, 0)
    for tick, n in ticks.items():
        second = int(tick * TICK_S - origin)
        if 0 <= second < len(counts):
            counts[second] += n
    return counts


def run_open_model(
    plan: LoadPlan,
    action: Action,
    *,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> EngineOutcome:
    """Run ``plan.arrivals`` arrivals at ``plan.rate`` per second through ``plan.workers`` worker threads.

    The scheduler never waits for a response: it sleeps until each intended start and hands the arrival over;
    when the hand-off queue (``plan.backlog``) is full the arrival is dropped. A worker that picks an arrival
    up more than ``plan.max_start_lag_ms`` after its intended start drops it too.

    Args:
        plan: The validated plan.
        action: Sends one arrival (see :data:`Action`); raises :class:`ArrivalFailed` for a counted error.
        clock: Monotonic clock in seconds.
        stop: Set to end the schedule early (remaining arrivals are neither sent nor dropped).
    """
    plan.validate()
    stop = stop or threading.Event()
    handoff: queue.Queue = queue.Queue(maxsize=plan.backlog)
    per_worker = [WorkerRecorders() for _ in range(plan.workers)]
    late_s = plan.late_ms / 1000
    max_lag_s = plan.max_start_lag_ms / 1000

    def work(rec: WorkerRecorders) -> None:
        while True:
            item = handoff.get()
            if item is _STOP:
                return
            arrival: Arrival = item
            now = clock()
            lag = now - arrival.intended
            if lag > max_lag_s:
                rec.dropped_lag += 1
                continue
            arrival.started = now
            rec.sent += 1
            try:
                done = action(arrival, rec)
            except ArrivalFailed as exc:
                rec.errors[exc.code] += 1
                done = None
            except Exception as exc:  # an unexpected failure is counted, never fatal for the run
                rec.errors[f"exception:{type(exc).__name__}"] += 1
                done = None
            lag = arrival.started - arrival.intended
            rec.start_lag.record_ms(max(0.0, lag) * 1000)
            if lag > late_s:
                rec.late += 1
            if done is not None:
                rec.completed += 1
                rec.done_ticks[int(done / TICK_S)] += 1
                rec.response.record_ms((done - arrival.intended) * 1000)
                rec.service.record_ms((done - arrival.started) * 1000)

    threads = [
        threading.Thread(target=work, args=(rec,), name=f"load-worker-{i}", daemon=True)
        for i, rec in enumerate(per_worker)
    ]
    for thread in threads:
        thread.start()
    outcome = EngineOutcome(planned=plan.arrivals)
    t0 = clock() + 0.005
    outcome.started_at = t0
    last_handoff = t0
    for index in range(plan.arrivals):
        intended = t0 + plan.intended_offset_s(index)
        while not stop.is_set():
            wait = intended - clock()
            if wait <= 0:
                break
            stop.wait(min(wait, 0.05))
        if stop.is_set():
            outcome.planned = index
            break
        try:
            handoff.put_nowait(Arrival(index, intended))
        except queue.Full:
            outcome.dropped_queue_full += 1
        last_handoff = clock()
    outcome.schedule_s = last_handoff - t0
    bound = clock() + plan.max_start_lag_ms / 1000 + plan.drain_s + 10
    for _ in threads:  # waits only while the queue is full; workers keep draining it
        with contextlib.suppress(queue.Full):
            handoff.put(_STOP, timeout=max(0.1, bound - clock()))
    for thread in threads:
        thread.join(max(0.0, bound - clock()))
    outcome.wall_s = clock() - t0
    merged = WorkerRecorders()
    errors: Counter = Counter()
    for rec in per_worker:
        for name in ("response", "service", "start_lag", "accept"):
            getattr(merged, name).merge(getattr(rec, name))
        merged.sent += rec.sent
        merged.late += rec.late
        merged.dropped_lag += rec.dropped_lag
        merged.completed += rec.completed
        merged.done_ticks.update(rec.done_ticks)
        errors.update(rec.errors)
    outcome.recorders = merged
    outcome.sent = merged.sent
    outcome.late = merged.late
    outcome.completed = merged.completed
    outcome.dropped = outcome.dropped_queue_full + merged.dropped_lag
    outcome.errors = dict(errors)
    return outcome


# -- prompts over SSE ----------------------------------------------------------------------------------


@dataclass
class _Trace:
    intended: float | None = None
    sent: float | None = None
    first_chunk: float | None = None
    last_event: float | None = None
    end: float | None = None
    outcome: str | None = None
    events: int = 0


class SessionTracker:
    """One session's long-lived SSE reader: matches frames to prompts by ``promptId`` and records figures.

    The reader thread records gaps and delivery delays (only it writes those recorders); the per-prompt
    figures are recorded under a lock by whichever side, worker (202 received) or reader (turn ended),
    completes the pair.
    """

    def __init__(self, client: DaemonClient, session_id: str, timeout_s: float) -> None:
        self.session_id = session_id
        self.lock = threading.Lock()
        self.traces: dict[str, _Trace] = {}
        self.response = LatencyRecorder("response", keep_values=False)
        self.service = LatencyRecorder("service", keep_values=False)
        self.first_chunk = LatencyRecorder("first chunk", keep_values=False)
        self.gaps = LatencyRecorder("inter-event gap", keep_values=False)
        self.delivery = LatencyRecorder("delivery", keep_values=False)
        self.completed = 0
        self.errors: Counter = Counter()
        self.events = 0
        self.event_ticks: Counter = Counter()
        self.turn_ticks: Counter = Counter()
        self.first_event_at: float | None = None
        self.last_event_at: float | None = None
        self.session_end: str | None = None
        options = StreamOptions(timeout_s=timeout_s, keep_events=False)
        self.subscription = _DispatchingSubscription(client.base_url, session_id, options, client.token, self)

    def start(self, connect_timeout_s: float = 10.0) -> None:
        """Open the stream in a background thread and wait for its headers."""
        self.subscription.start()
        if not self.subscription.wait_connected(connect_timeout_s) or self.subscription.result.status != 200:
            self.subscription.stop()
            res = self.subscription.result
            raise ConnectionError(f"SSE subscribe of session {self.session_id} failed: {res.error or res.status}")

    def stop(self) -> None:
        """Close the stream and wait for the reader (bounded)."""
        self.subscription.stop()
        self.subscription.join(5.0)

    # called by workers
    def accepted(self, prompt_id: str, intended: float, sent: float) -> None:
        """A prompt's 202 arrived."""
        with self.lock:
            trace = self.traces.setdefault(prompt_id, _Trace())
            trace.intended, trace.sent = intended, sent
            if trace.end is not None:
                self._finish(prompt_id, trace)

    @property
    def outstanding(self) -> int:
        """Accepted prompts whose turn has not ended yet."""
        with self.lock:
            return sum(1 for t in self.traces.values() if t.sent is not None and t.end is None)

    # called by the reader thread
    def frame(self, env: dict, now: float) -> None:
        """One frame of the session's stream."""
        self.events += 1
        self.event_ticks[int(now / TICK_S)] += 1
        if self.first_event_at is None:
            self.first_event_at = now
        self.last_event_at = now
        stamp = (env.get("_meta") or {}).get("serverTimestamp")
        if isinstance(stamp, (int, float)):
            self.delivery.record_ms(max(0.0, time.time() * 1000 - stamp))
        etype = env.get("type")
        data = env.get("data") if isinstance(env.get("data"), dict) else {}
        prompt_id = env.get("promptId") or data.get("promptId")
        if etype in TERMINAL_TYPES:
            self._session_ended(etype, now)
            return
        if not prompt_id:
            return
        with self.lock:
            trace = self.traces.setdefault(prompt_id, _Trace())
            if trace.end is not None:
                return
            trace.events += 1
            if trace.last_event is not None:
                self.gaps.record_ms((now - trace.last_event) * 1000)
            trace.last_event = now
            update = data.get("update") if isinstance(data.get("update"), dict) else {}
            if etype == "session_update" and update.get("sessionUpdate") == "agent_message_chunk":
                if trace.first_chunk is None:
                    trace.first_chunk = now
            elif etype in TURN_END_TYPES:
                trace.end = now
                if etype == "turn_complete":
                    trace.outcome = "completed"
                else:
                    trace.outcome = f"turn_error:{data.get('code') or 'none'}"
                if trace.sent is not None:
                    self._finish(prompt_id, trace)

    def _session_ended(self, etype: str, now: float) -> None:
        with self.lock:
            self.session_end = etype
            for prompt_id, trace in list(self.traces.items()):
                if trace.end is None:
                    trace.end, trace.outcome = now, etype
                    if trace.sent is not None:
                        self._finish(prompt_id, trace)

    def _finish(self, prompt_id: str, trace: _Trace) -> None:
        # under self.lock
        if trace.outcome == "completed":
            self.completed += 1
            self.turn_ticks[int(trace.end / TICK_S)] += 1
            self.response.record_ms((trace.end - trace.intended) * 1000)
            self.service.record_ms((trace.end - trace.sent) * 1000)
            if trace.first_chunk is not None:
                self.first_chunk.record_ms((trace.first_chunk - trace.sent) * 1000)
        else:
            self.errors[trace.outcome or "unknown"] += 1
        del self.traces[prompt_id]


class _DispatchingSubscription(Subscription):
    """A background :class:`Subscription` that hands every frame to its :class:`SessionTracker`."""

    def __init__(self, base_url, session_id, options, token, tracker: SessionTracker) -> None:
        super().__init__(base_url, session_id, options, token)
        self._tracker = tracker

    def _take(self, data: str, recv_ms: float, counts: Counter) -> None:
        before = self._last
        super()._take(data, recv_ms, counts)
        # Keep the base result bounded on long runs: the tracker keeps the figures.
        if len(self.result.delivery_ms) > 1000:
            self.result.delivery_ms.clear()
        if len(self.result.ids) > 10_000:
            del self.result.ids[:-1]
        if self._last is not before and self._last is not None:
            self._tracker.frame(self._last, time.monotonic())


# -- the result ----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """Figures of one sustained-load run.

    Attributes:
        kind: ``prompt`` or ``lifecycle``.
        rate: Target arrivals per second.
        duration_s: Schedule length.
        sessions: Sessions the prompts were spread over (0 for lifecycle).
        workers: Worker threads.
        late_ms: Late-start tolerance.
        planned: Scheduled arrivals.
        sent: Arrivals sent.
        completed: Arrivals that finished well (turn_complete; 204 on close).
        late: Arrivals sent more than ``late_ms`` after their intended start.
        dropped: Arrivals never sent (k6's dropped_iterations).
        unfinished: Prompts accepted whose turn had not ended when the drain bound ran out.
        errors: Error code -> count (``prompt_queue_full``, ``turn_error:<code>``, ``transport:<Type>``...).
        achieved_rate: Sent arrivals per second of schedule.
        response: Intended start → done (ms).
        service: Actual send → done (ms); for prompts this is the time to turn end.
        accept: POST → 202 (prompts) or POST /session → 200 (lifecycle), ms.
        start_lag: Actual send minus intended start (ms).
        first_chunk: Send → first ``agent_message_chunk`` (ms).
        gaps: Gaps between consecutive frames of one prompt (ms).
        delivery: ``serverTimestamp`` → receipt, wall clock (ms).
        events: SSE frames received over all sessions.
        events_per_s: Frames per second over the run.
        timeline: ``[second, completed, events]`` per whole second since the schedule started (monotonic
            clock, counted in 10 ms ticks): arrivals completed (turns ended with turn_complete; create+close
            pairs) and SSE frames received (0 for lifecycle loads).
        response_spectrum: ``[percentile, ms]`` pairs of the response time.
        service_spectrum: ``[percentile, ms]`` pairs of the service time.
        histograms: Encoded HdrHistograms by series name (merge with ``LatencyRecorder.decode``).
        harness_cpu: The harness's own CPU.
        reliable: False when the harness was saturated (see ``harness_cpu.rule``).
        wall_s: Whole run, schedule start to the end of the drain.
    """

    kind: str
    rate: float
    duration_s: float
    sessions: int
    workers: int
    late_ms: float
    planned: int = 0
    sent: int = 0
    completed: int = 0
    late: int = 0
    dropped: int = 0
    unfinished: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    achieved_rate: float = 0.0
    response: LatencySummary | None = None
    service: LatencySummary | None = None
    accept: LatencySummary | None = None
    start_lag: LatencySummary | None = None
    first_chunk: LatencySummary | None = None
    gaps: LatencySummary | None = None
    delivery: LatencySummary | None = None
    events: int = 0
    events_per_s: float = 0.0
    timeline: list[list[int]] = field(default_factory=list)
    response_spectrum: list[list[float]] = field(default_factory=list)
    service_spectrum: list[list[float]] = field(default_factory=list)
    histograms: dict[str, str] = field(default_factory=dict)
    harness_cpu: HarnessCpu = field(default_factory=HarnessCpu)
    reliable: bool = True
    wall_s: float = 0.0

    @property
    def error_count(self) -> int:
        """All counted errors."""
        return sum(self.errors.values())

    def line(self) -> str:
        """The one-line report: both latencies, late/dropped, errors, harness CPU."""
        cpu = self.harness_cpu
        flag = "" if self.reliable else " (UNRELIABLE: harness saturated)"
        parts = [
            f"response {_pcts(self.response)}",
            f"service {_pcts(self.service)}",
            f"late {self.late}/{self.sent} · dropped {self.dropped} · errors {self.error_count}"
            + (f" · unfinished {self.unfinished}" if self.unfinished else "")
            + f" · {self.achieved_rate:.1f}/s · harness CPU {cpu.mean_pct:.0f}% (peak {cpu.peak_pct:.0f}%){flag}",
        ]
        return " | ".join(parts)

    def sse_line(self) -> str:
        """The SSE-native figures in one line (prompts only)."""
        return (
            f"first chunk {_pcts(self.first_chunk)} | gap {_pcts(self.gaps)} | delivery {_pcts(self.delivery)} | "
            f"{self.events} events, {self.events_per_s:.0f} ev/s"
        )

    def figures(self) -> dict[str, Any]:
        """Plain data for ``Record Scenario`` (summaries as percentile dicts, spectra as pairs).

        The run's kind is under ``workload`` (``kind`` is `Record Scenario`'s own argument).
        """
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "histograms":
                continue
            out[key] = value
        out["harness_cpu"] = {k: v for k, v in asdict(self.harness_cpu).items() if k != "windows_pct"}
        out["harness_cpu"]["windows"] = len(self.harness_cpu.windows_pct)
        out["report_line"] = self.line()
        out["workload"] = out.pop("kind")  # "kind" would clash with Record Scenario's own argument
        out["model"] = "open (arrival rate; response time from the intended start, service time from the send)"
        return out


def _pcts(summary: LatencySummary | None) -> str:
    if summary is None or not summary.count:
        return "no samples"
    return f"p50 {_ms(summary.p50)} · p99 {_ms(summary.p99)} · p99.9 {_ms(summary.p999)} · max {_ms(summary.max)} ms"


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _spectrum(recorder: LatencyRecorder) -> list[list[float]]:
    return [[p, round(v, 3)] for p, v in recorder.spectrum()]


def _http_code(exc: DaemonHttpError) -> str:
    return exc.code or f"http_{exc.status}"


# -- the drivers ---------------------------------------------------------------------------------------


def run_prompt_load(
    client: DaemonClient, plan: LoadPlan, *, session_ids: list[str] | None = None, stop: threading.Event | None = None
) -> LoadResult:
    """Drive prompts at ``plan.rate`` over ``plan.sessions`` sessions and follow every turn over SSE.

    Sessions are created here (scope ``thread``) unless ``session_ids`` is given; each gets one long-lived
    subscription before the schedule starts, and sessions created here are closed at the end. A refused
    prompt (e.g. 503 ``prompt_queue_full``) is an error, counted by its code.

    Args:
        client: Client of the daemon (shared by the workers; httpx pools its connections).
        plan: The plan (``kind`` must be ``prompt``).
        session_ids: Use these sessions instead of creating ``plan.sessions`` new ones.
        stop: Set to end the schedule early.
    """
    plan.validate()
    if plan.kind != "prompt":
        raise HarnessConfigError(f"run_prompt_load needs kind=prompt, got {plan.kind!r}.")
    created: list[str] = []
    if session_ids is None:
        for _ in range(plan.sessions):
            created.append(client.create_session("thread").session_id)
        session_ids = created
    trackers: list[SessionTracker] = []
    meter = CpuMeter(plan.cpu_interval_s, plan.cpu_threshold_pct, plan.cpu_windows)
    stream_timeout = plan.duration_s + plan.drain_s + plan.max_start_lag_ms / 1000 + 60
    try:
        for sid in session_ids:
            tracker = SessionTracker(client, sid, stream_timeout)
            trackers.append(tracker)
            tracker.start()

        def action(arrival: Arrival, rec: WorkerRecorders) -> float | None:
            tracker = trackers[arrival.index % len(trackers)]
            arrival.started = time.monotonic()
            try:
                accepted = client.prompt(tracker.session_id, plan.prompt_text)
            except DaemonHttpError as exc:
                raise ArrivalFailed(_http_code(exc)) from exc
            except httpx.HTTPError as exc:
                raise ArrivalFailed(f"transport:{type(exc).__name__}") from exc
            rec.accept.record_ms(accepted.elapsed_ms)
            tracker.accepted(accepted.prompt_id, arrival.intended, arrival.started)
            return None  # the turn's end is recorded by the session's reader

        meter.start()
        outcome = run_open_model(plan, action, stop=stop)
        deadline = time.monotonic() + plan.drain_s
        while time.monotonic() < deadline and any(t.outstanding for t in trackers):
            time.sleep(0.01)
        cpu = meter.stop()
        unfinished = sum(t.outstanding for t in trackers)
    finally:
        with contextlib.suppress(Exception):
            meter.stop()
        for sid in created:  # closing first ends each stream with session_closed
            with contextlib.suppress(Exception):
                client.close_session(sid, expected=None)
        for tracker in trackers:
            tracker.stop()
    return _prompt_result(plan, outcome, trackers, cpu, unfinished)


def _prompt_result(
    plan: LoadPlan, outcome: EngineOutcome, trackers: list[SessionTracker], cpu: HarnessCpu, unfinished: int
) -> LoadResult:
    merged = {name: LatencyRecorder(name, keep_values=False) for name in _SERIES}
    errors: Counter = Counter(outcome.errors)
    completed = 0
    events = 0
    first_at = [t.first_event_at for t in trackers if t.first_event_at is not None]
    last_at = [t.last_event_at for t in trackers if t.last_event_at is not None]
    for t in trackers:
        for name in ("response", "service", "first_chunk", "gaps", "delivery"):
            merged[name].merge(getattr(t, name))
        errors.update(t.errors)
        completed += t.completed
        events += t.events
    merged["accept"].merge(outcome.recorders.accept)
    merged["start_lag"].merge(outcome.recorders.start_lag)
    span = (max(last_at) - min(first_at)) if first_at and last_at else 0.0
    result = _base_result(plan, outcome, merged, cpu)
    result.completed = completed
    result.errors = dict(errors)
    result.unfinished = unfinished
    result.events = events
    result.events_per_s = round(events / span, 1) if span > 0 else 0.0
    turn_ticks: Counter = Counter()
    event_ticks: Counter = Counter()
    for t in trackers:
        turn_ticks.update(t.turn_ticks)
        event_ticks.update(t.event_ticks)
    result.timeline = _timeline(outcome, turn_ticks, event_ticks)
    return result


def _timeline(outcome: EngineOutcome, done_ticks: Counter, event_ticks: Counter) -> list[list[int]]:
    last_tick = max([*done_ticks, *event_ticks], default=0)
    seconds = max(int(outcome.wall_s), int(last_tick * TICK_S - outcome.started_at)) + 1
    done = per_second(done_ticks, outcome.started_at, seconds)
    events = per_second(event_ticks, outcome.started_at, seconds)
    return [[i, d, e] for i, (d, e) in enumerate(zip(done, events, strict=True))]


_SERIES = ("response", "service", "accept", "start_lag", "first_chunk", "gaps", "delivery")


def _base_result(
    plan: LoadPlan, outcome: EngineOutcome, merged: dict[str, LatencyRecorder], cpu: HarnessCpu
) -> LoadResult:
    result = LoadResult(
        kind=plan.kind,
        rate=plan.rate,
        duration_s=plan.duration_s,
        sessions=plan.sessions if plan.kind == "prompt" else 0,
        workers=plan.workers,
        late_ms=plan.late_ms,
        planned=outcome.planned,
        sent=outcome.sent,
        completed=outcome.completed,
        late=outcome.late,
        dropped=outcome.dropped,
        errors=dict(outcome.errors),
        achieved_rate=round(outcome.sent / (outcome.schedule_s + 1 / plan.rate), 2),
        harness_cpu=cpu,
        reliable=not cpu.saturated,
        wall_s=round(outcome.wall_s, 3),
    )
    for name, recorder in merged.items():
        setattr(result, name, recorder.summary() if recorder.count else None)
        if recorder.count:
            result.histograms[name] = recorder.encode()
    result.response_spectrum = _spectrum(merged["response"])
    result.service_spectrum = _spectrum(merged["service"])
    return result


def run_lifecycle_load(client: DaemonClient, plan: LoadPlan, *, stop: threading.Event | None = None) -> LoadResult:
    """Drive session create + close (``POST /session`` then ``DELETE``) at ``plan.rate``; done = 204 on close.

    Args:
        client: Client of the daemon.
        plan: The plan (``kind`` must be ``lifecycle``).
        stop: Set to end the schedule early.
    """
    plan.validate()
    if plan.kind != "lifecycle":
        raise HarnessConfigError(f"run_lifecycle_load needs kind=lifecycle, got {plan.kind!r}.")

    def action(arrival: Arrival, rec: WorkerRecorders) -> float | None:
        arrival.started = time.monotonic()
        try:
            info = client.create_session("thread")
            rec.accept.record_ms(info.elapsed_ms)
            client.close_session(info.session_id)
        except DaemonHttpError as exc:
            raise ArrivalFailed(_http_code(exc)) from exc
        except httpx.HTTPError as exc:
            raise ArrivalFailed(f"transport:{type(exc).__name__}") from exc
        return time.monotonic()

    meter = CpuMeter(plan.cpu_interval_s, plan.cpu_threshold_pct, plan.cpu_windows).start()
    try:
        outcome = run_open_model(plan, action, stop=stop)
    finally:
        cpu = meter.stop()
    merged = {name: LatencyRecorder(name, keep_values=False) for name in ("response", "service", "accept", "start_lag")}
    for name in merged:
        merged[name].merge(getattr(outcome.recorders, name))
    result = _base_result(plan, outcome, merged, cpu)
    result.timeline = _timeline(outcome, outcome.recorders.done_ticks, Counter())
    return result
