"""What the mock agent received and sent, read from its NDJSON report (``<daemon HOME>/mock-acp/report.ndjson``).

The agent writes one flushed line per event (format in ``mock_acp/README.md``; parsed by
``mock_acp.report.read_report``). Here the permission events become typed records:

* :class:`AgentRequest` - a ``session/request_permission`` the agent sent (``permission_requested``);
* :class:`AgentOutcome` - the answer it received (``permission_outcome``), or that it stopped waiting
  (``permission_abandoned``, ``outcome`` ``None``).

A request is named by its session and tool call (``sessionId``, ``toolCallId``): the daemon gives the request its
own id (a UUID, the ``requestId`` of the SSE ``permission_request``) and passes the tool call through unchanged,
so ``toolCallId`` is what links the agent's view to the stream's. Times in the report are the agent process's
own clocks: ``mono`` (its ``time.monotonic()``) and ``wall`` (``time.time()``). A figure that compares the report
with the harness compares **wall clocks** of two processes on one machine; one within the report
(``waitedMs``) uses the agent's monotonic clock.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.checks import seconds
from keywords.errors import HarnessConfigError
from keywords.reporting.figures import field_figures
from mock_acp import directives
from mock_acp.report import read_report

POLL_S = 0.005


@dataclass(frozen=True)
class AgentRequest:
    """A permission request the agent sent.

    Attributes:
        session_id: The session (the daemon's session id).
        agent_request_id: The agent's JSON-RPC id (``mock-<n>``), not the daemon's ``requestId``.
        tool_call_id: The tool call it asks about (``call-<n>``; also in the SSE ``permission_request``).
        options: Option kinds offered (each is also the option's id).
        wall: When it was sent, the agent's wall clock (s since the epoch).
        mono: The same moment on the agent's monotonic clock (s).
    """

    session_id: str
    agent_request_id: str
    tool_call_id: str
    options: tuple[str, ...]
    wall: float
    mono: float


@dataclass(frozen=True)
class AgentOutcome:
    """What became of one request on the agent's side.

    Attributes:
        session_id: The session.
        agent_request_id: The agent's JSON-RPC id of the request.
        tool_call_id: The tool call.
        event: ``permission_outcome`` (an answer arrived) or ``permission_abandoned`` (the prompt stopped first).
        outcome: ``selected`` or ``cancelled`` (``None`` when abandoned, or for a JSON-RPC error).
        option_id: The selected option, if any.
        cancel_reason: ``_meta["qwen.daemon.permissionCancelReason"]`` of the answer (``timeout``,
            ``session_closed``, ``agent_cancelled``), ``None`` when the answer had none.
        error: The JSON-RPC error of the answer, if it was one.
        action: What the agent did: ``allow``, ``reject``, ``cancel_turn``, ``invalid`` (``None`` when abandoned).
        waited_ms: Request sent to this event, the agent's monotonic clock (ms).
        late: The answer arrived after the prompt had already stopped.
        wall: When the agent recorded it, the agent's wall clock (s since the epoch).
    """

    session_id: str
    agent_request_id: str
    tool_call_id: str
    event: str
    outcome: str | None
    option_id: str | None
    cancel_reason: str | None
    error: Any
    action: str | None
    waited_ms: float | None
    late: bool
    wall: float

    def text(self) -> str:
        """``selected allow_once``, ``cancelled (timeout)``, ``abandoned`` or ``error -32603``."""
        if self.event == "permission_abandoned":
            return "abandoned"
        if self.error is not None:
            code = self.error.get("code") if isinstance(self.error, dict) else self.error
            return f"error {code}"
        reason = f" ({self.cancel_reason})" if self.cancel_reason else ""
        option = f" {self.option_id}" if self.option_id else ""
        return f"{self.outcome}{option}{reason}{' late' if self.late else ''}"


@dataclass
class MockReport:
    """The mock agent's report as read once (read again with :func:`read` for newer lines).

    Attributes:
        path: The report file.
        events: Every event line, in the order written.
    """

    path: Path
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, event: str, session_id: str | None = None) -> list[dict[str, Any]]:
        """Events of one type (of one session when ``session_id`` is given)."""
        return [
            e
            for e in self.events
            if e.get("event") == event and (session_id is None or e.get("sessionId") == session_id)
        ]

    def requests(self, session_id: str | None = None) -> list[AgentRequest]:
        """Permission requests the agent sent, in order."""
        return [
            AgentRequest(
                str(e.get("sessionId")),
                str(e.get("requestId")),
                str(e.get("toolCallId")),
                tuple(e.get("options") or ()),
                float(e.get("wall", 0.0)),
                float(e.get("mono", 0.0)),
            )
            for e in self.of("permission_requested", session_id)
        ]

    def outcomes(self, session_id: str | None = None, *, abandoned: bool = True) -> list[AgentOutcome]:
        """Answers the agent received (and, with ``abandoned``, requests it stopped waiting for), in order."""
        wanted = ("permission_outcome", "permission_abandoned") if abandoned else ("permission_outcome",)
        return [
            _outcome(e)
            for e in self.events
            if e.get("event") in wanted and (session_id is None or e.get("sessionId") == session_id)
        ]

    def outcomes_for(self, session_id: str, tool_call_id: str) -> list[AgentOutcome]:
        """Every answer (and abandonment) of one request, named by session and tool call; one is normal."""
        return [o for o in self.outcomes(session_id) if o.tool_call_id == tool_call_id]

    def cancels(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """``cancel`` events: the agent was told to stop the session's prompts (``via`` names how)."""
        return self.of("cancel", session_id)

    def counts(self, session_ids: list[str] | None = None) -> ReportCounts:
        """Permission counts of the given sessions (all sessions when ``None``)."""
        keep = None if session_ids is None else set(session_ids)

        def mine(e: dict[str, Any]) -> bool:
            return keep is None or e.get("sessionId") in keep

        sent = [e for e in self.of("permission_requested") if mine(e)]
        answers = [e for e in self.of("permission_outcome") if mine(e)]
        per_request = Counter((e.get("sessionId"), e.get("toolCallId")) for e in answers)
        asked = {(e.get("sessionId"), e.get("toolCallId")) for e in sent}
        return ReportCounts(
            requests=len(sent),
            outcomes=len(answers),
            abandoned=sum(1 for e in self.of("permission_abandoned") if mine(e)),
            late=sum(1 for e in answers if e.get("late")),
            answered_twice=sum(1 for n in per_request.values() if n > 1),
            unanswered=len(asked - set(per_request)),
            stray=len(self.of("stray_response")),
        )


@dataclass(frozen=True)
class ReportCounts:
    """Permission counts from the agent's side.

    Attributes:
        requests: ``session/request_permission`` requests the agent sent.
        outcomes: Answers it received.
        abandoned: Requests whose prompt stopped before an answer arrived.
        late: Answers that arrived after their prompt had stopped.
        answered_twice: Requests that received more than one answer (must be 0).
        unanswered: Requests that never received an answer.
        stray: Answers to no request of the agent (must be 0).
    """

    requests: int
    outcomes: int
    abandoned: int
    late: int
    answered_twice: int
    unanswered: int
    stray: int

    def figures(self) -> dict[str, Any]:
        """The counts by camelCase key (``requests``, ``outcomes``, ``answeredTwice``...)."""
        return field_figures(self, *vars(self))

    def problems(self, asked: int) -> list[str]:
        """One plain sentence per way the agent's side broke "each of the ``asked`` requests sent once and answered
        once, no stray answer" (empty when it held)."""
        broken = (
            (self.requests != asked, f"the agent sent {self.requests} permission requests, {asked} were asked"),
            (self.outcomes != asked, f"the agent received {self.outcomes} answers for {asked} requests"),
            (self.answered_twice > 0, f"{self.answered_twice} requests reached the agent answered more than once"),
            (self.unanswered > 0, f"{self.unanswered} requests never reached the agent answered"),
            (self.stray > 0, f"the agent received {self.stray} answers to no request of its own"),
        )
        return [text for failed, text in broken if failed]

    def line(self) -> str:
        """``agent: 24 requests, 24 outcomes, 0 answered twice, 0 unanswered``."""
        return (
            f"agent: {self.requests} requests, {self.outcomes} outcomes, {self.answered_twice} answered twice, "
            f"{self.unanswered} unanswered"
        )


def _outcome(e: dict[str, Any]) -> AgentOutcome:
    meta = e.get("meta") if isinstance(e.get("meta"), dict) else {}
    waited = e.get("waitedMs")
    return AgentOutcome(
        session_id=str(e.get("sessionId")),
        agent_request_id=str(e.get("requestId")),
        tool_call_id=str(e.get("toolCallId")),
        event=str(e.get("event")),
        outcome=e.get("outcome"),
        option_id=e.get("optionId"),
        cancel_reason=meta.get("qwen.daemon.permissionCancelReason"),
        error=e.get("error"),
        action=e.get("action"),
        waited_ms=float(waited) if isinstance(waited, (int, float)) else None,
        late=bool(e.get("late")),
        wall=float(e.get("wall", 0.0)),
    )


def report_path(home: str | Path) -> Path:
    """Where the mock started by the harness writes its report: ``<HOME>/mock-acp/report.ndjson``."""
    return Path(home) / "mock-acp" / directives.REPORT_FILE_NAME


def read(path: str | Path) -> MockReport:
    """The report as it is now (a missing file is an empty report; a half-written last line is skipped).

    Raises:
        HarnessConfigError: a complete line is not a JSON object (the file is not the mock's report).
    """
    try:
        return MockReport(Path(path), read_report(path))
    except directives.MockSettingsError as exc:
        raise HarnessConfigError(f"The mock agent's report {Path(path).name} cannot be read: {exc}") from exc


def wait_for(
    path: str | Path, until: Callable[[MockReport], bool], *, timeout_s: float = 5.0
) -> tuple[MockReport, bool]:
    """Read the report again and again (every 5 ms) until ``until(report)`` holds or ``timeout_s`` passed.

    Returns:
        ``(report, met)``: the last report read and whether the condition held.
    """
    timeout_s = seconds("timeout", timeout_s, high=600)
    deadline = time.monotonic() + timeout_s
    while True:
        report = read(path)
        if until(report):
            return report, True
        if time.monotonic() >= deadline:
            return report, False
        time.sleep(POLL_S)
