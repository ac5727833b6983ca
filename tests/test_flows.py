"""Flow records, batches and eviction lines of the daemon's log (keywords.flows), without a daemon."""

from __future__ import annotations

import pytest

from keywords import flows
from keywords.errors import HarnessConfigError
from keywords.flows import FlowBatch, FlowRecord

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
