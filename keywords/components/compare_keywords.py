"""Keywords that compare this run's snapshot with a saved baseline snapshot."""

from __future__ import annotations

from pathlib import Path

from robot.api import logger
from robot.libraries.BuiltIn import BuiltIn
from robotlibcore import keyword

from keywords.components.base import Component
from keywords.errors import HarnessConfigError
from keywords.reporting import baseline_diff


class CompareKeywords(Component):
    """Compare snapshots metric by metric with tolerances; show regressions and improvements in the log."""

    @keyword(tags=("report", "compare"))
    def compare_with_baseline(
        self,
        baseline: str,
        current: str = "loadtest",
        tolerances: str | None = None,
        fail_on_regression: bool = False,
        force: bool = False,
    ) -> baseline_diff.Comparison:
        """Compare a snapshot with a saved baseline snapshot and show the result in the log and test message.

        Environment differences (daemon version or source, Node version, OS, CPU count) are shown prominently
        but do not stop the comparison. Different scenario parameters do, unless ``force`` is true.

        Args:
            baseline: Path of the saved baseline snapshot (JSON, format version 1 or 2).
            current: Path of the snapshot to check, or a snapshot kind (``loadtest``, ``scenarios``...) meaning
                ``<output dir>/<kind>.json`` of this run.
            tolerances: Path of a JSON tolerance file (see ``python -m keywords.compare --help``).
            fail_on_regression: Fail when a metric is worse than the baseline beyond its tolerance.
            force: Compare even when scenario parameters differ.

        Returns:
            ``Comparison`` with ``regressions``, ``improvements``, ``deltas``, ``warnings``, ``missing`` and
            ``summary()``.

        Example:
            | ${cmp}= | Compare With Baseline | baselines/scenarios.json | scenarios |
            | Compare With Baseline | baselines/loadtest.json | loadtest | fail_on_regression=${True} |
        """
        current_path = Path(current)
        if current_path.suffix != ".json":
            current_path = self.ctx.results_dir / f"{current}.json"
        try:
            result = baseline_diff.compare_files(baseline, current_path, tolerances, force)
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
    def comparison_should_have_no_regressions(self, comparison: baseline_diff.Comparison) -> None:
        """Fail when a comparison found regressions; the message lists them with their change and tolerance.

        Args:
            comparison: The result of `Compare With Baseline`.

        Example:
            | ${cmp}= | Compare With Baseline | baselines/scenarios.json | scenarios |
            | Comparison Should Have No Regressions | ${cmp} |
        """
        if not isinstance(comparison, baseline_diff.Comparison):
            raise HarnessConfigError(f"Expected the result of Compare With Baseline, got {comparison!r:.100}.")
        if comparison.regressions:
            lines = "; ".join(d.line() for d in comparison.regressions)
            raise AssertionError(f"{len(comparison.regressions)} regression(s) beyond tolerance: {lines}")
