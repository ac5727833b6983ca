"""Keywords that drive sustained open-model load and check its figures."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Any, Literal

from robot.api import logger
from robotlibcore import keyword

from keywords import checks
from keywords.components.component import Component, Option, pop_options, subset, takes_options
from keywords.fakes import mock_control
from keywords.traffic.loadgen.progress import Progress
from keywords.traffic.open_model import LoadPlan, Slo, SustainedLoadResult, run_lifecycle_load, run_prompt_load

# Keyword argument -> LoadPlan field, for every sustained load (the plan checks every value).
_PLAN_FIELDS = {
    "rate": "rate",
    "duration": "duration_s",
    "sessions": "sessions",
    "subscribers": "subscribers",
    "workers": "workers",
    "backlog": "backlog",
    "processes": "processes",
    "answer_permissions": "answer_permissions",
    "late_tolerance_ms": "late_ms",
    "max_start_lag_ms": "max_start_lag_ms",
    "drain": "drain_s",
    "cpu_threshold_pct": "cpu_threshold_pct",
}
LIVE_AFTER_S = 10.0  # loads longer than this show a live line on the console
PermissionAnswer = Literal["allow", "reject", "none"]

# The options of an open-model load, shared by every keyword that runs or plans one (each takes those that
# apply to it, some with defaults of its own); the plan checks every value.
LOAD_OPTIONS: dict[str, Option] = {
    "sessions": Option(int, 5, "Sessions created (and closed at the end) to spread the prompts over (1..256)."),
    "subscribers": Option(
        int, 1, "SSE streams per session (1..64; the daemon's cap is 64); above 1 the load is a\nfan-out."
    ),
    "workers": Option(int, 16, "Connections that send the requests, over all processes (1..1024)."),
    "processes": Option(int, 1, "Load-generating processes (1..16; at most one per session)."),
    "late_tolerance_ms": Option(
        float | timedelta,
        10.0,
        "Start lag above which an arrival counts as late: milliseconds or a Robot time\n(``10 ms``).",
    ),
    "max_start_lag_ms": Option(
        float | timedelta,
        1000.0,
        "Start lag above which an arrival is dropped instead of sent: milliseconds or a\nRobot time (``1 s``).",
    ),
    "backlog": Option(int, 256, "Arrivals that may wait for a connection (per process)."),
    "drain": Option(
        timedelta | float, 30.0, "After the schedule, how long to wait for open turns (seconds or a Robot\ntime)."
    ),
    "text": Option(str, "sustained load", "Prompt text."),
    "cpu_threshold_pct": Option(float, 90.0, "A process's CPU (% of one core) counted as saturation."),
    "answer_permissions": Option(
        PermissionAnswer,
        "allow",
        "What every ``permission_request`` gets: ``allow`` (the first ``allow_*``\noption), ``reject`` (the "
        "first ``reject_*``) or ``none`` (left pending).",
    ),
}
# The SLO bounds of a load (``None``: no bound); with any bound the load stops early once one can no longer hold.
SLO_OPTIONS: dict[str, Option] = {
    "p99_bound_ms": Option(
        float | timedelta | None,
        None,
        "SLO bound on the p99 response time from the intended start: milliseconds or a\n"
        "Robot time (``${None}``: no bound).",
    ),
    "max_errors": Option(int | None, None, "SLO bound on errors (``${None}``: no bound)."),
    "max_late": Option(int | None, None, "SLO bound on late starts (``${None}``: no bound)."),
    "max_dropped": Option(int | None, None, "SLO bound on dropped arrivals (``${None}``: no bound)."),
}
_PROMPT_LOAD = {**LOAD_OPTIONS, **SLO_OPTIONS}
_SESSION_LOAD = {
    **subset(LOAD_OPTIONS, "late_tolerance_ms", "max_start_lag_ms", "workers", "processes", "backlog"),
    **subset(LOAD_OPTIONS, "cpu_threshold_pct"),
    **SLO_OPTIONS,
}


def plan_of(kind: str, arguments: dict[str, Any], **fields: Any) -> LoadPlan:
    """The checked plan of a keyword call, from its arguments named as the keyword names them."""
    given = {field: arguments[name] for name, field in _PLAN_FIELDS.items() if name in arguments}
    return LoadPlan(kind=kind, **given, **fields).validate()


def mock_text(text: str, mock_settings: dict[str, Any]) -> str:
    """A prompt's text with the mock agent's directive for ``mock_settings`` in front (checked by the mock's table)."""
    return f"{mock_control.directive(**mock_settings)} {text}".strip()


def slo_bounds(arguments: dict[str, Any]) -> Slo:
    """The SLO of a keyword call's bound arguments, as given (``None``: no bound); :meth:`Slo.validate` checks it."""
    return Slo(
        p99_ms=arguments.get("p99_bound_ms"),
        max_errors=arguments.get("max_errors"),
        max_late=arguments.get("max_late"),
        max_dropped=arguments.get("max_dropped"),
    )


def slo_of(arguments: dict[str, Any]) -> Slo | None:
    """The checked SLO of a keyword call (``None`` when no bound was given)."""
    if all(arguments.get(name) is None for name in SLO_OPTIONS):
        return None
    return slo_bounds(arguments).validate()


PLAIN_EVERY_S = 10.0


def _is_terminal() -> bool:
    stream = sys.__stdout__
    return bool(stream is not None and stream.isatty())


class LiveLine:
    """The live progress line of a long load: printed on the console from the main thread, never logged.

    Args:
        duration_s: The load's schedule; shorter than :data:`LIVE_AFTER_S` shows nothing.
        label: What runs, e.g. ``prompts 200/s``.
    """

    def __init__(self, duration_s: float, label: str, *, terminal: bool | None = None) -> None:
        self.on = duration_s > LIVE_AFTER_S
        self.label = label
        self.shown = False
        # On a terminal the line is replaced in place every second; in a log file (CI) a carriage return
        # would pile every refresh onto one line, so a plain line is written every PLAIN_EVERY_S instead.
        self.terminal = _is_terminal() if terminal is None else terminal
        self._last_plain: float | None = None

    def __call__(self, progress: Progress) -> None:
        """Show one progress line (replacing the previous one on a terminal)."""
        if not self.on:
            return
        if self.terminal:
            logger.console(f"\r{self.label}: {progress.line()}".ljust(150), newline=False)
            self.shown = True
            return
        now = time.monotonic()
        if self._last_plain is None or now - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = now
            logger.console(f"{self.label}: {progress.line()}")

    def end(self) -> None:
        """End the line (so Robot's own output starts on a new one)."""
        if self.shown:
            logger.console("")
            self.shown = False


class LoadKeywords(Component):
    """Open-model load: arrivals at a target rate, response and service time, late and dropped starts, SLOs."""

    def _run(self, run, plan: LoadPlan, slo: Slo | None, daemon: str | None, label: str) -> SustainedLoadResult:
        live = LiveLine(plan.duration_s, label)
        try:
            return run(self.ctx.get(daemon).client, plan, slo=slo, on_progress=live)
        finally:
            live.end()

    @keyword(tags=("load", "prompt", "sse"))
    @takes_options(_PROMPT_LOAD, before="daemon", keep_var_keyword=True)
    def run_sustained_prompt_load(
        self,
        rate: float = 10.0,
        duration: timedelta | float = 20.0,
        *,
        daemon: str | None = None,
        **mock_settings,
    ) -> SustainedLoadResult:
        """Send prompts at ``rate`` per second for ``duration``, round-robin over ``sessions`` new sessions.

        Open model: every prompt has an intended start time (``i / rate`` after the start) whatever the daemon
        does; response time counts from it, service time from the actual send, both to the turn's end as seen
        on the session's SSE stream (one long-lived subscription per session, frames matched by ``promptId``).
        A prompt sent more than ``late_tolerance_ms`` after its intended start is late; one that could not
        start (queue of ``backlog`` full, or no connection within ``max_start_lag_ms``) is dropped. Refusals
        such as 503 ``prompt_queue_full`` are counted by code, never raised. The load runs in ``processes``
        load-generating processes sharing one schedule; each one's CPU is sampled and the result is marked
        unreliable when one was saturated. Turns may use tool calls and ask permissions (mock settings
        ``tool_calls=8 permissions=2``): every ``permission_request`` is answered as ``answer_permissions``
        says, so the SSE figures are those of a real client's event mix. With ``subscribers`` above 1 the
        load is a fan-out: every session has that many streams, a prompt is done when its turn's end reached
        every one (response time to the last), delivery delays are recorded on every stream, gaps and the time
        to the first chunk on the first. With any SLO bound
        (``p99_bound_ms``, ``max_errors``, ``max_late``, ``max_dropped``), the run stops early as soon as a
        bound can no longer hold, and ``slo`` holds every bound with its measured value (check it with `Load
        Should Meet SLO`). A load longer than 10 s shows a live line on the console (not in the log). Every
        argument is checked before any session is created.

        Args:
            rate: Prompts per second (above 0, at most 5000).
            duration: Length of the schedule: seconds or a Robot time (``20 s``, ``1.5 min``).
            {options}
            mock_settings: Mock agent settings for every prompt (``chunks=3``, ``tool_calls=8``,
                ``tool_output_bytes=2048``, ``permissions=2``...).

        Returns:
            ``SustainedLoadResult`` (``kind`` ``prompt``, or ``fanout`` with several subscribers; ``events``
            then counts the frames of every stream): ``planned``, ``sent``, ``completed``, ``late``,
            ``dropped``, ``unfinished``, ``errors`` (code -> count), ``error_count``, ``achieved_rate``;
            ``response``, ``service``, ``accept``, ``start_lag``, ``first_chunk``, ``gaps``, ``delivery``,
            ``answer`` (latency summaries, ms); ``events``, ``events_per_s``, ``event_mix`` (frame kind ->
            count), ``permission_requests``, ``permission_answered``, ``permission_refused``, ``over_bound``,
            ``timeline``, ``response_spectrum``, ``service_spectrum``, ``histograms``, ``harness_cpu`` (the
            busiest process), ``process_cpu`` (every process), ``processes``, ``client_cpu_ms_per_op``,
            ``stopped_early``, ``slo`` (``SloVerdict``: ``checks``, ``held``, ``breached``, ``reason()``;
            ``None`` without bounds), ``reliable``, ``wall_s``, ``plan`` (its ``parameters()`` are the
            scenario's inputs); ``line()`` and ``sse_line()`` for the test message, ``figures()`` for the
            snapshot.

        Example:
            | ${load}= | Run Sustained Prompt Load | 10 | 20 s | sessions=5 |
            | ${load}= | Run Sustained Prompt Load | 50 | 30 s | tool_calls=8 | permissions=2 | p99_bound_ms=200 |
            | Load Should Meet SLO | ${load} |
            | ${fan}= | Run Sustained Prompt Load | 20 | 10 s | sessions=2 | subscribers=16 |
        """
        options = pop_options(_PROMPT_LOAD, mock_settings)
        subscribers = checks.whole_number("subscribers", options["subscribers"], low=1, high=64)
        arguments = {"rate": rate, "duration": duration, **options}
        prompt_text = mock_text(options["text"], mock_settings)
        plan = plan_of("fanout" if subscribers > 1 else "prompt", arguments, prompt_text=prompt_text)
        slo = slo_of(arguments)
        label = f"prompts {plan.rate:g}/s" + (f" x{subscribers} streams" if subscribers > 1 else "")
        result = self._run(run_prompt_load, plan, slo, daemon, label)
        self.info(f"Sustained prompts: {result.line()}")
        self.info(f"SSE: {result.sse_line()}")
        self.info(f"Harness CPU rule: {result.harness_cpu.rule}")
        return result

    @keyword(tags=("load", "session"))
    @takes_options(_SESSION_LOAD, before="daemon")
    def run_sustained_session_load(
        self,
        rate: float = 5.0,
        duration: timedelta | float = 10.0,
        *,
        daemon: str | None = None,
        **options: Any,
    ) -> SustainedLoadResult:
        """Create and close a session (``POST /session``, ``DELETE /session/:id``) at ``rate`` per second.

        Same open-model schedule, accounting and SLO as `Run Sustained Prompt Load`; an arrival is done when
        the close answers 204. ``accept`` holds the create latency.

        Args:
            rate: Create+close cycles per second (above 0, at most 5000).
            duration: Length of the schedule: seconds or a Robot time (``10 s``).
            {options}

        Returns:
            ``SustainedLoadResult`` (``kind`` ``lifecycle``): ``planned``, ``sent``, ``completed``, ``late``,
            ``dropped``, ``errors``, ``error_count``, ``achieved_rate``; ``response``, ``service``, ``accept``,
            ``start_lag`` (latency summaries, ms); ``timeline``, ``response_spectrum``, ``service_spectrum``,
            ``histograms``, ``harness_cpu``, ``process_cpu``, ``processes``, ``client_cpu_ms_per_op``,
            ``over_bound``, ``stopped_early``, ``slo``, ``reliable``, ``wall_s``, ``plan``; ``first_chunk``,
            ``gaps``, ``delivery``, ``answer``, ``unfinished``, ``events``, ``events_per_s``,
            ``permission_requests`` and ``permission_answered`` are ``None`` (not measured by this load);
            ``line()`` and ``figures()``.

        Example:
            | ${load}= | Run Sustained Session Load | 5 | 10 s |
            | Load Should Have Completed | ${load} |
        """
        arguments = {"rate": rate, "duration": duration, **options}
        plan = plan_of("lifecycle", arguments)
        slo = slo_of(arguments)
        result = self._run(run_lifecycle_load, plan, slo, daemon, f"create+close {plan.rate:g}/s")
        self.info(f"Sustained create+close: {result.line()}")
        return result

    @keyword(tags=("load", "assertion"))
    def load_should_have_completed(
        self, result: SustainedLoadResult, *, max_errors: int = 0, max_dropped: int = 0
    ) -> None:
        """Fail unless every sent arrival completed, with at most ``max_errors`` errors and ``max_dropped`` drops.

        Late starts are a recorded figure, not a failure. The message lists error codes and counts. It also
        fails when prompts never ended within the drain bound, when sent arrivals have no outcome, or when sent
        plus dropped arrivals do not add up to the planned ones.

        Args:
            result: From `Run Sustained Prompt Load` or `Run Sustained Session Load`.
            max_errors: Errors allowed (all error codes together).
            max_dropped: Dropped starts allowed.

        Example:
            | Load Should Have Completed | ${load} |
            | Load Should Have Completed | ${load} | max_errors=5 |
        """
        max_errors = checks.whole_number("max_errors", max_errors)
        max_dropped = checks.whole_number("max_dropped", max_dropped)
        problems = []
        if result.error_count > max_errors:
            codes = ", ".join(f"{code} x{count}" for code, count in sorted(result.errors.items()))
            problems.append(f"{result.error_count} errors (bound {max_errors}): {codes}")
        if result.dropped > max_dropped:
            problems.append(f"{result.dropped} dropped starts (bound {max_dropped})")
        unfinished = result.unfinished or 0
        if unfinished:
            problems.append(f"{unfinished} prompts never ended within the drain bound")
        missing = result.sent - result.completed - result.error_count - unfinished
        if missing > 0:
            problems.append(f"{missing} sent arrivals have no outcome")
        if result.sent + result.dropped != result.planned:
            problems.append(f"planned {result.planned} but sent {result.sent} and dropped {result.dropped}")
        if result.stopped_early:
            problems.append(f"the run stopped early: {result.stopped_early}")
        if problems:
            raise AssertionError(
                f"The {result.kind} load should have completed every arrival, but {result.completed} of "
                f"{result.planned} did: " + "; ".join(problems) + "."
            )

    @keyword(tags=("load", "assertion", "slo"))
    def load_should_meet_slo(self, result: SustainedLoadResult) -> None:
        """Fail unless every SLO bound the load was given held; the message lists every breached bound.

        Each breached bound is named with its measured value and bound; a run that stopped early because a
        bound could no longer hold says so.

        Args:
            result: From a sustained-load keyword run with at least one SLO bound (``p99_bound_ms``,
                ``max_errors``, ``max_late``, ``max_dropped``).

        Example:
            | ${load}= | Run Sustained Prompt Load | 50 | 20 s | p99_bound_ms=100 | max_errors=0 |
            | Load Should Meet SLO | ${load} |
        """
        verdict = result.slo
        if verdict is None:
            raise AssertionError(
                "Load Should Meet SLO needs a load run with an SLO bound (p99_bound_ms, max_errors, max_late or "
                "max_dropped), but this one had none."
            )
        if not verdict.held:
            raise AssertionError(
                f"The {result.kind} load at {result.plan.rate:g}/s should have met its SLO, but "
                f"{len(verdict.breached)} bound(s) broke: {verdict.reason()}."
            )
        self.info(verdict.line())

    @keyword(tags=("load", "assertion", "sse"))
    def load_should_have_streamed_whole_turns(self, result: SustainedLoadResult, *, chunks: int) -> None:
        """Fail unless every completed prompt of a load showed its first chunk and its whole turn on the stream.

        A turn of ``chunks`` chunks is, on the session's stream, the daemon's echo of the prompt, the chunks and
        ``turn_complete``: the load must have received at least that many frames per completed prompt, and a
        first-chunk time for each of them.

        Args:
            result: From `Run Sustained Prompt Load`.
            chunks: The agent chunks each prompt asked for.

        Example:
            | ${load}= | Run Sustained Prompt Load | 10 | 20 s | chunks=3 |
            | Load Should Have Streamed Whole Turns | ${load} | chunks=3 |
        """
        chunks = checks.whole_number("chunks", chunks)
        if result.kind != "prompt" or result.events is None or result.first_chunk is None:
            raise AssertionError(
                f"A prompt load's stream figures were expected, but this {result.kind} load has none "
                f"({result.sse_line()})."
            )
        expected = result.completed * (chunks + 2)
        if result.first_chunk.count != result.completed or result.events < expected:
            raise AssertionError(
                f"Each of the {result.completed} completed prompts should have streamed its echo, {chunks} chunks "
                f"and turn_complete ({expected} frames at least, each with a first chunk), but the load received "
                f"{result.events} frames and {result.first_chunk.count} first chunks."
            )

    @keyword(tags=("load", "report"))
    def get_load_figures(self, result: SustainedLoadResult) -> dict:
        """The measured figures of a run, for `Record Scenario` (its inputs are ``${load.plan.parameters()}``).

        Args:
            result: From a sustained-load keyword.

        Returns:
            ``result.figures()``: a dictionary with camelCase keys: ``planned``, ``sent``, ``completed``,
            ``late``, ``dropped``, ``unfinished``, ``errorCount``, ``errors`` (``{code, count}`` rows),
            ``achievedRatePerSec``, the latency percentile dictionaries ``responseMs``, ``serviceMs``,
            ``acceptMs``, ``startLagMs``, ``firstChunkMs``, ``gapMs``, ``deliveryMs``,
            ``permissionAnswerMs``, then ``events``, ``eventsPerSec``, ``eventMix`` (``{kind, count}`` rows),
            ``overBound``, ``permissionRequests``, ``permissionAnswered``, ``permissionRefused``,
            ``timeline``, ``responseSpectrumMs``, ``serviceSpectrumMs`` (``[percentile, ms]`` pairs),
            ``harnessCpuMeanPct``, ``harnessCpuPeakPct``, ``harnessCpuWindows``, ``harnessCpuSaturated``,
            ``harnessCpuCores``, ``harnessCpuProcessesMeanPct``, ``harnessProcesses``, ``clientCpuMsPerOp``,
            ``stoppedEarly``, with an SLO ``sloHeld``, ``sloBreached``, ``sloStoppedEarly`` and
            ``slo<Bound>Measured``, then ``reliable`` and ``wallMs``; ``None`` where the load's kind measures
            nothing.

        Example:
            | ${figures}= | Get Load Figures | ${load} |
            | ${inputs}= | Set Variable | ${load.plan.parameters()} |
            | Record Scenario | sustained-prompts | kind=loadtest-report | parameters=${inputs} | &{figures} |
        """
        return result.figures()

    @keyword(tags=("load", "report"))
    def warn_if_harness_saturated(self, result: SustainedLoadResult) -> bool:
        """Log a warning when the harness, not the daemon, was saturated; returns whether it was reliable.

        Args:
            result: From a sustained-load keyword.

        Returns:
            ``${True}`` when the figures are reliable (no load-generating process was saturated), else
            ``${False}``.

        Example:
            | ${reliable}= | Warn If Harness Saturated | ${load} |
        """
        if not result.reliable:
            cpu = result.harness_cpu
            logger.warn(f"Load figures are unreliable: {cpu.line()} ({cpu.rule}).")
        return result.reliable
