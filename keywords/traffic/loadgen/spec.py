"""What a load-generating process is told (:class:`WorkerSpec`) and what it reports back (:class:`WorkerReport`).

Both travel as one JSON line: the spec on the worker's stdin (the bearer token with it, never on a command
line), the report on its stdout, histograms encoded (:meth:`keywords.measure.metrics.LatencyRecorder.encode`)
so that the parent merges them exactly. One schedule of intended starts is shared by every process: arrival
``i`` is intended at ``t0 + i / rate`` on the machine's monotonic clock (one clock for every process on Linux),
and belongs to exactly one process (:meth:`WorkerSpec.owns`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SERIES = ("response", "service", "accept", "start_lag", "first_chunk", "gaps", "delivery", "answer")
COUNTS = (
    "planned",
    "sent",
    "completed",
    "late",
    "dropped_queue_full",
    "dropped_lag",
    "over_bound",
    "unfinished",
    "events",
    "permission_requests",
    "permission_answered",
)


@dataclass
class WorkerSpec:
    """One process's share of a load.

    Attributes:
        index: This process's number (0-based).
        processes: How many processes share the schedule.
        kind: ``prompt``, ``fanout``, ``lifecycle`` or ``cycle``.
        port: The daemon's loopback port.
        token: Bearer token (``None``: no ``Authorization`` header).
        rate: Arrivals per second over all processes.
        arrivals: Arrivals of the whole schedule.
        session_ids: Every session of the load (``prompt``/``fanout``); this process follows the ones it owns.
        subscribers: SSE streams per session.
        prompt_text: The prompt's text (a mock directive may lead it).
        connections: Connections of this process.
        backlog: Arrivals that may wait for a connection.
        late_ms: Start lag above which an arrival is late.
        max_start_lag_ms: Start lag above which a waiting arrival is dropped.
        drain_s: After the schedule, how long to wait for open turns.
        p99_bound_ms: Count completions slower than this (and open ones older than it); ``None``: no count.
        answer_permissions: ``allow``, ``reject`` or ``none``.
        cpu_interval_s: Length of one CPU window.
        progress_s: How often a progress line is written.
    """

    index: int
    processes: int
    kind: str
    port: int
    token: str | None
    rate: float
    arrivals: int
    session_ids: list[str] = field(default_factory=list)
    subscribers: int = 1
    prompt_text: str = "load"
    connections: int = 16
    backlog: int = 256
    late_ms: float = 10.0
    max_start_lag_ms: float = 1000.0
    drain_s: float = 30.0
    p99_bound_ms: float | None = None
    answer_permissions: str = "allow"
    cpu_interval_s: float = 0.5
    progress_s: float = 0.5

    def owns(self, arrival: int) -> bool:
        """Whether arrival ``arrival`` is this process's (session kinds: by its session's owner)."""
        if self.session_ids:
            return self.owner_of_session(arrival % len(self.session_ids)) == self.index
        return arrival % self.processes == self.index

    def owner_of_session(self, session_index: int) -> int:
        """The process that follows session number ``session_index``."""
        return session_index % self.processes

    def own_sessions(self) -> list[str]:
        """The sessions this process follows."""
        return [sid for j, sid in enumerate(self.session_ids) if self.owner_of_session(j) == self.index]

    def dumps(self) -> str:
        """The spec as one JSON line."""
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, line: str) -> WorkerSpec:
        """A spec from :meth:`dumps`."""
        return cls(**json.loads(line))


@dataclass
class WorkerReport:
    """What one process did (counts, encoded histograms, per-second counts, its own CPU).

    Attributes:
        index: The process's number.
        counts: Count name (:data:`COUNTS`) -> value.
        errors: Error code -> count.
        histograms: Series name (:data:`SERIES`) -> encoded HdrHistogram (series without values are absent).
        done_per_s: Arrivals completed in each whole second since ``t0``.
        events_per_s: SSE frames received in each whole second since ``t0``.
        event_mix: Frame kind (the ``sessionUpdate`` of a ``session_update``, else the type) -> count.
        permission_refused: Answer status -> count, for answers the daemon refused.
        first_event_at: Monotonic time of the first frame (``None``: no frame).
        last_event_at: Monotonic time of the last frame.
        cpu_windows_pct: The process's user+system CPU in each window, % of one core.
        cpu_s: CPU seconds used from ``t0`` to the end.
        wall_s: ``t0`` to the end, seconds.
        schedule_s: ``t0`` to the last intended start handled.
        stopped: The run was told to stop before its schedule ended.
    """

    index: int
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, str] = field(default_factory=dict)
    done_per_s: list[int] = field(default_factory=list)
    events_per_s: list[int] = field(default_factory=list)
    event_mix: dict[str, int] = field(default_factory=dict)
    permission_refused: dict[str, int] = field(default_factory=dict)
    first_event_at: float | None = None
    last_event_at: float | None = None
    cpu_windows_pct: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    schedule_s: float = 0.0
    stopped: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain data for the report line."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerReport:
        """A report from :meth:`to_json` output."""
        return cls(**data)


def add_lists(total: list[int], more: list[int]) -> list[int]:
    """Element-wise sum of two per-second count lists (the shorter one padded with zeros)."""
    out = list(total) + [0] * max(0, len(more) - len(total))
    for i, n in enumerate(more):
        out[i] += n
    return out
