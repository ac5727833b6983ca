"""The open-model engine: a scheduler thread hands arrivals to workers at their intended start times.

Every arrival has an *intended* start ``t0 + i / rate``, whatever the daemon does. The scheduler never waits
for a response: it sleeps until each intended start and hands the arrival over; when the hand-off queue
(``plan.backlog``) is full the arrival is dropped. A worker that picks an arrival up more than
``plan.max_start_lag_ms`` after its intended start drops it too. Each worker records into its own
recorders (no locks); the outcome merges them. Threads here never log.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from keywords.errors import HarnessError
from keywords.measure.metrics import LatencyRecorder
from keywords.traffic.open_model.plan import LoadPlan

TICK_S = 0.01  # resolution of the per-second timeline's counters (a count lands at most 10 ms early)
_STOP = object()


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


class ArrivalFailed(HarnessError):
    """Raised by an action: the arrival was sent and failed with this error code (counted, not fatal)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _recorder(name: str) -> LatencyRecorder:
    return LatencyRecorder(name, keep_values=False)


@dataclass
class WorkerRecorders:
    """Recorders owned by one worker thread (merged at the end; no locks).

    Attributes:
        response: Intended start to done.
        service: Actual send to done.
        start_lag: Actual send minus intended start.
        accept: The action's own accept latency (202 of a prompt, 200 of a create).
        sent: Arrivals sent.
        late: Sent later than the late tolerance.
        dropped_lag: Dropped because they waited too long for a worker.
        completed: Arrivals whose action returned a completion time.
        errors: Error code -> count.
        done_ticks: Completions per ``TICK_S`` tick of the monotonic clock.
    """

    response: LatencyRecorder = field(default_factory=lambda: _recorder("response"))
    service: LatencyRecorder = field(default_factory=lambda: _recorder("service"))
    start_lag: LatencyRecorder = field(default_factory=lambda: _recorder("start lag"))
    accept: LatencyRecorder = field(default_factory=lambda: _recorder("accept"))
    sent: int = 0
    late: int = 0
    dropped_lag: int = 0
    completed: int = 0
    errors: Counter = field(default_factory=Counter)
    done_ticks: Counter = field(default_factory=Counter)

    def add(self, other: WorkerRecorders) -> None:
        """Merge another worker's recorders and counts into these."""
        for name in ("response", "service", "start_lag", "accept"):
            getattr(self, name).merge(getattr(other, name))
        self.sent += other.sent
        self.late += other.late
        self.dropped_lag += other.dropped_lag
        self.completed += other.completed
        self.errors.update(other.errors)
        self.done_ticks.update(other.done_ticks)


# An action sends one arrival's request(s). It sets ``arrival.started`` right before sending (the engine sets
# it too, just before the call) and returns the monotonic time the arrival was done, or ``None`` when the
# completion is observed elsewhere (a turn ending on an SSE stream) and recorded by the caller.
Action = Callable[[Arrival, WorkerRecorders], "float | None"]


@dataclass
class EngineOutcome:
    """What the schedule and the workers did (before per-kind figures are added).

    Attributes:
        recorders: The merged recorders and counts of every worker.
        planned: Scheduled arrivals.
        dropped_queue_full: Arrivals dropped because the hand-off queue was full.
        schedule_s: First intended start to the last hand-off.
        wall_s: Schedule start to the last worker's end.
        started_at: Monotonic time of the schedule's start (the timeline's zero).
    """

    recorders: WorkerRecorders = field(default_factory=WorkerRecorders)
    planned: int = 0
    dropped_queue_full: int = 0
    schedule_s: float = 0.0
    wall_s: float = 0.0
    started_at: float = 0.0

    @property
    def sent(self) -> int:
        """Arrivals that started."""
        return self.recorders.sent

    @property
    def late(self) -> int:
        """Started arrivals sent more than ``late_ms`` after their intended start."""
        return self.recorders.late

    @property
    def completed(self) -> int:
        """Arrivals whose action returned a completion time."""
        return self.recorders.completed

    @property
    def dropped(self) -> int:
        """Arrivals never sent (queue full, or waited past ``max_start_lag_ms``)."""
        return self.dropped_queue_full + self.recorders.dropped_lag

    @property
    def errors(self) -> dict[str, int]:
        """Error code -> count."""
        return dict(self.recorders.errors)


def per_second(ticks: Counter, origin: float, seconds: int) -> list[int]:
    """Counts per whole second since ``origin`` from counters keyed by ``TICK_S`` ticks of the monotonic clock."""
    counts = [0] * max(seconds, 0)
    for tick, n in ticks.items():
        second = int(tick * TICK_S - origin)
        if 0 <= second < len(counts):
            counts[second] += n
    return counts


def _work(
    handoff: queue.Queue, rec: WorkerRecorders, action: Action, plan: LoadPlan, clock: Callable[[], float]
) -> None:
    late_s = plan.late_ms / 1000
    max_lag_s = plan.max_start_lag_ms / 1000
    while True:
        item = handoff.get()
        if item is _STOP:
            return
        arrival: Arrival = item
        now = clock()
        if now - arrival.intended > max_lag_s:
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


def run_open_model(
    plan: LoadPlan,
    action: Action,
    *,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> EngineOutcome:
    """Run ``plan.arrivals`` arrivals at ``plan.rate`` per second through ``plan.workers`` worker threads.

    Args:
        plan: The plan (validated here).
        action: Sends one arrival (see :data:`Action`); raises :class:`ArrivalFailed` for a counted error.
        clock: Monotonic clock in seconds.
        stop: Set to end the schedule early (remaining arrivals are neither sent nor dropped).
    """
    plan.validate()
    stop = stop or threading.Event()
    handoff: queue.Queue = queue.Queue(maxsize=plan.backlog)
    per_worker = [WorkerRecorders() for _ in range(plan.workers)]
    threads = [
        threading.Thread(target=_work, args=(handoff, rec, action, plan, clock), name=f"load-worker-{i}", daemon=True)
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
    for rec in per_worker:
        outcome.recorders.add(rec)
    return outcome
