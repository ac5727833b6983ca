"""Keywords for the daemon's caps and failure paths: connection floods, many streams, signals, agent restarts."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from robotlibcore import keyword

from keywords.components.base import Component
from keywords.errors import HarnessConfigError
from keywords.traffic import connections
from keywords.traffic.connections import FloodResult, Recovery, ShutdownResult
from keywords.traffic.sse import StreamOptions, StreamResult, Subscription


@dataclass
class StreamsSummary:
    """What a group of background subscriptions saw.

    Attributes:
        count: Subscriptions collected.
        statuses: Subscribe status -> number of streams.
        ends: End reason (``terminal``, ``until_type``, ``timeout``...) -> number of streams.
        terminals: Terminal frame type -> number of streams.
        results: The individual ``StreamResult`` objects, in the order given.
    """

    count: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    ends: dict[str, int] = field(default_factory=dict)
    terminals: dict[str, int] = field(default_factory=dict)
    results: list[StreamResult] = field(default_factory=list)

    def count_with(self, event_type: str, code: str | None = None, reason: str | None = None) -> int:
        """Streams that received at least one frame of ``event_type`` (with this ``code``/``reason``)."""
        return sum(1 for r in self.results if _has(r, event_type, code, reason))

    def summary(self) -> str:
        """One line: statuses, ends, terminals."""
        return f"{self.count} streams; status {self.statuses}; ends {self.ends}; terminals {self.terminals}"


def _matches(env: dict, event_type: str, code: str | None, reason: str | None) -> bool:
    if env.get("type") != event_type:
        return False
    data = env.get("data") if isinstance(env.get("data"), dict) else {}
    if code is not None and str(data.get("code")) != code:
        return False
    return reason is None or data.get("reason") == reason


def _has(result: StreamResult, event_type: str, code: str | None, reason: str | None) -> bool:
    return any(_matches(env, event_type, code, reason) for env in result.events)


class LimitsKeywords(Component):
    """Probe the daemon's caps, timers and failure paths (raw sockets, many streams, signals)."""

    # -- connections --------------------------------------------------------------------------
    @keyword(tags=("limits", "connections"))
    def open_connection_flood(
        self, count: int, timeout: float = 2.0, pause: float = 0.0, path: str = "/health", daemon: str | None = None
    ) -> FloodResult:
        """Open ``count`` TCP connections one after another, each sending a keep-alive ``GET path``.

        Connections the daemon serves stay open and occupy ``--max-connections`` slots until
        `Close Connection Flood` (or the daemon's stop); the ones it resets at accept are counted.

        Args:
            count: Connections to open (1..1000).
            timeout: Seconds per connection.
            pause: Seconds between connections.
            path: Request path; ``/session/<id>/events`` makes each socket an SSE stream that is never read
                nor closed (a client that keeps its socket after the stream ends).

        Returns:
            ``FloodResult`` with ``attempted``, ``served``, ``rejected``, ``first_rejected``, ``outcomes``,
            ``elapsed_ms``.

        Example:
            | ${flood}= | Open Connection Flood | 12 |
            | Should Be True | ${flood.rejected} > 0 |
            | Close Connection Flood | ${flood} |
            | ${holder}= | Open Connection Flood | 1 | path=/session/${sid}/events |
        """
        running = self.ctx.get(daemon)
        flood = connections.open_flood(running.daemon.port, int(count), float(timeout), float(pause), path)
        running.daemon.on_stop(flood.close)
        self.info(flood.summary())
        return flood

    @keyword(tags=("limits", "connections"))
    def close_connection_flood(self, flood: FloodResult) -> None:
        """Close every socket a flood still holds.

        Example:
            | Close Connection Flood | ${flood} |
        """
        flood.close()

    @keyword(tags=("limits", "connections"))
    def wait_until_daemon_accepts_connections(
        self, timeout: float = 5.0, interval: float = 0.05, daemon: str | None = None
    ) -> Recovery:
        """Try fresh connections until the daemon answers ``GET /health`` on one; fail after ``timeout``.

        Each try is a new TCP connection with ``Connection: close``; any HTTP answer counts as served.

        Args:
            timeout: Seconds to keep trying (at most 120).
            interval: Seconds between two tries (at most 5).

        Returns:
            ``Recovery`` with ``served``, ``attempts``, ``elapsed_ms``.

        Example:
            | ${recovery}= | Wait Until Daemon Accepts Connections | timeout=5 |
        """
        recovery = connections.wait_until_served(self.ctx.get(daemon).daemon.port, float(timeout), float(interval))
        if not recovery.served:
            raise AssertionError(
                f"The daemon did not serve a fresh connection within {timeout} s ({recovery.attempts} attempts)."
            )
        return recovery

    # -- many streams -------------------------------------------------------------------------
    @keyword(tags=("limits", "events"))
    def open_event_streams(
        self, session_id: str, count: int, until: str | None = None, timeout: float = 30.0, daemon: str | None = None
    ) -> list[Subscription]:
        """Open ``count`` background SSE subscriptions on one session and wait until each is answered.

        Fails if any subscription is refused (use a plain request to probe the one over a cap).

        Args:
            session_id: The session.
            count: Subscriptions (1..256).
            until: Stop each at the first frame of these types (comma separated).
            timeout: Bound on each subscription, seconds.

        Returns:
            The running ``Subscription`` objects, in opening order; pass them to `Collect Event Streams`.

        Example:
            | ${subs}= | Open Event Streams | ${sid} | 64 | until=turn_complete |
        """
        if isinstance(count, bool) or not 1 <= int(count) <= 256:
            raise HarnessConfigError(f"count must be from 1 to 256 streams, got {count!r}.")
        running = self.ctx.get(daemon)
        until_types = tuple(t.strip() for t in until.split(",") if t.strip()) if until else ()
        subs = []
        for _ in range(int(count)):
            options = StreamOptions(until_types=until_types, timeout_s=float(timeout))
            sub = Subscription(running.client.base_url, session_id, options, running.client.token).start()
            running.subscriptions.append(sub)
            subs.append(sub)
        deadline = time.monotonic() + 15.0
        for index, sub in enumerate(subs):
            if not sub.wait_connected(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"Event stream #{index + 1} of {session_id} did not answer within 15 s.")
            if sub.result.status != 200:
                raise AssertionError(f"Event stream #{index + 1} of {session_id} was refused: {sub.result.error}")
        return subs

    @keyword(tags=("limits", "events"))
    def collect_event_streams(
        self, subscriptions: list[Subscription], timeout: float = 30.0, stop: bool = False
    ) -> StreamsSummary:
        """Wait for background subscriptions to end (or stop them) and summarise what they saw.

        Args:
            subscriptions: From `Open Event Streams` or `Subscribe To Events`.
            timeout: Overall bound in seconds; subscriptions still running then are stopped.
            stop: Stop them all now instead of waiting for their stop conditions.

        Returns:
            ``StreamsSummary`` (``count``, ``statuses``, ``ends``, ``terminals``, ``results``;
            ``${summary.count_with('turn_error', 'daemon_shutdown')}`` counts streams with that frame).

        Example:
            | ${all}= | Collect Event Streams | ${subs} | timeout=10 |
            | Should Be Equal As Integers | ${all.count_with('turn_complete')} | 64 |
        """
        if stop:
            for sub in subscriptions:
                sub.stop()
        deadline = time.monotonic() + float(timeout)
        results = [sub.join(max(0.1, deadline - time.monotonic())) for sub in subscriptions]
        summary = StreamsSummary(
            count=len(results),
            statuses=dict(Counter(r.status for r in results)),
            ends=dict(Counter(r.end for r in results)),
            terminals=dict(Counter(r.terminal for r in results if r.terminal)),
            results=results,
        )
        self.info(summary.summary())
        return summary

    @keyword(tags=("limits", "events", "assertion"))
    def stream_should_contain_event(
        self, stream: StreamResult, event_type: str, code: str | None = None, reason: str | None = None
    ) -> dict:
        """Fail unless a stream result holds a frame of this type (with this ``code``/``reason`` in its data).

        Only frames kept in the result are searched (not those of a subscription with ``keep_events=${False}``).

        Args:
            stream: A stream result (`Read Events`, `Collect Events`, ``${summary.results}``).
            event_type: The frame type, e.g. ``turn_error`` or ``client_evicted``.
            code: Required ``code`` of the frame's data (compared as text); not checked when empty.
            reason: Required ``reason`` of the frame's data; not checked when empty.

        Returns:
            The first matching frame (envelope dict with ``_recv_ms``, ms from the subscribe request).

        Example:
            | ${frame}= | Stream Should Contain Event | ${stream} | turn_error | code=session_closed |
        """
        for env in stream.events:
            if _matches(env, event_type, code, reason):
                return env
        want = " ".join(x for x in (event_type, code, reason) if x)
        raise AssertionError(f"No {want} frame; saw {stream.counts} ({stream.summary()}).")

    # -- shutdown -----------------------------------------------------------------------------
    @keyword(tags=("limits", "daemon"))
    def signal_daemon_and_wait_for_exit(
        self, signal_name: str = "TERM", timeout: float = 12.0, close_client: bool = True, daemon: str | None = None
    ) -> ShutdownResult:
        """Send a signal to the daemon while its streams stay open, and measure the time until it exits.

        Unlike `Stop Daemon`, open subscriptions are left running, so they see the daemon's shutdown frames.
        The library's own pooled keep-alive socket is closed first unless ``close_client`` is false (an idle
        keep-alive socket makes the daemon wait about 5 s). The daemon stays registered; `Stop All Daemons`
        cleans up afterwards.

        Args:
            signal_name: TERM, INT or HUP.
            timeout: Seconds to wait for the exit.
            close_client: Close the library's HTTP connection pool before the signal.

        Returns:
            ``ShutdownResult`` with ``exited``, ``exit_code``, ``exit_ms``, ``leftovers`` (processes of its tree
            still alive 1 s after the exit).

        Example:
            | ${shutdown}= | Signal Daemon And Wait For Exit | TERM |
            | Should Be Empty | ${shutdown.leftovers} |
        """
        running = self.ctx.get(daemon)
        proc = running.daemon.proc
        if proc is None or proc.poll() is not None:
            raise AssertionError(f"{running.daemon.name} is not running.")
        if close_client:
            running.client.close()
        result = connections.signal_and_wait(proc, running.daemon.tree(), signal_name, float(timeout))
        ms = "no exit" if result.exit_ms is None else f"{result.exit_ms:.0f} ms"
        self.info(f"SIG{result.signal_name} -> exit {result.exit_code} after {ms}; left: {result.leftovers or 'none'}")
        return result

    # -- agent --------------------------------------------------------------------------------
    @keyword(tags=("limits", "mock"))
    def set_mock_init_mode(self, init_mode: str = "normal", daemon: str | None = None) -> None:
        """Change how the next mock agent the daemon spawns answers ``initialize`` (normal, never, exit, no-guard).

        The agent reads its config file once at start, so this affects the next spawn (e.g. after a failed
        ``initialize`` killed the agent), not a running agent. Only a daemon started with the mock agent has
        init modes.

        Args:
            init_mode: ``normal`` (answer ``initialize``), ``never`` (do not answer), ``exit`` (exit with status 1
                on it) or ``no-guard`` (answer without the external-tool-guard acknowledgement).

        Example:
            | Set Mock Init Mode | normal |
            | ${sid}= | Open Session |
        """
        from mock_acp import directives

        if init_mode not in directives.INIT_MODES:
            raise HarnessConfigError(f"Unknown init mode {init_mode!r}; known: {', '.join(directives.INIT_MODES)}.")
        running = self.ctx.get(daemon)
        if running.control_file is None:
            raise HarnessConfigError(f"{running.daemon.name} runs the real agent; only the mock has init modes.")
        config_path = running.control_file.parent / "config.json"
        config = json.loads(config_path.read_text())
        config["init_mode"] = init_mode
        directives.write_json_atomic(config_path, config)

    @keyword(tags=("limits", "process"))
    def get_agent_pids(self, daemon: str | None = None) -> list[int]:
        """Pids of the daemon's live mock agent processes (``mock_acp/agent.py``).

        Returns:
            The pids (integers) of the tree's processes whose command line runs ``agent.py``, sorted; empty
            when no mock agent runs.

        Example:
            | ${before}= | Get Agent Pids |
            | Should Not Be Empty | ${before} |
        """
        pids = []
        for proc in self.ctx.get(daemon).daemon.tree():
            try:
                if any(part.endswith("agent.py") for part in proc.cmdline()):
                    pids.append(proc.pid)
            except Exception:
                continue
        return sorted(pids)

    # -- logs ---------------------------------------------------------------------------------
    @keyword(tags=("limits", "logs"))
    def wait_for_daemon_stderr_line(self, pattern: str, timeout: float = 5.0, daemon: str | None = None) -> str:
        """Wait until a line of the daemon's stderr matches a regular expression; return that line.

        The stderr file is re-read every 50 ms; it also works on a daemon that has already stopped.

        Args:
            pattern: A regular expression searched for in each line.
            timeout: Seconds to wait before failing.

        Returns:
            The first matching line.

        Example:
            | ${line}= | Wait For Daemon Stderr Line | closing session "${sid}" \\(reason: idle_timeout\\) |
        """
        rx = re.compile(pattern)
        path = self.ctx.get(daemon, alive=False).daemon.stderr_path
        deadline = time.monotonic() + float(timeout)
        while True:
            try:
                text = path.read_text(errors="replace")
            except OSError:
                text = ""
            for line in text.splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"No daemon stderr line matched {pattern!r} within {timeout} s.")
            time.sleep(0.05)
