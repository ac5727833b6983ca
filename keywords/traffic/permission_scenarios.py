"""The permission scenarios as engines: first responder, the vote of each policy, a pending request's end,
the per-session cap, the response timeout, and the isolation of sessions from another session's pending request.

Each engine starts from a running daemon with the mock agent (whose report it reads), does its scenario with
the building blocks of :mod:`keywords.traffic.permissions`, and returns a result that carries its figures
(``figures()``, ``line()``) and, where the scenario has an invariant, the ways it was broken (``problems()``).
Harness times are the monotonic clock; figures that compare with the mock agent's report compare wall clocks
of the two processes (said in each attribute's documentation).

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keywords.checks import choice, number, seconds, whole_number
from keywords.errors import DaemonHttpError
from keywords.fakes import mock_report
from keywords.fakes.mock_report import AgentOutcome
from keywords.measure.metrics import LatencySummary, summarize
from keywords.measure.paired_ratio import PairedEstimate, estimate
from keywords.traffic.client import DaemonClient
from keywords.traffic.open_model import LoadPlan, run_prompt_load
from keywords.traffic.permissions import (
    Answer,
    AutoAnswer,
    PermissionRequest,
    PermissionWatch,
    Resolution,
    answer,
    answer_together,
    end_watch,
    open_watch,
    permission_prompt,
    resolution_of,
    turn_end_text,
)
from keywords.traffic.turns import run_turn

POLICIES = ("first-responder", "designated", "consensus", "local-only")
ENDINGS = ("cancel", "deadline", "close", "disconnect")


def _need(value: Any, what: str) -> Any:
    if value is None:
        raise AssertionError(what)
    return value


def _summary(values: list[float], name: str) -> LatencySummary | None:
    return summarize(values, name) if values else None


def _dict(summary: LatencySummary | None) -> dict[str, Any] | None:
    return summary.to_dict() if summary is not None else None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _policy(client: DaemonClient) -> str | None:
    """The permission policy the daemon reports in ``/capabilities`` (``policy.permission``)."""
    policy = client.capabilities().get("policy")
    return policy.get("permission") if isinstance(policy, dict) else None


# -- first responder -----------------------------------------------------------------------------------------


@dataclass
class Race:
    """One request answered by several clients at the same instant.

    Attributes:
        round: 1-based round number.
        request: The request (``None`` when none arrived).
        answers: One answer per client, in client order.
        resolution: What the stream showed for the request.
        agent_outcomes: Answers the agent received for it (its report).
        winner: 0-based index of the client ``permission_resolved`` names as the voter (``None``: none named).
    """

    round: int
    request: PermissionRequest | None
    answers: list[Answer] = field(default_factory=list)
    resolution: Resolution | None = None
    agent_outcomes: int = 0
    winner: int | None = None

    @property
    def spread_ms(self) -> float | None:
        """Time between the first and the last answer POST sent (harness monotonic, ms)."""
        if not self.answers:
            return None
        sent = [a.sent_mono for a in self.answers]
        return (max(sent) - min(sent)) * 1000

    def problems(self) -> list[str]:
        """How the round broke "exactly one wins, the others are refused with 404, the agent gets one outcome"."""
        where = f"round {self.round}"
        if self.request is None:
            return [f"{where}: no permission request arrived"]
        found = []
        accepted = [i for i, a in enumerate(self.answers) if a.accepted]
        losers = [a for a in self.answers if not a.accepted]
        if len(accepted) != 1:
            found.append(f"{where}: {len(accepted)} answers were accepted, exactly one was expected")
        wrong = sorted({a.status for a in losers if a.status != 404})
        if wrong:
            found.append(f"{where}: losing answers got status {', '.join(map(str, wrong))}, 404 was expected")
        res = self.resolution
        if res is None or res.resolved != 1:
            found.append(f"{where}: {0 if res is None else res.resolved} permission_resolved frames, 1 was expected")
        elif len(accepted) == 1 and self.winner != accepted[0]:
            named = "no client" if self.winner is None else f"client {self.winner + 1}"
            found.append(
                f"{where}: permission_resolved names {named}, the accepted answer was client {accepted[0] + 1}'s"
            )
        if res is not None and res.already_resolved != len(losers):
            found.append(
                f"{where}: {res.already_resolved} permission_already_resolved frames for {len(losers)} losing answers"
            )
        if self.agent_outcomes != 1:
            found.append(f"{where}: the agent received {self.agent_outcomes} outcomes, exactly one was expected")
        return found


@dataclass
class FirstResponderResult:
    """Several clients of one session answering each request at the same instant, round after round.

    Attributes:
        clients: Clients answering each request.
        rounds: The rounds (:class:`Race`).
        policy: The daemon's permission policy (``/capabilities``).
        turn_end: How the turn that asked ended.
    """

    clients: int
    rounds: list[Race] = field(default_factory=list)
    policy: str | None = None
    turn_end: str = "timeout"

    def problems(self) -> list[str]:
        """Every round's problems, then the turn's."""
        found = [p for race in self.rounds for p in race.problems()]
        if self.turn_end != "turn_complete end_turn":
            found.append(f"the turn ended {self.turn_end}, turn_complete end_turn was expected")
        return found

    def wins(self) -> dict[str, int]:
        """Rounds won per client: ``client1``, ``client2``... (every client listed, 0 included)."""
        won = Counter(r.winner for r in self.rounds if r.winner is not None)
        return {f"client{i + 1}": won.get(i, 0) for i in range(self.clients)}

    def figures(self) -> dict[str, Any]:
        """Rounds, wins per client, refusals, events, the agent's outcomes and the answer time spreads."""
        answers = [a for r in self.rounds for a in r.answers]
        winner_post = [r.answers[r.winner].elapsed_ms for r in self.rounds if r.winner is not None and r.answers]
        loser_post = [a.elapsed_ms for r in self.rounds for i, a in enumerate(r.answers) if i != r.winner]
        resolved_after = [
            (r.resolution.resolved_mono - min(a.sent_mono for a in r.answers)) * 1000
            for r in self.rounds
            if r.resolution is not None and r.resolution.resolved_mono is not None and r.answers
        ]
        statuses = Counter(str(a.status) for a in answers)
        return {
            "policy": self.policy,
            "rounds": len(self.rounds),
            "cleanRounds": sum(1 for r in self.rounds if not r.problems()),
            "wins": self.wins(),
            "noWinner": sum(1 for r in self.rounds if r.winner is None),
            "answers": len(answers),
            "statuses": {f"http{k}": v for k, v in sorted(statuses.items())},
            "resolvedEvents": sum(r.resolution.resolved for r in self.rounds if r.resolution),
            "alreadyResolvedEvents": sum(r.resolution.already_resolved for r in self.rounds if r.resolution),
            "agentOutcomes": sum(r.agent_outcomes for r in self.rounds),
            "sendSpread": _dict(_summary([r.spread_ms for r in self.rounds if r.spread_ms is not None], "spread")),
            "winnerPost": _dict(_summary(winner_post, "winner POST")),
            "loserPost": _dict(_summary(loser_post, "loser POST")),
            "resolvedAfter": _dict(_summary(resolved_after, "first answer sent to resolved")),
            "turnEnd": self.turn_end,
        }

    def line(self) -> str:
        """Rounds, wins, refusals and the send spread on one line."""
        figures = self.figures()
        wins = " · ".join(f"{k} {v}" for k, v in figures["wins"].items())
        spread = figures["sendSpread"] or {}
        p50 = spread.get("p50")
        return (
            f"{figures['rounds']} rounds of {self.clients} clients at once: {figures['cleanRounds']} clean; "
            f"wins {wins}; {figures['alreadyResolvedEvents']} permission_already_resolved, "
            f"{figures['agentOutcomes']} outcomes at the agent; send spread p50 "
            f"{'n/a' if p50 is None else f'{p50:.2f} ms'}"
        )


def run_first_responder(
    client: DaemonClient, report_path: str | Path, *, rounds: int = 20, clients: int = 3, timeout_s: float = 30.0
) -> FirstResponderResult:
    """``clients`` clients attach to the workspace's shared session; one prompt asks ``rounds`` permissions in a
    row, and all clients answer each request at the same instant.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
        AssertionError: the daemon did not give the clients one shared session.
    """
    rounds = whole_number("rounds", rounds, low=1, high=200)
    clients = whole_number("clients", clients, low=2, high=32)
    timeout_s = seconds("timeout", timeout_s, high=600)
    infos = [client.create_session("single") for _ in range(clients)]
    sid = infos[0].session_id
    if any(i.session_id != sid for i in infos) or len({i.client_id for i in infos}) != clients:
        raise AssertionError(
            f"{clients} attaches to the shared session should give one session and {clients} client ids; got sessions "
            f"{sorted({i.session_id for i in infos})} and client ids {[i.client_id for i in infos]}."
        )
    ids = [i.client_id for i in infos]
    result = FirstResponderResult(clients, policy=_policy(client))
    watch = open_watch(client, sid, timeout_s=timeout_s + 30)
    try:
        deadline = time.monotonic() + timeout_s
        accepted = client.prompt(sid, permission_prompt(rounds, "first responder"), client_id=ids[0])
        for n in range(1, rounds + 1):
            request = watch.next_request(deadline - time.monotonic())
            race = Race(n, request)
            result.rounds.append(race)
            if request is None:
                break
            race.answers = answer_together(client, request, ids)
            race.resolution = watch.resolution(
                request.request_id, refusals=clients - 1, timeout_s=max(0.1, min(5.0, deadline - time.monotonic()))
            )
            voter = race.resolution.voter_client_id
            race.winner = ids.index(voter) if voter in ids else None
        result.turn_end = turn_end_text(watch.turn_end(accepted.prompt_id, deadline - time.monotonic()))
        report = mock_report.read(report_path)
        for race in result.rounds:
            if race.request is not None:
                race.agent_outcomes = len(report.outcomes_for(sid, str(race.request.tool_call_id)))
        return result
    finally:
        end_watch(watch)
        with contextlib.suppress(Exception):
            client.close_session(sid, ids[0], expected=None)


# -- the vote of each policy ---------------------------------------------------------------------------------


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
            "votePost": _dict(_summary([v.elapsed_ms for v in self.votes], "vote POST")),
            "resolvedAfterMs": _ms(self.resolved_after_ms),
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
    result = PolicyVotes(_policy(client), perms.get("policy"), voters)
    watch = open_watch(client, sid, timeout_s=timeout_s + 30)
    try:
        deadline = time.monotonic() + timeout_s
        accepted = client.prompt(sid, permission_prompt(1, "policy vote"), client_id=ids[0])
        request = _need(watch.next_request(timeout_s), f"No permission request arrived within {timeout_s:g} s.")
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
    finally:
        end_watch(watch)
        with contextlib.suppress(Exception):
            client.close_session(sid, ids[0], expected=None)


# -- a pending request's end ---------------------------------------------------------------------------------


@dataclass
class PendingEnd:
    """What happened when a turn ended (or its only subscriber left) while a permission request was pending.

    Attributes:
        how: ``cancel`` (POST cancel), ``deadline`` (``--prompt-deadline-ms`` expired), ``close`` (DELETE the
            session) or ``disconnect`` (the only subscriber closed its stream).
        agent_received: The agent's record of the pending request once the end played out: its outcome
            (``cancelled (session_closed) late``...), ``abandoned``, or ``nothing``.
        agent_told: How the agent was told to stop the prompt (``craft/cancelPendingPrompt``,
            ``qwen/control/session/close``...), or ``None``.
        stream: Frame types after the request until the stream was quiet for 0.2 s after the turn's end (for
            ``disconnect``: on the new stream).
        turn_end: How the turn ended (``turn_complete cancelled``, ``turn_error prompt_deadline_exceeded``...).
        still_pending: (``disconnect``) the daemon still listed the request as pending without a subscriber.
        replayed: (``disconnect``) a new subscriber replaying the ring got the same request.
        late_answer: Status of an answer given after the end (for ``disconnect``: after re-subscribing).
        next_prompt: How a next prompt on the session went (``turn_complete end_turn``, ``refused 404
            session_not_found``).
        end_ms: The end's start to the turn's end frame (harness monotonic, ms); for ``deadline`` the start is
            the prompt's POST, for ``disconnect`` the new subscriber's answer.
        agent_ms: The end's start to the agent's first record of it (wall clocks of two processes, ms);
            ``None`` when the agent recorded nothing.
        next_ms: The next prompt's POST to its turn's end (harness monotonic, ms).
    """

    how: str
    agent_received: str = "nothing"
    agent_told: str | None = None
    stream: list[str] = field(default_factory=list)
    turn_end: str = "timeout"
    still_pending: bool | None = None
    replayed: bool | None = None
    late_answer: int | None = None
    next_prompt: str = "not tried"
    end_ms: float | None = None
    agent_ms: float | None = None
    next_ms: float | None = None

    def figures(self) -> dict[str, Any]:
        """Every field, times rounded to 0.1 ms."""
        return {
            "how": self.how,
            "agentReceived": self.agent_received,
            "agentTold": self.agent_told,
            "stream": list(self.stream),
            "turnEnd": self.turn_end,
            "stillPending": self.still_pending,
            "replayed": self.replayed,
            "lateAnswer": self.late_answer,
            "nextPrompt": self.next_prompt,
            "endMs": _ms(self.end_ms),
            "agentMs": _ms(self.agent_ms),
            "nextMs": _ms(self.next_ms),
        }

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
    watch = open_watch(client, sid, timeout_s=timeout_s * 3 + settle_s)
    watches = [watch]
    closed = False
    try:
        posted_mono, posted_wall = time.monotonic(), time.time()
        accepted = client.prompt(sid, permission_prompt(1, f"pending end by {how}"))
        request = _need(watch.next_request(timeout_s), f"No permission request arrived within {timeout_s:g} s.")
        start_mono, start_wall = time.monotonic(), time.time()
        follow = watch
        if how == "cancel":
            client.cancel(sid)
        elif how == "close":
            client.close_session(sid)
            closed = True
        elif how == "deadline":
            start_mono, start_wall = posted_mono, posted_wall
        else:
            follow, start_mono = _disconnect(client, watch, request, result, settle_s, timeout_s, report_path)
            watches.append(follow)
        end = follow.turn_end(accepted.prompt_id, timeout_s)
        result.turn_end = turn_end_text(end)
        if end is not None:
            result.end_ms = (follow.frame_mono(end) - start_mono) * 1000
        _settle(follow)
        result.stream = _types_after(follow, request)
        if how != "disconnect":
            _agent_side(result, report_path, sid, request, start_wall, timeout_s)
            result.late_answer = answer(client, request).status
        result.next_prompt, result.next_ms = _next_prompt(client, sid, timeout_s)
        return result
    finally:
        for each in watches:
            end_watch(each)
        if not closed:
            with contextlib.suppress(Exception):
                client.close_session(sid, expected=None)


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


def _next_prompt(client: DaemonClient, sid: str, timeout_s: float) -> tuple[str, float | None]:
    try:
        turn = run_turn(client, sid, "after the pending request", timeout_s=timeout_s)
    except DaemonHttpError as err:
        return f"refused {err.status} {err.code or ''}".strip(), None
    ended = (
        f"turn_complete {turn.stop_reason}"
        if turn.outcome == "completed"
        else f"{turn.outcome} {turn.error_code or ''}"
    )
    return ended.strip(), turn.turn_ms


# -- the per-session cap ---------------------------------------------------------------------------------------


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
        """The counts, the refusal times and the time to answer every published request."""
        return {
            "sent": self.sent,
            "published": self.published,
            "cancelledByDaemon": self.cancelled_by_daemon,
            "pendingPeak": self.pending_peak,
            "answered": self.answered,
            "resolvedEvents": self.resolved_events,
            "agentOutcomes": self.agent_outcomes,
            "turnEnd": self.turn_end,
            "refusal": _dict(self.refusal),
            "answerAllMs": _ms(self.answer_all_ms),
        }

    def line(self) -> str:
        """``70 sent: 64 published, 6 cancelled by the daemon (p50 100 ms), 64 answered in 280 ms; turn ...``."""
        p50 = "n/a" if self.refusal is None or self.refusal.p50 is None else f"{self.refusal.p50:.1f} ms"
        answered = "n/a" if self.answer_all_ms is None else f"{self.answer_all_ms:.0f} ms"
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
    watch = open_watch(client, sid, timeout_s=timeout_s + 30)
    try:
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
        result.refusal = _summary([o.waited_ms for o in early if o.waited_ms is not None], "daemon cancel")
        result.resolved_events = sum(
            resolution_of(watch.result.events, r.request_id, watch.result.started_at).resolved for r in published
        )
        return result
    finally:
        end_watch(watch)
        with contextlib.suppress(Exception):
            client.close_session(sid, expected=None)


# -- the response timeout ------------------------------------------------------------------------------------


@dataclass
class TimeoutResult:
    """An unanswered request on a daemon started with ``--permission-response-timeout-ms``.

    Attributes:
        resolved_after_ms: ``permission_request`` read to ``permission_resolved`` read (harness monotonic, ms).
        server_after_ms: The same span between the two frames' ``serverTimestamp`` (the daemon's clock, ms).
        outcome: The resolved outcome (``cancelled`` expected), or ``None`` when it was not resolved.
        voter_client_id: The voter named (``None`` expected: the daemon resolved it).
        agent_received: The agent's record of the request (``cancelled (timeout)`` expected).
        agent_waited_ms: The agent's wait for that answer (its own monotonic clock, ms).
        late_answer: Status of an answer after the expiry.
        late_already_resolved: ``permission_already_resolved`` frames after that late answer.
        turn_end: How the turn ended.
        next_prompt: How a next prompt on the session went.
    """

    resolved_after_ms: float | None = None
    server_after_ms: float | None = None
    outcome: str | None = None
    voter_client_id: str | None = None
    agent_received: str = "nothing"
    agent_waited_ms: float | None = None
    late_answer: int | None = None
    late_already_resolved: int = 0
    turn_end: str = "timeout"
    next_prompt: str = "not tried"

    def figures(self) -> dict[str, Any]:
        """The expiry as the harness, the daemon and the agent saw it, and what came after."""
        return {
            "resolvedAfterMs": _ms(self.resolved_after_ms),
            "serverAfterMs": _ms(self.server_after_ms),
            "outcome": self.outcome,
            "voterClientId": self.voter_client_id,
            "agentReceived": self.agent_received,
            "agentWaitedMs": _ms(self.agent_waited_ms),
            "lateAnswer": self.late_answer,
            "lateAlreadyResolved": self.late_already_resolved,
            "turnEnd": self.turn_end,
            "nextPrompt": self.next_prompt,
        }

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
    watch = open_watch(client, sid, timeout_s=timeout_s * 2 + 30)
    try:
        accepted = client.prompt(sid, permission_prompt(1, "left unanswered"))
        request = _need(watch.next_request(timeout_s), f"No permission request arrived within {timeout_s:g} s.")
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
        result.next_prompt, _ = _next_prompt(client, sid, timeout_s)
        return result
    finally:
        end_watch(watch)
        with contextlib.suppress(Exception):
            client.close_session(sid, expected=None)


# -- isolation (#11795) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IsolationPhase:
    """One phase of fixed-rate prompts on the other sessions.

    Attributes:
        condition: ``alone`` (no request pending elsewhere) or ``pending`` (session A's request unanswered).
        sent: Prompts sent.
        completed: Prompts whose turn ended ``turn_complete`` in the phase (and its drain).
        unfinished: Prompts whose turn had not ended when the drain ran out.
        errors: Refused prompts and turns that ended otherwise.
        service_p50_ms: Prompt sent to turn end, median (harness monotonic, ms); ``None`` without samples.
        service_p99_ms: The same, 99th percentile.
        held: (``pending``) A's request was still pending when the phase ended.
    """

    condition: str
    sent: int
    completed: int
    unfinished: int
    errors: int
    service_p50_ms: float | None
    service_p99_ms: float | None
    held: bool | None

    def figures(self) -> dict[str, Any]:
        """The phase as a dict of camelCase keys."""
        return {
            "condition": self.condition,
            "sent": self.sent,
            "completed": self.completed,
            "unfinished": self.unfinished,
            "errors": self.errors,
            "serviceP50Ms": _ms(self.service_p50_ms),
            "serviceP99Ms": _ms(self.service_p99_ms),
            "held": self.held,
        }


@dataclass
class IsolationResult:
    """The other sessions' prompt latency with and without one unanswered request, in alternating phases.

    Attributes:
        others: Sessions under load (B, C, ...), each prompt asking one permission that is answered at once.
        rate: Prompts per second over those sessions.
        phases: The phases in the order run (blocks of alone, pending, pending, alone).
        ratio: The paired estimate of the median service time pending / alone (``keywords.measure.paired_ratio``).
        answered: Requests of the other sessions answered by their background answerers.
        blocked: A pending phase left turns unfinished that the alone phases finished: the pending request
            blocked the other sessions.
    """

    others: int
    rate: float
    phases: list[IsolationPhase] = field(default_factory=list)
    ratio: PairedEstimate | None = None
    answered: int = 0
    blocked: bool = False

    @property
    def verdict(self) -> str:
        """``blocked``, ``slower`` (the ratio is above its tolerance with confidence), ``isolated`` or
        ``not measured`` (fewer than two usable pairs)."""
        if self.blocked:
            return "blocked"
        if self.ratio is None or self.ratio.verdict == "not measured":
            return "not measured"
        return "slower" if self.ratio.verdict == "fail" else "isolated"

    def figures(self) -> dict[str, Any]:
        """The verdict, the ratio with its interval, and each phase's counts and latencies."""
        alone = [p.service_p50_ms for p in self.phases if p.condition == "alone" and p.service_p50_ms is not None]
        pending = [p.service_p50_ms for p in self.phases if p.condition == "pending" and p.service_p50_ms is not None]
        return {
            "verdict": self.verdict,
            "blocked": self.blocked,
            "ratio": self.ratio.figures() if self.ratio else None,
            "aloneServiceP50Ms": _ms(statistics.median(alone)) if alone else None,
            "pendingServiceP50Ms": _ms(statistics.median(pending)) if pending else None,
            "sent": sum(p.sent for p in self.phases),
            "completed": sum(p.completed for p in self.phases),
            "unfinished": sum(p.unfinished for p in self.phases),
            "errors": sum(p.errors for p in self.phases),
            "answered": self.answered,
            "pendingHeld": all(p.held for p in self.phases if p.condition == "pending"),
            "phases": [p.figures() for p in self.phases],
        }

    def line(self) -> str:
        """The verdict and the ratio on one line."""
        figures = self.figures()
        ratio = self.ratio.line() if self.ratio else "no ratio"
        return (
            f"isolation {self.verdict}: {self.others} sessions at {self.rate:g}/s, service p50 alone "
            f"{figures['aloneServiceP50Ms']} ms vs pending {figures['pendingServiceP50Ms']} ms; {ratio}; "
            f"{figures['completed']}/{figures['sent']} turns complete, {figures['unfinished']} unfinished"
        )


def run_isolation(
    client: DaemonClient,
    *,
    others: int = 4,
    rate: float = 8.0,
    phase_s: float = 1.5,
    blocks: int = 2,
    tolerance: float = 0.5,
    drain_s: float = 3.0,
) -> IsolationResult:
    """Fixed-rate prompts on ``others`` sessions, in phases alone and with session A's request pending
    (A B B A per block, so steady machine drift cancels in the paired ratio), after one unrecorded warm-up
    of half a phase.

    Each prompt of the other sessions asks one permission, answered at once by a background answerer per
    session. In a ``pending`` phase session A's prompt asks one permission that nobody answers until the phase
    ended (then it is allowed and A's turn completes).

    Args:
        client: Client of the daemon.
        others: Sessions under load (1..16).
        rate: Prompts per second over them.
        phase_s: Length of one phase's arrival schedule.
        blocks: A B B A blocks (each gives two pairs).
        tolerance: How much slower (a fraction) the pending phases may be before the ratio fails.
        drain_s: After a phase's last arrival, how long to wait for its turns.

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
        AssertionError: session A's request never arrived.
    """
    others = whole_number("others", others, low=1, high=16)
    rate = number("rate", rate, low=0.0, high=200.0, low_open=True)
    phase_s = seconds("phase", phase_s, high=120)
    blocks = whole_number("blocks", blocks, low=1, high=20)
    tolerance = number("tolerance", tolerance, low=0.0, high=100.0)
    drain_s = seconds("drain", drain_s, high=120)
    holder = client.create_session("thread").session_id
    loaded = [client.create_session("thread").session_id for _ in range(others)]
    result = IsolationResult(others, rate)
    plan = LoadPlan(
        kind="prompt",
        rate=rate,
        duration_s=phase_s,
        sessions=others,
        workers=min(16, max(4, others * 2)),
        drain_s=drain_s,
        prompt_text=permission_prompt(1, "isolation load"),
        answer_permissions="none",  # the AutoAnswer below answers them (and counts them)
    )
    answerers = [AutoAnswer(client, sid, timeout_s=blocks * 4 * (phase_s + drain_s + 10) + 60) for sid in loaded]
    watch = open_watch(client, holder, timeout_s=blocks * 4 * (phase_s + drain_s + 10) + 60)
    try:
        for answerer in answerers:
            answerer.start()
        run_prompt_load(client, replace(plan, duration_s=max(0.5, phase_s / 2)), session_ids=loaded)  # warm-up
        for _ in range(blocks):
            for condition in ("alone", "pending", "pending", "alone"):
                result.phases.append(_phase(client, plan, loaded, holder, watch, condition, drain_s))
    finally:
        for answerer in answerers:
            with contextlib.suppress(Exception):
                result.answered += answerer.stop().answered
        end_watch(watch)
        for sid in [holder, *loaded]:
            with contextlib.suppress(Exception):
                client.close_session(sid, expected=None)
    pairs = []
    for b in range(blocks):
        a1, p1, p2, a2 = result.phases[b * 4 : b * 4 + 4]
        pairs += [(a1.service_p50_ms, p1.service_p50_ms), (a2.service_p50_ms, p2.service_p50_ms)]
    result.ratio = estimate("serviceP50Ms", pairs, kind="ratio", better="lower", tolerance=tolerance, unit="ms")
    alone_clean = all(p.unfinished == 0 for p in result.phases if p.condition == "alone")
    result.blocked = alone_clean and any(p.unfinished > 0 for p in result.phases if p.condition == "pending")
    return result


def _phase(
    client: DaemonClient,
    plan: LoadPlan,
    loaded: list[str],
    holder: str,
    watch: PermissionWatch,
    condition: str,
    drain_s: float,
) -> IsolationPhase:
    request = accepted = None
    if condition == "pending":
        accepted = client.prompt(holder, permission_prompt(1, "held unanswered"))
        request = _need(watch.next_request(10.0), "Session A's permission request did not arrive within 10 s.")
    load = run_prompt_load(client, plan, session_ids=loaded)
    held = None
    if request is not None and accepted is not None:
        status = client.session_status(holder).body or {}
        held = bool(status.get("isWaitingForPermission"))
        answer(client, request)
        watch.turn_end(accepted.prompt_id, drain_s + 5)
    service = load.service
    return IsolationPhase(
        condition,
        load.sent,
        load.completed,
        load.unfinished,
        load.error_count,
        service.p50 if service else None,
        service.p99 if service else None,
        held,
    )
