"""The result of one sustained-load run: counts, both latencies, SSE figures, harness CPU, and its figures.

Response time counts from the intended start (what a user arriving on schedule would see), service time from
the actual send (what the daemon took once asked). Every series comes from merged HdrHistograms
(:mod:`keywords.measure.metrics`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keywords.measure.harness_cpu import HarnessCpu
from keywords.measure.metrics import LatencyRecorder, LatencySummary
from keywords.traffic.open_model.engine import TICK_S, EngineOutcome, per_second
from keywords.traffic.open_model.plan import LoadPlan

SERIES = ("response", "service", "accept", "start_lag", "first_chunk", "gaps", "delivery")
_FIGURE_KEYS = {
    "response": "responseMs",
    "service": "serviceMs",
    "accept": "acceptMs",
    "start_lag": "startLagMs",
    "first_chunk": "firstChunkMs",
    "gaps": "gapMs",
    "delivery": "deliveryMs",
}


@dataclass
class SustainedLoadResult:
    """Figures of one sustained-load run (open model).

    Attributes:
        plan: The plan that was run (its ``parameters()`` are the scenario's inputs).
        planned: Scheduled arrivals.
        sent: Arrivals sent.
        dropped: Arrivals never sent (k6's dropped_iterations).
        late: Arrivals sent more than the late tolerance after their intended start.
        start_lag: Actual send minus intended start (ms).
        accept: POST → 202 (prompts) or POST /session → 200 (lifecycle), ms.
        completed: Arrivals that finished well (turn_complete; 204 on close).
        errors: Error code -> count (``prompt_queue_full``, ``turn_error:<code>``, ``transport:<Type>``...).
        achieved_rate: Sent arrivals per second of schedule.
        response: Intended start → done (ms).
        service: Actual send → done (ms); for prompts this is the time to turn end.
        response_spectrum: ``[percentile, ms]`` pairs of the response time.
        service_spectrum: ``[percentile, ms]`` pairs of the service time.
        histograms: Encoded HdrHistograms by series name (merge with ``LatencyRecorder.decode``).
        first_chunk: Send → first ``agent_message_chunk`` (ms); ``None`` for lifecycle loads.
        gaps: Gaps between consecutive frames of one prompt (ms); ``None`` for lifecycle loads.
        delivery: ``serverTimestamp`` → receipt, wall clock (ms); ``None`` for lifecycle loads.
        unfinished: Prompts accepted whose turn had not ended when the drain bound ran out (``None`` for
            lifecycle loads, whose arrivals end within their own request).
        timeline: ``[second, completed, events]`` per whole second since the schedule started (monotonic
            clock, counted in 10 ms ticks): arrivals completed (turns ended with turn_complete; create+close
            pairs) and SSE frames received (``None`` for lifecycle loads).
        events: SSE frames received over all sessions (``None`` for lifecycle loads).
        events_per_s: Frames per second over the run (``None`` for lifecycle loads or without frames).
        harness_cpu: The harness's own CPU.
        reliable: False when the harness was saturated (see ``harness_cpu.rule``).
        wall_s: Whole run, schedule start to the end of the drain.
    """

    plan: LoadPlan
    planned: int = 0
    sent: int = 0
    dropped: int = 0
    late: int = 0
    start_lag: LatencySummary | None = None
    accept: LatencySummary | None = None
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    achieved_rate: float = 0.0
    response: LatencySummary | None = None
    service: LatencySummary | None = None
    response_spectrum: list[list[float]] = field(default_factory=list)
    service_spectrum: list[list[float]] = field(default_factory=list)
    histograms: dict[str, str] = field(default_factory=dict)
    first_chunk: LatencySummary | None = None
    gaps: LatencySummary | None = None
    delivery: LatencySummary | None = None
    unfinished: int | None = None
    timeline: list[list[int | None]] = field(default_factory=list)
    events: int | None = None
    events_per_s: float | None = None
    harness_cpu: HarnessCpu = field(default_factory=HarnessCpu)
    reliable: bool = True
    wall_s: float = 0.0

    @property
    def error_count(self) -> int:
        """All counted errors."""
        return sum(self.errors.values())

    @property
    def kind(self) -> str:
        """``prompt`` or ``lifecycle`` (the plan's kind)."""
        return self.plan.kind

    def line(self) -> str:
        """The one-line report: both latencies, late/dropped, errors, harness CPU."""
        unfinished = f" · unfinished {self.unfinished}" if self.unfinished else ""
        return " | ".join(
            [
                f"response {_pcts(self.response)}",
                f"service {_pcts(self.service)}",
                f"late {self.late}/{self.sent} · dropped {self.dropped} · errors {self.error_count}{unfinished}"
                f" · {self.achieved_rate:.1f}/s · {self.harness_cpu.line()}",
            ]
        )

    def sse_line(self) -> str:
        """The SSE-native figures in one line (prompts only)."""
        rate = "n/a" if self.events_per_s is None else f"{self.events_per_s:.0f}"
        return (
            f"first chunk {_pcts(self.first_chunk)} | gap {_pcts(self.gaps)} | delivery {_pcts(self.delivery)} | "
            f"{self.events if self.events is not None else 'no'} events, {rate} ev/s"
        )

    def figures(self) -> dict[str, Any]:
        """Measured figures by camelCase key (units in the keys; ``None`` where this kind measures nothing).

        Latency summaries are percentile dicts (``responseMs``, ``serviceMs``, ``acceptMs``, ``startLagMs``,
        ``firstChunkMs``, ``gapMs``, ``deliveryMs``); errors are ``{code, count}`` rows (daemon codes are data,
        not keys); spectra are ``[percentile, ms]`` pairs; the plan's inputs are in ``plan.parameters()``.
        """
        out: dict[str, Any] = {
            "planned": self.planned,
            "sent": self.sent,
            "completed": self.completed,
            "late": self.late,
            "dropped": self.dropped,
            "unfinished": self.unfinished,
            "errorCount": self.error_count,
            "errors": [{"code": code, "count": count} for code, count in sorted(self.errors.items())],
            "achievedRatePerSec": self.achieved_rate,
        }
        for name, key in _FIGURE_KEYS.items():
            summary = getattr(self, name)
            out[key] = summary.to_dict() if summary is not None else None
        out |= {
            "events": self.events,
            "eventsPerSec": self.events_per_s,
            "timeline": self.timeline,
            "responseSpectrumMs": self.response_spectrum,
            "serviceSpectrumMs": self.service_spectrum,
            **self.harness_cpu.figures(),
            "reliable": self.reliable,
            "wallMs": round(self.wall_s * 1000, 1),
        }
        return out


def _pcts(summary: LatencySummary | None) -> str:
    if summary is None or not summary.count:
        return "no samples"
    return f"p50 {_ms(summary.p50)} · p99 {_ms(summary.p99)} · p99.9 {_ms(summary.p999)} · max {_ms(summary.max)} ms"


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def timeline(outcome: EngineOutcome, done_ticks: Counter, event_ticks: Counter | None) -> list[list[int | None]]:
    """``[second, completed, events]`` rows from tick counters (``events`` ``None`` when not counted)."""
    last_tick = max([*done_ticks, *(event_ticks or ())], default=0)
    seconds = max(int(outcome.wall_s), int(last_tick * TICK_S - outcome.started_at)) + 1
    done = per_second(done_ticks, outcome.started_at, seconds)
    if event_ticks is None:
        return [[i, d, None] for i, d in enumerate(done)]
    events = per_second(event_ticks, outcome.started_at, seconds)
    return [[i, d, e] for i, (d, e) in enumerate(zip(done, events, strict=True))]


def build_result(
    plan: LoadPlan, outcome: EngineOutcome, merged: dict[str, LatencyRecorder], cpu: HarnessCpu
) -> SustainedLoadResult:
    """The counts of ``outcome``, the summaries and encoded histograms of ``merged``, and the harness CPU."""
    result = SustainedLoadResult(
        plan=plan,
        planned=outcome.planned,
        sent=outcome.sent,
        completed=outcome.completed,
        late=outcome.late,
        dropped=outcome.dropped,
        errors=outcome.errors,
        achieved_rate=round(outcome.sent / (outcome.schedule_s + 1 / plan.rate), 2),
        harness_cpu=cpu,
        reliable=not cpu.saturated,
        wall_s=round(outcome.wall_s, 3),
    )
    for name, recorder in merged.items():
        setattr(result, name, recorder.summary() if recorder.count else None)
        if recorder.count:
            result.histograms[name] = recorder.encode()
    result.response_spectrum = [[p, round(v, 3)] for p, v in merged["response"].spectrum()]
    result.service_spectrum = [[p, round(v, 3)] for p, v in merged["service"].spectrum()]
    return result
