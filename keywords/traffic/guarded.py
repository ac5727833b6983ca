"""One call of a daemon route with a chosen authentication, and what the call must get.

A route is called without a token, with a wrong one or with the right one, as an ``Authorization: Bearer``
header or, for a WebSocket upgrade, as the ``qwen-bearer.<base64url>`` subprotocol a browser offers. The
answer is kept as a :class:`RouteCall` (status, an excerpt of the body with the token blanked out, elapsed
time); an :class:`Expectation` (``401 Unauthorized``, ``200``, ``404 session_not_found``, ``absent``) says
whether it is what the route must answer, and :func:`check` words the failure in one plain sentence.

Paths carry placeholders that :class:`RouteTargets` fills: ``{session}`` (a live session), ``{workspace}`` (the
daemon's workspace id); any other ``{name}`` is an id the daemon does not know.

Only loopback daemons are targets; every call is bounded by its timeout. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

from keywords import checks
from keywords.errors import HarnessConfigError

Auth = Literal["none", "wrong", "right"]
Via = Literal["header", "subprotocol"]
AUTHS: tuple[str, ...] = ("none", "wrong", "right")
VIAS: tuple[str, ...] = ("header", "subprotocol")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WEBSOCKET = "WS"
WRONG_TOKEN = "not-the-token"
BEARER_SUBPROTOCOL = "qwen-bearer."
EXCERPT_CHARS = 300
_READ_BYTES = 4096
_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")
_EXPRESS_404 = re.compile(r"Cannot [A-Z]+ /")
# websockets logs handshake headers (the bearer subprotocol among them) at DEBUG: never let them reach a log.
_SILENT = logging.getLogger("keywords.traffic.guarded.websocket")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False
_SILENT.setLevel(logging.CRITICAL + 1)

_AUTH_WORDS = {
    ("none", "header"): "without a token",
    ("wrong", "header"): "with a wrong token",
    ("right", "header"): "with the right token",
    ("none", "subprotocol"): "without a token",
    ("wrong", "subprotocol"): "with a wrong subprotocol token",
    ("right", "subprotocol"): "with the right subprotocol token",
}


@dataclass(frozen=True)
class RouteTargets:
    """What the placeholders of a route's path stand for on one daemon.

    Attributes:
        session: Id of a live session (``{session}``).
        workspace: The daemon's workspace id (``{workspace}``).
        unknown: An id the daemon does not know (every other placeholder: ``{unknownSession}``,
            ``{requestId}``, ``{server}``...).
    """

    session: str
    workspace: str
    unknown: str = ""

    def fill(self, path: str) -> str:
        """``path`` with each placeholder replaced by its value (URL-quoted)."""
        unknown = self.unknown or str(uuid.uuid4())

        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            chosen = {"session": self.session, "workspace": self.workspace}.get(name, unknown)
            return urllib.parse.quote(chosen, safe="")

        return _PLACEHOLDER.sub(value, path)


@dataclass(frozen=True)
class RouteCall:
    """One call of a route and its answer.

    Attributes:
        method: ``GET``, ``POST``, ``PUT``, ``PATCH``, ``DELETE`` or ``WS`` (a WebSocket upgrade).
        path: The path as given, placeholders unfilled (``/session/{session}/status``).
        auth: ``none``, ``wrong`` or ``right``.
        via: ``header`` (``Authorization: Bearer``) or ``subprotocol`` (``qwen-bearer.<base64url>``).
        status: HTTP status of the answer; for a WebSocket 101 when the upgrade was accepted, the status of the
            refusal, or ``None`` when the daemon closed the connection without answering.
        body: The first characters of the answer's body (at most 300), the token blanked out as ``***``.
        elapsed_ms: From sending the request to the status and first bytes of the body, monotonic clock, ms.
        code: The ``code`` field of a JSON answer (``None`` for other answers).
        error: The ``error`` field of a JSON answer (``None`` for other answers).
    """

    method: str
    path: str
    auth: str
    via: str
    status: int | None
    body: str
    elapsed_ms: float
    code: str | None = None
    error: str | None = None

    @property
    def how(self) -> str:
        """``without a token``, ``with a wrong token``, ``with the right subprotocol token``..."""
        return _AUTH_WORDS[(self.auth, self.via)]

    def answer(self) -> str:
        """The answer in a few words: ``401 Unauthorized``, ``404 (Express 'Cannot GET' page)``, ``no answer``."""
        if self.status is None:
            return "no answer (connection closed)"
        if _EXPRESS_404.search(self.body) and self.status == 404:
            return "404 (Express 'Cannot' page: no such route)"
        word = self.code or self.error
        return f"{self.status} {word}" if word else str(self.status)

    def figures(self) -> dict[str, Any]:
        """``status`` (``None``: no answer), ``answered`` and ``elapsedMs`` of this call."""
        return {"status": self.status, "answered": self.status is not None, "elapsedMs": round(self.elapsed_ms, 3)}

    def line(self) -> str:
        """``GET /health with the right token: 200 in 2.1 ms``."""
        return f"{self.method} {self.path} {self.how}: {self.answer()} in {self.elapsed_ms:.1f} ms"


@dataclass(frozen=True)
class Expectation:
    """What a call must get.

    Written as a status with an optional word the answer's JSON ``code`` or ``error`` must equal
    (``200``, ``401 Unauthorized``, ``404 session_not_found``, ``400 Invalid JSON in request body``), or as
    ``absent``: the route is not served in this configuration (HTTP: Express's ``Cannot GET /x`` 404 page;
    WebSocket: the daemon closes the connection without answering).

    Attributes:
        text: The expectation as written.
        status: The status required (``None`` for ``absent``).
        detail: The ``code``/``error`` required, or ``None`` for any.
        absent: Whether the route must be absent.
    """

    text: str
    status: int | None
    detail: str | None
    absent: bool

    @classmethod
    def parse(cls, text: Any, name: str = "expected") -> Expectation:
        """Read an expectation such as ``200``, ``404 session_not_found`` or ``absent``.

        Raises:
            HarnessConfigError: not a status from 100 to 599 (with an optional word), nor ``absent``.
        """
        words = str(text).strip()
        if words.lower() == "absent":
            return cls(words, None, None, True)
        status, _, detail = words.partition(" ")
        if not status.isdigit():
            raise HarnessConfigError(
                f"{name} must be a status from 100 to 599, optionally followed by the answer's code or error "
                f"(200, 404 session_not_found, 401 Unauthorized), or 'absent'; got {text!r}."
            )
        code = checks.whole_number(name, status, low=100, high=599)
        return cls(words, code, detail.strip() or None, False)

    def met_by(self, call: RouteCall) -> bool:
        """Whether ``call`` got what this expectation requires."""
        if self.absent:
            if call.method == WEBSOCKET:
                return call.status is None
            return call.status == 404 and bool(_EXPRESS_404.search(call.body))
        if call.status != self.status:
            return False
        if self.detail is None:
            return True
        return self.detail in (call.code, call.error) or (
            call.code is None and self.detail.lower() in call.body.lower()
        )

    def describe(self) -> str:
        """The expectation in words: ``401 Unauthorized``, ``absent (not served: ...)``."""
        if self.absent:
            return "absent (not served in this configuration: Express's 404 page, or no WebSocket answer)"
        return self.text


def check(call: RouteCall, expected: Expectation, where: str = "") -> None:
    """Fail unless ``call`` got ``expected``.

    Args:
        call: The call.
        expected: What it must get.
        where: Which daemon, for the message (``--token --require-auth``).

    Raises:
        AssertionError: ``"GET /session/{session}/status answered 200 without a token; expected 401
            Unauthorized."`` followed by the daemon's flags and the body excerpt.
    """
    if not expected.met_by(call):
        daemon = f"Daemon: {where}. " if where else ""
        raise AssertionError(
            f"{call.method} {call.path} answered {call.answer()} {call.how}; expected {expected.describe()}.\n"
            f"{daemon}Body: {call.body or '(empty)'}"
        )


UNAUTHORIZED = Expectation("401 Unauthorized", 401, "Unauthorized", False)
"""What the daemon documents for a request without the right token: ``401 {"error":"Unauthorized"}``."""
ABSENT = Expectation("absent", None, None, True)
OPEN_CHOICES: tuple[str, ...] = ("never", "without-require-auth", "always")
"""When a route answers without the bearer token by design: ``never`` (the default), ``without-require-auth``
(``/health`` on a loopback daemon started without ``--require-auth``), ``always`` (a route guarded by its own
secret, such as a channel webhook)."""


def refusal(method: str, expected: Expectation, *, open_when: str, require_auth: bool) -> Expectation:
    """What a call without a token or with a wrong one must get, given what the right token gets.

    A route open in this mode answers as it answers the right token. Otherwise the daemon refuses with
    ``401 Unauthorized``, except on a WebSocket path it does not serve at all: the upgrade listener closes
    those before it looks at the token, so no token gets no answer either.
    """
    if open_when == "always" or (open_when == "without-require-auth" and not require_auth):
        return expected
    if method == WEBSOCKET and expected.absent:
        return ABSENT
    return UNAUTHORIZED


@dataclass(frozen=True)
class GuardResult:
    """A route called without a token, with a wrong one and with the right one on one daemon.

    Attributes:
        method: HTTP method or ``WS``.
        path: The path as given, placeholders unfilled.
        mode: The daemon's auth flags: ``--token`` or ``--token --require-auth``.
        calls: The three calls, in the order none, wrong, right.
    """

    method: str
    path: str
    mode: str
    calls: tuple[RouteCall, ...]

    def call(self, auth: str) -> RouteCall | None:
        """The call made with ``auth`` (``none``, ``wrong``, ``right``)."""
        return next((c for c in self.calls if c.auth == auth), None)

    def figures(self) -> dict[str, Any]:
        """``noTokenStatus``, ``wrongTokenStatus``, ``rightTokenStatus`` and ``rightTokenMs`` of this run."""
        figures: dict[str, Any] = {}
        for auth, key in (("none", "noToken"), ("wrong", "wrongToken"), ("right", "rightToken")):
            made = self.call(auth)
            figures[f"{key}Status"] = made.status if made else None
        right = self.call("right")
        figures["rightTokenMs"] = round(right.elapsed_ms, 3) if right else None
        return figures

    def line(self) -> str:
        """``GET /health (--token): no token 200, wrong token 200, right token 200 in 1.8 ms``."""
        words = {"none": "no token", "wrong": "wrong token", "right": "right token"}
        parts = [f"{words[c.auth]} {c.answer()}" for c in self.calls]
        right = self.call("right")
        timing = f" in {right.elapsed_ms:.1f} ms" if right else ""
        return f"{self.method} {self.path} ({self.mode}): {', '.join(parts)}{timing}"


def parse_route(route: Any) -> tuple[str, str]:
    """``("GET", "/health")`` from ``"GET /health"``.

    Raises:
        HarnessConfigError: not a method and a path separated by a space.
    """
    method, _, path = str(route).strip().partition(" ")
    if not path.strip():
        raise HarnessConfigError(
            f"route must be a method and a path such as 'GET /session/{{session}}/status', got {route!r}."
        )
    verb, _, _ = validate(method, path.strip(), "right", "subprotocol" if method.upper() == WEBSOCKET else "header")
    return verb, path.strip()


def validate(method: str, path: str, auth: str, via: str) -> tuple[str, str, str]:
    """The method (upper case), auth and via, checked before anything is sent.

    Raises:
        HarnessConfigError: an unknown method, a path that does not start with ``/``, an unknown auth or via,
            or the subprotocol on a plain HTTP method.
    """
    verb = str(method).strip().upper()
    if verb not in (*HTTP_METHODS, WEBSOCKET):
        raise HarnessConfigError(f"method must be one of {', '.join((*HTTP_METHODS, WEBSOCKET))}, got {method!r}.")
    if not str(path).startswith("/"):
        raise HarnessConfigError(f"path must start with '/', got {path!r}.")
    kind = checks.choice("auth", auth, AUTHS)
    way = checks.choice("via", via, VIAS)
    if way == "subprotocol" and verb != WEBSOCKET:
        raise HarnessConfigError(f"via=subprotocol needs method WS (a WebSocket upgrade), got {verb}.")
    return verb, kind, way


class RouteCaller:
    """Calls routes of one loopback daemon with a chosen authentication.

    Args:
        base_url: ``http://127.0.0.1:<port>``.
        token: The daemon's bearer token (sent only for ``auth=right``; blanked out of every body excerpt).
        timeout_s: Bound on each call (connect, status and first bytes of the body).
    """

    def __init__(self, base_url: str, token: str | None, timeout_s: float = 10.0) -> None:
        if not base_url.startswith("http://127.0.0.1:"):
            raise HarnessConfigError(f"Only loopback daemons are targets, got {base_url!r}.")
        self.base_url = base_url
        self._token = token or ""
        self.timeout_s = timeout_s
        self._http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout_s), trust_env=False)

    def close(self) -> None:
        """Close pooled sockets (an idle keep-alive socket delays the daemon's shutdown by 5 s)."""
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        targets: RouteTargets,
        *,
        auth: str = "right",
        via: str = "header",
        body: str | None = None,
    ) -> RouteCall:
        """Call ``method path`` (placeholders filled from ``targets``) with the given authentication.

        Args:
            method: HTTP method, or ``WS`` for a WebSocket upgrade.
            path: Path with placeholders and optional query.
            targets: Values of the placeholders.
            auth: ``none``, ``wrong`` or ``right``.
            via: ``header`` or ``subprotocol`` (WebSocket only).
            body: Text sent as the JSON body (``Content-Type: application/json``), malformed on purpose if
                wanted; ``None`` sends no body.
        """
        verb, kind, way = validate(method, path, auth, via)
        secret = {"none": None, "wrong": WRONG_TOKEN, "right": self._token or None}[kind]
        url_path = targets.fill(path)
        if verb == WEBSOCKET:
            return self._upgrade(path, url_path, kind, way, secret)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        content = None
        if body is not None:
            content = body.encode()
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        with self._http.stream(verb, url_path, content=content, headers=headers) as response:
            received = b""
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= _READ_BYTES or "text/event-stream" in response.headers.get("content-type", ""):
                    break
            elapsed = (time.monotonic() - started) * 1000
        return self._answer(verb, path, kind, way, response.status_code, received, elapsed)

    def _upgrade(self, path: str, url_path: str, auth: str, via: str, secret: str | None) -> RouteCall:
        url = "ws://" + self.base_url.removeprefix("http://") + url_path
        headers = {}
        protocols = None
        if secret and via == "header":
            headers["Authorization"] = f"Bearer {secret}"
        elif secret:
            protocols = [BEARER_SUBPROTOCOL + base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")]
        started = time.monotonic()
        status: int | None
        try:
            with connect(
                url,
                subprotocols=protocols,
                additional_headers=headers or None,
                open_timeout=self.timeout_s,
                close_timeout=min(2.0, self.timeout_s),
                proxy=None,
                compression=None,
                logger=_SILENT,
            ) as ws:
                status = ws.response.status_code if ws.response is not None else 101
                body = b""
        except InvalidStatus as refused:
            status = refused.response.status_code
            body = refused.response.body or refused.response.reason_phrase.encode()
        except (WebSocketException, OSError, EOFError, TimeoutError):
            status, body = None, b""
        elapsed = (time.monotonic() - started) * 1000
        return self._answer(WEBSOCKET, path, auth, via, status, body, elapsed)

    def _answer(
        self, verb: str, path: str, auth: str, via: str, status: int | None, data: bytes, elapsed: float
    ) -> RouteCall:
        text = data.decode(errors="replace")
        if self._token:
            text = text.replace(self._token, "***")
        fields = _json_object(text)
        code, error = fields.get("code"), fields.get("error")
        return RouteCall(
            verb,
            path,
            auth,
            via,
            status,
            " ".join(text.split())[:EXCERPT_CHARS],
            elapsed,
            code if isinstance(code, str) else None,
            error if isinstance(error, str) else None,
        )


def _json_object(text: str) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            return data
    return {}
