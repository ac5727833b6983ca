"""Permission requests of the daemon: waiting for them on a stream, answering them, and the round-trip engine.

The agent asks with ``session/request_permission``; the daemon publishes ``permission_request`` on the
session's SSE stream (with its own ``requestId``) and waits for a client to answer
``POST /session/:id/permission/:requestId`` (``docs/daemon-permissions.md``). Here:

* :class:`PermissionWatch` - a background subscription that hands out the session's permission requests in
  order and wakes its waiters at every frame (no polling);
* :func:`answer` - one answer as one client (select an option, reject, cancel); :func:`answer_together` - several
  clients answering the same request at the same instant (:func:`keywords.traffic.barrier.run_together`);
* :class:`AutoAnswer` - a background answerer that allows every request of a session as soon as it is read,
  so other scenarios can run turns that ask permissions;
* :func:`run_round_trips` - N sessions whose prompts each ask K permissions, every request answered as soon
  as it is read, with the counts from the streams and from the mock agent's report.

Clocks: the harness's times are its monotonic clock (``seen_mono``, ``sent_mono``); the mock agent's report has
its own clocks, so a figure that spans the harness and the agent compares **wall clocks** (``time.time()``) of
the two processes on one machine, and says so in its name's documentation.

Threads here never log and never call Robot Framework.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from keywords.checks import choice, seconds, whole_number
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_report
from keywords.fakes.mock_report import ReportCounts
from keywords.measure.metrics import LatencySummary, summarize
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.sse import TERMINAL_TYPES, TURN_END_TYPES, StreamOptions, Subscription
from mock_acp import directives

T = TypeVar("T")
Decision = Literal["select", "reject", "cancel"]
DECISIONS = ("select", "reject", "cancel")
ROUTE = "/session/:id/permission/:requestId"
CLIENT_HEADER = "X-Qwen-Client-Id"
VOTE_EVENTS = ("permission_resolved", "permission_already_resolved", "permission_partial_vote", "permission_forbidden")
"""The frames a vote can produce (one per vote): resolved, refused as late, counted (consensus), forbidden."""
MAX_PERMISSIONS = 64  # the daemon's per-session cap on pending requests (0.24.4)


# -- one request, one answer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionRequest:
    """A ``permission_request`` frame as the harness read it.

    Attributes:
        request_id: The daemon's id of the request (a UUID; the answer route takes it).
        session_id: The session.
        prompt_id: The prompt (turn) that asked, or ``None``.
        tool_call_id: The agent's tool call (``call-<n>`` with the mock; links the request to the agent's report).
        title: The tool call's title.
        options: The offered option ids, in order.
        option_kinds: Their kinds (``allow_once``, ``reject_once``...), in the same order.
        originator_client_id: The client whose prompt asked (the envelope's ``originatorClientId``), if any.
        event_id: The frame's event id.
        server_ms: The daemon's ``serverTimestamp`` of the frame (its wall clock, ms).
        seen_mono: When the harness read the frame (monotonic clock, s).
        seen_wall: The same moment on the wall clock (s since the epoch).
    """

    request_id: str
    session_id: str
    prompt_id: str | None
    tool_call_id: str | None
    title: str | None
    options: tuple[str, ...]
    option_kinds: tuple[str, ...]
    originator_client_id: str | None
    event_id: int | None
    server_ms: float | None
    seen_mono: float
    seen_wall: float

    @classmethod
    def from_event(cls, env: dict[str, Any], started_at: float) -> PermissionRequest:
        """The request in a kept frame of a stream that started at ``started_at`` (monotonic s)."""
        data = env.get("data") if isinstance(env.get("data"), dict) else {}
        tool = data.get("toolCall") if isinstance(data.get("toolCall"), dict) else {}
        options = [o for o in data.get("options") or [] if isinstance(o, dict)]
        stamp = (env.get("_meta") or {}).get("serverTimestamp")
        return cls(
            request_id=str(data.get("requestId")),
            session_id=str(data.get("sessionId")),
            prompt_id=env.get("promptId"),
            tool_call_id=tool.get("toolCallId"),
            title=tool.get("title"),
            options=tuple(str(o.get("optionId")) for o in options),
            option_kinds=tuple(str(o.get("kind")) for o in options),
            originator_client_id=env.get("originatorClientId"),
            event_id=env.get("id") if isinstance(env.get("id"), int) else None,
            server_ms=float(stamp) if isinstance(stamp, (int, float)) else None,
            seen_mono=started_at + env.get("_recv_ms", 0.0) / 1000,
            seen_wall=float(env.get("_wall", time.time())),
        )

    def outcome(self, decision: str = "select", option_id: str | None = None) -> dict[str, Any]:
        """The answer body for a decision: ``select`` (``option_id``, else the first ``allow_*`` option),
        ``reject`` (``option_id``, else the first ``reject_*`` option) or ``cancel``.

        Raises:
            HarnessConfigError: an unknown decision, an ``option_id`` the request did not offer, or no option of
                the kind the decision needs.
        """
        decision = choice("decision", decision, DECISIONS)
        if decision == "cancel":
            return {"outcome": {"outcome": "cancelled"}}
        if option_id is not None:
            if option_id not in self.options:
                raise HarnessConfigError(
                    f"option_id must be one of the offered options {', '.join(self.options)}; got {option_id!r}."
                )
            return {"outcome": {"outcome": "selected", "optionId": option_id}}
        prefix = "allow" if decision == "select" else "reject"
        for option, kind in zip(self.options, self.option_kinds, strict=True):
            if kind.startswith(prefix):
                return {"outcome": {"outcome": "selected", "optionId": option}}
        raise HarnessConfigError(
            f"Request {self.request_id} offers no {prefix}_* option "
            f"(offered: {', '.join(self.option_kinds) or 'none'}); give option_id, or let the mock offer one with "
            "permission_options."
        )


@dataclass(frozen=True)
class Answer:
    """One client's answer to a request and the daemon's reply.

    Attributes:
        request_id: The request answered.
        client_id: ``X-Qwen-Client-Id`` sent (``None``: no header).
        decision: ``select``, ``reject`` or ``cancel``.
        option_id: The option sent (``None`` for cancel).
        status: HTTP status (200 accepted; 404 unknown or already resolved; 403 forbidden by the policy; 400
            bad answer); 0 when the request failed in transport.
        code: The daemon's ``code`` field (``permission_forbidden``...), if any.
        error: The daemon's ``error`` text, or the transport error.
        sent_mono: When the POST was sent (monotonic clock, s).
        sent_wall: The same moment on the wall clock (s since the epoch).
        elapsed_ms: POST sent to reply read (monotonic clock, ms).
    """

    request_id: str
    client_id: str | None
    decision: str
    option_id: str | None
    status: int
    code: str | None
    error: str | None
    sent_mono: float
    sent_wall: float
    elapsed_ms: float

    @property
    def accepted(self) -> bool:
        """The daemon took the answer (200)."""
        return self.status == 200


def answer(
    client: DaemonClient,
    request: PermissionRequest,
    decision: str = "select",
    *,
    option_id: str | None = None,
    client_id: str | None = None,
) -> Answer:
    """Answer one request as one client; a refusal is returned as the answer's status, never raised.

    Raises:
        HarnessConfigError: a bad decision or option (before anything is sent).
    """
    body = request.outcome(decision, option_id)
    chosen = body["outcome"].get("optionId")
    headers = {CLIENT_HEADER: client_id} if client_id else {}
    sent_wall, sent = time.time(), time.monotonic()
    try:
        reply = client.request(
            "POST",
            f"/session/{request.session_id}/permission/{request.request_id}",
            json_body=body,
            headers=headers,
            expected=None,
            route=ROUTE,
        )
    except httpx.HTTPError as exc:
        elapsed = (time.monotonic() - sent) * 1000
        return Answer(
            request.request_id,
            client_id,
            decision,
            chosen,
            0,
            None,
            f"{type(exc).__name__}: {exc}",
            sent,
            sent_wall,
            elapsed,
        )
    body_ = reply.body if isinstance(reply.body, dict) else {}
    return Answer(
        request.request_id,
        client_id,
        decision,
        chosen,
        reply.status,
        reply.code,
        body_.get("error"),
        sent,
        sent_wall,
        reply.elapsed_ms,
    )


def answer_together(
    client: DaemonClient,
    request: PermissionRequest,
    client_ids: Sequence[str | None],
    decision: str = "select",
    *,
    option_id: str | None = None,
    barrier_timeout_s: float = 10.0,
) -> list[Answer]:
    """Several clients answer the same request at the same instant (threads released by one barrier).

    Returns:
        One :class:`Answer` per client, in the order of ``client_ids``.

    Raises:
        HarnessConfigError: no client, a bad decision or option (before anything is sent).
        BarrierBrokenError: the answers could not start together.
    """
    if not client_ids:
        raise HarnessConfigError("Answering together needs at least one client id.")
    request.outcome(decision, option_id)  # check before any thread starts
    results = run_together(
        len(client_ids),
        lambda i: answer(client, request, decision, option_id=option_id, client_id=client_ids[i]),
        timeout_s=barrier_timeout_s,
        what="answers",
    )
    for item in results:
        if isinstance(item, Exception):
            raise item
    return list(results)  # type: ignore[arg-type]


# -- what the stream says about a request --------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """The frames a stream showed for one request after it was published.

    Attributes:
        request_id: The request.
        resolved: ``permission_resolved`` frames for it (exactly 1 when it was resolved once).
        outcome: ``selected`` or ``cancelled`` (of the first ``permission_resolved``), or ``None``.
        option_id: The option it was resolved with, if selected.
        voter_client_id: The client whose vote resolved it (``data.voterClientId``); ``None`` when the daemon
            resolved it itself (timeout, cancel, close) or the voter sent no client id.
        resolved_mono: When the harness read the first ``permission_resolved`` (monotonic clock, s).
        server_ms: Its ``serverTimestamp`` (the daemon's wall clock, ms).
        already_resolved: ``permission_already_resolved`` frames (one per late vote).
        forbidden: ``permission_forbidden`` frames (votes the policy refused).
        partial_votes: ``permission_partial_vote`` frames (votes counted towards a consensus).
    """

    request_id: str
    resolved: int = 0
    outcome: str | None = None
    option_id: str | None = None
    voter_client_id: str | None = None
    resolved_mono: float | None = None
    server_ms: float | None = None
    already_resolved: int = 0
    forbidden: int = 0
    partial_votes: int = 0


def resolution_of(events: Sequence[dict[str, Any]], request_id: str, started_at: float) -> Resolution:
    """Count the frames about ``request_id`` in a stream's kept frames (stream started at ``started_at``)."""
    counts: Counter[str] = Counter()
    first: dict[str, Any] | None = None
    for env in events:
        etype = env.get("type")
        if etype not in VOTE_EVENTS:
            continue
        data = env.get("data") if isinstance(env.get("data"), dict) else {}
        if data.get("requestId") != request_id:
            continue
        counts[etype] += 1
        if etype == "permission_resolved" and first is None:
            first = env
    if first is None:
        return Resolution(
            request_id,
            already_resolved=counts["permission_already_resolved"],
            forbidden=counts["permission_forbidden"],
            partial_votes=counts["permission_partial_vote"],
        )
    data = first["data"]
    outcome = data.get("outcome") if isinstance(data.get("outcome"), dict) else {}
    stamp = (first.get("_meta") or {}).get("serverTimestamp")
    return Resolution(
        request_id,
        resolved=counts["permission_resolved"],
        outcome=outcome.get("outcome"),
        option_id=outcome.get("optionId"),
        voter_client_id=data.get("voterClientId"),
        resolved_mono=started_at + first.get("_recv_ms", 0.0) / 1000,
        server_ms=float(stamp) if isinstance(stamp, (int, float)) else None,
        already_resolved=counts["permission_already_resolved"],
        forbidden=counts["permission_forbidden"],
        partial_votes=counts["permission_partial_vote"],
    )


def _prompt_of(env: dict[str, Any]) -> str | None:
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    return env.get("promptId") or data.get("promptId")


class PermissionWatch(Subscription):
    """A background subscription to one session that hands out its permission requests in arrival order.

    Every frame wakes the threads waiting in :meth:`wait_until`, so a request is answered as soon as it is read.
    Each kept frame also gets ``_wall`` (wall-clock receipt time, s), for figures that compare with the mock
    agent's report.

    Args:
        base_url: Daemon base URL (loopback).
        session_id: The session to follow.
        token: Bearer token, if the daemon needs one.
        timeout_s: Bound on the whole subscription.
        client_id: ``X-Qwen-Client-Id`` of the subscriber (diagnostic only for SSE).
        last_event_id: Replay after this id (``0`` replays the ring: requests published before are handed out too).
    """

    def __init__(
        self,
        base_url: str,
        session_id: str,
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        client_id: str | None = None,
        last_event_id: int | None = None,
    ) -> None:
        timeout_s = seconds("timeout", timeout_s, high=3600)
        options = StreamOptions(timeout_s=timeout_s, client_id=client_id, last_event_id=last_event_id)
        super().__init__(base_url, session_id, options, token)
        self._changed = threading.Condition()
        self._cursor = 0

    def _take(self, data: str, recv_ms: float, counts: Counter) -> None:
        before = self._last
        super()._take(data, recv_ms, counts)
        if self._last is not None and self._last is not before:
            self._last["_wall"] = time.time()
        with self._changed:
            self._changed.notify_all()

    def run(self):
        """Read until the stream ends, then wake every waiter (they see it ended)."""
        try:
            return super().run()
        finally:
            with self._changed:
                self._changed.notify_all()

    def wait_until(self, found: Callable[[list[dict[str, Any]]], T | None], timeout_s: float) -> T | None:
        """Call ``found(frames)`` at every new frame until it returns something, the stream ends, or the time is up.

        Returns:
            What ``found`` returned, or ``None``.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._changed:
            while True:
                value = found(self.result.events)
                if value is not None:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.done:
                    return None
                self._changed.wait(min(remaining, 0.25))

    def next_request(self, timeout_s: float = 10.0) -> PermissionRequest | None:
        """The next ``permission_request`` not handed out yet (waiting up to ``timeout_s``), or ``None``."""

        def find(events: list[dict[str, Any]]) -> PermissionRequest | None:
            for index in range(self._cursor, len(events)):
                if events[index].get("type") == "permission_request":
                    self._cursor = index + 1
                    return PermissionRequest.from_event(events[index], self.result.started_at)
            self._cursor = len(events)
            return None

        return self.wait_until(find, timeout_s)

    def requests(self) -> list[PermissionRequest]:
        """Every ``permission_request`` read so far (handed out or not), in order."""
        return [
            PermissionRequest.from_event(e, self.result.started_at)
            for e in list(self.result.events)
            if e.get("type") == "permission_request"
        ]

    def resolution(self, request_id: str, *, refusals: int = 0, timeout_s: float = 5.0) -> Resolution:
        """Wait until the request was resolved and ``refusals`` late votes were refused
        (``permission_already_resolved``), or the time is up; return what the stream showed by then."""

        def find(events: list[dict[str, Any]]) -> Resolution | None:
            seen = resolution_of(events, request_id, self.result.started_at)
            return seen if seen.resolved and seen.already_resolved >= refusals else None

        return self.wait_until(find, timeout_s) or resolution_of(
            list(self.result.events), request_id, self.result.started_at
        )

    def next_vote_event(self, after: int, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """The first vote frame (:data:`VOTE_EVENTS`) among the kept frames past index ``after``, or ``None``."""

        def find(events: list[dict[str, Any]]) -> dict[str, Any] | None:
            return next((e for e in events[after:] if e.get("type") in VOTE_EVENTS), None)

        return self.wait_until(find, timeout_s)

    def turn_end(self, prompt_id: str, timeout_s: float = 30.0) -> dict[str, Any] | None:
        """The frame that ended the turn of ``prompt_id`` (``turn_complete``/``turn_error``), or the session's
        terminal frame (``session_closed``, ``session_died``, ``client_evicted``); ``None`` within the time."""

        def find(events: list[dict[str, Any]]) -> dict[str, Any] | None:
            for env in events:
                etype = env.get("type")
                if etype in TURN_END_TYPES and _prompt_of(env) == prompt_id:
                    return env
                if etype in TERMINAL_TYPES:
                    return env
            return None

        return self.wait_until(find, timeout_s)

    def frame_mono(self, env: dict[str, Any]) -> float:
        """When the harness read a kept frame (monotonic clock, s)."""
        return self.result.started_at + env.get("_recv_ms", 0.0) / 1000


def open_watch(client: DaemonClient, session_id: str, *, timeout_s: float = 120.0, **options: Any) -> PermissionWatch:
    """Start a :class:`PermissionWatch` and wait for the daemon's answer to the subscription.

    Raises:
        AssertionError: the stream did not answer within 10 s, or not with 200.
    """
    watch = PermissionWatch(client.base_url, session_id, token=client.token, timeout_s=timeout_s, **options).start()
    if not watch.wait_connected(10.0):
        watch.stop()
        raise AssertionError(f"The event stream of session {session_id} did not answer within 10 s.")
    if watch.result.status != 200:
        watch.join(5.0)
        raise AssertionError(
            f"The event stream of session {session_id} was refused with {watch.result.status}: "
            f"{watch.result.error_status_body}."
        )
    return watch


def end_watch(watch: PermissionWatch) -> None:
    """Stop a watch and wait for its reader (bounded)."""
    watch.stop()
    watch.join(5.0)


# -- a background answerer ------------------------------------------------------------------------------------


@dataclass
class AutoAnswerResult:
    """What a background answerer did.

    Attributes:
        session_id: The session it answered.
        decision: What it answered (``select`` or ``reject``).
        answered: Answers the daemon accepted (200).
        refused: Answers the daemon refused (any other status), by status.
        latency: The request read to the accepted answer's reply (harness monotonic clock, ms).
    """

    session_id: str
    decision: str
    answered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    latency: LatencySummary | None = None

    def figures(self) -> dict[str, Any]:
        """``answered``, ``refused`` (status -> count) and ``answerLatency`` (percentiles, ms)."""
        return {
            "answered": self.answered,
            "refused": dict(self.refused),
            "answerLatency": self.latency.to_dict() if self.latency else None,
        }

    def line(self) -> str:
        """``auto-answer: 40 answered, 0 refused, p50 3.1 ms``."""
        p50 = "n/a" if self.latency is None or self.latency.p50 is None else f"{self.latency.p50:.1f} ms"
        return f"auto-answer: {self.answered} answered, {sum(self.refused.values())} refused, p50 {p50}"


class AutoAnswer:
    """Answer every permission request of a session as soon as it is read, in a background thread.

    Args:
        client: Client of the daemon.
        session_id: The session to answer.
        decision: ``select`` (allow) or ``reject``.
        client_id: ``X-Qwen-Client-Id`` to answer as (``None``: no header).
        timeout_s: Bound on the whole run (the subscription's timeout).
    """

    def __init__(
        self,
        client: DaemonClient,
        session_id: str,
        *,
        decision: str = "select",
        client_id: str | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self.decision = choice("decision", decision, ("select", "reject"))
        self.client = client
        self.session_id = session_id
        self.client_id = client_id
        self.timeout_s = seconds("timeout", timeout_s, high=3600)
        self.watch: PermissionWatch | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latency_ms: list[float] = []
        self._statuses: Counter[int] = Counter()

    def start(self) -> AutoAnswer:
        """Subscribe (waiting for the daemon's answer) and start answering."""
        self.watch = open_watch(self.client, self.session_id, timeout_s=self.timeout_s)
        self._thread = threading.Thread(target=self._run, name=f"auto-answer-{self.session_id[:8]}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        watch = self.watch
        while watch is not None and not self._stop.is_set() and not watch.done:
            request = watch.next_request(0.25)
            if request is None:
                continue
            reply = answer(self.client, request, self.decision, client_id=self.client_id)
            self._statuses[reply.status] += 1
            if reply.accepted:
                self._latency_ms.append((reply.sent_mono + reply.elapsed_ms / 1000 - request.seen_mono) * 1000)

    def stop(self) -> AutoAnswerResult:
        """Stop answering and subscribing; return what was done."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self.watch is not None:
            end_watch(self.watch)
        refused = {str(status): n for status, n in sorted(self._statuses.items()) if status != 200}
        return AutoAnswerResult(
            self.session_id,
            self.decision,
            answered=self._statuses.get(200, 0),
            refused=refused,
            latency=summarize(self._latency_ms, "answer") if self._latency_ms else None,
        )


# -- the round-trip engine ------------------------------------------------------------------------------------


@dataclass
class RoundTripResult:
    """N sessions whose prompts each asked K permissions, every request answered as soon as it was read.

    Counts come from two sides that must agree: the SSE streams (what the daemon published) and the mock
    agent's report (what the agent sent and received).

    Attributes:
        sessions: Sessions prompted.
        permissions: Permission requests each prompt asked.
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
        wall_ms: The whole run (harness monotonic, ms).
    """

    sessions: int
    permissions: int
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
    wall_ms: float = 0.0

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
            if agent.requests != want:
                found.append(f"the agent sent {agent.requests} permission requests, {want} were asked")
            if agent.outcomes != want:
                found.append(f"the agent received {agent.outcomes} answers for {want} requests")
            if agent.answered_twice:
                found.append(f"{agent.answered_twice} requests reached the agent answered more than once")
            if agent.unanswered:
                found.append(f"{agent.unanswered} requests never reached the agent answered")
            if agent.stray:
                found.append(f"the agent received {agent.stray} answers to no request of its own")
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


def turn_end_text(env: dict[str, Any] | None) -> str:
    """``turn_complete end_turn``, ``turn_error prompt_deadline_exceeded``, ``session_closed`` or ``timeout``."""
    if env is None:
        return "timeout"
    etype = env.get("type")
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    if etype == "turn_complete":
        return f"turn_complete {data.get('stopReason')}"
    if etype == "turn_error":
        return f"turn_error {data.get('code')}"
    return str(etype)


def permission_prompt(permissions: int, text: str = "permission round trip", **settings: Any) -> str:
    """A prompt whose mock turn runs ``permissions`` tool calls, each asking first (plus other mock settings)."""
    tool_calls = settings.pop("tool_calls", permissions)
    try:
        prefix = directives.format_directive(tool_calls=tool_calls, permissions=permissions, **settings)
    except directives.MockSettingsError as exc:
        raise HarnessConfigError(str(exc)) from exc
    return f"{prefix} {text}"


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

    Raises:
        HarnessConfigError: a bad argument (before anything is sent).
    """
    sessions = whole_number("sessions", sessions, low=1, high=64)
    permissions = whole_number("permissions", permissions, low=1, high=MAX_PERMISSIONS)
    decision = choice("decision", decision, ("select", "reject"))
    timeout_s = seconds("timeout", timeout_s, high=600)
    text = permission_prompt(permissions)
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

        runs = run_together(sessions, one, what="sessions")
        failed = [r for r in runs if isinstance(r, Exception)]
        if failed:
            raise failed[0]
        done: list[_SessionRun] = list(runs)  # type: ignore[arg-type]
        asked = sessions * permissions
        report, _met = mock_report.wait_for(
            report_path, lambda r: r.counts(ids).outcomes >= asked, timeout_s=min(5.0, timeout_s)
        )
        return _round_trip_result(sessions, permissions, done, watches, report, ids, time.monotonic() - started)
    finally:
        for watch in watches:
            end_watch(watch)
        for sid in ids:
            with contextlib.suppress(Exception):
                client.close_session(sid, expected=None)


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
