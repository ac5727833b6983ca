"""Keywords for the daemon at its limits: connection floods, raw requests, refusals, recovery, timers and
signalled shutdown."""

from __future__ import annotations

from typing import Any, Literal

from robotlibcore import keyword

from keywords.checks import Duration, number, seconds, whole_number
from keywords.components.component import Component, fail_on
from keywords.errors import DaemonHttpError, HarnessConfigError
from keywords.traffic import connections, limits
from keywords.traffic.answers import HttpAnswer, RateLimitRejections, retry_after_problems
from keywords.traffic.connections import ConnectionFloodResult, Recovery, ShutdownResult
from keywords.traffic.limits import ServiceCheck, TimerFiring

SignalName = Literal[tuple(connections.SIGNALS)]
Method = Literal[connections.METHODS]


class ConnectionKeywords(Component):
    """Raw connections and requests to the daemon (what HTTP client libraries hide), its refusals at a cap,
    its service after one, its timers and its exit on a signal."""

    @keyword(tags=("limits", "connections"))
    def open_connection_flood(
        self,
        count: int,
        *,
        timeout: Duration = 2.0,
        pause: Duration = 0.0,
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
        return self.reported(flood)

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
        self, *, timeout: Duration = 5.0, interval: Duration = 0.05, daemon: str | None = None
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
        timeout: Duration = 12.0,
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

    @keyword(tags=("limits", "connections", "assertion"))
    def connection_flood_should_respect_the_cap(self, flood: ConnectionFloodResult, cap: int) -> None:
        """Fail unless a flood shows a connection cap at work: at most ``cap`` served, the rest rejected at accept.

        The library's own pooled socket may hold one slot, so fewer than ``cap`` served is fine, none is not;
        every connection must have been either served or rejected (none timed out or failed otherwise).

        Args:
            flood: From `Open Connection Flood`.
            cap: The daemon's ``--max-connections``.

        Example:
            | ${flood}= | Open Connection Flood | 16 |
            | Connection Flood Should Respect The Cap | ${flood} | 8 |
        """
        problems = connections.flood_cap_problems(flood, cap)
        fail_on(problems, f"The flood should show the cap of {cap} connections at work, but", flood.summary())

    @keyword(tags=("limits", "connections"))
    def send_request_on_a_new_connection(
        self,
        path: str,
        *,
        method: Method = "GET",
        headers: dict[str, str] | None = None,
        json: Any = None,
        expected_status: int | None = 200,
        code: str | None = None,
        timeout: Duration = 5.0,
        daemon: str | None = None,
    ) -> HttpAnswer:
        """Send one request on a TCP connection of its own and read the whole answer.

        Each call opens a new connection (``Connection: close``), so requests come from different sockets
        (the rate limiter's buckets are per client id, not per socket). Headers are sent as given: a ``Host``
        or ``Origin`` no HTTP client library would send works too; the connection always goes to 127.0.0.1.
        The daemon's token is sent unless ``headers`` has an ``Authorization``. An event stream's answer is
        read up to its headers.

        Args:
            path: Request path with query, e.g. ``/capabilities`` or ``/session/${sid}/events``.
            method: ``GET``, ``POST`` or ``DELETE``.
            headers: Extra headers, e.g. ``&{header}`` made with ``VAR &{header} Host=evil.example``.
            json: An object sent as the JSON body.
            expected_status: Fail unless the answer has this status; ``${None}`` accepts any.
            code: Fail unless the body's ``code`` is this one (e.g. ``rate_limit_exceeded``); not checked when
                empty.
            timeout: Bound on the whole exchange (Robot time string or seconds, at most 60 s).

        Returns:
            ``HttpAnswer``: ``request``, ``status``, ``headers`` (lower-case names), ``body``, ``text``,
            ``elapsed_ms``; what the daemon says in it: ``code``, ``error``, ``retry_after``, ``retry_after_s``,
            ``limit``, ``pending_count``, ``tier``, ``retry_after_ms``, ``retryable``, ``timeout_ms``, ``phase``,
            ``rate_limit_limit``, ``rate_limit_remaining``, ``rate_limit_reset``, ``has_rate_limit_headers``,
            ``is_event_stream``; ``figures()`` and ``line()``.

        Example:
            | ${over}= | Send Request On A New Connection | /capabilities | expected_status=429 |
            | VAR | &{foreign} | Host=evil.example |
            | ${refused}= | Send Request On A New Connection | /health | headers=${foreign} | expected_status=403 |
        """
        timeout_s = seconds("timeout", timeout, high=60)
        if expected_status is not None:
            expected_status = whole_number("expected_status", expected_status, low=100, high=599)
        running = self.ctx.get(daemon)
        sent = dict(headers or {})
        token = running.client.token
        if token and not any(name.lower() == "authorization" for name in sent):
            sent["Authorization"] = f"Bearer {token}"
        try:
            answer = connections.send_request(
                running.daemon.port, path, method=method, headers=sent, json_body=json, timeout_s=timeout_s
            )
        except OSError as exc:
            raise AssertionError(f"{method} {path} should get an answer, but the connection failed: {exc}") from exc
        self.info(answer.line())
        if expected_status is not None and answer.status != expected_status:
            raise AssertionError(
                f"{method} {path} should answer {expected_status}, but answered {answer.status}: {answer.text[:300]}"
            )
        if code is not None and answer.code != code:
            raise AssertionError(f"{method} {path} should answer with code {code}, but said: {answer.text[:300]}")
        return answer

    @keyword(tags=("limits", "assertion"))
    def refusal_should_carry_retry_after(
        self, refusal: HttpAnswer | DaemonHttpError, *, seconds: int | None = None
    ) -> HttpAnswer:
        """Fail unless a refusal tells the client when to retry: a ``Retry-After`` of whole seconds.

        Args:
            refusal: From `Open Session Should Fail`, `Send Prompt Should Fail` or
                `Send Request On A New Connection`.
            seconds: The ``Retry-After`` it must have; any whole number of seconds when empty.

        Returns:
            The refusal as an ``HttpAnswer`` (the fields `Send Request On A New Connection` returns, every one
            listed below), to record with `Record Result`.

        Example:
            | ${err}= | Open Session Should Fail | 503 | session_limit_exceeded |
            | ${refusal}= | Refusal Should Carry Retry After | ${err} | seconds=5 |
            | Record Result | ${refusal} |
        """
        answer = _answer(refusal)
        wanted = None if seconds is None else whole_number("seconds", seconds, low=0, unit="s")
        problems = retry_after_problems(answer, wanted)
        fail_on(problems, f"The refusal {answer.request} -> {answer.status} should carry a Retry-After, but")
        return answer

    @keyword(tags=("limits", "assertion"))
    def refusal_should_say(self, refusal: HttpAnswer | DaemonHttpError, text: str) -> HttpAnswer:
        """Fail unless a refusal's ``error`` text contains ``text``.

        Args:
            refusal: From `Open Session Should Fail`, `Send Prompt Should Fail` or
                `Send Request On A New Connection`.
            text: What the daemon's explanation must contain.

        Returns:
            The refusal as an ``HttpAnswer`` (``status``, ``code``, ``error``, ``retryable``, ``timeout_ms``,
            ``phase``, ``elapsed_ms`` and the other fields listed below), to record with
            `Record Result`.

        Example:
            | ${err}= | Open Session Should Fail | 504 | init_timeout |
            | ${refusal}= | Refusal Should Say | ${err} | initialize timed out |
        """
        answer = _answer(refusal)
        if not isinstance(text, str) or not text:
            raise HarnessConfigError(f"text must be the words the refusal must contain, got {text!r}.")
        if text not in (answer.error or ""):
            raise AssertionError(
                f"The refusal {answer.request} -> {answer.status} should say {text!r}, but said {answer.error!r}."
            )
        return answer

    @keyword(tags=("limits", "status"))
    def get_rate_limit_rejections(
        self, *, client_id: str | None = None, daemon: str | None = None
    ) -> RateLimitRejections:
        """The daemon's own count of requests its rate limiter refused since it started (``/daemon/status``).

        Args:
            client_id: ``X-Qwen-Client-Id`` to ask with (the status route is rate limited too: a client id
                whose budget is not spent gets through).

        Returns:
            ``RateLimitRejections``: ``prompt``, ``mutation``, ``read`` (int, ``None`` without a rate limiter),
            ``enabled`` (bool), ``figures()`` and ``line()``.

        Example:
            | ${rejected}= | Get Rate Limit Rejections | client_id=limits-bob |
            | Should Be Equal As Integers | ${rejected.read} | 1 |
        """
        headers = {"X-Qwen-Client-Id": client_id} if client_id else None
        reply = self.ctx.get(daemon).client.request(
            "GET", "/daemon/status?detail=summary", headers=headers, route="/daemon/status"
        )
        rejections = RateLimitRejections.of_status(reply.body)
        return self.reported(rejections)

    @keyword(tags=("limits", "session"))
    def daemon_should_still_serve(
        self, *, client_id: str | None = None, timeout: Duration = 10.0, daemon: str | None = None
    ) -> ServiceCheck:
        """Fail unless the daemon still serves: ``/health`` is ok and a fresh session takes a prompt to its end.

        The prompt asks the mock agent for an echo of two chunks; the turn must end with ``turn_complete``
        ``end_turn`` with those chunks. Use it after a limit was hit, to show the daemon recovered.

        Args:
            client_id: ``X-Qwen-Client-Id`` for the session and its prompt (e.g. a fresh rate-limit bucket).
            timeout: Bound on the turn (Robot time string or seconds, at most 120 s).

        Returns:
            ``ServiceCheck``: ``health_status`` (int), ``session_id`` (str), ``session_ms`` (float, the
            create's round trip), ``turn`` (``TurnResult``), ``turn_ms`` (float), ``served`` (bool),
            ``problems`` (list of str), ``figures()`` (``freshSessionMs``, ``freshTurnMs``) and ``line()``.

        Example:
            | ${fresh}= | Daemon Should Still Serve |
            | Record Result | ${fresh} |
        """
        timeout_s = seconds("timeout", timeout, high=120)
        check = limits.check_service(self.ctx.get(daemon).client, client_id=client_id, timeout_s=timeout_s)
        if not check.served:
            raise AssertionError(f"The daemon should still serve a fresh session, but {'; '.join(check.problems)}.")
        return self.reported(check)

    @keyword(tags=("limits", "assertion"))
    def timer_should_have_fired_on_time(
        self, what: str, elapsed_ms: float, timer: Duration, *, margin: Duration, may_fire_early: bool = False
    ) -> TimerFiring:
        """Fail unless the daemon acted on one of its timers no earlier than the timer and within ``margin`` after.

        Args:
            what: The timer's name in messages, e.g. ``prompt deadline``.
            elapsed_ms: When the daemon acted, ms from the request (e.g. ``${turn.turn_ms}``,
                ``${refusal.elapsed_ms}``).
            timer: The timer as configured (Robot time string or seconds: ``${DEADLINE_MS} ms``).
            margin: How late the daemon may act (Robot time string or seconds).
            may_fire_early: Acting before the timer is fine too (a timeout already under way when the
                request came).

        Returns:
            ``TimerFiring``: ``what``, ``timer_ms``, ``margin_ms``, ``fired_ms``, ``late_ms`` (floats, ms;
            ``late_ms`` negative when it acted early), ``figures()`` (``firedMs``, ``lateMs``) and ``line()``.

        Example:
            | ${turn}= | Prompt And Wait | ${sid} | hang | mode=hang |
            | ${timer}= | Timer Should Have Fired On Time | prompt deadline | ${turn.turn_ms} | 1500 ms | margin=1 s |
            | Record Result | ${timer} |
        """
        if not isinstance(what, str) or not what.strip():
            raise HarnessConfigError(f"what must name the timer, e.g. prompt deadline, got {what!r}.")
        fired = number("elapsed_ms", elapsed_ms, low=0, unit="ms")
        timer_s = seconds("timer", timer, high=3600)
        margin_s = seconds("margin", margin, high=3600, allow_zero=True)
        firing = TimerFiring(what, timer_s * 1000, margin_s * 1000, fired, bool(may_fire_early))
        problems = firing.problems()
        fail_on(problems, f"The {what} should have been acted on in time, but")
        return self.reported(firing)


def _answer(refusal: Any) -> HttpAnswer:
    if isinstance(refusal, HttpAnswer):
        return refusal
    if isinstance(refusal, DaemonHttpError):
        return HttpAnswer.of_error(refusal)
    raise HarnessConfigError(
        "refusal must be what Open Session Should Fail, Send Prompt Should Fail or Send Request On A New "
        f"Connection returned, got a {type(refusal).__name__}: {refusal!r:.80}."
    )
