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


class DaemonDiedError(HarnessError):
    """A daemon the harness started ended while a test still used it (crash, kill, exit).

    Attributes:
        name: The daemon's name (``daemon-2``).
        pid: Its process id.
        exit_code: Its exit status (negative: ended by that signal).
        stderr_tail: Its last stderr lines.
    """

    def __init__(self, name: str, pid: int | None, exit_code: int | None, stderr_tail: str) -> None:
        self.name = name
        self.pid = pid
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        super().__init__(
            f"{name} (pid {pid}) is not running any more (exit {exit_code}). Last stderr lines:\n{stderr_tail}"
        )


class DaemonHttpError(HarnessError):
    """A daemon route answered with a status the caller did not expect.

    Attributes:
        method: HTTP method, e.g. ``POST``.
        route: Route template or path, e.g. ``/session``.
        status: HTTP status code.
        code: The daemon's ``code`` field (``session_limit_exceeded``), or ``None``.
        body: Parsed JSON body, or the text body.
        headers: Response headers (a plain dict, lower-case names).
        elapsed_ms: Request to full answer, monotonic clock, ms (``None`` when not measured).
    """

    def __init__(
        self,
        method: str,
        route: str,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        elapsed_ms: float | None = None,
    ) -> None:
        self.method = method
        self.route = route
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.elapsed_ms = elapsed_ms
        self.code = body.get("code") if isinstance(body, dict) else None
        error = body.get("error") if isinstance(body, dict) else str(body)[:300]
        code = f" {self.code}" if self.code is not None else ""
        super().__init__(f"{method} {route} -> {status}{code}: {error}")
