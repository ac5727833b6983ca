"""Eviction lines of the daemon's log (keywords.daemon.daemon_log), without a daemon."""

from __future__ import annotations

import time

import pytest

from keywords.daemon import daemon_log
from keywords.errors import HarnessConfigError
from keywords.reporting.figures import figures_of, non_camel_keys

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


def test_eviction_line_is_parsed():
    [record] = daemon_log.find_evictions([WARNING, EVICTED])
    assert record.reason == "queue_overflow"
    assert record.dropped_after == 22
    assert record.queue_size == 16 and record.max_queued == 16 and record.queued_bytes == 20796
    assert record.session_id == "8d091436-fc19" and record.stream_id == "bdc94ab2-6113"
    assert record.timestamp == "2026-11-28T19:15:51.341Z"
    assert record.log_line == EVICTED
    assert daemon_log.log_fields(WARNING)["queueSize"] == "12"


def test_eviction_is_matched_to_its_session_and_stream():
    assert daemon_log.find_evictions([EVICTED], session_id="other") == []
    assert daemon_log.find_evictions([EVICTED], stream_id="other") == []
    assert len(daemon_log.find_evictions([EVICTED], "8d091436-fc19", "bdc94ab2-6113")) == 1


def test_wait_for_eviction_polls_until_the_line_appears():
    calls = []

    def lines():
        calls.append(1)
        return [EVICTED] if len(calls) >= 3 else [WARNING]

    record = daemon_log.wait_for_eviction(lines, "8d091436-fc19", timeout_s=5.0, poll_s=0.001)
    assert record is not None and record.detected_at > 0 and len(calls) == 3
    assert record.ms_after_prompt is None  # no prompt given
    missing = daemon_log.wait_for_eviction(lambda: [WARNING], "8d091436-fc19", timeout_s=0.05, poll_s=0.01)
    assert missing is None


def test_the_record_carries_the_time_from_the_prompt_to_the_detection():
    posted_at = time.monotonic()
    calls = []

    def lines():
        calls.append(1)
        return [EVICTED] if len(calls) >= 4 else []

    record = daemon_log.wait_for_eviction(
        lines, "8d091436-fc19", timeout_s=5.0, poll_s=0.05, prompt_posted_at=posted_at
    )
    assert record.ms_after_prompt == pytest.approx((record.detected_at - posted_at) * 1000, abs=0.1)
    assert 150 <= record.ms_after_prompt < 5000  # three polls of 50 ms before the line appeared
    assert record.figures()["evictionMs"] == record.ms_after_prompt
    assert f"{record.ms_after_prompt:.1f} ms after the prompt" in record.line()


def test_figures_and_line_of_an_eviction_come_from_its_log_line():
    [record] = daemon_log.find_evictions([EVICTED])
    figures = record.figures()
    assert non_camel_keys(figures) == [] and figures_of(record) == figures  # recordable with Record Result
    assert figures == {
        "reason": "queue_overflow",
        "droppedAfter": 22,
        "queueSize": 16,
        "maxQueued": 16,
        "queuedBytes": 20796,
        "evictionMs": None,
    }
    assert record.line() == "evicted (queue_overflow, droppedAfter 22, queue 16/16)"


def test_the_wait_is_bounded_by_a_checked_timeout():
    with pytest.raises(HarnessConfigError, match="timeout must be a number above 0 and at most 600 s, got 0"):
        daemon_log.wait_for_eviction(lambda: [], "s", timeout_s=0)
