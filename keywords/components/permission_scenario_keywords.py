"""Keywords that run the permission scenarios against the mock agent and check their invariants."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from robotlibcore import keyword

from keywords.checks import Duration, number, seconds
from keywords.components.component import Component
from keywords.components.permission_keywords import Allowing, mock_report_of
from keywords.errors import HarnessConfigError
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions import first_responder, isolation, pending_cap, pending_end, policy_votes
from keywords.traffic.permissions.first_responder import FirstResponderResult
from keywords.traffic.permissions.isolation import IsolationResult
from keywords.traffic.permissions.pending_cap import CapResult
from keywords.traffic.permissions.pending_end import PendingEnd, TimeoutResult
from keywords.traffic.permissions.policy_votes import PolicyVotes
from keywords.traffic.permissions.round_trips import RoundTripResult, run_round_trips

Ending = Literal["cancel", "deadline", "close", "disconnect"]


class PermissionScenarioKeywords(Component):
    """The permission scenarios: round trips under load, first-responder races, each policy's vote, a pending
    request's end, the per-session cap, the response timeout and the isolation of sessions.

    Each runs on a daemon with the mock agent, whose report gives the agent's side of every count; each result
    carries its figures (`Record Result`) and, where the scenario has an invariant, its ``problems()``
    (`Permission Scenario Should Hold`).
    """

    def _mock_daemon(self, daemon: str | None) -> tuple[DaemonClient, Path]:
        """The daemon's client and its mock agent's report (fails for a daemon with the real agent)."""
        running = self.ctx.get(daemon)
        return running.client, mock_report_of(running)

    @keyword(tags=("permissions", "load"))
    def run_permission_round_trips(
        self,
        sessions: int = 8,
        permissions_per_prompt: int = 3,
        *,
        decision: Allowing = "select",
        timeout: Duration = 30.0,
        daemon: str | None = None,
    ) -> RoundTripResult:
        """Prompt fresh sessions at once, each turn asking permissions that are answered as soon as they are read,
        and count both sides: the streams and the mock agent's report.

        Args:
            sessions: Sessions prompted together (1..64).
            permissions_per_prompt: Permission requests each prompt asks (1..64).
            decision: ``select`` (allow) or ``reject``.
            timeout: Bound on the whole run.

        Returns:
            ``RoundTripResult``: ``sessions``, ``permissions``, ``requests_seen``, ``answered``,
            ``answers_refused``, ``resolved_events``, ``resolved_twice``, ``already_resolved`` and
            ``turns_complete`` (int each), ``agent`` (``ReportCounts``), ``turn_ends`` (dict), ``lost`` (list of
            str), ``request_to_resolved``, ``request_to_agent``, ``answer_to_agent``, ``answer_post`` and ``turn``
            (``LatencySummary``, ms), ``wall_ms`` (float), ``problems()``, ``figures()`` and ``line()``.

        Example:
            | ${trips}= | Run Permission Round Trips | 8 | 3 |
            | Record Result | ${trips} |
            | Permission Scenario Should Hold | ${trips} |
        """
        client, report = self._mock_daemon(daemon)
        return run_round_trips(
            client,
            report,
            sessions=sessions,
            permissions=permissions_per_prompt,
            decision=decision,
            timeout_s=seconds("timeout", timeout, high=600),
        )

    @keyword(tags=("permissions",))
    def run_first_responder_races(
        self, rounds: int = 20, clients: int = 3, *, timeout: Duration = 30.0, daemon: str | None = None
    ) -> FirstResponderResult:
        """Clients attached to the workspace's shared session answer each of a turn's requests at the same
        instant, round after round.

        Args:
            rounds: Requests raced (one turn asks them one after another; 1..200).
            clients: Clients answering each request (2..32).
            timeout: Bound on the whole run.

        Returns:
            ``FirstResponderResult``: ``clients`` (int), ``rounds`` (list of ``Race``: ``round``, ``request``,
            ``answers``, ``resolution``, ``agent_outcomes``, ``winner``), ``policy`` (str or None), ``turn_end``
            (str), ``wins()`` (dict), ``problems()``, ``figures()`` and ``line()``.

        Example:
            | ${races}= | Run First Responder Races | 20 | 3 |
            | Record Result | ${races} |
            | Permission Scenario Should Hold | ${races} |
        """
        client, report = self._mock_daemon(daemon)
        wait_s = seconds("timeout", timeout, high=600)
        return first_responder.run_first_responder(client, report, rounds=rounds, clients=clients, timeout_s=wait_s)

    @keyword(tags=("permissions",))
    def run_permission_votes(
        self, voters: int = 3, *, timeout: Duration = 15.0, daemon: str | None = None
    ) -> PolicyVotes:
        """Clients attached to the shared session vote on one request one after another (voter 1 sent the
        prompt and votes last), each vote waiting for the frame it produces.

        Args:
            voters: Clients registered on the session (2..32).
            timeout: Bound on the whole run.

        Returns:
            ``PolicyVotes``: ``policy`` and ``status_policy`` (str or None), ``voters`` (int), ``votes`` (list of
            ``Vote``: ``voter``, ``status``, ``code``, ``event``, ``elapsed_ms``), ``resolved_by`` (int or None),
            ``outcome`` (str or None), ``agent_outcomes`` (int), ``turn_end`` (str), ``resolved_after_ms`` (float
            or None), ``statuses`` (str, e.g. ``403,403,200``), ``events`` (str), ``figures()`` and ``line()``.

        Example:
            | ${votes}= | Run Permission Votes | 3 |
            | Should Be Equal | ${votes.statuses} | 200,404,404 |
        """
        client, report = self._mock_daemon(daemon)
        return policy_votes.run_policy_votes(client, report, voters=voters, timeout_s=seconds("timeout", timeout))

    @keyword(tags=("permissions",))
    def end_turn_while_permission_pending(
        self, how: Ending, *, settle: Duration = 1.0, timeout: Duration = 15.0, daemon: str | None = None
    ) -> PendingEnd:
        """Prompt a fresh session with one permission and, while the request is pending, end the turn ``how``.

        Args:
            how: ``cancel`` (POST cancel), ``deadline`` (the daemon's ``--prompt-deadline-ms`` expires), ``close``
                (DELETE the session) or ``disconnect`` (the only subscriber closes its stream; after ``settle``
                a new subscriber replays the ring and answers).
            settle: ``disconnect`` only: how long the request stays without a subscriber.
            timeout: Bound on each wait.

        Returns:
            ``PendingEnd``: ``how``, ``agent_received``, ``agent_told`` (str or None), ``stream`` (list of frame
            types), ``turn_end``, ``still_pending`` and ``replayed`` (bool or None), ``late_answer`` (int or
            None), ``next_prompt`` (str), ``end_ms``, ``agent_ms`` and ``next_ms`` (float ms or None),
            ``figures()`` and ``line()``.

        Example:
            | ${end}= | End Turn While Permission Pending | cancel |
            | Should Be Equal | ${end.turn_end} | turn_complete cancelled |
        """
        client, report = self._mock_daemon(daemon)
        return pending_end.run_pending_end(
            client,
            report,
            how,
            settle_s=seconds("settle", settle, high=60),
            timeout_s=seconds("timeout", timeout),
        )

    @keyword(tags=("permissions", "limits"))
    def run_permission_cap(
        self, requests: int = 70, *, timeout: Duration = 30.0, daemon: str | None = None
    ) -> CapResult:
        """One turn sends ``requests`` permission requests at once; every request the daemon publishes is then
        answered one by one.

        Args:
            requests: Requests sent in one batch (the mock's ``tool_batch``; 1..1000).
            timeout: Bound on the whole run.

        Returns:
            ``CapResult``: ``sent``, ``published``, ``cancelled_by_daemon``, ``answered``, ``resolved_events`` and
            ``agent_outcomes`` (int each), ``pending_peak`` (int or None), ``turn_end`` (str), ``refusal``
            (``LatencySummary`` of the agent's wait for the daemon's own cancels, or None), ``answer_all_ms``
            (float or None), ``figures()`` and ``line()``.

        Example:
            | ${cap}= | Run Permission Cap | 70 |
            | Should Be Equal As Integers | ${cap.published} | 64 |
        """
        client, report = self._mock_daemon(daemon)
        return pending_cap.run_permission_cap(client, report, requests=requests, timeout_s=seconds("timeout", timeout))

    @keyword(tags=("permissions", "timers"))
    def leave_permission_unanswered(self, *, timeout: Duration = 15.0, daemon: str | None = None) -> TimeoutResult:
        """Prompt a fresh session with one permission and answer nothing until the daemon resolves it (on a
        daemon started with ``--permission-response-timeout-ms``); then answer late and prompt again.

        Args:
            timeout: Bound on each wait (must exceed the daemon's response timeout).

        Returns:
            ``TimeoutResult``: ``resolved_after_ms`` and ``server_after_ms`` (float or None), ``outcome`` and
            ``voter_client_id`` (str or None), ``agent_received`` (str), ``agent_waited_ms`` (float or None),
            ``late_answer`` (int or None), ``late_already_resolved`` (int), ``turn_end`` and ``next_prompt``
            (str), ``figures()`` and ``line()``.

        Example:
            | ${expiry}= | Leave Permission Unanswered | timeout=10 s |
            | Should Be Equal | ${expiry.outcome} | cancelled |
        """
        client, report = self._mock_daemon(daemon)
        return pending_end.run_permission_timeout(client, report, timeout_s=seconds("timeout", timeout))

    @keyword(tags=("permissions", "load"))
    def run_permission_isolation(
        self,
        others: int = 4,
        rate: float = 8.0,
        *,
        phase: Duration = 1.5,
        blocks: int = 2,
        tolerance: float = 0.5,
        drain: Duration = 3.0,
        daemon: str | None = None,
    ) -> IsolationResult:
        """Fixed-rate prompts on other sessions, in phases alone and while one session's request stays
        unanswered (A B B A blocks), compared with the paired ratio of their median service times.

        Args:
            others: Sessions under load (1..16); each prompt asks one permission, answered at once.
            rate: Prompts per second over them.
            phase: Length of one phase's arrival schedule.
            blocks: A B B A blocks (two pairs each).
            tolerance: How much slower (a fraction: 0.5 = 50 %) the pending phases may be.
            drain: After a phase's last arrival, how long to wait for its turns.

        Returns:
            ``IsolationResult``: ``others`` (int), ``rate`` (float), ``phases`` (list of ``IsolationPhase``),
            ``ratio`` (``PairedEstimate``), ``answered`` (int), ``blocked`` (bool), ``verdict`` (str:
            ``isolated``, ``slower``, ``blocked`` or ``not measured``), ``figures()`` and ``line()``.

        Example:
            | ${iso}= | Run Permission Isolation | 4 | 8 |
            | Should Be Equal | ${iso.verdict} | isolated |
        """
        client, _report = self._mock_daemon(daemon)  # only the mock agent asks permissions when its prompt says so
        return isolation.run_isolation(
            client,
            others=others,
            rate=number("rate", rate, low=0.0, high=200.0, low_open=True),
            phase_s=seconds("phase", phase, high=120),
            blocks=blocks,
            tolerance=tolerance,
            drain_s=seconds("drain", drain, high=120),
        )

    @keyword(tags=("permissions", "assertion"))
    def permission_scenario_should_hold(self, result: Any) -> None:
        """Fail unless a permission scenario's result lists no problem (`Run Permission Round Trips`, `Run First
        Responder Races`): every request resolved exactly once, nothing lost, both sides' counts agreeing.

        Args:
            result: The scenario's result (it has ``problems()``).

        Example:
            | Permission Scenario Should Hold | ${trips} |
        """
        problems = getattr(result, "problems", None)
        if not callable(problems):
            raise HarnessConfigError(
                f"Permission Scenario Should Hold needs a result with problems(), got a {type(result).__name__}."
            )
        found = problems()
        if found:
            shown = "\n- ".join(found[:20])
            more = f"\n(and {len(found) - 20} more)" if len(found) > 20 else ""
            raise AssertionError(f"{len(found)} permission invariant(s) broken; {found[0]}.\n- {shown}{more}")
