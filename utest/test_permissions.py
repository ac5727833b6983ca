"""Permission requests without a daemon: the answering logic, the stream watch, the mock report reader, the
first-responder accounting and the scenario results' invariants and figures."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from keywords.components.daemon_keywords import _user_settings
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_report
from keywords.measure.metrics import summarize
from keywords.measure.paired_ratio import estimate
from keywords.reporting.figures import figures_of
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import (
    Answer,
    PermissionRequest,
    Resolution,
    answer,
    answer_together,
    resolution_of,
)
from keywords.traffic.permissions.auto_answer import AutoAnswerResult
from keywords.traffic.permissions.first_responder import FirstResponderResult, Race
from keywords.traffic.permissions.isolation import IsolationPhase, IsolationResult
from keywords.traffic.permissions.pending_cap import CapResult
from keywords.traffic.permissions.pending_end import PendingEnd, TimeoutResult
from keywords.traffic.permissions.policy_votes import PolicyVotes, Vote
from keywords.traffic.permissions.request_watch import PermissionWatch, permission_prompt, turn_end_text
from keywords.traffic.permissions.round_trips import RoundTripResult

SID = "sess-1"


def request_frame(rid: str, tool: str = "call-1", *, event_id: int = 1, kinds=("allow_once", "reject_once")) -> dict:
    return {
        "id": event_id,
        "v": 1,
        "type": "permission_request",
        "promptId": "prompt-1",
        "originatorClientId": "client_a",
        "data": {
            "requestId": rid,
            "sessionId": SID,
            "toolCall": {"toolCallId": tool, "title": "mock read tool #1", "kind": "read", "status": "pending"},
            "options": [{"optionId": k, "name": k, "kind": k} for k in kinds],
        },
        "_meta": {"serverTimestamp": 1_000_000},
    }


def vote_frame(etype: str, rid: str, *, event_id: int, voter: str | None = None, outcome="selected") -> dict:
    data: dict = {"requestId": rid, "outcome": {"outcome": outcome, "optionId": "allow_once"}}
    if voter:
        data["voterClientId"] = voter
    return {"id": event_id, "type": etype, "data": data, "_meta": {"serverTimestamp": 1_000_050}}


def a_request(rid: str = "r-1", kinds=("allow_once", "reject_once")) -> PermissionRequest:
    return PermissionRequest.from_event({**request_frame(rid, kinds=kinds), "_recv_ms": 5.0}, 100.0)


def fake_client(handler) -> DaemonClient:
    client = DaemonClient("http://127.0.0.1:9")
    client.http.close()
    client.http = httpx.Client(base_url=client.base_url, transport=httpx.MockTransport(handler))
    return client


# -- the request and its answer body ------------------------------------------------------------------------
def test_a_request_frame_becomes_a_request_with_the_harness_times():
    req = a_request()
    assert (req.request_id, req.session_id, req.prompt_id, req.tool_call_id) == ("r-1", SID, "prompt-1", "call-1")
    assert req.options == ("allow_once", "reject_once") and req.originator_client_id == "client_a"
    assert req.seen_mono == pytest.approx(100.005) and req.server_ms == 1_000_000 and req.event_id == 1


@pytest.mark.parametrize(
    ("decision", "option", "body"),
    [
        ("select", None, {"outcome": {"outcome": "selected", "optionId": "allow_once"}}),
        ("reject", None, {"outcome": {"outcome": "selected", "optionId": "reject_once"}}),
        ("cancel", None, {"outcome": {"outcome": "cancelled"}}),
        ("select", "reject_once", {"outcome": {"outcome": "selected", "optionId": "reject_once"}}),
    ],
)
def test_each_decision_gives_its_answer_body(decision, option, body):
    assert a_request().outcome(decision, option) == body


def test_a_bad_decision_an_unoffered_option_or_a_missing_kind_is_refused_before_sending():
    with pytest.raises(HarnessConfigError, match="decision must be one of select, reject, cancel; got 'maybe'"):
        a_request().outcome("maybe")
    with pytest.raises(HarnessConfigError, match="option_id must be one of the offered options"):
        a_request().outcome("select", "reject_always")
    with pytest.raises(HarnessConfigError, match="offers no reject_\\* option"):
        a_request(kinds=("allow_once",)).outcome("reject")


def test_answer_posts_the_body_as_the_client_and_returns_the_status_without_raising():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("x-qwen-client-id"), json.loads(request.content)))
        return httpx.Response(404, json={"error": "No pending permission request for session"})

    reply = answer(fake_client(handler), a_request(), "reject", client_id="client_b")
    assert seen == [
        ("/session/sess-1/permission/r-1", "client_b", {"outcome": {"outcome": "selected", "optionId": "reject_once"}})
    ]
    assert (reply.status, reply.accepted, reply.option_id, reply.client_id) == (404, False, "reject_once", "client_b")
    assert reply.error == "No pending permission request for session" and reply.elapsed_ms >= 0


def test_answer_reports_a_transport_failure_as_status_zero():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    reply = answer(fake_client(handler), a_request())
    assert reply.status == 0 and "ConnectError" in reply.error


def test_answers_together_start_at_one_instant_and_only_the_first_is_accepted():
    lock = threading.Lock()
    winners: list[str] = []

    def handler(request):
        with lock:
            if winners:
                return httpx.Response(404, json={"error": "No pending permission request for session"})
            winners.append(request.headers["x-qwen-client-id"])
        return httpx.Response(200, json={})

    ids = ["client_a", "client_b", "client_c"]
    answers = answer_together(fake_client(handler), a_request(), ids)
    assert [a.client_id for a in answers] == ids
    assert sorted(a.status for a in answers) == [200, 404, 404]
    assert next(a.client_id for a in answers if a.accepted) == winners[0]
    spread = max(a.sent_mono for a in answers) - min(a.sent_mono for a in answers)
    assert spread < 0.5, "the barrier released the answers together"


def test_answers_together_need_a_client():
    with pytest.raises(HarnessConfigError, match="at least one client"):
        answer_together(fake_client(lambda r: httpx.Response(200)), a_request(), [])


# -- the watch ------------------------------------------------------------------------------------------------
def a_watch() -> PermissionWatch:
    return PermissionWatch("http://127.0.0.1:9", SID, timeout_s=5)


def feed(watch: PermissionWatch, env: dict, recv_ms: float = 1.0) -> None:
    from collections import Counter

    watch._take(json.dumps(env), recv_ms, Counter())


def test_the_watch_hands_out_each_request_once_in_order():
    watch = a_watch()
    feed(watch, request_frame("r-1", "call-1", event_id=1))
    feed(watch, {"id": 2, "type": "session_update", "data": {}})
    feed(watch, request_frame("r-2", "call-2", event_id=3))
    assert watch.next_request(0.1).request_id == "r-1"
    assert watch.next_request(0.1).request_id == "r-2"
    assert watch.next_request(0.05) is None
    assert [r.request_id for r in watch.requests()] == ["r-1", "r-2"]


def test_a_waiter_is_woken_by_the_frame_not_by_polling():
    watch = a_watch()
    got: list = []
    waiter = threading.Thread(target=lambda: got.append((watch.next_request(5.0), time.monotonic())))
    waiter.start()
    time.sleep(0.1)
    fed_at = time.monotonic()
    feed(watch, request_frame("r-9"))
    waiter.join(5)
    assert got and got[0][0].request_id == "r-9"
    assert got[0][1] - fed_at < 0.2, "the waiter must wake at the frame, well before its 0.25 s wait ends"


def test_resolution_counts_the_frames_of_one_request_and_names_the_voter():
    events = [
        {**request_frame("r-1"), "_recv_ms": 10.0},
        {**vote_frame("permission_resolved", "r-1", event_id=2, voter="client_b"), "_recv_ms": 30.0},
        {**vote_frame("permission_already_resolved", "r-1", event_id=3), "_recv_ms": 31.0},
        {**vote_frame("permission_already_resolved", "r-2", event_id=4), "_recv_ms": 32.0},
        {**vote_frame("permission_forbidden", "r-1", event_id=5), "_recv_ms": 33.0},
    ]
    res = resolution_of(events, "r-1", 100.0)
    assert (res.resolved, res.outcome, res.option_id, res.voter_client_id) == (1, "selected", "allow_once", "client_b")
    assert (res.already_resolved, res.forbidden, res.partial_votes) == (1, 1, 0)
    assert res.resolved_mono == pytest.approx(100.03) and res.server_ms == 1_000_050
    unresolved = resolution_of(events, "r-3", 100.0)
    assert unresolved.resolved == 0 and unresolved.resolved_mono is None


def test_the_watch_waits_for_the_resolution_and_the_refusals():
    watch = a_watch()
    feed(watch, request_frame("r-1"))
    feed(watch, vote_frame("permission_resolved", "r-1", event_id=2, voter="client_a"))
    partial = watch.resolution("r-1", refusals=1, timeout_s=0.05)
    assert partial.resolved == 1 and partial.already_resolved == 0
    feed(watch, vote_frame("permission_already_resolved", "r-1", event_id=3))
    assert watch.resolution("r-1", refusals=1, timeout_s=0.05).already_resolved == 1


def test_turn_end_finds_the_prompts_end_or_the_sessions():
    watch = a_watch()
    feed(watch, {"id": 1, "type": "turn_complete", "promptId": "other", "data": {"stopReason": "end_turn"}})
    assert watch.turn_end("prompt-1", 0.05) is None
    feed(watch, {"id": 2, "type": "turn_error", "data": {"promptId": "prompt-1", "code": "session_closed"}})
    assert turn_end_text(watch.turn_end("prompt-1", 0.05)) == "turn_error session_closed"
    assert turn_end_text(None) == "timeout"


def test_a_permission_prompt_carries_the_mock_directive_and_refuses_a_bad_setting():
    assert permission_prompt(3, "go").startswith("[[mock tool_calls=3 permissions=3]] go")
    assert "tool_batch=70" in permission_prompt(70, "cap", tool_batch=70)
    with pytest.raises(HarnessConfigError, match="permission_options"):
        permission_prompt(3, permission_options="maybe")


# -- the mock agent's report ----------------------------------------------------------------------------------
def write_report(path, events, partial: str = "") -> None:
    lines = [json.dumps({"mono": 1.0, "wall": 1000.0 + i, "pid": 7, **e}) for i, e in enumerate(events)]
    path.write_text("\n".join(lines) + "\n" + partial, encoding="utf-8")


REQ = {"event": "permission_requested", "sessionId": SID, "toolCallId": "call-1", "requestId": "mock-1"}


def outcome_event(tool="call-1", **fields):
    return {
        "event": "permission_outcome",
        "sessionId": SID,
        "toolCallId": tool,
        "requestId": "mock-1",
        "outcome": "selected",
        "optionId": "allow_once",
        "action": "allow",
        "waitedMs": 12.5,
        "late": False,
        **fields,
    }


def test_the_report_counts_requests_outcomes_doubles_and_missing_answers(tmp_path):
    path = tmp_path / "report.ndjson"
    events = [
        REQ,
        {**REQ, "toolCallId": "call-2", "requestId": "mock-2"},
        {**REQ, "toolCallId": "call-3", "requestId": "mock-3", "sessionId": "other"},
        outcome_event(),
        outcome_event(late=True),
        {"event": "stray_response", "requestId": "mock-99"},
    ]
    write_report(path, events, partial='{"event": "permission_outcome"')
    report = mock_report.read(path)
    counts = report.counts([SID])
    assert (counts.requests, counts.outcomes, counts.answered_twice, counts.unanswered) == (2, 2, 1, 1)
    assert (counts.late, counts.stray) == (1, 1)
    assert report.counts().requests == 3
    assert figures_of(counts)["answeredTwice"] == 1
    got = report.outcomes_for(SID, "call-1")
    assert len(got) == 2 and got[0].waited_ms == 12.5 and got[0].wall == 1003.0
    assert got[0].text() == "selected allow_once" and got[1].text() == "selected allow_once late"


def test_an_outcome_names_the_daemons_cancel_reason_and_an_abandoned_wait(tmp_path):
    path = tmp_path / "report.ndjson"
    cancelled = outcome_event(
        outcome="cancelled", optionId=None, meta={"qwen.daemon.permissionCancelReason": "timeout"}
    )
    del cancelled["optionId"]
    abandoned = {"event": "permission_abandoned", "sessionId": SID, "toolCallId": "call-2", "waitedMs": 4.0}
    write_report(path, [REQ, cancelled, abandoned])
    report = mock_report.read(path)
    assert report.outcomes_for(SID, "call-1")[0].text() == "cancelled (timeout)"
    assert report.outcomes_for(SID, "call-2")[0].text() == "abandoned"
    assert [o.event for o in report.outcomes(SID, abandoned=False)] == ["permission_outcome"]


def test_a_missing_report_is_empty_and_a_broken_one_is_refused(tmp_path):
    assert mock_report.read(tmp_path / "none.ndjson").events == []
    bad = tmp_path / "bad.ndjson"
    bad.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(HarnessConfigError, match="cannot be read"):
        mock_report.read(bad)


def test_waiting_for_the_report_sees_lines_written_later_and_gives_up_in_time(tmp_path):
    path = tmp_path / "report.ndjson"
    threading.Timer(0.1, lambda: write_report(path, [REQ, outcome_event()])).start()
    report, met = mock_report.wait_for(path, lambda r: bool(r.outcomes_for(SID, "call-1")), timeout_s=3)
    assert met and report.counts().outcomes == 1
    started = time.monotonic()
    _report, met = mock_report.wait_for(path, lambda r: False, timeout_s=0.1)
    assert not met and time.monotonic() - started < 1


# -- first-responder accounting -------------------------------------------------------------------------------
def answer_of(client_id: str, status: int, sent: float) -> Answer:
    return Answer("r-1", client_id, "select", "allow_once", status, None, None, sent, sent, 3.0)


def a_race(statuses=(200, 404, 404), winner=0, already=2, outcomes=1) -> Race:
    answers = [answer_of(f"c{i}", s, 10.0 + i * 0.001) for i, s in enumerate(statuses)]
    resolution = Resolution("r-1", resolved=1, voter_client_id=None, resolved_mono=10.01, already_resolved=already)
    return Race(1, a_request(), answers, resolution, outcomes, winner)


def test_a_clean_race_has_no_problem_and_a_send_spread():
    race = a_race()
    assert race.problems() == []
    assert race.spread_ms == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("race", "problem"),
    [
        (a_race(statuses=(200, 200, 404), already=1), "2 answers were accepted"),
        (a_race(statuses=(200, 403, 404), already=2), "losing answers got status 403"),
        (a_race(winner=1), "permission_resolved names client 2, the accepted answer was client 1's"),
        (a_race(winner=None), "permission_resolved names no client"),
        (a_race(already=1), "1 permission_already_resolved frames for 2 losing answers"),
        (a_race(outcomes=2), "the agent received 2 outcomes"),
        (Race(3, None), "round 3: no permission request arrived"),
    ],
)
def test_each_broken_first_responder_promise_is_named(race, problem):
    assert any(problem in p for p in race.problems()), race.problems()


def test_first_responder_result_counts_wins_per_client_and_records_its_figures():
    races = [a_race(winner=0), a_race((404, 404, 200), winner=2), a_race((404, 404, 200), winner=2)]
    result = FirstResponderResult(3, races, "first-responder")
    result.turn_end = "turn_complete end_turn"
    assert result.wins() == {"client1": 1, "client2": 0, "client3": 2}
    figures = figures_of(result)
    assert figures["rounds"] == 3 and figures["wins"] == {"client1": 1, "client2": 0, "client3": 2}
    assert figures["statuses"] == {"http200": 3, "http404": 6} and figures["agentOutcomes"] == 3
    assert figures["sendSpread"]["count"] == 3 and "clean" in result.line()
    result.turn_end = "turn_complete cancelled"
    assert result.problems() == ["the turn ended turn_complete cancelled, turn_complete end_turn was expected"]


# -- round trips: both sides must agree -----------------------------------------------------------------------
def clean_trips() -> RoundTripResult:
    agent = mock_report.ReportCounts(
        requests=6, outcomes=6, abandoned=0, late=0, answered_twice=0, unanswered=0, stray=0
    )
    return RoundTripResult(
        2, 3, requests_seen=6, answered=6, resolved_events=6, agent=agent, turns_complete=2, turn_ends={"x": 2}
    )


def test_a_clean_round_trip_has_no_problem_and_camel_case_figures():
    trips = clean_trips()
    assert trips.problems() == []
    figures = figures_of(trips)
    assert figures["requestsAsked"] == 6 and figures["agent"]["outcomes"] == 6
    assert figures["requestToResolved"] is None, "not measured is None, never 0"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"requests_seen": 5}, "the streams showed 5 permission requests, 6 were asked"),
        ({"resolved_twice": 1}, "1 resolved twice"),
        ({"already_resolved": 2}, "2 permission_already_resolved frames although no answer was late"),
        ({"answered": 5, "answers_refused": 1}, "the daemon accepted 5 of 6 answers (1 refused)"),
        ({"turns_complete": 1, "turn_ends": {"timeout": 1}}, "1 of 2 turns ended turn_complete end_turn"),
        ({"lost": ["session x: request 2 of 3 never reached the stream"]}, "never reached the stream"),
    ],
)
def test_every_lost_or_doubled_request_is_a_problem(change, problem):
    trips = clean_trips()
    for key, value in change.items():
        setattr(trips, key, value)
    assert any(problem in p for p in trips.problems()), trips.problems()


def test_the_agents_side_must_agree_too():
    trips = clean_trips()
    trips.agent = mock_report.ReportCounts(6, 7, 0, 0, 1, 0, 0)
    assert any("the agent received 7 answers for 6 requests" in p for p in trips.problems())
    assert any("answered more than once" in p for p in trips.problems())
    trips.agent = None
    assert "the mock agent's report was not read" in trips.problems()


# -- isolation verdicts and the other results' figures -------------------------------------------------------
def phase(condition: str, p50: float | None, unfinished: int = 0) -> IsolationPhase:
    return IsolationPhase(
        condition, 10, 10 - unfinished, unfinished, 0, p50, p50, True if condition == "pending" else None
    )


def iso_with(pairs, *, unfinished: int = 0) -> IsolationResult:
    result = IsolationResult(4, 10.0)
    for ref, cand in pairs:
        result.phases += [phase("alone", ref), phase("pending", cand, unfinished)]
    result.ratio = estimate("serviceP50Ms", pairs, tolerance=0.5, unit="ms")
    result.blocked = unfinished > 0
    return result


def test_isolation_verdicts():
    assert iso_with([(10, 10.5), (11, 10.8), (10, 10.2), (12, 11.7)]).verdict == "isolated"
    assert iso_with([(10, 40), (11, 45), (10, 41), (12, 50)]).verdict == "slower"
    assert iso_with([(10, 10.5), (11, 10.8)], unfinished=3).verdict == "blocked"
    assert iso_with([(10, None), (None, 12)]).verdict == "not measured"
    figures = figures_of(iso_with([(10, 10.5), (11, 10.8)]))
    assert figures["pendingHeld"] is True and figures["aloneServiceP50Ms"] == 10.5
    assert figures["ratio"]["verdict"] == "pass"


def test_every_scenario_result_records_through_the_recorder():
    results = [
        PendingEnd("cancel", agent_received="cancelled (session_closed) late", end_ms=5.04),
        CapResult(sent=70, published=64),
        TimeoutResult(outcome="cancelled"),
        PolicyVotes("designated", "designated", 3, [Vote(2, 403, "permission_forbidden", "permission_forbidden", 2.0)]),
        AutoAnswerResult(SID, "select", answered=2),
    ]
    for result in results:
        figures = figures_of(result)
        assert figures and isinstance(result.line(), str) and result.line()
    assert figures_of(results[0])["endMs"] == 5.0
    assert results[3].statuses == "403" and results[3].events == "permission_forbidden"


def test_results_whose_figures_are_their_fields_keep_every_key_and_round_times():
    end = PendingEnd("disconnect", stream=("permission_request",), still_pending=True, end_ms=5.04, agent_ms=None)
    assert figures_of(end) == {
        "how": "disconnect",
        "agentReceived": "nothing",
        "agentTold": None,
        "stream": ["permission_request"],
        "turnEnd": "timeout",
        "stillPending": True,
        "replayed": None,
        "lateAnswer": None,
        "nextPrompt": "not tried",
        "endMs": 5.0,
        "agentMs": None,
        "nextMs": None,
    }
    cap = CapResult(sent=70, published=64, refusal=summarize([100.0, 102.0], "refusal"), answer_all_ms=280.06)
    figures = figures_of(cap)
    assert list(figures)[:4] == ["sent", "published", "cancelledByDaemon", "pendingPeak"]
    assert figures["refusal"]["count"] == 2 and figures["answerAllMs"] == 280.1
    counts = mock_report.ReportCounts(3, 3, 0, 0, 1, 0, 0)
    assert counts.figures()["answeredTwice"] == 1 and figures_of(counts)["stray"] == 0


def test_the_agents_counts_name_each_broken_invariant():
    assert mock_report.ReportCounts(3, 3, 0, 0, 0, 0, 0).problems(3) == []
    found = mock_report.ReportCounts(4, 2, 0, 0, 1, 2, 1).problems(3)
    assert found == [
        "the agent sent 4 permission requests, 3 were asked",
        "the agent received 2 answers for 3 requests",
        "1 requests reached the agent answered more than once",
        "2 requests never reached the agent answered",
        "the agent received 1 answers to no request of its own",
    ]


# -- the daemon's user settings --------------------------------------------------------------------------------
def test_user_settings_become_the_homes_settings_file_or_are_refused_before_a_start():
    text = _user_settings({"policy": {"permissionStrategy": "designated"}})
    assert json.loads(text) == {"policy": {"permissionStrategy": "designated"}}
    assert _user_settings(None) is None
    with pytest.raises(HarnessConfigError, match="user_settings must hold only JSON values"):
        _user_settings({"bad": object()})
    with pytest.raises(HarnessConfigError, match="user_settings must be a dictionary"):
        _user_settings(["policy"])
