"""The open-model load (keywords.traffic.open_model over keywords.traffic.loadgen): plan checks, schedule,
late and dropped accounting, SSE matching, processes sharing one schedule, permission answers, the SLO's
early stop and the result's figures.

The load-generating processes run against a tiny loopback HTTP/SSE server that speaks the daemon's shapes
(202 with ``promptId``; frames with ``promptId`` and ``_meta.serverTimestamp``; 204 closes).
"""

from __future__ import annotations

import json
import queue
import socketserver
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from waiting import until

from keywords.errors import HarnessConfigError
from keywords.measure.metrics import LatencyRecorder
from keywords.reporting.figures import figures_of, non_camel_keys
from keywords.traffic.client import DaemonClient
from keywords.traffic.open_model import LoadPlan, Slo, SustainedLoadResult, run_lifecycle_load, run_prompt_load
from keywords.traffic.open_model.result import timeline


def done_now(arrival, rec):
    return time.monotonic()


# -- schedule ------------------------------------------------------------------------------------------


def test_plan_counts_and_intended_offsets():
    plan = LoadPlan(rate=10, duration_s=20, sessions=5)
    assert plan.arrivals == 200
    assert [plan.intended_offset_s(i) for i in (0, 1, 10, 199)] == [0.0, 0.1, 1.0, 19.9]
    assert LoadPlan(rate=3, duration_s=1).arrivals == 3
    assert LoadPlan(rate=0.5, duration_s=1).arrivals == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "soak"}, "kind must be one of prompt, lifecycle, fanout, cycle; got 'soak'."),
        ({"rate": 0}, "rate must be a number above 0 and at most 5000 per second, got 0."),
        ({"duration_s": 0}, "duration must be a number above 0 and at most 3600 s, got 0."),
        (
            {"rate": 5000, "duration_s": 3600},
            "arrivals (rate * duration) must be a whole number from 1 to 1000000, got 18000000.",
        ),
        ({"sessions": 0}, "sessions must be a whole number from 1 to 256, got 0."),
        ({"kind": "fanout", "subscribers": 65}, "subscribers must be a whole number from 1 to 64, got 65."),
        ({"workers": "many"}, "workers must be a whole number from 1 to 1024, got 'many'."),
        ({"processes": 17}, "processes must be a whole number from 1 to 16, got 17."),
        ({"answer_permissions": "maybe"}, "answer_permissions must be one of allow, reject, none; got 'maybe'."),
        ({"backlog": 0}, "backlog must be a whole number from 1 to 100000, got 0."),
        ({"late_ms": -1}, "late tolerance must be a number from 0 to 60000 ms, got -1."),
        ({"max_start_lag_ms": 0}, "max start lag must be a number above 0 and at most 600000 ms, got 0."),
        ({"drain_s": timedelta(minutes=11)}, "drain must be a number above 0 and at most 600 s, got 660.0."),
        ({"cpu_threshold_pct": 101}, "cpu threshold must be a number above 0 and at most 100 % of one core"),
        ({"cpu_interval_s": 0.01}, "cpu interval must be a number from 0.05 to 10 s, got 0.01."),
        ({"cpu_windows": 0}, "cpu windows must be a whole number from 1 to 1000, got 0."),
    ],
)
def test_plan_refuses_each_bad_field_naming_it_its_range_and_the_value(change, message):
    with pytest.raises(HarnessConfigError) as caught:
        LoadPlan(**change).validate()
    assert message in str(caught.value)


def test_plan_takes_robot_times_and_texts_of_numbers():
    plan = LoadPlan(
        rate="20",
        duration_s=timedelta(seconds=1.5),
        late_ms=timedelta(milliseconds=25),
        max_start_lag_ms=timedelta(seconds=2),
        drain_s=timedelta(minutes=1),
        cpu_interval_s=timedelta(milliseconds=250),
        workers="4",
    ).validate()
    assert (plan.rate, plan.duration_s, plan.arrivals, plan.workers) == (20.0, 1.5, 30, 4)
    assert (plan.late_ms, plan.max_start_lag_ms, plan.drain_s, plan.cpu_interval_s) == (25.0, 2000.0, 60.0, 0.25)


def test_plan_parameters_are_the_inputs_in_camel_case():
    params = LoadPlan(kind="lifecycle", rate=5, duration_s=10, workers=8).validate().parameters()
    assert non_camel_keys(params) == []
    assert params["workload"] == "lifecycle" and params["ratePerSec"] == 5 and params["workers"] == 8
    assert params["sessions"] is None  # a lifecycle load spreads nothing over sessions


# -- prompts against a loopback SSE server -------------------------------------------------------------


class FakeDaemon:
    """Enough of the daemon for the prompt driver: 202 prompts, per-session SSE streams, 503 on demand."""

    def __init__(
        self, refuse_every: int = 0, chunks: int = 3, permissions: int = 0, close_delay_s: float = 0.0
    ) -> None:
        self.streams: dict[str, list[queue.Queue]] = {}
        self.lock = threading.Lock()
        self.prompts = 0
        self.refuse_every = refuse_every
        self.chunks = chunks
        self.permissions = permissions
        self.close_delay_s = close_delay_s
        self.answers: list[dict] = []
        self.closing = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self._body = self.rfile.read(length)
                parts = self.path.strip("/").split("/")
                if parts == ["session"]:
                    self._json(200, {"sessionId": str(uuid.uuid4()), "clientId": "c", "attached": False})
                elif parts[:1] == ["session"] and len(parts) == 3 and parts[2] == "prompt":
                    fake.prompt(self, parts[1])
                elif parts[:1] == ["session"] and len(parts) == 4 and parts[2] == "permission":
                    with fake.lock:
                        fake.answers.append(json.loads(self._body or b"{}"))
                    self._json(200, {})
                else:
                    self._json(404, {"code": "not_found"})

            def do_DELETE(self):
                time.sleep(fake.close_delay_s)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                parts = self.path.strip("/").split("/")
                if len(parts) == 3 and parts[2] == "events":
                    fake.events(self, parts[1])
                else:
                    self._json(404, {"code": "not_found"})

            def _json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the load opens its connections at once

        socketserver.TCPServer.allow_reuse_address = True
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def _emit(self, sid: str, env: dict) -> None:
        env["_meta"] = {"serverTimestamp": time.time() * 1000}
        frame = f"id: {env.get('id', '')}\nevent: {env['type']}\ndata: {json.dumps(env)}\n\n".encode()
        with self.lock:
            for q in self.streams.get(sid, []):
                q.put(frame)

    def prompt(self, handler, sid: str) -> None:
        with self.lock:
            self.prompts += 1
            n = self.prompts
        if self.refuse_every and n % self.refuse_every == 0:
            handler._json(503, {"error": "queue full", "code": "prompt_queue_full"})
            return
        pid = str(uuid.uuid4())
        # The turn ends before the 202 is written: the tracker must hold frames of a prompt it doesn't know yet.
        update = {"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": "x"}}
        self._emit(sid, {"type": "session_update", "promptId": pid, "data": {"update": update}})
        for i in range(self.chunks):
            chunk = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": f"c{i}"}}
            self._emit(sid, {"type": "session_update", "promptId": pid, "data": {"update": chunk}})
        for i in range(self.permissions):
            options = [
                {"optionId": "allow_once", "kind": "allow_once"},
                {"optionId": "reject_once", "kind": "reject_once"},
            ]
            data = {
                "requestId": f"{pid}-{i}",
                "sessionId": sid,
                "toolCall": {"toolCallId": f"call-{i}"},
                "options": options,
            }
            self._emit(sid, {"type": "permission_request", "promptId": pid, "data": data})
        self._emit(sid, {"type": "turn_complete", "promptId": pid, "data": {"stopReason": "end_turn"}})
        time.sleep(0.002)
        handler._json(202, {"promptId": pid, "lastEventId": 0, "eventEpoch": "e"})

    def events(self, handler, sid: str) -> None:
        q: queue.Queue = queue.Queue()
        with self.lock:
            self.streams.setdefault(sid, []).append(q)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            self._chunk(handler, b"retry: 3000\n\n")
            deadline = time.monotonic() + 30
            while not self.closing.is_set() and time.monotonic() < deadline:
                try:
                    frame = q.get(timeout=0.05)
                except queue.Empty:
                    continue
                self._chunk(handler, frame)
            self._chunk(handler, b"")
        except OSError:
            pass

    @staticmethod
    def _chunk(handler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()


@pytest.fixture
def fake():
    server = FakeDaemon()
    yield server
    server.close()


def test_prompt_load_matches_frames_to_prompts(fake):
    client = DaemonClient(fake.base_url)
    plan = LoadPlan(rate=50, duration_s=0.6, sessions=3, drain_s=5, late_ms=20)
    try:
        result = run_prompt_load(client, plan, session_ids=["s1", "s2", "s3"])
    finally:
        client.close()
    assert isinstance(result, SustainedLoadResult)
    assert result.planned == result.sent == result.completed == 30
    assert result.errors == {} and result.unfinished == 0 and result.dropped == 0
    assert result.events == 30 * 5
    assert sum(done for _, done, _ in result.timeline) == 30
    assert sum(events for _, _, events in result.timeline) == 150
    assert [second for second, _, _ in result.timeline] == list(range(len(result.timeline)))
    assert result.response.count == result.service.count == result.first_chunk.count == 30
    assert result.gaps.count == 30 * 4
    assert result.delivery.count == 150
    assert result.response.p50 >= result.service.p50 > 0
    assert [p for p, _ in result.response_spectrum] == [50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0]
    # histograms travel encoded and merge back
    merged = LatencyRecorder.decode(result.histograms["response"]).merge(
        LatencyRecorder.decode(result.histograms["response"])
    )
    assert merged.count == 60
    line = result.line()
    assert "response p50" in line and "service p50" in line and "late " in line and "harness CPU" in line
    figures = result.figures()
    assert non_camel_keys(figures) == []
    assert figures["late"] == result.late and figures["completed"] == 30 and "histograms" not in figures
    assert figures["responseMs"] == result.response.to_dict() and figures["events"] == 150
    assert figures["harnessCpuWindows"] == len(result.harness_cpu.windows_pct)
    json.dumps(figures)  # plain data, no objects


def test_refused_prompts_are_counted_by_code():
    server = FakeDaemon(refuse_every=3)
    client = DaemonClient(server.base_url)
    try:
        result = run_prompt_load(
            client, LoadPlan(rate=60, duration_s=0.5, sessions=2, drain_s=5), session_ids=["a", "b"]
        )
    finally:
        client.close()
        server.close()
    assert result.planned == 30
    assert result.errors == {"prompt_queue_full": 10}
    assert result.completed == 20


def test_timeline_rows_pad_the_shorter_series():
    assert timeline([2, 3], [10], 3) == [[0, 2, 10], [1, 3, 0], [2, 0, 0]]
    assert timeline([1], None, 2) == [[0, 1, None], [1, 0, None]]


def test_two_processes_share_one_schedule_and_their_histograms_merge_exactly(fake):
    client = DaemonClient(fake.base_url)
    plan = LoadPlan(rate=80, duration_s=0.5, sessions=4, drain_s=5, late_ms=50, processes=2)
    try:
        result = run_prompt_load(client, plan, session_ids=["a", "b", "c", "d"])
    finally:
        client.close()
    assert result.processes == 2 and len(result.process_cpu) == 2
    assert result.planned == result.sent == result.completed == 40  # each arrival sent by exactly one process
    assert result.response.count == result.service.count == 40
    assert LatencyRecorder.decode(result.histograms["response"]).count == 40
    assert result.client_cpu_ms_per_op is not None and result.client_cpu_ms_per_op > 0
    assert result.figures()["harnessProcesses"] == 2


def test_a_full_backlog_drops_arrivals_without_sending_them():
    server = FakeDaemon(close_delay_s=0.2)
    client = DaemonClient(server.base_url)
    try:
        plan = LoadPlan(kind="lifecycle", rate=100, duration_s=0.3, workers=1, backlog=2, max_start_lag_ms=10_000)
        result = run_lifecycle_load(client, plan)
    finally:
        client.close()
        server.close()
    assert result.planned == 30
    assert result.dropped >= 20 and result.sent + result.dropped == result.planned
    assert result.late >= 1  # the queued ones started late
    assert result.response.max >= result.service.max


def test_fan_out_is_done_when_every_subscriber_saw_the_turn_end(fake):
    client = DaemonClient(fake.base_url)
    plan = LoadPlan(kind="fanout", rate=40, duration_s=0.5, sessions=2, subscribers=3, drain_s=5)
    try:
        result = run_prompt_load(client, plan, session_ids=["x", "y"])
    finally:
        client.close()
    assert result.completed == 20 and result.errors == {}
    assert result.events == 20 * 5 * 3  # every frame on every stream
    assert result.delivery.count == 20 * 5 * 3 and result.gaps.count == 20 * 4  # gaps on the first stream only
    assert dict(result.event_mix) == {"user_message_chunk": 20, "agent_message_chunk": 60, "turn_complete": 20}


def test_permission_requests_are_answered_with_the_chosen_option():
    server = FakeDaemon(permissions=2)
    client = DaemonClient(server.base_url)
    try:
        plan = LoadPlan(rate=20, duration_s=0.5, sessions=1, drain_s=5, answer_permissions="reject")
        result = run_prompt_load(client, plan, session_ids=["p"])
        until(lambda: len(server.answers) >= 20, poll_s=0.05)
    finally:
        client.close()
        server.close()
    assert result.permission_requests == 20 and result.permission_answered == 20
    assert result.answer.count == 20 and result.permission_refused == {}
    assert {a["outcome"]["optionId"] for a in server.answers} == {"reject_once"}
    assert result.event_mix["permission_request"] == 20


def test_not_answering_leaves_the_permission_figures_unmeasured(fake):
    client = DaemonClient(fake.base_url)
    try:
        plan = LoadPlan(rate=20, duration_s=0.2, sessions=1, answer_permissions="none")
        result = run_prompt_load(client, plan, session_ids=["q"])
    finally:
        client.close()
    figures = result.figures()
    assert figures["permissionRequests"] is None and figures["permissionAnswered"] is None
    assert figures["permissionAnswerMs"] is None


def test_an_slo_that_can_no_longer_hold_stops_the_run_early_and_says_why():
    server = FakeDaemon(refuse_every=1)
    client = DaemonClient(server.base_url)
    started = time.monotonic()
    try:
        plan = LoadPlan(rate=50, duration_s=20, sessions=1)
        result = run_prompt_load(client, plan, session_ids=["r"], slo=Slo(p99_ms=100, max_errors=3))
    finally:
        client.close()
        server.close()
    assert time.monotonic() - started < 10  # not the whole 20 s schedule
    assert result.stopped_early.startswith("4 errors already") or "errors already" in result.stopped_early
    assert result.planned < 1000 and result.slo is not None and not result.slo.held
    assert "errors" in [c.name for c in result.slo.breached]
    assert "stopped early" in result.slo.reason() and "stopped early" in result.line()


def test_lifecycle_load_figures_leave_what_it_does_not_measure_empty(fake):
    client = DaemonClient(fake.base_url)
    try:
        result = run_lifecycle_load(client, LoadPlan(kind="lifecycle", rate=40, duration_s=0.5, workers=4))
    finally:
        client.close()
    assert result.kind == "lifecycle" and result.planned == result.sent == result.completed == 20
    figures = result.figures()
    assert non_camel_keys(figures) == [] and figures_of(result) == figures  # recordable with Record Result
    assert figures["acceptMs"]["count"] == 20 and figures["responseMs"]["count"] == 20
    # not measured by a create+close load: None, never an invented 0
    for key in ("firstChunkMs", "gapMs", "deliveryMs", "events", "eventsPerSec", "unfinished"):
        assert figures[key] is None, key
    assert sum(row[1] for row in result.timeline) == 20 and {row[2] for row in result.timeline} == {None}
    assert "response p50" in result.line() and "harness CPU" in result.line()


def test_a_driver_refuses_a_plan_of_the_other_kind():
    with pytest.raises(HarnessConfigError, match="needs a plan of kind lifecycle or cycle, got 'prompt'"):
        run_lifecycle_load(None, LoadPlan(kind="prompt"))


def test_the_session_load_keyword_turns_its_arguments_into_the_plan(fake):
    from types import SimpleNamespace

    from keywords.components.load_keywords import LoadKeywords

    client = DaemonClient(fake.base_url)
    ctx = SimpleNamespace(get=lambda daemon: SimpleNamespace(client=client))
    try:
        result = LoadKeywords(ctx).run_sustained_session_load(
            40, timedelta(seconds=0.25), late_tolerance_ms=timedelta(milliseconds=30), workers="3"
        )
    finally:
        client.close()
    plan = result.plan
    assert (plan.kind, plan.rate, plan.duration_s, plan.late_ms, plan.workers) == ("lifecycle", 40.0, 0.25, 30.0, 3)
    assert result.planned == result.completed == 10


def test_the_prompt_load_keyword_with_several_subscribers_is_a_fan_out_with_its_slo(fake):
    from types import SimpleNamespace

    from keywords.components.load_keywords import LoadKeywords

    client = DaemonClient(fake.base_url)
    ctx = SimpleNamespace(get=lambda daemon: SimpleNamespace(client=client))
    fake_sessions = ["f1", "f2"]
    client.create_session = lambda scope: SimpleNamespace(session_id=fake_sessions.pop())
    client.close_session = lambda sid, expected=None: None
    try:
        result = LoadKeywords(ctx).run_sustained_prompt_load(
            20, 0.5, sessions=2, subscribers="3", p99_bound_ms=timedelta(seconds=5), max_errors="0"
        )
    finally:
        client.close()
    assert result.kind == "fanout" and result.plan.subscribers == 3
    assert result.completed == 10 and result.events == 10 * 5 * 3
    assert result.slo is not None and result.slo.held and [c.name for c in result.slo.checks] == ["p99", "errors"]
    with pytest.raises(HarnessConfigError, match="subscribers must be a whole number from 1 to 64, got 0"):
        LoadKeywords(ctx).run_sustained_prompt_load(20, 0.5, subscribers=0)


def test_options_of_the_load_and_flow_keywords_are_keyword_only():
    import inspect

    from keywords.components.flow_keywords import FlowKeywords
    from keywords.components.load_keywords import LoadKeywords

    positional = {
        "run_sustained_prompt_load": ["rate", "duration"],
        "run_sustained_session_load": ["rate", "duration"],
        "load_should_meet_slo": ["result"],
        "load_should_have_completed": ["result"],
        "get_load_figures": ["result"],
        "warn_if_harness_saturated": ["result"],
        "warm_up_daemon": [],
        "run_lifecycle_cycles": ["cycles"],
        "run_concurrent_flows": ["count"],
        "flows_should_all_be_correct": ["batch"],
        "start_background_load": ["sessions"],
        "wait_until_background_load_is_busy": ["load"],
        "stop_background_load": ["load"],
        "wait_for_eviction_in_daemon_log": ["session_id"],
    }
    for name, expected in positional.items():
        method = getattr(LoadKeywords, name, None) or getattr(FlowKeywords, name)
        params = list(inspect.signature(method).parameters.values())[1:]
        main = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert main == expected, name
        durations = [p.name for p in params if p.name in ("duration", "drain", "timeout", "max_seconds")]
        assert all("timedelta" in str(method.__annotations__[d]) for d in durations), name


def test_each_process_spec_carries_the_plan_and_a_share_of_the_connections():
    from keywords.traffic.loadgen.coordinator import worker_specs

    plan = LoadPlan(kind="prompt", rate=40, duration_s=2, sessions=3, workers=10, processes=2, backlog=7).validate()
    specs = worker_specs(plan, 4321, "t", ["s-1", "s-2", "s-3"], 150.0)
    assert [(s.index, s.processes, s.connections) for s in specs] == [(0, 2, 5), (1, 2, 5)]
    for spec in specs:
        assert (spec.rate, spec.arrivals, spec.backlog, spec.late_ms, spec.drain_s) == (
            plan.rate,
            plan.arrivals,
            7,
            plan.late_ms,
            plan.drain_s,
        )
        assert (spec.port, spec.token, spec.session_ids, spec.p99_bound_ms) == (4321, "t", ["s-1", "s-2", "s-3"], 150.0)
