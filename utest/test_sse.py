"""SSE reading (keywords.traffic.sse; its options and results in stream_options, stream_result) against a tiny scripted
SSE server on 127.0.0.1.

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
from keywords.traffic.sse import Subscription, consume
from keywords.traffic.stream_options import StreamOptions
from keywords.traffic.stream_result import StreamResult

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
    "chunks": [
        frame("session_update", 1, {"update": {"sessionUpdate": "user_message_chunk"}}, "p1"),
        frame("session_update", 2, {"update": {"sessionUpdate": "available_commands_update"}}),
        frame("session_update", 3, {"update": {"sessionUpdate": "agent_message_chunk"}}, "p0"),
        *[frame("session_update", i, {"update": {"sessionUpdate": "agent_message_chunk"}}, "p1") for i in (4, 5, 6)],
    ],
    "replayed-turn": [
        *updates([1, 2]),
        frame("turn_complete", 3, {"stopReason": "end_turn"}, prompt_id="mine"),
        frame("replay_complete", data={"lastReplayedEventId": 3, "replayedCount": 3}),
        *updates([4]),
    ],
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
        if sid == "heartbeats":  # frames, then only heartbeat comments (as the daemon sends every 15 s), for 5 s
            self.wfile.write(b"".join(updates([1, 2])))
            for _ in range(50):
                self.wfile.write(b": heartbeat\n\n")
                self.wfile.flush()
                time.sleep(0.1)
            self.close_connection = True
            return
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


def test_a_cut_is_seen_as_a_cut_not_taken_for_an_eviction(server):
    res = read(server, "cut-1")
    assert res.end == "cut"
    assert res.ids == [1, 2]  # complete frames before the cut are kept; the torn one is not
    assert res.cut_before_terminal
    assert not res.evicted and res.eviction_reason is None  # a crash cuts too: only client_evicted says evicted
    assert res.error
    assert "cut before any terminal frame" in res.summary() and "evicted" not in res.summary()
    assert res.figures()["cutBeforeTerminal"] is True and res.figures()["evicted"] is False


def test_replay_complete_and_request_headers(server):
    Handler.seen.clear()
    res = read(server, "replay", last_event_id=3, max_queued=16, client_id="client_x")
    assert res.replay_complete == {"replayedCount": 2}
    assert res.replayed_count == 2 and res.last_replayed_id is None
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


def test_a_turn_end_inside_the_replay_waits_for_replay_complete(server):
    res = consume(server, "replayed-turn", StreamOptions(last_event_id=0, until_turn_end="mine", timeout_s=5))
    assert res.end == "turn_end" and res.replay_complete == {"lastReplayedEventId": 3, "replayedCount": 3}
    assert res.ids == [1, 2, 3]
    live = consume(server, "replayed-turn", StreamOptions(until_turn_end="mine", timeout_s=5))
    assert live.end == "turn_end" and live.replay_complete is None and live.ids == [1, 2, 3]


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


def test_the_timeout_ends_a_stream_that_only_sends_heartbeats(server):
    # The wait for a frame that never comes (a lost turn_complete) must end at the timeout, although heartbeat
    # comments keep the socket busy (each read returns before the read timeout, and no event is yielded).
    sub = Subscription(server, "heartbeats", StreamOptions(until_types=("turn_complete",), timeout_s=0.5)).start()
    res = sub.join(4.0)
    assert res.end == "timeout", res.summary()
    assert res.received == 2 and res.ids == [1, 2]
    assert res.elapsed_ms < 2000, f"the 0.5 s timeout ended the stream only after {res.elapsed_ms:.0f} ms"


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
    from keywords.traffic.stream_result import StreamResult

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
    res.replayed_count, res.last_replayed_id = count, replayed_up_to
    res.last_id = last
    return res


def check(stream, cursor, last_id=None):
    from keywords.components.stream_check_keywords import StreamCheckKeywords

    StreamCheckKeywords(None).stream_should_continue_exactly_after(stream, cursor, last_id)


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


def test_continuity_needs_replay_complete_and_says_where():
    stream = continuity(range(6, 10), 5, 7)
    stream.replay_complete = None
    stream.replayed_count = None
    with pytest.raises(
        AssertionError, match=r"no replay_complete frame after replaying from id 6 \(the stream got ids 6..9\)"
    ):
        check(stream, 5)


def test_continuity_names_a_missing_replay_count():
    stream = continuity(range(6, 10), 5, 7)
    stream.replayed_count = None
    with pytest.raises(AssertionError, match="replay_complete has no replayedCount"):
        check(stream, 5)


# -- the one place that builds stream options from keyword arguments -------------------------------------
def test_stream_options_take_time_strings_lists_and_text():
    from datetime import timedelta

    from keywords.traffic.stream_options import stream_options

    opts = stream_options(timeout=timedelta(seconds=90), delay="0.5", until="turn_complete, turn_error", max_events="7")
    assert opts.timeout_s == 90 and opts.delay_per_event_s == 0.5 and opts.max_events == 7
    assert opts.until_types == ("turn_complete", "turn_error")
    assert stream_options(until=["replay_complete"]).until_types == ("replay_complete",)
    assert stream_options(until=None).until_types == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_queued": 8}, r"max_queued must be a whole number from 16 to 2048 .*got 8"),
        ({"max_events": 0}, r"max_events must be a whole number 1 or more, got 0"),
        ({"timeout": 0}, r"timeout must be a number above 0 and at most 3600 s, got 0"),
        ({"stall": -1}, r"stall must be a number from 0 to 3600 s, got -1"),
        ({"recv_buffer": 10}, r"recv_buffer must be a whole number 256 bytes or more, got 10"),
        ({"until": [1, 2]}, r"until must be frame type names"),
    ],
)
def test_stream_options_name_the_bad_option(options, message):
    from keywords.traffic.stream_options import stream_options

    with pytest.raises(HarnessConfigError, match=message):
        stream_options(**options)


# -- figures of the results a suite records ---------------------------------------------------------------
def test_stream_and_summary_figures_are_measured_and_camel_case(server):
    from keywords.reporting.figures import non_camel_keys
    from keywords.traffic.stream_result import StreamsSummary

    ok, evicted = read(server, "ok"), read(server, "evicted")
    figures = ok.figures()
    assert not non_camel_keys(figures)
    assert figures["received"] == 6 and figures["firstId"] == 1 and figures["lastId"] == 5
    assert figures["terminal"] == "session_closed" and figures["replayedCount"] is None
    assert figures["deliveryMs"]["count"] == 6
    assert evicted.figures()["evicted"] is True and evicted.figures()["evictionReason"] == "queue_overflow"
    summary = StreamsSummary.of([ok, evicted])
    assert not non_camel_keys(summary.figures())
    assert summary.figures()["terminals"] == {"sessionClosed": 1, "clientEvicted": 1}
    assert summary.figures()["ends"] == {"terminal": 2} and summary.figures()["answered"] == 2
    assert summary.count_with("client_evicted", reason="queue_overflow") == 1
    assert summary.line() == summary.summary()
    assert StreamResult().figures()["firstEventMs"] is None  # not measured, never an invented 0


def test_wait_until_received_returns_when_every_stream_has_frames_or_ended(server):
    from keywords.traffic.sse import wait_until_received

    subs = [Subscription(server, sid, StreamOptions(timeout_s=5.0)).start() for sid in ("ok", "many")]
    started = time.monotonic()
    counts = wait_until_received(subs, 3, timeout_s=5.0)
    assert all(n >= 3 for n in counts) and time.monotonic() - started < 5.0
    for sub in subs:
        sub.join(5.0)
    stalled = Subscription(server, "many", StreamOptions(stall_s=30.0, timeout_s=30.0)).start()
    try:
        started = time.monotonic()
        assert wait_until_received([stalled], 1, timeout_s=0.3) == [0]  # bounded: it gives up
        assert time.monotonic() - started < 2.0
    finally:
        stalled.stop()
        stalled.join(5.0)


def test_stopping_a_stalled_reader_ends_it_as_stopped(server):
    stalled = Subscription(server, "many", StreamOptions(stall_s=30.0, timeout_s=30.0)).start()
    assert stalled.wait_connected(5.0)
    stalled.stop()
    res = stalled.join(5.0)
    assert stalled.done
    assert res.end == "stopped" and res.error is None  # before: the thread died on httpx.StreamClosed


# -- the turn of a prompt, as the stream holds it ------------------------------------------------------------
def turn_stream(
    after: int, chunks: int, *, prompt: str = "p1", end: str = "turn_complete", drop=(), extra=(), keep=True
):
    """The frames of one turn after id ``after``: the echo, ``chunks`` agent chunks, the end frame."""
    res = StreamResult(status=200, end="turn_end")
    frames = [(after + 1, "session_update", {"update": {"sessionUpdate": "user_message_chunk"}})]
    frames += [
        (after + 2 + i, "session_update", {"update": {"sessionUpdate": "agent_message_chunk"}}) for i in range(chunks)
    ]
    frames.append((after + chunks + 2, end, {"promptId": prompt, "stopReason": "end_turn", "code": "x"}))
    frames += list(extra)
    last = None
    for event_id, etype, data in frames:
        if event_id in drop:
            continue
        if last is not None and event_id != last + 1:
            (res.duplicates if event_id <= last else res.gaps).append(
                event_id if event_id <= last else f"{last}->{event_id}"
            )
        res.ids.append(event_id)
        res.counts[etype] = res.counts.get(etype, 0) + 1
        if keep:
            res.events.append({"type": etype, "id": event_id, "promptId": data.get("promptId", prompt), "data": data})
        last = event_id if last is None else max(last, event_id)
    res.last_id, res.received = last, len(res.ids)
    return res


def accepted_after(after: int, prompt: str = "p1"):
    from keywords.traffic.client import PromptAccepted

    return PromptAccepted(prompt_id=prompt, last_event_id=after, event_epoch="e", elapsed_ms=1.0, posted_at=0.0)


def hold(stream, after, **kwargs):
    from keywords.components.stream_check_keywords import StreamCheckKeywords

    StreamCheckKeywords(None).stream_should_hold_exactly_the_turn(stream, accepted_after(after), **kwargs)


def test_a_whole_turn_passes_with_its_chunk_count():
    hold(turn_stream(10, 5), 10, chunks=5)
    hold(turn_stream(10, 5), 10)
    hold(turn_stream(10, 5, keep=False), 10, chunks=5)  # without kept frames: ids and counts


@pytest.mark.parametrize(
    ("stream", "kwargs", "message"),
    [
        (turn_stream(10, 5, drop=(13,)), {"chunks": 5}, r"ids 13..13 are missing"),
        (turn_stream(10, 5, drop=(11,)), {"chunks": 5}, r"id 11, the first of the turn, is missing"),
        (turn_stream(10, 4), {"chunks": 5}, r"turn_complete has id 16, expected 17"),
        (turn_stream(10, 5, drop=(17,)), {"chunks": 5}, r"no turn_complete of prompt p1 arrived after id 10"),
        (turn_stream(10, 5, prompt="other"), {"chunks": 5}, r"no turn_complete of prompt p1"),
        (
            turn_stream(10, 5, end="turn_error"),
            {"chunks": 5},
            r"ended with turn_error x at id 17, expected turn_complete",
        ),
        (turn_stream(10, 5, keep=False), {}, r"give chunks="),
        (turn_stream(10, 4, keep=False), {"chunks": 5}, r"the last id is 16, expected 17"),
        (StreamResult(status=200), {"chunks": 1}, r"no event of the turn arrived \(expected ids from 11"),
    ],
)
def test_the_turn_check_says_which_frame_is_missing_and_where(stream, kwargs, message):
    with pytest.raises(AssertionError, match=message):
        hold(stream, 10, **kwargs)


def test_the_turn_check_ignores_frames_before_the_turn_but_not_a_second_echo():
    earlier = turn_stream(4, 3)  # ids 5..9: an earlier turn, then ours from 10
    ours = turn_stream(9, 2, prompt="p2")
    earlier.events += ours.events
    earlier.ids += ours.ids
    earlier.last_id = ours.last_id
    from keywords.components.stream_check_keywords import StreamCheckKeywords

    StreamCheckKeywords(None).stream_should_hold_exactly_the_turn(earlier, accepted_after(9, "p2"), chunks=2)
    doubled = turn_stream(10, 1)
    doubled.events.insert(
        1, {"type": "session_update", "id": 12, "data": {"update": {"sessionUpdate": "user_message_chunk"}}}
    )
    with pytest.raises(AssertionError, match="came again"):
        hold(doubled, 10)


def test_turn_figures_are_camel_case_and_none_when_not_reached():
    from keywords.reporting.figures import non_camel_keys
    from keywords.traffic.turns import TurnResult, classify

    turn = classify(accepted_after(10), turn_stream(10, 3))
    figures = turn.figures()
    assert not non_camel_keys(figures)
    assert figures["outcome"] == "completed" and figures["chunks"] == 3 and figures["sessionUpdates"] == 4
    assert TurnResult(prompt_id="x").figures()["turnMs"] is None
    assert turn.line() == turn.summary()


def test_every_keyword_that_opens_streams_takes_the_same_typed_stream_options():
    from robot.libdocpkg import LibraryDocumentation

    from keywords.components.event_keywords import STREAM_OPTIONS

    docs = {kw.name: kw for kw in LibraryDocumentation("keywords.QwenServe").keywords}
    for name in ("Read Events", "Subscribe To Events", "Open Event Streams"):
        args = {arg.name: arg for arg in docs[name].args}
        assert set(STREAM_OPTIONS) <= set(args), name
        assert all(args[option].kind == "NAMED_ONLY" for option in STREAM_OPTIONS), name
        assert str(args["timeout"].type) == "timedelta | float", name
        assert "`Stream options`" in docs[name].doc, name
    assert [a.default_repr for a in docs["Read Events"].args if a.name == "timeout"] == ["10.0"]


def test_the_terminal_frames_reason_and_exit_code_are_fields_and_figures():
    # Before, a suite dug them out of terminal_data (``${seen.terminal_data}[reason]``).
    died = StreamResult(
        status=200, end="terminal", terminal="session_died", terminal_data={"reason": "channel_closed", "exitCode": 1}
    )
    assert died.terminal_reason == "channel_closed" and died.terminal_exit_code == 1
    assert died.figures()["terminalReason"] == "channel_closed" and died.figures()["terminalExitCode"] == 1
    none = StreamResult(status=200, end="timeout")
    assert none.terminal_reason is None and none.terminal_exit_code is None
    assert StreamResult(terminal_data={"exitCode": True}).terminal_exit_code is None


def test_a_stream_can_stop_at_the_nth_agent_chunk_of_one_prompt(server):
    # Before, a read meant to stop after a prompt's first chunks counted frames, and an extra update of the
    # session (the daemon's echo, a command list) made it stop one chunk early.
    res = read(server, "chunks", until_chunks=2, until_turn_end="p1")
    assert res.end == "chunks" and res.last_id == 5
