"""Scenario table rows without a daemon: the tables' headers, cell checks, expected outcomes and verdicts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from robot.api import get_model
from robot.parsing.lexer import Token

from keywords.reporting import outcomes
from keywords.reporting.outcomes import Expected, RowRun, Verdict
from keywords.reporting.rows import RowError
from keywords.reporting.scenario_tables import BURSTS, LIMITS, PERMISSIONS, SUSTAINED, TABLES, mode_on
from keywords.traffic import row_loads
from keywords.traffic.flows import FlowBatch, FlowRecord, FlowTurn
from keywords.traffic.open_model import Slo
from keywords.traffic.row_loads import PromptsAtOnce

ROOT = Path(__file__).parent.parent
TEMPLATES = {
    "bursts": "Run Burst Row",
    "sustained": "Run Sustained Load Row",
    "limits": "Run Limit Row",
    "permissions": "Run Permission Row",
}


def header_and_template(path: Path) -> tuple[list[str], str | None]:
    """The column headers after ``*** Test Cases ***`` and the ``Test Template`` of a table file."""
    model = get_model(str(path))
    headers, template = [], None
    for section in model.sections:
        tokens = section.header.tokens if section.header else []
        if tokens and tokens[0].type == Token.TESTCASE_HEADER:
            headers = [t.value for t in tokens[1:] if t.type == Token.TESTCASE_HEADER]
        for item in section.body:
            if type(item).__name__ == "TestTemplate":
                template = item.value
    return headers, template


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_table_file_has_the_header_its_messages_name(name):
    headers, template = header_and_template(ROOT / "suites" / "scenarios" / f"{name}.robot")
    assert headers == TABLES[name].headers, "a bad cell's message names the columns as the header spells them"
    assert template == TEMPLATES[name]


def test_every_table_file_is_known():
    files = {p.stem for p in (ROOT / "suites" / "scenarios").glob("*.robot") if p.stem != "__init__"}
    assert files == set(TABLES)


def cells(**changes):
    row = {
        "BURST": "5",
        "PROMPTS": "3",
        "CHUNKS": "5",
        "DELAY MS": "0",
        "MODE": "echo",
        "MODE ON": "every prompt",
        "P99 BOUND MS": "3000",
        "EXPECTED": "completes",
    }
    row.update(changes)
    return list(row.values())


def test_a_good_burst_row_is_read_with_its_old_parameter_names():
    row = BURSTS.parse(
        "Burst Of 5", cells(**{"MODE": "Reject", "MODE ON": "every 2nd prompt", "EXPECTED": "Ends  With An Error"})
    )
    assert (row.burst, row.prompts, row.chunks, row.delay_ms, row.mode) == (5, 3, 5, 0, "reject")
    assert row.mode_on == (2, 2) and row.p99_bound_ms == 3000.0 and row.expected == Expected("ends with an error")
    assert row.parameters() == {
        "burst": 5,
        "promptsPerSession": 3,
        "chunksPerPrompt": 5,
        "mockDelayMs": 0,
        "mode": "reject",
    }
    assert BURSTS.parse("x", cells(**{"P99 BOUND MS": "-"})).p99_bound_ms is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"BURST": "ten"}, "Column \"BURST\" must be a whole number from 1 to 1000, got 'ten'."),
        ({"DELAY MS": "-1"}, "Column \"DELAY MS\" must be a whole number from 0 to 86400000, got '-1'."),
        ({"MODE": "shout"}, 'Column "MODE" must be one of echo, reject, crash-on-prompt, crash-mid, hang,'),
        ({"MODE ON": "prompt 0"}, 'Column "MODE ON" must be one of every prompt, first prompt, prompt <N>,'),
        ({"P99 BOUND MS": "0"}, 'Column "P99 BOUND MS" must be a number above 0, or "-" where it does not apply'),
        ({"EXPECTED": "refused 503"}, 'Column "EXPECTED" must be one of completes, ends with an error [code],'),
    ],
)
def test_a_bad_cell_names_its_column_the_allowed_values_and_what_was_written(changes, message):
    with pytest.raises(RowError) as caught:
        BURSTS.parse("x", cells(**changes))
    assert str(caught.value).startswith(message)


def test_a_row_error_is_shown_without_its_class_name():
    assert RowError.ROBOT_SUPPRESS_NAME is True


@pytest.mark.parametrize(
    ("cell", "value"),
    [("every prompt", (1, 1)), ("first prompt", (1, 0)), ("prompt 3", (3, 0)), ("every 2nd prompt", (2, 2))],
)
def test_mode_on_words_become_the_mocks_mode_at_and_mode_every(cell, value):
    assert mode_on(cell) == value


@pytest.mark.parametrize(
    ("cell", "want"),
    [
        ("completes", Expected("completes")),
        ("refused 503 session_limit_exceeded", Expected("refused", 503, "session_limit_exceeded")),
        ("refused 429", Expected("refused", 429)),
        ("ends with an error -32042", Expected("ends with an error", code="-32042")),
        ("stream evicted writer_idle_timeout", Expected("stream evicted", code="writer_idle_timeout")),
        ("  Session   Dies ", Expected("session dies")),
    ],
)
def test_expected_outcomes_are_read_with_their_status_and_code(cell, want):
    assert outcomes.expected(cell) == want
    assert outcomes.expected(want.text) == want


@pytest.mark.parametrize("cell", ["refused", "refused soon", "session dies now", "crashes", ""])
def test_an_outcome_that_is_not_in_the_vocabulary_is_refused(cell):
    with pytest.raises(ValueError):
        outcomes.expected(cell)


def test_the_other_tables_check_across_columns():
    with pytest.raises(RowError, match='Column "SESSIONS" must be "-" when WORKLOAD is "sessions"'):
        SUSTAINED.parse("x", ["sessions", "5", "5", "4", "-", "-", "-", "100", "0", "0", "0"])
    with pytest.raises(RowError, match='Column "CHUNKS" needs a number when WORKLOAD is "prompts"'):
        SUSTAINED.parse("x", ["prompts", "5", "5", "4", "-", "0", "0", "100", "0", "0", "0"])
    with pytest.raises(RowError, match='Column "TOOL CALLS" must be "-" when WORKLOAD is "sessions"'):
        SUSTAINED.parse("x", ["sessions", "5", "5", "-", "-", "2", "-", "100", "0", "0", "0"])
    with pytest.raises(RowError, match='Column "PERMISSIONS" needs a number when WORKLOAD is "prompts"'):
        SUSTAINED.parse("x", ["prompts", "5", "5", "4", "3", "2", "-", "100", "0", "0", "0"])
    with pytest.raises(RowError, match='Column "PERMISSIONS" \\(3\\) cannot be more than column "TOOL CALLS" \\(2\\)'):
        SUSTAINED.parse("x", ["prompts", "5", "5", "4", "3", "2", "3", "100", "0", "0", "0"])
    tools = SUSTAINED.parse("x", ["prompts", "5", "5", "4", "3", "4", "1", "100", "0", "0", "0"])
    assert (tools.tool_calls, tools.permissions) == (4, 1)
    assert tools.parameters()["toolCalls"] == 4 and tools.parameters()["permissions"] == 1
    with pytest.raises(RowError, match=r'Column "VALUE" must be a whole number from 1 to 1 000 000 for --event-ring'):
        LIMITS.parse("x", ["--event-ring-size", "0", "5 sessions at once", "completes"])
    with pytest.raises(RowError, match='Column "SESSIONS" must be 1 when ANSWER is "nobody"'):
        PERMISSIONS.parse("x", ["2", "1", "1", "nobody", "1000", "is cancelled"])
    with pytest.raises(RowError, match='Column "PERMISSIONS" \\(3\\) cannot be more than column "TOOL CALLS" \\(2\\)'):
        PERMISSIONS.parse("x", ["2", "2", "3", "allow", "0", "completes"])
    row = LIMITS.parse("x", ["--max-sessions", "3", "5 Sessions At Once", "refused 503 session_limit_exceeded"])
    assert row.load == row_loads.Load("sessions", 5) and row.parameters()["load"] == "5 Sessions At Once"


def turn(number, happened="completed", code=None):
    outcome, stop, message, status = {
        "completed": ("completed", "end_turn", None, 200),
        "error": ("error", None, "mock injected failure", 200),
        "sessionDied": ("error", None, "agent channel closed", 200),
        "sessionGone": ("stream_refused", None, "404", 404),
        "timeout": ("timeout", None, None, 200),
    }[happened]
    return FlowTurn(
        f"p{number}",
        outcome,
        stop,
        f"p{number}",
        3 if happened == "completed" else 0,
        4 if happened == "completed" else 1,
        1.0,
        10.0 * number,
        number=number,
        error_code=code,
        error_message=message,
        stream_status=status,
    )


def flow(index, kinds, prompts=None, **changes):
    values = {"session_id": f"s{index}", "close_status": 204, "after_close_status": 404, "total_ms": 50.0}
    values.update(changes)
    turns = [turn(n, k) if isinstance(k, str) else turn(n, *k) for n, k in enumerate(kinds, start=1)]
    return FlowRecord(index, prompts=prompts or len(kinds), turns=turns, **values)


def batch(*records):
    return FlowBatch("concurrent", list(records), wall_ms=100.0, chunks=3)


ALL = outcomes.prompts_hit("reject", 1, 1)
SECOND = outcomes.prompts_hit("reject", 2, 2)


def test_completes_passes_only_when_every_prompt_was_answered_in_full():
    ok = outcomes.judge_flows(batch(flow(0, ["completed"] * 2)), Expected("completes"), ALL)
    assert ok.passed and ok.sentence().endswith("and all 2 prompts were.")
    bad = outcomes.judge_flows(
        batch(flow(0, ["completed", "error"]), flow(1, ["completed"] * 2)), Expected("completes"), ALL
    )
    assert not bad.passed
    assert bad.sentence() == (
        "Every prompt should have been answered in full and every session closed normally, but 1 of 4 prompts "
        "were not (1 ended with an error)."
    )


def test_a_row_expecting_errors_on_every_second_prompt():
    want = Expected("ends with an error")
    good = batch(flow(0, ["completed", "error", "completed", "error"]))
    assert outcomes.judge_flows(good, want, SECOND).passed
    assert not outcomes.judge_flows(good, want, ALL).passed  # prompts 1 and 3 were hit too but completed
    coded = outcomes.judge_flows(
        batch(flow(0, ["completed", ("error", "-32603")])), Expected("ends with an error", code="-32042"), SECOND
    )
    assert not coded.passed and "1 ended with another code" in coded.happened
    assert "flow 0 prompt 2: code -32603, expected -32042" in coded.detail[0]


def test_the_mode_hitting_nothing_fails_in_plain_words():
    verdict = outcomes.judge_flows(batch(flow(0, ["completed"])), Expected("ends with an error"), SECOND)
    assert not verdict.passed and "the mode hit no prompt" in verdict.happened


def test_session_dies_passes_when_the_only_failures_are_the_death():
    crashed = batch(
        flow(0, ["sessionDied"], prompts=2, close_status=404),
        flow(1, ["sessionGone"], prompts=2, close_status=404),
        FlowRecord(
            2, prompts=2, refused_step="create", refused_status=500, error="POST /session -> 500: agent channel closed"
        ),
    )
    verdict = outcomes.judge_flows(crashed, Expected("session dies"), ALL)
    assert verdict.passed, verdict.message()
    assert "1 requests failed because the agent had stopped" in verdict.happened
    nothing = outcomes.judge_flows(batch(flow(0, ["completed"])), Expected("session dies"), ALL)
    assert not nothing.passed and nothing.happened.startswith("no session died")
    mixed = outcomes.judge_flows(batch(flow(0, ["sessionDied"]), flow(1, ["timeout"])), Expected("session dies"), ALL)
    assert not mixed.passed and "1 got no end in time" in mixed.happened


def test_refused_needs_a_matching_refusal_and_everything_else_working():
    capped = batch(
        flow(0, ["completed"]),
        FlowRecord(1, refused_step="create", refused_status=503, refused_code="session_limit_exceeded"),
    )
    assert outcomes.judge_flows(capped, Expected("refused", 503, "session_limit_exceeded"), ALL).passed
    assert outcomes.judge_flows(capped, Expected("refused", 503), ALL).passed
    wrong = outcomes.judge_flows(capped, Expected("refused", 429), ALL)
    assert not wrong.passed and wrong.happened == "it refused 1x 503 session_limit_exceeded"


def test_never_ends_does_not_count_the_prompts_a_stuck_session_could_not_send():
    stuck = batch(flow(0, ["completed", "timeout"], prompts=4))
    assert outcomes.judge_flows(stuck, Expected("never ends"), outcomes.prompts_hit("hang", 2, 0)).passed


def load_result(slo, **changes):
    values = {
        "response": SimpleNamespace(p99=120.0),
        "error_count": 0,
        "unfinished": 0,
        "over_bound": 0,
        "errors": {},
        "late": 0,
        "dropped": 0,
        "sent": 50,
        "planned": 50,
        "reliable": True,
        "line": lambda: "response ...",
    }
    values.update(changes)
    result = SimpleNamespace(**values)
    result.slo = slo.validate().check(result)
    return result


def test_an_slo_row_lists_every_bound_it_breached_with_the_measured_value():
    slo = Slo(p99_ms=100, max_errors=0, max_late=2, max_dropped=0)
    late = load_result(slo, error_count=3, errors={"prompt_queue_full": 3}, late=7, dropped=1, unfinished=1)
    verdict = outcomes.judge_slo(late)
    assert not verdict.passed
    assert verdict.sentence() == (
        "The load should have stayed within its bounds (p99 at most 100 ms, errors at most 0, late at most 2, "
        "dropped at most 0), but 4 bounds were breached: p99 120 ms (bound 100 ms), 4 of 50 sent slower or "
        "missing (at most 0); errors 3 (bound 0: 3x prompt_queue_full); late 7 (bound 2); dropped 1 (bound 0)."
    )
    assert outcomes.judge_slo(load_result(Slo(p99_ms=200, max_errors=0, max_late=0, max_dropped=0))).passed


def test_a_tool_call_row_checks_every_answered_turn_showed_its_tool_calls_and_asked_its_permissions():
    def load(**fields):
        base = {"completed": 10, "sent": 10, "event_mix": {"tool_call": 40}, "permission_requests": 10}
        base.update(permission_answered=10, permission_refused={}, line=lambda: "the load's line")
        return SimpleNamespace(**{**base, **fields})

    assert outcomes.judge_tool_turns(load(), 0, 0) is None
    good = outcomes.judge_tool_turns(load(), 4, 1)
    assert good.passed and "40 tool_call updates, 10 permission requests answered" in good.sentence()
    few_tools = outcomes.judge_tool_turns(load(event_mix={"tool_call": 39}), 4, 1)
    assert not few_tools.passed and "39 tool_call updates on the streams, fewer than 10 x 4" in few_tools.sentence()
    refused = outcomes.judge_tool_turns(load(permission_answered=9, permission_refused={"404": 1}), 4, 1)
    assert not refused.passed and "9 of 10 answers accepted (refused: 1x 404)" in refused.sentence()
    lost = outcomes.judge_tool_turns(load(permission_requests=8, permission_answered=8), 4, 1)
    assert not lost.passed and "8 permission requests, expected 10 x 1 to 10 x 1" in lost.sentence()
    unasked = outcomes.judge_tool_turns(load(permission_requests=3), 4, 0)
    assert not unasked.passed and "3 permission requests where the row asks none" in unasked.sentence()


def test_prompts_at_once_and_single_results():
    queued = PromptsAtOnce("s", 4, accepted=2, refusals={"503 prompt_queue_full": 2}, outcomes={"completed": 2})
    assert outcomes.judge_prompts_at_once(queued, Expected("refused", 503, "prompt_queue_full")).passed
    assert not outcomes.judge_prompts_at_once(queued, Expected("completes")).passed
    hung = SimpleNamespace(happened="error", error_code="prompt_deadline_exceeded", prompt_id="p", summary=lambda: "")
    assert outcomes.judge_turn(hung, Expected("ends with an error", code="prompt_deadline_exceeded")).passed
    assert not outcomes.judge_turn(hung, Expected("never ends")).passed
    idle = SimpleNamespace(
        evicted=True,
        eviction_reason="writer_idle_timeout",
        cut_before_terminal=False,
        end="terminal",
        terminal="client_evicted",
        summary=lambda: "",
    )
    assert outcomes.judge_stream(idle, Expected("stream evicted", code="writer_idle_timeout"), 10).passed
    assert not outcomes.judge_stream(idle, Expected("completes"), 10).passed


def test_a_failing_row_message_starts_with_the_plain_sentence_and_ends_with_the_figures():
    failing = Verdict(
        "completes",
        "Every prompt should have been answered in full",
        "2 of 4 were not",
        False,
        ["flow 1: turn ended error"],
    )
    bound = outcomes.judge_bound("p99 answer time", 5210.0, 4000.0)
    run = RowRun(SimpleNamespace(), SimpleNamespace(figures=dict), [failing, bound], "4 prompts: ...")
    assert run.message().splitlines() == [
        "Every prompt should have been answered in full, but 2 of 4 were not.",
        "- flow 1: turn ended error",
        "Also: The p99 answer time should have been at most 4000 ms, but it was 5210.0 ms (30% over).",
        "Figures: 4 prompts: ...",
    ]
    assert run.line() == "4 prompts: ... | completes: NO · p99 answer time ≤ 4000 ms: NO"
    assert outcomes.judge_bound("p99", None, 10).passed and outcomes.judge_bound("p99", 5, None) is None


def test_the_glossary_explains_every_daemon_word_the_verdicts_use():
    words = ["turn_error", "session_died", "client_evicted", "session_limit_exceeded", "prompt_queue_full"]
    assert all(word in outcomes.GLOSSARY for word in words)
