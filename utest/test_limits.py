"""The limits room: HTTP answers and refusals (keywords.traffic.answers), raw requests on their own connection,
the service check, timers, the idle reaper, closed-stream log records and what groups of streams received
(keywords.traffic.limits), and the keywords over them. No daemon: a scripted loopback HTTP server and
hand-made stream results."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keywords.components.connection_keywords import ConnectionKeywords
from keywords.components.stream_check_keywords import StreamCheckKeywords
from keywords.errors import DaemonHttpError, HarnessConfigError
from keywords.reporting.figures import figures_of, non_camel_keys
from keywords.traffic import answers, connections, limits
from keywords.traffic.answers import HttpAnswer, RateLimitRejections
from keywords.traffic.client import DaemonClient, PromptAccepted
from keywords.traffic.connections import ConnectionFloodResult, ShutdownResult
from keywords.traffic.stream_result import StreamResult
from keywords.traffic.turns import TurnResult


# -- a scripted HTTP server ------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, chunked: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (body[:5], body[5:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/echo":
            seen = {"host": self.headers.get("Host"), "origin": self.headers.get("Origin")}
            self._send(200, json.dumps(seen).encode())
        elif self.path == "/limited":
            body = b'{"error":"Rate limit exceeded","code":"rate_limit_exceeded","tier":"read","retryAfterMs":6616}'
            headers = {"Retry-After": "7", "X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "0"}
            self._send(429, body, headers | {"X-RateLimit-Reset": "1796161646"})
        elif self.path == "/chunked":
            self._send(503, b'{"error":"full","code":"prompt_queue_full","limit":5}', {"Retry-After": "5"}, True)
        elif self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b": open\n\n")
            self.wfile.flush()
            threading.Event().wait(3)  # a stream that does not end: the reader must stop at the headers
        else:
            self._send(404, b'{"error":"not found","code":"nope"}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self._send(200, self.rfile.read(length))


@pytest.fixture(scope="module")
def port():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


# -- raw requests -----------------------------------------------------------------------------------------
def test_a_raw_request_sends_its_host_and_origin_as_written(port):
    answer = connections.send_request(port, "/echo", headers={"Host": "evil.example:1", "Origin": "http://x"})
    assert answer.status == 200
    assert answer.body == {"host": "evil.example:1", "origin": "http://x"}
    assert answer.request == "GET /echo" and answer.elapsed_ms > 0
    default = connections.send_request(port, "/echo")
    assert default.body["host"] == f"127.0.0.1:{port}"


def test_a_raw_request_reads_a_refusal_with_its_headers_and_figures(port):
    answer = connections.send_request(port, "/limited")
    assert (answer.status, answer.code, answer.tier, answer.retry_after_s) == (429, "rate_limit_exceeded", "read", 7)
    assert (answer.rate_limit_limit, answer.rate_limit_remaining, answer.rate_limit_reset) == (3, 0, 1796161646)
    assert answer.has_rate_limit_headers and answer.retry_after_ms == 6616
    figures = answer.figures()
    assert not non_camel_keys(figures)
    assert figures["retryAfterSec"] == 7 and figures["rateLimitLimit"] == 3 and figures["tier"] == "read"
    assert "rateLimitReset" not in figures  # a point in time, not a figure
    assert answer.line().startswith("GET /limited -> 429 rate_limit_exceeded, in ")


def test_a_raw_request_decodes_a_chunked_body_and_posts_json(port):
    answer = connections.send_request(port, "/chunked")
    assert (answer.status, answer.code, answer.limit, answer.retry_after_s) == (503, "prompt_queue_full", 5, 5)
    posted = connections.send_request(port, "/post", method="post", json_body={"sessionScope": "thread"})
    assert posted.body == {"sessionScope": "thread"}


def test_a_raw_request_stops_at_the_headers_of_an_event_stream(port):
    answer = connections.send_request(port, "/events", timeout_s=2.0)
    assert answer.status == 200 and answer.is_event_stream
    assert answer.body is None and answer.text == ""
    assert answer.elapsed_ms < 1500


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "echo"}, "path must be an absolute request path"),
        ({"path": "/echo", "method": "PUT"}, "method must be one of GET, POST, DELETE"),
        ({"path": "/echo", "headers": {"X-Evil": "a\r\nHost: b"}}, "headers must be names and values"),
    ],
)
def test_a_raw_request_refuses_bad_arguments_before_connecting(kwargs, message):
    with pytest.raises(HarnessConfigError, match=message):
        connections.send_request(1, **kwargs)


def test_parse_needs_a_status_line_and_headers():
    with pytest.raises(ValueError, match="no complete HTTP header block"):
        answers.parse("GET /", b"HTTP/1.1 200 OK\r\nContent-Length: 2")
    with pytest.raises(ValueError, match="not an HTTP status line"):
        answers.parse("GET /", b"SSH-2.0\r\n\r\n")
    assert answers.parse("GET /", b"HTTP/1.1 204 No Content\r\n\r\n").body is None


# -- refusals --------------------------------------------------------------------------------------------
def refusal(headers=None, body=None, status=503, elapsed_ms=12.5):
    body = (
        {"error": "Session limit reached (3)", "code": "session_limit_exceeded", "limit": 3} if body is None else body
    )
    return DaemonHttpError("POST", "/session", status, body, headers, elapsed_ms)


def test_an_answer_of_a_raised_refusal_keeps_its_time_headers_and_body():
    answer = HttpAnswer.of_error(refusal({"Retry-After": "5"}))
    assert (answer.request, answer.status, answer.code, answer.limit) == (
        "POST /session",
        503,
        "session_limit_exceeded",
        3,
    )
    assert answer.retry_after_s == 5 and answer.elapsed_ms == 12.5
    assert answer.figures() == {
        "status": 503,
        "code": "session_limit_exceeded",
        "answerMs": 12.5,
        "retryAfterSec": 5,
        "limit": 3,
    }
    assert answer.line() == "POST /session -> 503 session_limit_exceeded, in 12.5 ms, Retry-After 5, limit 3"


def test_the_client_times_a_refusal(port):
    client = DaemonClient(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(DaemonHttpError) as raised:
            client.request("GET", "/nothing-here")
    finally:
        client.close()
    assert raised.value.status == 404 and raised.value.elapsed_ms > 0


@pytest.mark.parametrize(
    ("headers", "seconds", "message"),
    [
        ({}, None, r"it has no Retry-After header \(headers: none\)"),
        ({"Retry-After": "soon"}, None, "its Retry-After is 'soon', not a whole number of seconds"),
        ({"Retry-After": "7"}, 5, "its Retry-After is 7 s, expected 5 s"),
    ],
)
def test_a_refusal_without_a_usable_retry_after_fails_and_says_why(headers, seconds, message):
    with pytest.raises(
        AssertionError, match=f"The refusal POST /session -> 503 should carry a Retry-After, but {message}"
    ):
        ConnectionKeywords(None).refusal_should_carry_retry_after(refusal(headers), seconds=seconds)


def test_a_refusal_with_retry_after_is_returned_as_an_answer():
    answer = ConnectionKeywords(None).refusal_should_carry_retry_after(refusal({"retry-after": "5"}), seconds=5)
    assert isinstance(answer, HttpAnswer) and answer.retry_after_s == 5


def test_a_refusal_must_say_the_text_asked_for():
    keywords = ConnectionKeywords(None)
    assert keywords.refusal_should_say(refusal(), "limit reached").error == "Session limit reached (3)"
    with pytest.raises(AssertionError, match="should say 'initialize timed out', but said 'Session limit"):
        keywords.refusal_should_say(refusal(), "initialize timed out")
    with pytest.raises(HarnessConfigError, match="refusal must be what Open Session Should Fail"):
        keywords.refusal_should_say("503", "x")


def test_rate_limit_rejections_come_from_the_daemon_status():
    status = {"runtime": {"rateLimit": {"rejectedSinceStart": {"prompt": 1, "mutation": 0, "read": 2}}}}
    rejected = RateLimitRejections.of_status(status)
    assert (rejected.prompt, rejected.mutation, rejected.read, rejected.enabled) == (1, 0, 2, True)
    assert rejected.figures() == {"rejectedPrompt": 1, "rejectedMutation": 0, "rejectedRead": 2}
    off = RateLimitRejections.of_status({"runtime": {}})
    assert off.figures() == {"rejectedPrompt": None, "rejectedMutation": None, "rejectedRead": None}
    assert off.line() == "the daemon reports no rate limiter"


# -- connection cap ---------------------------------------------------------------------------------------
def flood(attempted, served, rejected):
    return ConnectionFloodResult(attempted=attempted, served=served, rejected=rejected)


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (flood(16, 0, 16), "0 connections were served, expected 1 to 8"),
        (flood(16, 9, 7), "9 connections were served, expected 1 to 8"),
        (flood(16, 7, 5), "only 5 were rejected, expected at least 8"),
        (flood(16, 7, 8), "1 were neither served nor rejected"),
    ],
)
def test_a_flood_that_does_not_show_the_cap_fails_and_says_why(result, message):
    with pytest.raises(AssertionError, match=message):
        ConnectionKeywords(None).connection_flood_should_respect_the_cap(result, 8)


def test_a_flood_that_shows_the_cap_passes():
    assert connections.flood_cap_problems(flood(16, 7, 9), 8) == []
    assert connections.flood_cap_problems(flood(16, 8, 8), 8) == []


# -- the service check and timers ------------------------------------------------------------------------
class FakeClient:
    def __init__(self, health=200, refuse=False):
        self.health_status, self.refuse = health, refuse

    def health(self, expected=None):
        from keywords.traffic.client import Reply

        return Reply(self.health_status, {"status": "ok" if self.health_status == 200 else "down"}, {}, 1.0)

    def create_session(self, scope, client_id=None):
        from keywords.traffic.client import SessionInfo

        if self.refuse:
            raise refusal()
        return SessionInfo("s1", client_id, False, None, 4.25)


def turn(outcome="completed", stop="end_turn", chunks=2, updates=3):
    return TurnResult("p1", outcome, stop, chunks=chunks, session_updates=updates, turn_ms=20.0)


def test_the_service_check_passes_on_health_a_session_and_a_whole_turn(monkeypatch):
    asked = {}

    def fake_turn(client, sid, text, **kwargs):
        asked.update(sid=sid, text=text, **kwargs)
        return turn()

    monkeypatch.setattr(limits, "run_turn", fake_turn)
    check = limits.check_service(FakeClient(), client_id="c1", timeout_s=3)
    assert check.served and check.session_ms == 4.25 and check.turn_ms == 20.0
    assert asked["sid"] == "s1" and asked["client_id"] == "c1" and "chunks=2" in asked["text"]
    assert check.figures() == {"freshSessionMs": 4.2, "freshTurnMs": 20.0}
    assert check.line() == "still serving: fresh session in 4.2 ms, its turn in 20.0 ms"


@pytest.mark.parametrize(
    ("client", "result", "message"),
    [
        (FakeClient(health=503), turn(), "GET /health answered 503"),
        (FakeClient(refuse=True), turn(), "the fresh session was refused"),
        (FakeClient(), turn("error", None), "its turn ended error"),
        (FakeClient(), turn(chunks=1, updates=2), "had 1 chunks and 2 session updates, expected 2 and 3"),
    ],
)
def test_the_service_check_says_what_kept_the_daemon_from_serving(monkeypatch, client, result, message):
    monkeypatch.setattr(limits, "run_turn", lambda *args, **kwargs: result)
    check = limits.check_service(client)
    assert not check.served
    assert message in check.line()


def test_a_timer_fired_within_its_margin_passes_and_carries_its_lateness():
    firing = ConnectionKeywords(None).timer_should_have_fired_on_time(
        "prompt deadline", 1604.1, timedelta(milliseconds=1500), margin=timedelta(seconds=1)
    )
    assert firing.figures() == {"firedMs": 1604.1, "lateMs": 104.1}
    assert firing.line() == "prompt deadline of 1500 ms acted on after 1604.1 ms (+104.1 ms, margin 1000 ms)"


@pytest.mark.parametrize(
    ("fired", "early", "message"),
    [
        (2600.0, False, "it acted 1100.0 ms after the timer, over the margin of 1000 ms by 100.0 ms"),
        (1400.0, False, "it acted 100.0 ms before the timer"),
    ],
)
def test_a_timer_fired_too_late_or_too_early_fails_and_says_by_how_much(fired, early, message):
    with pytest.raises(AssertionError, match=f"The prompt deadline should have been acted on in time, but {message}"):
        ConnectionKeywords(None).timer_should_have_fired_on_time(
            "prompt deadline", fired, 1.5, margin=1.0, may_fire_early=early
        )


def test_a_timer_may_fire_early_when_allowed():
    firing = ConnectionKeywords(None).timer_should_have_fired_on_time(
        "initialize timeout", 1200.0, timedelta(seconds=2), margin=1.5, may_fire_early=True
    )
    assert firing.late_ms == -800.0


# -- the idle reaper and closed streams ------------------------------------------------------------------
REAPER_STDERR = (
    'qwen serve: reaping idle session "s-1" (idle for 3s, threshold 2s)\n'
    'qwen serve: closing session "s-1" (reason: idle_timeout)\n'
)


def test_the_reaping_is_read_from_stderr_with_the_daemons_idle_time():
    reaping = limits.wait_for_reaping(lambda: REAPER_STDERR, "s-1", timeout_s=1.0)
    assert reaping.reaped and (reaping.idle_for_s, reaping.threshold_s) == (3, 2)
    assert reaping.figures()["daemonIdleForSec"] == 3 and reaping.figures()["reapedAfterMs"] >= 0


def test_a_session_closed_for_another_reason_is_not_taken_for_a_reaping():
    other = 'qwen serve: closing session "s-1" (reason: client_close)\n'
    reaping = limits.wait_for_reaping(lambda: other + REAPER_STDERR.replace("s-1", "s-2"), "s-1", 0.2, 0.05)
    assert not reaping.reaped and reaping.figures() == {"reapedAfterMs": None, "daemonIdleForSec": None}
    assert reaping.waited_ms >= 200


LOG = [
    "2026-12-01T21:30:18.907Z [INFO] [DAEMON] sessionId=a backpressureCount=0 closeReason=writer_idle_timeout "
    "eventFramesWriteSettled=1 streamId=s1 terminalEventType=client_evicted SSE stream closed",
    "2026-12-01T21:30:19.000Z [INFO] [DAEMON] route=GET /health status=200 request completed",
    "2026-12-01T21:30:22.950Z [INFO] [DAEMON] sessionId=b backpressureCount=233 closeReason=writer_idle_timeout "
    "eventFramesWriteSettled=3503 streamId=s2 terminalEventType=client_evicted SSE stream closed",
    "2026-12-01T21:30:23.279Z [INFO] [DAEMON] sessionId=c backpressureCount=0 closeReason=client_disconnect "
    "eventFramesWriteSettled=5 streamId=s3 SSE stream closed",
]


def test_stream_closes_are_read_from_the_daemon_log_by_reason():
    closes = limits.stream_closes(LOG, "writer_idle_timeout")
    assert closes.count == 2 and closes.max_backpressure_count == 233
    assert [r.stream_id for r in closes.records] == ["s1", "s2"]
    assert closes.records[1].frames_written == 3503 and closes.records[1].terminal_event_type == "client_evicted"
    assert closes.figures() == {"closes": 2, "maxBackpressureCount": 233}
    assert limits.stream_closes(LOG).count == 3
    assert limits.stream_closes([], "writer_idle_timeout").figures() == {"closes": 0, "maxBackpressureCount": None}


# -- what groups of streams received ---------------------------------------------------------------------
def stream(*frames, started_at=100.0, headers_ms=5.0):
    result = StreamResult(status=200, started_at=started_at, headers_ms=headers_ms)
    for event_type, data, recv_ms, prompt in frames:
        env = {"type": event_type, "data": data, "_recv_ms": recv_ms}
        if prompt:
            env["promptId"] = prompt
        result.events.append(env)
        if event_type in ("client_evicted", "session_died", "session_closed"):
            result.terminal, result.terminal_data, result.end = event_type, data, "terminal"
            result.evicted = event_type == "client_evicted"
            result.eviction_reason = data.get("reason") if result.evicted else None
    result.received = len(result.events)
    result.counts = {}
    for env in result.events:
        result.counts[env["type"]] = result.counts.get(env["type"], 0) + 1
    return result


def accepted(prompt="p1", posted_at=100.5):
    return PromptAccepted(prompt_id=prompt, last_event_id=0, event_epoch="e", elapsed_ms=1.0, posted_at=posted_at)


def test_every_stream_that_received_the_turn_end_is_timed_from_the_prompt():
    streams = [
        stream(("turn_complete", {}, 600.0, "p1"), started_at=100.0, headers_ms=5.0),
        stream(("turn_complete", {}, 700.0, "p1"), started_at=100.2, headers_ms=10.0),
    ]
    delivery = StreamCheckKeywords(None).every_stream_should_receive(streams, "turn_complete", after=accepted())
    assert (delivery.streams, delivery.reached, delivery.missing) == (2, 2, [])
    assert delivery.first_ms == pytest.approx(100.0) and delivery.last_ms == pytest.approx(400.0)
    assert delivery.open_ms == pytest.approx(210.0)
    assert not non_camel_keys(figures_of(delivery))
    assert delivery.line().startswith("turn_complete reached 2/2 streams, the first 100.0 ms and the last 400.0 ms")


def test_a_stream_that_saw_another_prompts_end_or_another_reason_is_missing():
    streams = [
        stream(("turn_complete", {}, 600.0, "p1")),
        stream(("turn_complete", {}, 600.0, "other")),
        stream(("session_died", {"reason": "channel_closed"}, 50.0, None)),
    ]
    keywords = StreamCheckKeywords(None)
    with pytest.raises(
        AssertionError, match=r"Every stream should receive turn_complete, but 2 of 3 did not \(streams \[2, 3\]\)"
    ):
        keywords.every_stream_should_receive(streams, "turn_complete", after=accepted())
    with pytest.raises(AssertionError, match=r"session_died reason=daemon_shutdown, but 3 of 3 did not"):
        keywords.every_stream_should_receive(streams, "session_died", reason="daemon_shutdown")


def test_shutdown_frames_are_timed_from_the_signal_and_without_a_reference_not_at_all():
    streams = [stream(("session_died", {"reason": "daemon_shutdown"}, 300.0, None), started_at=100.0)]
    shutdown = ShutdownResult("TERM", True, 0, 50.0, [], signalled_at=100.25)
    timed = StreamCheckKeywords(None).every_stream_should_receive(streams, "session_died", after=shutdown)
    assert timed.last_ms == pytest.approx(50.0) and "after SIGTERM" in timed.line()
    untimed = StreamCheckKeywords(None).every_stream_should_receive(streams, "session_died")
    assert untimed.first_ms is None and untimed.figures()["lastMs"] is None


def test_an_eviction_is_read_from_its_frame():
    evicted = stream(
        ("session_update", {}, 10.0, None),
        ("client_evicted", {"reason": "writer_idle_timeout", "idleForMs": 2003}, 2014.1, None),
    )
    eviction = StreamCheckKeywords(None).stream_should_have_been_evicted(evicted, "writer_idle_timeout")
    assert eviction.figures() == {
        "evictionReason": "writer_idle_timeout",
        "idleForMs": 2003.0,
        "evictedAtMs": 2014.1,
        "received": 2,
    }
    with pytest.raises(AssertionError, match="evicted for queue_overflow, but the daemon said 'writer_idle_timeout'"):
        StreamCheckKeywords(None).stream_should_have_been_evicted(evicted, "queue_overflow")
    with pytest.raises(AssertionError, match="should have been evicted \\(client_evicted\\), but it ended"):
        StreamCheckKeywords(None).stream_should_have_been_evicted(stream(("session_update", {}, 1.0, None)))


def test_each_prompt_must_be_named_by_a_frame_of_the_type():
    seen = stream(
        ("pending_prompt_added", {"promptId": "p1"}, 1.0, None),
        ("pending_prompt_added", {}, 2.0, "p2"),
        ("pending_prompt_added", {"promptId": "p9"}, 3.0, None),
    )
    found = StreamCheckKeywords(None).stream_should_have_a_frame_for_each_prompt(
        seen, "pending_prompt_added", [accepted("p1"), accepted("p2")]
    )
    assert found.figures() == {"prompts": 2, "named": 2, "frames": 3}
    with pytest.raises(
        AssertionError, match="Each prompt should have a pending_prompt_added frame, but 1 of 2 had none"
    ):
        StreamCheckKeywords(None).stream_should_have_a_frame_for_each_prompt(
            seen, "pending_prompt_added", [accepted("p1"), accepted("p3")]
        )
