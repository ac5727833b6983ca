"""The daemon's second transport: ACP (JSON-RPC 2.0) at ``/acp``, over a WebSocket or over HTTP with SSE.

What the 0.24.4 bundle does (``packages/cli/src/serve/acp-http``; measured where the suites say so):

* **WebSocket** (``ws://127.0.0.1:<port>/acp``): the first message must be ``initialize``; its answer carries
  ``agentCapabilities._meta.qwen.connectionId``. Everything else of the connection (answers, the sessions'
  ``session/update`` notifications, ``_qwen/notify`` frames for the other bus events, the daemon's requests)
  arrives on the same socket. The bearer token goes in the ``Authorization`` header (a browser offers it as
  the subprotocol ``qwen-bearer.<base64url>``).
* **HTTP**: ``POST /acp`` with ``initialize`` answers 200 with the result and the header ``Acp-Connection-Id``;
  every later message is a ``POST /acp`` carrying that header (answered 202, the result comes on a stream);
  ``GET /acp`` with ``Accept: text/event-stream`` is the connection's stream, and with ``Acp-Session-Id`` too,
  the stream of one session the connection owns. ``DELETE /acp`` ends the connection.
* **Cap**: 64 live connections (``limits.acpConnectionCap``). Past it a WebSocket ``initialize`` gets the error
  ``-32603 "Too many connections"`` and the close code 1013; an HTTP one gets 503 with ``Retry-After: 5``.
* **Permissions**: a permission request reaches the connection as a JSON-RPC *request*
  ``session/request_permission`` with the id ``_qwen_perm_<connection>_<n>`` and the daemon's request id in
  ``_meta.qwen.requestId``, so the same request can be answered over REST.

:class:`AcpConnection` is one connection, with a reader thread that files every frame; :func:`run_acp_turns`
and :func:`run_rest_turns` run the same prompt workload over each transport. The framing is the ``websockets``
library's (sync client) and ``sseclient-py``'s; nothing here writes WebSocket frames by hand.

Nothing here imports Robot Framework; the reader threads never log.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from sseclient import SSEClient
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from keywords.checks import choice, seconds, whole_number
from keywords.errors import HarnessConfigError, HarnessError
from keywords.measure.metrics import summarize
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions import PermissionRequest
from keywords.traffic.sse import _Chunks  # the one byte-chunk adapter SSEClient needs (shared, not copied)
from keywords.traffic.turns import run_turn

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
        parts = [f"/acp {self.transport} connection refused"]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.error_code is not None:
            parts.append(f"JSON-RPC error {self.error_code} {self.error_message!r}")
        if self.close_code is not None:
            parts.append(f"close {self.close_code} {self.close_reason!r}")
        if self.retry_after is not None:
            parts.append(f"Retry-After {self.retry_after}")
        return ", ".join(parts)


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
        took = "n/a" if self.turn_ms is None else f"{self.turn_ms:.1f} ms"
        return (
            f"{self.stop_reason}: {self.chunks} chunks, {self.updates} updates in {took} "
            f"({self.late_updates} after the answer)"
        )


class AcpPromptHandle:
    """A ``session/prompt`` sent from a background thread (its turn may wait for a permission answer)."""

    def __init__(self, connection: AcpConnection, session_id: str, text: str) -> None:
        self._turn: AcpTurn | None = None
        self._thread = threading.Thread(
            target=self._run, args=(connection, session_id, text), name="acp-prompt", daemon=True
        )
        self._thread.start()

    def _run(self, connection: AcpConnection, session_id: str, text: str) -> None:
        self._turn = connection.prompt(session_id, text)

    def wait(self, timeout_s: float) -> AcpTurn | None:
        """The turn once answered, waiting up to ``timeout_s``; ``None`` when it is still running."""
        self._thread.join(timeout_s)
        return self._turn


class _Pending:
    __slots__ = ("done", "message", "seq")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.message: dict[str, Any] | None = None
        self.seq = 0  # the answer's place among the frames the reader filed


class AcpConnection:
    """One ``/acp`` connection over a WebSocket or over HTTP; a reader thread files every frame.

    Args:
        base_url: ``http://127.0.0.1:<port>`` of the daemon.
        transport: ``ws`` or ``http``.
        token: Bearer token, sent as ``Authorization`` (never logged).
        timeout_s: Bound on each request's answer.
    """

    def __init__(
        self, base_url: str, *, transport: str = "ws", token: str | None = None, timeout_s: float = 30.0
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith("http://127.0.0.1:"):
            raise HarnessConfigError(f"Only loopback daemons (http://127.0.0.1:<port>) are targets, got {base_url!r}.")
        self.base_url = base_url
        self.transport = choice("transport", transport, TRANSPORTS)
        self.token = token
        self.timeout_s = seconds("timeout", timeout_s, high=3600)
        self.connection_id: str | None = None
        self.initialize_result: dict[str, Any] | None = None
        self.connect_ms: float | None = None
        self.closed_by_daemon: tuple[int | None, str | None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[Any, _Pending] = {}
        self._lock = threading.Condition()
        self._updates: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self._update_seq: dict[str, list[int]] = {}
        self._notifies: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.requests: list[AcpPermissionRequest] = []
        self.frames = 0
        self.on_request: Callable[[AcpConnection, AcpPermissionRequest], None] | None = None
        self._ws: ClientConnection | None = None
        self._http: httpx.Client | None = None
        self._streams: list[httpx.Response] = []
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._handed: set[str] = set()
        self._exit = contextlib.ExitStack()

    # -- connect and close --------------------------------------------------------------------------------
    def connect(self) -> dict[str, Any]:
        """Open the connection and send ``initialize``; return its result.

        Raises:
            AcpRefused: the daemon refused the connection (its cap, auth, a broken handshake).
        """
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        message = self._message("initialize", {"protocolVersion": PROTOCOL_VERSION, "clientCapabilities": {}})
        if self.transport == "ws":
            result = self._connect_ws(headers, message, started)
        else:
            result = self._connect_http(headers, message, started)
        self.connect_ms = (time.monotonic() - started) * 1000
        self.initialize_result = result
        meta = ((result.get("agentCapabilities") or {}).get("_meta") or {}).get("qwen") or {}
        self.connection_id = self.connection_id or meta.get("connectionId")
        return result

    def _connect_ws(self, headers: dict[str, str], message: dict[str, Any], started: float) -> dict[str, Any]:
        url = "ws://" + self.base_url.removeprefix("http://") + PATH
        try:
            self._ws = self._exit.enter_context(  # as a context manager: the form every websockets version takes
                connect(url, additional_headers=headers, open_timeout=self.timeout_s, max_size=32 * 2**20, proxy=None)
            )
        except InvalidStatus as exc:
            raise AcpRefused(
                "ws", http_status=exc.response.status_code, elapsed_ms=(time.monotonic() - started) * 1000
            ) from exc
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise AcpRefused("ws", error_message=f"{type(exc).__name__}: {exc}") from exc
        self._ws.send(json.dumps(message))
        try:
            first = json.loads(self._ws.recv(timeout=self.timeout_s))
        except ConnectionClosed as exc:
            raise self._ws_refusal(exc, started) from exc
        except TimeoutError as exc:
            self._ws.close()
            raise AcpRefused("ws", error_message="no answer to initialize", elapsed_ms=self.timeout_s * 1000) from exc
        if "error" in first:
            code, reason = None, None
            try:
                self._ws.recv(timeout=self.timeout_s)
            except ConnectionClosed as exc:
                code, reason = _close_of(exc)
            except TimeoutError:
                pass
            with contextlib.suppress(Exception):
                self._ws.close()
            error = first.get("error") or {}
            raise AcpRefused(
                "ws",
                error_code=error.get("code"),
                error_message=error.get("message"),
                close_code=code,
                close_reason=reason,
                elapsed_ms=(time.monotonic() - started) * 1000,
            )
        self._start_reader(self._read_ws, "acp-ws")
        return first.get("result") or {}

    @staticmethod
    def _ws_refusal(exc: ConnectionClosed, started: float) -> AcpRefused:
        code, reason = _close_of(exc)
        return AcpRefused("ws", close_code=code, close_reason=reason, elapsed_ms=(time.monotonic() - started) * 1000)

    def _connect_http(self, headers: dict[str, str], message: dict[str, Any], started: float) -> dict[str, Any]:
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s, connect=10.0),
            trust_env=False,
        )
        try:
            reply = self._http.post(PATH, content=json.dumps(message), headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            self._http.close()
            raise AcpRefused("http", error_message=f"{type(exc).__name__}: {exc}") from exc
        body = _json(reply.content)
        if reply.status_code != 200 or not isinstance(body, dict) or "result" not in body:
            error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
            self._http.close()
            raise AcpRefused(
                "http",
                http_status=reply.status_code,
                error_code=error.get("code"),
                error_message=error.get("message") or (str(body)[:200] if body else None),
                retry_after=reply.headers.get("retry-after"),
                elapsed_ms=(time.monotonic() - started) * 1000,
            )
        self.connection_id = reply.headers.get(CONNECTION_HEADER.lower())
        self._open_stream(None)
        return body["result"]

    def _open_stream(self, session_id: str | None) -> None:
        assert self._http is not None
        headers = {"Accept": "text/event-stream", CONNECTION_HEADER: self.connection_id or ""}
        if session_id:
            headers[SESSION_HEADER] = session_id
        ready = threading.Event()

        def read() -> None:
            try:
                with self._http.stream(
                    "GET", PATH, headers=headers, timeout=httpx.Timeout(None, connect=10.0)
                ) as response:
                    self._streams.append(response)
                    ready.set()
                    if response.status_code != 200:
                        return
                    for event in SSEClient(_Chunks(response.iter_raw())).events():
                        if event.data:
                            self._file(_json(event.data.encode()))
            except (httpx.HTTPError, RuntimeError):
                pass
            finally:
                ready.set()
                self._wake_all()

        self._start_reader(read, f"acp-sse-{(session_id or 'conn')[:8]}")
        ready.wait(10.0)

    def close(self) -> None:
        """Close the connection (the WebSocket, or ``DELETE /acp`` and the streams) and join the readers."""
        self._closing.set()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._exit.close()
        if self._http is not None:
            if self.connection_id:
                with contextlib.suppress(Exception):
                    self._http.delete(PATH, headers={CONNECTION_HEADER: self.connection_id}, timeout=5.0)
            for response in list(self._streams):
                with contextlib.suppress(Exception):
                    response.close()
            with contextlib.suppress(Exception):
                self._http.close()
        for thread in self._threads:
            thread.join(5.0)
        self._wake_all()

    def __enter__(self) -> AcpConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------------------------
    def _message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}

    def request(self, method: str, params: dict[str, Any], *, session_id: str | None = None) -> dict[str, Any]:
        """Send a request and wait for its answer; return the result.

        Raises:
            AcpError: an error answer, no answer within the timeout (code ``timeout``), or a closed connection.
        """
        return self._call(method, params, session_id)[0]

    def _call(self, method: str, params: dict[str, Any], session_id: str | None) -> tuple[dict[str, Any], int]:
        """:meth:`request`, and the answer's place among the frames the reader filed."""
        message = self._message(method, params)
        waiter = _Pending()
        with self._lock:
            self._pending[message["id"]] = waiter
        try:
            self._send(message, session_id)
            if not waiter.done.wait(self.timeout_s) or waiter.message is None:
                reason = "the connection closed" if self._reader_gone() else f"no answer within {self.timeout_s:g} s"
                raise AcpError(method, "timeout", reason)
        finally:
            with self._lock:
                self._pending.pop(message["id"], None)
        answer = waiter.message
        if "error" in answer:
            error = answer.get("error") or {}
            raise AcpError(method, error.get("code"), str(error.get("message")), error.get("data"))
        result = answer.get("result")
        return (result if isinstance(result, dict) else {}), waiter.seq

    def respond(self, rpc_id: Any, result: dict[str, Any]) -> None:
        """Answer a request of the daemon (e.g. a permission request) over this connection."""
        self._send({"jsonrpc": "2.0", "id": rpc_id, "result": result}, None)

    def _send(self, message: dict[str, Any], session_id: str | None) -> None:
        text = json.dumps(message)
        if self._ws is not None:
            try:
                self._ws.send(text)
            except ConnectionClosed as exc:
                raise AcpError(str(message.get("method")), "closed", f"the WebSocket is closed ({exc})") from exc
            return
        if self._http is None:
            raise AcpError(str(message.get("method")), "closed", "the connection is not open: connect first")
        headers = {"Content-Type": "application/json", CONNECTION_HEADER: self.connection_id or ""}
        if session_id:
            headers[SESSION_HEADER] = session_id
        try:
            reply = self._http.post(PATH, content=text, headers=headers)
        except httpx.HTTPError as exc:
            raise AcpError(str(message.get("method")), "transport", f"{type(exc).__name__}: {exc}") from exc
        if reply.status_code not in (200, 202):
            body = _json(reply.content)
            error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
            raise AcpError(
                str(message.get("method")), error.get("code", reply.status_code), str(error.get("message") or body)
            )

    # -- sessions and prompts -----------------------------------------------------------------------------
    def new_session(self, cwd: str) -> str:
        """``session/new`` in the workspace ``cwd``; return the session id (over HTTP its stream is opened)."""
        result = self.request("session/new", {"cwd": cwd, "mcpServers": []})
        session_id = str(result.get("sessionId"))
        if self._http is not None:
            self._open_stream(session_id)
        return session_id

    def prompt(self, session_id: str, text: str, *, end_wait_s: float = 5.0) -> AcpTurn:
        """``session/prompt`` with one text block; wait for its answer, then for the turn's end frame
        (``_qwen/notify`` ``turn_complete``/``turn_error``, up to ``end_wait_s``), and collect the session's updates
        of that time (updates that arrive after the answer are counted as late)."""
        with self._lock:
            first = len(self._updates.get(session_id, []))
            first_notify = len(self._notifies.get(session_id, []))
        started = time.monotonic()
        stop_reason = error = None
        answer_seq = 0
        try:
            result, answer_seq = self._call(
                "session/prompt", {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}, session_id
            )
            stop_reason = result.get("stopReason")
        except AcpError as exc:
            error = f"{exc.code}: {exc.message}"
        answered = time.monotonic()
        end_at = self._wait_turn_end(session_id, first_notify, end_wait_s if error is None else 0.0)
        with self._lock:
            updates = list(self._updates.get(session_id, [])[first:])
            seqs = list(self._update_seq.get(session_id, [])[first:])
            notifies = list(self._notifies.get(session_id, [])[first_notify:])
        chunks = [(at, u) for at, u in updates if u.get("sessionUpdate") == "agent_message_chunk"]
        text_out = "".join(str((u.get("content") or {}).get("text", "")) for _at, u in chunks)
        return AcpTurn(
            session_id=session_id,
            stop_reason=stop_reason,
            error=error,
            updates=len(updates),
            chunks=len(chunks),
            text=text_out,
            notify_kinds=tuple(str(n.get("kind")) for _at, n in notifies),
            first_update_ms=(chunks[0][0] - started) * 1000 if chunks else None,
            turn_ms=None if error else (answered - started) * 1000,
            late_updates=0 if error else sum(1 for seq in seqs if seq > answer_seq),
            end_ms=None if end_at is None else (end_at - started) * 1000,
        )

    def _wait_turn_end(self, session_id: str, first_notify: int, wait_s: float) -> float | None:
        """When the turn's end frame arrived (monotonic s), waiting up to ``wait_s``; ``None`` when it did not."""
        deadline = time.monotonic() + wait_s
        with self._lock:
            while True:
                for at, params in self._notifies.get(session_id, [])[first_notify:]:
                    if params.get("kind") in TURN_END_KINDS:
                        return at
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._reader_gone():
                    return None
                self._lock.wait(remaining)

    def wait_for_request(self, timeout_s: float = 10.0) -> AcpPermissionRequest | None:
        """The first permission request not handed out yet, waiting up to ``timeout_s``; ``None`` when none came."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                unseen = [r for r in self.requests if r.rpc_id not in self._handed]
                if unseen:
                    self._handed.add(unseen[0].rpc_id)
                    return unseen[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._reader_gone():
                    return None
                self._lock.wait(remaining)

    # -- reading ------------------------------------------------------------------------------------------
    def _start_reader(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _reader_gone(self) -> bool:
        return bool(self._threads) and not any(t.is_alive() for t in self._threads)

    def _read_ws(self) -> None:
        assert self._ws is not None
        try:
            for raw in self._ws:
                self._file(_json(raw.encode() if isinstance(raw, str) else raw))
        except ConnectionClosed as exc:
            if not self._closing.is_set():
                self.closed_by_daemon = _close_of(exc)
        finally:
            if self._ws.close_code is not None and not self._closing.is_set() and self.closed_by_daemon is None:
                self.closed_by_daemon = (self._ws.close_code, self._ws.close_reason)
            self._wake_all()

    def _file(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        now = time.monotonic()
        method = message.get("method")
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        request: AcpPermissionRequest | None = None
        with self._lock:
            self.frames += 1
            if method is None and "id" in message:
                waiter = self._pending.get(message["id"])
                if waiter is not None:
                    waiter.message = message
                    waiter.seq = self.frames
                    waiter.done.set()
            elif method == "session/update":
                session_id = str(params.get("sessionId"))
                update = params.get("update") if isinstance(params.get("update"), dict) else {}
                self._updates.setdefault(session_id, []).append((now, update))
                self._update_seq.setdefault(session_id, []).append(self.frames)
            elif method == NOTIFY_METHOD:
                data = params.get("data") if isinstance(params.get("data"), dict) else {}
                session_id = str(data.get("sessionId"))
                self._notifies.setdefault(session_id, []).append((now, params))
            elif method == PERMISSION_METHOD and "id" in message:
                request = _permission_request(message, params, now)
                self.requests.append(request)
            self._lock.notify_all()
        if request is not None and self.on_request is not None:
            with contextlib.suppress(Exception):
                self.on_request(self, request)

    def _wake_all(self) -> None:
        with self._lock:
            for waiter in self._pending.values():
                waiter.done.set()
            self._lock.notify_all()

    def updates(self, session_id: str) -> list[dict[str, Any]]:
        """Every ``session/update`` the connection got for a session, in order."""
        with self._lock:
            return [u for _at, u in self._updates.get(session_id, [])]


def _permission_request(message: dict[str, Any], params: dict[str, Any], now: float) -> AcpPermissionRequest:
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


def _close_of(exc: ConnectionClosed) -> tuple[int | None, str | None]:
    frame = exc.rcvd
    return (frame.code, frame.reason) if frame is not None else (None, None)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:500] if raw else None


# -- the same workload over each transport -------------------------------------------------------------------


@dataclass(frozen=True)
class TransportRun:
    """One prompt workload over one transport: N sessions at once, each sending its prompts one after another.

    Attributes:
        transport: ``rest`` (REST prompts, SSE events), ``ws`` or ``http`` (``/acp``).
        sessions: Sessions (one ``/acp`` connection each).
        prompts: Prompts per session.
        turn_ms: Send to turn end of each completed turn (REST: POST to ``turn_complete``; ``/acp``: the prompt's
            request to its answer), monotonic clock, ms.
        failed: Turns that did not complete (an error answer, a timeout, a refused connection).
        updates: Session updates the client received for the completed turns (the daemon's echo of the prompt
            included).
        wall_ms: The release of the sessions to the last turn's end, ms.
        connect_ms: ``/acp``: connect and ``initialize`` of each connection, ms (empty for REST).
        errors: Up to ten error texts.
        late_updates: ``/acp``: updates that arrived after their prompt's answer (``None`` for REST, where the turn
            ends with an event of the stream itself).
    """

    transport: str
    sessions: int
    prompts: int
    turn_ms: tuple[float, ...]
    failed: int
    updates: int
    wall_ms: float
    connect_ms: tuple[float, ...] = ()
    errors: tuple[str, ...] = ()
    late_updates: int | None = None

    @property
    def events_per_s(self) -> float | None:
        """Session updates received per second of the workload's wall time."""
        return None if self.wall_ms <= 0 else self.updates / (self.wall_ms / 1000)

    def figures(self) -> dict[str, Any]:
        """``sessions``, ``turns``, ``completed``, ``failed``, ``updates``, ``wallMs``, ``eventsPerSec``, ``turn``
        (latency summary, ms), ``connect`` (``/acp`` only, latency summary, ms) and ``lateUpdates``."""
        rate = self.events_per_s
        return {
            "sessions": self.sessions,
            "turns": self.sessions * self.prompts,
            "completed": len(self.turn_ms),
            "failed": self.failed,
            "updates": self.updates,
            "wallMs": round(self.wall_ms, 1),
            "eventsPerSec": None if rate is None else round(rate, 1),
            "turn": summarize(self.turn_ms).to_dict(),
            "connect": summarize(self.connect_ms).to_dict() if self.connect_ms else None,
            "lateUpdates": self.late_updates,
        }

    def line(self) -> str:
        """``ws: 40/40 turns, turn p50 12.0 ms p99 30.1 ms, 1800 events/s``."""
        latency = summarize(self.turn_ms)
        p50 = "n/a" if latency.p50 is None else f"{latency.p50:.1f} ms"
        p99 = "n/a" if latency.p99 is None else f"{latency.p99:.1f} ms"
        rate = "n/a" if self.events_per_s is None else f"{self.events_per_s:.0f}"
        return (
            f"{self.transport}: {len(self.turn_ms)}/{self.sessions * self.prompts} turns, turn p50 {p50} p99 {p99}, "
            f"{rate} events/s"
        )


def _check_workload(sessions: Any, prompts: Any, timeout_s: Any) -> tuple[int, int, float]:
    return (
        whole_number("sessions", sessions, low=1, high=MAX_CONNECTIONS),
        whole_number("prompts", prompts, low=1, high=10_000),
        seconds("timeout", timeout_s, high=3600),
    )


def run_acp_turns(
    base_url: str,
    cwd: str,
    sessions: int,
    prompts: int,
    text: str,
    *,
    transport: str = "ws",
    token: str | None = None,
    timeout_s: float = 30.0,
) -> TransportRun:
    """``sessions`` ``/acp`` connections (one session each) released together, each sending ``prompts`` prompts.

    Raises:
        HarnessConfigError: a bad count, transport or timeout (before anything is sent).
        BarrierBrokenError: the connections could not start together.
    """
    sessions, prompts, timeout_s = _check_workload(sessions, prompts, timeout_s)
    transport = choice("transport", transport, TRANSPORTS)
    ready = []
    for _ in range(sessions):
        conn = AcpConnection(base_url, transport=transport, token=token, timeout_s=timeout_s)
        ready.append(conn)
    connect_ms: list[float] = []
    session_ids: list[str | None] = []
    errors: list[str] = []
    try:
        for conn in ready:
            try:
                conn.connect()
                connect_ms.append(conn.connect_ms or 0.0)
                session_ids.append(conn.new_session(cwd))
            except (AcpRefused, AcpError) as exc:
                session_ids.append(None)
                errors.append(str(exc))
        started = time.monotonic()

        def one(k: int) -> list[AcpTurn]:
            if session_ids[k] is None:
                return []
            return [ready[k].prompt(session_ids[k], f"{text} {i + 1}") for i in range(prompts)]

        results = run_together(sessions, one, what="acp connections")
        wall_ms = (time.monotonic() - started) * 1000
    finally:
        for conn in ready:
            conn.close()
    turns = _gathered(results, errors)
    done = [t for t in turns if t.completed and t.turn_ms is not None]
    errors += [t.error for t in turns if t.error]
    return TransportRun(
        transport, sessions, prompts, tuple(t.turn_ms for t in done), sessions * prompts - len(done),
        sum(t.updates for t in done), wall_ms, tuple(connect_ms), tuple(errors[:10]),
        late_updates=sum(t.late_updates for t in done),
    )  # fmt: skip


def run_rest_turns(
    client: DaemonClient, sessions: int, prompts: int, text: str, *, timeout_s: float = 30.0
) -> TransportRun:
    """The same workload over REST and SSE: ``sessions`` sessions released together, ``prompts`` turns each.

    Raises:
        HarnessConfigError: a bad count or timeout (before anything is sent).
        BarrierBrokenError: the sessions could not start together.
    """
    sessions, prompts, timeout_s = _check_workload(sessions, prompts, timeout_s)
    session_ids = [client.create_session().session_id for _ in range(sessions)]
    started = time.monotonic()
    results = run_together(
        sessions,
        lambda k: [run_turn(client, session_ids[k], f"{text} {i + 1}", timeout_s=timeout_s) for i in range(prompts)],
        what="sessions",
    )
    wall_ms = (time.monotonic() - started) * 1000
    for session_id in session_ids:
        with contextlib.suppress(Exception):
            client.close_session(session_id, expected=None)
    errors: list[str] = []
    turns = _gathered(results, errors)
    done = [t for t in turns if t.outcome == "completed" and t.turn_ms is not None]
    errors += [t.summary() for t in turns if t.outcome != "completed"]
    return TransportRun(
        "rest", sessions, prompts, tuple(t.turn_ms for t in done), sessions * prompts - len(done),
        sum(t.session_updates for t in done), wall_ms, errors=tuple(errors[:10]),
    )  # fmt: skip


def _gathered(results: list, errors: list[str]) -> list:
    """The turns of every item of a :func:`run_together` run; an item that failed adds its error instead."""
    turns: list = []
    for item in results:
        if isinstance(item, Exception):
            errors.append(f"{type(item).__name__}: {item}")
        else:
            turns += item
    return turns


@dataclass(frozen=True)
class TransportComparison:
    """The same workload over REST/SSE and over ``/acp``, side by side.

    Attributes:
        rest: The REST/SSE run.
        acp: The ``/acp`` run.
    """

    rest: TransportRun
    acp: TransportRun

    def ratio(self, what: Literal["p50", "p99", "eventsPerSec"]) -> float | None:
        """``/acp`` over REST for a turn percentile or the event rate (``None`` when one side measured nothing)."""
        if what == "eventsPerSec":
            a, r = self.acp.events_per_s, self.rest.events_per_s
        else:
            a, r = getattr(summarize(self.acp.turn_ms), what), getattr(summarize(self.rest.turn_ms), what)
        return None if a is None or not r else a / r

    def figures(self) -> dict[str, Any]:
        """Each run's figures under ``rest`` and ``acp``, and ``acpOverRestP50``, ``acpOverRestP99``,
        ``acpOverRestEventsPerSec``."""
        rounded = {k: None if v is None else round(v, 3) for k, v in (
            ("acpOverRestP50", self.ratio("p50")),
            ("acpOverRestP99", self.ratio("p99")),
            ("acpOverRestEventsPerSec", self.ratio("eventsPerSec")),
        )}  # fmt: skip
        return {"rest": self.rest.figures(), "acp": self.acp.figures(), **rounded}

    def line(self) -> str:
        """Both runs' lines."""
        return f"{self.rest.line()} | {self.acp.line()}"


# -- the connection cap --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapProbe:
    """``/acp`` connections opened up to the daemon's cap and past it.

    Attributes:
        transport: ``ws`` or ``http``.
        reported_cap: ``limits.acpConnectionCap`` of ``/daemon/status`` (``None``: not reported).
        accepted: Connections the daemon accepted before the first refusal.
        refusals: What each connection past the cap got (one :class:`AcpRefused` each).
        reopened: After one accepted connection was closed, a new one was accepted.
        connect_ms: Connect and ``initialize`` of each accepted connection, ms.
    """

    transport: str
    reported_cap: int | None
    accepted: int
    refusals: tuple[AcpRefused, ...]
    reopened: bool | None
    connect_ms: tuple[float, ...] = field(default_factory=tuple)

    def figures(self) -> dict[str, Any]:
        """``reportedCap``, ``accepted``, ``refused``, ``refusalHttpStatus``, ``refusalErrorCode``,
        ``refusalCloseCode``, ``refusalRetryAfter``, ``reopened`` and ``connect`` (latency summary, ms)."""
        first = self.refusals[0] if self.refusals else None
        return {
            "reportedCap": self.reported_cap,
            "accepted": self.accepted,
            "refused": len(self.refusals),
            "refusalHttpStatus": None if first is None else first.http_status,
            "refusalErrorCode": None if first is None else first.error_code,
            "refusalCloseCode": None if first is None else first.close_code,
            "refusalRetryAfter": None if first is None else first.retry_after,
            "reopened": self.reopened,
            "connect": summarize(self.connect_ms).to_dict(),
        }

    def line(self) -> str:
        """``ws: 64 accepted (cap 64), then 2 refused: close 1013 'Connection cap'; reopened after a close``."""
        what = self.refusals[0].describe() if self.refusals else "none refused"
        again = {True: "reopened after a close", False: "not reopened after a close", None: "reopen not tried"}
        return (
            f"{self.transport}: {self.accepted} accepted (cap {self.reported_cap}), then {len(self.refusals)} "
            f"refused: {what}; {again[self.reopened]}"
        )


def probe_connection_cap(
    base_url: str,
    *,
    transport: str = "ws",
    past: int = 2,
    reported_cap: int | None = None,
    token: str | None = None,
    timeout_s: float = 10.0,
) -> CapProbe:
    """Open connections one by one until the daemon refuses one (at most ``reported_cap`` or 64, plus ``past``),
    try ``past`` more, close one accepted connection and open one again; close everything.

    Raises:
        HarnessConfigError: a bad count or transport (before anything is sent).
    """
    transport = choice("transport", transport, TRANSPORTS)
    past = whole_number("past", past, low=1, high=100)
    limit = whole_number("reported_cap", reported_cap if reported_cap is not None else CONNECTION_CAP, low=1)
    opened: list[AcpConnection] = []
    refusals: list[AcpRefused] = []
    reopened: bool | None = None
    try:
        for _ in range(min(limit + past, MAX_CONNECTIONS)):
            conn = AcpConnection(base_url, transport=transport, token=token, timeout_s=timeout_s)
            try:
                conn.connect()
            except AcpRefused as exc:
                refusals.append(exc)
                if len(refusals) >= past:
                    break
                continue
            if refusals:  # accepted after a refusal: the cap did not hold
                opened.append(conn)
                continue
            opened.append(conn)
        accepted = len(opened)
        if refusals and opened:
            opened.pop(0).close()
            again = AcpConnection(base_url, transport=transport, token=token, timeout_s=timeout_s)
            try:
                again.connect()
                reopened = True
                opened.append(again)
            except AcpRefused:
                reopened = False
    finally:
        for conn in opened:
            conn.close()
    return CapProbe(
        transport, reported_cap, accepted, tuple(refusals), reopened, tuple(c.connect_ms or 0.0 for c in opened)
    )
