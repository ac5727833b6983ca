"""Keywords that compare this run's snapshot with a saved baseline snapshot."""

from __future__ import annotations

from pathlib import Path

from robot.api import logger
from robot.libraries.BuiltIn import BuiltIn
from robotlibcore import keyword

from keywords.components.component import Component
from keywords.errors import HarnessConfigError
from keywords.reporting import baseline_diff, kinds, snapshot


class BaselineKeywords(Component):
    """Compare snapshots metric by metric with tolerances; show regressions and improvements in the log."""

    @keyword(tags=("report", "compare"))
    def compare_with_baseline(
        self,
        baseline: str,
        current: str | None = None,
        *,
        tolerances: str | None = None,
        fail_on_regression: bool = False,
        force: bool = False,
    ) -> baseline_diff.BaselineComparison:
        """Compare this run's snapshot with a saved baseline snapshot; show the result in the log and message.

        Environment differences (daemon version or source, Node version, OS, CPU count) are shown prominently
        but do not stop the comparison. Different scenario parameters do, unless ``force`` is true.

        Args:
            baseline: Path of the saved baseline snapshot (JSON, format version 1, 2 or 3), e.g. a copy of
                a run's ``loadtest-report.json``.
            current: The snapshot to check: a snapshot kind (``loadtest-report``, ``perf-baseline``,
                ``scenarios``...) meaning ``<output dir>/<kind>.json`` written by this run, or a path of a
                ``.json`` file. Default: this run's snapshot of the baseline's kind.
            tolerances: Path of a JSON tolerance file (see ``python -m keywords.compare --help``).
            fail_on_regression: Fail when a metric is worse than the baseline beyond its tolerance.
            force: Compare even when scenario parameters differ.

        Returns:
            ``BaselineComparison`` with ``regressions`` and ``improvements`` (lists of ``Delta``: ``scenario``,
            ``metric``, ``baseline``, ``current``, ``verdict``, ``direction``, ``allowed``), ``deltas`` (every
            compared metric), ``warnings`` (list of str), ``refusals`` (list of str), ``missing`` and ``new``
            (scenario names), ``kind`` (str or None) and ``summary()`` (one line).

        Example:
            | ${cmp}= | Compare With Baseline | baselines/loadtest-report.json |
            | Compare With Baseline | baselines/scenarios.json | scenarios | fail_on_regression=${True} |
            | Compare With Baseline | baselines/perf-baseline.json | ${OUTPUT DIR}/perf-baseline.json |
        """
        current_path = self._current_path(baseline, current)
        try:
            result = baseline_diff.compare_files(baseline, current_path, tolerances, force)
        except baseline_diff.CompareInputError:
            raise
        except baseline_diff.CompareError as exc:
            raise AssertionError(str(exc)) from exc
        self.info(result.html(), html=True)
        for warning in result.warnings:
            logger.warn(f"Comparison with {baseline}: {warning}")
        BuiltIn().set_test_message(f"vs baseline: {result.summary()}", append=True, separator=" | ")
        if fail_on_regression and result.regressions:
            worst = "; ".join(d.line() for d in result.regressions[:5])
            more = f" (and {len(result.regressions) - 5} more)" if len(result.regressions) > 5 else ""
            raise AssertionError(f"{len(result.regressions)} regression(s) beyond tolerance: {worst}{more}")
        return result

    @keyword(tags=("report", "compare"))
    def comparison_should_have_no_regressions(self, comparison: baseline_diff.BaselineComparison) -> None:
        """Fail when a comparison found regressions; the message lists them with their change and tolerance.

        Args:
            comparison: The result of `Compare With Baseline`.

        Example:
            | ${cmp}= | Compare With Baseline | baselines/scenarios.json |
            | Comparison Should Have No Regressions | ${cmp} |
        """
        if not isinstance(comparison, baseline_diff.BaselineComparison):
            raise HarnessConfigError(f"Expected the result of Compare With Baseline, got {comparison!r:.100}.")
        if comparison.regressions:
            lines = "; ".join(d.line() for d in comparison.regressions)
            raise AssertionError(f"{len(comparison.regressions)} regression(s) beyond tolerance: {lines}")

    def _current_path(self, baseline: str, current: str | None) -> Path:
        """The current snapshot: a ``.json`` path as given, else ``<output dir>/<kind>.json`` of this run."""
        if current is not None and Path(current).suffix == ".json":
            return Path(current)
        if current is None:
            try:
                current = snapshot.load(Path(baseline)).get("kind")
            except snapshot.SnapshotError as exc:
                raise HarnessConfigError(f"Compare With Baseline: {exc}") from exc
            if not current:
                raise HarnessConfigError(
                    f"The baseline {baseline} does not say its snapshot kind; give current as a kind "
                    f"({', '.join(kinds.KINDS)}) or as the path of a .json file."
                )
        return self.ctx.results_dir / f"{kinds.get(current).name}.json"
