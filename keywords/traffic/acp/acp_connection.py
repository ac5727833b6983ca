"""One ``/acp`` connection over a WebSocket or over HTTP: connect and ``initialize``, requests and their answers,
prompts and their turns, the daemon's permission requests; a reader thread files every frame.

Nothing here imports Robot Framework; the reader threads never log.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from sseclient import SSEClient
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from keywords.checks import choice, seconds
from keywords.errors import HarnessConfigError
from keywords.traffic.acp.messages import (
    CONNECTION_HEADER,
    NOTIFY_METHOD,
    PATH,
    PERMISSION_METHOD,
    PROTOCOL_VERSION,
    SESSION_HEADER,
    TRANSPORTS,
    TURN_END_KINDS,
    AcpError,
    AcpPermissionRequest,
    AcpRefused,
    AcpTurn,
    close_of,
    json_or_text,
    permission_request_of,
)
from keywords.traffic.sse import _Chunks  # the one byte-chunk adapter SSEClient needs (shared, not copied)


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
                code, reason = close_of(exc)
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
        code, reason = close_of(exc)
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
        body = json_or_text(reply.content)
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
                            self._file(json_or_text(event.data.encode()))
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
            body = json_or_text(reply.content)
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
                self._file(json_or_text(raw.encode() if isinstance(raw, str) else raw))
        except ConnectionClosed as exc:
            if not self._closing.is_set():
                self.closed_by_daemon = close_of(exc)
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
                request = permission_request_of(message, params, now)
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
