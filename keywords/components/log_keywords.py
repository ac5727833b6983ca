"""Keywords that wait for what the daemon writes to its logs."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from robotlibcore import keyword

from keywords.checks import seconds
from keywords.components.base import Component
from keywords.errors import HarnessConfigError

POLL_S = 0.05


class LogKeywords(Component):
    """Wait for lines of a daemon's stderr."""

    @keyword(tags=("logs",))
    def wait_for_daemon_stderr_line(
        self, pattern: str, *, timeout: timedelta | float = 5.0, daemon: str | None = None
    ) -> str:
        """Wait until a line of the daemon's stderr matches a regular expression; return that line.

        The stderr file is re-read every 50 ms; it also works on a daemon that has already stopped.

        Args:
            pattern: A regular expression searched for in each line.
            timeout: How long to wait before failing (Robot time string or seconds, at most 600 s).

        Returns:
            The first matching line.

        Example:
            | ${line}= | Wait For Daemon Stderr Line | closing session "${sid}" \\(reason: idle_timeout\\) |
            | Wait For Daemon Stderr Line | transport=ndjson_parse_error | timeout=10 s |
        """
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise HarnessConfigError(f"pattern must be a regular expression, got {pattern!r} ({exc}).") from exc
        timeout_s = seconds("timeout", timeout, high=600)
        path = self.ctx.get(daemon, alive=False).daemon.stderr_path
        deadline = time.monotonic() + timeout_s
        for _ in range(int(timeout_s / POLL_S) + 2):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                text = ""
            line = next((line for line in text.splitlines() if rx.search(line)), None)
            if line is not None:
                return line
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        raise AssertionError(f"No line of the daemon's stderr matched {pattern!r} within {timeout_s:g} s.")
