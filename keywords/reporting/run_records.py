"""The run history's records: a run's facts and tests as recorded, a run and a figure's series as read back.

Shared by the store (:mod:`keywords.reporting.run_store`), the folder import
(:mod:`keywords.reporting.run_import`), the change points and the trend page. Nothing here imports Robot
Framework.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("running", "passed", "failed", "interrupted")
OUTCOMES = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped", "NOT RUN": "skipped"}
# Robot's own words for a run stopped by SIGINT/SIGTERM (the running test) and for the tests after it.
INTERRUPTED_MESSAGES = ("Execution terminated by signal", "Test execution stopped due to a fatal error")


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def iso_utc(value: Any) -> str | None:
    """A datetime (naive means local time, as Robot's) or text as ISO 8601 UTC text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


def numeric_figures(metrics: Any, prefix: str = "") -> dict[str, float]:
    """The numbers of a scenario's ``metrics``, nested objects flattened with dots (``latency.p99``).

    Booleans, texts, lists and ``None`` (not measured) are no series and are left out.
    """
    out: dict[str, float] = {}
    if not isinstance(metrics, dict):
        return out
    for key, value in metrics.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(numeric_figures(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def parameters_text(parameters: Any) -> str:
    """A scenario's parameters as canonical JSON (``""`` without parameters): part of a series' identity."""
    if not parameters:
        return ""
    return json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class TestOutcome:
    """One test's outcome in a run.

    Attributes:
        full_name: The test's full name (``Suites.Smoke.Prompts Round Trip``): its identity across runs.
        name: The test's name.
        suite: Full name of its suite.
        status: ``passed``, ``failed`` or ``skipped``.
        duration_ms: Its elapsed time in ms.
        message: Its message (the figures line, or the failure).
        tags: Its tags.
    """

    __test__ = False  # not a pytest test class

    full_name: str
    name: str
    suite: str
    status: str
    duration_ms: float | None
    message: str = ""
    tags: list[str] = field(default_factory=list)


@dataclass
class RunFacts:
    """What a run was: its name, build, machine and what it selected.

    Attributes:
        name: The top suite's name.
        started_at: When it started (ISO 8601 UTC).
        git_commit: Harness commit (``<sha>``, with `` (uncommitted changes)`` when dirty).
        daemon_version: The daemon's version.
        daemon_label: The daemon build (``release 0.24.4 (npm, pinned)`` or ``local build ...``).
        node_version: Node.js running the daemon.
        machine: OS, architecture and CPUs.
        robot_version: Robot Framework's version.
        tags: The tag selection (``include``, ``exclude`` lists).
        metadata: Every metadata item of the top suite.
    """

    name: str = ""
    started_at: str = ""
    git_commit: str | None = None
    daemon_version: str | None = None
    daemon_label: str | None = None
    node_version: str | None = None
    machine: str | None = None
    robot_version: str | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, name: str, started_at: str, metadata: Mapping[str, str], **extra: Any) -> RunFacts:
        """Facts from the top suite's metadata as :mod:`keywords.daemon.run_metadata` sets it."""
        meta = {str(k): str(v) for k, v in metadata.items()}
        daemon = meta.get("Daemon", "")
        version, _, label = daemon.partition(" — ")
        machine = ", ".join(v for v in (meta.get("OS"), meta.get("CPUs")) if v) or None
        facts = cls(
            name=name,
            started_at=started_at,
            git_commit=meta.get("Harness git commit"),
            daemon_version=version or None,
            daemon_label=label or None,
            node_version=meta.get("Node"),
            machine=machine,
            robot_version=meta.get("Robot Framework"),
            metadata=meta,
        )
        for key, value in extra.items():
            if value is not None:
                setattr(facts, key, value)
        return facts


@dataclass(frozen=True)
class Run:
    """One recorded run as read back.

    Attributes:
        id: Its number in the database (1, 2, ...; in recording order).
        run_key: Its unique key.
        origin: ``robot`` (recorded at its end) or ``import``.
        name: Top suite name.
        status: ``running``, ``passed``, ``failed`` or ``interrupted``.
        started_at: When it started (ISO 8601 UTC).
        ended_at: When it ended, or ``None``.
        git_commit: Harness commit.
        daemon_version: Daemon version.
        daemon_label: Daemon build.
        node_version: Node.js version.
        machine: OS, architecture and CPUs.
        tags: Tag selection.
        passed: Tests passed.
        failed: Tests failed.
        skipped: Tests skipped.
    """

    id: int
    run_key: str
    origin: str
    name: str | None
    status: str
    started_at: str
    ended_at: str | None
    git_commit: str | None
    daemon_version: str | None
    daemon_label: str | None
    node_version: str | None
    machine: str | None
    tags: dict[str, Any]
    passed: int
    failed: int
    skipped: int

    @property
    def build(self) -> str:
        """``0.24.4 — release 0.24.4 (npm, pinned)``: the daemon build in one text."""
        return " — ".join(v for v in (self.daemon_version, self.daemon_label) if v) or "unknown build"


@dataclass(frozen=True)
class SeriesKey:
    """What a series is the figure of.

    Attributes:
        kind: Snapshot kind (``smoke``, ``loadtest-report``...).
        scenario: Scenario name.
        parameters: The scenario's parameters as canonical JSON (``""`` for none).
        metric: Figure key (``turnP50``, ``latency.p99``).
    """

    kind: str
    scenario: str
    parameters: str
    metric: str

    @property
    def group(self) -> str:
        """``kind · scenario (parameters)``: the heading the trend page groups metrics under."""
        params = ""
        if self.parameters:
            with contextlib.suppress(ValueError):
                params = " (" + ", ".join(f"{k}={v}" for k, v in json.loads(self.parameters).items()) + ")"
        return f"{self.kind} · {self.scenario}{params}"

    @property
    def label(self) -> str:
        """``kind · scenario · metric``: the metric in one text."""
        return f"{self.kind} · {self.scenario} · {self.metric}"


@dataclass(frozen=True)
class Point:
    """One value of a series.

    Attributes:
        run_id: The run it was measured in.
        value: The value.
    """

    run_id: int
    value: float


def is_interrupted(tests: Iterable[TestOutcome]) -> bool:
    """A test message says the run was stopped by a signal (or stopped after a fatal error)."""
    return any(t.message.startswith(INTERRUPTED_MESSAGES) for t in tests)
