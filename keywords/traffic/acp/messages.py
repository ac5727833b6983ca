"""What an ``/acp`` connection sends and hands out: the protocol's constants, a refused connection, an error
answer, a permission request of the daemon and one prompt's turn; and the parsing of raw frames.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from websockets.exceptions import ConnectionClosed

from keywords.errors import HarnessError
from keywords.reporting.figures import shown
from keywords.traffic.permissions.answering import PermissionRequest

Transport = Literal["ws", "http"]
TRANSPORTS = ("ws", "http")
PATH = "/acp"
CONNECTION_HEADER = "Acp-Connection-Id"
SESSION_HEADER = "Acp-Session-Id"
PERMISSION_METHOD = "session/request_permission"
NOTIFY_METHOD = "_qwen/notify"
TURN_END_KINDS = ("turn_complete", "turn_error")
CONNECTION_CAP = 64  # limits.acpConnectionCap on 0.24.4
MAX_CONNECTIONS = 1000
PROTOCOL_VERSION = 1


class AcpError(HarnessError):
    """The daemon answered a JSON-RPC request with an error.

    Attributes:
        method: The request's method.
        code: The JSON-RPC error code.
        message: Its message.
        data: Its ``data``, if any.
    """

    def __init__(self, method: str, code: Any, message: str, data: Any = None) -> None:
        self.method = method
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"/acp {method} -> JSON-RPC error {code}: {message}")


class AcpRefused(HarnessError):
    """The daemon refused a new ``/acp`` connection (the cap, auth, or a broken handshake).

    Attributes:
        transport: ``ws`` or ``http``.
        http_status: Status of the refusal (an HTTP answer, or a refused upgrade), ``None`` for a WebSocket
            that was accepted and then closed.
        error_code: JSON-RPC error code of the refusal, if one was sent.
        error_message: Its message.
        close_code: WebSocket close code (1013: the connection cap), if the socket was closed.
        close_reason: WebSocket close reason.
        retry_after: ``Retry-After`` of an HTTP refusal.
        elapsed_ms: Connect to refusal (monotonic clock, ms).
    """

    def __init__(
        self,
        transport: str,
        *,
        http_status: int | None = None,
        error_code: Any = None,
        error_message: str | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
        retry_after: str | None = None,
        elapsed_ms: float = 0.0,
    ) -> None:
        self.transport = transport
        self.http_status = http_status
        self.error_code = error_code
        self.error_message = error_message
        self.close_code = close_code
        self.close_reason = close_reason
        self.retry_after = retry_after
        self.elapsed_ms = elapsed_ms
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: what the refusal consisted of."""
        said = (
            (self.http_status, f"HTTP {self.http_status}"),
            (self.error_code, f"JSON-RPC error {self.error_code} {self.error_message!r}"),
            (self.close_code, f"close {self.close_code} {self.close_reason!r}"),
            (self.retry_after, f"Retry-After {self.retry_after}"),
        )
        return ", ".join(
            [f"/acp {self.transport} connection refused", *(text for fact, text in said if fact is not None)]
        )


@dataclass(frozen=True)
class AcpPermissionRequest:
    """A ``session/request_permission`` request the daemon sent to an ``/acp`` connection.

    Attributes:
        rpc_id: The JSON-RPC id (``_qwen_perm_<connection>_<n>``); an answer over ACP goes to it.
        session_id: The session.
        request_id: The daemon's request id (``_meta.qwen.requestId``): the one the REST route takes.
        tool_call_id: The agent's tool call it asks about.
        options: The offered options as ``(optionId, kind)``.
        seen_mono: When the reader filed it (monotonic clock, s).
    """

    rpc_id: str
    session_id: str
    request_id: str | None
    tool_call_id: str | None
    options: tuple[tuple[str, str], ...]
    seen_mono: float

    @property
    def rest(self) -> PermissionRequest:
        """The same request as the REST route and the permission keywords take it (by ``requestId``)."""
        return PermissionRequest(
            request_id=str(self.request_id),
            session_id=self.session_id,
            prompt_id=None,
            tool_call_id=self.tool_call_id,
            title=None,
            options=tuple(o for o, _k in self.options),
            option_kinds=tuple(k for _o, k in self.options),
            originator_client_id=None,
            event_id=None,
            server_ms=None,
            seen_mono=self.seen_mono,
            seen_wall=time.time() - (time.monotonic() - self.seen_mono),
        )


@dataclass(frozen=True)
class AcpTurn:
    """One ``session/prompt`` over ``/acp`` and the updates its session got meanwhile.

    Attributes:
        session_id: The session.
        stop_reason: The answer's ``stopReason`` (``end_turn``, ``cancelled``), ``None`` for an error.
        error: The JSON-RPC error of the answer, or ``timeout``.
        updates: ``session/update`` notifications of the session from the send to the answer.
        chunks: Of those, ``agent_message_chunk`` updates.
        text: The agent's text, joined.
        notify_kinds: ``kind`` of each ``_qwen/notify`` frame in that time (``turn_complete``...).
        first_update_ms: Send to the first agent chunk (monotonic clock, ms).
        turn_ms: Send to the answer (monotonic clock, ms); ``None`` without an answer.
        late_updates: Updates of the turn that arrived after the answer (before its end frame).
        end_ms: Send to the turn's end frame (``_qwen/notify`` ``turn_complete``/``turn_error``), ms; ``None``
            when it did not arrive.
    """

    session_id: str
    stop_reason: str | None
    error: str | None
    updates: int
    chunks: int
    text: str
    notify_kinds: tuple[str, ...]
    first_update_ms: float | None
    turn_ms: float | None
    late_updates: int = 0
    end_ms: float | None = None

    @property
    def completed(self) -> bool:
        """The prompt was answered with ``end_turn``."""
        return self.stop_reason == "end_turn"

    def figures(self) -> dict[str, Any]:
        """``stopReason``, ``error``, ``updates``, ``chunks``, ``firstUpdateMs``, ``turnMs``, ``lateUpdates`` and
        ``endMs`` (``None``: not reached)."""
        return {
            "stopReason": self.stop_reason,
            "error": self.error,
            "updates": self.updates,
            "chunks": self.chunks,
            "firstUpdateMs": None if self.first_update_ms is None else round(self.first_update_ms, 1),
            "turnMs": None if self.turn_ms is None else round(self.turn_ms, 1),
            "lateUpdates": self.late_updates,
            "endMs": None if self.end_ms is None else round(self.end_ms, 1),
        }

    def line(self) -> str:
        """``end_turn: 5 chunks, 6 updates in 12.3 ms (0 after the answer)`` (or the error)."""
        if self.error:
            return f"/acp prompt failed: {self.error}"
        took = shown(self.turn_ms, ".1f", " ms")
        return (
            f"{self.stop_reason}: {self.chunks} chunks, {self.updates} updates in {took} "
            f"({self.late_updates} after the answer)"
        )


def permission_request_of(message: dict[str, Any], params: dict[str, Any], now: float) -> AcpPermissionRequest:
    meta = (params.get("_meta") or {}).get("qwen") if isinstance(params.get("_meta"), dict) else None
    tool = params.get("toolCall") if isinstance(params.get("toolCall"), dict) else {}
    options = tuple(
        (str(o.get("optionId")), str(o.get("kind"))) for o in params.get("options") or [] if isinstance(o, dict)
    )
    return AcpPermissionRequest(
        rpc_id=str(message["id"]),
        session_id=str(params.get("sessionId")),
        request_id=meta.get("requestId") if isinstance(meta, dict) else None,
        tool_call_id=tool.get("toolCallId"),
        options=options,
        seen_mono=now,
    )


def close_of(exc: ConnectionClosed) -> tuple[int | None, str | None]:
    frame = exc.rcvd
    return (frame.code, frame.reason) if frame is not None else (None, None)


def json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:500] if raw else None
