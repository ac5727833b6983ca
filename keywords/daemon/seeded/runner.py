"""Run the pre-merge check against an unpatched control and against each seeded copy; tabulate what caught what.

For every build, ``robot --include loadtest suites/`` (options overridable) runs with
``--variable DAEMON_ENTRY:<entry>`` into its own folder under ``results/seeded/<name>/``; the failed tests are
read from its ``output.xml``. A patch counts as *caught* when at least one test failed. The control (the
unpatched build) runs first and must pass: if it does not, the table says the check is not trustworthy on
this machine and nothing else runs. No kind of patch is treated differently.

The table goes to the console, ``results/seeded/table.md`` and ``results/seeded/table.json``. Nothing here
imports Robot Framework: ``output.xml`` is read as XML and Robot runs in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.daemon.seeded.builder import BaseBuild, SeededBuild

DEFAULT_ROBOT_OPTIONS: tuple[str, ...] = ("--include", "loadtest")
DEFAULT_SUITES = "suites/"
RESULTS = Path("results") / "seeded"
RUN_TIMEOUT_S = 1800.0
CONTROL = "control"
# Robot's exit codes from 251 up are not failed-test counts: help, bad options or data, interrupted, crash.
_ROBOT_ERROR_RC = 251


@dataclass
class TestRecord:
    """One test of a run as ``output.xml`` has it.

    Attributes:
        name: Test name.
        suite: Full name of its suite (``Suites.Limits.Caps``).
        status: ``PASS``, ``FAIL`` or ``SKIP``.
        message: Its failure message (first line), empty when it passed.
    """

    name: str
    suite: str
    status: str
    message: str = ""


@dataclass
class RunOutcome:
    """One run of the check against one build.

    Attributes:
        name: ``control`` or the patch's name.
        kind: The patch's kind (``control`` for the control).
        description: What the patch breaks (``unpatched build`` for the control).
        entry: The entry script the run tested.
        caught: At least one test failed (for the control: the check failed); ``None`` when the run itself
            failed (no ``output.xml``, a Robot usage error, or the run timed out).
        failed: The failed tests.
        tests: Every test of the run.
        wall_s: Wall time of the Robot run (monotonic clock).
        return_code: Robot's exit status.
        output_dir: Folder of the run's outputs.
        error: Why the run itself failed, when it did.
        expected: Tests the patch table expects to catch the patch.
        params: The patch's parameter values.
        confirmed: With ``confirm``: the failed tests that failed again on the re-run (``None``: no re-run).
        confirm_wall_s: Wall time of the re-run.
        confirm_error: Why the re-run gave no result, when it did not.
    """

    name: str
    kind: str
    description: str
    entry: str
    caught: bool | None = None
    failed: list[TestRecord] = field(default_factory=list)
    tests: list[TestRecord] = field(default_factory=list)
    wall_s: float | None = None
    return_code: int | None = None
    output_dir: str = ""
    error: str | None = None
    expected: tuple[str, ...] = ()
    params: dict[str, int] = field(default_factory=dict)
    confirmed: list[str] | None = None
    confirm_wall_s: float | None = None
    confirm_error: str | None = None

    @property
    def failed_names(self) -> list[str]:
        """Names of the failed tests, in run order."""
        return [t.name for t in self.failed]

    @property
    def once(self) -> list[str]:
        """Failed tests that passed on the confirming re-run (a flaky failure, not a catch)."""
        return [] if self.confirmed is None else [n for n in self.failed_names if n not in self.confirmed]

    def catchers_text(self) -> str:
        """The failed tests for the table, each failure that did not repeat marked ``(once)``."""
        return "; ".join(n + (" (once)" if n in self.once else "") for n in self.failed_names)

    @property
    def unexpected(self) -> list[str]:
        """Failed tests the patch table did not expect."""
        return [n for n in self.failed_names if n not in self.expected]

    @property
    def missed(self) -> list[str]:
        """Expected tests that did not fail."""
        return [n for n in self.expected if n not in self.failed_names]

    def figures(self) -> dict[str, Any]:
        """Figures measured in this run: caught, failed and run test counts, wall time."""
        return {
            "caught": self.caught,
            "failedTests": None if self.caught is None else len(self.failed),
            "testsRun": None if self.caught is None else len(self.tests),
            "wallS": None if self.wall_s is None else round(self.wall_s, 1),
        }

    def line(self) -> str:
        """One line: name, caught, failed tests, wall time."""
        wall = "-" if self.wall_s is None else f"{self.wall_s:.0f} s"
        if self.caught is None:
            return f"{self.name}: run failed ({self.error}) after {wall}"
        if self.name == CONTROL:
            verdict = "FAILED: " + "; ".join(self.failed_names) if self.caught else "passed"
            return f"control: {verdict} ({len(self.tests)} tests, {wall})"
        verdict = f"caught by {len(self.failed)}: {self.catchers_text()}" if self.caught else "NOT caught"
        if not self.caught and self.failed:
            verdict += f" (failed once, passed on the re-run: {self.catchers_text()})"
        return f"{self.name}: {verdict} ({len(self.tests)} tests, {wall})"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (camelCase keys)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "params": self.params,
            "entry": self.entry,
            "caught": self.caught,
            "caughtBy": self.failed_names if self.confirmed is None else self.confirmed,
            "failedOnce": self.once,
            "confirmed": self.confirmed is not None,
            "confirmWallS": None if self.confirm_wall_s is None else round(self.confirm_wall_s, 1),
            "confirmError": self.confirm_error,
            "failureMessages": {t.name: t.message for t in self.failed},
            "expected": list(self.expected),
            "unexpectedCatchers": self.unexpected,
            "expectedButPassed": self.missed,
            "testsRun": len(self.tests),
            "wallS": None if self.wall_s is None else round(self.wall_s, 1),
            "returnCode": self.return_code,
            "outputDir": self.output_dir,
            "error": self.error,
        }


@dataclass
class SeededTable:
    """The control run and one run per patch.

    Attributes:
        control: The unpatched run (``None`` when it was skipped on request).
        rows: One run per patch, in the order run.
        base_version: Version of the build the copies came from.
        robot_options: The Robot options every run got (besides the output folder and ``DAEMON_ENTRY``).
        stopped: Why the patch runs did not happen (an untrustworthy control), or ``None``.
    """

    control: RunOutcome | None
    rows: list[RunOutcome] = field(default_factory=list)
    base_version: str = ""
    robot_options: tuple[str, ...] = DEFAULT_ROBOT_OPTIONS
    stopped: str | None = None

    @property
    def trustworthy(self) -> bool:
        """The control ran and passed (or was skipped on request)."""
        return self.control is None or self.control.caught is False

    @property
    def not_caught(self) -> list[RunOutcome]:
        """Patch runs with no failed test."""
        return [r for r in self.rows if r.caught is False]

    @property
    def errors(self) -> list[RunOutcome]:
        """Runs that did not produce a result."""
        runs = [*self.rows, *([self.control] if self.control else [])]
        return [r for r in runs if r.caught is None]

    def exit_code(self) -> int:
        """0: every patch caught; 1: at least one not caught; 2: control failed or a run gave no result."""
        if not self.trustworthy or self.errors:
            return 2
        return 1 if self.not_caught else 0

    def figures(self) -> dict[str, Any]:
        """Counts of this table: patches run, caught, not caught, run errors, control verdict."""
        return {
            "patchesRun": len(self.rows),
            "caught": sum(1 for r in self.rows if r.caught),
            "notCaught": len(self.not_caught),
            "runErrors": len(self.errors),
            "controlPassed": None if self.control is None else self.control.caught is False,
        }

    def line(self) -> str:
        """One line: caught out of run, and the control's verdict."""
        f = self.figures()
        control = {True: "passed", False: "FAILED", None: "not run"}[f["controlPassed"]]
        return f"{f['caught']}/{f['patchesRun']} patches caught; control {control}; {f['runErrors']} run errors"

    def headline(self) -> str:
        """The sentence above the table."""
        if self.control is not None and not self.trustworthy:
            reason = self.control.error or "failed: " + "; ".join(self.control.failed_names)
            return (
                f"The check is not trustworthy on this machine: the unpatched control run {reason}. "
                "No patch was run; fix or re-run the control first."
            )
        if self.control is None:
            return "The control run was skipped on request: a caught patch may be a failure of this machine."
        count = len(self.control.tests)
        return f"Control (unpatched {self.base_version}) passed {count} test{'s' * (count != 1)}. {self.line()}."

    def to_markdown(self) -> str:
        """The table as Markdown: patch, kind, what it breaks, caught, by which tests, wall time."""
        lines = [
            f"# Seeded regressions against the pre-merge check (`robot {' '.join(self.robot_options)}`)",
            "",
            self.headline(),
            "",
            "| patch | kind | what it breaks | caught | by which tests | wall time |",
            "|---|---|---|---|---|---|",
        ]
        for run in [*([self.control] if self.control else []), *self.rows]:
            caught = {True: "yes", False: "no", None: "run failed"}[run.caught]
            if run.name == CONTROL:
                caught = {True: "FAILED", False: "passed", None: "run failed"}[run.caught]
            by = run.catchers_text() or (run.error or "-")
            wall = "-" if run.wall_s is None else f"{run.wall_s:.0f} s"
            lines.append(f"| {_md(run.name)} | {run.kind} | {_md(run.description)} | {caught} | {_md(by)} | {wall} |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """The table as a JSON document."""
        return {
            "kind": "seeded-regressions",
            "baseVersion": self.base_version,
            "robotOptions": list(self.robot_options),
            "trustworthy": self.trustworthy,
            "stopped": self.stopped,
            "summary": self.figures(),
            "control": None if self.control is None else self.control.to_dict(),
            "patches": [r.to_dict() for r in self.rows],
        }

    def to_console(self) -> str:
        """The table as plain text for the terminal."""
        out = [self.headline(), ""]
        rows = [("patch", "kind", "caught", "wall", "by which tests")]
        for run in [*([self.control] if self.control else []), *self.rows]:
            caught = {True: "yes", False: "NO", None: "error"}[run.caught]
            if run.name == CONTROL:
                caught = {True: "FAILED", False: "passed", None: "error"}[run.caught]
            wall = "-" if run.wall_s is None else f"{run.wall_s:.0f} s"
            rows.append((run.name, run.kind, caught, wall, run.catchers_text() or (run.error or "-")))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        return "\n".join(out)

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write ``table.md`` and ``table.json`` into ``folder``; returns both paths."""
        folder.mkdir(parents=True, exist_ok=True)
        md, js = folder / "table.md", folder / "table.json"
        md.write_text(self.to_markdown(), encoding="utf-8")
        js.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return md, js


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def read_output(path: Path) -> list[TestRecord]:
    """Every test of a Robot ``output.xml`` with its status and first message line, in run order."""
    tests: list[TestRecord] = []
    suites: list[str] = []
    for event, elem in ET.iterparse(path, events=("start", "end")):
        if elem.tag == "suite":
            if event == "start":
                suites.append(elem.get("name", ""))
            else:
                suites.pop()
                elem.clear()
        elif elem.tag == "test" and event == "end":
            status = elem.find("status")
            state = status.get("status", "FAIL") if status is not None else "FAIL"
            message = (status.text or "").strip().splitlines() if status is not None else []
            tests.append(TestRecord(elem.get("name", ""), ".".join(suites), state, message[0] if message else ""))
            elem.clear()
    return tests


def robot_command(
    entry: str, output_dir: Path, options: Sequence[str], suites: str = DEFAULT_SUITES, reference: str | None = None
) -> list[str]:
    """The Robot command line of one run (the Python running this, ``-m robot``).

    ``reference`` (the unpatched base) goes to ``REFERENCE_ENTRY``, the build the performance gate compares
    the candidate (``DAEMON_ENTRY``) with.
    """
    argv = [sys.executable, "-m", "robot", "--outputdir", str(output_dir), "--variable", f"DAEMON_ENTRY:{entry}"]
    if reference:
        argv += ["--variable", f"REFERENCE_ENTRY:{reference}"]
    return [*argv, *options, suites]


@dataclass
class _Attempt:
    """One Robot run: its exit status, tests, wall time, or why it gave no result."""

    rc: int | None
    tests: list[TestRecord]
    wall_s: float
    error: str | None = None


def _robot_once(argv: list[str], output_dir: Path, timeout_s: float, runner) -> _Attempt:
    if output_dir.exists():
        for old in ("output.xml", "log.html", "report.html", "console.txt"):
            with contextlib.suppress(FileNotFoundError):
                (output_dir / old).unlink()
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rc = (runner or _run)(argv, output_dir / "console.txt", timeout_s)
    attempt = _Attempt(rc, [], time.monotonic() - started)
    xml = output_dir / "output.xml"
    if rc is None:
        attempt.error = f"timed out after {timeout_s:g} s"
    elif rc >= _ROBOT_ERROR_RC or not xml.is_file():
        attempt.error = f"robot exited {rc} without a result (see {output_dir / 'console.txt'})"
    else:
        try:
            attempt.tests = read_output(xml)
        except ET.ParseError as exc:
            attempt.error = f"output.xml could not be read ({exc})"
        else:
            if not attempt.tests:
                attempt.error = "no test ran (do the Robot options select any test?)"
    return attempt


def run_check(
    name: str,
    entry: str,
    output_dir: Path,
    *,
    kind: str,
    description: str,
    options: Sequence[str] = DEFAULT_ROBOT_OPTIONS,
    suites: str = DEFAULT_SUITES,
    timeout_s: float = RUN_TIMEOUT_S,
    expected: tuple[str, ...] = (),
    params: dict[str, int] | None = None,
    reference: str | None = None,
    confirm: bool = False,
    runner: Callable[[list[str], Path, float], int | None] | None = None,
) -> RunOutcome:
    """Run the check against one build and read what failed.

    Args:
        name: ``control`` or the patch's name.
        entry: The build's entry script.
        output_dir: The run's own folder (its outputs are replaced).
        kind: The patch's kind.
        description: What it breaks.
        options: Robot options (besides ``--outputdir`` and ``DAEMON_ENTRY``).
        suites: The data source Robot runs.
        timeout_s: Bound on the run; it is stopped (SIGINT, then SIGKILL) after that.
        expected: Tests expected to catch the patch.
        params: The patch's parameter values.
        reference: The unpatched base build, given to the performance gate as its reference.
        confirm: Re-run the failed tests once (``--rerunfailed``, into ``<output_dir>/confirm``); only a test
            that fails both times counts as a catch.
        runner: Runs a command (argv, console log path, timeout) and returns its exit status, ``None`` on
            timeout; the default starts Robot in its own process group.
    """
    outcome = RunOutcome(
        name, kind, description, entry, output_dir=str(output_dir), expected=expected, params=dict(params or {})
    )
    first = _robot_once(robot_command(entry, output_dir, options, suites, reference), output_dir, timeout_s, runner)
    outcome.wall_s, outcome.return_code, outcome.error, outcome.tests = first.wall_s, first.rc, first.error, first.tests
    if first.error:
        return outcome
    outcome.failed = [t for t in outcome.tests if t.status == "FAIL"]
    outcome.caught = bool(outcome.failed)
    if confirm and outcome.failed:
        rerun = [*options, "--rerunfailed", str(output_dir / "output.xml")]
        again_dir = output_dir / "confirm"
        again = _robot_once(robot_command(entry, again_dir, rerun, suites, reference), again_dir, timeout_s, runner)
        outcome.confirm_wall_s = again.wall_s
        if again.error:
            outcome.confirm_error = again.error
        else:
            outcome.confirmed = [t.name for t in again.tests if t.status == "FAIL"]
            outcome.caught = bool(outcome.confirmed)
    return outcome


def _run(argv: list[str], console: Path, timeout_s: float) -> int | None:
    """Run ``argv`` in its own process group with output to ``console``; stop the group after ``timeout_s``."""
    with open(console, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            # Robot stops its daemons on SIGINT; SIGKILL only if it does not exit in time.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            return None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            raise


def check_all(
    base: BaseBuild,
    builds: Sequence[SeededBuild],
    *,
    results: Path = RESULTS,
    options: Sequence[str] = DEFAULT_ROBOT_OPTIONS,
    suites: str = DEFAULT_SUITES,
    control: bool = True,
    confirm: bool = False,
    expected_only: bool = False,
    timeout_s: float = RUN_TIMEOUT_S,
    log: Callable[[str], None] = print,
    runner: Callable[[list[str], Path, float], int | None] | None = None,
) -> SeededTable:
    """The control run, then one run per copy; the table is written to ``results`` after every run.

    Args:
        base: The unpatched build (the control).
        builds: The seeded copies.
        results: Folder of the run folders and the table.
        options: Robot options of every run.
        suites: Data source of every run.
        control: Run the control first (skip it only to re-run patches; the table then says so).
        confirm: Re-run each patch run's failed tests once; only repeated failures count as catches (the
            control is never re-run: any failure of it makes the check untrustworthy).
        expected_only: Each copy runs only the tests it is expected to be caught by (``--test`` per test, on top
            of ``options``), the control every one of them: a quick check that the expected catchers still
            catch (a patch expected by no test runs the whole check).
        timeout_s: Bound on each run.
        log: Receives one progress line per run.
        runner: See :func:`run_check`.
    """
    shown = (*options, "--test <each expected test>") if expected_only else tuple(options)
    table = SeededTable(None, base_version=base.version, robot_options=shown)
    common = {
        "options": options,
        "suites": suites,
        "timeout_s": timeout_s,
        "runner": runner,
        # The pinned release is the gate's default reference (and is named as the release in its report).
        "reference": None if base.source.kind == "release" else str(base.entry),
    }

    def only(tests: Sequence[str]) -> dict[str, Any]:
        if not expected_only:
            return {}
        return {"options": [*options, *(arg for test in dict.fromkeys(tests) for arg in ("--test", test))]}

    if control:
        log(f"[seeded] control: unpatched {base.version} ...")
        table.control = run_check(
            CONTROL,
            str(base.entry),
            results / CONTROL,
            kind="control",
            description="unpatched build",
            **(common | only([test for build in builds for test in build.expected])),
        )
        log(f"[seeded] {table.control.line()}")
        table.write(results)
        if not table.trustworthy:
            table.stopped = "the control run failed"
            table.write(results)
            return table
    for i, build in enumerate(builds, 1):
        log(f"[seeded] {i}/{len(builds)} {build.name} ({build.kind}): {build.description} ...")
        run = run_check(
            build.name,
            str(build.entry),
            results / build.name,
            kind=build.kind,
            description=build.description,
            expected=build.expected,
            params=build.params,
            confirm=confirm,
            **(common | only(build.expected)),
        )
        table.rows.append(run)
        log(f"[seeded] {run.line()}")
        table.write(results)
    return table
