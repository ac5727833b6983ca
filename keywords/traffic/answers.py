"""The daemon's HTTP answers read whole, above all its refusals at a cap: status, code, ``Retry-After``,
``X-RateLimit-*`` and the figures of the body.

An :class:`HttpAnswer` comes from a request on its own connection (:func:`parse`, fed by
:func:`keywords.traffic.connections.send_request`) or from a refusal the library's client raised
(:meth:`HttpAnswer.of_error`). It knows where the daemon puts each fact, so a suite reads ``answer.retry_after_s``
or ``answer.limit`` instead of digging in headers and bodies. :class:`RateLimitRejections` is the daemon's own
count of the requests its rate limiter refused (``/daemon/status``).

No Robot Framework imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from keywords.errors import DaemonHttpError

# Body fields of the daemon's refusals that are figures, and their key in ``figures()`` (already camelCase).
BODY_FIGURES = ("limit", "pendingCount", "tier", "retryAfterMs", "retryable", "timeoutMs", "phase")
RATE_LIMIT_TIERS = ("prompt", "mutation", "read")
SSE_TYPE = "text/event-stream"


def _whole(value: Any) -> int | None:
    """A header or body value that is a whole number (``"5"``, ``5``), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _whole_in_body(name: str, doc: str) -> property:
    """A read-only attribute: the body's field ``name`` as a whole number (``None`` when missing or not one)."""
    return property(lambda answer: _whole(answer._field(name)), doc=doc)


def _text_in_body(name: str, doc: str) -> property:
    """A read-only attribute: the body's field ``name`` as sent (``None`` when missing)."""
    return property(lambda answer: answer._field(name), doc=doc)


def _whole_in_header(name: str, doc: str) -> property:
    """A read-only attribute: the header ``name`` (lower case) as a whole number (``None`` when missing or not one)."""
    return property(lambda answer: _whole(answer.headers.get(name)), doc=doc)


@dataclass(frozen=True)
class HttpAnswer:
    """One answer of the daemon.

    Attributes:
        request: What was asked, e.g. ``GET /capabilities``.
        status: HTTP status.
        headers: Response headers, lower-case names.
        body: Parsed JSON body, the text when it is not JSON, ``None`` when empty (or an event stream).
        text: The body as text (empty for an event stream, whose body is not read).
        elapsed_ms: Request to full answer, monotonic clock, ms (``None`` when not measured).
    """

    request: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    text: str = ""
    elapsed_ms: float | None = None

    @classmethod
    def of_error(cls, error: DaemonHttpError) -> HttpAnswer:
        """The answer behind a refusal the library's client raised (`Open Session Should Fail`...)."""
        body = error.body
        text = json.dumps(body) if isinstance(body, (dict, list)) else ("" if body is None else str(body))
        headers = {str(k).lower(): str(v) for k, v in (error.headers or {}).items()}
        return cls(f"{error.method} {error.route}", error.status, headers, body, text, error.elapsed_ms)

    def _field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None

    @property
    def code(self) -> str | None:
        """The daemon's ``code`` (``session_limit_exceeded``), ``None`` when the body has none."""
        code = self._field("code")
        return None if code is None else str(code)

    @property
    def error(self) -> str | None:
        """The daemon's ``error`` text (``Invalid Host header``), ``None`` when the body has none."""
        error = self._field("error")
        return None if error is None else str(error)

    @property
    def retry_after(self) -> str | None:
        """The ``Retry-After`` header as sent, ``None`` without one."""
        return self.headers.get("retry-after")

    @property
    def retry_after_s(self) -> int | None:
        """``Retry-After`` in whole seconds, ``None`` when missing or not a whole number."""
        return _whole(self.retry_after)

    # Facts of the body and the headers, each a whole number or a text where the daemon puts it.
    limit = _whole_in_body("limit", "The cap the daemon names in its refusal (``limit``).")
    pending_count = _whole_in_body(
        "pendingCount", "Prompts running and queued when the queue refused one (``pendingCount``)."
    )
    tier = _text_in_body("tier", "The rate limiter's tier (``prompt``, ``mutation``, ``read``).")
    retry_after_ms = _whole_in_body("retryAfterMs", "The rate limiter's ``retryAfterMs``.")
    timeout_ms = _whole_in_body("timeoutMs", "The timeout the daemon says it applied (``timeoutMs``).")
    phase = _text_in_body("phase", "The start-up phase the daemon names (``phase``).")
    rate_limit_limit = _whole_in_header("x-ratelimit-limit", "``X-RateLimit-Limit``: requests of the tier per window.")
    rate_limit_remaining = _whole_in_header(
        "x-ratelimit-remaining", "``X-RateLimit-Remaining``: requests left in the window."
    )
    rate_limit_reset = _whole_in_header(
        "x-ratelimit-reset", "``X-RateLimit-Reset`` as the whole number the daemon sends (``None``: none or not one)."
    )

    @property
    def retryable(self) -> bool | None:
        """The daemon's ``retryable`` flag (``None`` when the body has none)."""
        value = self._field("retryable")
        return value if isinstance(value, bool) else None

    @property
    def has_rate_limit_headers(self) -> bool:
        """Any ``X-RateLimit-*`` header came with the answer."""
        return any(name.startswith("x-ratelimit-") for name in self.headers)

    @property
    def is_event_stream(self) -> bool:
        """The answer opened an event stream (its body was not read)."""
        return self.headers.get("content-type", "").startswith(SSE_TYPE)

    def figures(self) -> dict[str, Any]:
        """``status``, ``code``, ``answerMs``, ``retryAfterSec``; the refusal's body figures (``limit``,
        ``pendingCount``, ``tier``, ``retryAfterMs``, ``retryable``, ``timeoutMs``, ``phase``) and
        ``rateLimitLimit``/``rateLimitRemaining`` when the daemon sent them (``X-RateLimit-Reset`` is a point in
        time, not a figure)."""
        figures: dict[str, Any] = {
            "status": self.status,
            "code": self.code,
            "answerMs": None if self.elapsed_ms is None else round(self.elapsed_ms, 1),
            "retryAfterSec": self.retry_after_s,
        }
        if isinstance(self.body, dict):
            figures.update({name: self.body[name] for name in BODY_FIGURES if name in self.body})
        if self.has_rate_limit_headers:
            figures.update(rateLimitLimit=self.rate_limit_limit, rateLimitRemaining=self.rate_limit_remaining)
        return figures

    def line(self) -> str:
        """One line: the request, the status and code, the time, ``Retry-After`` and the cap named."""
        said = self.code or self.error or ""
        parts = [f"{self.request} -> {self.status}{' ' + said if said else ''}"]
        if self.elapsed_ms is not None:
            parts.append(f"in {self.elapsed_ms:.1f} ms")
        if self.retry_after is not None:
            parts.append(f"Retry-After {self.retry_after}")
        if self.limit is not None:
            parts.append(f"limit {self.limit}")
        if self.has_rate_limit_headers:
            parts.append(f"X-RateLimit limit {self.rate_limit_limit} remaining {self.rate_limit_remaining}")
        return ", ".join(parts)


def retry_after_problems(answer: HttpAnswer, seconds: int | None = None) -> list[str]:
    """What keeps a refusal from telling the client when to retry (empty when ``Retry-After`` is right)."""
    if answer.retry_after is None:
        return [f"it has no Retry-After header (headers: {', '.join(sorted(answer.headers)) or 'none'})"]
    if answer.retry_after_s is None:
        return [f"its Retry-After is {answer.retry_after!r}, not a whole number of seconds"]
    if seconds is not None and answer.retry_after_s != seconds:
        return [f"its Retry-After is {answer.retry_after_s} s, expected {seconds} s"]
    return []


def parse(request: str, raw: bytes, elapsed_ms: float | None = None) -> HttpAnswer:
    """An :class:`HttpAnswer` from the raw bytes of one HTTP/1.1 answer (status line, headers, body).

    The body is decoded by ``Content-Length`` or chunked transfer encoding, else taken up to the end; an event
    stream's body is not kept.

    Raises:
        ValueError: ``raw`` does not start with an HTTP status line and a full header block.
    """
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no complete HTTP header block in {raw[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status_parts = lines[0].split(" ", 2)
    if len(status_parts) < 2 or not status_parts[0].startswith("HTTP/") or not status_parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if headers.get("content-type", "").startswith(SSE_TYPE):
        return HttpAnswer(request, int(status_parts[1]), headers, None, "", elapsed_ms)
    body_bytes = _body(rest, headers)
    text = body_bytes.decode("utf-8", errors="replace")
    return HttpAnswer(request, int(status_parts[1]), headers, _json_or_text(text), text, elapsed_ms)


def body_complete(raw: bytes) -> bool:
    """Whether ``raw`` holds a whole answer (headers and the body its headers announce)."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("content-type", "").startswith(SSE_TYPE):
        return True
    length = _whole(headers.get("content-length"))
    if length is not None:
        return len(rest) >= length
    if "chunked" in headers.get("transfer-encoding", ""):
        return rest.endswith(b"0\r\n\r\n")
    return False


def _body(rest: bytes, headers: dict[str, str]) -> bytes:
    length = _whole(headers.get("content-length"))
    if length is not None:
        return rest[:length]
    if "chunked" not in headers.get("transfer-encoding", ""):
        return rest
    out, position = b"", 0
    for _ in range(100_000):  # bounded: one chunk per turn
        size_end = rest.find(b"\r\n", position)
        if size_end < 0:
            break
        size = int(rest[position:size_end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[size_end + 2 : size_end + 2 + size]
        position = size_end + 2 + size + 2
    return out


def _json_or_text(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class RateLimitRejections:
    """Requests the daemon's rate limiter refused since it started, per tier (``/daemon/status``).

    Attributes:
        prompt: Prompts refused.
        mutation: Mutations refused (session create, cancel, close...).
        read: Reads refused.
        enabled: The daemon reports a rate limiter at all.
    """

    prompt: int | None
    mutation: int | None
    read: int | None
    enabled: bool

    @classmethod
    def of_status(cls, status: Any) -> RateLimitRejections:
        """From a ``GET /daemon/status`` body (``runtime.rateLimit.rejectedSinceStart``)."""
        runtime = status.get("runtime") if isinstance(status, dict) else None
        limiter = runtime.get("rateLimit") if isinstance(runtime, dict) else None
        counts = limiter.get("rejectedSinceStart") if isinstance(limiter, dict) else None
        if not isinstance(counts, dict):
            return cls(None, None, None, False)
        return cls(*(_whole(counts.get(tier)) for tier in RATE_LIMIT_TIERS), True)

    def figures(self) -> dict[str, Any]:
        """``rejectedPrompt``, ``rejectedMutation``, ``rejectedRead`` (``None`` without a rate limiter)."""
        return {"rejectedPrompt": self.prompt, "rejectedMutation": self.mutation, "rejectedRead": self.read}

    def line(self) -> str:
        """One line: the refusals per tier as the daemon counts them."""
        if not self.enabled:
            return "the daemon reports no rate limiter"
        return f"rate limiter refused since start: prompt {self.prompt}, mutation {self.mutation}, read {self.read}"
