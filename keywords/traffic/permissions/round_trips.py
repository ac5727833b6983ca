"""The permission round-trip engine: N sessions whose prompts each ask K permissions, every request answered as
soon as it is read, counted on both sides (the streams and the mock agent's report).

Clocks: harness times are its monotonic clock; a figure that spans the harness and the agent compares **wall
clocks** of the two processes on one machine (said in the attribute's documentation). Threads never log.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.checks import choice, seconds, whole_number
from keywords.fakes import mock_report
from keywords.fakes.mock_report import ReportCounts
from keywords.measure.metrics import LatencySummary, summarize
from keywords.traffic.barrier import results_or_raise, run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import MAX_PERMISSIONS, Answer, PermissionRequest, answer, resolution_of
from keywords.traffic.permissions.request_watch import (
    PermissionWatch,
    end_watch,
    open_watch,
    permission_prompt,
    turn_end_text,
)


@dataclass
class RoundTripResult:
    """N sessions whose prompts each asked K permissions, every request answered as soon as it was read.

    Counts come from two sides that must agree: the SSE streams (what the daemon published) and the mock
    agent's report (what the agent sent and received).

    Attributes:
        sessions: Sessions prompted.
        permissions: Permission requests each prompt asked.
        wall_ms: The whole run (harness monotonic, ms).
        requests_seen: ``permission_request`` frames read on the streams.
        answered: Answers the daemon accepted (200).
        answers_refused: Answers it refused (any other status).
        resolved_events: ``permission_resolved`` frames for the requests read.
        resolved_twice: Requests with more than one ``permission_resolved`` frame (must be 0).
        already_resolved: ``permission_already_resolved`` frames (no answer was late, so must be 0).
        agent: The agent's counts (:class:`keywords.fakes.mock_report.ReportCounts`).
        turns_complete: Turns that ended ``turn_complete`` ``end_turn``.
        turn_ends: How the turns ended (``turn_complete end_turn``, ``turn_error <code>``, ``timeout``...) -> count.
        lost: One sentence per request or turn that went missing.
        request_to_resolved: ``permission_request`` read to ``permission_resolved`` read (harness monotonic, ms).
        request_to_agent: The agent sent the request to the agent received the answer (the agent's own
            monotonic clock, ``waitedMs`` of its report; ms).
        answer_to_agent: The harness sent the answer to the agent recorded it (wall clocks of two processes, ms).
        answer_post: The answer POST's round trip (harness monotonic, ms).
        turn: Prompt POST to the turn's end frame (harness monotonic, ms).
    """

    sessions: int
    permissions: int
    wall_ms: float = 0.0
    requests_seen: int = 0
    answered: int = 0
    answers_refused: int = 0
    resolved_events: int = 0
    resolved_twice: int = 0
    already_resolved: int = 0
    agent: ReportCounts | None = None
    turns_complete: int = 0
    turn_ends: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    request_to_resolved: LatencySummary | None = None
    request_to_agent: LatencySummary | None = None
    answer_to_agent: LatencySummary | None = None
    answer_post: LatencySummary | None = None
    turn: LatencySummary | None = None

    @property
    def expected(self) -> int:
        """Requests the prompts asked for: sessions x permissions."""
        return self.sessions * self.permissions

    def problems(self) -> list[str]:
        """One plain sentence per way the run broke "every request resolved exactly once, nothing lost"."""
        found = list(self.lost)
        want = self.expected
        agent = self.agent
        if self.requests_seen != want:
            found.append(f"the streams showed {self.requests_seen} permission requests, {want} were asked")
        if agent is None:
            found.append("the mock agent's report was not read")
        else:
            found += agent.problems(want)
        if self.answered != want:
            found.append(f"the daemon accepted {self.answered} of {want} answers ({self.answers_refused} refused)")
        if self.resolved_events != want or self.resolved_twice:
            found.append(
                f"the streams showed {self.resolved_events} permission_resolved frames for {want} requests "
                f"({self.resolved_twice} resolved twice)"
            )
        if self.already_resolved:
            found.append(f"{self.already_resolved} permission_already_resolved frames although no answer was late")
        if self.turns_complete != self.sessions:
            ends = ", ".join(f"{k} {v}" for k, v in sorted(self.turn_ends.items()))
            found.append(f"{self.turns_complete} of {self.sessions} turns ended turn_complete end_turn ({ends})")
        return found

    def figures(self) -> dict[str, Any]:
        """Counts from both sides and the latency summaries (percentile dicts, ms; ``None`` when not measured)."""
        agent = self.agent.figures() if self.agent else None
        return {
            "requestsAsked": self.expected,
            "requestsSeen": self.requests_seen,
            "answered": self.answered,
            "answersRefused": self.answers_refused,
            "resolvedEvents": self.resolved_events,
            "resolvedTwice": self.resolved_twice,
            "alreadyResolvedEvents": self.already_resolved,
            "agent": agent,
            "turnsComplete": self.turns_complete,
            "turnEnds": {_camel_words(k): v for k, v in self.turn_ends.items()},
            "lost": len(self.lost),
            "requestToResolved": _dict(self.request_to_resolved),
            "requestToAgent": _dict(self.request_to_agent),
            "answerToAgent": _dict(self.answer_to_agent),
            "answerPost": _dict(self.answer_post),
            "turn": _dict(self.turn),
            "wallMs": round(self.wall_ms, 1),
        }

    def line(self) -> str:
        """Counts and the two round-trip latencies on one line."""
        outcomes = self.agent.outcomes if self.agent else "n/a"
        return (
            f"{self.sessions} sessions x {self.permissions}: {self.requests_seen}/{self.expected} requests seen, "
            f"{self.resolved_events} resolved, {outcomes} reached the agent, {self.turns_complete} turns complete, "
            f"{len(self.lost)} lost | request->resolved {_p50_p99(self.request_to_resolved)} | "
            f"request->agent received {_p50_p99(self.request_to_agent)}"
        )


def _dict(summary: LatencySummary | None) -> dict[str, Any] | None:
    return summary.to_dict() if summary is not None else None


def _p50_p99(summary: LatencySummary | None) -> str:
    if summary is None or not summary.count:
        return "not measured"
    return f"p50 {summary.p50:.1f} / p99 {summary.p99:.1f} ms"


def _camel_words(text: str) -> str:
    """``turn_complete end_turn`` -> ``turnCompleteEndTurn`` (a figure key from an outcome text)."""
    words = [w for w in text.replace("-", "_").replace(" ", "_").split("_") if w]
    if not words:
        return "none"
    head = words[0].lower() if words[0][0].isalpha() else "code" + words[0]
    return head + "".join(w[:1].upper() + w[1:] for w in words[1:] if w.isalnum())


@dataclass
class _SessionRun:
    session_id: str
    posted_at: float
    prompt_id: str | None = None
    traces: list[tuple[PermissionRequest, Answer]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    end_mono: float | None = None
    lost: list[str] = field(default_factory=list)


def run_round_trips(
    client: DaemonClient,
    report_path: str | Path,
    *,
    sessions: int = 8,
    permissions: int = 3,
    decision: str = "select",
    timeout_s: float = 30.0,
    tool_calls: int | None = None,
) -> RoundTripResult:
    """Prompt ``sessions`` fresh sessions at once, each turn asking ``permissions`` permissions that this
    session's thread answers as soon as it reads them; then count both sides.

    Args:
        client: Client of the daemon (a mock agent whose report is ``report_path``).
        report_path: The mock agent's report (``<HOME>/mock-acp/report.ndjson``).
        sessions: Sessions (1..64), prompted together (one barrier).
        permissions: Requests per prompt (1..64).
        decision: ``select`` (allow) or ``reject`` (the tool call fails, the turn goes on).
        timeout_s: Bound on the whole run.
        tool_calls: Tool calls per turn (``permissions`` .. the mock's maximum; the first ``permissions`` of
            them ask); ``None``: as many as ``permissions``.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
    """
    sessions = whole_number("sessions", sessions, low=1, high=64)
    permissions = whole_number("permissions", permissions, low=1, high=MAX_PERMISSIONS)
    decision = choice("decision", decision, ("select", "reject"))
    timeout_s = seconds("timeout", timeout_s, high=600)
    calls = permissions if tool_calls is None else whole_number("tool_calls", tool_calls, low=permissions, high=64)
    text = permission_prompt(permissions, tool_calls=calls)
    started = time.monotonic()
    ids = [client.create_session("thread").session_id for _ in range(sessions)]
    watches: list[PermissionWatch] = []
    try:
        for sid in ids:
            watches.append(open_watch(client, sid, timeout_s=timeout_s + 30))
        deadline = time.monotonic() + timeout_s

        def one(i: int) -> _SessionRun:
            watch = watches[i]
            run = _SessionRun(ids[i], time.monotonic())
            run.prompt_id = client.prompt(ids[i], text).prompt_id
            for k in range(permissions):
                request = watch.next_request(deadline - time.monotonic())
                if request is None:
                    run.lost.append(f"session {ids[i][:8]}: request {k + 1} of {permissions} never reached the stream")
                    break
                run.traces.append((request, answer(client, request, decision)))
            run.end = watch.turn_end(run.prompt_id, deadline - time.monotonic())
            run.end_mono = watch.frame_mono(run.end) if run.end is not None else None
            return run

        done = results_or_raise(run_together(sessions, one, what="sessions"))
        asked = sessions * permissions
        report, _met = mock_report.wait_for(
            report_path, lambda r: r.counts(ids).outcomes >= asked, timeout_s=min(5.0, timeout_s)
        )
        return _round_trip_result(sessions, permissions, done, watches, report, ids, time.monotonic() - started)
    finally:
        for watch in watches:
            end_watch(watch)
        client.close_sessions(ids)


def _round_trip_result(
    sessions: int,
    permissions: int,
    runs: list[_SessionRun],
    watches: list[PermissionWatch],
    report: mock_report.MockReport,
    ids: list[str],
    wall_s: float,
) -> RoundTripResult:
    result = RoundTripResult(sessions, permissions, wall_ms=wall_s * 1000)
    resolved_ms: list[float] = []
    agent_ms: list[float] = []
    to_agent_ms: list[float] = []
    post_ms: list[float] = []
    turn_ms: list[float] = []
    ends: Counter[str] = Counter()
    for run, watch in zip(runs, watches, strict=True):
        result.lost += run.lost
        events = list(watch.result.events)
        result.requests_seen += sum(1 for e in events if e.get("type") == "permission_request")
        result.already_resolved += sum(1 for e in events if e.get("type") == "permission_already_resolved")
        for request, reply in run.traces:
            post_ms.append(reply.elapsed_ms)
            if reply.accepted:
                result.answered += 1
            else:
                result.answers_refused += 1
            seen = resolution_of(events, request.request_id, watch.result.started_at)
            result.resolved_events += seen.resolved
            result.resolved_twice += 1 if seen.resolved > 1 else 0
            if seen.resolved_mono is not None:
                resolved_ms.append((seen.resolved_mono - request.seen_mono) * 1000)
            else:
                result.lost.append(f"session {run.session_id[:8]}: request {request.request_id[:8]} never resolved")
            got = report.outcomes_for(run.session_id, str(request.tool_call_id))
            if got and got[0].waited_ms is not None:
                agent_ms.append(got[0].waited_ms)
                to_agent_ms.append((got[0].wall - reply.sent_wall) * 1000)
        text = turn_end_text(run.end)
        ends[text] += 1
        if text == "turn_complete end_turn":
            result.turns_complete += 1
        if run.end_mono is not None:
            turn_ms.append((run.end_mono - run.posted_at) * 1000)
    result.turn_ends = dict(ends)
    result.agent = report.counts(ids)
    result.request_to_resolved = summarize(resolved_ms, "request to resolved")
    result.request_to_agent = summarize(agent_ms, "request to agent received")
    result.answer_to_agent = summarize(to_agent_ms, "answer to agent received (wall clocks)")
    result.answer_post = summarize(post_ms, "answer POST")
    result.turn = summarize(turn_ms, "turn")
    return result
