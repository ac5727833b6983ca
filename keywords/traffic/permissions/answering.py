"""One permission request and its answers: the request as a stream showed it, one client's answer, several
clients answering at the same instant, and what the stream then said about the request.

The daemon publishes ``permission_request`` (with its own ``requestId``) and waits for a client to answer
``POST /session/:id/permission/:requestId``; every vote produces one frame (:data:`VOTE_EVENTS`). Nothing here
imports Robot Framework.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from keywords.checks import choice
from keywords.errors import HarnessConfigError
from keywords.traffic.barrier import results_or_raise, run_together
from keywords.traffic.client import DaemonClient

Decision = Literal["select", "reject", "cancel"]
DECISIONS = ("select", "reject", "cancel")
ROUTE = "/session/:id/permission/:requestId"
CLIENT_HEADER = "X-Qwen-Client-Id"
VOTE_EVENTS = ("permission_resolved", "permission_already_resolved", "permission_partial_vote", "permission_forbidden")
"""The frames a vote can produce (one per vote): resolved, refused as late, counted (consensus), forbidden."""
MAX_PERMISSIONS = 64  # the daemon's per-session cap on pending requests (0.24.4)


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
        status, code, error, elapsed = 0, None, f"{type(exc).__name__}: {exc}", (time.monotonic() - sent) * 1000
    else:
        said = reply.body if isinstance(reply.body, dict) else {}
        status, code, error, elapsed = reply.status, reply.code, said.get("error"), reply.elapsed_ms
    chosen = body["outcome"].get("optionId")
    return Answer(request.request_id, client_id, decision, chosen, status, code, error, sent, sent_wall, elapsed)


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
    return results_or_raise(results)


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
