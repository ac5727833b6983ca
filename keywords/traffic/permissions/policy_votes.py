"""The vote of each policy: the voters of one session vote on one request one after another, the prompt's
sender last, each vote waiting for the frame it produces.

Harness times are the monotonic clock. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.fakes import mock_report
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import answer, resolution_of
from keywords.traffic.permissions.request_watch import permission_prompt, turn_end_text
from keywords.traffic.permissions.scenario_kit import (
    daemon_policy,
    need,
    rounded_ms,
    summary,
    to_dict,
    watched_session,
)


@dataclass(frozen=True)
class Vote:
    """One client's vote on a request, cast alone.

    Attributes:
        voter: Voter number (1 sent the prompt; the others attached to the same session).
        status: HTTP status of the vote.
        code: The daemon's ``code`` (``permission_forbidden``...), if any.
        event: The frame the vote produced on the stream (``permission_resolved``, ``permission_partial_vote``,
            ``permission_forbidden``, ``permission_already_resolved``), or ``None`` when none came within 2 s.
        elapsed_ms: The vote POST's round trip (harness monotonic, ms).
    """

    voter: int
    status: int
    code: str | None
    event: str | None
    elapsed_ms: float


@dataclass
class PolicyVotes:
    """The voters of one session voting on one request one after another, the prompt's sender last.

    Attributes:
        policy: The permission policy ``/capabilities`` reports.
        status_policy: The policy ``/daemon/status`` reports (``runtime.permissions.policy``).
        voters: Clients registered on the session when the request was issued.
        votes: The votes in the order cast (voters 2, 3, ..., then 1).
        resolved_by: The voter ``permission_resolved`` names (``voterClientId``), or ``None``.
        outcome: The resolved outcome (``selected``/``cancelled``), or ``None`` when it was not resolved.
        agent_outcomes: Answers the agent received for the request (its report).
        turn_end: How the turn ended.
        resolved_after_ms: First vote sent to ``permission_resolved`` read (harness monotonic, ms).
    """

    policy: str | None
    status_policy: str | None
    voters: int
    votes: list[Vote] = field(default_factory=list)
    resolved_by: int | None = None
    outcome: str | None = None
    agent_outcomes: int = 0
    turn_end: str = "timeout"
    resolved_after_ms: float | None = None

    @property
    def statuses(self) -> str:
        """The votes' statuses in order, e.g. ``403,403,200``."""
        return ",".join(str(v.status) for v in self.votes)

    @property
    def events(self) -> str:
        """The frames the votes produced in order, e.g. ``permission_forbidden,permission_resolved``."""
        return ",".join(v.event or "none" for v in self.votes)

    def figures(self) -> dict[str, Any]:
        """The policy, each vote's status and frame, who resolved, the agent's outcomes and the timings."""
        return {
            "policy": self.policy,
            "statusPolicy": self.status_policy,
            "voters": self.voters,
            "voteOrder": [v.voter for v in self.votes],
            "statuses": [v.status for v in self.votes],
            "events": [v.event for v in self.votes],
            "resolvedBy": self.resolved_by,
            "outcome": self.outcome,
            "agentOutcomes": self.agent_outcomes,
            "turnEnd": self.turn_end,
            "votePost": to_dict(summary([v.elapsed_ms for v in self.votes], "vote POST")),
            "resolvedAfterMs": rounded_ms(self.resolved_after_ms),
        }

    def line(self) -> str:
        """``designated: votes 2,3,1 -> 403,403,200; resolved by voter 1; 1 outcome at the agent``."""
        order = ",".join(str(v.voter) for v in self.votes)
        by = "nobody" if self.resolved_by is None else f"voter {self.resolved_by}"
        return (
            f"{self.policy}: votes {order} -> {self.statuses} ({self.events}); resolved by {by}; "
            f"{self.agent_outcomes} outcome(s) at the agent; turn {self.turn_end}"
        )


def run_policy_votes(
    client: DaemonClient, report_path: str | Path, *, voters: int = 3, timeout_s: float = 15.0
) -> PolicyVotes:
    """``voters`` clients attach to the shared session, voter 1 sends a prompt that asks one permission, then
    voters 2..N and finally voter 1 vote ``select`` one at a time, each vote waiting for the frame it produces.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
        AssertionError: no shared session, or no request arrived.
    """
    voters = whole_number("voters", voters, low=2, high=32)
    timeout_s = seconds("timeout", timeout_s, high=600)
    infos = [client.create_session("single") for _ in range(voters)]
    sid = infos[0].session_id
    if any(i.session_id != sid for i in infos):
        raise AssertionError(f"{voters} attaches to the shared session gave several sessions.")
    ids = [i.client_id for i in infos]
    status = client.daemon_status()
    perms = ((status.get("runtime") or {}).get("permissions") or {}) if isinstance(status, dict) else {}
    result = PolicyVotes(daemon_policy(client), perms.get("policy"), voters)
    with watched_session(client, sid, timeout_s=timeout_s + 30, closer=ids[0]) as watch:
        deadline = time.monotonic() + timeout_s
        accepted = client.prompt(sid, permission_prompt(1, "policy vote"), client_id=ids[0])
        request = need(watch.next_request(timeout_s), f"No permission request arrived within {timeout_s:g} s.")
        first_sent: float | None = None
        for voter in [*range(2, voters + 1), 1]:
            after = len(watch.result.events)
            reply = answer(client, request, "select", client_id=ids[voter - 1])
            first_sent = reply.sent_mono if first_sent is None else first_sent
            frame = watch.next_vote_event(after, min(2.0, max(0.1, deadline - time.monotonic())))
            result.votes.append(
                Vote(voter, reply.status, reply.code, frame.get("type") if frame else None, reply.elapsed_ms)
            )
        seen = resolution_of(list(watch.result.events), request.request_id, watch.result.started_at)
        result.outcome = seen.outcome
        result.resolved_by = ids.index(seen.voter_client_id) + 1 if seen.voter_client_id in ids else None
        if seen.resolved_mono is not None and first_sent is not None:
            result.resolved_after_ms = (seen.resolved_mono - first_sent) * 1000
        if seen.resolved == 0:  # nobody's vote resolved it: end the turn so the daemon is left clean
            with contextlib.suppress(Exception):
                client.cancel(sid, ids[0])
        result.turn_end = turn_end_text(watch.turn_end(accepted.prompt_id, max(0.1, deadline - time.monotonic())))
        result.agent_outcomes = len(
            mock_report.read(report_path).outcomes_for(sid, str(request.tool_call_id)) if request.tool_call_id else []
        )
        return result
