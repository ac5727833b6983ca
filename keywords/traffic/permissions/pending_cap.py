"""The per-session cap: one turn sends more permission requests at once than the daemon keeps pending; every
request it publishes is then answered, one by one.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.fakes import mock_report
from keywords.measure.metrics import LatencySummary
from keywords.reporting.figures import field_figures, shown
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import answer, resolution_of
from keywords.traffic.permissions.request_watch import permission_prompt, turn_end_text
from keywords.traffic.permissions.scenario_kit import summary, watched_session


@dataclass
class CapResult:
    """One turn sending more permission requests at once than the daemon keeps pending per session.

    Attributes:
        sent: Requests the agent sent (its report).
        published: ``permission_request`` frames on the stream (the cap, when ``sent`` is larger).
        cancelled_by_daemon: Requests the daemon answered ``cancelled`` (no reason) before any client answered.
        pending_peak: ``pendingPermissions`` of ``/health?deep=1`` once every request was published or refused.
        answered: Answers of ours the daemon accepted.
        resolved_events: ``permission_resolved`` frames.
        agent_outcomes: Answers the agent received in all (its report).
        turn_end: How the turn ended.
        refusal: The agent's wait for the daemon's immediate ``cancelled`` (``waitedMs``, the agent's clock, ms).
        answer_all_ms: Answering every published request one by one (harness monotonic, ms).
    """

    sent: int = 0
    published: int = 0
    cancelled_by_daemon: int = 0
    pending_peak: int | None = None
    answered: int = 0
    resolved_events: int = 0
    agent_outcomes: int = 0
    turn_end: str = "timeout"
    refusal: LatencySummary | None = None
    answer_all_ms: float | None = None

    def figures(self) -> dict[str, Any]:
        """The counts, the refusal times and the time to answer every published request (every field)."""
        figures = field_figures(self, *vars(self), digits=1)
        return {**figures, "refusal": None if self.refusal is None else self.refusal.to_dict()}

    def line(self) -> str:
        """``70 sent: 64 published, 6 cancelled by the daemon (p50 100 ms), 64 answered in 280 ms; turn ...``."""
        p50 = "n/a" if self.refusal is None or self.refusal.p50 is None else f"{self.refusal.p50:.1f} ms"
        answered = shown(self.answer_all_ms, ".0f", " ms")
        return (
            f"{self.sent} sent: {self.published} published, {self.cancelled_by_daemon} cancelled by the daemon "
            f"(agent waited p50 {p50}), peak pending {self.pending_peak}, {self.answered} answered in {answered}, "
            f"{self.agent_outcomes} outcomes at the agent; turn {self.turn_end}"
        )


def run_permission_cap(
    client: DaemonClient, report_path: str | Path, *, requests: int = 70, timeout_s: float = 30.0
) -> CapResult:
    """One prompt sends ``requests`` permission requests in one batch (``tool_batch``); every request the daemon
    publishes is then answered, one by one.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
    """
    requests = whole_number("requests", requests, low=1, high=1000)
    timeout_s = seconds("timeout", timeout_s, high=600)
    sid = client.create_session("thread").session_id
    result = CapResult()
    with watched_session(client, sid, timeout_s=timeout_s + 30) as watch:
        deadline = time.monotonic() + timeout_s
        accepted = client.prompt(sid, permission_prompt(requests, "cap", tool_batch=requests))

        def all_placed(report: mock_report.MockReport) -> bool:
            cancelled = [o for o in report.outcomes(sid) if o.outcome == "cancelled"]
            return len(report.requests(sid)) >= requests and len(watch.requests()) + len(cancelled) >= requests

        mock_report.wait_for(report_path, all_placed, timeout_s=max(0.1, deadline - time.monotonic()))
        health = client.health(deep=True, expected=None).body
        result.pending_peak = health.get("pendingPermissions") if isinstance(health, dict) else None
        published = watch.requests()
        first_answer_wall = time.time()
        started = time.monotonic()
        replies = [answer(client, r) for r in published]
        result.answer_all_ms = (time.monotonic() - started) * 1000
        result.answered = sum(1 for r in replies if r.accepted)
        result.turn_end = turn_end_text(watch.turn_end(accepted.prompt_id, max(0.1, deadline - time.monotonic())))
        report = mock_report.read(report_path)
        result.sent = len(report.requests(sid))
        result.published = len(published)
        outcomes = report.outcomes(sid, abandoned=False)
        result.agent_outcomes = len(outcomes)
        early = [
            o for o in outcomes if o.outcome == "cancelled" and o.cancel_reason is None and o.wall < first_answer_wall
        ]
        result.cancelled_by_daemon = len(early)
        result.refusal = summary([o.waited_ms for o in early if o.waited_ms is not None], "daemon cancel")
        result.resolved_events = sum(
            resolution_of(watch.result.events, r.request_id, watch.result.started_at).resolved for r in published
        )
        return result
