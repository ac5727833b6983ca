"""Keywords for permission requests: wait for them, answer them (as one client or several at once), read what
the mock agent received, and answer in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from robotlibcore import keyword

from keywords.checks import Duration, seconds, whole_number
from keywords.components.component import Component
from keywords.context import RunningDaemon
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_report
from keywords.fakes.mock_report import AgentOutcome, ReportCounts
from keywords.traffic.permissions.answering import Answer, PermissionRequest, Resolution, answer, answer_together
from keywords.traffic.permissions.auto_answer import AutoAnswer, AutoAnswerResult
from keywords.traffic.permissions.request_watch import PermissionWatch, open_watch

Decision = Literal["select", "reject", "cancel"]
Allowing = Literal["select", "reject"]


def mock_report_of(running: RunningDaemon) -> Path:
    """The report of a daemon's mock agent; a daemon with the real agent has none.

    Raises:
        HarnessConfigError: the daemon runs the real agent.
    """
    if running.control_file is None:
        raise HarnessConfigError(
            f"{running.daemon.name} runs the real agent; permission scenarios need the mock agent's report "
            "(start it with Start Daemon With Mock Agent)."
        )
    return mock_report.report_path(running.daemon.home)


class PermissionKeywords(Component):
    """Permission requests of the daemon and their answers, with the mock agent's view of them.

    The mock agent asks for permission when a prompt's mock settings say so (``tool_calls=3 permissions=3``);
    the daemon publishes each request on the session's stream and waits for a client's answer. What the agent
    received is in its report (``<daemon HOME>/mock-acp/report.ndjson``). Harness times are its monotonic clock;
    a figure that compares the harness with the agent compares the wall clocks of the two processes.
    """

    # -- single requests ------------------------------------------------------------------------------
    @keyword(tags=("permissions", "events"))
    def watch_permission_requests(
        self,
        session_id: str,
        *,
        timeout: Duration = 120.0,
        client_id: str | None = None,
        replay: bool = False,
        daemon: str | None = None,
    ) -> PermissionWatch:
        """Subscribe to a session's events in the background and hand out its permission requests in order.

        Returns once the daemon answered the subscription. Stopping the daemon stops the watch.

        Args:
            session_id: The session.
            timeout: Bound on the whole subscription (``2 min``, ``30 s`` or seconds).
            client_id: ``X-Qwen-Client-Id`` of the subscriber.
            replay: Replay the session's ring first (``Last-Event-ID: 0``), so requests published before are
                handed out too.

        Returns:
            The running ``PermissionWatch`` (give it to `Wait For Permission Request`).

        Example:
            | ${watch}= | Watch Permission Requests | ${sid} |
            | Send Prompt | ${sid} | ask | tool_calls=1 | permissions=1 |
            | ${request}= | Wait For Permission Request | ${watch} |
        """
        running = self.ctx.get(daemon)
        watch = open_watch(
            running.client,
            session_id,
            timeout_s=seconds("timeout", timeout),
            client_id=client_id,
            last_event_id=0 if replay else None,
        )
        running.subscriptions.append(watch)
        return watch

    @keyword(tags=("permissions", "events"))
    def wait_for_permission_request(self, watch: PermissionWatch, *, timeout: Duration = 10.0) -> PermissionRequest:
        """The watch's next permission request not handed out yet; fails when none arrives in time.

        Args:
            watch: From `Watch Permission Requests`.
            timeout: How long to wait (``10 s``, or seconds).

        Returns:
            ``PermissionRequest``: ``request_id`` (str), ``session_id`` (str), ``prompt_id`` (str or None),
            ``tool_call_id`` (str or None), ``title`` (str or None), ``options`` (tuple of option ids),
            ``option_kinds`` (tuple of kinds), ``originator_client_id`` (str or None), ``event_id`` (int or
            None), ``server_ms`` (float, the daemon's timestamp), ``seen_mono`` (float s, monotonic),
            ``seen_wall`` (float s, wall clock).

        Example:
            | ${request}= | Wait For Permission Request | ${watch} | timeout=5 s |
            | Should Be Equal | ${request.tool_call_id} | call-1 |
        """
        wait_s = seconds("timeout", timeout, high=600)
        request = watch.next_request(wait_s)
        if request is None:
            raise AssertionError(
                f"No permission request arrived on session {watch.session_id} within {wait_s:g} s "
                f"(stream: {watch.result.summary()})."
            )
        return request

    @keyword(tags=("permissions",))
    def answer_permission_request(
        self,
        request: PermissionRequest,
        decision: Decision = "select",
        *,
        option_id: str | None = None,
        client_id: str | None = None,
        daemon: str | None = None,
    ) -> Answer:
        """Answer a permission request as one client; the daemon's status is returned, not checked.

        Args:
            request: From `Wait For Permission Request`.
            decision: ``select`` (the given ``option_id``, else the first ``allow_*`` option), ``reject`` (the
                given ``option_id``, else the first ``reject_*`` option) or ``cancel``.
            option_id: The option to send (one the request offered).
            client_id: ``X-Qwen-Client-Id`` to answer as (one registered on the session); none by default.

        Returns:
            ``Answer``: ``request_id`` (str), ``client_id`` (str or None), ``decision`` (str), ``option_id``
            (str or None), ``status`` (int: 200 accepted, 404 unknown or already resolved, 403 forbidden by the
            policy, 400 a bad answer, 0 transport failure), ``code`` (str or None), ``error`` (str or None),
            ``sent_mono`` (float s), ``sent_wall`` (float s), ``elapsed_ms`` (float), ``accepted`` (bool).

        Example:
            | ${answer}= | Answer Permission Request | ${request} | reject |
            | Should Be Equal As Integers | ${answer.status} | 200 |
        """
        return answer(self.ctx.get(daemon).client, request, decision, option_id=option_id, client_id=client_id)

    @keyword(tags=("permissions",))
    def answer_permission_request_together(
        self,
        request: PermissionRequest,
        *client_ids: str,
        decision: Decision = "select",
        option_id: str | None = None,
        daemon: str | None = None,
    ) -> list[Answer]:
        """Several clients answer the same request at the same instant (threads released by one barrier).

        Args:
            request: From `Wait For Permission Request`.
            client_ids: The clients, one answer each (``NONE`` sends no ``X-Qwen-Client-Id``).
            decision: ``select``, ``reject`` or ``cancel``, as for `Answer Permission Request`.
            option_id: The option to send.

        Returns:
            One ``Answer`` per client, in the order given (fields as for `Answer Permission Request`).

        Example:
            | ${answers}= | Answer Permission Request Together | ${request} | ${a.client_id} | ${b.client_id} |
            | Should Be Equal As Integers | ${answers}[0].status | 200 |
        """
        ids = [None if c in (None, "NONE", "") else c for c in client_ids]
        return answer_together(self.ctx.get(daemon).client, request, ids, decision, option_id=option_id)

    @keyword(tags=("permissions", "events"))
    def wait_for_permission_resolution(
        self, watch: PermissionWatch, request: PermissionRequest, *, refusals: int = 0, timeout: Duration = 5.0
    ) -> Resolution:
        """Wait until the stream shows the request resolved (and ``refusals`` late votes refused); return what
        it showed. Not resolved in time is returned (``resolved`` 0), not failed.

        Args:
            watch: The watch that read the request.
            request: The request.
            refusals: How many ``permission_already_resolved`` frames to wait for too.
            timeout: How long to wait.

        Returns:
            ``Resolution``: ``request_id`` (str), ``resolved`` (int frames), ``outcome`` (str or None),
            ``option_id`` (str or None), ``voter_client_id`` (str or None), ``resolved_mono`` (float s or None),
            ``server_ms`` (float or None), ``already_resolved`` (int), ``forbidden`` (int), ``partial_votes``
            (int).

        Example:
            | ${res}= | Wait For Permission Resolution | ${watch} | ${request} | refusals=2 |
            | Should Be Equal | ${res.voter_client_id} | ${winner} |
        """
        refusals = whole_number("refusals", refusals, low=0, high=1000)
        return watch.resolution(request.request_id, refusals=refusals, timeout_s=seconds("timeout", timeout))

    # -- the mock agent's side -----------------------------------------------------------------------------
    @keyword(tags=("permissions", "mock"))
    def wait_for_agent_permission_outcome(
        self, request: PermissionRequest, *, timeout: Duration = 5.0, daemon: str | None = None
    ) -> AgentOutcome:
        """What the mock agent received for a request (its report), waiting until it received something.

        Args:
            request: The request as the stream showed it (linked to the agent's by session and tool call).
            timeout: How long to wait for the agent's record.

        Returns:
            ``AgentOutcome``: ``session_id`` (str), ``agent_request_id`` (str), ``tool_call_id`` (str), ``event``
            (``permission_outcome`` or ``permission_abandoned``), ``outcome`` (str or None), ``option_id`` (str or
            None), ``cancel_reason`` (str or None), ``error`` (JSON-RPC error or None), ``action`` (str or None),
            ``waited_ms`` (float, the agent's clock), ``late`` (bool), ``wall`` (float s, the agent's wall clock).

        Example:
            | ${got}= | Wait For Agent Permission Outcome | ${request} |
            | Should Be Equal | ${got.outcome} | selected |
        """
        path = mock_report_of(self.ctx.get(daemon, alive=False))
        tool = str(request.tool_call_id)
        wait_s = seconds("timeout", timeout, high=600)
        report, met = mock_report.wait_for(
            path, lambda r: bool(r.outcomes_for(request.session_id, tool)), timeout_s=wait_s
        )
        if not met:
            raise AssertionError(
                f"The mock agent recorded no answer for tool call {tool} of session {request.session_id} within "
                f"{wait_s:g} s (it sent {len(report.requests(request.session_id))} requests on that session)."
            )
        return report.outcomes_for(request.session_id, tool)[0]

    @keyword(tags=("permissions", "mock"))
    def get_agent_permission_counts(self, *session_ids: str, daemon: str | None = None) -> ReportCounts:
        """The mock agent's permission counts from its report (of the given sessions, or of all).

        Args:
            session_ids: Sessions to count; all sessions when none is given.

        Returns:
            ``ReportCounts``: ``requests``, ``outcomes``, ``abandoned``, ``late``, ``answered_twice``,
            ``unanswered`` and ``stray`` (int each), ``figures()`` and ``line()``.

        Example:
            | ${counts}= | Get Agent Permission Counts | ${sid} |
            | Should Be Equal As Integers | ${counts.answered_twice} | 0 |
        """
        report = mock_report.read(mock_report_of(self.ctx.get(daemon, alive=False)))
        return report.counts(list(session_ids) or None)

    # -- background answers --------------------------------------------------------------------------------
    @keyword(tags=("permissions",))
    def start_permission_auto_answer(
        self,
        session_id: str,
        decision: Allowing = "select",
        *,
        client_id: str | None = None,
        timeout: Duration = 600.0,
        daemon: str | None = None,
    ) -> AutoAnswer:
        """Answer every permission request of a session as soon as it is read, in the background, so other
        scenarios can run turns that ask (``tool_calls=4 permissions=2``).

        Args:
            session_id: The session.
            decision: ``select`` (allow) or ``reject`` (the tool call fails, the turn goes on).
            client_id: ``X-Qwen-Client-Id`` to answer as.
            timeout: Bound on the answerer's life.

        Returns:
            The running ``AutoAnswer``; `Stop Permission Auto Answer` ends it and says what it did.

        Example:
            | ${auto}= | Start Permission Auto Answer | ${sid} |
            | Prompt And Wait | ${sid} | work | tool_calls=4 | permissions=2 |
            | ${done}= | Stop Permission Auto Answer | ${auto} |
        """
        running = self.ctx.get(daemon)
        auto = AutoAnswer(
            running.client, session_id, decision=decision, client_id=client_id, timeout_s=seconds("timeout", timeout)
        ).start()
        if auto.watch is not None:
            running.subscriptions.append(auto.watch)
        return auto

    @keyword(tags=("permissions",))
    def stop_permission_auto_answer(self, auto: AutoAnswer) -> AutoAnswerResult:
        """Stop a background answerer.

        Args:
            auto: From `Start Permission Auto Answer`.

        Returns:
            ``AutoAnswerResult``: ``session_id`` (str), ``decision`` (str), ``answered`` (int), ``refused``
            (dict status -> count), ``latency`` (``LatencySummary`` of request read -> answer accepted, ms, or
            None), ``figures()`` and ``line()``.

        Example:
            | ${done}= | Stop Permission Auto Answer | ${auto} |
            | Should Be Equal As Integers | ${done.answered} | 2 |
        """
        return auto.stop()
