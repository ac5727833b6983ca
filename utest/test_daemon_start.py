"""Starting a daemon without a daemon: the flag table, mock settings, the start keywords' checks, the
deprecated `Start Daemon`, `Stop All Daemons` with leftovers, the daemon's errors and the layering rule."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from waiting import until

from keywords.components.daemon_keywords import DaemonKeywords, StopResult
from keywords.context import HarnessContext, RunningDaemon
from keywords.daemon import flags
from keywords.daemon.daemon_process import DaemonSpec
from keywords.daemon.liveness import is_alive
from keywords.daemon.provision import DaemonSource
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_control
from keywords.reporting.figures import non_camel_keys

ROOT = Path(__file__).parent.parent
NEW_FLAGS = (
    "max_total_sessions",
    "max_journal_events",
    "max_journal_bytes",
    "compacted_replay_max_bytes",
    "permission_response_timeout_ms",
    "session_restore_timeout_ms",
    "session_prompt_settled_close_grace_ms",
    "channel_idle_timeout_ms",
    "rate_limit",
    "rate_limit_prompt",
    "rate_limit_mutation",
    "rate_limit_read",
    "rate_limit_window_ms",
)


# -- the flag table ------------------------------------------------------------------------------
def test_table_has_the_flags_a_test_may_set():
    old = inspect.signature(DaemonKeywords.start_daemon).parameters
    old_flags = [
        n
        for n in old
        if not n.startswith("mock_") and n.endswith(("_sessions", "_connections", "_prompts", "_size", "_ms"))
    ]
    assert len(old_flags) == 9, old_flags
    assert set(old_flags) | set(NEW_FLAGS) <= set(flags.FLAGS)
    assert flags.FLAGS["max_pending_prompts"].flag == "--max-pending-prompts-per-session"
    for name, flag in flags.FLAGS.items():
        assert flag.name == name
        assert flag.flag == "--" + flag.flag[2:].lower() and flag.flag.startswith("--")
        assert flag.description.endswith(".") and "\n" not in flag.description


def test_flags_convert_robot_texts_and_build_the_command_line_in_table_order():
    given = flags.check_flags(
        {"prompt_deadline_ms": "1500", "max_sessions": 0, "rate_limit": "True", "rate_limit_read": "3"}
    )
    assert given == {"prompt_deadline_ms": 1500, "max_sessions": 0, "rate_limit": True, "rate_limit_read": 3}
    assert flags.argv(given) == [
        "--max-sessions",
        "0",
        "--prompt-deadline-ms",
        "1500",
        "--rate-limit",
        "--rate-limit-read",
        "3",
    ]
    assert flags.argv(flags.check_flags({"rate_limit": False})) == []


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"max_session": 3}, "Unknown daemon flag 'max_session'; known: max_sessions, max_total_sessions,"),
        ({"max_sessions": -1}, "max_sessions must be a whole number from 0 to 2147483647, got -1."),
        ({"max_sessions": "many"}, "max_sessions must be a whole number from 0 to 2147483647, got 'many'."),
        ({"prompt_deadline_ms": 0}, "prompt_deadline_ms must be a whole number from 1 to 2147483647 ms, got 0."),
        ({"event_ring_size": 1_000_001}, "event_ring_size must be a whole number from 1 to 1000000, got 1000001."),
        ({"max_sessions": True}, "max_sessions must be a whole number"),
        ({"rate_limit": "maybe"}, "rate_limit is a switch and must be True or False, got 'maybe'."),
        ({"rate_limit_prompt": 5}, "rate_limit_prompt only works with the daemon's --rate-limit: add rate_limit="),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(given, message):
    with pytest.raises(HarnessConfigError) as err:
        flags.check_flags(given)
    assert message in str(err.value)


def test_unknown_flag_message_lists_every_known_flag():
    with pytest.raises(HarnessConfigError) as err:
        flags.check_flags({"bogus": 1})
    assert all(name in str(err.value) for name in flags.FLAGS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--max-sessions", "3"],
            "extra_args repeats the daemon flag --max-sessions: use the named flag max_sessions=",
        ),
        (["--event-ring-size=5"], "use the named flag event_ring_size="),
        (["--no-rate-limit"], "use the named flag rate_limit="),
        (["--token", "s3cret"], "extra_args may not contain --token: use the token argument"),
        (["--port", "4170"], "extra_args may not contain --port"),
        (["--no-web"], "extra_args may not contain --web"),
    ],
)
def test_extra_args_may_not_repeat_a_flag(args, message):
    with pytest.raises(HarnessConfigError) as err:
        flags.check_extra_args(args)
    assert message in str(err.value)


def test_extra_args_that_are_no_table_flag_pass_as_texts():
    assert flags.check_extra_args(["--bogus-flag", 3]) == ["--bogus-flag", "3"]


def test_library_introduction_has_the_generated_flag_section():
    from keywords.library import QwenServe

    intro = QwenServe().get_keyword_documentation("__intro__")
    section = intro.split("= Daemon flags =", 1)[1].split("\n= ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ``")]
    assert len(rows) == len(flags.FLAGS)
    for row, (name, flag) in zip(rows, flags.FLAGS.items(), strict=True):
        assert row.startswith(f"| ``{name}`` | ``{flag.flag}`` | ")


def _spec(tmp_path, **fields) -> DaemonSpec:
    entry = tmp_path / "cli.js"
    entry.write_text("")
    source = DaemonSource(kind="local", entry=str(entry), version="x", label="test build")
    return DaemonSpec(source=source, node="node", **fields)


def test_spec_builds_its_command_line_from_the_table_and_keeps_the_token_off_it(tmp_path):
    spec = _spec(tmp_path, flags={"max_sessions": "0", "rate_limit": True}, token="t0ken", require_auth=True)
    spec.validate()
    argv = spec.argv("/ws")
    assert argv[argv.index("--max-sessions") + 1] == "0" and "--rate-limit" in argv and "--require-auth" in argv
    assert not any("t0ken" in word for word in argv)


def test_spec_refuses_bad_flags_and_boot_timeout(tmp_path):
    with pytest.raises(HarnessConfigError, match="Unknown daemon flag 'bogus'"):
        _spec(tmp_path, flags={"bogus": 1}).validate()
    with pytest.raises(HarnessConfigError, match="boot_timeout must be a number above 0 and at most 600 s"):
        _spec(tmp_path, boot_timeout_s=0).validate()
    with pytest.raises(HarnessConfigError, match="extra_args repeats the daemon flag --max-sessions"):
        _spec(tmp_path, extra_args=["--max-sessions=2"]).validate()


# -- mock settings: one place, through keywords.checks --------------------------------------------
def test_mock_settings_from_robot_texts_are_converted_once():
    assert mock_control.prompt_settings(chunks="5", mode="hang", chunk_delay_ms=None) == {"chunks": 5, "mode": "hang"}
    assert mock_control.directive(chunks="2") == "[[mock chunks=2]]"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"chunks": -1}, "chunks must be a whole number from 0 to 100000, got -1."),
        ({"chunk_delay_ms": "slow"}, "chunk_delay_ms must be a whole number from 0 to 86400000 ms, got 'slow'."),
        ({"mode": "explode"}, "mode must be one of echo, reject, crash-on-prompt"),
        ({"colour": 1}, "Unknown mock setting 'colour'; known: mode, chunks"),
    ],
)
def test_bad_mock_settings_name_the_setting_and_its_range(given, message):
    with pytest.raises(HarnessConfigError) as err:
        mock_control.prompt_settings(**given)
    assert message in str(err.value)


def test_mock_start_settings_are_checked(tmp_path):
    with pytest.raises(HarnessConfigError, match="init_mode must be one of normal, never, exit, no-guard"):
        mock_control.agent_env(tmp_path, init_mode="sometimes")
    with pytest.raises(HarnessConfigError, match="new_session_delay_ms must be a whole number from 0"):
        mock_control.agent_env(tmp_path, new_session_delay_ms=-1)


def test_mock_keywords_hand_robot_texts_to_mock_control_unconverted(monkeypatch):
    """Send Prompt and Mock Directive pass their free named settings straight to mock_control, which converts."""
    from keywords.components.mock_keywords import MockKeywords

    assert MockKeywords(HarnessContext()).mock_directive(chunks="4", mode="hang") == "[[mock mode=hang chunks=4]]"
    with pytest.raises(HarnessConfigError, match="chunks must be a whole number from 0 to 100000, got '-4'"):
        MockKeywords(HarnessContext()).mock_directive(chunks="-4")


# -- the start keywords and the deprecated one ----------------------------------------------------
@pytest.fixture()
def keywords_():
    ctx = HarnessContext()
    return DaemonKeywords(ctx)


def test_mock_start_refuses_an_unknown_flag_before_anything_starts(keywords_, monkeypatch):
    monkeypatch.setattr(keywords_.ctx, "node", lambda: pytest.fail("Node.js must not be asked for"))
    with pytest.raises(HarnessConfigError, match="Unknown daemon flag 'chunk'; known: max_sessions"):
        keywords_.start_daemon_with_mock_agent(chunk=3)
    with pytest.raises(HarnessConfigError, match="Unknown daemon flag 'provider_url'"):
        keywords_.start_daemon_with_mock_agent(provider_url="http://127.0.0.1:9/v1")
    assert keywords_.ctx.daemons == {}


def test_real_start_refuses_mock_settings_and_off_loopback_providers(keywords_, monkeypatch):
    monkeypatch.setattr(keywords_.ctx, "node", lambda: pytest.fail("Node.js must not be asked for"))
    with pytest.raises(HarnessConfigError, match="Unknown daemon flag 'chunks'"):
        keywords_.start_daemon_with_real_agent("http://127.0.0.1:9/v1", chunks=3)
    with pytest.raises(HarnessConfigError, match=r"provider_url must be on 127\.0\.0\.1"):
        keywords_.start_daemon_with_real_agent("http://example.invalid/v1")
    with pytest.raises(HarnessConfigError, match="provider_url must be the base URL of a model provider"):
        keywords_.start_daemon_with_real_agent("")


def _capture(keywords_, monkeypatch):
    calls = []
    for name in ("start_daemon_with_mock_agent", "start_daemon_with_real_agent"):
        monkeypatch.setattr(keywords_, name, lambda *a, _n=name, **kw: calls.append((_n, a, kw)) or "daemon")
    return calls


def test_deprecated_start_daemon_maps_old_arguments_onto_the_new_keywords(keywords_, monkeypatch):
    calls = _capture(keywords_, monkeypatch)
    assert keywords_.start_daemon(mock_mode="hang", mock_chunks=5, mock_delay_ms=7, mock_init="never") == "daemon"
    keywords_.start_daemon(max_sessions=0, prompt_deadline_ms=1500, boot_timeout=5)
    keywords_.start_daemon("real", provider_url="http://127.0.0.1:9/v1", model="m", initialize_timeout_ms=2000)
    (name1, _, mock1), (_, _, mock2), (name3, _, real) = calls
    assert name1 == "start_daemon_with_mock_agent" and name3 == "start_daemon_with_real_agent"
    assert {k: mock1[k] for k in ("mode", "chunks", "end_delay_ms", "init")} == {
        "mode": "hang",
        "chunks": 5,
        "end_delay_ms": 7,
        "init": "never",
    }
    assert "chunk_size" not in mock1, "an old argument not given is not passed on"
    assert mock2["max_sessions"] == 0 and mock2["prompt_deadline_ms"] == 1500 and mock2["boot_timeout"] == 5
    assert "max_connections" not in mock2
    assert real["provider_url"] == "http://127.0.0.1:9/v1" and real["model"] == "m"
    assert real["initialize_timeout_ms"] == 2000


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"agent": "real", "provider_url": "http://127.0.0.1:9/v1", "mock_chunks": 5}, "mock_chunks does not apply"),
        ({"agent": "real", "provider_url": "http://127.0.0.1:9/v1", "mock_init": "never"}, "mock_init does not"),
        ({"provider_url": "http://127.0.0.1:9/v1"}, "provider_url does not apply to agent=mock"),
        ({"mcp_servers": {}}, "mcp_servers does not apply to agent=mock"),
        ({"model": "m"}, "model does not apply to agent=mock"),
        ({"agent": "real"}, "provider_url is required for agent=real"),
        ({"agent": "robot"}, "agent must be one of mock, real; got 'robot'."),
    ],
)
def test_deprecated_start_daemon_refuses_arguments_of_the_other_agent(keywords_, monkeypatch, arguments, message):
    calls = _capture(keywords_, monkeypatch)
    with pytest.raises(HarnessConfigError) as err:
        keywords_.start_daemon(**arguments)
    assert message in str(err.value)
    assert calls == []


def test_deprecated_start_daemon_is_documented_as_deprecated(keywords_):
    assert keywords_.start_daemon.__doc__.startswith(
        "*DEPRECATED* Use `Start Daemon With Mock Agent` or `Start Daemon With Real Agent` instead."
    )


# -- stopping -------------------------------------------------------------------------------------
class FakeDaemon:
    """Stands in for a daemon whose stop leaves one process of its tree running."""

    def __init__(self, name: str, survivor: psutil.Process | None) -> None:
        self.name = name
        self.survivor = survivor
        self.exit_code = None
        self.stop_s = 0.05
        self.killed_pids: list[int] = []
        self.artifacts_dir = Path("artifacts")

    def stop(self, grace_s: float, sig: int) -> int:
        return 0

    def tree(self) -> list[psutil.Process]:
        return [self.survivor] if self.survivor is not None and is_alive(self.survivor) else []

    def stderr_tail(self, lines: int) -> str:
        return ""

    def discard_home(self) -> None:
        pass


def test_stop_all_daemons_stops_every_daemon_then_fails_naming_the_leftovers(keywords_):
    leak = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        survivor = psutil.Process(leak.pid)
        # Until its exec is done, a new process's command line reads empty (seen on a busy machine).
        until(lambda: "time.sleep" in " ".join(survivor.cmdline()))
        keywords_.ctx.add(RunningDaemon(FakeDaemon("daemon-1", survivor), client=None))
        keywords_.ctx.add(RunningDaemon(FakeDaemon("daemon-2", None), client=None))
        with pytest.raises(AssertionError) as err:
            keywords_.stop_all_daemons()
        message = str(err.value)
        assert message.startswith("Stop All Daemons expected every daemon's processes to end, but daemon-1 left ")
        assert f"{leak.pid} {sys.executable} -c import time" in message
        assert "daemon-2" not in message
        assert keywords_.ctx.daemons == {}, "every daemon was stopped before the failure"
        until(lambda: leak.poll() is not None, poll_s=0.05)
        assert leak.poll() is not None, "the leftover was killed anyway"
    finally:
        leak.kill()
        leak.wait()


def test_stop_all_daemons_passes_when_nothing_is_left(keywords_):
    keywords_.ctx.add(RunningDaemon(FakeDaemon("daemon-1", None), client=None))
    keywords_.stop_all_daemons()
    assert keywords_.ctx.daemons == {}


def test_stop_result_carries_its_figures():
    result = StopResult("daemon-1", "TERM", 0, 12.34, [41], [], [])
    assert result.figures() == {"exitCode": 0, "stopMs": 12.3, "killedCount": 1, "leftoverCount": 0}
    assert non_camel_keys(result.figures()) == []
    assert result.line() == "daemon-1 stopped by SIGTERM: exit 0 after 12 ms; killed 1 process(es); left nothing"
    assert StopResult("daemon-2", "KILL", None, None, [], [], []).figures()["stopMs"] is None
