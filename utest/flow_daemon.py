"""A small fake daemon on 127.0.0.1 for flow tests: sessions, prompts (echo turns over SSE), close, status.

Each prompt writes its whole turn (echo, three agent chunks, the end frame) into the session's ring at once;
an event stream answers with the ring from ``Last-Event-ID`` and closes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from keywords.traffic import barrier
from keywords.traffic.client import DaemonClient


class FakeDaemon(BaseHTTPRequestHandler):
    """Just enough of the daemon's routes for flows: sessions, prompts (echo turns over SSE), close, status."""

    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # one write per answer (headers and body apart meet delayed ACKs: 40 ms each)
    lock = threading.Lock()
    sessions: dict[str, list[bytes]] = {}
    closed: set[str] = set()
    counter = 0
    fail_prompt_of: set[int] = set()
    fail_from_turn = 0  # the sessions in fail_prompt_of fail from this turn on (0 = every turn)

    def log_message(self, *args):
        pass

    def _json(self, status: int, body: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.strip("/").split("/")
        with FakeDaemon.lock:
            if parts == ["session"]:
                FakeDaemon.counter += 1
                sid = f"s{FakeDaemon.counter}"
                FakeDaemon.sessions[sid] = []
                return self._json(200, {"sessionId": sid, "clientId": "c", "attached": False})
            sid = parts[1]
            if sid not in FakeDaemon.sessions or sid in FakeDaemon.closed:
                return self._json(404, {"error": "Session not found", "code": "session_not_found"})
            ring = FakeDaemon.sessions[sid]
            last = len(ring)
            pid = f"p-{sid}-{last}"
            turn = (
                ("turn_error", {"message": "boom", "code": "-1"})
                if int(sid[1:]) in FakeDaemon.fail_prompt_of and last // 5 >= FakeDaemon.fail_from_turn
                else ("turn_complete", {"stopReason": "end_turn"})
            )
            types = [("session_update", {"update": {"sessionUpdate": "user_message_chunk"}})]
            types += [("session_update", {"update": {"sessionUpdate": "agent_message_chunk"}})] * 3 + [turn]
            for n, (etype, data) in enumerate(types, start=last + 1):
                env = {"id": n, "v": 1, "type": etype, "promptId": pid, "data": {**data, "promptId": pid}}
                ring.append(f"id: {n}\nevent: {etype}\ndata: {json.dumps(env)}\n\n".encode())
        return self._json(202, {"promptId": pid, "lastEventId": last})

    def do_DELETE(self):
        sid = self.path.strip("/").split("/")[1]
        with FakeDaemon.lock:
            FakeDaemon.closed.add(sid)
        self._json(204)

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        sid = parts[1]
        with FakeDaemon.lock:
            gone = sid not in FakeDaemon.sessions or sid in FakeDaemon.closed
            ring = list(FakeDaemon.sessions.get(sid, []))
        if parts[2] == "status":
            return self._json(404 if gone else 200, {"code": "session_not_found"} if gone else {"sessionId": sid})
        after = int(self.headers.get("Last-Event-ID", "0"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"".join(ring[after:]))
        self.close_connection = True


class Server(ThreadingHTTPServer):
    """The fake's server, with room for a burst of connections."""

    request_queue_size = 128  # the default backlog of 5 drops SYNs of a burst (1 s retransmit)


@contextmanager
def serve() -> Iterator[DaemonClient]:
    """Run the fake daemon (state reset) and yield a client of it; stop it afterwards."""
    FakeDaemon.sessions, FakeDaemon.closed, FakeDaemon.counter, FakeDaemon.fail_prompt_of = {}, set(), 0, set()
    FakeDaemon.fail_from_turn = 0
    httpd = Server(("127.0.0.1", 0), FakeDaemon)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    client = DaemonClient(f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        yield client
    finally:
        client.close()
        httpd.shutdown()
        httpd.server_close()


def break_the_start_barrier(monkeypatch) -> None:
    """Make every start barrier wait for one more thread than there are, for 0.2 s: it can only break."""
    real = threading.Barrier

    class Stingy(real):
        def __init__(self, parties, timeout=None):
            super().__init__(parties + 1, timeout=0.2)

    monkeypatch.setattr(barrier.threading, "Barrier", Stingy)
