"""No process left behind: interrupt or kill a real ``robot`` run mid-scenario and check what survives.

Each test runs a fixture suite (``atest/fixtures/*.robot``) in a ``robot`` subprocess with its own output
folder and ``TMPDIR``, waits until the scenario is under way (daemon, launcher and agent seen), waits a random
moment, then sends SIGINT, SIGTERM or SIGKILL to robot. Afterwards no process of that run (daemon, launcher,
mock agent, real agent child, MCP servers, watchdog) may be alive, and its temporary root (HOME and workspace
folders) must be gone: at once for SIGINT/SIGTERM (the run stops itself), within a bound for SIGKILL (the
watchdog cleans up), or at the next run's start when the watchdog was killed too (the sweep).

Replay a failure: the random moment is printed and logged; set ``QWEN_LEAK_DELAY_S`` to force it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from leakcheck import FIXTURES, REPO, RobotRun, describe, wait_until

from keywords.daemon.registry import OWNER_MARKER, RUN_MARKER, TAG_MARKER

MOCK_KINDS = {"daemon", "launcher", "mock agent", "watchdog"}
REAL_KINDS = {"daemon", "agent child", "mcp server", "watchdog"}  # the fake provider is a thread of robot
SCENARIOS = {
    "mock": ("leak_mock.robot", MOCK_KINDS),
    "baseline": ("leak_baseline.robot", REAL_KINDS),
    "restore": ("leak_restore.robot", MOCK_KINDS),  # a daemon SIGKILLed and restarted before the interrupt
}
MAX_DELAY_S = 2.5
WATCHDOG_BOUND_S = 10.0
FIGURES = REPO / "results" / "figures"


def _delay() -> float:
    forced = os.environ.get("QWEN_LEAK_DELAY_S")
    return float(forced) if forced else round(random.uniform(0.0, MAX_DELAY_S), 3)


def _record(name: str, **values) -> None:
    """Append one figure line (for the report) and print it (shown with ``pytest -rA``)."""
    line = {"test": name, **values}
    print(json.dumps(line))
    FIGURES.mkdir(parents=True, exist_ok=True)
    with open(FIGURES / "no_leaks.jsonl", "a") as out:
        out.write(json.dumps(line) + "\n")


@pytest.fixture
def run_factory(tmp_path):
    runs: list[RobotRun] = []

    def make(suite: str, *extra: str, name: str = "run", env: dict[str, str] | None = None) -> RobotRun:
        run = RobotRun(
            [*extra, str(FIXTURES / suite)],
            outdir=tmp_path / name / "out",
            tmpdir=tmp_path / name / "tmp",
            env_extra=env or {},
        )
        runs.append(run)
        return run.start()

    yield make
    for run in runs:  # never leave anything behind, even when an assertion failed
        run.stop_sampling()
        run.kill_everything()


def _interrupt_mid_scenario(run: RobotRun, sig: int, kinds: set[str], name: str) -> float:
    assert run.wait_for_kinds(kinds, timeout_s=60), (
        f"the scenario never got under way (saw {sorted(run.kinds_seen())}); robot said:\n{run.console()[-2000:]}"
    )
    delay = _delay()
    print(f"{name}: sending {signal.Signals(sig).name} {delay} s after the agent was seen (QWEN_LEAK_DELAY_S)")
    time.sleep(delay)
    run.sample()
    run.signal(sig)
    return delay


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_stops_everything_it_started(run_factory, sig, scenario):
    """Robot stops gracefully on SIGINT/SIGTERM: teardown and exit stop every process and remove the root."""
    suite, kinds = SCENARIOS[scenario]
    name = f"{scenario}-{signal.Signals(sig).name}"
    run = run_factory(suite, name=name)
    delay = _interrupt_mid_scenario(run, sig, kinds, name)
    started = time.monotonic()
    code = run.wait(timeout_s=40)
    exit_s = time.monotonic() - started
    assert code is not None, f"robot did not exit within 40 s of {sig!r} (delay {delay})"
    run.stop_sampling()
    alive = run.alive()
    _record(name, delay_s=delay, robot_exit_s=round(exit_s, 3), seen=sorted(run.kinds_seen()), alive=len(alive))
    assert not alive, f"alive after robot exited ({delay=}): {describe(alive)}"
    assert not run.roots(), f"temporary root left ({delay=}): {run.roots()}"
    assert run.kinds_seen() >= kinds
    assert "Execution terminated by signal" in run.console() or code != 0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_killed_run_is_cleaned_up_by_the_watchdog(run_factory, scenario):
    """SIGKILL of robot: the daemon dies by parent-death signal, the rest by the watchdog, within a bound."""
    suite, kinds = SCENARIOS[scenario]
    name = f"{scenario}-SIGKILL"
    run = run_factory(suite, name=name)
    delay = _interrupt_mid_scenario(run, signal.SIGKILL, kinds, name)
    killed_at = time.monotonic()
    run.wait(timeout_s=10)
    run.stop_sampling()
    took = wait_until(lambda: not run.alive() and not run.roots(), WATCHDOG_BOUND_S)
    cleanup_s = round(time.monotonic() - killed_at, 3) if took is not None else None
    _record(name, delay_s=delay, cleanup_after_kill_s=cleanup_s, seen=sorted(run.kinds_seen()))
    assert took is not None, (
        f"{WATCHDOG_BOUND_S} s after SIGKILL ({delay=}) still alive: {describe(run.alive())}; roots {run.roots()}"
    )


def test_killed_run_and_watchdog_are_cleaned_by_the_next_run(run_factory, tmp_path):
    """SIGKILL of robot and of its watchdog: agent children still die, the next run's sweep removes the rest."""
    run = run_factory("leak_mock.robot", name="mock-SIGKILL-watchdog")
    delay = _interrupt_mid_scenario(run, signal.SIGSTOP, MOCK_KINDS, "mock-SIGKILL-watchdog")
    # robot is stopped (not dead), so nothing moves while its watchdog is killed first
    watchdogs = [s for s in run.seen.values() if s.kind == "watchdog"]
    assert watchdogs, "no watchdog was seen"
    for dog in watchdogs:
        os.kill(dog.pid, signal.SIGKILL)
    assert wait_until(lambda: not any(d.alive() for d in watchdogs), 5) is not None
    run_marker = _marker_of_run(run)
    run.signal(signal.SIGKILL)
    run.wait(timeout_s=10)
    run.stop_sampling()
    # The agent children run in their own session (no parent-death signal reaches them): they must still end,
    # because the daemon (parent-death signal) dies and their stdin reaches EOF.
    took = wait_until(lambda: not run.alive(), WATCHDOG_BOUND_S)
    assert took is not None, f"without a watchdog, still alive after {WATCHDOG_BOUND_S} s: {describe(run.alive())}"
    roots = run.roots()
    assert roots, "the run's temporary root vanished without a watchdog; the sweep test would prove nothing"
    # A stubborn process of the dead run (ignores SIGTERM): the sweep must kill it too.
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"],
        env={**os.environ, RUN_MARKER: run_marker, OWNER_MARKER: str(run.proc.pid), TAG_MARKER: "stubborn"},
        start_new_session=True,
    )
    try:
        time.sleep(0.3)
        started = time.monotonic()
        nxt = subprocess.run(
            [
                sys.executable,
                "-c",
                "from keywords.daemon.registry import registry; r = registry(); r.make_dir('probe'); "
                "print('\\n'.join(r.swept))",
            ],
            cwd=REPO,
            env={**os.environ, "TMPDIR": str(run.tmpdir)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        sweep_s = time.monotonic() - started
        assert nxt.returncode == 0, nxt.stderr
        assert stubborn.wait(timeout=5) is not None
        assert not run.roots(), f"the next run left {run.roots()}"
        assert all(f"folder {root}" in nxt.stdout for root in roots), nxt.stdout
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait()
    _record("mock-SIGKILL-watchdog", delay_s=delay, children_gone_s=round(took, 3), next_run_s=round(sweep_s, 3))


def _marker_of_run(run: RobotRun) -> str:
    import psutil

    for seen in run.seen.values():
        if seen.alive() and seen.kind != "watchdog":
            env = psutil.Process(seen.pid).environ()
            return env[RUN_MARKER]
    raise AssertionError("no live process of the run to read its marker from")


def test_killed_and_restarted_daemons_leave_nothing_when_the_run_ends(run_factory):
    """SIGKILLed daemons (restarted or not) and their restarted processes: all gone when robot exits normally."""
    run = run_factory("restore_runs.robot", name="restore-runs")
    code = run.wait(timeout_s=180)
    run.stop_sampling()
    assert code == 0, f"robot exit {code}:\n{run.console()[-3000:]}"
    alive = run.alive()
    daemons = [s for s in run.seen.values() if s.kind == "daemon"]
    _record("restore-runs", daemons_seen=len(daemons), alive=len(alive), seen=sorted(run.kinds_seen()))
    assert len(daemons) >= 5, f"the kills and restarts should have run 5 daemon processes, saw {len(daemons)}"
    assert not alive, describe(alive)
    assert not run.roots(), f"temporary root left: {run.roots()}"


def test_keyword_timeout_and_killed_daemon_fail_clearly_and_the_next_test_passes(run_factory):
    """A keyword timeout mid-flood and a daemon killed with SIGKILL fail their test; the next test passes."""
    from robot.api import ExecutionResult

    run = run_factory("failing_runs.robot", name="failing")
    code = run.wait(timeout_s=120)
    run.stop_sampling()
    assert code == 2, f"expected exactly 2 failed tests, robot exit {code}:\n{run.console()[-3000:]}"
    result = ExecutionResult(str(run.outdir / "output.xml"))
    tests = {t.name: t for t in result.suite.all_tests}
    timeout = tests["Keyword Timeout In The Middle Of A Flood"]
    assert timeout.status == "FAIL" and "Keyword timeout 2 seconds exceeded" in timeout.message
    killed = tests["Daemon Killed With SIGKILL Mid Scenario"]
    assert killed.status == "FAIL"
    teardown_log = "\n".join(_messages(killed.teardown))
    assert "Last stderr lines of daemon-3" in teardown_log and "qwen serve" in teardown_log, teardown_log
    assert "exit -9" in teardown_log
    for name in ("Next Test After The Timeout Starts A Fresh Daemon", "Next Test After The Kill Starts A Fresh Daemon"):
        assert tests[name].status == "PASS", tests[name].message
    alive = run.alive()
    assert not alive, describe(alive)
    assert not run.roots()


def _messages(item) -> list[str]:
    out = []
    for child in getattr(item, "body", []):
        if getattr(child, "type", "") == "MESSAGE":
            out.append(child.message)
        else:
            out.extend(_messages(child))
    return out
