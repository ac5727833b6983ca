"""Raw TCP connections to a daemon and shutdown timing: what the HTTP client libraries hide.

* :func:`open_flood` opens sockets one after another, each sending one keep-alive ``GET /health``; sockets
  the daemon serves stay open (they occupy ``--max-connections`` slots), refused ones are recorded;
  :func:`flood_cap_problems` says whether a flood respected a connection cap.
* :func:`send_request` sends one request on a connection of its own, with any headers (a foreign ``Host``
  too), and reads the whole answer (:class:`keywords.traffic.answers.HttpAnswer`).
* :func:`wait_until_served` polls with fresh sockets until the daemon answers again.
* :func:`signal_and_wait` sends a signal to a daemon process and measures the time to its exit, then lists
  the agent processes of its tree still alive.

Loopback only; every wait is bounded in count and time. No Robot Framework imports.
"""

from __future__ import annotations

import contextlib
import errno
import json
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from keywords.checks import choice, number, seconds, whole_number
from keywords.daemon.liveness import is_alive
from keywords.errors import HarnessConfigError
from keywords.traffic import answers
from keywords.traffic.answers import HttpAnswer

OUTCOMES = ("served", "reset", "eof", "refused", "timeout", "error")
_LOOPBACK = "127.0.0.1"


@dataclass
class Attempt:
    """One connection of a flood.

    Attributes:
        index: Position in the flood (0-based).
        outcome: ``served`` (an HTTP status line came back), ``reset`` (ECONNRESET/EPIPE), ``eof`` (closed
            without a byte), ``refused`` (connect refused), ``timeout`` or ``error``.
        status: HTTP status when served.
        elapsed_ms: Connect to outcome, monotonic clock.
        detail: Error text for the non-served outcomes.
    """

    index: int
    outcome: str
    status: int | None = None
    elapsed_ms: float = 0.0
    detail: str = ""


@dataclass
class ConnectionFloodResult:
    """Sockets opened against one daemon; the served ones stay open until :meth:`close`.

    Attributes:
        attempted: Connections tried.
        served: Connections that got an HTTP answer (kept open as keep-alive sockets).
        rejected: Connections the daemon reset or closed at once (``reset`` + ``eof`` + ``refused``).
        first_rejected: Index of the first rejected connection, or ``None``.
        attempts: Every attempt in order.
        elapsed_ms: Whole flood.
    """

    attempted: int = 0
    served: int = 0
    rejected: int = 0
    first_rejected: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    elapsed_ms: float = 0.0
    _sockets: list[socket.socket] = field(default_factory=list, repr=False)

    @property
    def outcomes(self) -> dict[str, int]:
        """Attempts per outcome."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for attempt in self.attempts:
            counts[attempt.outcome] += 1
        return {k: v for k, v in counts.items() if v}

    @property
    def open_sockets(self) -> int:
        """Sockets still held open."""
        return len(self._sockets)

    def close(self) -> None:
        """Close every socket still held (idempotent)."""
        while self._sockets:
            sock = self._sockets.pop()
            with contextlib.suppress(OSError):
                sock.close()

    def line(self) -> str:
        """One line: counts per outcome, the first rejected, the time the flood took."""
        parts = ", ".join(f"{k} {v}" for k, v in self.outcomes.items())
        return (
            f"{self.attempted} connections: {parts} (first rejected #{self.first_rejected}) in {self.elapsed_ms:.1f} ms"
        )

    summary = line  # the same line under the name the other stream and turn results use

    def figures(self) -> dict[str, Any]:
        """Connections per outcome by camelCase key; ``firstRejected`` is ``None`` when none was rejected."""
        return {
            "attempted": self.attempted,
            "served": self.served,
            "rejected": self.rejected,
            "firstRejected": self.first_rejected,
            "outcomes": self.outcomes,
            "floodMs": round(self.elapsed_ms, 1),
        }


@dataclass(frozen=True)
class Recovery:
    """Polling until the daemon serves a fresh connection again.

    Attributes:
        served: It answered within the bound.
        attempts: Connections tried.
        elapsed_ms: From the first try to the answer (or to giving up).
    """

    served: bool
    attempts: int
    elapsed_ms: float

    def line(self) -> str:
        """One line: served or not, after how many tries and how long."""
        verdict = "served again" if self.served else "not served"
        return f"{verdict} after {self.attempts} connection(s), {self.elapsed_ms:.0f} ms"

    def figures(self) -> dict[str, Any]:
        """``served``, ``attempts``, ``recoveryMs`` (``None`` when it never served)."""
        return {
            "served": self.served,
            "attempts": self.attempts,
            "recoveryMs": round(self.elapsed_ms, 1) if self.served else None,
        }


@dataclass(frozen=True)
class ShutdownResult:
    """A signal sent to a daemon and what followed.

    Attributes:
        signal_name: ``TERM``, ``INT`` or ``HUP``.
        exited: The daemon exited within the bound.
        exit_code: Its exit status (negative: killed by that signal), ``None`` if it did not exit.
        exit_ms: Signal to process exit, monotonic clock, ms (``None`` if it did not exit).
        leftovers: ``"<pid> <command>"`` of the daemon's tree still alive after the exit (agent processes).
        signalled_at: Monotonic time (s) the signal was sent (stream frames can be timed from it).
    """

    signal_name: str
    exited: bool
    exit_code: int | None
    exit_ms: float | None
    leftovers: list[str]
    signalled_at: float = 0.0

    def line(self) -> str:
        """One line: the signal, the exit code and time, what was left."""
        after = f"after {self.exit_ms:.0f} ms" if self.exit_ms is not None else "no exit"
        return f"SIG{self.signal_name} -> exit {self.exit_code} {after}; processes left: {len(self.leftovers)}"

    def figures(self) -> dict[str, Any]:
        """``exited``, ``exitCode``, ``exitMs`` (``None`` without an exit), ``processesLeft``."""
        return {
            "exited": self.exited,
            "exitCode": self.exit_code,
            "exitMs": None if self.exit_ms is None else round(self.exit_ms, 1),
            "processesLeft": len(self.leftovers),
        }


def _check_port(port: int) -> None:
    whole_number("port", port, low=1, high=65535)


def _get_request(port: int, path: str, close: bool) -> bytes:
    connection = "close" if close else "keep-alive"
    return f"GET {path} HTTP/1.1\r\nHost: {_LOOPBACK}:{port}\r\nConnection: {connection}\r\n\r\n".encode()


def _try_once(
    port: int, index: int, timeout_s: float, close: bool, path: str = "/health"
) -> tuple[Attempt, socket.socket | None]:
    """Connect, send ``GET path``, read the status line; return the attempt and the open socket if served."""
    started = time.monotonic()
    sock: socket.socket | None = None
    try:
        sock = socket.create_connection((_LOOPBACK, port), timeout=timeout_s)
        sock.sendall(_get_request(port, path, close))
        data = b""
        while b"\r\n" not in data and len(data) < 4096:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        ms = (time.monotonic() - started) * 1000
        if not data:
            sock.close()
            return Attempt(index, "eof", None, ms, "closed without an answer"), None
        line = data.split(b"\r\n", 1)[0].decode(errors="replace")
        parts = line.split()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        if close:
            sock.close()
            sock = None
        return Attempt(index, "served", status, ms, line), sock
    except OSError as exc:
        ms = (time.monotonic() - started) * 1000
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        if isinstance(exc, socket.timeout):
            outcome = "timeout"
        elif exc.errno in (errno.ECONNRESET, errno.EPIPE):
            outcome = "reset"
        elif exc.errno == errno.ECONNREFUSED:
            outcome = "refused"
        else:
            outcome = "error"
        return Attempt(index, outcome, None, ms, f"{type(exc).__name__}: {exc}"), None


def open_flood(
    port: int, count: int, timeout_s: float = 2.0, pause_s: float = 0.0, path: str = "/health"
) -> ConnectionFloodResult:
    """Open ``count`` connections one after another, each asking ``GET path`` with keep-alive.

    Served sockets stay open and are never read again (the caller must :meth:`ConnectionFloodResult.close` them);
    rejected ones are closed. With an SSE path (``/session/<id>/events``) each socket is a stream whose
    reader neither reads nor closes.

    Args:
        port: Daemon port on 127.0.0.1.
        count: Connections to open (1..1000).
        timeout_s: Bound per connection (connect and answer).
        pause_s: Pause between connections.
        path: Path to ask for (must start with ``/``).
    """
    _check_port(port)
    if not path.startswith("/") or any(c in path for c in "\r\n "):
        raise HarnessConfigError(f"path must be an absolute request path without spaces, got {path!r}.")
    count = whole_number("count", count, low=1, high=1000, unit="connections")
    timeout_s = seconds("timeout", timeout_s, high=60)
    pause_s = seconds("pause", pause_s, high=60, allow_zero=True)
    result = ConnectionFloodResult()
    started = time.monotonic()
    try:
        for index in range(count):
            attempt, sock = _try_once(port, index, timeout_s, close=False, path=path)
            result.attempts.append(attempt)
            result.attempted += 1
            if attempt.outcome == "served" and sock is not None:
                result.served += 1
                result._sockets.append(sock)
            elif attempt.outcome in ("reset", "eof", "refused"):
                result.rejected += 1
                if result.first_rejected is None:
                    result.first_rejected = index
            if pause_s:
                time.sleep(pause_s)
    except BaseException:
        result.close()
        raise
    result.elapsed_ms = (time.monotonic() - started) * 1000
    return result


def flood_cap_problems(flood: ConnectionFloodResult, cap: int) -> list[str]:
    """What keeps a flood from showing a connection cap of ``cap`` at work (empty when it does).

    At most ``cap`` connections are served (the library's own pooled socket may hold a slot, so fewer is
    fine, none is not); every connection over the cap is rejected at accept; no connection timed out or
    failed otherwise (each one was either served or rejected).
    """
    cap = whole_number("cap", cap, low=1, unit="connections")
    problems = []
    if not 0 < flood.served <= cap:
        problems.append(f"{flood.served} connections were served, expected 1 to {cap}")
    if flood.rejected < flood.attempted - cap:
        problems.append(f"only {flood.rejected} were rejected, expected at least {flood.attempted - cap}")
    if flood.served + flood.rejected != flood.attempted:
        problems.append(
            f"{flood.attempted - flood.served - flood.rejected} were neither served nor rejected ({flood.outcomes})"
        )
    return problems


METHODS = ("GET", "POST", "DELETE")
MAX_ANSWER_BYTES = 1_000_000


def send_request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    timeout_s: float = 5.0,
) -> HttpAnswer:
    """Send one request on a connection of its own (``Connection: close``) and read the whole answer.

    Headers are sent as given, a ``Host`` header included (it replaces ``127.0.0.1:<port>``), so requests no
    HTTP client library would send can be made; the connection goes to 127.0.0.1 whatever ``Host`` says. An
    event stream's answer is read up to its headers.

    Args:
        port: Daemon port on 127.0.0.1.
        path: Request path with query, starting with ``/``.
        method: ``GET``, ``POST`` or ``DELETE``.
        headers: Extra headers (names and values without line breaks).
        json_body: Object sent as JSON (``Content-Type: application/json``).
        timeout_s: Bound on the whole exchange.

    Raises:
        HarnessConfigError: a bad path, method or header.
        OSError: the connection failed or the daemon sent no complete answer within ``timeout_s``.
    """
    _check_port(port)
    if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in "\r\n "):
        raise HarnessConfigError(f"path must be an absolute request path without spaces, got {path!r}.")
    method = choice("method", str(method).upper(), METHODS)
    timeout_s = seconds("timeout", timeout_s, high=60)
    given = {str(k): str(v) for k, v in (headers or {}).items()}
    bad = [k for k, v in given.items() if any(c in k + v for c in "\r\n") or not k.strip() or ":" in k]
    if bad:
        raise HarnessConfigError(f"headers must be names and values without line breaks or colons in names: {bad}.")
    lines = [f"{method} {path} HTTP/1.1"]
    if not any(k.lower() == "host" for k in given):
        lines.append(f"Host: {_LOOPBACK}:{port}")
    lines += [f"{k}: {v}" for k, v in given.items() if k.lower() not in ("connection", "content-length")]
    content = b"" if json_body is None else json.dumps(json_body).encode()
    if json_body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(content)}"]
    lines.append("Connection: close")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + content
    started = time.monotonic()
    deadline = started + timeout_s
    raw = b""
    with socket.create_connection((_LOOPBACK, port), timeout=timeout_s) as sock:
        sock.sendall(request)
        for _ in range(MAX_ANSWER_BYTES // 512):  # bounded in reads as well as in time and size
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            raw += chunk
            if not chunk or answers.body_complete(raw) or len(raw) >= MAX_ANSWER_BYTES:
                break
    elapsed_ms = (time.monotonic() - started) * 1000
    try:
        return answers.parse(f"{method} {path}", raw, elapsed_ms)
    except ValueError as exc:
        raise OSError(f"{method} {path} got no complete HTTP answer ({len(raw)} bytes): {exc}") from exc


def wait_until_served(port: int, timeout_s: float = 5.0, interval_s: float = 0.05) -> Recovery:
    """Try fresh connections (``Connection: close``) until one gets an HTTP answer, within ``timeout_s``."""
    _check_port(port)
    timeout_s = seconds("timeout", timeout_s, high=120)
    interval_s = seconds("interval", interval_s, high=5)
    started = time.monotonic()
    attempts = 0
    max_attempts = int(timeout_s / interval_s) + 1
    while attempts < max_attempts:
        attempts += 1
        attempt, _sock = _try_once(port, attempts - 1, min(2.0, timeout_s), close=True)
        if attempt.outcome == "served":
            return Recovery(True, attempts, (time.monotonic() - started) * 1000)
        if time.monotonic() - started >= timeout_s:
            break
        time.sleep(interval_s)
    return Recovery(False, attempts, (time.monotonic() - started) * 1000)


SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "HUP": signal.SIGHUP}


def signal_and_wait(
    proc, tree: list[psutil.Process], signal_name: str = "TERM", timeout_s: float = 12.0, settle_s: float = 1.0
) -> ShutdownResult:
    """Send a signal to a daemon process, wait for its exit, and list what of its tree is still alive.

    Args:
        proc: The daemon's ``subprocess.Popen``.
        tree: The daemon's processes taken just before (daemon, launcher, agent).
        signal_name: TERM, INT or HUP.
        timeout_s: Bound on the wait for the exit (the daemon's own hard limit is 10 s).
        settle_s: After the exit, how long agent processes may take to disappear before they count as left.
    """
    name = choice("signal_name", str(signal_name).upper(), SIGNALS)
    timeout_s = seconds("timeout", timeout_s, high=60)
    settle_s = number("settle", settle_s, low=0, high=10, unit="s")
    started = time.monotonic()
    proc.send_signal(SIGNALS[name])
    try:
        code = proc.wait(timeout=timeout_s)
    except Exception:
        return ShutdownResult(name, False, None, None, [_describe(p) for p in tree if is_alive(p)], started)
    exit_ms = (time.monotonic() - started) * 1000
    others = [p for p in tree if p.pid != proc.pid]
    deadline = time.monotonic() + settle_s
    alive = [p for p in others if is_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if is_alive(p)]
    return ShutdownResult(name, True, code, exit_ms, [_describe(p) for p in alive], started)


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:120]}"
    except psutil.Error:
        return f"{proc.pid} ?"
