"""A pending request's end: the turn ends (cancel, deadline, close) or its only subscriber leaves while a
permission request is pending; and the daemon's own end of an unanswered request (the response timeout).

Harness times are the monotonic clock; a figure that compares with the mock agent's report compares wall clocks
of the two processes (said in each attribute's documentation). Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.checks import choice, seconds
from keywords.fakes import mock_report
from keywords.fakes.mock_report import AgentOutcome
from keywords.reporting.figures import field_figures
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import PermissionRequest, answer
from keywords.traffic.permissions.request_watch import (
    PermissionWatch,
    end_watch,
    open_watch,
    permission_prompt,
    turn_end_text,
)
from keywords.traffic.permissions.scenario_kit import need, next_prompt, watched_session

ENDINGS = ("cancel", "deadline", "close", "disconnect")


@dataclass(kw_only=True)
class Aftermath:
    """What followed the end of a pending permission request, whoever ended it.

    Attributes:
        agent_received: The agent's record of the pending request once the end played out: its outcome
            (``cancelled (session_closed) late``, ``cancelled (timeout)``...), ``abandoned``, or ``nothing``.
        turn_end: How the turn ended (``turn_complete cancelled``, ``turn_error prompt_deadline_exceeded``...).
        late_answer: Status of an answer given after the end.
        next_prompt: How a next prompt on the session went (``turn_complete end_turn``, ``refused 404
            session_not_found``).
    """

    agent_received: str = "nothing"
    turn_end: str = "timeout"
    late_answer: int | None = None
    next_prompt: str = "not tried"


@dataclass
class PendingEnd(Aftermath):
    """What happened when a turn ended (or its only subscriber left) while a permission request was pending.

    Attributes:
        how: ``cancel`` (POST cancel), ``deadline`` (``--prompt-deadline-ms`` expired), ``close`` (DELETE the
            session) or ``disconnect`` (the only subscriber closed its stream).
        agent_told: How the agent was told to stop the prompt (``craft/cancelPendingPrompt``,
            ``qwen/control/session/close``...), or ``None``.
        still_pending: (``disconnect``) the daemon still listed the request as pending without a subscriber.
        replayed: (``disconnect``) a new subscriber replaying the ring got the same request.
        end_ms: The end's start to the turn's end frame (harness monotonic, ms); for ``deadline`` the start is
            the prompt's POST, for ``disconnect`` the new subscriber's answer.
        agent_ms: The end's start to the agent's first record of it (wall clocks of two processes, ms);
            ``None`` when the agent recorded nothing.
        next_ms: The next prompt's POST to its turn's end (harness monotonic, ms).
        stream: Frame types after the request until the stream was quiet for 0.2 s after the turn's end (for
            ``disconnect``: on the new stream).

    The fields of :class:`Aftermath` too (``agent_received``, ``turn_end``, ``late_answer`` - for ``disconnect``
    after re-subscribing - and ``next_prompt``).
    """

    how: str
    agent_told: str | None = None
    still_pending: bool | None = None
    replayed: bool | None = None
    end_ms: float | None = None
    agent_ms: float | None = None
    next_ms: float | None = None
    stream: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """Every field by its camelCase key, times rounded to 0.1 ms."""
        return field_figures(self, *vars(self), digits=1)

    def line(self) -> str:
        """``cancel: agent cancelled (session_closed) late after 5.1 ms; turn_complete cancelled after 7.0 ms; next
        prompt turn_complete end_turn``."""
        agent = self.agent_received + ("" if self.agent_ms is None else f" after {self.agent_ms:.1f} ms")
        end = self.turn_end + ("" if self.end_ms is None else f" after {self.end_ms:.1f} ms")
        pending = (
            "" if self.still_pending is None else f"; still pending {self.still_pending}, replayed {self.replayed}"
        )
        return (
            f"{self.how}: agent {agent}; {end}{pending}; late answer {self.late_answer}; next prompt {self.next_prompt}"
        )


def run_pending_end(
    client: DaemonClient,
    report_path: str | Path,
    how: str,
    *,
    settle_s: float = 1.0,
    timeout_s: float = 15.0,
) -> PendingEnd:
    """Prompt a fresh session with one permission, and while that request is pending end it ``how``.

    Args:
        client: Client of the daemon (for ``deadline``: one started with ``--prompt-deadline-ms``).
        report_path: The mock agent's report.
        how: ``cancel``, ``deadline``, ``close`` or ``disconnect``.
        settle_s: ``disconnect``: how long the request stays without a subscriber before the checks.
        timeout_s: Bound on each wait.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
        AssertionError: the request never arrived.
    """
    how = choice("how", how, ENDINGS)
    settle_s = seconds("settle", settle_s, high=60)
    timeout_s = seconds("timeout", timeout_s, high=600)
    sid = client.create_session("thread").session_id
    result = PendingEnd(how)
    with watched_session(client, sid, timeout_s=timeout_s * 3 + settle_s) as watch, contextlib.ExitStack() as later:
        posted_mono, posted_wall = time.monotonic(), time.time()
        accepted = client.prompt(sid, permission_prompt(1, f"pending end by {how}"))
        request = need(watch.next_request(timeout_s), f"No permission request arrived within {timeout_s:g} s.")
        start_mono, start_wall = time.monotonic(), time.time()
        follow = watch
        if how == "cancel":
            client.cancel(sid)
        elif how == "close":
            client.close_session(sid)
        elif how == "deadline":
            start_mono, start_wall = posted_mono, posted_wall
        else:
            follow, start_mono = _disconnect(client, watch, request, result, settle_s, timeout_s, report_path)
            later.callback(end_watch, follow)
        end = follow.turn_end(accepted.prompt_id, timeout_s)
        result.turn_end = turn_end_text(end)
        if end is not None:
            result.end_ms = (follow.frame_mono(end) - start_mono) * 1000
        _settle(follow)
        result.stream = _types_after(follow, request)
        if how != "disconnect":
            _agent_side(result, report_path, sid, request, start_wall, timeout_s)
            result.late_answer = answer(client, request).status
        result.next_prompt, result.next_ms = next_prompt(client, sid, timeout_s)
        return result


def _disconnect(
    client: DaemonClient,
    watch: PermissionWatch,
    request: PermissionRequest,
    result: PendingEnd,
    settle_s: float,
    timeout_s: float,
    report_path: str | Path,
) -> tuple[PermissionWatch, float]:
    """End the only subscription, check the request after ``settle_s``, re-subscribe and answer it.

    Returns:
        The new watch and when the answer was sent (monotonic clock, s).
    """
    left_wall = time.time()
    end_watch(watch)
    time.sleep(settle_s)
    status = client.session_status(request.session_id).body or {}
    pending_ids = [p.get("requestId") for p in status.get("pendingInteractions") or [] if isinstance(p, dict)]
    result.still_pending = bool(status.get("isWaitingForPermission")) and request.request_id in pending_ids
    _agent_side(result, report_path, request.session_id, request, left_wall, 0.05)
    again = open_watch(client, request.session_id, timeout_s=timeout_s * 2, last_event_id=0)
    seen = again.next_request(timeout_s)
    result.replayed = seen is not None and seen.request_id == request.request_id
    reply = answer(client, request)
    result.late_answer = reply.status
    return again, reply.sent_mono


def _agent_side(
    result: PendingEnd,
    report_path: str | Path,
    sid: str,
    request: PermissionRequest,
    start_wall: float,
    timeout_s: float,
) -> None:
    tool = str(request.tool_call_id)

    def settled(report: mock_report.MockReport) -> bool:
        return bool(report.outcomes_for(sid, tool)) and bool(report.of("prompt_finished", sid))

    report, _met = mock_report.wait_for(report_path, settled, timeout_s=max(0.05, min(3.0, timeout_s)))
    outcomes: list[AgentOutcome] = report.outcomes_for(sid, tool)
    cancels = report.cancels(sid)
    if outcomes:
        result.agent_received = " + ".join(o.text() for o in outcomes)
    if cancels:
        result.agent_told = str(cancels[0].get("via"))
    walls = [o.wall for o in outcomes] + [float(c.get("wall", 0.0)) for c in cancels]
    if walls:
        result.agent_ms = (min(walls) - start_wall) * 1000


def _settle(watch: PermissionWatch, quiet_s: float = 0.2, bound_s: float = 1.0) -> None:
    """Wait until the stream was quiet for ``quiet_s`` (at most ``bound_s``): frames that follow a turn's end
    (``permission_resolved``, ``prompt_cancelled``, ``session_closed``) belong to what the end showed."""
    deadline = time.monotonic() + bound_s
    seen = -1
    while time.monotonic() < deadline and not watch.done and seen != len(watch.result.events):
        seen = len(watch.result.events)
        time.sleep(quiet_s)


def _types_after(watch: PermissionWatch, request: PermissionRequest) -> list[str]:
    """Frame types after the request's ``permission_request`` (the ring's replay marker left out)."""
    events = list(watch.result.events)
    start = next(
        (
            i + 1
            for i, e in enumerate(events)
            if e.get("type") == "permission_request" and (e.get("data") or {}).get("requestId") == request.request_id
        ),
        0,
    )
    return [str(e.get("type")) for e in events[start:] if e.get("type") != "replay_complete"]


# -- the response timeout ------------------------------------------------------------------------------------


@dataclass
class TimeoutResult(Aftermath):
    """An unanswered request on a daemon started with ``--permission-response-timeout-ms``.

    Attributes:
        outcome: The resolved outcome (``cancelled`` expected), or ``None`` when it was not resolved.
        voter_client_id: The voter named (``None`` expected: the daemon resolved it).
        late_already_resolved: ``permission_already_resolved`` frames after the late answer.
        resolved_after_ms: ``permission_request`` read to ``permission_resolved`` read (harness monotonic, ms).
        server_after_ms: The same span between the two frames' ``serverTimestamp`` (the daemon's clock, ms).
        agent_waited_ms: The agent's wait for its answer (its own monotonic clock, ms).

    The fields of :class:`Aftermath` too: ``agent_received`` (``cancelled (timeout)`` expected), ``turn_end``,
    ``late_answer`` (after the expiry) and ``next_prompt``.
    """

    outcome: str | None = None
    voter_client_id: str | None = None
    late_already_resolved: int = 0
    resolved_after_ms: float | None = None
    server_after_ms: float | None = None
    agent_waited_ms: float | None = None

    def figures(self) -> dict[str, Any]:
        """The expiry as the harness, the daemon and the agent saw it, and what came after (every field)."""
        return field_figures(self, *vars(self), digits=1)

    def line(self) -> str:
        """``resolved cancelled after 1003 ms (daemon 1001 ms); agent cancelled (timeout) after 1052 ms; ...``."""
        after = "never" if self.resolved_after_ms is None else f"after {self.resolved_after_ms:.0f} ms"
        server = "" if self.server_after_ms is None else f" (daemon clock {self.server_after_ms:.0f} ms)"
        waited = "" if self.agent_waited_ms is None else f" after {self.agent_waited_ms:.0f} ms"
        return (
            f"resolved {self.outcome} {after}{server}; agent {self.agent_received}{waited}; late answer "
            f"{self.late_answer}; turn {self.turn_end}; next prompt {self.next_prompt}"
        )


def run_permission_timeout(client: DaemonClient, report_path: str | Path, *, timeout_s: float = 15.0) -> TimeoutResult:
    """Prompt a fresh session with one permission and leave the request unanswered until the daemon resolves it.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
        AssertionError: the request never arrived.
    """
    timeout_s = seconds("timeout", timeout_s, high=600)
    sid = client.create_session("thread").session_id
    result = TimeoutResult()
    with watched_session(client, sid, timeout_s=timeout_s * 2 + 30) as watch:
        accepted = client.prompt(sid, permission_prompt(1, "left unanswered"))
        request = need(watch.next_request(timeout_s), f"No permission request arrived within {timeout_s:g} s.")
        seen = watch.resolution(request.request_id, timeout_s=timeout_s)
        result.outcome, result.voter_client_id = seen.outcome, seen.voter_client_id
        if seen.resolved_mono is not None:
            result.resolved_after_ms = (seen.resolved_mono - request.seen_mono) * 1000
        if seen.server_ms is not None and request.server_ms is not None:
            result.server_after_ms = seen.server_ms - request.server_ms
        result.turn_end = turn_end_text(watch.turn_end(accepted.prompt_id, timeout_s))
        before = seen.already_resolved
        result.late_answer = answer(client, request).status
        later = watch.resolution(request.request_id, refusals=before + 1, timeout_s=1.0)
        result.late_already_resolved = later.already_resolved - before
        report, _ = mock_report.wait_for(
            report_path, lambda r: bool(r.outcomes_for(sid, str(request.tool_call_id))), timeout_s=2.0
        )
        got = report.outcomes_for(sid, str(request.tool_call_id))
        if got:
            result.agent_received = " + ".join(o.text() for o in got)
            result.agent_waited_ms = got[0].waited_ms
        result.next_prompt, _ = next_prompt(client, sid, timeout_s)
        return result
