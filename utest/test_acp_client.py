"""The /acp client without a daemon: a small WebSocket server on loopback plays the daemon's side (initialize,
session/new, session/prompt with its updates, a permission request, the connection cap), so the client's filing
of frames, its turn accounting (late updates, the end frame), its refusals and the workload results are tested
against real WebSocket framing (the ``websockets`` library on both sides)."""

from __future__ import annotations

import json
import threading

import pytest
from websockets.sync.server import serve

from keywords.errors import HarnessConfigError
from keywords.reporting.figures import figures_of
from keywords.traffic.acp.acp_connection import AcpConnection, AcpPromptHandle
from keywords.traffic.acp.cap_probe import probe_connection_cap
from keywords.traffic.acp.messages import AcpError, AcpRefused
from keywords.traffic.acp.transport_runs import TransportComparison, TransportRun, run_acp_turns

CAP = 3


class FakeAcp:
    """The daemon's side of /acp over WebSocket, as the 0.24.4 bundle writes it (initialize first, the cap)."""

    def __init__(self, *, late: int = 0, cap: int = CAP) -> None:
        self.late = late
        self.cap = cap
        self.live = 0
        self.lock = threading.Lock()
        self.answers: list[dict] = []
        self.server = serve(self.handle, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)

    def handle(self, ws) -> None:
        first = json.loads(ws.recv())
        with self.lock:
            if self.live >= self.cap:
                ws.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": first["id"],
                            "error": {"code": -32603, "message": "Too many connections"},
                        }
                    )
                )
                ws.close(1013, "Connection cap")
                return
            self.live += 1
        try:
            meta = {"qwen": {"connectionId": f"conn-{self.live}"}}
            ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": first["id"],
                        "result": {"protocolVersion": 1, "agentCapabilities": {"_meta": meta}},
                    }
                )
            )
            for raw in ws:
                message = json.loads(raw)
                if "method" not in message:
                    self.answers.append(message)
                    continue
                self.dispatch(ws, message)
        finally:
            with self.lock:
                self.live -= 1

    def dispatch(self, ws, message: dict) -> None:
        method, params, rid = message["method"], message.get("params") or {}, message.get("id")
        if method == "session/new":
            ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": {"sessionId": "s1"}}))
            return
        if method != "session/prompt":  # anything else stays unanswered
            return
        text = params["prompt"][0]["text"]

        def note(kind: str, body: str) -> None:
            update = {"sessionUpdate": kind, "content": {"type": "text", "text": body}}
            ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": "s1", "update": update}}
                )
            )

        note("user_message_chunk", text)
        if text.startswith("ask"):
            params = {
                "sessionId": "s1",
                "toolCall": {"toolCallId": "call-1"},
                "options": [{"optionId": "allow_once", "kind": "allow_once"}],
                "_meta": {"qwen": {"requestId": "r-1"}},
            }
            ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": "_qwen_perm_conn-1_1",
                        "method": "session/request_permission",
                        "params": params,
                    }
                )
            )
        chunks = ["a", "b", "c"]
        for chunk in chunks[: len(chunks) - self.late]:
            note("agent_message_chunk", chunk)
        ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": {"stopReason": "end_turn"}}))
        for chunk in chunks[len(chunks) - self.late :]:
            note("agent_message_chunk", chunk)
        notify = {"kind": "turn_complete", "data": {"sessionId": "s1", "stopReason": "end_turn"}}
        ws.send(json.dumps({"jsonrpc": "2.0", "method": "_qwen/notify", "params": notify}))


@pytest.fixture
def fake():
    servers = []

    def make(**kwargs) -> FakeAcp:
        server = FakeAcp(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_a_prompt_collects_its_updates_and_ends_at_the_turn_end_frame(fake):
    server = fake()
    with AcpConnection(server.base_url, timeout_s=5) as conn:
        conn.connect()
        assert conn.connection_id == "conn-1"
        session = conn.new_session("/ws")
        turn = conn.prompt(session, "hello")
    assert turn.completed and turn.chunks == 3 and turn.updates == 4 and turn.text == "abc"
    assert turn.late_updates == 0 and turn.notify_kinds == ("turn_complete",)
    assert turn.end_ms is not None and turn.turn_ms is not None and turn.first_update_ms is not None
    assert figures_of(turn)["lateUpdates"] == 0


def test_updates_after_the_answer_are_counted_as_late_and_kept_in_their_turn(fake):
    server = fake(late=2)
    with AcpConnection(server.base_url, timeout_s=5) as conn:
        conn.connect()
        session = conn.new_session("/ws")
        first = conn.prompt(session, "one")
        second = conn.prompt(session, "two")
    assert (first.chunks, first.late_updates, first.text) == (3, 2, "abc")
    assert (second.chunks, second.late_updates) == (3, 2), "a late update of the first turn leaked into the second"


def test_a_permission_request_is_filed_with_the_daemons_request_id(fake):
    server = fake()
    with AcpConnection(server.base_url, timeout_s=5) as conn:
        conn.connect()
        session = conn.new_session("/ws")
        handle = AcpPromptHandle(conn, session, "ask me")
        request = conn.wait_for_request(5)
        assert handle.wait(5).completed
        assert conn.wait_for_request(0.05) is None, "a request must be handed out once"
        conn.respond(request.rpc_id, {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    assert request.rpc_id == "_qwen_perm_conn-1_1" and request.request_id == "r-1" and request.tool_call_id == "call-1"
    rest = request.rest
    assert rest.request_id == "r-1" and rest.options == ("allow_once",) and rest.option_kinds == ("allow_once",)
    assert rest.outcome("select") == {"outcome": {"outcome": "selected", "optionId": "allow_once"}}


def test_past_the_cap_the_refusal_names_the_error_and_the_close_code(fake):
    server = fake(cap=1)
    with AcpConnection(server.base_url, timeout_s=5) as first:
        first.connect()
        with pytest.raises(AcpRefused) as refused:
            AcpConnection(server.base_url, timeout_s=5).connect()
    assert refused.value.error_code == -32603 and refused.value.close_code == 1013
    assert "close 1013 'Connection cap'" in str(refused.value)


def test_the_cap_probe_counts_accepted_refused_and_the_reopen(fake):
    server = fake(cap=CAP)
    probe = probe_connection_cap(server.base_url, past=2, reported_cap=CAP, timeout_s=5)
    assert (probe.accepted, len(probe.refusals), probe.reopened) == (CAP, 2, True)
    figures = figures_of(probe)
    assert (
        figures["refusalCloseCode"] == 1013
        and figures["refusalHttpStatus"] is None
        and figures["connect"]["count"] == CAP
    )


def test_the_workload_over_acp_counts_turns_updates_and_late_ones(fake):
    server = fake(late=1, cap=10)
    run = run_acp_turns(server.base_url, "/ws", 3, 2, "go", timeout_s=5)
    assert run.failed == 0 and len(run.turn_ms) == 6 and run.updates == 6 * 4 and run.late_updates == 6
    figures = figures_of(run)
    assert figures["turns"] == 6 and figures["eventsPerSec"] > 0 and figures["connect"]["count"] == 3


def test_a_refused_connection_fails_its_turns_in_the_workload(fake):
    server = fake(cap=1)
    run = run_acp_turns(server.base_url, "/ws", 2, 1, "go", timeout_s=5)
    assert run.failed == 1 and len(run.turn_ms) == 1 and "Too many connections" in run.errors[0]


def test_comparison_ratios_are_acp_over_rest_and_none_without_samples():
    rest = TransportRun("rest", 1, 2, (10.0, 20.0), 0, 8, 100.0)
    over = TransportRun("ws", 1, 2, (5.0, 10.0), 0, 8, 50.0, late_updates=0)
    side = TransportComparison(rest, over)
    assert side.ratio("p50") == pytest.approx(0.5, rel=0.01) and side.ratio("eventsPerSec") == pytest.approx(2.0)
    assert TransportComparison(rest, TransportRun("ws", 1, 2, (), 2, 0, 50.0)).ratio("p99") is None
    assert figures_of(side)["acp"]["lateUpdates"] == 0 and figures_of(side)["rest"]["lateUpdates"] is None


def test_only_loopback_targets_and_known_transports():
    with pytest.raises(HarnessConfigError, match="loopback"):
        AcpConnection("http://10.0.0.1:80")
    with pytest.raises(HarnessConfigError, match="transport must be one of ws, http"):
        AcpConnection("http://127.0.0.1:9", transport="grpc")


def test_a_request_without_an_answer_times_out_as_an_acp_error(fake):
    server = fake()
    with AcpConnection(server.base_url, timeout_s=0.3) as conn:
        conn.connect()
        with pytest.raises(AcpError, match=r"no answer within 0\.3 s"):
            conn.request("_qwen/unknown", {"sessionId": "s1", "prompt": [{"type": "text", "text": "x"}]})
