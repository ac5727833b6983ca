"""The sustained loads: prompts followed over SSE (one or several streams a session), create + close, cycles.

Each driver checks its plan, prepares what the load needs through the functional client (sessions for the
prompt and fan-out loads, closed again at the end), runs the load-generating processes
(:mod:`keywords.traffic.loadgen`) and folds their reports into one :class:`SustainedLoadResult`. With an
:class:`~keywords.traffic.open_model.slo.Slo`, the run stops early as soon as a bound can no longer hold, and
the result carries every bound with its measured value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from keywords.errors import HarnessConfigError
from keywords.traffic.client import DaemonClient
from keywords.traffic.loadgen.coordinator import run_generator, worker_specs
from keywords.traffic.loadgen.progress import Progress
from keywords.traffic.open_model.plan import SESSION_KINDS, LoadPlan
from keywords.traffic.open_model.result import SustainedLoadResult, build_result
from keywords.traffic.open_model.slo import Slo

ProgressCallback = Callable[[Progress], None]


def _checked(plan: LoadPlan, kinds: tuple[str, ...], driver: str) -> LoadPlan:
    plan.validate()
    if plan.kind not in kinds:
        raise HarnessConfigError(f"{driver} needs a plan of kind {' or '.join(kinds)}, got {plan.kind!r}.")
    return plan


def run_load(
    client: DaemonClient,
    plan: LoadPlan,
    *,
    session_ids: list[str] | None = None,
    slo: Slo | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> SustainedLoadResult:
    """Run any kind of sustained load at ``plan.rate`` and return its merged result.

    For ``prompt`` and ``fanout`` plans, ``plan.sessions`` sessions are created here (scope ``thread``) unless
    ``session_ids`` is given, subscribed to before the schedule starts and closed at the end (those created
    here). ``lifecycle`` and ``cycle`` plans create their own sessions per arrival.

    Args:
        client: Client of the daemon (for the sessions; the load itself goes through the generator's processes).
        plan: The plan.
        session_ids: Use these sessions instead of creating new ones (prompt and fan-out loads).
        slo: Bounds to check and to stop early on (``result.slo`` then has every bound's measured value).
        on_progress: Called about every second, in this thread, with the load's progress.
        stop: Set to end the schedule early.

    Raises:
        HarnessConfigError: a bad plan or SLO (before anything is sent).
        LoadGeneratorError: a load-generating process could not start or report.
    """
    plan.validate()
    if slo is not None:
        slo.validate()
    port = urlsplit(client.base_url).port
    created: list[str] = []
    if plan.kind in SESSION_KINDS and session_ids is None:
        try:
            for _ in range(plan.sessions):
                created.append(client.create_session("thread").session_id)
        except Exception:
            client.close_sessions(created)
            raise
        session_ids = created
    sessions = list(session_ids or []) if plan.kind in SESSION_KINDS else []
    p99 = slo.p99_ms if slo is not None else None
    specs = worker_specs(plan, port, client.token, sessions, p99)
    planned = plan.arrivals

    def doomed(progress: Progress) -> str | None:
        if slo is None:
            return None
        return slo.doomed(planned, progress.errors, progress.late, progress.dropped, progress.slower)

    try:
        outcome = run_generator(specs, on_progress=on_progress, should_stop=doomed, stop=stop)
    finally:
        client.close_sessions(created)  # closing ends each stream with session_closed
    answering = plan.kind in SESSION_KINDS and plan.answer_permissions != "none"
    stopped = outcome.stopped_early
    result = build_result(plan, outcome.reports, answering=answering, p99_bound=p99 is not None, stopped_early=stopped)
    if slo is not None:
        result.slo = slo.check(result, stopped if stopped != "stopped by the caller" else None)
    return result


def run_prompt_load(
    client: DaemonClient,
    plan: LoadPlan,
    *,
    session_ids: list[str] | None = None,
    stop: threading.Event | None = None,
    slo: Slo | None = None,
    on_progress: ProgressCallback | None = None,
) -> SustainedLoadResult:
    """Drive prompts at ``plan.rate`` over ``plan.sessions`` sessions and follow every turn over SSE.

    A prompt is done when its turn's end (``turn_complete``) reached every subscriber of its session (one for
    ``prompt`` plans, ``plan.subscribers`` for ``fanout``); a refused prompt (e.g. 503 ``prompt_queue_full``)
    or a ``turn_error`` is an error, counted by its code. ``permission_request`` frames are answered as
    ``plan.answer_permissions`` says. See :func:`run_load` for the arguments.
    """
    _checked(plan, SESSION_KINDS, "run_prompt_load")
    return run_load(client, plan, session_ids=session_ids, slo=slo, on_progress=on_progress, stop=stop)


def run_lifecycle_load(
    client: DaemonClient,
    plan: LoadPlan,
    *,
    stop: threading.Event | None = None,
    slo: Slo | None = None,
    on_progress: ProgressCallback | None = None,
) -> SustainedLoadResult:
    """Drive session create + close (``POST /session`` then ``DELETE``) at ``plan.rate``; done = 204 on close.

    A ``cycle`` plan does create, prompt, the turn's end on a stream opened with the 202's ``lastEventId``,
    and close per arrival. See :func:`run_load` for the arguments.
    """
    _checked(plan, ("lifecycle", "cycle"), "run_lifecycle_load")
    return run_load(client, plan, slo=slo, on_progress=on_progress, stop=stop)
