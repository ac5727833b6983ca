"""Session restore without a daemon: the restore answer, the turns of a replay, the turn-by-turn comparison, the
transcript's paging, the journal marker check and the figures of every result."""

from __future__ import annotations

import json

import httpx
import pytest

from keywords.daemon.daemon_process import KillOutcome
from keywords.errors import HarnessConfigError
from keywords.reporting.figures import figures_of
from keywords.traffic.client import DaemonClient
from keywords.traffic.restore.concurrent_restores import ConcurrentRestores
from keywords.traffic.restore.crash_durability import CrashDurability
from keywords.traffic.restore.mid_turn import MidTurnRestore, marker_problems
from keywords.traffic.restore.replayed_turns import agent_text, replay_turns
from keywords.traffic.restore.restore_call import RestoreResult, restore, restore_body
from keywords.traffic.restore.seen_turns import prompt_text
from keywords.traffic.restore.transcript import Transcript, read_transcript
from keywords.traffic.restore.turn_check import SeenTurn, check_restores, check_transcripts, compare_turns

SID = "0f6c3a1e-1111-4222-8333-444455556666"


def fake_client(handler) -> DaemonClient:
    client = DaemonClient("http://127.0.0.1:9")
    client.http = httpx.Client(base_url=client.base_url, transport=httpx.MockTransport(handler))
    return client


def update(event_id: int, kind: str, text: str, prompt_id: str | None = None) -> dict:
    env = {"id": event_id, "v": 1, "type": "session_update", "data": {"sessionId": SID, "update": {}}}
    env["data"]["update"] = {"sessionUpdate": kind, "content": {"type": "text", "text": text}}
    if prompt_id:
        env["promptId"] = prompt_id
    return env


def turn_events(start: int, user: str, chunks: list[str], prompt_id: str | None = None) -> list[dict]:
    events = [update(start, "user_message_chunk", user, prompt_id)]
    events += [update(start + 1 + i, "agent_message_chunk", c, prompt_id) for i, c in enumerate(chunks)]
    return events


def seen(prompt_id: str, user: str, agent: str, outcome: str = "completed") -> SeenTurn:
    return SeenTurn(SID, prompt_id, user, agent, outcome, 10.0 if outcome == "completed" else None)


def answer(
    events: list[dict], *, journal: list[dict] | None = None, terminals: list[dict] | None = None
) -> RestoreResult:
    body = {"sessionId": SID, "attached": False, "compactedReplay": events, "liveJournal": journal or []}
    if terminals is not None:
        body["promptTerminals"] = terminals
    return restore(fake_client(lambda _r: httpx.Response(200, json=body)), SID)


def completed(*ids: str) -> list[dict]:
    return [{"v": 1, "promptId": i, "terminal": "completed", "stopReason": "end_turn", "at": 1} for i in ids]


# -- the restore answer --------------------------------------------------------------------------------------


def test_restore_posts_the_action_and_reads_every_field():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(
            (request.method, request.url.path, json.loads(request.content), request.headers.get("x-qwen-client-id"))
        )
        return httpx.Response(
            200,
            json={
                "sessionId": SID,
                "attached": True,
                "clientId": "client_1",
                "hasActivePrompt": False,
                "compactedReplay": turn_events(1, "hi", ["a", "b"]),
                "liveJournal": [],
                "lastEventId": 3,
                "eventEpoch": "e1",
            },
        )

    body = restore_body(history_page_size=50, live_replay_mode="summary")
    result = restore(fake_client(handler), SID, "load", client_id="client_0", body=body)
    assert sent == [("POST", f"/session/{SID}/load", {"historyPageSize": 50, "liveReplayMode": "summary"}, "client_0")]
    assert result.ok and result.attached is True and result.last_event_id == 3 and result.event_epoch == "e1"
    assert [(t.user_text, t.agent_text) for t in result.turns] == [("hi", "ab")]
    figures = figures_of(result)
    assert figures["compactedEvents"] == 3 and figures["replayTurns"] == 1
    assert figures["promptTerminals"] is None  # not in this answer: not measured, not 0


def test_an_error_answer_is_returned_with_its_code():
    def handler(_request):
        return httpx.Response(404, json={"error": 'No session with id "x"', "code": "session_not_found"})

    result = restore(fake_client(handler), SID, "resume")
    assert not result.ok and result.status == 404 and result.code == "session_not_found"
    assert "404 session_not_found" in result.line()


def test_a_transport_failure_is_status_zero():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    result = restore(fake_client(handler), SID)
    assert result.status == 0 and "ConnectError" in result.error


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"history_page_size": 0}, "history_page_size"),
        ({"history_page_size": 501}, "history_page_size"),
        ({"live_replay_mode": "brief"}, "live_replay_mode"),
        ({"compacted_replay_mode": "all"}, "compacted_replay_mode"),
    ],
)
def test_restore_options_are_checked_before_anything_is_sent(options, named):
    with pytest.raises(HarnessConfigError, match=named):
        restore_body(**options)


def test_an_unknown_action_is_refused():
    with pytest.raises(HarnessConfigError, match="action must be one of load, resume"):
        restore(fake_client(lambda _r: httpx.Response(200, json={})), SID, "reload")


# -- the turns of a replay -----------------------------------------------------------------------------------


def test_replay_turns_split_at_each_user_message_and_count_ids_once():
    events = turn_events(1, "one", ["a", "b"], "p1") + turn_events(4, "two", ["c"], "p2")
    events.append({"id": 6, "v": 1, "type": "turn_complete", "promptId": "p2", "data": {"promptId": "p2"}})
    turns = replay_turns(events + events[:2])  # the journal repeating ids of the compacted replay
    assert [(t.user_text, t.agent_text, t.prompt_ids) for t in turns] == [("one", "ab", ("p1",)), ("two", "c", ("p2",))]
    assert turns[1].ended == ("turn_complete",) and turns[0].updates == 3


def test_replay_turns_ignore_what_comes_before_the_first_user_message():
    assert replay_turns([update(1, "agent_message_chunk", "orphan")]) == []


# -- the comparison ------------------------------------------------------------------------------------------


def test_every_completed_turn_found_in_order_with_its_texts_and_ledger_matches():
    restored = answer(
        turn_events(1, "old turn", ["x"]) + turn_events(3, "u1", ["a", "b"]) + turn_events(6, "u2", ["c"]),
        terminals=completed("p1", "p2"),
    )
    comparison = compare_turns([seen("p1", "u1", "ab"), seen("p2", "u2", "c")], restored)
    assert comparison.expected == 2 and comparison.matched == 2 and comparison.lost == 0
    assert comparison.ledger_checked and not comparison.problems


@pytest.mark.parametrize(
    ("events", "terminals", "expected"),
    [
        (turn_events(1, "u1", ["a"]), completed("p1", "p2"), "is not in the replay"),
        (turn_events(1, "u2", ["c"]) + turn_events(3, "u1", ["a", "b"]), completed("p1", "p2"), "before the turn"),
        (
            turn_events(1, "u1", ["a"]) + turn_events(3, "u2", ["c"]),
            completed("p1", "p2"),
            "agent text of 1 characters",
        ),
        (turn_events(1, "u1", ["a", "b"]) + turn_events(4, "u2", ["c"]), completed("p1"), "ledger has no record"),
    ],
    ids=["missing", "out-of-order", "text-differs", "ledger-lacks-it"],
)
def test_a_turn_that_did_not_come_back_intact_is_named(events, terminals, expected):
    comparison = compare_turns([seen("p1", "u1", "ab"), seen("p2", "u2", "c")], answer(events, terminals=terminals))
    assert comparison.matched < comparison.expected
    assert any(expected in problem for problem in comparison.problems), comparison.problems


def test_a_live_replay_with_other_prompt_ids_does_not_match():
    restored = answer(turn_events(1, "u1", ["a"], "other-prompt"))
    comparison = compare_turns([seen("p1", "u1", "a")], restored)
    assert comparison.matched == 0 and "prompt id other-prompt instead of p1" in comparison.problems[0]


def test_turns_in_flight_are_counted_with_what_the_ledger_and_replay_say():
    restored = answer(turn_events(1, "u1", ["a"]) + turn_events(3, "u2", ["partial"]), terminals=completed("p1"))
    comparison = compare_turns([seen("p1", "u1", "a"), seen("p2", "u2", "", outcome="stream_cut")], restored)
    assert (comparison.expected, comparison.matched, comparison.in_flight) == (1, 1, 1)
    assert comparison.in_flight_replayed == 1 and comparison.in_flight_completed == 0


def test_check_restores_groups_turns_by_session_and_counts_failed_restores():
    ok = answer(turn_events(1, "u1", ["a"]), terminals=completed("p1"))
    failed = restore(fake_client(lambda _r: httpx.Response(500, json={"error": "boom", "code": -32601})), "s2")
    check = check_restores([seen("p1", "u1", "a"), SeenTurn("s2", "q1", "v", "w", "completed")], [ok, failed], "load")
    assert (check.expected, check.matched) == (2, 1)
    assert any("500" in problem for problem in check.problems)
    figures = figures_of(check)
    assert figures["turnsLost"] == 1 and figures["restored"] == 1 and figures["restore"]["count"] == 2


# -- the transcript ------------------------------------------------------------------------------------------


def test_the_transcript_is_read_page_by_page_with_the_cursor():
    pages = {
        None: {"events": turn_events(1, "u1", ["a"]), "hasMore": True, "nextCursor": "c1"},
        "c1": {"events": turn_events(3, "u2", ["b"]), "hasMore": True, "nextCursor": "c2"},
        "c2": {"events": [], "hasMore": False},
    }
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        asked.append((request.url.params.get("limit"), cursor))
        return httpx.Response(200, json=pages[cursor])

    transcript = read_transcript(fake_client(handler), SID, limit=2)
    assert asked == [("2", None), ("2", "c1"), ("2", "c2")]
    assert transcript.complete and transcript.pages == 3 and transcript.page_sizes == (2, 2, 0)
    assert [t.user_text for t in transcript.turns] == ["u1", "u2"]
    assert figures_of(transcript)["events"] == 4


def test_a_cursor_that_does_not_advance_ends_the_reading_incomplete():
    def handler(_request):
        return httpx.Response(200, json={"events": [], "hasMore": True, "nextCursor": "same"})

    transcript = read_transcript(fake_client(handler), SID, max_pages=5)
    assert not transcript.complete and transcript.pages == 2 and "no new cursor" in transcript.error


def test_a_missing_transcript_is_its_404():
    def handler(_request):
        return httpx.Response(404, json={"error": "No session", "code": "session_not_found"})

    transcript = read_transcript(fake_client(handler), SID)
    assert transcript.status == 404 and transcript.code == "session_not_found" and transcript.pages == 0
    assert figures_of(transcript)["page"]["count"] == 1


@pytest.mark.parametrize(
    ("options", "named"), [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"max_pages": 0}, "max_pages")]
)
def test_transcript_bounds_are_checked(options, named):
    with pytest.raises(HarnessConfigError, match=named):
        read_transcript(fake_client(lambda _r: httpx.Response(200, json={})), SID, **options)


def recorded(kind: str, text: str, prompt_id: str | None = None) -> dict:
    """A transcript page's event: the update itself in ``data``, a user message with the daemon's prompt id."""
    data = {"sessionUpdate": kind, "content": {"type": "text", "text": text}, "_meta": {"qwen.session.recordId": "r"}}
    if prompt_id:
        data["_meta"]["promptId"] = prompt_id
    return {"v": 1, "type": "session_update", "data": data}


def recorded_turn(user: str, agent: str, prompt_id: str | None) -> list[dict]:
    return [recorded("user_message_chunk", user, prompt_id), recorded("agent_message_chunk", agent)]


def transcript_of(*pages: list[dict], session_id: str = SID) -> Transcript:
    """The transcript ``read_transcript`` reads from these pages (one cursor a page)."""

    def handler(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params.get("cursor") or 0)
        more = index + 1 < len(pages)
        body = {"v": 1, "sessionId": session_id, "events": pages[index], "hasMore": more}
        return httpx.Response(200, json={**body, **({"nextCursor": str(index + 1)} if more else {})})

    return read_transcript(fake_client(handler), session_id, limit=2)


def test_transcript_events_hold_the_update_itself_and_the_user_message_holds_the_prompt_id():
    # The shape of GET /session/:id/transcript (0.24.4, real agent and mock alike): data is the update, not
    # {sessionId, update}; the daemon's prompt id is _meta.promptId of the user message.
    events = [*recorded_turn("one", "ok", "p1"), recorded("agent_message_chunk", ""), *recorded_turn("two", "k", "p2")]
    turns = replay_turns(events)
    assert [(t.user_text, t.agent_text, t.prompt_ids) for t in turns] == [("one", "ok", ("p1",)), ("two", "k", ("p2",))]
    assert agent_text(events[1]) == "ok" and agent_text(events[0]) == ""


def test_every_completed_turn_is_in_the_transcript_in_order_over_its_pages():
    transcript = transcript_of(
        recorded_turn("old", "x", "p0") + recorded_turn("u1", "ab", "p1"), recorded_turn("u2", "c", "p2")
    )
    check = check_transcripts([seen("p1", "u1", "ab"), seen("p2", "u2", "c")], [transcript])
    assert (check.expected, check.matched, check.problems) == (2, 2, [])
    figures = figures_of(check)
    assert figures["read"] == 1 and figures["pages"] == 2 and figures["turns"] == 3
    assert figures["events"] == 6 and figures["page"]["count"] == 2
    assert check.line().startswith("transcripts of 1 sessions: 2/2 turns intact; 2 pages")


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        ([recorded_turn("u1", "ab", "p1")], "its user text 'u2' is not in the transcript"),
        ([recorded_turn("u2", "c", "p2"), recorded_turn("u1", "ab", "p1")], "before the turn seen before it"),
        ([recorded_turn("u1", "ab", "p1") + recorded_turn("u2", "cc", "p2")], "agent text of 2 characters"),
        ([recorded_turn("u1", "ab", "p1") + recorded_turn("u2", "c", "p9")], "prompt id p9 instead of p2"),
        ([recorded_turn("u1", "ab", "p1") + recorded_turn("u2", "c", None)], "its user message has no prompt id"),
        ([recorded_turn("u1", "ab", "p1") + recorded_turn("u2", "c", "p2") * 2], "in the transcript 2 times"),
    ],
    ids=["missing", "out-of-order", "text-differs", "other-prompt-id", "no-prompt-id", "twice"],
)
def test_a_turn_not_in_the_transcript_as_the_stream_showed_it_is_named(pages, expected):
    check = check_transcripts([seen("p1", "u1", "ab"), seen("p2", "u2", "c")], [transcript_of(*pages)])
    assert check.matched < check.expected == 2
    assert any(expected in problem for problem in check.problems), check.problems


def test_a_transcript_that_is_not_there_is_a_problem_and_loses_its_turns():
    def handler(_request):
        return httpx.Response(404, json={"error": "No session", "code": "session_not_found"})

    missing = read_transcript(fake_client(handler), SID)
    check = check_transcripts([seen("p1", "u1", "ab")], [missing])
    assert (check.expected, check.matched) == (1, 0)
    assert check.problems[0].startswith(f"session {SID}: transcript 404 session_not_found")
    assert figures_of(check)["read"] == 0 and check.where == "in the transcripts"


# -- the journal marker and the scenario results -------------------------------------------------------------


def mid_turn(journal: list[dict], final: str = "chunk-0chunk-1chunk-2") -> MidTurnRestore:
    load = answer([], journal=journal)
    markers = load.markers("journal")
    return MidTurnRestore(
        prompt_id="p1",
        updates_before=3,
        load=load,
        journal_text="".join(agent_text(e) for e in journal),
        journal_prompt_ids=("p1",),
        final_text=final,
        reconnect_problems=(),
        reconnect_received=5,
        marker=markers[0][1] if markers else None,
        marker_index=markers[0][0] if markers else None,
        turn_outcome="completed",
    )


def marker(prompt_id: str = "p1", **data) -> dict:
    fields = {"reason": "replay_window_exceeded", "scope": "live_journal", "truncatedEvents": 4, "maxEvents": 3}
    return {"v": 1, "type": "history_truncated", "promptId": prompt_id, "data": {**fields, **data}}


def test_the_marker_where_the_code_puts_it_passes():
    result = mid_turn([marker(), update(9, "agent_message_chunk", "chunk-2", "p1")])
    assert marker_problems(result) == []
    figures = figures_of(result)
    assert figures["markerIndex"] == 0 and figures["truncatedEvents"] == 4 and figures["journalInTurn"] is True


@pytest.mark.parametrize(
    ("journal", "expected"),
    [
        ([update(1, "agent_message_chunk", "chunk-0", "p1")], "no history_truncated marker"),
        ([update(1, "agent_message_chunk", "chunk-0", "p1"), marker()], "entry 1 of the journal"),
        ([marker(scope="replay")], "scope is 'replay'"),
        ([marker(truncatedEvents=0)], "counts 0 dropped events"),
        ([marker(prompt_id="p9")], "names prompt 'p9'"),
    ],
    ids=["absent", "not-first", "scope", "no-count", "other-prompt"],
)
def test_a_marker_elsewhere_or_different_is_named(journal, expected):
    problems = marker_problems(mid_turn(journal))
    assert any(expected in p for p in problems), problems


def test_a_journal_is_a_prefix_of_the_turn_only_when_it_starts_the_final_text():
    assert mid_turn([update(1, "agent_message_chunk", "chunk-0chunk-1", "p1")]).journal_is_prefix
    later = mid_turn([update(1, "agent_message_chunk", "chunk-2", "p1")])
    assert not later.journal_is_prefix and later.journal_tail_is_turn


def kill() -> KillOutcome:
    return KillOutcome(
        exit_code=-9, kill_ms=3.0, children=[1, 2], children_gone_ms=1.5, stopped_leftovers=[], needed_sigkill=[]
    )


def test_crash_durability_counts_completed_recovered_lost_and_in_flight():
    restored = answer(turn_events(1, "u1", ["a"]) + turn_events(3, "u3", ["p"]), terminals=completed("p1"))
    turns = (seen("p1", "u1", "a"), seen("p2", "u2", "b"), seen("p3", "u3", "", outcome="stream_cut"))
    check = check_restores(turns, [restored], "load")
    crash = CrashDurability(kill(), 1500.0, 800.0, turns, 1, check)
    figures = figures_of(crash)
    assert (figures["completedBeforeKill"], figures["recovered"], figures["lost"]) == (2, 1, 1)
    assert (figures["inFlightAtKill"], figures["inFlightInReplay"], figures["unconfirmedPrompts"]) == (1, 1, 1)
    assert figures["killMs"] == 3.0 and figures["childrenGoneMs"] == 1.5
    assert "2 turns completed before, 1 recovered, 1 lost" in crash.line()


def test_concurrent_restores_count_distinct_replays_and_attached_answers():
    a = answer(turn_events(1, "u1", ["a"]))
    b = answer(turn_events(1, "u1", ["a", "b"]))
    together = ConcurrentRestores(SID, (a, a, b), agent_restores=2)
    figures = figures_of(together)
    assert figures["distinctReplays"] == 2 and figures["agentRestores"] == 2 and figures["clients"] == 3
    assert figures_of(ConcurrentRestores(SID, (a,)))["agentRestores"] is None


def test_kill_outcome_figures_say_when_children_had_to_be_stopped():
    stubborn = KillOutcome(-9, 2.0, [5, 6], None, [6], [6])
    assert figures_of(stubborn)["childrenGoneMs"] is None
    assert "1 of 2 children had to be stopped" in stubborn.line()


def test_prompt_texts_are_unique_and_carry_the_directive():
    texts = {prompt_text("[[mock chunks=2]]", "x", 0, 0) for _ in range(50)}
    assert len(texts) == 50 and all(t.startswith("[[mock chunks=2]] x s1 t1 ") for t in texts)
