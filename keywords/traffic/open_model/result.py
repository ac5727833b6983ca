"""The result of one sustained-load run: counts, both latencies, SSE figures, harness CPU, and its figures.

Response time counts from the intended start (what a user arriving on schedule would see), service time from
the actual send (what the daemon took once asked). Every series comes from the processes' HdrHistograms merged
exactly (:mod:`keywords.measure.metrics`); :func:`build_result` folds the processes' reports into one result.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from keywords.measure.harness_cpu import SATURATION_RULE, HarnessCpu, saturated
from keywords.measure.metrics import LatencyRecorder, LatencySummary
from keywords.reporting.figures import shown
from keywords.traffic.loadgen.spec import SERIES, WorkerReport, add_lists
from keywords.traffic.open_model.plan import SESSION_KINDS, LoadPlan
from keywords.traffic.open_model.slo import SloVerdict

_FIGURE_KEYS = {
    "response": "responseMs",
    "service": "serviceMs",
    "accept": "acceptMs",
    "start_lag": "startLagMs",
    "first_chunk": "firstChunkMs",
    "gaps": "gapMs",
    "delivery": "deliveryMs",
    "answer": "permissionAnswerMs",
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
            clock): arrivals completed (turns ended with turn_complete; create+close pairs; cycles) and SSE
            frames received (``None`` for lifecycle loads).
        events: SSE frames received over all sessions (``None`` for lifecycle loads).
        events_per_s: Frames per second over the run (``None`` for lifecycle loads or without frames).
        event_mix: Frames by kind (the ``sessionUpdate`` of a ``session_update``, e.g. ``tool_call``, else the
            frame type), as the first subscriber of each session saw them; empty for lifecycle and cycle loads.
        over_bound: Completed arrivals slower than the SLO's p99 bound (``None`` without a p99 bound).
        permission_requests: ``permission_request`` frames the generator answered or tried to (``None``:
            not answering).
        permission_answered: Answers the daemon accepted (200).
        permission_refused: Answers it refused, by status.
        answer: A ``permission_request`` read to its answer's 200 (ms).
        harness_cpu: The busiest load-generating process's own CPU (saturated when any process was).
        process_cpu: Every load-generating process's own CPU, in process order.
        processes: Load-generating processes that ran.
        client_cpu_ms_per_op: CPU of every load-generating process together per completed arrival, ms.
        stopped_early: Why the run stopped before its schedule ended (an SLO bound that could no longer hold,
            or the caller); ``None`` when it ran to the end.
        slo: Every bound of the SLO the run was given, with its measured value (``None``: no SLO).
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
    event_mix: dict[str, int] = field(default_factory=dict)
    over_bound: int | None = None
    permission_requests: int | None = None
    permission_answered: int | None = None
    permission_refused: dict[str, int] = field(default_factory=dict)
    answer: LatencySummary | None = None
    harness_cpu: HarnessCpu = field(default_factory=HarnessCpu)
    process_cpu: list[HarnessCpu] = field(default_factory=list)
    processes: int = 1
    client_cpu_ms_per_op: float | None = None
    stopped_early: str | None = None
    slo: SloVerdict | None = None
    reliable: bool = True
    wall_s: float = 0.0

    @property
    def error_count(self) -> int:
        """All counted errors."""
        return sum(self.errors.values())

    @property
    def kind(self) -> str:
        """``prompt``, ``fanout``, ``lifecycle`` or ``cycle`` (the plan's kind)."""
        return self.plan.kind

    def line(self) -> str:
        """The one-line report: both latencies, late/dropped, errors, harness CPU."""
        unfinished = f" · unfinished {self.unfinished}" if self.unfinished else ""
        stopped = f" | stopped early: {self.stopped_early}" if self.stopped_early else ""
        procs = f" in {self.processes} processes" if self.processes > 1 else ""
        return (
            " | ".join(
                [
                    f"response {_pcts(self.response)}",
                    f"service {_pcts(self.service)}",
                    f"late {self.late}/{self.sent} · dropped {self.dropped} · errors {self.error_count}{unfinished}"
                    f" · {self.achieved_rate:.1f}/s · {self.harness_cpu.line()}{procs}",
                ]
            )
            + stopped
        )

    def sse_line(self) -> str:
        """The SSE-native figures in one line (prompts only)."""
        rate = shown(self.events_per_s, ".0f")
        mix = ", ".join(f"{kind} {n}" for kind, n in sorted(self.event_mix.items(), key=lambda kv: -kv[1]))
        asked = ""
        if self.permission_requests:
            asked = f" | permissions {self.permission_answered}/{self.permission_requests} answered"
        return (
            f"first chunk {_pcts(self.first_chunk)} | gap {_pcts(self.gaps)} | delivery {_pcts(self.delivery)} | "
            f"{self.events if self.events is not None else 'no'} events, {rate} ev/s"
            + (f" ({mix})" if mix else "")
            + asked
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
            "eventMix": [{"kind": kind, "count": n} for kind, n in sorted(self.event_mix.items())],
            "overBound": self.over_bound,
            "permissionRequests": self.permission_requests,
            "permissionAnswered": self.permission_answered,
            "permissionRefused": [{"status": k, "count": n} for k, n in sorted(self.permission_refused.items())],
            "timeline": self.timeline,
            "responseSpectrumMs": self.response_spectrum,
            "serviceSpectrumMs": self.service_spectrum,
            **self.harness_cpu.figures(),
            "harnessCpuProcessesMeanPct": [cpu.mean_pct for cpu in self.process_cpu],
            "harnessProcesses": self.processes,
            "clientCpuMsPerOp": self.client_cpu_ms_per_op,
            "stoppedEarly": self.stopped_early,
            **(self.slo.figures() if self.slo is not None else {}),
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


def timeline(done_per_s: list[int], events_per_s: list[int] | None, seconds: int) -> list[list[int | None]]:
    """``[second, completed, events]`` rows (``events`` ``None`` when not counted) for ``seconds`` seconds."""
    n = max(seconds, len(done_per_s), len(events_per_s or ()))
    done = list(done_per_s) + [0] * (n - len(done_per_s))
    if events_per_s is None:
        return [[i, d, None] for i, d in enumerate(done)]
    events = list(events_per_s) + [0] * (n - len(events_per_s))
    return [[i, d, e] for i, (d, e) in enumerate(zip(done, events, strict=True))]


def process_cpu(report: WorkerReport, plan: LoadPlan) -> HarnessCpu:
    """One load-generating process's CPU, judged by the saturation rule of :mod:`keywords.measure.harness_cpu`."""
    mean = round(report.cpu_s / report.wall_s * 100, 1) if report.wall_s > 0 else None
    windows = list(report.cpu_windows_pct)
    return HarnessCpu(
        mean_pct=mean,
        peak_pct=max(windows, default=mean),
        windows_pct=windows,
        threshold_pct=plan.cpu_threshold_pct,
        saturated=saturated(mean, windows, plan.cpu_threshold_pct, plan.cpu_windows),
        rule=SATURATION_RULE.format(
            threshold=plan.cpu_threshold_pct, windows=plan.cpu_windows, interval=plan.cpu_interval_s
        )
        + "; judged per load-generating process",
        cores=os.cpu_count() or 1,
    )


def build_result(
    plan: LoadPlan, reports: list[WorkerReport], *, answering: bool, p99_bound: bool, stopped_early: str | None
) -> SustainedLoadResult:
    """One result from every process's report: counts added, histograms merged exactly, CPU per process."""
    counts: Counter = Counter()
    errors: Counter = Counter()
    mix: Counter = Counter()
    refused: Counter = Counter()
    merged = {name: LatencyRecorder(name, keep_values=False) for name in SERIES}
    done_per_s: list[int] = []
    events_per_s: list[int] = []
    for report in reports:
        counts.update(report.counts)
        errors.update(report.errors)
        mix.update(report.event_mix)
        refused.update(report.permission_refused)
        for name, encoded in report.histograms.items():
            merged[name].merge(LatencyRecorder.decode(encoded))
        done_per_s = add_lists(done_per_s, report.done_per_s)
        events_per_s = add_lists(events_per_s, report.events_per_s)
    cpus = [process_cpu(r, plan) for r in reports]
    busiest = max(cpus, key=lambda c: c.mean_pct or 0.0) if cpus else HarnessCpu()
    if any(c.saturated for c in cpus):
        busiest = replace(busiest, saturated=True)
    schedule_s = max((r.schedule_s for r in reports), default=0.0)
    wall_s = max((r.wall_s for r in reports), default=0.0)
    sessions = plan.kind in SESSION_KINDS
    streams = plan.kind != "lifecycle"
    result = SustainedLoadResult(
        plan=plan,
        planned=counts["planned"],
        sent=counts["sent"],
        completed=counts["completed"],
        late=counts["late"],
        dropped=counts["dropped_queue_full"] + counts["dropped_lag"],
        errors=dict(errors),
        achieved_rate=round(counts["sent"] / (schedule_s + 1 / plan.rate), 2),
        unfinished=counts["unfinished"] if sessions else None,
        events=counts["events"] if streams else None,
        event_mix=dict(mix),
        over_bound=counts["over_bound"] if p99_bound else None,
        permission_requests=counts["permission_requests"] if answering else None,
        permission_answered=counts["permission_answered"] if answering else None,
        permission_refused=dict(refused),
        harness_cpu=busiest,
        process_cpu=cpus,
        processes=len(reports),
        client_cpu_ms_per_op=(
            round(sum(r.cpu_s for r in reports) / counts["completed"] * 1000, 4) if counts["completed"] else None
        ),
        stopped_early=stopped_early,
        reliable=not busiest.saturated,
        wall_s=round(wall_s, 3),
    )
    for name in SERIES if streams else ("response", "service", "accept", "start_lag"):
        recorder = merged[name]
        setattr(result, name, recorder.summary() if recorder.count else None)
        if recorder.count:
            result.histograms[name] = recorder.encode()
    first = [r.first_event_at for r in reports if r.first_event_at is not None]
    last = [r.last_event_at for r in reports if r.last_event_at is not None]
    span = max(last) - min(first) if first and last else 0.0
    if streams and result.events:
        result.events_per_s = round(result.events / span, 1) if span > 0 else None
    result.timeline = timeline(done_per_s, events_per_s if streams else None, int(wall_s) + 1)
    result.response_spectrum = [[p, round(v, 3)] for p, v in merged["response"].spectrum()]
    result.service_spectrum = [[p, round(v, 3)] for p, v in merged["service"].spectrum()]
    return result
