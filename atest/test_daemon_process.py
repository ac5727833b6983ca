"""One real daemon through the Python API: round trip, clean stop, the token kept off every command line."""

from __future__ import annotations

import re

import pytest

from keywords.daemon import flags, provision
from keywords.daemon.daemon_process import Daemon, DaemonSpec
from keywords.daemon.registry import Registry
from keywords.errors import DaemonHttpError
from keywords.fakes import mock_control
from keywords.traffic.client import DaemonClient
from keywords.traffic.turns import run_turn


@pytest.fixture()
def daemon(tmp_path):
    reg = Registry()
    source = provision.resolve_daemon(None)
    node = provision.check_node()

    def prepare(home):
        env, files, _control = mock_control.agent_env(home, chunks=4)
        return env, files

    spec = DaemonSpec(source=source, node=node.path, flags={"max_sessions": 5}, prepare=prepare)
    d = Daemon(spec, reg, "pytest-daemon", tmp_path / "artifacts")
    d.start()
    yield d
    d.stop(grace_s=5)
    reg.shutdown()


def test_daemon_round_trip_and_clean_stop(daemon):
    client = DaemonClient(daemon.base_url)
    try:
        assert client.health().body == {"status": "ok"}
        info = client.create_session("thread")
        turn = run_turn(client, info.session_id, "hello", timeout_s=20)
        assert turn.outcome == "completed" and turn.stop_reason == "end_turn"
        assert turn.chunks == 4 and turn.session_updates == 5
        assert client.close_session(info.session_id).status == 204
        with pytest.raises(DaemonHttpError) as err:
            client.prompt(info.session_id, "again")
        assert err.value.status == 404 and err.value.code == "session_not_found"
        assert "session_not_found" in str(err.value) and "/session/:id/prompt" in str(err.value)
    finally:
        client.close()
    tree = daemon.tree()
    assert len(tree) >= 3, "daemon, launcher and mock agent are expected"
    assert daemon.stop(grace_s=10) == 0
    assert daemon.stop_s is not None and daemon.stop_s < 3, "clients closed their sockets, exit should be fast"
    assert daemon.tree() == []
    assert (daemon.artifacts_dir / "daemon.log").is_file()


def test_token_is_never_on_the_command_line(tmp_path):
    reg = Registry()
    secret = "pytest-secret-token-7f3a"
    source = provision.resolve_daemon(None)

    def prepare(home):
        env, files, _control = mock_control.agent_env(home)
        return env, files

    spec = DaemonSpec(source=source, node=provision.check_node().path, token=secret, prepare=prepare)
    d = Daemon(spec, reg, "pytest-auth", tmp_path / "artifacts")
    d.start()
    try:
        for proc in d.tree():
            assert secret not in " ".join(proc.cmdline())
        with pytest.raises(DaemonHttpError) as err:
            DaemonClient(d.base_url).capabilities()
        assert err.value.status == 401
        assert DaemonClient(d.base_url, token=secret).capabilities()["qwenCodeVersion"] == "0.24.4"
    finally:
        d.stop(grace_s=5)
        reg.shutdown()


def test_every_flag_of_the_table_is_a_flag_of_the_pinned_daemon(tmp_path):
    """``qwen serve --help`` of the release lists each flag the start keywords may set."""
    import subprocess

    source = provision.resolve_daemon(None)
    proc = subprocess.run(
        [provision.check_node().path, source.entry, "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", proc.stdout, re.M))
    assert {flag.flag for flag in flags.FLAGS.values()} <= listed, sorted(
        {flag.flag for flag in flags.FLAGS.values()} - listed
    )
