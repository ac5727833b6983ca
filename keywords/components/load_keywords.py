"""Keywords that drive sustained open-model load and check its figures."""

from __future__ import annotations

from robotlibcore import keyword

from keywords.components.base import Component
from keywords.fakes import mock_control
from keywords.traffic.open_model import LoadPlan, LoadResult, run_lifecycle_load, run_prompt_load


class LoadKeywords(Component):
    """Open-model load: arrivals at a target rate, response and service time, late and dropped starts."""

    @keyword(tags=("load",))
    def run_sustained_prompt_load(
        self,
        rate: float = 10.0,
        duration: float = 20.0,
        sessions: int = 5,
        workers: int = 16,
        late_tolerance_ms: float = 10.0,
        max_start_lag_ms: float = 1000.0,
        backlog: int = 256,
        drain: float = 30.0,
        text: str = "sustained load",
        cpu_threshold_pct: float = 90.0,
        daemon: str | None = None,
        **mock_settings,
    ) -> LoadResult:
        """Send prompts at ``rate`` per second for ``duration`` seconds, round-robin over ``sessions`` new sessions.

        Open model: every prompt has an intended start time (``i / rate`` after the start) whatever the daemon
        does; response time counts from it, service time from the actual send, both to the turn's end as seen
        on the session's SSE stream (one long-lived subscription per session, frames matched by ``promptId``).
        A prompt sent more than ``late_tolerance_ms`` after its intended start is late; one that could not
        start (queue of ``backlog`` full, or no worker within ``max_start_lag_ms``) is dropped. Refusals such
        as 503 ``prompt_queue_full`` are counted by code, never raised. The harness's own CPU is sampled and
        the result marked unreliable when the harness was saturated.

        Args:
            rate: Prompts per second.
            duration: Seconds of schedule.
            sessions: Sessions created (and closed at the end) to spread the prompts over.
            workers: Worker threads sending the POSTs.
            late_tolerance_ms: Start lag above which a prompt counts as late.
            max_start_lag_ms: Start lag above which a prompt is dropped instead of sent.
            backlog: Arrivals that may wait for a worker.
            drain: Seconds to wait after the schedule for outstanding turns.
            text: Prompt text.
            cpu_threshold_pct: Harness CPU (% of one core) counted as saturation.
            mock_settings: Mock agent settings for every prompt (``chunks=3``, ``end_delay_ms=50``...).

        Returns:
            ``LoadResult``: ``response``/``service``/``first_chunk``/``gaps``/``delivery`` summaries (ms),
            ``late``, ``dropped``, ``sent``, ``completed``, ``errors``, ``harness_cpu``, ``reliable``,
            ``line()`` and ``sse_line()`` for reports, ``figures()`` for `Record Scenario`.

        Example:
            | ${load}= | Run Sustained Prompt Load | rate=10 | duration=20 | sessions=5 |
            | Report Figures | ${load.line()} |
        """
        prefix = mock_control.directive(**mock_settings)
        plan = LoadPlan(
            kind="prompt",
            rate=float(rate),
            duration_s=float(duration),
            sessions=int(sessions),
            workers=int(workers),
            backlog=int(backlog),
            late_ms=float(late_tolerance_ms),
            max_start_lag_ms=float(max_start_lag_ms),
            drain_s=float(drain),
            prompt_text=f"{prefix} {text}".strip(),
            cpu_threshold_pct=float(cpu_threshold_pct),
        )
        plan.validate()
        result = run_prompt_load(self.ctx.get(daemon).client, plan)
        self.info(f"Sustained prompts: {result.line()}")
        self.info(f"SSE: {result.sse_line()}")
        self.info(f"Harness CPU rule: {result.harness_cpu.rule}")
        return result

    @keyword(tags=("load",))
    def run_sustained_session_load(
        self,
        rate: float = 5.0,
        duration: float = 10.0,
        workers: int = 16,
        late_tolerance_ms: float = 10.0,
        max_start_lag_ms: float = 1000.0,
        backlog: int = 256,
        cpu_threshold_pct: float = 90.0,
        daemon: str | None = None,
    ) -> LoadResult:
        """Create and close a session (``POST /session``, ``DELETE /session/:id``) at ``rate`` per second.

        Same open-model schedule and accounting as `Run Sustained Prompt Load`; an arrival is done when the
        close answers 204. ``accept`` holds the create latency.

        Args:
            rate: Create+close cycles per second.
            duration: Seconds of schedule.
            workers: Worker threads doing the requests.
            late_tolerance_ms: Start lag in milliseconds above which an arrival counts as late.
            max_start_lag_ms: Start lag in milliseconds above which an arrival is dropped instead of sent.
            backlog: Arrivals that may wait for a worker.
            cpu_threshold_pct: Harness CPU (% of one core) counted as saturation.

        Returns:
            ``LoadResult`` (``kind`` ``lifecycle``): ``planned``, ``sent``, ``completed``, ``late``, ``dropped``,
            ``errors``, ``achieved_rate``, ``response``/``service``/``accept``/``start_lag`` summaries (ms),
            ``harness_cpu``, ``reliable``, ``line()`` and ``figures()``.

        Example:
            | ${load}= | Run Sustained Session Load | rate=5 | duration=10 |
            | Load Should Have Completed | ${load} |
        """
        plan = LoadPlan(
            kind="lifecycle",
            rate=float(rate),
            duration_s=float(duration),
            workers=int(workers),
            backlog=int(backlog),
            late_ms=float(late_tolerance_ms),
            max_start_lag_ms=float(max_start_lag_ms),
            cpu_threshold_pct=float(cpu_threshold_pct),
        )
        plan.validate()
        result = run_lifecycle_load(self.ctx.get(daemon).client, plan)
        self.info(f"Sustained create+close: {result.line()}")
        return result

    @keyword(tags=("load", "assertion"))
    def load_should_have_completed(self, result: LoadResult, max_errors: int = 0, max_dropped: int = 0) -> None:
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
        problems = []
        if result.error_count > int(max_errors):
            codes = ", ".join(f"{code} x{count}" for code, count in sorted(result.errors.items()))
            problems.append(f"{result.error_count} errors (bound {max_errors}): {codes}")
        if result.dropped > int(max_dropped):
            problems.append(f"{result.dropped} dropped starts (bound {max_dropped})")
        if result.unfinished:
            problems.append(f"{result.unfinished} prompts never ended within the drain bound")
        missing = result.sent - result.completed - result.error_count - result.unfinished
        if missing > 0:
            problems.append(f"{missing} sent arrivals have no outcome")
        if result.sent + result.dropped != result.planned:
            problems.append(f"planned {result.planned} but sent {result.sent} and dropped {result.dropped}")
        if problems:
            raise AssertionError(
                f"{result.kind} load ({result.completed}/{result.planned} done): " + "; ".join(problems)
            )

    @keyword(tags=("load", "report"))
    def get_load_figures(self, result: LoadResult) -> dict:
        """Plain figures of a run for `Record Scenario` (summaries, both spectra, counts, harness CPU).

        Args:
            result: From `Run Sustained Prompt Load` or `Run Sustained Session Load`.

        Returns:
            A dictionary of the ``LoadResult`` fields (summaries as percentile dictionaries, spectra as
            ``[percentile, ms]`` pairs; no histograms), with the run's kind under ``workload``, plus
            ``report_line`` and ``model``; ``harness_cpu`` has a ``windows`` count instead of the windows.

        Example:
            | ${figures}= | Get Load Figures | ${load} |
            | Record Scenario | sustained-prompts | kind=loadtest-report | &{figures} |
        """
        return result.figures()

    @keyword(tags=("load", "report"))
    def warn_if_harness_saturated(self, result: LoadResult) -> bool:
        """Log a warning when the harness, not the daemon, was saturated; returns whether it was reliable.

        Args:
            result: From `Run Sustained Prompt Load` or `Run Sustained Session Load`.

        Returns:
            ``${True}`` when the figures are reliable (the harness was not saturated), else ``${False}``.

        Example:
            | ${reliable}= | Warn If Harness Saturated | ${load} |
        """
        if not result.reliable:
            from robot.api import logger

            cpu = result.harness_cpu
            logger.warn(
                f"Load figures are unreliable: harness CPU mean {cpu.mean_pct:.0f}%, peak {cpu.peak_pct:.0f}% "
                f"({cpu.rule})."
            )
        return result.reliable
