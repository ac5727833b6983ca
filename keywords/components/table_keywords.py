"""Keywords behind the scenario tables (``suites/scenarios``): one keyword runs one row of one table.

Each keyword is a table's ``Test Template``. It checks every cell first (a bad cell fails only its row, naming
the column as the header spells it), records the row into the suite's snapshot, starts a daemon with the mock
agent, runs the row, and then logs, at the top level of the row's test in ``log.html``: the row, the verdict in
plain words, a table of the figures and the plots. The test message holds the key figures; a row fails with one
plain sentence (what was expected, what happened), then the detail. The columns are
:mod:`keywords.reporting.scenario_tables`, the outcomes :mod:`keywords.reporting.outcomes`.
"""

from __future__ import annotations

import json
from typing import Any

from robotlibcore import keyword

from keywords import checks
from keywords.components.component import Component, html_table
from keywords.components.daemon_keywords import DaemonKeywords
from keywords.components.plot_keywords import PlotKeywords
from keywords.components.report_keywords import ReportKeywords
from keywords.fakes import mock_control, mock_report
from keywords.reporting import outcomes
from keywords.reporting.outcomes import RowRun, Verdict
from keywords.reporting.rows import Row, Table
from keywords.reporting.scenario_tables import BURSTS, LIMIT_FLAGS, LIMITS, PERMISSIONS, SUSTAINED
from keywords.reporting.snapshot import format_percentiles
from keywords.traffic import flows, row_loads
from keywords.traffic.open_model import LoadPlan, Slo, run_lifecycle_load, run_prompt_load
from keywords.traffic.permissions.pending_end import run_permission_timeout
from keywords.traffic.permissions.round_trips import run_round_trips
from keywords.traffic.sse import Subscription
from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.turns import follow_turn

LATENCY_MEASURE = "per-turn, concurrent sessions"
"""Recorded with a burst row's parameters: figures of the older measurement (rounds of prompts read one after
another, upper bounds) are not comparable with these (``python -m keywords.compare`` refuses them)."""
TURN_TIMEOUT = "${TURN_TIMEOUT_S}"
LIMIT_WAIT = "${LIMIT_WAIT_S}"
ROW_TAGS = ("scenarios", "row")


class TableKeywords(Component):
    """Run one row of a scenario table: bursts, sustained load with bounds, limits, permissions."""

    def __init__(self, ctx, report: ReportKeywords, daemons: DaemonKeywords, plots: PlotKeywords) -> None:
        super().__init__(ctx)
        self._report = report
        self._daemons = daemons
        self._plots = plots

    @keyword(tags=ROW_TAGS)
    def run_burst_row(self, *cells: str) -> RowRun:
        """Run one row of the bursts table: ``BURST`` sessions at once, each sending ``PROMPTS`` prompts.

        The sessions are released together (one barrier); each sends its prompts one after another and is
        then closed. The mock agent answers with ``CHUNKS`` pieces ``DELAY MS`` apart, in the ``MODE`` the row
        names on the prompts ``MODE ON`` names. Every prompt is timed from its own POST to the end of its own
        turn. The row passes when ``EXPECTED`` happens and the p99 of the prompts answered in full is within
        ``P99 BOUND MS`` (``-``: no bound). Turns wait at most ``${TURN_TIMEOUT_S}`` (default 60 s).

        Args:
            cells: The row's cells in the table's order: BURST, PROMPTS, CHUNKS, DELAY MS, MODE, MODE ON,
                P99 BOUND MS, EXPECTED.

        Returns:
            ``RowRun``: ``row`` (the parsed row), ``result`` (the ``FlowBatch``), ``verdicts``, ``summary``,
            ``passed``, ``figures()``, ``line()`` and ``message()``.

        Example:
            | Run Burst Row | 5 | 3 | 5 | 0 | echo | every prompt | 3000 | completes |
            | Run Burst Row | 2 | 3 | 1 | 0 | reject | first prompt | - | ends with an error |
        """
        row = self._parse(BURSTS, cells)
        mode_at, mode_every = row.mode_on
        params = {**row.parameters(), "latencyMeasure": LATENCY_MEASURE}
        if (mode_at, mode_every) != (1, 1):
            params["modeOn"] = row.cells["MODE ON"]
        self._begin(row, params)
        timeout_s = self._seconds(TURN_TIMEOUT, 60.0)
        self._daemons.start_daemon_with_mock_agent(chunks=row.chunks, chunk_delay_ms=row.delay_ms, max_sessions=0)
        prefix = mock_control.directive(
            mode=row.mode, mode_at=mode_at, mode_every=mode_every, chunks=row.chunks, chunk_delay_ms=row.delay_ms
        )
        batch = flows.run_concurrent(
            self.ctx.get().client,
            row.burst,
            chunks=row.chunks,
            prefix=prefix,
            timeout_s=timeout_s,
            prompts=row.prompts,
            past_errors=True,
        )
        hit = outcomes.prompts_hit(row.mode, mode_at, mode_every)
        verdicts = [
            outcomes.judge_flows(batch, row.expected, hit),
            outcomes.judge_bound("p99 answer time", _p99(batch.prompt_latency), row.p99_bound_ms),
        ]
        run = self._finish(row, batch, verdicts, batch.prompt_line())
        title = f"{row.name}: answer time of each prompt answered in full (ms)"
        if batch.prompt_latency.count:
            self._plots.plot_latency_distribution(batch.good_turn_times(), title, bound=row.p99_bound_ms)
        times = batch.update_times()
        if len(times) > 1:
            width = 0.1 if times[-1] - times[0] < 5 else 1.0
            title = f"{row.name}: answer pieces received per second, all sessions"
            self._plots.plot_events_per_second(times, title, bin_seconds=width)
        return self._verdict(run)

    @keyword(tags=ROW_TAGS)
    def run_sustained_load_row(self, *cells: str) -> RowRun:
        """Run one row of the sustained table: arrivals at ``RATE`` per second for ``DURATION S`` seconds.

        ``WORKLOAD`` ``prompts``: prompts go round-robin to ``SESSIONS`` sessions, the mock answering each with
        ``CHUNKS`` pieces at once and then ``TOOL CALLS`` tool calls, of which the first ``PERMISSIONS`` ask a
        permission that the harness allows as soon as it reads it; ``sessions``: each arrival creates and closes
        a session. Arrivals come on schedule whatever the daemon does (an open model), so a stall shows as late,
        dropped or slow arrivals.
        The row passes when every bound holds: p99 response time (from each arrival's intended start) within
        ``P99 BOUND MS``, at most ``MAX ERRORS`` errors, ``MAX LATE`` late and ``MAX DROPPED`` dropped arrivals.
        The run fails listing every bound it breached with its measured value; it is judged after the whole
        schedule ran. With tool calls it also fails unless every prompt answered in full showed its tool calls
        on the stream and asked its permissions, and the daemon accepted every answer.

        Args:
            cells: The row's cells in the table's order: WORKLOAD, RATE, DURATION S, SESSIONS, CHUNKS,
                TOOL CALLS, PERMISSIONS, P99 BOUND MS, MAX ERRORS, MAX LATE, MAX DROPPED.

        Returns:
            ``RowRun`` as for `Run Burst Row`; its ``result`` is the ``SustainedLoadResult``.

        Example:
            | Run Sustained Load Row | prompts | 10 | 5 | 5 | 3 | 4 | 1 | 2000 | 0 | 5 | 0 |
            | Run Sustained Load Row | sessions | 5 | 5 | - | - | - | - | 2000 | 0 | 5 | 0 |
        """
        row = self._parse(SUSTAINED, cells)
        kind = "prompt" if row.workload == "prompts" else "lifecycle"
        settings = {"chunks": row.chunks, "tool_calls": row.tool_calls, "permissions": row.permissions}
        text = mock_control.with_directive("sustained row", **settings) if kind == "prompt" else "-"
        fields = {"sessions": row.sessions} if kind == "prompt" else {}
        plan = LoadPlan(kind=kind, rate=row.rate, duration_s=row.duration_s, prompt_text=text, **fields).validate()
        self._begin(row, {**plan.parameters(), **row.parameters()})
        self._daemons.start_daemon_with_mock_agent(chunks=row.chunks or 0, max_sessions=0)
        client = self.ctx.get().client
        slo = Slo(
            p99_ms=row.p99_bound_ms, max_errors=row.max_errors, max_late=row.max_late, max_dropped=row.max_dropped
        )
        runner = run_prompt_load if kind == "prompt" else run_lifecycle_load
        load = runner(client, plan, slo=slo.validate())
        tools = outcomes.judge_tool_turns(load, row.tool_calls or 0, row.permissions or 0)
        run = self._finish(row, load, [outcomes.judge_slo(load), *([tools] if tools else [])], load.line())
        self._plots.plot_percentile_spectra(
            f"{row.name}: response and service time by percentile (ms)",
            **{"response (from intended start)": load.response_spectrum, "service (from send)": load.service_spectrum},
        )
        self._plots.plot_load_timeline(load, f"{row.name}: done per second", completed_label="arrivals done")
        return self._verdict(run)

    @keyword(tags=ROW_TAGS)
    def run_limit_row(self, *cells: str) -> RowRun:
        """Run one row of the limits table: a daemon started with ``FLAG`` set to ``VALUE``, then ``LOAD``.

        Every other flag keeps the daemon's default. The loads (``<N> sessions at once``, ``<N> prompts at
        once``, ``a hanging prompt``, ``an idle stream``) are explained in the guide; a hanging prompt and an
        idle stream are waited for at most ``${LIMIT_WAIT_S}`` (default 10 s). The row passes when
        ``EXPECTED`` happens.

        Args:
            cells: The row's cells in the table's order: FLAG, VALUE, LOAD, EXPECTED.

        Returns:
            ``RowRun`` as for `Run Burst Row`; its ``result`` is a ``FlowBatch`` (sessions at once),
            ``PromptsAtOnce``, ``TurnResult`` (a hanging prompt) or ``StreamResult`` (an idle stream).

        Example:
            | Run Limit Row | --max-sessions | 3 | 5 sessions at once | refused 503 session_limit_exceeded |
            | Run Limit Row | --writer-idle-timeout-ms | 2000 | an idle stream | stream evicted writer_idle_timeout |
        """
        row = self._parse(LIMITS, cells)
        flag = LIMIT_FLAGS[row.flag]
        self._begin(row, row.parameters())
        wait_s = self._seconds(LIMIT_WAIT, 10.0)
        self._daemons.start_daemon_with_mock_agent(chunks=1, **{flag.name: flag.convert(row.value)})
        client = self.ctx.get().client
        load: row_loads.Load = row.load
        if load.kind == "sessions":
            prefix = mock_control.directive(chunks=1)
            result: Any = flows.run_concurrent(client, load.count, chunks=1, prefix=prefix, timeout_s=wait_s)
            verdict = outcomes.judge_flows(result, row.expected, outcomes.prompts_hit("echo", 1, 1))
            summary = result.prompt_line()
        elif load.kind == "prompts":
            result = row_loads.run_prompts_at_once(client, load.count, timeout_s=wait_s)
            verdict, summary = outcomes.judge_prompts_at_once(result, row.expected), result.line()
        else:
            sid = client.create_session("thread").session_id
            try:
                if load.kind == "hanging prompt":
                    accepted = client.prompt(sid, mock_control.directive(mode="hang", chunks=1) + "hang")
                    result = follow_turn(client, sid, accepted, timeout_s=wait_s)
                    verdict = outcomes.judge_turn(result, row.expected)
                else:
                    options = StreamOptions(timeout_s=wait_s)
                    result = Subscription(client.base_url, sid, options, client.token).run()
                    verdict = outcomes.judge_stream(result, row.expected, wait_s)
            finally:
                client.close_session(sid, expected=None)
            summary = result.line()
        return self._verdict(self._finish(row, result, [verdict], summary))

    @keyword(tags=ROW_TAGS)
    def run_permission_row(self, *cells: str) -> RowRun:
        """Run one row of the permissions table: ``SESSIONS`` sessions prompted at once, each turn running
        ``TOOL CALLS`` tool calls of which the first ``PERMISSIONS`` ask a permission, answered as ``ANSWER`` says.

        ``allow`` and ``reject``: each session's client answers each request as soon as it reads it (a
        rejected tool call fails, the turn goes on); the row's ``completes`` means every request was resolved
        exactly once, the agent got each answer once and every turn was answered in full. ``nobody``: one
        request is left unanswered until the daemon gives up after ``TIMEOUT MS`` (its
        ``--permission-response-timeout-ms``); ``is cancelled`` means it then cancelled the request and the turn
        ended cancelled.

        Args:
            cells: The row's cells in the table's order: SESSIONS, TOOL CALLS, PERMISSIONS, ANSWER, TIMEOUT MS,
                EXPECTED.

        Returns:
            ``RowRun`` as for `Run Burst Row`; its ``result`` is a ``RoundTripResult`` or a ``TimeoutResult``.

        Example:
            | Run Permission Row | 4 | 8 | 2 | allow | 0 | completes |
            | Run Permission Row | 1 | 1 | 1 | nobody | 1000 | is cancelled |
        """
        row = self._parse(PERMISSIONS, cells)
        self._begin(row, row.parameters())
        flag = {"permission_response_timeout_ms": row.timeout_ms} if row.timeout_ms else {}
        self._daemons.start_daemon_with_mock_agent(**flag)
        running = self.ctx.get()
        report = mock_report.report_path(running.daemon.home)
        wait_s = self._seconds(TURN_TIMEOUT, 60.0)
        if row.answer == "nobody":
            result: Any = run_permission_timeout(running.client, report, timeout_s=max(wait_s, row.timeout_ms / 500))
        else:
            decision = "select" if row.answer == "allow" else "reject"
            result = run_round_trips(
                running.client,
                report,
                sessions=row.sessions,
                permissions=row.permissions,
                tool_calls=row.tool_calls,
                decision=decision,
                timeout_s=min(wait_s * 2, 600),
            )
        verdict = outcomes.judge_permissions(result, row.expected)
        return self._verdict(self._finish(row, result, [verdict], result.line()))

    # -- helpers --------------------------------------------------------------------------------------------
    def _parse(self, table: Table, cells: tuple[str, ...]) -> Row:
        """The row's cells checked (a bad cell raises before anything starts) and shown in the log."""
        name = str(self.variable("${TEST NAME}") or "row")
        row = table.parse(name, list(cells))
        self.info(html_table(f"{table.name} row: {name}", row.cells.keys(), [row.cells.values()]), html=True)
        return row

    def _begin(self, row: Row, parameters: dict[str, Any]) -> None:
        self._report.begin_scenario(row.name, **parameters)

    def _seconds(self, variable: str, default: float) -> float:
        value = self.variable(variable, default)
        return checks.seconds(variable.strip("${}"), value, high=3600)

    def _finish(self, row: Row, result: Any, verdicts: list[Verdict | None], summary: str) -> RowRun:
        """Record the row's figures and key line, and log its verdicts and figures."""
        run = RowRun(row, result, [v for v in verdicts if v is not None], summary)
        self._report.record_result(run)
        for verdict in run.verdicts:
            self.info(("PASS: " if verdict.passed else "FAIL: ") + verdict.sentence())
        self.info(html_table(f"Figures of {row.name}", ("figure", "value"), _figure_rows(run.figures())), html=True)
        return run

    @staticmethod
    def _verdict(run: RowRun) -> RowRun:
        if not run.passed:
            raise AssertionError(run.message())
        return run


def _p99(summary: Any) -> float | None:
    return summary.p99 if summary.count else None


def _figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in figures.items():
        if isinstance(value, dict) and "p50" in value and "count" in value:
            shown = format_percentiles(value)
        elif value is None:
            shown = "not measured"
        else:
            shown = json.dumps(value, ensure_ascii=False)[:300]
        rows.append((key, shown))
    return rows
