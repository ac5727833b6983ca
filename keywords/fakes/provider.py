"""A fake OpenAI-compatible model provider on 127.0.0.1, run in a thread of the harness process.

The real ``qwen --acp`` agent child needs a model to answer a prompt. This server answers
``POST /v1/chat/completions`` (streaming as ``chat.completion.chunk`` SSE frames ending with
``data: [DONE]``, or one non-streaming ``chat.completion`` JSON), and ``GET /v1/models``.

Behaviour is set with :class:`ProviderBehaviour` (reply text, number of token chunks, per-chunk delay, time to
first token, fault mode) and can be changed while it runs. Every request is recorded with its arrival time
on the monotonic and the wall clock, so "prompt sent -> provider request arrived" can be measured.

The server's threads never log; suites read :meth:`FakeProvider.requests` from their own thread.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keywords.errors import HarnessConfigError

FAULTS = ("none", "http500", "http429", "stall")
USER_TEXT_MAX = 20000


class ProviderConfigError(HarnessConfigError):
    """A bad fake-provider setting (found before the provider or a daemon starts)."""


@dataclass(frozen=True)
class ProviderBehaviour:
    """How the fake provider answers.

    Attributes:
        reply: The assistant's reply text.
        chunks: Number of content chunks the reply is split into when streaming (1..10000).
        chunk_delay_ms: Pause between chunks.
        first_token_ms: Pause before the first content chunk (time to first token).
        fault: ``none``, ``http500``, ``http429`` (with ``Retry-After``), or ``stall`` (send the headers and
            one role chunk, then nothing until the server stops or ``stall_max_s`` passes).
        stall_max_s: Bound on a stall (the connection is then closed without ``[DONE]``).
        retry_after_s: ``Retry-After`` header for 429.
    """

    reply: str = "ok"
    chunks: int = 1
    chunk_delay_ms: int = 0
    first_token_ms: int = 0
    fault: str = "none"
    stall_max_s: float = 300.0
    retry_after_s: int = 1

    def validate(self) -> None:
        """Raise :class:`ProviderConfigError` naming the first bad field."""
        if self.fault not in FAULTS:
            raise ProviderConfigError(f"fault must be one of {', '.join(FAULTS)}, got {self.fault!r}.")
        if not 1 <= self.chunks <= 10000:
            raise ProviderConfigError(f"chunks must be from 1 to 10000, got {self.chunks}.")
        for name in ("chunk_delay_ms", "first_token_ms"):
            value = getattr(self, name)
            if not 0 <= value <= 600000:
                raise ProviderConfigError(f"{name} must be from 0 to 600000, got {value}.")
        if not 0 < self.stall_max_s <= 3600:
            raise ProviderConfigError(f"stall_max_s must be between 0 and 3600, got {self.stall_max_s}.")
        if self.retry_after_s < 0:
            raise ProviderConfigError(f"retry_after_s must be 0 or more, got {self.retry_after_s}.")

    def pieces(self) -> list[str]:
        """The reply split into ``chunks`` pieces (fewer when the reply is shorter)."""
        text = self.reply
        n = max(1, min(self.chunks, len(text) or 1))
        size, extra = divmod(len(text), n)
        out, pos = [], 0
        for i in range(n):
            step = size + (1 if i < extra else 0)
            out.append(text[pos : pos + step])
            pos += step
        return out


@dataclass(frozen=True)
class ProviderRequest:
    """One request the provider received.

    Attributes:
        index: 1-based arrival order.
        method: HTTP method.
        path: Request path.
        at_monotonic: Arrival time, ``time.monotonic()`` of the harness process (seconds).
        at_wall_ms: Arrival time, wall clock in ms since the epoch.
        stream: The body asked for streaming.
        model: The body's ``model``.
        messages: Number of messages in the body.
        tools: Number of tools offered in the body.
        last_user_text: Text of the last user message (all its text parts, up to 20000 characters).
        fault: The fault mode that answered it.
        status: HTTP status sent.
        done_monotonic: When the answer was finished (``None`` for a stall still open or cut).
        answering_monotonic: When the provider started answering, ``time.monotonic()`` (seconds): it wrote the
            first content chunk (streaming, after ``first_token_ms``) or the whole reply (non-streaming);
            ``None`` for a fault or a stall.
    """

    index: int
    method: str
    path: str
    at_monotonic: float
    at_wall_ms: float
    stream: bool = False
    model: str | None = None
    messages: int = 0
    tools: int = 0
    last_user_text: str = ""
    fault: str = "none"
    status: int = 0
    done_monotonic: float | None = None
    answering_monotonic: float | None = None


def _last_user_text(messages: list) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content[:USER_TEXT_MAX]
            if isinstance(content, list):
                texts = [p.get("text", "") for p in content if isinstance(p, dict)]
                return " ".join(t for t in texts if t)[:USER_TEXT_MAX]
    return ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    provider: FakeProvider


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # never log from server threads
        return

    # -- routes ----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        provider = self.server.provider
        provider._record(self, {}, "none", 200)
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": provider.model, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        provider = self.server.provider
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            body = {}
        behaviour = provider.behaviour
        if not self.path.rstrip("/").endswith("/chat/completions"):
            provider._record(self, body, "none", 404)
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        fault = behaviour.fault
        if fault == "http500":
            index = provider._record(self, body, fault, 500)
            self._json(500, {"error": {"message": "fake provider internal error", "type": "server_error"}})
            provider._done(index)
            return
        if fault == "http429":
            index = provider._record(self, body, fault, 429)
            self._json(
                429,
                {"error": {"message": "fake provider rate limit", "type": "rate_limit_error", "code": "rate_limit"}},
                {"Retry-After": str(behaviour.retry_after_s)},
            )
            provider._done(index)
            return
        index = provider._record(self, body, fault, 200)
        if body.get("stream"):
            self._stream(body, behaviour, index)
        else:
            self._complete(body, behaviour, index)

    # -- answers ---------------------------------------------------------------------------------------
    def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _complete(self, body: dict, behaviour: ProviderBehaviour, index: int) -> None:
        provider = self.server.provider
        if behaviour.fault == "stall":
            provider._stall_wait(behaviour.stall_max_s)
            self.close_connection = True
            return
        if behaviour.first_token_ms and provider._stopping.wait(behaviour.first_token_ms / 1000):
            return
        text = behaviour.reply
        provider._answering(index)
        self._json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or provider.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 10},
            },
        )
        provider._done(index)

    def _stream(self, body: dict, behaviour: ProviderBehaviour, index: int) -> None:
        provider = self.server.provider
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        model = body.get("model") or provider.model
        created = int(time.time())

        def frame(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
            chunk = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                chunk["usage"] = usage
            return f"data: {json.dumps(chunk)}\n\n".encode()

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(frame({"role": "assistant", "content": ""}))
            self.wfile.flush()
            if behaviour.fault == "stall":
                provider._stall_wait(behaviour.stall_max_s)
                return
            if behaviour.first_token_ms and provider._stopping.wait(behaviour.first_token_ms / 1000):
                return
            provider._answering(index)
            for i, piece in enumerate(behaviour.pieces()):
                if i and behaviour.chunk_delay_ms and provider._stopping.wait(behaviour.chunk_delay_ms / 1000):
                    return
                self.wfile.write(frame({"content": piece}))
                self.wfile.flush()
            usage = {"prompt_tokens": 10, "completion_tokens": max(1, behaviour.chunks), "total_tokens": 10}
            self.wfile.write(frame({}, "stop", usage))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            provider._done(index)
        except (BrokenPipeError, ConnectionResetError):
            return


class FakeProvider:
    """The fake provider: :meth:`start`, point the agent at :attr:`base_url`, :meth:`stop`.

    Args:
        behaviour: Initial behaviour.
        model: Model name it reports.
    """

    def __init__(self, behaviour: ProviderBehaviour | None = None, model: str = "fake-model") -> None:
        self.behaviour = behaviour or ProviderBehaviour()
        self.behaviour.validate()
        self.model = model
        self._requests: list[ProviderRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        """Listen on an OS-assigned loopback port and serve in a background thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.provider = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release stalled answers, stop serving and close the socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        """The listening port."""
        if self._server is None:
            raise RuntimeError("the fake provider is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """OpenAI base URL for the agent (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- behaviour ----------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> ProviderBehaviour:
        """Change some behaviour fields (validated); returns the new behaviour."""
        unknown = sorted(set(changes) - set(asdict(self.behaviour)))
        if unknown:
            raise ProviderConfigError(
                f"Unknown provider setting(s) {', '.join(unknown)}; known: {', '.join(asdict(self.behaviour))}."
            )
        new = replace(self.behaviour, **changes)
        new.validate()
        self.behaviour = new
        return new

    # -- requests -----------------------------------------------------------------------------------
    def requests(self, path_contains: str = "/chat/completions") -> list[ProviderRequest]:
        """Recorded requests whose path contains ``path_contains`` (all with an empty string)."""
        with self._lock:
            return [r for r in self._requests if path_contains in r.path]

    @property
    def request_count(self) -> int:
        """Number of chat-completion requests received."""
        return len(self.requests())

    def wait_for_requests(self, count: int, timeout_s: float = 30.0) -> list[ProviderRequest]:
        """Wait until at least ``count`` chat-completion requests arrived (bounded); returns them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.requests()
            if len(found) >= count:
                return found
            time.sleep(0.01)
        return self.requests()

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def _record(self, handler: _Handler, body: dict, fault: str, status: int) -> int:
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        tools = body.get("tools") if isinstance(body.get("tools"), list) else []
        with self._lock:
            index = len(self._requests) + 1
            self._requests.append(
                ProviderRequest(
                    index=index,
                    method=handler.command,
                    path=handler.path,
                    at_monotonic=time.monotonic(),
                    at_wall_ms=time.time() * 1000,
                    stream=bool(body.get("stream")),
                    model=body.get("model"),
                    messages=len(messages),
                    tools=len(tools),
                    last_user_text=_last_user_text(messages),
                    fault=fault,
                    status=status,
                )
            )
        return index

    def _done(self, index: int) -> None:
        self._stamp(index, "done_monotonic")

    def _answering(self, index: int) -> None:
        """The provider starts sending the reply now (after its time to first token)."""
        self._stamp(index, "answering_monotonic")

    def _stamp(self, index: int, name: str) -> None:
        with self._lock:
            pos = index - 1
            if 0 <= pos < len(self._requests):
                self._requests[pos] = replace(self._requests[pos], **{name: time.monotonic()})

    def _stall_wait(self, bound_s: float) -> None:
        self._stopping.wait(bound_s)


@dataclass
class ProviderStats:
    """Summary of a provider's traffic.

    Attributes:
        requests: Chat-completion requests.
        by_status: Count per HTTP status.
        streamed: Requests that asked for streaming.
    """

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    streamed: int = 0


def stats(provider: FakeProvider) -> ProviderStats:
    """Counts over the recorded chat-completion requests."""
    out = ProviderStats()
    for req in provider.requests():
        out.requests += 1
        out.by_status[req.status] = out.by_status.get(req.status, 0) + 1
        out.streamed += int(req.stream)
    return out


def stop_quietly(provider: FakeProvider) -> None:
    """Stop a provider, ignoring errors (teardown)."""
    with contextlib.suppress(Exception):
        provider.stop()
