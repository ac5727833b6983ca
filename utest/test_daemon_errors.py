"""The daemon's errors and the layering rule: a daemon that died is no bad input, every error class derives
from the harness's base, and model modules get Robot's facts passed in instead of importing Robot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from keywords.context import HarnessContext, RunningDaemon
from keywords.daemon.run_metadata import RunMetadata, run_facts
from keywords.errors import DaemonDiedError, HarnessConfigError, HarnessError
from keywords.fakes.provider import ProviderConfigError
from keywords.fakes.real_agent import settings as real_agent_settings
from keywords.traffic.client import DaemonClient

ROOT = Path(__file__).parent.parent


# -- the daemon's errors ----------------------------------------------------------------------------
def test_a_daemon_that_died_is_reported_as_died_not_as_bad_input(tmp_path):
    ctx = HarnessContext()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    proc.wait()
    daemon = SimpleNamespace(name="daemon-7", pid=proc.pid, proc=proc, stderr_tail=lambda n: "boom: out of memory")
    ctx.add(RunningDaemon(daemon, client=None))
    with pytest.raises(DaemonDiedError) as err:
        ctx.get()
    assert not isinstance(err.value, HarnessConfigError)
    assert err.value.exit_code == 3 and err.value.name == "daemon-7"
    assert "boom: out of memory" in err.value.stderr_tail and "exit 3" in str(err.value)
    assert ctx.get(alive=False).daemon is daemon


def test_error_classes_derive_from_the_harness_base():
    assert issubclass(DaemonDiedError, HarnessError)
    assert issubclass(ProviderConfigError, HarnessConfigError)
    with pytest.raises(HarnessConfigError, match=r"provider_url must be on 127\.0\.0\.1"):
        real_agent_settings("http://example.invalid/v1")
    with pytest.raises(HarnessConfigError, match=r"Only loopback daemons \(http://127\.0\.0\.1:<port>\) are targets"):
        DaemonClient("http://example.invalid:80")


def test_results_dir_comes_from_what_the_library_passes_in(tmp_path):
    assert HarnessContext(output_dir=str(tmp_path)).results_dir == tmp_path
    assert HarnessContext(results_dir="mine", output_dir=str(tmp_path)).results_dir == Path("mine")
    assert HarnessContext().results_dir == Path("results")


def test_run_metadata_takes_robot_version_and_notes_the_agent_of_both_start_keywords():
    assert run_facts("release 0.24.4", "0.24.4", "v22", "7.9")["Robot Framework"] == "7.9"
    ctx = HarnessContext()
    meta = RunMetadata(ctx, "7.9")
    meta.top = SimpleNamespace(metadata={})
    for agent, keyword in (("mock", "Start Daemon With Mock Agent"), ("real", "Start Daemon With Real Agent")):
        ctx.daemons = {"daemon-1": SimpleNamespace(agent=agent)}
        ctx.current = "daemon-1"
        meta.end_keyword(SimpleNamespace(name=keyword, passed=True))
    assert meta.top.metadata["Agent"] == "mock ACP agent, real agent child (fake model provider)"


def test_variable_outside_robot_is_the_default_and_other_errors_are_not_hidden(monkeypatch):
    """Only "Robot is not running" gives the default; any other error of the variable store is raised."""
    from keywords.components import component

    assert component.Component.variable("${TEST NAME}", "none") == "none"

    def broken(self, name, default=None):
        raise RuntimeError("variable store broken")

    monkeypatch.setattr(component.BuiltIn, "get_variable_value", broken)
    with pytest.raises(RuntimeError, match="variable store broken"):
        component.Component.variable("${TEST NAME}", "none")


def test_closing_sessions_as_clean_up_passes_over_a_failed_close_and_closes_the_rest():
    import httpx

    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("x-qwen-client-id")))
        if request.url.path.endswith("/s-2"):
            raise httpx.ConnectError("daemon gone")
        return httpx.Response(404 if request.url.path.endswith("/s-3") else 204)

    client = DaemonClient("http://127.0.0.1:9")
    client.http = httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(answer))
    client.close_sessions(["s-1", "s-2", "s-3"], "closer")
    assert seen == [("/session/s-1", "closer"), ("/session/s-2", "closer"), ("/session/s-3", "closer")]
