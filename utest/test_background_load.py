"""Background load (keywords.traffic.background_load) against a small fake daemon on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest
from flow_daemon import FakeDaemon, break_the_start_barrier, serve
from waiting import until

from keywords.errors import HarnessConfigError
from keywords.reporting.figures import figures_of, non_camel_keys
from keywords.traffic import barrier
from keywords.traffic.background_load import BackgroundLoad, BackgroundLoadResult


@pytest.fixture
def fake_daemon():
    with serve() as client:
        yield client


def test_background_load_runs_until_stopped(fake_daemon):
    load = BackgroundLoad(fake_daemon, 3, "x", max_s=10.0).start()
    assert load.first_turn.wait(5.0)
    result = load.stop(10.0)
    assert result.turns >= 1 and result.failures == [] and result.sessions == 3
    assert result.frames >= 5 * result.turns  # echo, three chunks and the end frame of every turn
    assert len(FakeDaemon.closed) == 3  # each worker closed its session
    assert not [t for t in threading.enumerate() if t.name.startswith(("together-background", "background-load"))]


def test_failed_turns_are_recorded_not_raised(fake_daemon):
    FakeDaemon.fail_prompt_of = {1, 2}
    load = BackgroundLoad(fake_daemon, 2, "x", max_turns=3, max_s=10.0).start()
    until(lambda: len(load.failures_so_far()) >= 6, timeout_s=10)
    result = load.stop(10.0)
    assert result.turns == 0 and len(result.failures) == 6
    assert all("turn" in failure and "error" in failure for failure in result.failures)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sessions": 0}, "sessions must be a whole number from 1 to 1000, got 0."),
        ({"sessions": 2, "max_turns": 0}, "max turns must be a whole number from 1 to 100000, got 0."),
        ({"sessions": 2, "max_s": 0}, "max duration must be a number above 0 and at most 3600 s, got 0."),
    ],
)
def test_bounds_are_checked_before_anything_starts(arguments, message):
    with pytest.raises(HarnessConfigError) as caught:
        BackgroundLoad(None, text="x", **arguments)
    assert message in str(caught.value)


def test_a_broken_start_barrier_is_an_error_when_the_load_is_stopped(fake_daemon, monkeypatch):
    break_the_start_barrier(monkeypatch)
    load = BackgroundLoad(fake_daemon, 2, "x", max_s=5.0).start()
    assert not load.first_turn.wait(1.0)
    assert any("could not start together" in f for f in load.failures_so_far())
    with pytest.raises(barrier.BarrierBrokenError, match="The 2 background sessions could not start together"):
        load.stop(5.0)


def test_figures_and_line_come_from_what_the_load_did():
    result = BackgroundLoadResult(sessions=4, turns=37, frames=7474, elapsed_ms=2051.26, failures=["worker 1: x"])
    figures = result.figures()
    assert non_camel_keys(figures) == [] and figures_of(result) == figures  # recordable with Record Result
    assert figures == {
        "loadSessions": 4,
        "loadTurns": 37,
        "loadFailures": 1,
        "loadFrames": 7474,
        "loadElapsedMs": 2051.3,
    }
    assert result.line() == "background load: 37 turns on 4 sessions, 7474 frames, 1 failures in 2051 ms"
