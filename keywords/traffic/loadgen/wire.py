"""The load generator's transport: HTTP/1.1 keep-alive requests and SSE streams on asyncio protocols.

Chosen by measurement (``benchmarks/loadgen_benchmark.py``): the functional keywords' httpx + sseclient-py
stack costs about 3.3 ms of client CPU per create -> prompt -> turn end -> close cycle, a raw socket 0.44 ms.
Here a connection is an :class:`asyncio.Protocol` (no stream objects, no coroutine per read): a request is
one ``write`` of prebuilt bytes, a response is parsed from the receive buffer once its head and body are in,
and an SSE stream hands each frame's ``data:`` line (bytes) to a callback. Only what the daemon sends is
understood: ``Content-Length`` bodies, chunked SSE bodies with one or more frames per chunk.

Only 127.0.0.1 is ever connected to. Nothing here logs or imports Robot Framework.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable

HOST = "127.0.0.1"
_HEAD_END = b"\r\n\r\n"


class WireError(ConnectionError):
    """A connection broke or the peer sent something this parser does not understand."""


async def connect(protocol: asyncio.Protocol, port: int) -> None:
    """Connect ``protocol`` to ``127.0.0.1:port``.

    A non-blocking ``connect`` on loopback is usually done at once, so the socket is handed to the loop ready
    (``create_connection(sock=...)``); only a connect still in progress waits on the loop. This skips most of
    asyncio's generic connect path, the largest cost of a stream opened per arrival (measured with cProfile).

    Raises:
        OSError: the connect was refused or failed.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        code = sock.connect_ex((HOST, port))
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            await loop.sock_connect(sock, (HOST, port))
        elif code:
            raise OSError(code, f"connect to {HOST}:{port} failed: {errno.errorcode.get(code, code)}")
        await loop.create_connection(lambda: protocol, sock=sock)
    except BaseException:
        sock.close()
        raise


def _head(raw: bytes) -> tuple[int, dict[bytes, bytes]]:
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise WireError(f"bad status line {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection that carries one request at a time.

    Args:
        port: The daemon's loopback port.
        auth: ``Authorization`` header line bytes (``b""`` without a token).
    """

    def __init__(self, port: int, auth: bytes = b"") -> None:
        self.port = port
        self._fixed = f"Host: {HOST}:{port}\r\n".encode() + auth
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future | None = None
        self._need: int | None = None
        self._status = 0
        self._got_bytes = False
        self.closed = True
        self.used = 0

    async def open(self) -> None:
        """Connect (with ``TCP_NODELAY``)."""
        await connect(self, self.port)

    # -- protocol callbacks --------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.closed = False
        self._buf.clear()

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.transport = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(WireError(f"connection closed ({exc or 'by peer'})"))

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        self._buf += data
        if self._waiter is None:
            return
        if self._need is None:
            end = self._buf.find(_HEAD_END)
            if end < 0:
                return
            try:
                self._status, headers = _head(bytes(self._buf[:end]))
            except WireError as exc:
                self._fail(exc)
                return
            del self._buf[: end + 4]
            self._need = int(headers.get(b"content-length", b"0") or 0)
        if len(self._buf) >= self._need:
            body = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            waiter, self._waiter, self._need = self._waiter, None, None
            if not waiter.done():
                waiter.set_result((self._status, body))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    # -- requests --------------------------------------------------------------------------------------
    async def request(self, method: bytes, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request and return ``(status, body)``; reconnects a closed connection first.

        A reused connection that the daemon closed while idle (its keep-alive is 5 s) is retried once on a
        fresh one when not a byte of the answer had arrived.

        Raises:
            WireError: the connection broke (or could not be made).
        """
        for attempt in (0, 1):
            fresh = self.closed
            if fresh:
                try:
                    await self.open()
                except OSError as exc:
                    raise WireError(f"connect failed: {exc}") from exc
            self._got_bytes = False
            self._need = None
            self._waiter = asyncio.get_running_loop().create_future()
            head = method + b" " + path.encode() + b" HTTP/1.1\r\n" + self._fixed
            if body is not None:
                head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
            self.transport.write(head + b"\r\n" + (body or b""))
            self.used += 1
            try:
                return await self._waiter
            except WireError:
                if attempt or fresh or self._got_bytes:
                    raise
        raise WireError("unreachable")

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self.transport is not None:
            self.transport.close()


class SseStream(asyncio.Protocol):
    """One ``GET /session/:id/events`` stream; every frame's ``data:`` line goes to ``on_frame(data, now)``.

    Args:
        port: The daemon's loopback port.
        path: ``/session/<id>/events`` (with its query, if any).
        on_frame: Called with the frame's data bytes (one JSON line) and the loop's monotonic time.
        headers: Extra header lines (``Last-Event-ID: 3\\r\\n``, the ``Authorization`` line).
        on_end: Called once when the stream ends (the daemon's last chunk, or a broken connection).
    """

    def __init__(
        self,
        port: int,
        path: str,
        on_frame: Callable[[bytes, float], None],
        headers: bytes = b"",
        on_end: Callable[[SseStream], None] | None = None,
    ) -> None:
        self.port = port
        self.path = path
        self.on_frame = on_frame
        self.on_end = on_end
        self._request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n".encode()
        self._request += headers + b"\r\n"
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.connected: asyncio.Future | None = None
        self.ended = False
        self.malformed = 0
        self._buf = bytearray()
        self._frames = bytearray()
        self._in_body = False
        self._time: Callable[[], float] | None = None  # the loop's clock, set in open()

    async def open(self, timeout_s: float = 10.0) -> int:
        """Connect, send the request and wait for the status line; returns the status (200 on success, 0 when
        no status came within ``timeout_s``).

        The bound is a timer on the status future, not :func:`asyncio.wait_for` (which costs a task per call:
        a cycle load opens a stream per arrival). A loopback connect is answered at once or refused.
        """
        loop = asyncio.get_running_loop()
        self._time = loop.time
        self.connected = connected = loop.create_future()
        timer = loop.call_later(timeout_s, lambda: connected.done() or connected.set_result(0))
        try:
            await connect(self, self.port)
            status = await connected
        except OSError as exc:
            raise WireError(f"connect failed: {exc}") from exc
        finally:
            timer.cancel()
        if status == 0:
            self.close()
        return status

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc) -> None:
        self.transport = None
        if self.connected is not None and not self.connected.done():
            self.connected.set_result(0)
        self._end()

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            if self.on_end is not None:
                self.on_end(self)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._in_body:
            end = buf.find(_HEAD_END)
            if end < 0:
                return
            try:
                self.status, _headers = _head(bytes(buf[:end]))
            except WireError:
                self.status = 0
            del buf[: end + 4]
            self._in_body = True
            if self.connected is not None and not self.connected.done():
                self.connected.set_result(self.status)
            if self.status != 200:
                self.close()
                return
        frames = self._frames
        while True:  # chunked transfer coding: <hex size>\r\n<payload>\r\n
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                break
            try:
                size = int(bytes(buf[:line_end]).split(b";", 1)[0] or b"0", 16)
            except ValueError:  # not chunked coding: end the stream rather than guess
                self.malformed += 1
                del buf[:]
                self.close()
                break
            if size == 0:
                del buf[:]
                self.close()
                break
            if len(buf) < line_end + 2 + size + 2:
                break
            frames += buf[line_end + 2 : line_end + 2 + size]
            del buf[: line_end + 2 + size + 2]
        if not frames:
            return
        now = self._time()
        while True:
            cut = frames.find(b"\n\n")
            if cut < 0:
                break
            frame = bytes(frames[:cut])
            del frames[: cut + 2]
            at = frame.find(b"data: ")
            if at < 0:
                continue  # retry:, heartbeat comments
            stop = frame.find(b"\n", at)
            self.on_frame(frame[at + 6 : stop if stop >= 0 else len(frame)], now)

    def close(self) -> None:
        """Close the stream (idempotent)."""
        if self.transport is not None:
            self.transport.close()
