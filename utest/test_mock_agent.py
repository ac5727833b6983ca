"""Conformance tests of the mock ACP agent (mock_acp/), driven over stdio through its Node launcher.

Every message any agent emits in these tests is validated against the official ACP JSON schema (and
hand-written schemas for the daemon's extension methods) when the test ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mock_driver import MockAgentProcess, pid_alive
from mock_schema import GUARD_META_SCHEMA, AcpValidator, fetch_acp_schema
from waiting import until

from mock_acp import AGENT, LAUNCHER
from mock_acp.config import AgentConfig, ControlState, load_agent_config, settings_from_env
from mock_acp.directives import (
    CONFIG_SETTINGS,
    INIT_MODES,
    MOCK_MODES,
    PROMPT_SETTINGS,
    REPORT_FILE_NAME,
    SETTINGS,
    MockSettingsError,
    PromptSettings,
    format_directive,
    mode_applies,
    parse_directive,
    resolve_settings,
    validate_overrides,
    write_json_atomic,
)
from mock_acp.report import read_report

SpawnFn = Callable[..., MockAgentProcess]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def acp_validator() -> AcpValidator:
    """Validator built from the pinned ACP schema (downloaded once with npm)."""
    try:
        return AcpValidator(fetch_acp_schema())
    except RuntimeError as exc:
        pytest.fail(f"cannot get the ACP JSON schema: {exc}")


@pytest.fixture
def spawn(tmp_path: Path, acp_validator: AcpValidator) -> Iterator[SpawnFn]:
    """Factory of mock agents; at teardown stops them and schema-checks everything they emitted.

    Keyword arguments: ``config`` (dict for AgentConfig.from_dict, written to a file), ``env``.
    """
    agents: list[MockAgentProcess] = []

    def factory(config: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> MockAgentProcess:
        extra = dict(env or {})
        if config is not None:
            path = tmp_path / f"config-{len(agents)}.json"
            AgentConfig.from_dict(config).write(path)
            extra["QWEN_MOCK_ACP_CONFIG"] = str(path)
        agent = MockAgentProcess(env=extra, cwd=tmp_path)
        agents.append(agent)
        return agent

    yield factory
    for agent in agents:
        agent.stop()
        for message in agent.messages:
            acp_validator.check(message, agent.methods.get(message.get("id", -1)))


def result_of(agent: MockAgentProcess, msg_id: int, timeout: float = 5.0) -> Any:
    """The result of request `msg_id` (fails on an error answer)."""
    reply = agent.response(msg_id, timeout)
    assert "result" in reply, reply
    return reply["result"]


def assert_unanswered(agent: MockAgentProcess, msg_id: int, wait: float = 0.3) -> None:
    """Check that request `msg_id` stays unanswered for `wait` seconds."""
    time.sleep(wait)
    assert not agent.has_response(msg_id)


# --- directives.py -------------------------------------------------------------------------------


def test_prompt_settings_defaults() -> None:
    assert PromptSettings().to_dict() == {
        "mode": "echo",
        "chunks": 3,
        "chunk_size": 0,
        "chunk_delay_ms": 0,
        "end_delay_ms": 0,
        "error_code": -32603,
        "tool_calls": 0,
        "tool_output_bytes": 0,
        "tool_delay_ms": 0,
        "tool_batch": 1,
        "tool_kind": "read",
        "tool_fail_every": 0,
        "plan_entries": 0,
        "usage": "off",
        "permissions": 0,
        "permission_at": 1,
        "permission_options": "allow_once,allow_always,reject_once",
        "mode_at": 1,
        "mode_every": 1,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"chunks": -1}, "mock setting 'chunks' must be an integer from 0 to 100000, got -1"),
        ({"chunks": 100001}, "mock setting 'chunks' must be an integer from 0 to 100000, got 100001"),
        ({"chunks": True}, "mock setting 'chunks' must be an integer from 0 to 100000, got True"),
        (
            {"chunk_delay_ms": "5"},
            "mock setting 'chunk_delay_ms' must be an integer from 0 to 86400000, got '5'",
        ),
        ({"mode": "explode"}, "mock setting 'mode' must be one of echo, reject, crash-on-prompt"),
        ({"colour": 1}, "unknown mock setting 'colour'; allowed: mode, chunks"),
    ],
)
def test_settings_validation_messages(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(MockSettingsError, match="^" + message.replace("(", r"\(")):
        validate_overrides(overrides)
    with pytest.raises(ValueError):
        format_directive(**overrides)


def test_directive_round_trip_and_key_order() -> None:
    text = format_directive(chunk_delay_ms=5, mode="hang", chunks=7, error_code=-32000)
    assert text == "[[mock mode=hang chunks=7 chunk_delay_ms=5 error_code=-32000]]"
    assert parse_directive(text + "  the prompt") == (
        {"mode": "hang", "chunks": 7, "chunk_delay_ms": 5, "error_code": -32000},
        "the prompt",
    )
    assert format_directive() == "[[mock]]"
    assert parse_directive("[[mock]]rest") == ({}, "rest")


@pytest.mark.parametrize("text", ["plain prompt", "", "[[mocking]] x", " [[mock mode=hang]]", "[mock chunks=1]"])
def test_text_without_directive_is_untouched(text: str) -> None:
    assert parse_directive(text) == ({}, text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[mock chunks=2", "not closed"),
        ("[[mock chunks]]", "not of the form key=value"),
        ("[[mock chunks=two]]", "'chunks' must be an integer"),
        ("[[mock chunks=1 chunks=2]]", "sets 'chunks' twice"),
        ("[[mock speed=1]]", "unknown mock setting 'speed'"),
        ("[[mock mode=explode]]", "'mode' must be one of"),
        ("[[mock chunks=-3]]", "got -3"),
    ],
)
def test_malformed_directive_raises(text: str, fragment: str) -> None:
    with pytest.raises(MockSettingsError, match=fragment):
        parse_directive(text)


def test_precedence_of_layers() -> None:
    config = PromptSettings(mode="reject", chunks=1, chunk_size=4)
    control = ControlState(defaults={"chunks": 2, "end_delay_ms": 9}, sessions={"s1": {"chunks": 5}})
    directive, _ = parse_directive("[[mock mode=echo]] hi")
    effective = control.settings_for(config, "s1").with_overrides(directive)
    assert effective == PromptSettings(mode="echo", chunks=5, chunk_size=4, end_delay_ms=9)
    assert control.settings_for(config, "other") == PromptSettings(
        mode="reject", chunks=2, chunk_size=4, end_delay_ms=9
    )
    assert resolve_settings(config, None, {"chunks": 0}, {}) == PromptSettings(mode="reject", chunks=0, chunk_size=4)


def test_agent_config_json_round_trip(tmp_path: Path) -> None:
    config = AgentConfig(
        init_mode="no-guard",
        init_delay_ms=5,
        defaults=PromptSettings(mode="hang", chunks=1),
        control_file=str(tmp_path / "c.json"),
    )
    assert AgentConfig.from_json(config.to_json()) == config
    path = tmp_path / "config.json"
    config.write(path)
    assert AgentConfig.from_file(path) == config
    assert not list(tmp_path.glob("*.tmp"))
    assert AgentConfig.from_dict({"defaults": {"chunks": 9}}).defaults.chunks == 9


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"init_mode": "sometimes"}, "'init_mode' must be one of normal, never, exit, no-guard"),
        ({"init_delay_ms": -1}, "'init_delay_ms' must be an integer"),
        ({"defaults": {"chunks": "x"}}, "'chunks' must be an integer"),
        ({"log_file": ""}, "'log_file' must be a non-empty path string or null"),
        ({"extra": 1}, "unknown mock config key 'extra'"),
    ],
)
def test_agent_config_validation(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MockSettingsError, match=fragment):
        AgentConfig.from_dict(data)


def test_agent_config_rejects_non_json() -> None:
    with pytest.raises(MockSettingsError, match="not valid JSON"):
        AgentConfig.from_json("{nope")


def test_control_state_validation_and_write(tmp_path: Path) -> None:
    with pytest.raises(MockSettingsError, match="'chunks'"):
        ControlState.from_dict({"sessions": {"s": {"chunks": -2}}})
    with pytest.raises(MockSettingsError, match="keys 'defaults' and 'sessions'"):
        ControlState.from_dict({"default": {}})
    state = ControlState(defaults={"mode": "hang"}, sessions={"s": {"chunks": 1}})
    state.write(tmp_path / "control.json")
    assert ControlState.from_json((tmp_path / "control.json").read_text()) == state


def test_write_json_atomic_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"b": [1, 2]})
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_env_fallback_and_config_loading(tmp_path: Path) -> None:
    env = {"MOCK_ACP_MODE": "reject", "MOCK_ACP_EMIT_CHUNKS": "2", "MOCK_ACP_PROMPT_DELAY_MS": "40"}
    assert settings_from_env(env) == PromptSettings(mode="reject", chunks=2, end_delay_ms=40)
    assert settings_from_env({"MOCK_ACP_MODE": "whatever"}).mode == "echo"
    with pytest.raises(MockSettingsError, match="MOCK_ACP_EMIT_CHUNKS"):
        settings_from_env({"MOCK_ACP_EMIT_CHUNKS": "many"})
    assert load_agent_config({}) == AgentConfig()
    path = tmp_path / "config.json"
    AgentConfig(init_mode="never").write(path)
    assert load_agent_config({"QWEN_MOCK_ACP_CONFIG": str(path), **env}).init_mode == "never"


def test_package_paths() -> None:
    assert LAUNCHER.is_file() and LAUNCHER.name == "launcher.cjs"
    assert AGENT.is_file() and AGENT.name == "agent.py"


# --- the validator itself ------------------------------------------------------------------------

GOOD_CHUNK = {
    "jsonrpc": "2.0",
    "method": "session/update",
    "params": {
        "sessionId": "s",
        "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "x"}},
    },
}


GOOD_PERMISSION_REQUEST = {
    "jsonrpc": "2.0",
    "id": "mock-1",
    "method": "session/request_permission",
    "params": {
        "sessionId": "s",
        "toolCall": {"toolCallId": "c1", "title": "t", "kind": "read", "status": "pending"},
        "options": [{"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"}],
    },
}


def update_message(update: dict[str, Any]) -> dict[str, Any]:
    """A `session/update` notification carrying `update`."""
    return {**GOOD_CHUNK, "params": {"sessionId": "s", "update": update}}


def permission_request(changes: dict[str, Any]) -> dict[str, Any]:
    """The good permission request with some params replaced (None removes one)."""
    params = {**GOOD_PERMISSION_REQUEST["params"], **changes}
    return {**GOOD_PERMISSION_REQUEST, "params": {k: v for k, v in params.items() if v is not None}}


@pytest.mark.parametrize(
    ("message", "method"),
    [
        ({"jsonrpc": "2.0", "id": 1, "result": {}}, "session/prompt"),
        ({"jsonrpc": "2.0", "id": 1, "result": {"stopReason": "finished"}}, "session/prompt"),
        ({"jsonrpc": "2.0", "id": 1, "result": {}}, "session/new"),
        ({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "1"}}, "initialize"),
        ({"jsonrpc": "2.0", "id": 1, "error": {"message": "no code"}}, "session/prompt"),
        ({"jsonrpc": "1.0", "id": 1, "result": {"stopReason": "end_turn"}}, "session/prompt"),
        (
            {"jsonrpc": "2.0", "id": 1, "result": {"closed": False, "sessionId": "s"}},
            "qwen/control/session/close",
        ),
        ({"jsonrpc": "2.0", "id": 1, "result": {"cancelled": "yes"}}, "craft/cancelPendingPrompt"),
        (
            {"jsonrpc": "2.0", "id": 1, "result": {"rssBytes": -1, "cpuPercent": 0}},
            "qwen/status/workspace/resource",
        ),
        (
            {**GOOD_CHUNK, "params": {**GOOD_CHUNK["params"], "update": {"sessionUpdate": "agent_chunk"}}},
            None,
        ),
        ({**GOOD_CHUNK, "params": {"update": GOOD_CHUNK["params"]["update"]}}, None),
        (update_message({"sessionUpdate": "tool_call", "toolCallId": "c1", "status": "pending"}), None),
        (update_message({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "done"}), None),
        (update_message({"sessionUpdate": "tool_call", "toolCallId": "c1", "title": "t", "kind": "hammer"}), None),
        (update_message({"sessionUpdate": "plan", "entries": [{"content": "x", "status": "pending"}]}), None),
        (update_message({"sessionUpdate": "usage_update", "used": 5}), None),
        (permission_request({"toolCall": None}), None),
        (permission_request({"toolCall": {"title": "no id"}}), None),
        (permission_request({"options": [{"optionId": "a", "name": "A", "kind": "maybe"}]}), None),
        (permission_request({"options": [{"optionId": "a", "kind": "allow_once"}]}), None),
        ({"jsonrpc": "2.0", "id": 1, "result": {"modes": "x"}}, "session/load"),
    ],
)
def test_validator_rejects_malformed_messages(
    acp_validator: AcpValidator, message: dict[str, Any], method: str | None
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        acp_validator.check(message, method)


def test_validator_accepts_wellformed_messages(acp_validator: AcpValidator) -> None:
    acp_validator.check(GOOD_CHUNK)
    acp_validator.check({"jsonrpc": "2.0", "id": 3, "result": {"stopReason": "cancelled"}}, "session/prompt")
    acp_validator.check({"jsonrpc": "2.0", "id": 3, "error": {"code": -32602, "message": "m"}}, "session/prompt")
    acp_validator.check(GOOD_PERMISSION_REQUEST)
    acp_validator.check(update_message({"sessionUpdate": "usage_update", "used": 5, "size": 10}))
    acp_validator.check({"jsonrpc": "2.0", "id": 4, "result": {}}, "session/load")
    acp_validator.check({"jsonrpc": "2.0", "id": 4, "result": {}}, "session/resume")
    with pytest.raises(jsonschema.ValidationError):
        acp_validator.check(permission_request({"options": None}))
    with pytest.raises(AssertionError, match="unexpected agent request"):
        acp_validator.check({**GOOD_PERMISSION_REQUEST, "method": "fs/read_text_file", "params": {}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"_meta": {}}, GUARD_META_SCHEMA)


# --- initialize and sessions ---------------------------------------------------------------------


def test_initialize_normal_acknowledges_tool_guard(spawn: SpawnFn) -> None:
    result = spawn().initialize()
    jsonschema.validate(result, GUARD_META_SCHEMA)
    assert result["protocolVersion"] == 1
    assert result["agentInfo"]["name"] == "qwen-serve-harness-mock"
    assert result["agentCapabilities"]["loadSession"] is True


def test_initialize_no_guard_omits_acknowledgement(spawn: SpawnFn) -> None:
    result = spawn(config={"init_mode": "no-guard"}).initialize()
    assert "qwen-code/external-tool-guard-ready" not in (result.get("_meta") or {})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(result, GUARD_META_SCHEMA)


def test_initialize_never_answers_but_agent_lives(spawn: SpawnFn) -> None:
    agent = spawn(config={"init_mode": "never"})
    msg_id = agent.request("initialize", {"protocolVersion": 1})
    assert_unanswered(agent, msg_id, 0.5)
    assert result_of(agent, agent.request("authenticate", {"methodId": "x"})) == {}
    agent.proc.stdin.close()
    assert agent.wait_exit() == 0


def test_initialize_exit_mode_exits_1(spawn: SpawnFn) -> None:
    agent = spawn(config={"init_mode": "exit"})
    agent.request("initialize", {"protocolVersion": 1})
    assert agent.wait_exit() == 1
    assert agent.messages == []


def test_every_init_mode_is_covered() -> None:
    assert set(INIT_MODES) == {"normal", "never", "exit", "no-guard"}


def test_init_and_new_session_delays(spawn: SpawnFn) -> None:
    agent = spawn(config={"init_delay_ms": 300, "new_session_delay_ms": 200})
    started = time.monotonic()
    agent.initialize()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    agent.new_session()
    assert time.monotonic() - started >= 0.2


def test_new_session_honours_requested_id(spawn: SpawnFn) -> None:
    agent = spawn()
    agent.initialize()
    assert agent.new_session("0b8c5d52-4a5f-4b5e-9bb4-3a7f0a0c1d2e") == "0b8c5d52-4a5f-4b5e-9bb4-3a7f0a0c1d2e"
    first, second = agent.new_session(), agent.new_session()
    assert first != second and len(first) == 36


# --- prompt modes --------------------------------------------------------------------------------


def test_every_prompt_mode_is_covered() -> None:
    assert set(MOCK_MODES) == {
        "echo",
        "reject",
        "crash-on-prompt",
        "crash-mid",
        "hang",
        "hang-ignore-cancel",
        "garbage",
    }


def test_echo_streams_chunks_then_end_turn(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}
    assert agent.chunks(sid) == ["chunk-0", "chunk-1", "chunk-2"]
    last_chunk = max(i for i, m in enumerate(agent.messages) if m.get("method") == "session/update")
    assert agent.messages[last_chunk + 1].get("result") == {"stopReason": "end_turn"}


def test_chunk_size_and_count(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"chunks": 40, "chunk_size": 1000}})
    sid = agent.start()
    result_of(agent, agent.prompt(sid))
    texts = agent.chunks(sid)
    assert len(texts) == 40 and all(len(t) == 1000 for t in texts)
    sid2 = agent.new_session()
    result_of(agent, agent.prompt(sid2, "[[mock chunks=0]]"))
    assert agent.chunks(sid2) == []


def test_chunk_and_end_delays(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"chunks": 3, "chunk_delay_ms": 100, "end_delay_ms": 200}})
    sid = agent.start()
    started = time.monotonic()
    result_of(agent, agent.prompt(sid))
    assert time.monotonic() - started >= 0.4


def test_reject_answers_error_after_chunks(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"mode": "reject", "chunks": 2}})
    sid = agent.start()
    reply = agent.response(agent.prompt(sid))
    assert reply["error"] == {"code": -32603, "message": "mock injected failure"}
    assert agent.chunks(sid) == ["chunk-0", "chunk-1"]
    reply = agent.response(agent.prompt(sid, "[[mock mode=reject error_code=-32000 chunks=0]]"))
    assert reply["error"]["code"] == -32000


@pytest.mark.parametrize(
    ("mode_at", "mode_every", "hit"),
    [
        (1, 1, [1, 2, 3, 4, 5, 6]),  # the defaults: every prompt
        (1, 0, [1]),  # only the first prompt
        (3, 0, [3]),  # only prompt 3
        (2, 2, [2, 4, 6]),  # every 2nd prompt
        (3, 3, [3, 6]),  # every 3rd prompt
        (2, 1, [2, 3, 4, 5, 6]),  # every prompt from the second on
    ],
)
def test_mode_applies_to_the_prompts_mode_at_and_mode_every_name(mode_at: int, mode_every: int, hit: list) -> None:
    assert [n for n in range(1, 7) if mode_applies(n, mode_at, mode_every)] == hit
    settings = PromptSettings(mode="reject", mode_at=mode_at, mode_every=mode_every)
    assert [n for n in range(1, 7) if settings.for_prompt(n).mode == "reject"] == hit
    assert PromptSettings(mode_at=mode_at, mode_every=mode_every).for_prompt(1).mode == "echo"


def test_mode_at_and_mode_every_are_checked() -> None:
    with pytest.raises(MockSettingsError, match="'mode_at' must be an integer from 1 to 1000000, got 0"):
        validate_overrides({"mode_at": 0})
    with pytest.raises(MockSettingsError, match="'mode_every' must be an integer from 0 to 1000000, got -1"):
        validate_overrides({"mode_every": -1})
    assert parse_directive("[[mock mode=reject mode_at=2 mode_every=0]] hi")[0] == {
        "mode": "reject",
        "mode_at": 2,
        "mode_every": 0,
    }


def test_only_the_first_prompt_of_each_session_gets_the_mode(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"mode": "reject", "mode_every": 0, "chunks": 1}})
    sid = agent.start()
    assert "error" in agent.response(agent.prompt(sid))
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}
    other = agent.new_session()
    assert "error" in agent.response(agent.prompt(other)), "each session counts its own prompts"


def test_every_second_prompt_gets_the_mode_from_a_directive(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    text = "[[mock mode=reject mode_at=2 mode_every=2 chunks=0]]"
    replies = [agent.response(agent.prompt(sid, text)) for _ in "1234"]
    assert ["error" in reply for reply in replies] == [False, True, False, True]


def test_crash_on_the_second_prompt_only(reporting: Callable[..., tuple[MockAgentProcess, Path]]) -> None:
    agent, report = reporting()
    sid = agent.start()
    assert result_of(agent, agent.prompt(sid, "[[mock mode=crash-on-prompt mode_at=2 chunks=1]]")) == {
        "stopReason": "end_turn"
    }
    agent.prompt(sid, "[[mock mode=crash-on-prompt mode_at=2 chunks=1]]")
    assert agent.wait_exit() == 1
    started = report_of(agent, report, "prompt_started")
    assert [(e["promptNumber"], e["settings"]["mode"]) for e in started] == [(1, "echo"), (2, "crash-on-prompt")]


def test_crash_on_prompt_exits_1_before_any_chunk(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"mode": "crash-on-prompt"}})
    sid = agent.start()
    msg_id = agent.prompt(sid)
    assert agent.wait_exit() == 1
    assert agent.chunks(sid) == [] and not agent.has_response(msg_id)


def test_crash_mid_exits_1_after_chunks(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock mode=crash-mid chunks=4]]")
    assert agent.wait_exit() == 1
    assert agent.chunks(sid) == [f"chunk-{i}" for i in range(4)]
    assert not agent.has_response(msg_id)


def test_garbage_writes_one_non_json_line_then_continues(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"mode": "garbage"}})
    sid = agent.start()
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}
    assert len(agent.non_json) == 1
    assert agent.chunks(sid) == ["chunk-0", "chunk-1", "chunk-2"]


def test_hang_released_by_session_cancel(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"mode": "hang"}})
    sid = agent.start()
    msg_id = agent.prompt(sid)
    agent.wait_for(
        lambda m: m.get("method") == "session/update" and m["params"]["update"]["content"]["text"] == "chunk-2"
    )
    assert_unanswered(agent, msg_id)
    agent.notify("session/cancel", {"sessionId": sid})
    assert result_of(agent, msg_id) == {"stopReason": "cancelled"}


def test_hang_released_by_cancel_pending_prompt(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    assert result_of(agent, agent.request("craft/cancelPendingPrompt", {"sessionId": sid})) == {"cancelled": False}
    msg_id = agent.prompt(sid, "[[mock mode=hang]]")
    assert_unanswered(agent, msg_id)
    assert result_of(agent, agent.request("craft/cancelPendingPrompt", {"sessionId": sid})) == {"cancelled": True}
    assert result_of(agent, msg_id) == {"stopReason": "cancelled"}


def test_cancel_interrupts_slow_echo(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock chunks=50 chunk_delay_ms=100]]")
    agent.wait_for(lambda m: m.get("method") == "session/update")
    agent.notify("session/cancel", {"sessionId": sid})
    assert result_of(agent, msg_id) == {"stopReason": "cancelled"}
    assert len(agent.chunks(sid)) < 50


def test_hang_ignore_cancel_never_answers(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"mode": "hang-ignore-cancel"}})
    sid = agent.start()
    msg_id = agent.prompt(sid)
    agent.notify("session/cancel", {"sessionId": sid})
    assert result_of(agent, agent.request("craft/cancelPendingPrompt", {"sessionId": sid})) == {"cancelled": False}
    assert_unanswered(agent, msg_id)
    closed = result_of(agent, agent.request("qwen/control/session/close", {"sessionId": sid, "drainTimeoutMs": 8000}))
    assert closed == {"sessionId": sid, "closed": True}
    assert_unanswered(agent, msg_id)


def test_close_releases_hung_prompt(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock mode=hang chunks=1]]")
    assert_unanswered(agent, msg_id)
    closed = result_of(agent, agent.request("qwen/control/session/close", {"sessionId": sid}))
    assert closed == {"sessionId": sid, "closed": True}
    assert result_of(agent, msg_id) == {"stopReason": "cancelled"}


def test_hung_session_does_not_block_others(spawn: SpawnFn) -> None:
    agent = spawn()
    agent.initialize()
    hung, other = agent.new_session(), agent.new_session()
    hung_id = agent.prompt(hung, "[[mock mode=hang]]")
    echo_ids = [agent.prompt(other, "[[mock chunks=5]]") for _ in range(3)]
    for msg_id in echo_ids:
        assert result_of(agent, msg_id) == {"stopReason": "end_turn"}
    assert not agent.has_response(hung_id)
    agent.notify("session/cancel", {"sessionId": other})
    assert_unanswered(agent, hung_id, 0.2)
    agent.notify("session/cancel", {"sessionId": hung})
    assert result_of(agent, hung_id) == {"stopReason": "cancelled"}


def test_many_concurrent_sessions(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"chunks": 20, "chunk_delay_ms": 5}})
    agent.initialize()
    sessions = [agent.new_session() for _ in range(30)]
    ids = [agent.prompt(sid) for sid in sessions]
    started = time.monotonic()
    for msg_id in ids:
        assert result_of(agent, msg_id, timeout=10) == {"stopReason": "end_turn"}
    assert time.monotonic() - started < 5
    assert all(agent.chunks(sid) == [f"chunk-{i}" for i in range(20)] for sid in sessions)


# --- directives, control file and config over the wire -------------------------------------------


def test_malformed_directive_is_invalid_params_and_agent_survives(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    reply = agent.response(agent.prompt(sid, "[[mock chunks=lots]] hi"))
    assert reply["error"]["code"] == -32602
    assert "'chunks' must be an integer" in reply["error"]["message"]
    assert agent.chunks(sid) == []
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}


def test_control_file_change_between_prompts(spawn: SpawnFn, tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    agent = spawn(config={"control_file": str(control)})
    sid = agent.start()
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}
    ControlState(defaults={"mode": "reject", "error_code": -32001, "chunks": 0}).write(control)
    assert agent.response(agent.prompt(sid))["error"]["code"] == -32001
    ControlState(defaults={"chunks": 1}).write(control)
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}
    assert agent.chunks(sid) == ["chunk-0", "chunk-1", "chunk-2", "chunk-0"]
    control.unlink()
    result_of(agent, agent.prompt(sid))
    assert len(agent.chunks(sid)) == 7


def test_control_file_per_session_entry_and_directive_precedence(spawn: SpawnFn, tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    agent = spawn(config={"control_file": str(control), "defaults": {"chunks": 1}})
    agent.initialize()
    special, plain = agent.new_session(), agent.new_session()
    ControlState(defaults={"chunks": 2}, sessions={special: {"mode": "reject", "chunks": 4}}).write(control)
    assert "error" in agent.response(agent.prompt(special))
    assert result_of(agent, agent.prompt(plain)) == {"stopReason": "end_turn"}
    assert len(agent.chunks(special)) == 4 and len(agent.chunks(plain)) == 2
    assert result_of(agent, agent.prompt(special, format_directive(mode="echo"))) == {"stopReason": "end_turn"}


def test_invalid_control_file_keeps_previous_settings(spawn: SpawnFn, tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    agent = spawn(config={"control_file": str(control)})
    sid = agent.start()
    ControlState(defaults={"chunks": 1}).write(control)
    result_of(agent, agent.prompt(sid))
    control.write_text('{"defaults": {"chunks": -5}}')
    result_of(agent, agent.prompt(sid))
    assert agent.chunks(sid) == ["chunk-0", "chunk-0"]
    # The stderr reader thread may append the agent's warning a moment after the answer was read.
    until(lambda: any("control file" in line for line in agent.stderr))
    assert any("control file" in line for line in agent.stderr), agent.stderr


def test_legacy_env_fallback(spawn: SpawnFn) -> None:
    agent = spawn(env={"MOCK_ACP_MODE": "reject", "MOCK_ACP_EMIT_CHUNKS": "1", "MOCK_ACP_PROMPT_DELAY_MS": "0"})
    sid = agent.start()
    assert agent.response(agent.prompt(sid))["error"]["code"] == -32603
    assert agent.chunks(sid) == ["chunk-0"]


def test_bad_config_file_exits_2_with_reason(spawn: SpawnFn, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"init_mode": "maybe"}')
    agent = spawn(env={"QWEN_MOCK_ACP_CONFIG": str(bad)})
    assert agent.wait_exit() == 2
    assert any("init_mode" in line for line in agent.stderr)


def test_log_file_gets_one_line_per_method(spawn: SpawnFn, tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    agent = spawn(config={"log_file": str(log)})
    sid = agent.start()
    result_of(agent, agent.prompt(sid))
    agent.notify("session/cancel", {"sessionId": sid})
    agent.stop()
    methods = [line.split()[1] for line in log.read_text().splitlines()]
    assert methods == ["initialize", "session/new", "session/prompt", "session/cancel"]


# --- other methods -------------------------------------------------------------------------------


def test_status_extensions_and_authenticate(spawn: SpawnFn, tmp_path: Path) -> None:
    agent = spawn()
    agent.initialize()
    cwd = str(tmp_path)
    mcp = result_of(agent, agent.request("qwen/status/workspace/mcp", {"cwd": cwd}))
    assert mcp["servers"] == [] and mcp["workspaceCwd"] == cwd
    assert result_of(agent, agent.request("qwen/status/workspace/skills", {"cwd": cwd}))["skills"] == []
    resource = result_of(agent, agent.request("qwen/status/workspace/resource", {"cwd": cwd}))
    assert 1_000_000 < resource["rssBytes"] < 500_000_000
    assert result_of(agent, agent.request("authenticate", {"methodId": "none"})) == {}


def test_unknown_methods_notifications_and_input(spawn: SpawnFn) -> None:
    agent = spawn()
    agent.initialize()
    reply = agent.call("qwen/control/session/turn_status", {"sessionId": "x"})
    assert reply["error"] == {"code": -32601, "message": "Method not found"}
    agent.notify("qwen/unknown/notification", {"x": 1})
    agent.send({"jsonrpc": "2.0", "id": 99, "result": {}})
    agent.send_raw(b"this is not json\n\n")
    assert agent.new_session()
    assert not any(m.get("id") == 99 for m in agent.messages)


# --- process lifecycle ---------------------------------------------------------------------------


def test_stdin_eof_exits_0_quickly_even_with_hung_prompt(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    agent.prompt(sid, "[[mock mode=hang-ignore-cancel]]")
    time.sleep(0.1)
    started = time.monotonic()
    agent.proc.stdin.close()
    assert agent.wait_exit() == 0
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_to_launcher_exits_0_and_child_gone(spawn: SpawnFn, signum: int) -> None:
    agent = spawn()
    sid = agent.start()
    agent.prompt(sid, "[[mock mode=hang]]")
    (child,) = agent.child_pids()
    assert pid_alive(child)
    agent.proc.send_signal(signum)
    assert agent.wait_exit() == 0
    assert not pid_alive(child)


def test_agent_dies_with_killed_launcher(spawn: SpawnFn) -> None:
    agent = spawn()
    agent.initialize()
    (child,) = agent.child_pids()
    agent.proc.kill()
    agent.wait_exit()
    until(lambda: not pid_alive(child), timeout_s=3, poll_s=0.02)
    assert not pid_alive(child)


def test_launcher_reports_missing_python(spawn: SpawnFn) -> None:
    agent = spawn(env={"QWEN_MOCK_ACP_PYTHON": "/nonexistent/python"})
    assert agent.wait_exit() == 127
    assert any("cannot start" in line for line in agent.stderr)


def test_spawn_to_initialize_time(spawn: SpawnFn) -> None:
    """Median launcher spawn → initialize answer over 7 runs (README target: ≤ 0.25 s)."""
    timings = []
    for _ in range(7):
        agent = spawn()
        result = agent.initialize()
        timings.append(time.perf_counter() - agent.started)
        assert result["protocolVersion"] == 1
        agent.stop()
        assert agent.wait_exit() == 0
    median = statistics.median(timings)
    print(
        f"\nmock ACP spawn->initialize: median {median * 1000:.1f} ms over {len(timings)} runs "
        f"(min {min(timings) * 1000:.1f}, max {max(timings) * 1000:.1f}); cpus={os.cpu_count()}"
    )


# --- the setting table ---------------------------------------------------------------------------


def test_setting_table_matches_prompt_settings() -> None:
    defaults = PromptSettings()
    assert tuple(SETTINGS) == tuple(f.name for f in dataclasses.fields(PromptSettings))
    for setting in PROMPT_SETTINGS:
        assert getattr(defaults, setting.name) == setting.default, setting.name
        assert setting.meaning.endswith(".") and setting.kind in ("int", "choice", "choices")
        setting.check(setting.default)
    for name, setting in CONFIG_SETTINGS.items():
        assert getattr(AgentConfig(), name) == setting.default


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tool_calls": 10001}, "mock setting 'tool_calls' must be an integer from 0 to 10000, got 10001"),
        ({"tool_kind": "hammer"}, "mock setting 'tool_kind' must be one of read, edit, delete"),
        ({"usage": "yes"}, "mock setting 'usage' must be one of off, on, got 'yes'"),
        ({"permission_at": 0}, "mock setting 'permission_at' must be an integer from 1 to 10000, got 0"),
        ({"permission_options": ""}, "mock setting 'permission_options' must be a comma-separated list"),
        ({"permission_options": "allow_once,allow_once"}, "mock setting 'permission_options' must be a comma"),
        ({"permission_options": "allow_once,maybe"}, "mock setting 'permission_options' .* got 'allow_once,maybe'"),
        ({"permission_options": ["allow_once"]}, "mock setting 'permission_options' must be a comma"),
    ],
)
def test_new_settings_validation_messages(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(MockSettingsError, match="^" + message):
        validate_overrides(overrides)


def test_directive_with_tool_and_permission_settings() -> None:
    text = format_directive(tool_calls=8, tool_output_bytes=2048, permissions=2, permission_options="reject_once")
    assert text == "[[mock tool_calls=8 tool_output_bytes=2048 permissions=2 permission_options=reject_once]]"
    assert parse_directive(text)[0] == {
        "tool_calls": 8,
        "tool_output_bytes": 2048,
        "permissions": 2,
        "permission_options": "reject_once",
    }


def test_check_turn_needs_enough_tool_calls() -> None:
    PromptSettings(tool_calls=3, permissions=2, permission_at=2).check_turn()
    with pytest.raises(MockSettingsError, match=r"'permissions' \(2\) .* needs tool_calls >= 3, got tool_calls=2"):
        PromptSettings(tool_calls=2, permissions=2, permission_at=2).check_turn()
    settings = PromptSettings(tool_calls=5, permissions=2, permission_at=3)
    assert [i for i in range(1, 6) if settings.asks_permission(i)] == [3, 4]


def test_read_report_skips_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "report.ndjson"
    assert read_report(path) == []
    path.write_text('{"event": "a"}\n{"event": "b"}\n{"event": "c"')
    assert [e["event"] for e in read_report(path)] == ["a", "b"]
    path.write_text('{"event": "a"}\n[1]\n')
    with pytest.raises(MockSettingsError, match="line 2 is not a JSON object"):
        read_report(path)


# --- tool calls, plan and usage over the wire ----------------------------------------------------


def report_of(agent: MockAgentProcess, path: Path, event: str | None = None, timeout: float = 5.0) -> list[dict]:
    """The agent's report events (only `event` if given), waiting until at least one such event exists."""
    deadline = time.monotonic() + timeout
    while True:
        events = [e for e in read_report(path) if event in (None, e["event"])]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


def tool_statuses(agent: MockAgentProcess, sid: str) -> list[tuple[str, str]]:
    """``(toolCallId, status)`` of every tool_call / tool_call_update sent for `sid`, in order."""
    return [
        (u["toolCallId"], u["status"])
        for u in agent.updates(sid)
        if u["sessionUpdate"] in ("tool_call", "tool_call_update")
    ]


def test_coding_turn_with_tool_calls_plan_and_usage(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    directive = "[[mock chunks=1 tool_calls=3 tool_output_bytes=2048 tool_fail_every=3 plan_entries=2 usage=on]]"
    assert result_of(agent, agent.prompt(sid, directive + " fix the bug")) == {"stopReason": "end_turn"}
    kinds = [u["sessionUpdate"] for u in agent.updates(sid)]
    assert kinds == ["plan", "agent_message_chunk"] + ["tool_call", "tool_call_update", "tool_call_update"] * 3 + [
        "plan",
        "usage_update",
    ]
    statuses = tool_statuses(agent, sid)
    assert [s for _, s in statuses] == ["pending", "in_progress", "completed"] * 2 + [
        "pending",
        "in_progress",
        "failed",
    ]
    assert len({call_id for call_id, _ in statuses}) == 3
    finals = [u for u in agent.updates(sid, "tool_call_update") if u["status"] in ("completed", "failed")]
    assert [len(u["content"][0]["content"]["text"]) for u in finals] == [2048] * 3
    assert finals[2]["rawOutput"] == {"error": "mock tool failure"}
    first_plan, last_plan = agent.updates(sid, "plan")
    assert [e["status"] for e in first_plan["entries"]] == ["pending"] * 2
    assert [e["status"] for e in last_plan["entries"]] == ["completed"] * 2
    (usage,) = agent.updates(sid, "usage_update")
    output_tokens = -(-(len("chunk-0") + 3 * 2048) // 4)
    assert usage["_meta"]["usage"]["outputTokens"] == output_tokens
    assert usage["used"] == usage["_meta"]["usage"]["inputTokens"] + output_tokens


def test_tool_call_ids_unique_across_prompts_and_delay(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"chunks": 0, "tool_calls": 2, "tool_delay_ms": 100, "tool_kind": "execute"}})
    sid = agent.start()
    started = time.monotonic()
    result_of(agent, agent.prompt(sid))
    assert time.monotonic() - started >= 0.2
    result_of(agent, agent.prompt(sid))
    assert len({call_id for call_id, _ in tool_statuses(agent, sid)}) == 4
    assert {u["kind"] for u in agent.updates(sid, "tool_call")} == {"execute"}


def test_cancel_during_tool_delay_ends_turn(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock chunks=0 tool_calls=5 tool_delay_ms=5000]]")
    agent.wait_for(
        lambda m: m.get("method") == "session/update" and m["params"]["update"].get("status") == "in_progress"
    )
    agent.notify("session/cancel", {"sessionId": sid})
    assert result_of(agent, msg_id) == {"stopReason": "cancelled"}
    assert len(agent.updates(sid, "tool_call")) == 1


def test_too_many_permissions_fail_before_anything_is_sent(spawn: SpawnFn) -> None:
    agent = spawn()
    sid = agent.start()
    reply = agent.response(agent.prompt(sid, "[[mock tool_calls=1 permissions=2]]"))
    assert reply["error"]["code"] == -32602
    assert "'permissions' (2)" in reply["error"]["message"] and "tool_calls=1" in reply["error"]["message"]
    reply = agent.response(agent.prompt(sid, "[[mock permission_options=allow_sometimes]]"))
    assert "'permission_options'" in reply["error"]["message"]
    assert agent.updates(sid) == [] and agent.agent_requests() == []


# --- permission requests -------------------------------------------------------------------------


@pytest.fixture
def reporting(tmp_path: Path, spawn: SpawnFn) -> Callable[..., tuple[MockAgentProcess, Path]]:
    """Spawn an agent with a control file; return it and its report path (next to the control file)."""

    def factory(**defaults: Any) -> tuple[MockAgentProcess, Path]:
        folder = tmp_path / f"mock-{len(list(tmp_path.glob('mock-*')))}"
        folder.mkdir()
        agent = spawn(config={"control_file": str(folder / "control.json"), "defaults": defaults})
        return agent, folder / REPORT_FILE_NAME

    return factory


def test_permission_allow_continues_the_tool_call(reporting: Callable[..., tuple[MockAgentProcess, Path]]) -> None:
    agent, report = reporting(chunks=0)
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock tool_calls=2 permissions=1 permission_at=2]]")
    request = agent.next_agent_request(0)
    params = request["params"]
    assert params["sessionId"] == sid
    assert [o["optionId"] for o in params["options"]] == ["allow_once", "allow_always", "reject_once"]
    assert [o["kind"] for o in params["options"]] == ["allow_once", "allow_always", "reject_once"]
    second = params["toolCall"]["toolCallId"]
    assert tool_statuses(agent, sid)[-1] == (second, "pending")
    assert [s for _, s in tool_statuses(agent, sid)] == ["pending", "in_progress", "completed", "pending"]
    assert_unanswered(agent, msg_id, 0.2)
    agent.answer(request, {"outcome": {"outcome": "selected", "optionId": "allow_always"}})
    assert result_of(agent, msg_id) == {"stopReason": "end_turn"}
    assert tool_statuses(agent, sid)[-2:] == [(second, "in_progress"), (second, "completed")]
    (outcome,) = report_of(agent, report, "permission_outcome")
    assert outcome["requestId"] == request["id"] and outcome["toolCallId"] == second
    assert (outcome["outcome"], outcome["optionId"], outcome["action"]) == ("selected", "allow_always", "allow")
    assert outcome["late"] is False
    assert outcome["waitedMs"] >= 200
    (finished,) = report_of(agent, report, "prompt_finished")
    assert finished["stopReason"] == "end_turn"
    assert finished["sent"]["permissionRequests"] == 1 and finished["sent"]["toolCallsCompleted"] == 2


def test_permission_reject_fails_that_tool_call_and_goes_on(spawn: SpawnFn) -> None:
    agent = spawn(config={"defaults": {"chunks": 0}})
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock tool_calls=3 permissions=2 permission_options=reject_once,allow_once]]")
    first = agent.next_agent_request(0)
    agent.answer(first, {"outcome": {"outcome": "selected", "optionId": "reject_once"}})
    second = agent.next_agent_request(1)
    agent.answer(second, {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    assert result_of(agent, msg_id) == {"stopReason": "end_turn"}
    assert [s for _, s in tool_statuses(agent, sid)] == ["pending", "failed"] + [
        "pending",
        "in_progress",
        "completed",
    ] * 2
    rejected = agent.updates(sid, "tool_call_update")[0]
    assert rejected["toolCallId"] == first["params"]["toolCall"]["toolCallId"]
    assert "rejected" in rejected["content"][0]["content"]["text"]


def test_permission_cancelled_outcome_ends_turn_cancelled(
    reporting: Callable[..., tuple[MockAgentProcess, Path]],
) -> None:
    agent, report = reporting(chunks=0)
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock tool_calls=4 permissions=1 permission_at=2]]")
    agent.answer(agent.next_agent_request(0), {"outcome": {"outcome": "cancelled"}, "_meta": {"reason": "timeout"}})
    assert result_of(agent, msg_id) == {"stopReason": "cancelled"}
    assert len(agent.updates(sid, "tool_call")) == 2
    (outcome,) = report_of(agent, report, "permission_outcome")
    assert (outcome["outcome"], outcome["action"], outcome["meta"]) == (
        "cancelled",
        "cancel_turn",
        {"reason": "timeout"},
    )
    assert report_of(agent, report, "prompt_finished")[0]["stopReason"] == "cancelled"


@pytest.mark.parametrize("via", ["session/cancel", "craft/cancelPendingPrompt", "qwen/control/session/close"])
def test_cancel_while_permission_pending_ends_turn(
    reporting: Callable[..., tuple[MockAgentProcess, Path]], via: str
) -> None:
    agent, report = reporting(chunks=0)
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock tool_calls=2 permissions=2]]")
    request = agent.next_agent_request(0)
    if via == "session/cancel":
        agent.notify(via, {"sessionId": sid})
    else:
        result_of(agent, agent.request(via, {"sessionId": sid}))
    assert result_of(agent, msg_id) == {"stopReason": "cancelled"}
    assert len(agent.agent_requests()) == 1
    agent.answer(request, {"outcome": {"outcome": "cancelled"}})
    (late,) = report_of(agent, report, "permission_outcome")
    assert late["requestId"] == request["id"] and late["outcome"] == "cancelled" and late["late"] is True
    (cancel,) = report_of(agent, report, "cancel")
    assert cancel["via"] == via and cancel["pendingPermissions"] == [request["id"]]
    (abandoned,) = report_of(agent, report, "permission_abandoned")
    assert abandoned["requestId"] == request["id"]
    assert abandoned["mono"] >= cancel["mono"]


@pytest.mark.parametrize(
    "answer",
    [
        {"result": {"outcome": {"outcome": "selected", "optionId": "allow_sometimes"}}},
        {"result": {"outcome": "selected"}},
        {"result": {}},
        {"code": -32603, "message": "client failure"},
    ],
)
def test_invalid_permission_answer_fails_the_tool_call(
    reporting: Callable[..., tuple[MockAgentProcess, Path]], answer: dict[str, Any]
) -> None:
    agent, report = reporting(chunks=0)
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock tool_calls=2 permissions=1]]")
    request = agent.next_agent_request(0)
    if "result" in answer:
        agent.answer(request, answer["result"])
    else:
        agent.answer(request, **answer)
    assert result_of(agent, msg_id) == {"stopReason": "end_turn"}
    assert [s for _, s in tool_statuses(agent, sid)][:2] == ["pending", "failed"]
    (outcome,) = report_of(agent, report, "permission_outcome")
    assert outcome["action"] == "invalid"


def test_pending_permission_does_not_block_other_sessions(spawn: SpawnFn) -> None:
    agent = spawn()
    agent.initialize()
    waiting, other = agent.new_session(), agent.new_session()
    waiting_id = agent.prompt(waiting, "[[mock tool_calls=1 permissions=1]]")
    request = agent.next_agent_request(0)
    assert result_of(agent, agent.prompt(other, "[[mock tool_calls=2]]")) == {"stopReason": "end_turn"}
    assert not agent.has_response(waiting_id)
    agent.answer(request, {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    assert result_of(agent, waiting_id) == {"stopReason": "end_turn"}


def test_stray_response_is_reported_and_ignored(reporting: Callable[..., tuple[MockAgentProcess, Path]]) -> None:
    agent, report = reporting()
    sid = agent.start()
    agent.send({"jsonrpc": "2.0", "id": "mock-999", "result": {"outcome": {"outcome": "cancelled"}}})
    assert result_of(agent, agent.prompt(sid)) == {"stopReason": "end_turn"}
    assert report_of(agent, report, "stray_response")[0]["requestId"] == "mock-999"


# --- the report ----------------------------------------------------------------------------------


def test_report_lines_carry_both_clocks_and_are_flushed(
    reporting: Callable[..., tuple[MockAgentProcess, Path]],
) -> None:
    agent, report = reporting()
    before_wall = time.time()
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock mode=hang chunks=2]] hi")
    started = report_of(agent, report, "prompt_started")
    assert started, "the prompt_started line must be on disk while the prompt still runs"
    (event,) = started
    assert event["sessionId"] == sid and event["requestId"] == msg_id and event["pid"] > 0
    assert event["settings"]["mode"] == "hang" and event["settings"]["chunks"] == 2
    assert before_wall <= event["wall"] <= time.time()
    assert 0 < event["mono"] <= time.monotonic() + 1  # CLOCK_MONOTONIC is shared by the processes of one boot
    until(lambda: len(agent.chunks(sid)) >= 2, timeout_s=10)  # both chunks out before the cancel
    agent.notify("session/cancel", {"sessionId": sid})
    result_of(agent, msg_id)
    events = report_of(agent, report)
    assert [e["event"] for e in events] == ["session_new", "prompt_started", "cancel", "prompt_finished"]
    assert [e["mono"] for e in events] == sorted(e["mono"] for e in events)
    assert events[-1]["sent"]["chunks"] == 2 and events[-1]["stopReason"] == "cancelled"


def test_rejected_prompt_and_crash_are_reported(reporting: Callable[..., tuple[MockAgentProcess, Path]]) -> None:
    agent, report = reporting()
    sid = agent.start()
    agent.response(agent.prompt(sid, "[[mock chunks=x]]"))
    assert "'chunks'" in report_of(agent, report, "prompt_rejected")[0]["error"]
    agent.prompt(sid, "[[mock mode=crash-mid chunks=1]]")
    assert agent.wait_exit() == 1
    assert report_of(agent, report, "exit")[0]["reason"] == "crash-mid"


def test_no_report_without_control_file(spawn: SpawnFn, tmp_path: Path) -> None:
    agent = spawn()
    sid = agent.start()
    result_of(agent, agent.prompt(sid, "[[mock tool_calls=1]]"))
    agent.stop()
    assert not list(tmp_path.rglob(REPORT_FILE_NAME))


def test_tool_batch_sends_permission_requests_together(reporting: Callable[..., tuple[MockAgentProcess, Path]]) -> None:
    agent, report = reporting(chunks=0)
    sid = agent.start()
    msg_id = agent.prompt(sid, "[[mock tool_calls=4 tool_batch=3 permissions=3 permission_at=2]]")
    agent.wait_for(lambda _m: len(agent.agent_requests()) == 2)
    assert [s for _, s in tool_statuses(agent, sid)] == ["pending"] * 3
    first, second = agent.agent_requests()
    agent.answer(second, {"outcome": {"outcome": "selected", "optionId": "reject_once"}})
    assert_unanswered(agent, msg_id, 0.2)
    agent.answer(first, {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    third = agent.next_agent_request(2)
    assert third["params"]["toolCall"]["title"].endswith("#4")
    agent.answer(third, {"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    assert result_of(agent, msg_id) == {"stopReason": "end_turn"}
    finals = {call_id: status for call_id, status in tool_statuses(agent, sid) if status in ("completed", "failed")}
    assert list(finals.values()) == ["completed", "completed", "failed", "completed"]
    assert finals[second["params"]["toolCall"]["toolCallId"]] == "failed"
    outcomes = report_of(agent, report, "permission_outcome")
    assert [o["requestId"] for o in outcomes] == [second["id"], first["id"], third["id"]], "reported as they arrive"


# --- session restore -----------------------------------------------------------------------------


def load(agent: MockAgentProcess, sid: str, method: str = "session/load", meta: dict | None = None) -> dict:
    """Send `session/load` (or `session/resume`) the way the daemon does and return the reply."""
    params: dict[str, Any] = {"sessionId": sid, "cwd": os.getcwd(), "mcpServers": []}
    if meta is not None:
        params["_meta"] = meta
    return agent.call(method, params)


def test_load_replays_history_in_a_new_agent_process(reporting: Callable[..., tuple[MockAgentProcess, Path]]) -> None:
    first, report = reporting(chunks=2)
    sid = first.start()
    result_of(first, first.prompt(sid, "[[mock tool_calls=2 plan_entries=1 usage=on]] one"))
    result_of(first, first.prompt(sid, "two"))
    sent = first.updates(sid)
    first.stop()
    config = {"control_file": str(report.parent / "control.json")}
    second = spawn_like(first, config)
    second.initialize()
    assert load(second, sid)["result"] == {}
    replayed = second.updates(sid)
    user = [u["content"]["text"] for u in replayed if u["sessionUpdate"] == "user_message_chunk"]
    assert user == ["[[mock tool_calls=2 plan_entries=1 usage=on]] one", "two"]
    assert [u for u in replayed if u["sessionUpdate"] != "user_message_chunk"] == sent
    (loaded,) = report_of(second, report, "session_load")
    assert loaded["replayedUpdates"] == len(replayed) and loaded["replay"] == "stream"
    assert result_of(second, second.prompt(sid, "three")) == {"stopReason": "end_turn"}


def spawn_like(agent: MockAgentProcess, config: dict[str, Any]) -> MockAgentProcess:
    """A second agent process with `config` (stopped by the test)."""
    path = Path(config["control_file"]).parent / "config-2.json"
    AgentConfig.from_dict(config).write(path)
    fresh = MockAgentProcess(env={"QWEN_MOCK_ACP_CONFIG": str(path)}, cwd=path.parent)
    SPAWNED.append(fresh)
    return fresh


SPAWNED: list[MockAgentProcess] = []


@pytest.fixture(autouse=True)
def _stop_spawned(acp_validator: AcpValidator) -> Iterator[None]:
    yield
    while SPAWNED:
        agent = SPAWNED.pop()
        agent.stop()
        for message in agent.messages:
            acp_validator.check(message, agent.methods.get(message.get("id", -1)))


def test_resume_restores_without_replay_and_unknown_is_not_found(
    reporting: Callable[..., tuple[MockAgentProcess, Path]],
) -> None:
    agent, report = reporting()
    sid = agent.start()
    result_of(agent, agent.prompt(sid))
    before = len(agent.updates(sid))
    assert load(agent, sid, "session/resume")["result"] == {}
    assert len(agent.updates(sid)) == before
    assert report_of(agent, report, "session_resume")[0]["historyUpdates"] == before + 1
    unknown = "7d0b8e1c-0000-4000-8000-000000000000"
    reply = load(agent, unknown)
    assert reply["error"] == {
        "code": -32002,
        "message": f"Resource not found: session:{unknown}",
        "data": {"uri": f"session:{unknown}"},
    }
    assert load(agent, unknown, "session/resume")["error"]["code"] == -32002
    caps = agent.initialize()["agentCapabilities"]
    assert caps["loadSession"] is True and caps["sessionCapabilities"] == {"resume": {}}


def test_history_is_capped_at_the_newest_updates(tmp_path: Path, spawn: SpawnFn) -> None:
    agent = spawn(config={"control_file": str(tmp_path / "control.json"), "history_max_updates": 5})
    sid = agent.start()
    result_of(agent, agent.prompt(sid, "[[mock chunks=10]] x"))
    load(agent, sid)
    replayed = agent.updates(sid)[10:]
    assert [u["content"]["text"] for u in replayed] == [f"chunk-{i}" for i in range(5, 10)]
    agent.stop()
    lines = (tmp_path / "sessions" / f"{sid}.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["sessionId"] == sid and len(lines) == 1 + 5


def test_bulk_replay_only_when_configured_and_asked(tmp_path: Path, spawn: SpawnFn) -> None:
    agent = spawn(config={"control_file": str(tmp_path / "control.json"), "load_replay": "bulk"})
    sid = agent.start()
    result_of(agent, agent.prompt(sid, "[[mock chunks=2 tool_calls=1]] x"))
    sent = len(agent.updates(sid))
    reply = load(agent, sid, meta={"qwen.session.loadReplayMode": "bulk"})
    bulk = reply["result"]["_meta"]["qwen.session.loadReplay"]
    kinds = [u["sessionUpdate"] for u in bulk["updates"]]
    assert bulk["v"] == 1 and kinds[:2] == ["user_message_chunk", "agent_message_chunk"]
    assert len(bulk["updates"]) == sent + 1 and len(agent.updates(sid)) == sent
    assert load(agent, sid)["result"] == {}
    assert len(agent.updates(sid)) == 2 * sent + 1


def test_sessions_live_in_memory_without_a_control_file(spawn: SpawnFn, tmp_path: Path) -> None:
    agent = spawn()
    sid = agent.start()
    result_of(agent, agent.prompt(sid, "[[mock chunks=1]] x"))
    assert load(agent, sid)["result"] == {}
    assert agent.chunks(sid) == ["chunk-0", "chunk-0"]
    assert not list(tmp_path.rglob("*.jsonl"))


def test_closed_session_loads_from_its_file(tmp_path: Path, spawn: SpawnFn) -> None:
    agent = spawn(config={"control_file": str(tmp_path / "control.json")})
    sid = agent.start()
    result_of(agent, agent.prompt(sid, "[[mock chunks=2 tool_calls=1]] x"))
    sent = agent.updates(sid)
    result_of(agent, agent.request("qwen/control/session/close", {"sessionId": sid}))
    (tmp_path / "sessions" / f"{sid}.jsonl").write_text(
        (tmp_path / "sessions" / f"{sid}.jsonl").read_text() + '{"sessionUpdate": "agent_message_chunk", '
        '"content": {"type": "text", "text": "appended to the file"}}\n'
    )
    assert load(agent, sid)["result"] == {}
    replayed = agent.updates(sid)[len(sent) :]
    assert replayed[1 : len(sent) + 1] == sent and replayed[-1]["content"]["text"] == "appended to the file"


def test_close_and_exit_right_after_a_big_turn_keep_its_history(tmp_path: Path, spawn: SpawnFn) -> None:
    agent = spawn(config={"control_file": str(tmp_path / "control.json"), "history_max_updates": 20000})
    sid = agent.start()
    result_of(agent, agent.prompt(sid, "[[mock chunks=400 chunk_size=10000]] big"), timeout=30)
    agent.request("qwen/control/session/close", {"sessionId": sid})
    load_id = agent.request("session/load", {"sessionId": sid, "cwd": os.getcwd(), "mcpServers": []})
    assert result_of(agent, load_id, timeout=30) == {}
    assert len(agent.chunks(sid)) == 800
    result_of(agent, agent.prompt(sid, "[[mock chunks=400 chunk_size=10000]] again"), timeout=30)
    agent.proc.stdin.close()
    assert agent.wait_exit(10) == 0
    lines = (tmp_path / "sessions" / f"{sid}.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 2 * 401


def test_turns_reach_the_session_file_in_the_order_they_were_remembered(tmp_path):
    # A later turn's answer can go out (and its persist run) before an earlier turn's: the file must still hold
    # the turns in the order the session played them, or a restore replays them out of order.
    from mock_acp.sessions import SessionStore

    store = SessionStore(str(tmp_path), max_updates=100)
    store.create("s1", "/w")
    first = store.remember("s1", [{"n": 1}, {"n": 2}])
    second = store.remember("s1", [{"n": 3}])
    store.persist("s1", second)
    assert not store.wait_saved("s1", 0.01)  # the second turn waits for the first
    store.persist("s1", first)
    assert store.wait_saved("s1", 1.0)
    lines = (tmp_path / "s1.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line).get("n") for line in lines[1:]] == [1, 2, 3]
    fresh = SessionStore(str(tmp_path), max_updates=100)
    assert [u["n"] for u in fresh.history("s1")] == [1, 2, 3]


# --- the chat record and the transcript pages ----------------------------------------------------


def chat_config(tmp_path: Path) -> dict[str, Any]:
    """A config whose agent writes chat records under ``tmp_path/home/.qwen`` (the daemon's HOME)."""
    return {"control_file": str(tmp_path / "control.json"), "qwen_dir": str(tmp_path / "home" / ".qwen")}


def where_the_daemon_looks(tmp_path: Path, sid: str) -> Path:
    """``<HOME>/.qwen/projects/<cwd, every non-alphanumeric character as "-">/chats/<sid>.jsonl`` (0.24.4)."""
    project = "".join(c if c.isascii() and c.isalnum() else "-" for c in os.getcwd())
    return tmp_path / "home" / ".qwen" / "projects" / project / "chats" / f"{sid}.jsonl"


def prompt_as_daemon(agent: MockAgentProcess, sid: str, text: str, prompt_id: str) -> int:
    """A prompt with the daemon's prompt id in ``_meta["qwen-code/invocation"]``, as the daemon sends it."""
    params = {
        "sessionId": sid,
        "prompt": [{"type": "text", "text": text}],
        "_meta": {"qwen-code/invocation": {"promptId": prompt_id}},
    }
    return agent.request("session/prompt", params)


def transcript_pages(agent: MockAgentProcess, sid: str, limit: int) -> list[dict]:
    """Every page of ``qwen/status/session/transcript``, cursor by cursor (at most 50)."""
    pages: list[dict] = []
    cursor = None
    for _ in range(50):
        params = {"sessionId": sid, "cwd": os.getcwd(), "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = result_of(agent, agent.request("qwen/status/session/transcript", params))
        pages.append(page)
        if not page["hasMore"]:
            return pages
        cursor = page["nextCursor"]
    raise AssertionError("the transcript did not end within 50 pages")


def test_each_turn_goes_to_the_chat_record_where_the_daemon_looks(tmp_path: Path, spawn: SpawnFn) -> None:
    agent = spawn(config=chat_config(tmp_path))
    sid = agent.start()
    first = "[[mock chunks=2 tool_calls=2 tool_fail_every=2 tool_output_bytes=8]] one"
    result_of(agent, prompt_as_daemon(agent, sid, first, "p-1"))
    result_of(agent, prompt_as_daemon(agent, sid, "two", "p-2"))
    calls = [u["toolCallId"] for u in agent.updates(sid, "tool_call")]
    agent.stop()
    records = [json.loads(line) for line in where_the_daemon_looks(tmp_path, sid).read_text().splitlines()]
    assert [r["type"] for r in records] == ["user", "assistant", "tool_result", "tool_result", "user", "assistant"]
    assert all(r["sessionId"] == sid and r["cwd"] == os.getcwd() for r in records)
    assert records[0]["parentUuid"] is None
    assert [r["parentUuid"] for r in records[1:]] == [r["uuid"] for r in records[:-1]]
    assert len({r["uuid"] for r in records}) == len(records)
    assert [(r["daemonPromptId"], r["message"]["parts"]) for r in (records[0], records[4])] == [
        ("p-1", [{"text": first}]),
        ("p-2", [{"text": "two"}]),
    ]
    parts = records[1]["message"]["parts"]
    assert parts[0] == {"text": "chunk-0chunk-1"} and [p["functionCall"]["id"] for p in parts[1:]] == calls
    results = [(r["toolCallResult"]["callId"], r["toolCallResult"]["status"]) for r in records[2:4]]
    assert results == [(calls[0], "success"), (calls[1], "error")]
    assert records[5]["message"]["parts"] == [{"text": "chunk-0chunk-1chunk-2"}]


def test_the_transcript_pages_the_chat_record_in_a_new_agent_process(
    tmp_path: Path, spawn: SpawnFn, acp_validator: AcpValidator
) -> None:
    first = spawn(config=chat_config(tmp_path))
    sid = first.start()
    for number, text in enumerate(("one", "[[mock chunks=1]] two", "three"), start=1):
        result_of(first, prompt_as_daemon(first, sid, text, f"p-{number}"))
    first.stop()
    second = spawn(config=chat_config(tmp_path))
    second.initialize()
    pages = transcript_pages(second, sid, limit=2)
    assert [len(p["events"]) for p in pages] == [2, 2, 2] and all(p["sessionId"] == sid for p in pages)
    updates = [e["data"] for p in pages for e in p["events"]]
    for update in updates:
        acp_validator.definition("SessionUpdate").validate(update)
    users = [(u["content"]["text"], u["_meta"]["promptId"]) for u in updates if "user" in u["sessionUpdate"]]
    assert users == [("one", "p-1"), ("[[mock chunks=1]] two", "p-2"), ("three", "p-3")]
    agents = [u["content"]["text"] for u in updates if u["sessionUpdate"] == "agent_message_chunk"]
    assert agents == ["chunk-0chunk-1chunk-2", "chunk-0", "chunk-0chunk-1chunk-2"]
    # a turn of the new process continues the chain after the last record the first one wrote
    assert load(second, sid)["result"] == {}
    result_of(second, prompt_as_daemon(second, sid, "four", "p-4"))
    assert [len(p["events"]) for p in transcript_pages(second, sid, limit=500)] == [8]
    records = [json.loads(line) for line in where_the_daemon_looks(tmp_path, sid).read_text().splitlines()]
    assert records[6]["parentUuid"] == records[5]["uuid"] and records[6]["daemonPromptId"] == "p-4"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"sessionId": "7d0b8e1c-0000-4000-8000-000000000000"}, -32002),
        ({"cursor": "not-a-cursor"}, -32602),
        ({"direction": "backward"}, -32602),
        ({"limit": 0}, -32602),
        ({"limit": 501}, -32602),
    ],
    ids=["unknown-session", "bad-cursor", "backward", "limit-0", "limit-501"],
)
def test_a_transcript_request_the_mock_cannot_answer_gets_an_error(
    tmp_path: Path, spawn: SpawnFn, params: dict[str, Any], code: int
) -> None:
    agent = spawn(config=chat_config(tmp_path))
    sid = agent.start()
    result_of(agent, prompt_as_daemon(agent, sid, "one", "p-1"))
    reply = agent.call("qwen/status/session/transcript", {"sessionId": sid, "cwd": os.getcwd(), **params})
    assert reply["error"]["code"] == code
    if code == -32002:
        assert reply["error"]["data"] == {"uri": f"session:{params['sessionId']}"}


def test_without_a_qwen_dir_no_chat_record_is_written(tmp_path: Path, spawn: SpawnFn) -> None:
    agent = spawn(config={"control_file": str(tmp_path / "control.json")})
    sid = agent.start()
    result_of(agent, prompt_as_daemon(agent, sid, "one", "p-1"))
    reply = agent.call("qwen/status/session/transcript", {"sessionId": sid, "cwd": os.getcwd()})
    agent.stop()
    assert reply["error"]["code"] == -32002
    project = "".join(c if c.isascii() and c.isalnum() else "-" for c in os.getcwd())
    assert not (Path.home() / ".qwen" / "projects" / project / "chats" / f"{sid}.jsonl").exists()
    assert not list(tmp_path.rglob("chats"))


def test_chat_records_keep_the_order_the_turns_were_played_in(tmp_path: Path) -> None:
    # A later turn's persist can run first (its answer went out first): the chat record must still hold the
    # turns in the order the session played them, or the transcript shows them out of order.
    from mock_acp.sessions import SessionStore
    from mock_acp.transcript import ChatLog, read_records

    sid = "0f6c3a1e-1111-4222-8333-444455556666"
    store = SessionStore(str(tmp_path / "sessions"), 100, ChatLog(str(tmp_path / "qwen")))
    store.create(sid, "/w")
    turns = [[{"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": t}}] for t in ("a", "b")]
    first, second = (store.remember(sid, turn) for turn in turns)
    store.persist(sid, second)
    store.persist(sid, first)
    records = read_records(str(tmp_path / "qwen" / "projects" / "-w" / "chats" / f"{sid}.jsonl"))
    assert [r["message"]["parts"][0]["text"] for r in records] == ["a", "b"]
    assert records[1]["parentUuid"] == records[0]["uuid"]
