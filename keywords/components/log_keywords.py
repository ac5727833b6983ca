"""Keywords that wait for and read what the daemon writes to its logs."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from robotlibcore import keyword

from keywords.checks import seconds, whole_number
from keywords.components.component import Component
from keywords.errors import HarnessConfigError
from keywords.traffic import limits
from keywords.traffic.limits import SessionReaping, StreamCloses

POLL_S = 0.05


class LogKeywords(Component):
    """Wait for lines of a daemon's stderr and read the records of its log."""

    @keyword(tags=("daemon", "logs"))
    def get_daemon_log_lines(self, pattern: str | None = None, *, daemon: str | None = None) -> list[str]:
        """Lines of the daemon's own log file (``$HOME/.qwen/debug/daemon/daemon.log``) matching a regex.

        Works after the daemon stopped too: the live file under its HOME is read if it still exists, else the
        copy kept in its artifacts folder.

        Args:
            pattern: A regular expression searched for in each line; all lines when empty.

        Returns:
            The matching lines, in file order; an empty list when there is no log file.

        Example:
            | ${lines}= | Get Daemon Log Lines | SSE client evicted |
            | Should Not Be Empty | ${lines} |
        """
        return self.ctx.get(daemon, alive=False).daemon.daemon_log_lines(pattern)

    @keyword(tags=("daemon", "logs"))
    def get_daemon_stderr(self, lines: int = 40, *, daemon: str | None = None) -> str:
        """The last lines of the daemon's stderr (the agent child's stderr is included).

        Works after the daemon stopped too.

        Args:
            lines: How many lines from the end (1 to 100000).

        Returns:
            Those lines joined with newlines, or ``(no stderr captured)`` when the file cannot be read.

        Example:
            | ${tail}= | Get Daemon Stderr | 20 |
        """
        count = whole_number("lines", lines, low=1, high=100_000)
        return self.ctx.get(daemon, alive=False).daemon.stderr_tail(count)

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

    @keyword(tags=("logs", "limits"))
    def wait_for_session_to_be_reaped(
        self, session_id: str, *, timeout: timedelta | float = 10.0, daemon: str | None = None
    ) -> SessionReaping:
        """Wait until the daemon's idle reaper closes a session, as its stderr tells it; fail after ``timeout``.

        The reaper writes ``reaping idle session "<id>" (idle for Ns, threshold Ms)`` and then ``closing
        session "<id>" (reason: idle_timeout)``; the wait ends at the second line.

        Args:
            session_id: The session that must be reaped.
            timeout: How long to wait (Robot time string or seconds, at most 600 s).

        Returns:
            ``SessionReaping``: ``session_id``, ``reaped`` (bool), ``waited_ms`` (float, from the start of the
            wait), ``idle_for_s`` and ``threshold_s`` (int, as the daemon says them), ``figures()`` and
            ``line()``.

        Example:
            | ${lonely}= | Open Session |
            | ${reaping}= | Wait For Session To Be Reaped | ${lonely} | timeout=8 s |
            | Record Result | ${reaping} |
        """
        timeout_s = seconds("timeout", timeout, high=600)
        if not isinstance(session_id, str) or not session_id:
            raise HarnessConfigError(f"session_id must be a session id, got {session_id!r}.")
        path = self.ctx.get(daemon, alive=False).daemon.stderr_path

        def read() -> str:
            try:
                return path.read_text(errors="replace")
            except OSError:
                return ""

        reaping = limits.wait_for_reaping(read, session_id, timeout_s, POLL_S)
        if not reaping.reaped:
            raise AssertionError(
                f"The idle reaper should have closed session {session_id} within {timeout_s:g} s, but the "
                "daemon's stderr does not say so."
            )
        return self.reported(reaping)

    @keyword(tags=("logs", "events"))
    def get_stream_closes_from_daemon_log(
        self, *, reason: str | None = None, daemon: str | None = None
    ) -> StreamCloses:
        """The daemon's log records of closed SSE streams (``SSE stream closed``), of one close reason if given.

        Works after the daemon stopped too.

        Args:
            reason: Only streams closed for this ``closeReason`` (``writer_idle_timeout``,
                ``client_disconnect``...); all when empty.

        Returns:
            ``StreamCloses``: ``reason``, ``records`` (``StreamCloseRecord``: ``session_id``, ``stream_id``,
            ``close_reason``, ``terminal_event_type``, ``backpressure_count``, ``frames_written``, ``line``),
            ``count`` (int), ``max_backpressure_count`` (int or ``None``), ``figures()`` and ``line()``.

        Example:
            | ${closes}= | Get Stream Closes From Daemon Log | reason=writer_idle_timeout |
            | Should Be Equal As Integers | ${closes.count} | 2 |
        """
        lines = self.ctx.get(daemon, alive=False).daemon.daemon_log_lines(limits.STREAM_CLOSED)
        closes = limits.stream_closes(lines, reason)
        return self.reported(closes)
