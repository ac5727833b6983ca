"""Keywords for the daemon's TCP side: connection floods, recovery after them, and signalled shutdown."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from robotlibcore import keyword

from keywords.checks import seconds
from keywords.components.base import Component
from keywords.traffic import connections
from keywords.traffic.connections import ConnectionFloodResult, Recovery, ShutdownResult

SignalName = Literal[tuple(connections.SIGNALS)]


class ConnectionKeywords(Component):
    """Raw connections to the daemon (what HTTP client libraries hide) and its exit on a signal."""

    @keyword(tags=("limits", "connections"))
    def open_connection_flood(
        self,
        count: int,
        *,
        timeout: timedelta | float = 2.0,
        pause: timedelta | float = 0.0,
        path: str = "/health",
        daemon: str | None = None,
    ) -> ConnectionFloodResult:
        """Open ``count`` TCP connections one after another, each sending a keep-alive ``GET path``.

        Connections the daemon serves stay open and occupy ``--max-connections`` slots until
        `Close Connection Flood` (or the daemon's stop); the ones it resets at accept are counted.

        Args:
            count: Connections to open, 1 to 1000.
            timeout: Bound per connection (Robot time string or seconds, at most 60 s).
            pause: Pause between two connections (0 to 60 s).
            path: Request path; ``/session/<id>/events`` makes each socket an SSE stream that is never read
                nor closed (a client that keeps its socket after the stream ends).

        Returns:
            ``ConnectionFloodResult``: ``attempted``, ``served``, ``rejected``, ``first_rejected``, ``outcomes``
            (outcome -> connections), ``attempts``, ``elapsed_ms``, ``figures()``, ``line()``.

        Example:
            | ${flood}= | Open Connection Flood | 12 |
            | Should Be True | ${flood.rejected} > 0 |
            | Close Connection Flood | ${flood} |
            | ${holder}= | Open Connection Flood | 1 | path=/session/${sid}/events |
        """
        timeout_s = seconds("timeout", timeout, high=60)
        pause_s = seconds("pause", pause, high=60, allow_zero=True)
        running = self.ctx.get(daemon)
        flood = connections.open_flood(running.daemon.port, count, timeout_s, pause_s, path)
        running.daemon.on_stop(flood.close)
        self.info(flood.line())
        return flood

    @keyword(tags=("limits", "connections"))
    def close_connection_flood(self, flood: ConnectionFloodResult) -> None:
        """Close every socket a flood still holds (closing twice is fine).

        Args:
            flood: From `Open Connection Flood`.

        Example:
            | Close Connection Flood | ${flood} |
        """
        flood.close()

    @keyword(tags=("limits", "connections"))
    def wait_until_daemon_accepts_connections(
        self,
        *,
        timeout: timedelta | float = 5.0,
        interval: timedelta | float = 0.05,
        daemon: str | None = None,
    ) -> Recovery:
        """Try fresh connections until the daemon answers ``GET /health`` on one; fail after ``timeout``.

        Each try is a new TCP connection with ``Connection: close``; any HTTP answer counts as served.

        Args:
            timeout: How long to keep trying (Robot time string or seconds, at most 120 s).
            interval: Pause between two tries (at most 5 s).

        Returns:
            ``Recovery``: ``served``, ``attempts``, ``elapsed_ms``, ``figures()``, ``line()``.

        Example:
            | ${recovery}= | Wait Until Daemon Accepts Connections | timeout=5 s |
        """
        timeout_s = seconds("timeout", timeout, high=120)
        interval_s = seconds("interval", interval, high=5)
        recovery = connections.wait_until_served(self.ctx.get(daemon).daemon.port, timeout_s, interval_s)
        if not recovery.served:
            raise AssertionError(
                f"The daemon did not serve a fresh connection within {timeout_s:g} s ({recovery.attempts} attempts)."
            )
        return recovery

    @keyword(tags=("limits", "daemon"))
    def signal_daemon_and_wait_for_exit(
        self,
        signal_name: SignalName = "TERM",
        *,
        timeout: timedelta | float = 12.0,
        close_client: bool = True,
        daemon: str | None = None,
    ) -> ShutdownResult:
        """Send a signal to the daemon while its streams stay open, and measure the time until it exits.

        Unlike `Stop Daemon`, open subscriptions are left running, so they see the daemon's shutdown frames.
        The library's own pooled keep-alive socket is closed first unless ``close_client`` is false (an idle
        keep-alive socket makes the daemon wait about 5 s). The daemon stays registered; `Stop All Daemons`
        cleans up afterwards.

        Args:
            signal_name: The signal to send.
            timeout: How long to wait for the exit (Robot time string or seconds, at most 60 s).
            close_client: Close the library's HTTP connection pool before the signal.

        Returns:
            ``ShutdownResult``: ``signal_name``, ``exited``, ``exit_code``, ``exit_ms``, ``leftovers``
            (``"<pid> <command>"`` of its tree still alive 1 s after the exit), ``figures()``, ``line()``.

        Example:
            | ${shutdown}= | Signal Daemon And Wait For Exit | TERM |
            | Should Be Empty | ${shutdown.leftovers} |
        """
        timeout_s = seconds("timeout", timeout, high=60)
        running = self.ctx.get(daemon)
        proc = running.daemon.proc
        if proc is None or proc.poll() is not None:
            raise AssertionError(f"{running.daemon.name} is not running, so it cannot be sent SIG{signal_name}.")
        if close_client:
            running.client.close()
        result = connections.signal_and_wait(proc, running.daemon.tree(), signal_name, timeout_s)
        self.info(result.line() + (f": {result.leftovers}" if result.leftovers else ""))
        return result
