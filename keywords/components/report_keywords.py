"""Keywords that record figures: the scenario recorder (snapshots), latency summaries, test messages, bounds."""

from __future__ import annotations

import time
from typing import Any, Literal

from robot.libraries.BuiltIn import BuiltIn
from robotlibcore import keyword

from keywords.checks import known_names
from keywords.components.component import Component, typed_settings
from keywords.errors import HarnessConfigError
from keywords.measure import metrics
from keywords.reporting import kinds
from keywords.reporting.figures import figure_key, figures_of, non_camel_keys, plain
from keywords.reporting.snapshot import Scenario, Snapshot, git_head, platform_info

KIND_VARIABLE = "${SNAPSHOT_KIND}"
MESSAGE_SEPARATOR = " | "
Unit = Literal["", "ms", "s", "MB", "pct", "perSec"]
OUTCOMES = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}


class ReportKeywords(Component):
    """Record scenarios into ``<output dir>/<kind>.json``/``.md``, summarize latencies, put figures in messages.

    = The scenario recorder =

    A suite names its snapshot kind once, in its ``*** Variables ***``: ``${SNAPSHOT_KIND}    loadtest-report``
    (one of ``loadtest-report``, ``limits``, ``perf-baseline``, ``daemon-vs-cli-benchmark``,
    ``build-comparison``, ``scenarios``, ``smoke``, ``permissions``, ``restore``; each has a JSON Schema in
    ``keywords/reporting/schemas``).
    A test then starts its scenario with `Begin Scenario` and records each measured result in one line with
    `Record Result`: the result's figures go into the scenario's ``metrics`` and its line into the test
    message, both at once. The scenario's status and
    error text are the test's real outcome, set when the test ends.
    """

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.snapshots: dict[str, Snapshot] = {}
        self._pending: list[tuple[str, Scenario]] = []
        self._current: tuple[str, Scenario] | None = None
        self._test_started: float | None = None

    # -- listener hooks (called by the library) -----------------------------------------------
    def test_started(self) -> None:
        """Remember when the current test started (scenario durations count from it)."""
        self._test_started = time.monotonic()
        self._pending = []
        self._current = None

    def test_ended(self, status: str, message: str) -> None:
        """Give scenarios recorded in this test the test's real outcome and rewrite their snapshots."""
        for kind, scenario in self._pending:
            scenario.status = OUTCOMES.get(status, status.lower())
            scenario.error = message if status == "FAIL" else None
            if self._test_started is not None:
                scenario.duration_ms = (time.monotonic() - self._test_started) * 1000
            self._write(kind)
        self._pending = []
        self._current = None

    # -- the scenario recorder ----------------------------------------------------------------
    @keyword(tags=("report",))
    def begin_scenario(self, name: str, **parameters: Any) -> None:
        """Start the current test's scenario in the suite's snapshot, ``<output dir>/${SNAPSHOT_KIND}.json``.

        The scenario is written at once (status ``running``), so a test that fails before it measured anything
        is still recorded with its real status and error text; its status, error and duration are set from
        the test's outcome when the test ends. `Record Result` and `Record Figure` then add its figures.

        The snapshot kind is read from the suite variable ``${SNAPSHOT_KIND}`` (set it once in the suite's
        ``*** Variables ***`` or its resource file): one of ``loadtest-report``, ``limits``, ``perf-baseline``,
        ``daemon-vs-cli-benchmark``, ``build-comparison``, ``scenarios``, ``smoke``, ``permissions`` or
        ``restore``.

        Args:
            name: The scenario's name in the snapshot (beginning it again in one run replaces the earlier one).
            parameters: The scenario's inputs (counts, rates, bounds) as camelCase named arguments; a
                whole-number text becomes a number. `Compare With Baseline` refuses snapshots whose parameters
                differ.

        Example:
            | *** Variables *** |
            | ${SNAPSHOT_KIND} | loadtest-report |
            | *** Test Cases *** |
            | Burst Of Ten |
            | | Begin Scenario | burst-10 | burst=${10} | chunks=${3} |
            | | ${batch}= | Run Concurrent Flows | 10 | chunks=3 |
            | | Record Result | ${batch.latency} | as=flow |
        """
        if not isinstance(name, str) or not name.strip():
            raise HarnessConfigError(f"Begin Scenario needs the scenario's name, got {name!r}.")
        params = typed_settings(parameters)
        bad = non_camel_keys(params)
        if bad:
            raise HarnessConfigError(
                f"Scenario parameters must have camelCase names (burst, mockDelayMs); not {', '.join(bad)}."
            )
        self._start(self._suite_kind(), name, plain(params, "parameters"))

    @keyword(tags=("report",))
    def record_result(self, result: Any, **options: str) -> None:
        """Record a result's figures in the current scenario and its line in the test message, both at once.

        The result is any object that carries its figures (``keywords.reporting.figures.HasFigures``:
        ``figures()`` gives camelCase keys and measured values, ``line()`` one line of key figures), e.g. a
        latency summary (``${batch.latency}``). Its figures go into the scenario's ``metrics`` and the
        snapshot is rewritten at once, so a test that fails later keeps them. Lines of several results are
        joined with " | " in the test message.

        Args:
            result: The result to record.
            options: Only ``as=<prefix>``: a camelCase prefix for its keys, e.g. ``as=healthy`` makes
                ``received`` into ``healthyReceived`` (needed when two results of one scenario share keys).

        Example:
            | Begin Scenario | rapid-lifecycle | cycles=${20} |
            | ${batch}= | Run Lifecycle Cycles | 20 | chunks=3 |
            | Record Result | ${batch.latency} | as=cycle |
            | Record Result | ${batch.turn_latency} | as=turn |
        """
        known_names("Record Result option", options, ["as"], "Give the key prefix as as=<prefix>.")
        prefix = options.get("as", "")
        figures = figures_of(result, prefix)
        kind, scenario = self._scenario("Record Result")
        self._add_metrics(scenario, figures, type(result).__name__)
        self._write(kind)
        self._message(str(result.line()))

    @keyword(tags=("report",))
    def record_figure(self, name: str, value: int | float | None, *, unit: Unit = "") -> None:
        """Record one figure a suite computed itself in the current scenario, and show it in the test message.

        For the rare figure that no result carries; a measured result is recorded with `Record Result`.

        Args:
            name: camelCase name of the figure without its unit, e.g. ``eviction``.
            value: The measured value; ``${None}`` means not measured (never write an invented 0).
            unit: The unit; it is added to the key (``ms`` -> ``evictionMs``, ``s`` -> ``...Sec``, ``MB``,
                ``pct``, ``perSec``) unless the name already ends with it.

        Example:
            | Begin Scenario | sse-slow-consumer-eviction |
            | Record Figure | eviction | ${eviction_ms} | unit=ms |
        """
        key = figure_key(name, unit)
        kind, scenario = self._scenario("Record Figure")
        self._add_metrics(scenario, {key: value}, "Record Figure")
        self._write(kind)
        shown = "not measured" if value is None else f"{value:.4g}{' ' + unit if unit else ''}"
        self._message(f"{name} {shown}")

    @keyword(tags=("report",))
    def record_scenario(
        self, name: str, *, kind: str | None = None, parameters: dict | None = None, **metrics_: Any
    ) -> None:
        """Record a scenario's metrics in ``<output dir>/<kind>.json`` and ``.md`` (upstream's shape).

        The status (passed/failed) and error text are set from the test's real outcome when it ends.
        Latency summaries are stored as percentile objects (ms); ``snake_case`` names are written in camelCase.
        ``parameters`` (optional) are the scenario's inputs; `Compare With Baseline` refuses snapshots whose
        parameters differ. For a new test prefer `Begin Scenario` and `Record Result`.

        Args:
            name: The scenario's name; recording the same name again in one run replaces the earlier record.
            kind: The snapshot the scenario goes to: ``loadtest-report``, ``perf-baseline``, ``limits``,
                ``daemon-vs-cli-benchmark``, ``build-comparison``, ``scenarios`` or ``smoke``; default: the suite's
                ``${SNAPSHOT_KIND}``.
            parameters: The scenario's inputs (rates, counts, bounds), as a dictionary.
            metrics_: The figures as named arguments (``latency=${lat}``, ``cycles=${20}``...); units are ms
                unless the name says otherwise.

        Example:
            | Record Scenario | rapid-lifecycle | kind=loadtest-report | cycles=${20} | latency=${lat} |
            | Record Scenario | burst-10 | kind=scenarios | parameters=${params} | latency=${lat} |
        """
        kind = kinds.get(kind).name if kind is not None else self._suite_kind()
        clean = plain(metrics_, "metrics")
        params = plain(dict(parameters), "parameters") if parameters is not None else None
        self._start(kind, name, params, clean)

    # -- latency summaries, messages, bounds --------------------------------------------------
    @keyword(tags=("metrics",))
    def summarize_latencies(self, values: list[float], *, name: str = "") -> metrics.LatencySummary:
        """Percentiles of millisecond values, computed the one way every suite uses (HdrHistogram).

        Args:
            values: Latencies in milliseconds (numbers or numeric strings).
            name: Series name shown in reports and messages, e.g. ``cycle`` or ``time to first chunk``.

        Returns:
            ``LatencySummary`` with ``count`` (int), ``p50``, ``p90``, ``p99``, ``p999``, ``mean``, ``min`` and
            ``max`` (float ms, ``None`` without samples), ``figures()`` (those as a dict, for `Record Result`)
            and ``line()`` (one line for messages).

        Example:
            | ${lat}= | Summarize Latencies | ${cycle_ms} |
            | Record Result | ${lat} | as=cycle |
            | Should Be True | ${lat.p99} < 30000 |
        """
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError) as exc:
            raise HarnessConfigError(f"Summarize Latencies needs numbers (ms), got {values!r:.200}.") from exc
        return metrics.summarize(numbers, name)

    @keyword(tags=("report",))
    def report_figures(self, line: str) -> None:
        """Append one line of key figures to the test message (shown in report.html) and log it.

        A result that carries its figures is better recorded with `Record Result`, which also puts them
        into the snapshot.

        Args:
            line: The figures, e.g. ``p50 12 ms · p99 31 ms``; lines are joined with " | ".

        Example:
            | Report Figures | p50 12 ms · p99 31 ms · 0/50 failed |
        """
        self._message(line)

    @keyword(tags=("assertion", "report"))
    def figure_should_be_at_most(self, name: str, value: float | None, bound: float, *, unit: str = "ms") -> None:
        """Fail when a measured figure is over its bound; the message says by how much.

        Args:
            name: The figure's name in the failure message, e.g. ``cycle p99``.
            value: The measured figure; ``${None}`` (not measured) fails too.
            bound: The largest value allowed, in ``unit``.
            unit: Unit shown in the message (``ms`` by default); the figure and bound must already use it.

        Example:
            | Figure Should Be At Most | cycle p99 | ${lat.p99} | ${P99_BOUND_MS} |
            | Figure Should Be At Most | RSS drift | ${drift} | 100 | unit=MB |
        """
        if value is None:
            raise AssertionError(f"{name} was not measured (no samples); its bound is {bound:g} {unit}.")
        value, bound = float(value), float(bound)
        if value > bound:
            over = value - bound
            pct = f" ({over / bound * 100:.0f}% over)" if bound else ""
            raise AssertionError(
                f"{name} is {value:.1f} {unit}, over its bound of {bound:g} {unit} by {over:.1f} {unit}{pct}."
            )

    @keyword(tags=("assertion", "report"))
    def figure_should_be_at_least(self, name: str, value: float | None, bound: float, *, unit: str = "") -> None:
        """Fail when a measured figure is under its lower bound; the message says by how much.

        Args:
            name: The figure's name in the failure message, e.g. ``events per second``.
            value: The measured figure; ``${None}`` (not measured) fails too.
            bound: The smallest value allowed, in ``unit``.
            unit: Unit shown in the message (none by default); the figure and bound must already use it.

        Example:
            | Figure Should Be At Least | events per second | ${rate} | 20000 | unit=ev/s |
        """
        if value is None:
            raise AssertionError(f"{name} was not measured; its lower bound is {bound:g} {unit}.".replace("  ", " "))
        value, bound = float(value), float(bound)
        if value < bound:
            raise AssertionError(
                f"{name} is {value:.1f} {unit}, under its lower bound of {bound:g} {unit} by "
                f"{bound - value:.1f} {unit}.".replace("  ", " ")
            )

    # -- helpers ------------------------------------------------------------------------------
    def _suite_kind(self) -> str:
        kind = self.variable(KIND_VARIABLE)
        if kind is None:
            raise HarnessConfigError(
                f"The suite names no snapshot kind: set {KIND_VARIABLE} in its *** Variables *** to one of "
                f"{', '.join(kinds.KINDS)}."
            )
        return kinds.get(kind).name

    def _start(self, kind: str, name: str, parameters: dict | None, figures: dict | None = None) -> None:
        scenario = self._snapshot(kind).add(
            Scenario(name=name, status="running", metrics=dict(figures or {}), parameters=parameters)
        )
        self._pending.append((kind, scenario))
        self._current = (kind, scenario)
        self._write(kind)

    def _scenario(self, keyword_name: str) -> tuple[str, Scenario]:
        if self._current is None:
            raise HarnessConfigError(
                f"{keyword_name} needs a scenario: call Begin Scenario first in this test "
                f"(it records into the suite's {KIND_VARIABLE} snapshot)."
            )
        return self._current

    @staticmethod
    def _add_metrics(scenario: Scenario, figures: dict[str, Any], source: str) -> None:
        taken = [key for key in figures if key in scenario.metrics]
        if taken:
            raise HarnessConfigError(
                f"Scenario {scenario.name!r} already has {', '.join(taken)}; {source} would overwrite it. "
                "Record the second result with a prefix: as=<prefix>."
            )
        scenario.metrics.update(figures)

    def _message(self, line: str) -> None:
        self.info(line)
        BuiltIn().set_test_message(line, append=True, separator=MESSAGE_SEPARATOR)

    def _snapshot(self, kind: str) -> Snapshot:
        if kind not in self.snapshots:
            source = self.ctx.source()
            node = self.ctx.node()
            header = {
                "gitCommit": git_head(),
                "platform": platform_info(node.version),
                "daemon": {"version": source.version, "source": source.kind, "label": source.label},
                "method": {"latency": metrics.METHOD, "units": "ms unless the key says otherwise"},
            }
            self.snapshots[kind] = Snapshot(kind, kinds.title(kind), header)
        return self.snapshots[kind]

    def _write(self, kind: str) -> None:
        part = self.variable("${PABOTQUEUEINDEX}") or self.variable("${PABOTEXECUTIONPOOLID}") or "main"
        self.snapshots[kind].write(self.ctx.results_dir, part_id=str(part))
