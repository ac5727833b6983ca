"""Flow records, batches and their runs (keywords.traffic.flows), against a small fake daemon on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest
from flow_daemon import FakeDaemon, break_the_start_barrier, serve

from keywords.errors import HarnessConfigError
from keywords.reporting.figures import figures_of, non_camel_keys
from keywords.traffic import barrier, flows
from keywords.traffic.client import PromptAccepted, SessionInfo
from keywords.traffic.flows import FlowBatch, FlowRecord, FlowTurn
from keywords.traffic.stream_result import StreamResult
from keywords.traffic.turns import HAPPENED, classify, what_happened


def turn(index=0, chunks=3, **changes):
    values = {
        "prompt_id": f"p{index}",
        "outcome": "completed",
        "stop_reason": "end_turn",
        "end_prompt_id": f"p{index}",
        "chunks": chunks,
        "session_updates": chunks + 1,
        "prompt_ms": 1.0,
        "turn_ms": 5.0,
    }
    values.update(changes)
    return FlowTurn(**values)


def good(index=0, chunks=3, turns=None, **changes):
    values = {
        "session_id": f"s{index}",
        "close_status": 204,
        "after_close_status": 404,
        "total_ms": 10.0 + index,
        "create_ms": 2.0,
        "turns": [turn(index, chunks)] if turns is None else turns,
    }
    values.update(changes)
    return FlowRecord(index, **values)


@pytest.fixture
def fake_daemon():
    with serve() as client:
        yield client


def test_a_correct_flow_has_no_problems():
    assert good().problems(3) == []


@pytest.mark.parametrize(
    ("turn_changes", "expected"),
    [
        ({"outcome": "error", "stop_reason": None}, "turn ended error"),
        ({"end_prompt_id": "someone-else"}, "carried promptId someone-else"),
        ({"chunks": 2, "session_updates": 3}, "2 agent chunks, expected 3"),
        ({"session_updates": 3}, "3 session_update events, expected 4"),
    ],
)
def test_each_broken_rule_of_a_turn_is_named(turn_changes, expected):
    problems = good(turns=[turn(**turn_changes)]).problems(3)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({"close_status": 500}, "DELETE answered 500"), ({"after_close_status": 200}, "status after close answered 200")],
)
def test_each_broken_rule_of_the_close_is_named(changes, expected):
    problems = good(**changes).problems(3)
    assert any(expected in p for p in problems), problems


def test_a_failed_request_is_a_problem_and_a_flow_without_turns_did_not_run():
    rec = FlowRecord(0, error="POST /session -> 503 session_limit_exceeded: too many sessions")
    problems = rec.problems(3)
    assert any("503" in p for p in problems)
    assert "turn ended not_run, expected completed end_turn" in problems
    assert rec.last_turn.outcome == "not_run" and rec.turn_times() == []


def test_the_last_turn_is_the_one_that_shows_what_went_wrong():
    broken = turn(1, outcome="error", stop_reason=None, turn_ms=9.0)
    rec = good(turns=[turn(0), broken], prompts=4)
    assert rec.last_turn is broken
    assert rec.turn_times() == [5.0, 9.0]
    problems = rec.problems(3)
    assert "turn ended error, expected completed end_turn" in problems and "only 2 of 4 prompts ran" in problems


def test_batch_counts_and_latency_of_correct_flows_only():
    timed_out = good(4, turns=[turn(4, outcome="timeout", stop_reason=None)], total_ms=9999.0)
    batch = FlowBatch("concurrent", [good(i) for i in range(4)] + [timed_out], wall_ms=50.0, chunks=3)
    assert batch.count == 5 and batch.success_count == 4 and batch.failure_count == 1
    assert batch.latency.count == 4 and batch.latency.max < 100
    assert "flow 4 (s4)" in batch.failure_report()
    assert batch.line().startswith("4/5 flows correct")


def test_batch_figures_are_camel_case_and_measured():
    records = [good(i) for i in range(3)] + [good(3, turns=[turn(3, chunks=2)])]
    batch = FlowBatch("sequential", records, wall_ms=123.45, chunks=3)
    figures = batch.figures()
    assert non_camel_keys(figures) == [] and figures_of(batch) == figures  # recordable with Record Result
    assert figures["flows"] == 4 and figures["successCount"] == 3 and figures["failureCount"] == 1
    assert figures["promptCount"] == 4 and figures["failedPromptCount"] == 1 and figures["wallMs"] == 123.5
    assert figures["flowLatencyMs"] == batch.latency.to_dict() and figures["flowLatencyMs"]["count"] == 3
    assert figures["turnLatencyMs"]["count"] == 3 and figures["createLatencyMs"]["count"] == 4


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: flows.run_sequential(None, 0, chunks=3), "cycles must be a whole number from 1 to 1000, got 0."),
        (lambda: flows.run_sequential(None, 2, chunks=-1), "chunks must be a whole number from 0 to 100000, got -1."),
        (
            lambda: flows.run_sequential(None, 2, chunks=3, timeout_s=0),
            "turn timeout must be a number above 0 and at most 3600 s, got 0.",
        ),
        (lambda: flows.run_concurrent(None, 100000, chunks=3), "flows must be a whole number from 1 to 1000"),
        (lambda: flows.run_concurrent(None, 2, chunks=3, prompts=0), "prompts must be a whole number from 1 to 1000"),
        (
            lambda: flows.run_concurrent(None, 2, chunks=3, batch_timeout_s=-5),
            "batch timeout must be a number above 0",
        ),
    ],
)
def test_counts_and_bounds_are_checked_before_anything_runs(call, message):
    with pytest.raises(HarnessConfigError) as caught:
        call()
    assert message in str(caught.value)


def test_the_batch_bound_grows_with_the_prompts():
    assert flows.batch_bound_s(1, 5.0) == 60.0
    assert flows.batch_bound_s(20, 30.0) == 690.0


def test_sequential_flows_meet_the_contract(fake_daemon):
    batch = flows.run_sequential(fake_daemon, 5, chunks=3)
    assert batch.failure_count == 0, batch.failure_report()
    assert [r.index for r in batch.records] == [0, 1, 2, 3, 4]
    assert all(r.close_status == 204 and r.after_close_status == 404 for r in batch.records)
    assert batch.latency.count == 5


def test_concurrent_flows_start_together_and_failures_are_named(fake_daemon):
    FakeDaemon.fail_prompt_of = {3}
    batch = flows.run_concurrent(fake_daemon, 12, chunks=3)
    assert batch.count == 12 and batch.failure_count == 1
    [bad] = batch.failures
    assert bad.session_id == "s3" and bad.last_turn.outcome == "error"
    assert "turn ended error" in batch.failure_report()
    starts = [r.started_at for r in batch.records]
    assert max(starts) - min(starts) < 1.0  # released by one barrier


def test_concurrent_flows_send_their_prompts_one_after_another_and_time_each_turn(fake_daemon):
    batch = flows.run_concurrent(fake_daemon, 6, chunks=3, prompts=3)
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
    batch = flows.run_concurrent(fake_daemon, 3, chunks=3, prompts=4)
    [bad] = batch.failures
    assert bad.session_id == "s2" and [t.outcome for t in bad.turns] == ["completed", "error"]
    assert "turn ended error" in batch.failure_report() and "only 2 of 4 prompts ran" in batch.failure_report()
    assert bad.close_status == 204 and "s2" in FakeDaemon.closed
    assert batch.prompt_count == 12 and batch.failed_prompt_count == 3  # the broken turn and the two never sent


def test_a_broken_start_barrier_fails_the_batch(fake_daemon, monkeypatch):
    # Before, a broken barrier became an error text in each flow's record and the batch still "ran".
    break_the_start_barrier(monkeypatch)
    with pytest.raises(barrier.BarrierBrokenError, match="The 4 flows could not start together"):
        flows.run_concurrent(fake_daemon, 4, chunks=3)
    assert FakeDaemon.counter == 0  # no flow created a session


def test_the_batch_bound_stops_every_flow_and_leaves_no_thread_running(fake_daemon):
    # Before, flows still running at the join bound were left running in the background.
    started = time.monotonic()
    batch = flows.run_concurrent(fake_daemon, 3, chunks=3, prompts=1000, batch_timeout_s=0.3)
    assert time.monotonic() - started < 5
    assert not [t for t in threading.enumerate() if t.name.startswith("together-flows")]
    for rec in batch.records:
        assert 1 <= len(rec.turns) < 1000
        assert rec.error.startswith("the flow's bound of 0.3 s ran out after ")
        assert rec.close_status == 204  # the session is closed all the same
    assert len(FakeDaemon.closed) == 3


def test_a_refused_event_stream_is_not_taken_for_a_timeout():
    accepted = PromptAccepted("p1", 0, None, 1.0)
    refused = StreamResult(status=404, end="error", error="GET /session/:id/events -> 404")
    result = classify(accepted, refused)
    assert result.outcome == "stream_refused" and "404" in result.error_message


@pytest.mark.parametrize(
    ("outcome", "stop_reason", "message", "status", "happened"),
    [
        ("completed", "end_turn", None, 200, "completed"),
        ("completed", "cancelled", None, 200, "cancelled"),
        ("error", None, "mock injected failure", 200, "error"),
        ("error", None, "agent channel closed (exit code 1)", 200, "sessionDied"),
        ("session_died", None, "channel_closed", 200, "sessionDied"),
        ("stream_refused", None, "GET /session/:id/events -> 404", 404, "sessionGone"),
        ("stream_refused", None, "GET /session/:id/events -> 429", 429, "refused"),
        ("session_closed", None, None, 200, "sessionClosed"),
        ("timeout", None, None, 200, "timeout"),
        ("stream_cut", None, None, 200, "streamCut"),
        ("not_run", None, None, None, "notSent"),
    ],
)
def test_what_happened_to_a_turn_in_plain_terms(outcome, stop_reason, message, status, happened):
    assert what_happened(outcome, stop_reason, message, status) == happened
    assert turn(outcome=outcome, stop_reason=stop_reason, error_message=message, stream_status=status).happened == (
        happened
    )
    assert happened in HAPPENED


def test_prompt_outcomes_name_refusals_and_prompts_never_sent():
    refused_at_create = FlowRecord(0, prompts=2, refused_step="create", refused_status=503, refused_code="x")
    assert refused_at_create.prompt_outcomes() == ["notSent", "notSent"] and refused_at_create.refusal == "503 x"
    gone = good(1, turns=[turn(1)], prompts=3, refused_step="prompt", refused_status=404)
    assert gone.prompt_outcomes() == ["completed", "sessionGone", "notSent"]
    died = good(2, turns=[turn(2, outcome="session_died", stop_reason=None)], prompts=2)
    batch = FlowBatch("concurrent", [refused_at_create, gone, died], wall_ms=10.0, chunks=3)
    assert batch.prompt_outcomes() == {"completed": 1, "sessionDied": 1, "sessionGone": 1, "notSent": 4}
    assert batch.refusals() == {"503 x": 1, "404": 1}
    figures = batch.figures()
    assert figures["promptOutcomes"] == batch.prompt_outcomes() and non_camel_keys(figures) == []
    assert {"status": 503, "code": "x", "count": 1} in figures["refusals"]


def test_update_times_count_from_the_release_and_give_the_rate():
    first = good(0, started_at=100.0, turns=[turn(0, update_times=[100.5, 101.0])])
    second = good(1, started_at=100.2, turns=[turn(1, update_times=[100.25, 102.0])])
    batch = FlowBatch("concurrent", [first, second], wall_ms=10.0, chunks=3)
    assert batch.update_times() == [0.25, 0.5, 1.0, 2.0]
    assert batch.updates_per_s == round(3 / 1.75, 1)
    assert FlowBatch("concurrent", [FlowRecord(0)], wall_ms=0.0, chunks=3).updates_per_s is None
    assert batch.prompt_latency.count == 2 and batch.good_turn_times() == [5.0, 5.0]


def test_past_errors_keeps_prompting_after_a_turn_error(fake_daemon):
    # Before, a turn_error ended the flow's prompting: a row expecting every 2nd prompt to fail could not run.
    FakeDaemon.fail_prompt_of = {1}
    batch = flows.run_concurrent(fake_daemon, 2, chunks=3, prompts=3, past_errors=True)
    erring = next(r for r in batch.records if r.session_id == "s1")
    assert [t.happened for t in erring.turns] == ["error", "error", "error"]
    assert [t.number for t in erring.turns] == [1, 2, 3]
    assert batch.prompt_outcomes() == {"completed": 3, "error": 3}


def test_a_read_that_stops_at_its_frame_count_is_a_running_turn():
    # Before, a turn read up to its first chunks reported "timeout", as if it had failed to end in time.
    accepted = PromptAccepted("p1", 0, None, 1.0)
    frames = [
        {
            "id": 1,
            "type": "session_update",
            "data": {"promptId": "p1", "update": {"sessionUpdate": "user_message_chunk"}},
        },
        {
            "id": 2,
            "type": "session_update",
            "data": {"promptId": "p1", "update": {"sessionUpdate": "agent_message_chunk"}},
        },
    ]
    stream = StreamResult(status=200, end="max_events", events=frames, ids=[1, 2], last_id=2)
    result = classify(accepted, stream)
    assert result.outcome == "running" and result.happened == "running" and result.chunks == 1


def test_session_info_carries_its_own_figures():
    info = SessionInfo("s1", "c1", False, "/w", 603.44)
    assert info.figures() == {"createMs": 603.4, "attached": False}
    assert info.line() == "session created in 603.4 ms" and figures_of(info, "respawn")["respawnCreateMs"] == 603.4
