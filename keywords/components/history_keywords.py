"""The run history: every run recorded at its end (listener hooks), and the history check as a keyword."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from robot.api import logger
from robotlibcore import keyword

from keywords.components.component import Component
from keywords.errors import HarnessConfigError, HarnessError
from keywords.reporting import change_points
from keywords.reporting.change_points import HistoryCheck
from keywords.reporting.run_import import MARKER, run_key, write_marker
from keywords.reporting.run_records import OUTCOMES, RunFacts, TestOutcome, is_interrupted, iso_utc, now_iso
from keywords.reporting.run_store import ROBOT_VARIABLE, database_path, open_store


class HistoryKeywords(Component):
    """Record each run into the history database and judge the latest run against the history.

    = Run history =

    Every run is recorded when it ends (after its top-level suite): its metadata (commit, daemon build and version,
    Node, machine, tags selected), each test's outcome and duration, and the snapshots it wrote (every
    figure of every scenario), into ``results/history.sqlite``. Set ``--variable HISTORY_DB:/team/history.sqlite``
    or the environment variable ``QWEN_HARNESS_HISTORY`` to use another file (a team's shared folder);
    ``NONE`` turns recording off. Under pabot every process writes its part of the same run. A run stopped
    by a signal is recorded as ``interrupted``; one killed outright is marked so when the database is next
    opened. ``python -m keywords.history trend`` writes the trend page, ``... check`` judges the latest run.
    """

    def __init__(self, ctx, report) -> None:
        super().__init__(ctx)
        self._report = report
        self._path: Path | None = None
        self._key: str | None = None
        self._part = "main"
        self._started = False
        self._recorded = False
        self._top = None

    # -- listener hooks (called by the library) -----------------------------------------------
    def run_started(self, suite) -> None:
        """Register the run as ``running`` the first time a suite starts (a failure is a warning)."""
        if self._started:
            return
        self._started = True
        if _dry_run():
            return  # a --dryrun measures nothing: it is not a run of the history
        top = self._top = _top(suite)
        self._path = database_path(self.variable(ROBOT_VARIABLE))
        if self._path is None:
            return
        part = self.variable("${PABOTQUEUEINDEX}")
        self._part = str(part) if part not in (None, "") else "main"
        self._key = run_key(self._part if part not in (None, "") else None)
        self._safely(lambda store: store.begin_part(self._key, self._part, self._facts(top)))
        try:
            write_marker(self.ctx.results_dir, self._key, self._path)
        except OSError as exc:
            logger.warn(f"Run history: could not leave {self.ctx.results_dir / MARKER}: {exc}")

    def run_ended(self) -> None:
        """When the run has ended, record its tests and snapshots in one transaction (once).

        Called from the library listener's ``close``, which Robot calls after the top-level suite ended, also
        when the library was imported by a child suite only (a library listener sees no ``end_suite`` of the
        suites above the one that imported it).
        """
        suite = self._top
        if suite is None or self._path is None or self._key is None or self._recorded:
            return
        self._recorded = True
        tests = [
            TestOutcome(
                full_name=t.full_name,
                name=t.name,
                suite=t.parent.full_name if t.parent is not None else "",
                status=OUTCOMES.get(t.status, "failed"),
                duration_ms=t.elapsed_time.total_seconds() * 1000,
                message=t.message or "",
                tags=list(t.tags),
            )
            for t in suite.all_tests
        ]
        documents = [s.to_dict() for s in self._report.snapshots.values()]
        facts = self._facts(suite)
        interrupted = is_interrupted(tests)
        run_id = self._safely(
            lambda store: store.finish_part(self._key, self._part, facts, tests, documents, interrupted=interrupted)
        )
        if run_id is not None:
            self.info(f"Run history: recorded as run #{run_id} in {self._path}.")

    def _facts(self, top) -> RunFacts:
        options = self.variable("&{OPTIONS}", {}) or {}
        tags = {k: [str(t) for t in options.get(k) or []] for k in ("include", "exclude")}
        started = iso_utc(getattr(top, "start_time", None)) or now_iso()
        return RunFacts.from_metadata(top.name, started, dict(top.metadata), tags=tags)

    def _safely(self, action) -> Any:
        try:
            with open_store(self._path) as store:
                return action(store)
        except (HarnessError, sqlite3.Error, OSError) as exc:
            logger.warn(f"Run history: could not record this run in {self._path}: {exc}")
            return None

    # -- keywords -----------------------------------------------------------------------------
    @keyword(tags=("history", "assertion"))
    def history_should_show_no_regression(
        self,
        database: str = "",
        *,
        last: int = change_points.WINDOW,
        max_pvalue: float = change_points.MAX_PVALUE,
        min_magnitude: float = change_points.MIN_MAGNITUDE,
        min_history: int = change_points.MIN_HISTORY,
    ) -> HistoryCheck:
        """Fail when the latest finished run of the history is a change point for the worse on any figure.

        Change points come from Apache Otava (E-Divisive means and a t-test) over the ``last`` runs; a
        figure's direction comes from its key (times, sizes and failure counts are worse higher, rates lower).
        The run in progress is not in the history yet (it is recorded when it ends): in a suite this judges
        the previous run; in CI, ``python -m keywords.history check`` after the run judges that run. The
        report (every figure that got worse, better or changed) goes to the log.

        Args:
            database: The history file; empty: ``${HISTORY_DB}``, else ``QWEN_HARNESS_HISTORY``, else
                ``results/history.sqlite``.
            last: Runs judged, the latest included (2 to 10000).
            max_pvalue: Largest p-value of a change point (above 0, at most 0.5).
            min_magnitude: Smallest relative step (0.05 is 5 %).
            min_history: Fewest earlier values a figure needs to be judged (2 to 1000).

        Returns:
            ``HistoryCheck``: ``database`` (str), ``latest_run`` (int or None), ``latest_build`` (str),
            ``runs`` (int), ``series`` (int, figures judged), ``too_short`` (int), ``regressions``,
            ``improvements`` and ``changes`` (lists of ``Regression``: ``series``, ``change`` with ``before``,
            ``after``, ``change_pct``, ``pvalue``, ``run_id``; ``previous_run``, ``previous_build``,
            ``latest_build``), ``max_pvalue`` (float), ``min_magnitude`` (float), ``passed`` (bool);
            ``figures()`` and ``line()``.

        Example:
            | ${check}= | History Should Show No Regression |
            | History Should Show No Regression | ${TEAM_HISTORY} | last=30 | min_magnitude=0.1 |
        """
        path = Path(database) if database else database_path(self.variable(ROBOT_VARIABLE))
        if path is None:
            raise HarnessConfigError("The run history is turned off (NONE): give the database path as an argument.")
        if not path.is_file():
            raise HarnessConfigError(f"There is no history database at {path}: record runs first, or give its path.")
        with open_store(path) as store:
            result = change_points.check(
                store, last=last, max_pvalue=max_pvalue, min_magnitude=min_magnitude, min_history=min_history
            )
        self.info(result.report())
        if not result.passed:
            worst = result.regressions[0]
            raise AssertionError(
                f"The latest run #{result.latest_run} is a change point for the worse on "
                f"{len(result.regressions)} figure(s), first {worst.series.label}.\n{result.report()}"
            )
        return result


def _top(suite):
    while getattr(suite, "parent", None) is not None:
        suite = suite.parent
    return suite


def _dry_run() -> bool:
    """Whether Robot runs with ``--dryrun`` (keywords are not executed, so there is nothing to record)."""
    from robot.running.context import EXECUTION_CONTEXTS

    current = EXECUTION_CONTEXTS.current
    return bool(getattr(current, "dry_run", False))
