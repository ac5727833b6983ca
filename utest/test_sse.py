"""SSE reading (keywords.traffic.sse) against a tiny scripted SSE server on 127.0.0.1.

The server plays one script per session id: frames with ids, gaps, duplicates, malformed data, synthetic frames,
terminal frames, a clean end of body, or a connection cut in the middle of a chunked body.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keywords.errors import HarnessConfigError
from keywords.traffic.sse import StreamOptions, Subscription, consume

STREAM_ID = "11111111-2222-3333-4444-555555555555"


def frame(event_type: str, event_id: int | None = None, data: dict | None = None, prompt_id: str | None = None):
    env: dict = {"v": 1, "type": event_type, "data": data or {}, "_meta": {"serverTimestamp": time.time() * 1000}}
    if event_id is not None:
        env["id"] = event_id
    if prompt_id:
        env["promptId"] = prompt_id
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event_type}\ndata: {json.dumps(env)}\n\n".encode()


def updates(ids):
    return [frame("session_update", i, {"update": {"sessionUpdate": "agent_message_chunk"}}) for i in ids]


SCRIPTS = {
    "ok": [*updates(range(1, 6)), frame("session_closed", data={"reason": "client_close"})],
    "gaps": [*updates([1, 2, 4, 4, 5])],
    "malformed": [updates([1])[0], b"event: x\ndata: not json\n\n", updates([2])[0]],
    "evicted": [*updates([1, 2]), frame("client_evicted", data={"reason": "queue_overflow", "droppedAfter": 9})],
    "replay": [*updates([4, 5]), frame("replay_complete", data={"replayedCount": 2}), *updates([6])],
    "turn": [
        *updates([1, 2]),
        frame("turn_complete", 3, {"stopReason": "end_turn"}, prompt_id="other"),
        frame("turn_complete", 4, {"stopReason": "end_turn"}, prompt_id="mine"),
        *updates([5]),
    ],
    "many": updates(range(1, 51)),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        Handler.seen.append({"path": self.path, "headers": dict(self.headers)})
        sid = parts[1] if len(parts) == 3 else ""
        if sid == "missing":
            body = b'{"error":"Session not found","code":"session_not_found"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("X-Qwen-SSE-Stream-Id", STREAM_ID)
        self.send_header("X-Qwen-Event-Epoch", "epoch-1")
        if sid.startswith("cut"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in [b"retry: 3000\n\n", *updates([1, 2])]:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            partial = b'id: 3\nevent: session_update\ndata: {"v"'
            self.wfile.write(f"{len(partial) + 200:x}\r\n".encode() + partial)  # a chunk that never completes
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"retry: 3000\n\n")
        for chunk in SCRIPTS[sid]:
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A reader that stopped early (max_events, stop) closes its socket under a writing handler: expected."""


@pytest.fixture(scope="module")
def server():
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def read(server, sid, **options):
    options.setdefault("timeout_s", 5.0)
    return consume(server, sid, StreamOptions(**options))


def test_terminal_frame_ends_the_stream_with_ids_and_headers(server):
    res = read(server, "ok")
    assert res.status == 200
    assert res.ids == [1, 2, 3, 4, 5]
    assert res.last_id == 5
    assert res.no_gaps
    assert res.end == "terminal" and res.terminal == "session_closed"
    assert res.terminal_data == {"reason": "client_close"}
    assert not res.evicted
    assert res.stream_id == STREAM_ID and res.epoch == "epoch-1"
    assert res.counts == {"session_update": 5, "session_closed": 1}
    assert res.first_event_ms is not None and res.first_event_ms <= res.elapsed_ms
    assert len(res.delivery_ms) == 6


def test_gaps_and_duplicates_are_reported(server):
    res = read(server, "gaps")
    assert res.gaps == ["2->4"]
    assert res.duplicates == [4]
    assert not res.no_gaps
    assert res.end == "eof"  # the server closed after a complete body
    assert not res.evicted


def test_malformed_frames_are_counted_not_taken(server):
    res = read(server, "malformed")
    assert res.malformed == 1
    assert res.received == 2
    assert res.ids == [1, 2]


def test_client_evicted_frame_sets_reason(server):
    res = read(server, "evicted")
    assert res.evicted and res.eviction_reason == "queue_overflow"
    assert res.terminal == "client_evicted" and res.end == "terminal"
    assert not res.cut_before_terminal


def test_cut_connection_is_an_eviction_seen_from_the_client(server):
    res = read(server, "cut-1")
    assert res.end == "cut"
    assert res.ids == [1, 2]  # complete frames before the cut are kept; the torn one is not
    assert res.cut_before_terminal
    assert res.evicted and res.eviction_reason is None
    assert res.error


def test_replay_complete_and_request_headers(server):
    Handler.seen.clear()
    res = read(server, "replay", last_event_id=3, max_queued=16, client_id="client_x")
    assert res.replay_complete == {"replayedCount": 2}
    assert res.ids == [4, 5, 6]
    request = Handler.seen[-1]
    assert request["headers"]["Last-Event-ID"] == "3"
    assert request["headers"]["X-Qwen-Client-Id"] == "client_x"
    assert "maxQueued=16" in request["path"]


def test_no_last_event_id_header_unless_asked(server):
    Handler.seen.clear()
    read(server, "ok")
    assert "Last-Event-ID" not in Handler.seen[-1]["headers"]


def test_stop_at_turn_end_of_the_given_prompt_only(server):
    res = read(server, "turn", until_turn_end="mine")
    assert res.end == "turn_end"
    assert res.ids == [1, 2, 3, 4]


def test_stop_at_type_and_at_count(server):
    assert read(server, "turn", until_types=("turn_complete",)).ids == [1, 2, 3]
    res = read(server, "many", max_events=7)
    assert res.end == "max_events" and res.received == 7


def test_non_200_answer_is_reported(server):
    res = read(server, "missing")
    assert res.status == 404
    assert res.end == "error"
    assert res.error_status_body["code"] == "session_not_found"


def test_stall_is_released_early(server):
    sub = Subscription(server, "many", StreamOptions(stall_s=30.0, timeout_s=30.0, recv_buffer=4096)).start()
    assert sub.wait_connected(5.0)
    time.sleep(0.1)
    started = time.monotonic()
    sub.release()
    res = sub.join(10.0)
    assert time.monotonic() - started < 5.0
    assert res.received == 50 and res.no_gaps and res.end == "eof"


def test_delay_per_event_slows_the_reader(server):
    started = time.monotonic()
    res = read(server, "ok", delay_per_event_s=0.05)
    assert res.received == 6
    assert time.monotonic() - started >= 0.2


def test_options_are_validated_before_connecting():
    with pytest.raises(HarnessConfigError, match="max_queued"):
        StreamOptions(max_queued=8).validate()
    with pytest.raises(HarnessConfigError, match="recv_buffer"):
        StreamOptions(recv_buffer=10).validate()
    with pytest.raises(HarnessConfigError, match="last_event_id"):
        StreamOptions(last_event_id=-1).validate()


# -- the continuity assertion used after a reconnect ---------------------------------------------------
def continuity(ids, cursor, replayed_up_to, replayed_count=None):
    """A stream result with these ids and ``replay_complete`` placed after ``replayed_up_to``."""
    from keywords.traffic.sse import StreamResult

    res = StreamResult(status=200, end="turn_end")
    count = replayed_count if replayed_count is not None else replayed_up_to - cursor
    done = {"lastReplayedEventId": replayed_up_to, "replayedCount": count}
    last = None
    for i in ids:
        if last is not None:
            if i <= last:
                res.duplicates.append(i)
            elif i != last + 1:
                res.gaps.append(f"{last}->{i}")
        res.events.append({"type": "session_update", "id": i})
        res.ids.append(i)
        last = i if last is None or i > last else last
        if i == replayed_up_to:
            res.events.append({"type": "replay_complete", "data": done})
    res.replay_complete = done
    res.last_id = last
    return res


def check(stream, cursor, last_id=None):
    from keywords.components.event_keywords import EventKeywords

    EventKeywords(None).stream_should_continue_exactly_after(stream, cursor, last_id)


def test_continuity_accepts_exactly_the_events_after_the_cursor():
    check(continuity(range(6, 21), cursor=5, replayed_up_to=12), 5, 20)


@pytest.mark.parametrize(
    ("stream", "last_id", "message"),
    [
        (continuity(range(7, 21), 5, 12), 20, "first id is 7, expected 6"),
        (continuity([6, 7, 9, 10], 5, 7), None, "gaps 7->9"),
        (continuity([6, 7, 7, 8], 5, 7), None, "repeated"),
        (continuity(range(6, 20), 5, 12), 20, "last id is 19, expected 20"),
        (continuity(range(6, 21), 5, 12, replayed_count=3), 20, "counts 3 replayed events"),
    ],
)
def test_continuity_names_what_broke(stream, last_id, message):
    with pytest.raises(AssertionError, match=message):
        check(stream, 5, last_id)


def test_continuity_needs_replay_complete():
    stream = continuity(range(6, 10), 5, 7)
    stream.replay_complete = None
    with pytest.raises(AssertionError, match="no replay_complete"):
        check(stream, 5)
