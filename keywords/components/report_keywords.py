"""Keywords that record figures: latency summaries, scenario records in the suite snapshots, test messages."""

from __future__ import annotations

import time
from typing import Any

from robot.libraries.BuiltIn import BuiltIn
from robotlibcore import keyword

from keywords.components.base import Component
from keywords.errors import HarnessConfigError
from keywords.measure import metrics
from keywords.reporting import kinds
from keywords.reporting.snapshot import Scenario, Snapshot, git_head, platform_info


class ReportKeywords(Component):
    """Summarize latencies, record scenarios into ``results/<kind>.json``/``.md`` and put figures in messages."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.snapshots: dict[str, Snapshot] = {}
        self._pending: list[tuple[str, Scenario]] = []
        self._test_started: float | None = None

    # -- listener hooks (called by the library) -----------------------------------------------
    def test_started(self) -> None:
        """Remember when the current test started (scenario durations count from it)."""
        self._test_started = time.monotonic()
        self._pending = []

    def test_ended(self, status: str, message: str) -> None:
        """Give scenarios recorded in this test the test's real outcome and rewrite their snapshots."""
        for kind, scenario in self._pending:
            scenario.status = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}.get(status, status.lower())
            scenario.error = message if status == "FAIL" else None
            if self._test_started is not None:
                scenario.duration_ms = (time.monotonic() - self._test_started) * 1000
            self._write(kind)
        self._pending = []

    # -- keywords -----------------------------------------------------------------------------
    @keyword(tags=("metrics",))
    def summarize_latencies(self, values: list[float], name: str = "") -> metrics.LatencySummary:
        """Percentiles of millisecond values, computed the one way every suite uses (HdrHistogram).

        Args:
            values: Latencies in milliseconds (numbers or numeric strings).
            name: Series name shown in reports and messages, e.g. ``cycle`` or ``time to first chunk``.

        Returns:
            ``LatencySummary`` with ``count``, ``p50``, ``p90``, ``p99``, ``p999``, ``mean``, ``min``, ``max``
            (ms) and ``line()`` for messages.

        Example:
            | ${lat}= | Summarize Latencies | ${cycle_ms} |
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

        Example:
            | Report Figures | p50 12 ms · p99 31 ms · 0/50 failed |
        """
        self.info(line)
        BuiltIn().set_test_message(line, append=True, separator=" | ")

    @keyword(tags=("assertion", "report"))
    def figure_should_be_at_most(self, name: str, value: float | None, bound: float, unit: str = "ms") -> None:
        """Fail when a measured figure is over its bound; the message says by how much.

        Args:
            name: The figure's name in the failure message, e.g. ``cycle p99``.
            value: The measured figure; ``${None}`` (not measured) fails too.
            bound: The largest value allowed, in ``unit``.
            unit: Unit shown in the message (``ms`` by default); the figure and bound must already use it.

        Example:
            | Figure Should Be At Most | cycle p99 | ${lat.p99} | ${P99_BOUND_MS} |
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
    def figure_should_be_at_least(self, name: str, value: float | None, bound: float, unit: str = "") -> None:
        """Fail when a measured figure is under its lower bound; the message says by how much.

        Args:
            name: The figure's name in the failure message, e.g. ``events per second``.
            value: The measured figure; ``${None}`` (not measured) fails too.
            bound: The smallest value allowed, in ``unit``.
            unit: Unit shown in the message (none by default); the figure and bound must already use it.

        Example:
            | Figure Should Be At Least | events per second | ${rate} | 20000 | ev/s |
        """
        if value is None:
            raise AssertionError(f"{name} was not measured; its lower bound is {bound:g} {unit}.".replace("  ", " "))
        value, bound = float(value), float(bound)
        if value < bound:
            raise AssertionError(
                f"{name} is {value:.1f} {unit}, under its lower bound of {bound:g} {unit} by "
                f"{bound - value:.1f} {unit}.".replace("  ", " ")
            )

    @keyword(tags=("report",))
    def record_scenario(
        self, name: str, kind: str = "loadtest", parameters: dict | None = None, **metrics_: Any
    ) -> None:
        """Record a scenario's metrics in ``results/<kind>.json`` and ``.md`` (upstream's shape).

        The status (passed/failed) and error text are set from the test's real outcome when it ends.
        ``LatencySummary`` values are stored as percentile objects (ms). ``parameters`` (optional) are the
        scenario's inputs; `Compare With Baseline` refuses snapshots whose parameters differ.

        Args:
            name: The scenario's name; recording the same name again in one run replaces the earlier record.
            kind: The snapshot the scenario goes to: ``results/<kind>.json`` (e.g. ``loadtest``,
                ``perf-baseline``, ``limits``, ``daemon-vs-cli-benchmark``).
            parameters: The scenario's inputs (rates, counts, bounds), as a dictionary.
            metrics_: The figures as named arguments (``latency=${lat}``, ``cycles=${20}``...); units are ms
                unless the name says otherwise.

        Example:
            | Record Scenario | rapid-lifecycle | cycles=${20} | latency=${lat} |
            | Record Scenario | burst-10 | parameters=${params} | latency=${lat} |
        """
        snap = self._snapshot(kind)
        clean = {k: (v.to_dict() if isinstance(v, metrics.LatencySummary) else v) for k, v in metrics_.items()}
        params = dict(parameters) if parameters is not None else None
        scenario = snap.add(Scenario(name=name, status="running", metrics=clean, parameters=params))
        self._pending.append((kind, scenario))
        self._write(kind)

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
