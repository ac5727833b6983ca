"""What an open-model load drives and how: the plan, checked through :mod:`keywords.checks`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from keywords import checks

LoadKind = Literal["prompt", "lifecycle", "fanout", "cycle"]
KINDS: tuple[LoadKind, ...] = ("prompt", "lifecycle", "fanout", "cycle")
SESSION_KINDS = ("prompt", "fanout")  # kinds that spread prompts over long-lived sessions
PermissionAnswer = Literal["allow", "reject", "none"]
PERMISSION_ANSWERS: tuple[PermissionAnswer, ...] = ("allow", "reject", "none")
MAX_ARRIVALS = 1_000_000
MAX_PROCESSES = 16


@dataclass
class LoadPlan:
    """What to drive and how.

    Durations are numbers (seconds for ``..._s``, milliseconds for ``..._ms``) or ``timedelta`` values (what
    Robot makes of ``10 s`` or ``5 ms``); :meth:`validate` turns them into numbers in the field's unit.

    Attributes:
        kind: ``prompt`` (prompts round-robin over ``sessions`` sessions, each followed on one SSE stream),
            ``fanout`` (the same with ``subscribers`` streams per session: done when every one saw the turn
            end), ``lifecycle`` (create + close) or ``cycle`` (create, prompt, the turn's end on a stream
            opened with the 202's ``lastEventId``, close).
        rate: Arrivals per second.
        duration_s: Length of the arrival schedule.
        sessions: Sessions the prompts are spread over (``prompt`` and ``fanout``).
        subscribers: SSE streams per session (``fanout``; 1 otherwise).
        workers: Connections that send requests, over all processes (an arrival waits for a free one).
        backlog: Arrivals that may wait for a free connection (per process); one more is dropped.
        processes: Load-generating processes (one schedule of intended starts, split between them).
        answer_permissions: What the generator answers to every ``permission_request`` of a prompt's turn:
            ``allow`` (the first ``allow_*`` option), ``reject`` (the first ``reject_*``) or ``none`` (leave
            them pending).
        late_ms: An arrival sent more than this after its intended start is late.
        max_start_lag_ms: An arrival that waited longer than this for a worker is dropped, not sent.
        drain_s: After the last arrival, how long to wait for outstanding turns to end.
        prompt_text: Prompt text (a mock directive prefix may be part of it).
        cpu_threshold_pct: Harness CPU (% of one core) above which the run counts as harness-bound.
        cpu_interval_s: Harness CPU sampling window.
        cpu_windows: Consecutive windows over the threshold that also count as saturation.
    """

    kind: LoadKind = "prompt"
    rate: float = 10.0
    duration_s: float | timedelta = 20.0
    sessions: int = 5
    subscribers: int = 1
    workers: int = 16
    backlog: int = 256
    processes: int = 1
    answer_permissions: PermissionAnswer = "allow"
    late_ms: float | timedelta = 10.0
    max_start_lag_ms: float | timedelta = 1000.0
    drain_s: float | timedelta = 30.0
    prompt_text: str = "sustained load"
    cpu_threshold_pct: float = 90.0
    cpu_interval_s: float | timedelta = 0.5
    cpu_windows: int = 3

    @property
    def arrivals(self) -> int:
        """Number of scheduled arrivals: ``rate * duration`` rounded down (at least one)."""
        return max(1, math.floor(self.rate * self.duration_s + 1e-9))

    def validate(self) -> LoadPlan:
        """Check every field (converting texts of numbers) and return the plan.

        Raises:
            HarnessConfigError: naming the first bad field, its allowed range and the value given.
        """
        self.kind = checks.choice("kind", self.kind, KINDS)
        self.rate = checks.number("rate", self.rate, high=5000, unit="per second", low_open=True)
        self.duration_s = checks.seconds("duration", self.duration_s, high=3600)
        checks.whole_number("arrivals (rate * duration)", self.arrivals, low=1, high=MAX_ARRIVALS)
        if self.kind in SESSION_KINDS:
            self.sessions = checks.whole_number("sessions", self.sessions, low=1, high=256)
        self.subscribers = (
            checks.whole_number("subscribers", self.subscribers, low=1, high=64) if self.kind == "fanout" else 1
        )
        self.workers = checks.whole_number("workers", self.workers, low=1, high=1024)
        self.backlog = checks.whole_number("backlog", self.backlog, low=1, high=100_000)
        self.processes = checks.whole_number("processes", self.processes, low=1, high=MAX_PROCESSES)
        self.answer_permissions = checks.choice("answer_permissions", self.answer_permissions, PERMISSION_ANSWERS)
        self.late_ms = checks.number("late tolerance", _ms(self.late_ms), high=60_000, unit="ms")
        self.max_start_lag_ms = checks.number(
            "max start lag", _ms(self.max_start_lag_ms), high=600_000, unit="ms", low_open=True
        )
        self.drain_s = checks.seconds("drain", self.drain_s, high=600)
        self.cpu_threshold_pct = checks.number(
            "cpu threshold", self.cpu_threshold_pct, high=100, unit="% of one core", low_open=True
        )
        self.cpu_interval_s = checks.number("cpu interval", _s(self.cpu_interval_s), low=0.05, high=10, unit="s")
        self.cpu_windows = checks.whole_number("cpu windows", self.cpu_windows, low=1, high=1000)
        return self

    def intended_offset_s(self, index: int) -> float:
        """Intended start of arrival ``index`` in seconds after the schedule's start (``index / rate``)."""
        return index / self.rate

    def parameters(self) -> dict[str, Any]:
        """The plan as a scenario's parameters (camelCase, units in the keys; the prompt text left out)."""
        return {
            "workload": self.kind,
            "ratePerSec": self.rate,
            "durationS": self.duration_s,
            "sessions": self.sessions if self.kind in SESSION_KINDS else None,
            "subscribers": self.subscribers if self.kind == "fanout" else None,
            "workers": self.workers,
            "backlog": self.backlog,
            "processes": self.processes,
            "answerPermissions": self.answer_permissions,
            "lateToleranceMs": self.late_ms,
            "maxStartLagMs": self.max_start_lag_ms,
            "drainS": self.drain_s,
            "cpuThresholdPct": self.cpu_threshold_pct,
        }


def _ms(value: Any) -> Any:
    """A ``timedelta`` in milliseconds; anything else unchanged (the check then judges it)."""
    return value.total_seconds() * 1000 if isinstance(value, timedelta) else value


def _s(value: Any) -> Any:
    """A ``timedelta`` in seconds; anything else unchanged (the check then judges it)."""
    return value.total_seconds() if isinstance(value, timedelta) else value
