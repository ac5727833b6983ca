"""Requests from the agent to the client (``session/request_permission``), their answers, and what the agent
does with them: allow, reject, cancel the turn, or fail the tool call. Stdlib only."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from mock_acp.directives import ALLOW_KINDS, PromptSettings
from mock_acp.prompts import Prompt, Stopped
from mock_acp.report import Reporter
from mock_acp.wire import Output

OPTION_NAMES = {
    "allow_once": "Allow once",
    "allow_always": "Allow always",
    "reject_once": "Reject once",
    "reject_always": "Reject always",
}


class Waiter:
    """One permission request the agent sent to the client, and its answer once it arrives.

    Attributes:
        request_id: The JSON-RPC id the agent used.
        session_id: The session of the request.
        tool_call_id: The tool call it asks about.
        kinds: The option kinds (= optionIds) it offered.
        stopped: The asking prompt's stop event (an answer after it is set is late).
        sent_mono: When it was sent (this process's monotonic clock).
        answered: Set when the answer arrives or when the waiting prompt is stopped.
        reply: The answer message (with ``result`` or ``error``), None until it arrives.
    """

    def __init__(
        self, request_id: str, session_id: str, tool_call_id: str, kinds: list[str], stopped: threading.Event
    ) -> None:
        """Create the record of request `request_id`."""
        self.request_id = request_id
        self.session_id = session_id
        self.tool_call_id = tool_call_id
        self.kinds = kinds
        self.stopped = stopped
        self.sent_mono = time.monotonic()
        self.answered = threading.Event()
        self.reply: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The report fields naming the request."""
        return {"sessionId": self.session_id, "requestId": self.request_id, "toolCallId": self.tool_call_id}

    def waited_ms(self) -> float:
        """Milliseconds since the request was sent."""
        return round((time.monotonic() - self.sent_mono) * 1000, 3)


class Outgoing:
    """Requests from the agent to the client (``session/request_permission``), matched to their answers."""

    def __init__(self, out: Output) -> None:
        """Send through `out`."""
        self._out = out
        self._ids = itertools.count(1)
        self._waiting: dict[str, Waiter] = {}
        self._lock = threading.Lock()

    def prepare(self, record: Prompt, tool_call_id: str, kinds: list[str]) -> Waiter:
        """A new request record with a fresh id (registered before it is sent, so no answer is missed)."""
        waiter = Waiter(f"mock-{next(self._ids)}", record.session_id, tool_call_id, kinds, record.stop)
        with self._lock:
            self._waiting[waiter.request_id] = waiter
        return waiter

    def send(self, waiter: Waiter, method: str, params: dict[str, Any]) -> None:
        """Send the request of `waiter`."""
        self._out.send({"jsonrpc": "2.0", "id": waiter.request_id, "method": method, "params": params})

    def answer(self, message: dict[str, Any]) -> Waiter | None:
        """Hand a response to its waiter; return that waiter (None for an id the agent never used)."""
        with self._lock:
            waiter = self._waiting.pop(str(message.get("id")), None)
        if waiter is not None:
            waiter.reply = message
            waiter.answered.set()
        return waiter


def answer_fields(reply: dict[str, Any]) -> dict[str, Any]:
    """The report fields of an answer to a permission request."""
    if "error" in reply:
        return {"error": reply["error"]}
    result = reply.get("result")
    outcome = result.get("outcome") if isinstance(result, dict) else None
    fields: dict[str, Any] = {"outcome": outcome.get("outcome") if isinstance(outcome, dict) else outcome}
    if isinstance(outcome, dict) and "optionId" in outcome:
        fields["optionId"] = outcome["optionId"]
    if isinstance(result, dict) and result.get("_meta") is not None:
        fields["meta"] = result["_meta"]
    return fields


def action_of(fields: dict[str, Any], kinds: list[str]) -> str:
    """What the agent does with an answer: ``allow``, ``reject``, ``cancel_turn`` or ``invalid`` (tool fails)."""
    if fields.get("outcome") == "cancelled":
        return "cancel_turn"
    option = fields.get("optionId")
    if fields.get("outcome") != "selected" or option not in kinds:
        return "invalid"
    return "allow" if option in ALLOW_KINDS else "reject"


def report_answer(outgoing: Outgoing, report: Reporter, message: dict[str, Any]) -> None:
    """Report an answer to a permission request the moment it arrives, then wake the asking prompt."""
    waiter = outgoing.answer(message)
    if waiter is None:
        report.event("stray_response", requestId=message.get("id"))
        return
    fields = answer_fields(message)
    report.event(
        "permission_outcome",
        **waiter.fields(),
        **fields,
        action=action_of(fields, waiter.kinds),
        waitedMs=waiter.waited_ms(),
        late=waiter.stopped.is_set(),
    )
    waiter.answered.set()


def ask(
    outgoing: Outgoing, report: Reporter, record: Prompt, settings: PromptSettings, calls: list[dict[str, Any]]
) -> set[str]:
    """Ask the client about `calls` (all requests sent before any answer is awaited).

    Returns:
        The toolCallIds whose answer allows them.

    Raises:
        Stopped: An answer is ``cancelled``, or the prompt was stopped while waiting.
    """
    kinds = settings.option_kinds()
    options = [{"optionId": kind, "name": OPTION_NAMES[kind], "kind": kind} for kind in kinds]
    waiters = [outgoing.prepare(record, call["toolCallId"], kinds) for call in calls]
    record.waiters = waiters
    for waiter, call in zip(waiters, calls, strict=True):
        params = {"sessionId": record.session_id, "toolCall": call, "options": options}
        outgoing.send(waiter, "session/request_permission", params)
        record.sent["permissionRequests"] += 1
        report.event("permission_requested", **waiter.fields(), options=kinds)
    allowed: set[str] = set()
    try:
        for waiter in waiters:
            if _await_answer(report, record, waiter) == "allow":
                allowed.add(waiter.tool_call_id)
    finally:
        record.waiters = []
    return allowed


def _await_answer(report: Reporter, record: Prompt, waiter: Waiter) -> str:
    """Wait for one answer; return the action (``allow``, ``reject`` or ``invalid``).

    Raises:
        Stopped: The answer is ``cancelled``, or the prompt was stopped while waiting.
    """
    if record.stop.is_set():
        waiter.answered.set()
    waiter.answered.wait()
    if waiter.reply is None:
        report.event("permission_abandoned", **waiter.fields(), waitedMs=waiter.waited_ms())
        raise Stopped
    action = action_of(answer_fields(waiter.reply), waiter.kinds)
    if action == "cancel_turn":
        raise Stopped
    return action
