"""The two sustained loads: prompts followed over SSE, and session create + close.

For prompts, "done" is the turn's end as seen on the session's SSE stream (:class:`SessionTracker`); a
refused prompt (e.g. 503 ``prompt_queue_full``) is an error, counted by its code. For lifecycle loads, done is
the 204 of the close. The harness process's own CPU is sampled during both (:class:`CpuMeter`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx

from keywords.errors import DaemonHttpError, HarnessConfigError
from keywords.measure.harness_cpu import CpuMeter, HarnessCpu
from keywords.measure.metrics import LatencyRecorder
from keywords.traffic.client import DaemonClient
from keywords.traffic.open_model.engine import Arrival, ArrivalFailed, EngineOutcome, WorkerRecorders, run_open_model
from keywords.traffic.open_model.plan import LoadPlan
from keywords.traffic.open_model.result import SERIES, SustainedLoadResult, build_result, timeline
from keywords.traffic.open_model.session_tracker import SessionTracker


def _checked(plan: LoadPlan, kind: str, driver: str) -> LoadPlan:
    plan.validate()
    if plan.kind != kind:
        raise HarnessConfigError(f"{driver} needs a plan of kind {kind}, got {plan.kind!r}.")
    return plan


def _meter(plan: LoadPlan) -> CpuMeter:
    return CpuMeter(plan.cpu_interval_s, plan.cpu_threshold_pct, plan.cpu_windows)


def _counted(request: Callable[[], None]) -> None:
    """Run one arrival's request(s); a refusal or a transport error becomes a counted :class:`ArrivalFailed`."""
    try:
        request()
    except DaemonHttpError as exc:
        raise ArrivalFailed(exc.code or f"http_{exc.status}") from exc
    except httpx.HTTPError as exc:
        raise ArrivalFailed(f"transport:{type(exc).__name__}") from exc


def run_prompt_load(
    client: DaemonClient, plan: LoadPlan, *, session_ids: list[str] | None = None, stop: threading.Event | None = None
) -> SustainedLoadResult:
    """Drive prompts at ``plan.rate`` over ``plan.sessions`` sessions and follow every turn over SSE.

    Sessions are created here (scope ``thread``) unless ``session_ids`` is given; each gets one long-lived
    subscription before the schedule starts, and sessions created here are closed at the end.

    Args:
        client: Client of the daemon (shared by the workers; httpx pools its connections).
        plan: The plan (``kind`` must be ``prompt``).
        session_ids: Use these sessions instead of creating ``plan.sessions`` new ones.
        stop: Set to end the schedule early.
    """
    _checked(plan, "prompt", "run_prompt_load")
    created: list[str] = []
    if session_ids is None:
        created = [client.create_session("thread").session_id for _ in range(plan.sessions)]
        session_ids = created
    trackers: list[SessionTracker] = []
    meter = _meter(plan)
    stream_timeout = plan.duration_s + plan.drain_s + plan.max_start_lag_ms / 1000 + 60
    try:
        for sid in session_ids:
            tracker = SessionTracker(client, sid, stream_timeout)
            trackers.append(tracker)
            tracker.start()

        def action(arrival: Arrival, rec: WorkerRecorders) -> float | None:
            tracker = trackers[arrival.index % len(trackers)]

            def send() -> None:
                arrival.started = time.monotonic()
                accepted = client.prompt(tracker.session_id, plan.prompt_text)
                rec.accept.record_ms(accepted.elapsed_ms)
                tracker.accepted(accepted.prompt_id, arrival.intended, arrival.started)

            _counted(send)
            return None  # the turn's end is recorded by the session's reader

        meter.start()
        outcome = run_open_model(plan, action, stop=stop)
        deadline = time.monotonic() + plan.drain_s
        while time.monotonic() < deadline and any(t.outstanding for t in trackers):
            time.sleep(0.01)
        cpu = meter.stop()
        unfinished = sum(t.outstanding for t in trackers)
    finally:
        meter.stop()
        for sid in created:  # closing first ends each stream with session_closed
            with contextlib.suppress(Exception):
                client.close_session(sid, expected=None)
        for tracker in trackers:
            tracker.stop()
    return _prompt_result(plan, outcome, trackers, cpu, unfinished)


def _prompt_result(
    plan: LoadPlan, outcome: EngineOutcome, trackers: list[SessionTracker], cpu: HarnessCpu, unfinished: int
) -> SustainedLoadResult:
    merged = {name: LatencyRecorder(name, keep_values=False) for name in SERIES}
    errors: Counter = Counter(outcome.errors)
    turn_ticks: Counter = Counter()
    event_ticks: Counter = Counter()
    for t in trackers:
        for name in ("response", "service", "first_chunk", "gaps", "delivery"):
            merged[name].merge(getattr(t, name))
        errors.update(t.errors)
        turn_ticks.update(t.turn_ticks)
        event_ticks.update(t.event_ticks)
    merged["accept"].merge(outcome.recorders.accept)
    merged["start_lag"].merge(outcome.recorders.start_lag)
    first_at = [t.first_event_at for t in trackers if t.first_event_at is not None]
    last_at = [t.last_event_at for t in trackers if t.last_event_at is not None]
    span = (max(last_at) - min(first_at)) if first_at and last_at else 0.0
    result = build_result(plan, outcome, merged, cpu)
    result.completed = sum(t.completed for t in trackers)
    result.errors = dict(errors)
    result.unfinished = unfinished
    result.events = sum(t.events for t in trackers)
    result.events_per_s = round(result.events / span, 1) if span > 0 else None
    result.timeline = timeline(outcome, turn_ticks, event_ticks)
    return result


def run_lifecycle_load(
    client: DaemonClient, plan: LoadPlan, *, stop: threading.Event | None = None
) -> SustainedLoadResult:
    """Drive session create + close (``POST /session`` then ``DELETE``) at ``plan.rate``; done = 204 on close.

    Args:
        client: Client of the daemon.
        plan: The plan (``kind`` must be ``lifecycle``).
        stop: Set to end the schedule early.
    """
    _checked(plan, "lifecycle", "run_lifecycle_load")

    def action(arrival: Arrival, rec: WorkerRecorders) -> float | None:
        def create_and_close() -> None:
            arrival.started = time.monotonic()
            info = client.create_session("thread")
            rec.accept.record_ms(info.elapsed_ms)
            client.close_session(info.session_id)

        _counted(create_and_close)
        return time.monotonic()

    meter = _meter(plan).start()
    try:
        outcome = run_open_model(plan, action, stop=stop)
    finally:
        cpu = meter.stop()
    merged = {name: LatencyRecorder(name, keep_values=False) for name in ("response", "service", "accept", "start_lag")}
    for name, recorder in merged.items():
        recorder.merge(getattr(outcome.recorders, name))
    result = build_result(plan, outcome, merged, cpu)
    result.timeline = timeline(outcome, outcome.recorders.done_ticks, None)
    return result
