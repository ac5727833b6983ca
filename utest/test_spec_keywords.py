"""Keywords that let a suite state what must hold instead of computing it (no daemon is started)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from keywords.components.load_keywords import LoadKeywords
from keywords.components.stream_check_keywords import StreamCheckKeywords
from keywords.components.turn_check_keywords import TurnCheckKeywords
from keywords.context import HarnessContext
from keywords.traffic.stream_result import StreamResult
from keywords.traffic.turns import TurnResult


def test_turn_should_end_after_a_timer_and_within_its_slack():
    keywords = TurnCheckKeywords(HarnessContext())
    ended = TurnResult("p1", outcome="error", error_code="prompt_deadline_exceeded", turn_ms=1038.8)
    keywords.turn_should_end_after(ended, 1000, within_ms=2000)
    with pytest.raises(AssertionError, match=r"ended 1000 to 1050 ms after its POST, but it ended at 1060.0 ms, after"):
        keywords.turn_should_end_after(TurnResult("p1", turn_ms=1060.0), 1000, within_ms=50)
    with pytest.raises(AssertionError, match="before that window"):
        keywords.turn_should_end_after(TurnResult("p1", turn_ms=900.0), 1000, within_ms=50)
    with pytest.raises(AssertionError, match="but it did not end at all"):
        keywords.turn_should_end_after(TurnResult("p1"), 1000, within_ms=50)


def test_a_stream_end_can_require_the_terminal_frames_reason_and_exit_code():
    keywords = StreamCheckKeywords(HarnessContext())
    died = StreamResult(
        status=200, end="terminal", terminal="session_died", terminal_data={"reason": "channel_closed", "exitCode": 1}
    )
    keywords.stream_should_have_ended_with(died, "terminal", "session_died", reason="channel_closed", exit_code=1)
    with pytest.raises(AssertionError, match="should give the reason 'client_close', but gave 'channel_closed'"):
        keywords.stream_should_have_ended_with(died, "terminal", "session_died", reason="client_close")
    with pytest.raises(AssertionError, match="should give exit code 2, but gave 1"):
        keywords.stream_should_have_ended_with(died, "terminal", exit_code=2)


def prompt_load(completed=10, events=50, first_chunks=10, kind="prompt"):
    first = SimpleNamespace(count=first_chunks)
    return SimpleNamespace(kind=kind, completed=completed, events=events, first_chunk=first, sse_line=lambda: "sse")


def test_every_completed_prompt_of_a_load_must_have_streamed_its_whole_turn():
    keywords = LoadKeywords(HarnessContext())
    keywords.load_should_have_streamed_whole_turns(prompt_load(), chunks=3)  # 10 turns x (echo + 3 + end)
    with pytest.raises(
        AssertionError, match=r"\(50 frames at least, each with a first chunk\), but the load received 49"
    ):
        keywords.load_should_have_streamed_whole_turns(prompt_load(events=49), chunks=3)
    with pytest.raises(AssertionError, match="and 9 first chunks"):
        keywords.load_should_have_streamed_whole_turns(prompt_load(first_chunks=9), chunks=3)
    with pytest.raises(AssertionError, match="this lifecycle load has none"):
        keywords.load_should_have_streamed_whole_turns(prompt_load(kind="lifecycle", events=None), chunks=3)


def test_the_live_line_replaces_itself_on_a_terminal_and_is_a_plain_line_every_10_s_in_a_log(monkeypatch):
    from keywords.components import load_keywords

    shown: list[tuple[str, bool]] = []
    monkeypatch.setattr(load_keywords.logger, "console", lambda text, newline=True: shown.append((text, newline)))
    progress = SimpleNamespace(line=lambda: "t 1 s | done 9/200")
    tty = load_keywords.LiveLine(20.0, "prompts 10/s", terminal=True)
    tty(progress)
    tty(progress)
    assert [(text.startswith("\r"), newline) for text, newline in shown] == [(True, False), (True, False)]
    shown.clear()
    clock = iter([100.0, 101.0, 109.9, 110.0])
    monkeypatch.setattr(load_keywords.time, "monotonic", lambda: next(clock))
    log = load_keywords.LiveLine(20.0, "prompts 10/s", terminal=False)
    for _ in range(4):
        log(progress)
    assert shown == [("prompts 10/s: t 1 s | done 9/200", True)] * 2, "a line at 100 s and at 110 s, none between"
    shown.clear()
    load_keywords.LiveLine(5.0, "short", terminal=False)(progress)
    assert shown == [], "a load of 10 s or less shows nothing"
