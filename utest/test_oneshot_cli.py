"""The one-shot CLI runner: wall time, tree resource profile, wait4 rusage, startup profile, timeout, cleanup.

Most tests run a small stand-in Node script (fast, deterministic) through the same code path; one test runs
the real pinned CLI against the fake provider.
"""

from __future__ import annotations

import shutil
import time

import psutil
import pytest

from keywords.daemon.provision import DaemonSource, check_node, release_source
from keywords.daemon.registry import registry
from keywords.errors import HarnessConfigError
from keywords.fakes import real_agent
from keywords.fakes.oneshot_cli import CliSpec, OneShotCli, parse_startup_profile, read_startup_profile
from keywords.fakes.provider import FakeProvider

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# A stand-in CLI: prints its prompt, spawns one child that holds ~60 MB for a moment, writes a startup profile
# when asked to (as the real CLI's profiler does), exits with the code given by FAKE_EXIT, or sleeps forever.
FAKE_CLI = r"""
const fs = require('fs'), path = require('path'), os = require('os'), cp = require('child_process');
const prompt = process.argv[process.argv.indexOf('-p') + 1];
if (process.env.FAKE_HANG === '1') { setInterval(() => {}, 1000); return; }
const child = cp.spawn(process.execPath, ['-e',
  'const b = Buffer.alloc(60*1024*1024, 1); setTimeout(() => process.exit(0), 400);'], {stdio: 'ignore'});
child.on('exit', () => {
  if (process.env.QWEN_CODE_PROFILE_STARTUP === '1' && process.env.QWEN_CODE_PROFILE_STARTUP_OUTER === '1') {
    const dir = path.join(os.homedir(), '.qwen', 'startup-perf');
    fs.mkdirSync(dir, {recursive: true});
    fs.writeFileSync(path.join(dir, 'outer-x.json'), JSON.stringify({outerProcess: true,
      processUptimeAtT0Ms: 50.5, totalMs: 200.25, phases: [{name: 'main_entry', durationMs: 120}],
      derivedPhases: {settings_time: 80, config_initialize_dur: 30, mcp_all_settled: 190}}));
  }
  process.stdout.write('echo: ' + prompt + ' home=' + os.homedir() + ' key=' + (process.env.OPENAI_API_KEY||'') + '\n');
  process.exit(Number(process.env.FAKE_EXIT || 0));
});
"""


@pytest.fixture
def fake_entry(tmp_path):
    entry = tmp_path / "cli-entry.js"
    entry.write_text(FAKE_CLI)
    return DaemonSource("local", str(entry), "0.0.0", "fake cli")


def _cli(source, **kw) -> OneShotCli:
    return OneShotCli(CliSpec(source, NODE, **kw), registry(), name=f"t{time.monotonic_ns()}")


def test_run_measures_wall_tree_and_rusage(fake_entry):
    cli = _cli(fake_entry, env={"OPENAI_API_KEY": "k"}, home_files={".qwen/settings.json": "{}"})
    run = cli.run("hello there")
    assert run.ok, run.stderr_tail
    assert run.stdout.startswith("echo: hello there") and f"home={cli.home}" in run.stdout and "key=k" in run.stdout
    assert (cli.home / ".qwen" / "settings.json").read_text() == "{}"
    assert 400 <= run.wall_ms < 10000
    assert run.processes_seen >= 2  # the entry and its child
    assert run.profile.peak_rss_mb >= 60  # the child's 60 MB buffer
    assert run.rusage is not None and run.rusage.max_rss_mb >= 60  # wait4 covers the reaped child
    assert run.rusage.user_cpu_s + run.rusage.system_cpu_s > 0
    assert run.phases is None and run.leftovers == []


def test_startup_profile_is_read_and_removed(fake_entry):
    cli = _cli(fake_entry)
    run = cli.run("x", profile_startup=True)
    assert run.phases is not None, run.phases_note
    assert run.phases.full_startup_ms == pytest.approx(250.8)
    assert run.phases.settings_ms == 80 and run.phases.config_init_ms == 30 and run.phases.mcp_settled_ms == 190
    assert run.phases.phases == [("main_entry", 120.0)]
    assert not list((cli.home / ".qwen" / "startup-perf").glob("*.json"))
    # Without the profiler env nothing is written and the run says so only when asked for phases.
    assert cli.run("x").phases is None


def test_missing_profile_is_said(tmp_path):
    phases, note = read_startup_profile([])
    assert phases is None and "wall time only" in note
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    phases, note = read_startup_profile([bad])
    assert phases is None and "could not be read" in note


def test_parse_startup_profile_keeps_missing_fields_none():
    phases = parse_startup_profile({"processUptimeAtT0Ms": 10, "derivedPhases": {}})
    assert phases.module_load_ms == 10 and phases.total_ms is None and phases.full_startup_ms is None
    assert phases.to_dict()["fullStartupMs"] is None


def test_exit_code_and_timeout_kill_the_tree(fake_entry):
    failing = _cli(fake_entry, env={"FAKE_EXIT": "3"}).run("x")
    assert failing.exit_code == 3 and not failing.ok
    hanging = _cli(fake_entry, env={"FAKE_HANG": "1"}, timeout_s=1.0)
    run = hanging.run("x")
    assert run.timed_out and not run.ok and run.wall_ms >= 1000
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if str(fake_entry.entry) in " ".join(p.info["cmdline"] or [])
    ]


def test_spec_validation(fake_entry, tmp_path):
    with pytest.raises(HarnessConfigError, match="does not exist"):
        CliSpec(DaemonSource("local", str(tmp_path / "nope.js"), "x", "x"), NODE).validate()
    with pytest.raises(HarnessConfigError, match="timeout"):
        CliSpec(fake_entry, NODE, timeout_s=0).validate()
    with pytest.raises(HarnessConfigError, match="output_format"):
        CliSpec(fake_entry, NODE, output_format="yaml").validate()
    with pytest.raises(HarnessConfigError, match="relative"):
        CliSpec(fake_entry, NODE, home_files={"/etc/x": ""}).validate()
    with pytest.raises(HarnessConfigError, match="empty"):
        _cli(fake_entry).run("")


@pytest.mark.slow
def test_real_cli_against_fake_provider():
    try:
        source = release_source(install=False)
    except Exception as exc:
        pytest.skip(f"pinned release not installed: {exc}")
    provider = FakeProvider().start()
    try:
        env, files = real_agent.settings(provider.base_url)
        cli = OneShotCli(CliSpec(source, check_node().path, env=env, home_files=files), registry(), name="real-cli")
        run = cli.run("say ok", profile_startup=True)
        assert run.ok, run.stderr_tail
        assert run.stdout.strip() == "ok"
        assert provider.request_count >= 1
        assert run.processes_seen >= 2  # cli-entry.js relaunches itself
        assert run.profile.peak_rss_mb > 50
        assert run.phases is not None and run.phases.full_startup_ms, run.phases_note
        assert run.leftovers == []
    finally:
        provider.stop()
