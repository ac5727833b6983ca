"""First responder: several clients of one session answer each request at the same instant, round after round;
exactly one answer wins, the others are refused, the agent gets one outcome.

Harness times are the monotonic clock. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.checks import seconds, whole_number
from keywords.fakes import mock_report
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import Answer, PermissionRequest, Resolution, answer_together
from keywords.traffic.permissions.request_watch import permission_prompt, turn_end_text
from keywords.traffic.permissions.scenario_kit import daemon_policy, summary, to_dict, watched_session


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
            "sendSpread": to_dict(summary([r.spread_ms for r in self.rounds if r.spread_ms is not None], "spread")),
            "winnerPost": to_dict(summary(winner_post, "winner POST")),
            "loserPost": to_dict(summary(loser_post, "loser POST")),
            "resolvedAfter": to_dict(summary(resolved_after, "first answer sent to resolved")),
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
    result = FirstResponderResult(clients, policy=daemon_policy(client))
    with watched_session(client, sid, timeout_s=timeout_s + 30, closer=ids[0]) as watch:
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
