"""Flow records, batches and eviction lines of the daemon's log (keywords.traffic.flows), without a daemon."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keywords.errors import HarnessConfigError
from keywords.traffic import flows
from keywords.traffic.client import DaemonClient, PromptAccepted
from keywords.traffic.flows import FlowBatch, FlowRecord
from keywords.traffic.sse import StreamResult
from keywords.traffic.turns import classify

EVICTED = (
    "2026-11-28T19:15:51.341Z [WARN] [DAEMON] runId=83db pid=12082 sessionId=8d091436-fc19 "
    "connectReason=unknown droppedAfter=22 maxQueued=16 maxQueuedBytes=2097152 queueSize=16 queuedBytes=20796 "
    "reason=queue_overflow streamId=bdc94ab2-6113 threshold=frames triggerEventBytes=1300 "
    "triggerEventType=session_update SSE client evicted"
)
WARNING = (
    "2026-11-28T19:15:51.337Z [WARN] [DAEMON] runId=83db sessionId=8d091436-fc19 queueSize=12 "
    "streamId=bdc94ab2-6113 threshold=frames SSE slow client warning"
)


def good(index=0, chunks=3, **changes):
    rec = FlowRecord(
        index,
        session_id=f"s{index}",
        prompt_id=f"p{index}",
        outcome="completed",
        stop_reason="end_turn",
        end_prompt_id=f"p{index}",
        chunks=chunks,
        session_updates=chunks + 1,
        close_status=204,
        after_close_status=404,
        total_ms=10.0 + index,
        turn_ms=5.0,
        create_ms=2.0,
    )
    for key, value in changes.items():
        setattr(rec, key, value)
    return rec


def test_eviction_line_is_parsed():
    [record] = flows.find_evictions([WARNING, EVICTED])
    assert record.reason == "queue_overflow"
    assert record.dropped_after == 22
    assert record.queue_size == 16 and record.max_queued == 16 and record.queued_bytes == 20796
    assert record.session_id == "8d091436-fc19" and record.stream_id == "bdc94ab2-6113"
    assert record.timestamp == "2026-11-28T19:15:51.341Z"


def test_eviction_is_matched_to_its_session_and_stream():
    assert flows.find_evictions([EVICTED], session_id="other") == []
    assert flows.find_evictions([EVICTED], stream_id="other") == []
    assert len(flows.find_evictions([EVICTED], "8d091436-fc19", "bdc94ab2-6113")) == 1


def test_wait_for_eviction_polls_until_the_line_appears():
    calls = []

    def lines():
        calls.append(1)
        return [EVICTED] if len(calls) >= 3 else [WARNING]

    record = flows.wait_for_eviction(lines, "8d091436-fc19", timeout_s=5.0, poll_s=0.001)
    assert record is not None and record.detected_at > 0
    assert flows.wait_for_eviction(lambda: [WARNING], "8d091436-fc19", timeout_s=0.05, poll_s=0.01) is None


def test_a_correct_flow_has_no_problems():
    assert good().problems(3) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"outcome": "error", "stop_reason": None}, "turn ended error"),
        ({"end_prompt_id": "someone-else"}, "carried promptId someone-else"),
        ({"chunks": 2, "session_updates": 3}, "2 agent chunks, expected 3"),
        ({"session_updates": 3}, "3 session_update events, expected 4"),
        ({"close_status": 500}, "DELETE answered 500"),
        ({"after_close_status": 200}, "status after close answered 200"),
    ],
)
def test_each_broken_rule_is_named(changes, expected):
    problems = good(**changes).problems(3)
    assert any(expected in p for p in problems), problems


def test_a_failed_request_is_a_problem():
    rec = FlowRecord(0, error="POST /session -> 503 session_limit_exceeded: too many sessions")
    assert any("503" in p for p in rec.problems(3))


def test_batch_counts_and_latency_of_correct_flows_only():
    records = [good(i) for i in range(4)] + [good(4, outcome="timeout", stop_reason=None, total_ms=9999.0)]
    batch = FlowBatch("concurrent", records, wall_ms=50.0, chunks=3)
    assert batch.count == 5 and batch.success_count == 4 and batch.failure_count == 1
    assert batch.latency.count == 4 and batch.latency.max < 100
    assert "flow 4 (s4)" in batch.failure_report()
    assert batch.line().startswith("4/5 flows correct")


def test_counts_are_validated_before_anything_runs():
    with pytest.raises(HarnessConfigError, match="cycles"):
        flows.run_sequential(None, 0, chunks=3)
    with pytest.raises(HarnessConfigError, match="flows"):
        flows.run_concurrent(None, 100000, chunks=3)
    with pytest.raises(HarnessConfigError, match="sessions"):
        flows.BackgroundLoad(None, 0, "x")
    with pytest.raises(HarnessConfigError, match="prompts"):
        flows.run_concurrent(None, 2, chunks=3, prompts=0)


def test_a_flow_that_ran_fewer_prompts_than_planned_names_it():
    turn = flows.FlowTurn("p0", "completed", "end_turn", "p0", 3, 4, 1.0, 5.0)
    rec = good(prompts=3, turns=[turn])
    assert "only 1 of 3 prompts ran" in rec.problems(3)
    assert good(prompts=3, turns=[turn] * 3).problems(3) == []
    assert rec.turn_times() == [5.0] and good().turn_times() == [5.0]


def test_turn_figures_count_every_correct_turn():
    ok = flows.FlowTurn("p0", "completed", "end_turn", "p0", 3, 4, 1.0, 5.0)
    short = flows.FlowTurn("p1", "completed", "end_turn", "p1", 2, 3, 1.0, 7.0)
    records = [good(0, prompts=2, turns=[ok, ok]), good(1, prompts=2, turns=[short], chunks=2, session_updates=3)]
    batch = FlowBatch("concurrent", records, wall_ms=50.0, chunks=3)
    assert batch.prompt_count == 4 and len(batch.good_turns()) == 2 and batch.failed_prompt_count == 2
    assert batch.turn_latency.count == 2  # the turns of the correct flow


# -- flows against a small fake daemon on 127.0.0.1 ----------------------------------------------------
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
    request_queue_size = 128  # the default backlog of 5 drops SYNs of a burst (1 s retransmit)


@pytest.fixture
def fake_daemon():
    FakeDaemon.sessions, FakeDaemon.closed, FakeDaemon.counter, FakeDaemon.fail_prompt_of = {}, set(), 0, set()
    FakeDaemon.fail_from_turn = 0
    httpd = Server(("127.0.0.1", 0), FakeDaemon)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    client = DaemonClient(f"http://127.0.0.1:{httpd.server_address[1]}")
    yield client
    client.close()
    httpd.shutdown()
    httpd.server_close()


def test_sequential_flows_meet_the_contract(fake_daemon):
    batch = flows.run_sequential(fake_daemon, 5, chunks=3)
    assert batch.failure_count == 0, batch.failure_report()
    assert [r.index for r in batch.records] == [0, 1, 2, 3, 4]
    assert all(r.close_status == 204 and r.after_close_status == 404 for r in batch.records)
    assert batch.latency.count == 5


def test_concurrent_flows_start_together_and_failures_are_named(fake_daemon):
    FakeDaemon.fail_prompt_of = {3}
    batch = flows.run_concurrent(fake_daemon, 12, chunks=3, join_timeout_s=30.0)
    assert batch.count == 12 and batch.failure_count == 1
    [bad] = batch.failures
    assert bad.session_id == "s3" and bad.outcome == "error"
    assert "turn ended error" in batch.failure_report()
    starts = [r.started_at for r in batch.records]
    assert max(starts) - min(starts) < 1.0  # released by one barrier


def test_concurrent_flows_send_their_prompts_one_after_another_and_time_each_turn(fake_daemon):
    batch = flows.run_concurrent(fake_daemon, 6, chunks=3, prompts=3, join_timeout_s=30.0)
    assert batch.failure_count == 0, batch.failure_report()
    assert batch.prompt_count == 18 and batch.failed_prompt_count == 0 and batch.turn_latency.count == 18
    for rec in batch.records:
        assert [t.end_prompt_id for t in rec.turns] == [t.prompt_id for t in rec.turns]
        assert len({t.prompt_id for t in rec.turns}) == 3  # three prompts, each followed to its own end
        assert all(len(t.update_times) == 4 for t in rec.turns)  # echo + 3 chunks, each with its receipt time
        span = (rec.started_at, rec.started_at + rec.total_ms / 1000)
        assert all(span[0] <= at <= span[1] for t in rec.turns for at in t.update_times)
        assert rec.close_status == 204 and rec.after_close_status == 404
    starts = [r.started_at for r in batch.records]
    assert max(starts) - min(starts) < 1.0


def test_a_broken_turn_ends_the_prompting_and_the_session_is_still_closed(fake_daemon):
    FakeDaemon.fail_prompt_of, FakeDaemon.fail_from_turn = {2}, 1
    batch = flows.run_concurrent(fake_daemon, 3, chunks=3, prompts=4, join_timeout_s=30.0)
    [bad] = batch.failures
    assert bad.session_id == "s2" and [t.outcome for t in bad.turns] == ["completed", "error"]
    assert "turn ended error" in batch.failure_report() and "only 2 of 4 prompts ran" in batch.failure_report()
    assert bad.close_status == 204 and "s2" in FakeDaemon.closed
    assert batch.prompt_count == 12 and batch.failed_prompt_count == 3  # the broken turn and the two never sent


def test_background_load_runs_until_stopped(fake_daemon):
    load = flows.BackgroundLoad(fake_daemon, 3, "x", max_s=10.0).start()
    assert load.first_turn.wait(5.0)
    result = load.stop(10.0)
    assert result.turns >= 1 and result.failures == [] and result.sessions == 3
    assert len(FakeDaemon.closed) == 3  # each worker closed its session


def test_a_refused_event_stream_is_not_taken_for_a_timeout():
    accepted = PromptAccepted("p1", 0, None, 1.0)
    refused = StreamResult(status=404, end="error", error="GET /session/:id/events -> 404")
    turn = classify(accepted, refused)
    assert turn.outcome == "stream_refused" and "404" in turn.error_message
