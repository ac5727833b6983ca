"""Keywords that drive sustained open-model load and check its figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from robot.api import logger
from robotlibcore import keyword

from keywords import checks
from keywords.components.base import Component
from keywords.fakes import mock_control
from keywords.traffic.open_model import LoadPlan, SustainedLoadResult, run_lifecycle_load, run_prompt_load

# Keyword argument -> LoadPlan field, for both sustained loads (the plan checks every value).
_PLAN_FIELDS = {
    "rate": "rate",
    "duration": "duration_s",
    "sessions": "sessions",
    "workers": "workers",
    "backlog": "backlog",
    "late_tolerance_ms": "late_ms",
    "max_start_lag_ms": "max_start_lag_ms",
    "drain": "drain_s",
    "cpu_threshold_pct": "cpu_threshold_pct",
}


def _plan(kind: str, arguments: dict[str, Any], **fields: Any) -> LoadPlan:
    """The checked plan of a keyword call, from its arguments (``locals()``) named as the keyword names them."""
    given = {field: arguments[name] for name, field in _PLAN_FIELDS.items() if name in arguments}
    return LoadPlan(kind=kind, **given, **fields).validate()


class LoadKeywords(Component):
    """Open-model load: arrivals at a target rate, response and service time, late and dropped starts."""

    @keyword(tags=("load", "prompt", "sse"))
    def run_sustained_prompt_load(
        self,
        rate: float = 10.0,
        duration: timedelta | float = 20.0,
        *,
        sessions: int = 5,
        workers: int = 16,
        late_tolerance_ms: float | timedelta = 10.0,
        max_start_lag_ms: float | timedelta = 1000.0,
        backlog: int = 256,
        drain: timedelta | float = 30.0,
        text: str = "sustained load",
        cpu_threshold_pct: float = 90.0,
        daemon: str | None = None,
        **mock_settings,
    ) -> SustainedLoadResult:
        """Send prompts at ``rate`` per second for ``duration``, round-robin over ``sessions`` new sessions.

        Open model: every prompt has an intended start time (``i / rate`` after the start) whatever the daemon
        does; response time counts from it, service time from the actual send, both to the turn's end as seen
        on the session's SSE stream (one long-lived subscription per session, frames matched by ``promptId``).
        A prompt sent more than ``late_tolerance_ms`` after its intended start is late; one that could not
        start (queue of ``backlog`` full, or no worker within ``max_start_lag_ms``) is dropped. Refusals such
        as 503 ``prompt_queue_full`` are counted by code, never raised. The harness's own CPU is sampled and
        the result marked unreliable when the harness was saturated. Every argument is checked before any
        session is created.

        Args:
            rate: Prompts per second (above 0, at most 5000).
            duration: Length of the schedule: seconds or a Robot time (``20 s``, ``1.5 min``).
            sessions: Sessions created (and closed at the end) to spread the prompts over (1..64).
            workers: Worker threads sending the POSTs (1..256).
            late_tolerance_ms: Start lag above which a prompt counts as late: milliseconds or a Robot time
                (``10 ms``).
            max_start_lag_ms: Start lag above which a prompt is dropped instead of sent: milliseconds or a
                Robot time (``1 s``).
            backlog: Arrivals that may wait for a worker.
            drain: How long to wait after the schedule for outstanding turns (seconds or a Robot time).
            text: Prompt text.
            cpu_threshold_pct: Harness CPU (% of one core) counted as saturation.
            mock_settings: Mock agent settings for every prompt (``chunks=3``, ``end_delay_ms=50``...).

        Returns:
            ``SustainedLoadResult`` (``kind`` ``prompt``): ``planned``, ``sent``, ``completed``, ``late``,
            ``dropped``, ``unfinished``, ``errors`` (code -> count), ``error_count``, ``achieved_rate``;
            ``response``, ``service``, ``accept``, ``start_lag``, ``first_chunk``, ``gaps``, ``delivery``
            (latency summaries, ms); ``events``, ``events_per_s``, ``timeline``, ``response_spectrum``,
            ``service_spectrum``, ``histograms``, ``harness_cpu``, ``reliable``, ``wall_s``, ``plan`` (its
            ``parameters()`` are the scenario's inputs); ``line()`` and ``sse_line()`` for the test message,
            ``figures()`` for the snapshot.

        Example:
            | ${load}= | Run Sustained Prompt Load | 10 | 20 s | sessions=5 |
            | Report Figures | ${load.line()} |
        """
        prompt_text = f"{mock_control.directive(**mock_settings)} {text}".strip()
        plan = _plan("prompt", locals(), prompt_text=prompt_text)
        result = run_prompt_load(self.ctx.get(daemon).client, plan)
        self.info(f"Sustained prompts: {result.line()}")
        self.info(f"SSE: {result.sse_line()}")
        self.info(f"Harness CPU rule: {result.harness_cpu.rule}")
        return result

    @keyword(tags=("load", "session"))
    def run_sustained_session_load(
        self,
        rate: float = 5.0,
        duration: timedelta | float = 10.0,
        *,
        late_tolerance_ms: float | timedelta = 10.0,
        max_start_lag_ms: float | timedelta = 1000.0,
        workers: int = 16,
        backlog: int = 256,
        cpu_threshold_pct: float = 90.0,
        daemon: str | None = None,
    ) -> SustainedLoadResult:
        """Create and close a session (``POST /session``, ``DELETE /session/:id``) at ``rate`` per second.

        Same open-model schedule and accounting as `Run Sustained Prompt Load`; an arrival is done when the
        close answers 204. ``accept`` holds the create latency.

        Args:
            rate: Create+close cycles per second (above 0, at most 5000).
            duration: Length of the schedule: seconds or a Robot time (``10 s``).
            late_tolerance_ms: Start lag above which an arrival counts as late: milliseconds or a Robot time.
            max_start_lag_ms: Start lag above which an arrival is dropped instead of sent: milliseconds or a
                Robot time.
            workers: Worker threads doing the requests (1..256).
            backlog: Arrivals that may wait for a worker.
            cpu_threshold_pct: Harness CPU (% of one core) counted as saturation.

        Returns:
            ``SustainedLoadResult`` (``kind`` ``lifecycle``): ``planned``, ``sent``, ``completed``, ``late``,
            ``dropped``, ``errors``, ``error_count``, ``achieved_rate``; ``response``, ``service``, ``accept``,
            ``start_lag`` (latency summaries, ms); ``timeline``, ``response_spectrum``, ``service_spectrum``,
            ``histograms``, ``harness_cpu``, ``reliable``, ``wall_s``, ``plan``; ``first_chunk``, ``gaps``,
            ``delivery``, ``unfinished``, ``events`` and ``events_per_s`` are ``None`` (not measured by this
            load); ``line()`` and ``figures()``.

        Example:
            | ${load}= | Run Sustained Session Load | 5 | 10 s |
            | Load Should Have Completed | ${load} |
        """
        plan = _plan("lifecycle", locals())
        result = run_lifecycle_load(self.ctx.get(daemon).client, plan)
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
        if problems:
            raise AssertionError(
                f"The {result.kind} load should have completed every arrival, but {result.completed} of "
                f"{result.planned} did: " + "; ".join(problems) + "."
            )

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
            result: From `Run Sustained Prompt Load` or `Run Sustained Session Load`.

        Returns:
            ``result.figures()``: a dictionary with camelCase keys: ``planned``, ``sent``, ``completed``,
            ``late``, ``dropped``, ``unfinished``, ``errorCount``, ``errors`` (``{code, count}`` rows),
            ``achievedRatePerSec``, the latency percentile dictionaries ``responseMs``, ``serviceMs``,
            ``acceptMs``, ``startLagMs``, ``firstChunkMs``, ``gapMs``, ``deliveryMs``, then ``events``,
            ``eventsPerSec``, ``timeline``, ``responseSpectrumMs``, ``serviceSpectrumMs`` (``[percentile, ms]``
            pairs), ``harnessCpuMeanPct``, ``harnessCpuPeakPct``, ``harnessCpuWindows``,
            ``harnessCpuSaturated``, ``harnessCpuCores``, ``reliable`` and ``wallMs``; ``None`` where the
            load's kind measures nothing.

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
            result: From `Run Sustained Prompt Load` or `Run Sustained Session Load`.

        Returns:
            ``${True}`` when the figures are reliable (the harness was not saturated), else ``${False}``.

        Example:
            | ${reliable}= | Warn If Harness Saturated | ${load} |
        """
        if not result.reliable:
            cpu = result.harness_cpu
            logger.warn(f"Load figures are unreliable: {cpu.line()} ({cpu.rule}).")
        return result.reliable
