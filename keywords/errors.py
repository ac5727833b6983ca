"""Error types of the harness. Each message says what was wrong, where, and what to do."""

from __future__ import annotations

from typing import Any


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class HarnessConfigError(HarnessError, ValueError):
    """Bad input found before any process started (argument, path, mode, count)."""


class HarnessSetupError(HarnessError):
    """The machine lacks something the daemon needs (Node.js, npm, an install)."""


class DaemonBootError(HarnessError):
    """The daemon did not come up: it exited, or never printed its listening line."""


class DaemonHttpError(HarnessError):
    """A daemon route answered with a status the caller did not expect.

    Attributes:
        method: HTTP method, e.g. ``POST``.
        route: Route template or path, e.g. ``/session``.
        status: HTTP status code.
        code: The daemon's ``code`` field (``session_limit_exceeded``), or ``None``.
        body: Parsed JSON body, or the text body.
        headers: Response headers (a plain dict, lower-case names).
    """

    def __init__(self, method: str, route: str, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.method = method
        self.route = route
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.code = body.get("code") if isinstance(body, dict) else None
        error = body.get("error") if isinstance(body, dict) else str(body)[:300]
        code = f" {self.code}" if self.code is not None else ""
        super().__init__(f"{method} {route} -> {status}{code}: {error}")
