"""The benchmark model without a daemon: how figures, ratios, labels and series are derived from measurements.

The daemon-facing functions take their daemon through a ``target`` callable; here it returns a fake client,
so the loops (timing, failures, barriers, validation before the daemon is reached) run in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from keywords.errors import HarnessConfigError
from keywords.fakes.oneshot_cli import CliRun, Rusage, StartupPhases
from keywords.measure import daemon_vs_cli, metrics
from keywords.measure.process_tree import ProcInfo, TreeSnapshot
from keywords.measure.resource_profile import ResourceProfile
from keywords.traffic.client import SessionInfo
from keywords.traffic.sse import StreamResult
from keywords.traffic.turns import TurnResult


def summary(*values: float) -> metrics.LatencySummary:
    return metrics.summarize(values)


# -- side-by-side figures ----------------------------------------------------------------------------------


def test_a_pair_rounds_values_and_takes_the_ratio_cli_over_daemon():
    pair = daemon_vs_cli.figure_pair(1234.56, 100.04, "how")
    assert pair == {"cli": 1234.6, "daemon": 100.0, "cliOverDaemon": 12.34, "unit": "ms", "how": "how"}
    assert daemon_vs_cli.figure_pair(5.0, 0.0, "h", unit="MB") == {
        "cli": 5.0,
        "daemon": 0.0,
        "cliOverDaemon": None,
        "unit": "MB",
        "how": "h",
    }


@pytest.mark.parametrize("cli, daemon", [(None, 1.0), (1.0, None), (None, None)])
def test_a_pair_with_a_missing_side_is_not_run(cli, daemon):
    assert daemon_vs_cli.figure_pair(cli, daemon, "how") == "not run"


def _cli(p50: float, p99: float, profile: ResourceProfile | None = None, rusage: dict | None = None):
    return SimpleNamespace(wall=SimpleNamespace(p50=p50, p99=p99), profile=profile or ResourceProfile(), rusage=rusage)


def test_side_by_side_pairs_each_figure_with_its_own_inputs():
    cold = _cli(2000.0, 2500.0, ResourceProfile(processes=3, peak_rss_mb=180.0), {"user_cpu_s": 1.5})
    boot = SimpleNamespace(latency=SimpleNamespace(p50=500.0), profile=ResourceProfile(processes=2), rusage={"x": 1})
    prompt_cli = _cli(3000.0, 3600.0)
    prompt_daemon = SimpleNamespace(latency=SimpleNamespace(p50=30.0, p99=40.0))
    side = daemon_vs_cli.side_by_side(cold, boot, prompt_cli, prompt_daemon)
    assert list(side) == ["startToFirstUsableP50", "promptLatencyP50", "promptLatencyP99", "resourceProfile"]
    assert (side["startToFirstUsableP50"]["cli"], side["startToFirstUsableP50"]["daemon"]) == (2000.0, 500.0)
    assert side["startToFirstUsableP50"]["cliOverDaemon"] == 4.0
    assert side["promptLatencyP50"]["cliOverDaemon"] == 100.0
    assert (side["promptLatencyP99"]["cli"], side["promptLatencyP99"]["daemon"]) == (3600.0, 40.0)
    assert side["promptLatencyP99"]["cliOverDaemon"] == 90.0
    profile = side["resourceProfile"]
    assert profile["cli"] == {
        "sampled": vars(ResourceProfile(processes=3, peak_rss_mb=180.0)),
        "exactWait4": cold.rusage,
    }
    assert profile["daemon"]["exactRusageChildren"] == {"x": 1}
    assert profile["daemon"]["sampled"]["processes"] == 2
    assert profile["how"] == daemon_vs_cli.SIDE_BY_SIDE_PROFILE_HOW


def test_side_by_side_marks_what_did_not_run():
    assert daemon_vs_cli.side_by_side() == {
        "startToFirstUsableP50": "not run",
        "promptLatencyP50": "not run",
        "promptLatencyP99": "not run",
        "resourceProfile": "not run",
    }
    only_cli = daemon_vs_cli.side_by_side(cli_cold=_cli(1.0, 2.0), prompt_cli=_cli(1.0, 2.0))
    assert set(only_cli.values()) == {"not run"}
    # A summary with no samples (p50 None) is "not run" too, not a division by None.
    empty_daemon = SimpleNamespace(latency=metrics.summarize([]))
    assert (
        daemon_vs_cli.side_by_side(prompt_cli=_cli(1.0, 2.0), prompt_daemon=empty_daemon)["promptLatencyP50"]
        == "not run"
    )


# -- throughput labels --------------------------------------------------------------------------------------


def test_a_window_counts_only_agents_created_after_it_started():
    seen = {300: 99.0, 200: 101.0, 100: 100.0}
    window = daemon_vs_cli.throughput_window(3, 25, 10.0, 1, seen, wall_started=100.0)
    assert (window.mode, window.ops, window.ops_per_sec, window.failures) == ("anchored", 25, 2.5, 1)
    assert window.agent_spawns == 2 and window.agent_pids == [100, 200, 300]
    assert window.label == "anchored: the agent child was respawned 2 time(s) (cold starts included)"
    assert window.to_dict()["agentChildRespawned"] is True


def test_a_window_without_respawn_says_it_was_not_a_cold_start():
    window = daemon_vs_cli.throughput_window(0, 7, 3.0, 0, {42: 10.0}, wall_started=50.0)
    assert window.mode == "unanchored" and window.agent_spawns == 0 and window.ops_per_sec == 2.33
    assert window.label == "unanchored: the agent child stayed up (no respawn; not a cold start)"
    assert window.to_dict() == {
        "mode": "unanchored",
        "opsPerSec": 2.33,
        "totalOps": 7,
        "windowS": 3.0,
        "failures": 0,
        "agentSpawns": 0,
        "agentChildRespawned": False,
        "label": window.label,
    }


# -- queueing at the provider -------------------------------------------------------------------------------


def test_max_in_flight_counts_overlap_and_not_touching_spans():
    assert daemon_vs_cli.max_in_flight([]) == 0
    assert daemon_vs_cli.max_in_flight([(0, 1), (1, 2), (2, 3)]) == 1  # one ends as the next starts
    assert daemon_vs_cli.max_in_flight([(0, 5), (1, 2), (1.5, 6), (7, 8)]) == 3
    # A zero-length span (a request still unfinished is given as one) never counts as open.
    assert daemon_vs_cli.max_in_flight(iter([(0, 0), (0, 0)])) == 0
    assert daemon_vs_cli.max_in_flight([(0, 2), (1, 1)]) == 1


def test_provider_queueing_matches_prompts_by_text_and_times_their_wait():
    req = lambda at, done, text: SimpleNamespace(at_monotonic=at, done_monotonic=done, last_user_text=text)  # noqa: E731
    texts = ["say ok number 1", "say ok number 2", "say ok number 3"]
    reqs = [req(10.1, 10.4, "say ok number 1"), req(10.4, None, "x say ok number 2 y"), req(10.5, 10.9, "other")]
    count, in_flight, wait = daemon_vs_cli.provider_queueing(reqs, texts, {0: 10.0, 1: 10.0, 2: 10.0})
    assert count == 3 and in_flight == 1
    assert wait.count == 2 and wait.min == pytest.approx(100, abs=0.5) and wait.max == pytest.approx(400, abs=0.5)
    assert daemon_vs_cli.provider_queueing([], texts, {0: 1.0}) == (0, 0, None)


# -- series from measurements -------------------------------------------------------------------------------


def test_prompt_series_keeps_every_outcome_but_times_only_completed_turns():
    done = TurnResult("p1", outcome="completed", turn_ms=12.0)
    err = TurnResult("p2", outcome="error", turn_ms=5.0)
    series = daemon_vs_cli.prompt_series([done, err, RuntimeError("x" * 300), done], 123.456, "prompt")
    assert series.outcomes[:2] == ["completed", "error"] and series.outcomes[3] == "completed"
    assert series.outcomes[2].startswith("exception: x") and len(series.outcomes[2]) == 200
    assert series.failures == 2 and series.wall_ms == 123.5
    assert series.latency.count == 2 and series.latency.p50 == pytest.approx(12.0, rel=1e-3)
    assert (series.provider_requests, series.provider_max_in_flight, series.queue_wait) == (0, 0, None)


def test_session_timings_time_only_successes_and_keep_error_texts():
    timings = daemon_vs_cli.session_timings(
        [(5.0, "s1", None), (9.0, None, "HTTPError: 503"), (7.0, "s2", None)], 21.26, 3
    )
    assert timings.session_ids == ["s1", "s2"] and timings.success_count == 2
    assert timings.failures == ["HTTPError: 503"] and timings.wall_ms == 21.3 and timings.concurrency == 3
    assert timings.latency.count == 2 and timings.latency.max == pytest.approx(7.0, rel=1e-3)


def test_tree_rss_reading_rounds_the_breakdown_and_prints_upstreams_line():
    snap = TreeSnapshot(
        daemon_pid=1,
        processes=[ProcInfo(1, 0, "daemon", 80.0, "node")],
        daemon_rss_mb=80.04,
        agents_rss_mb=150.06,
        descendants_rss_mb=40.0,
        total_rss_mb=270.1,
        agent_pids=[2],
        descendant_pids=[3, 4],
    )
    rss = daemon_vs_cli.TreeRss.of(snap, 5)
    assert (rss.sessions, rss.total, rss.daemon, rss.agent, rss.mcp, rss.agents, rss.descendants) == (
        5,
        270.1,
        80.0,
        150.1,
        40.0,
        1,
        2,
    )
    assert rss.line() == "total=270.1MB (daemon=80.0 acp=150.1 mcp=40.0)"
    assert rss.to_dict()["descendants"] == 2


def test_churn_drift_is_after_minus_before_in_mb():
    before = daemon_vs_cli.TreeRss(3, 300.04, 100, 150, 50, 1, 2)
    after = daemon_vs_cli.TreeRss(3, 312.46, 100, 162, 50, 1, 2)
    churn = daemon_vs_cli.churn_result([4.0, 6.0], 3, 1, before, after)
    assert churn.drift_mb == 12.4 and churn.rounds == 3 and churn.failures == 1 and churn.latency.count == 2


def test_flood_result_times_replay_complete_and_counts_missing_streams():
    seen = StreamResult(status=200, replay_complete={"ok": True}, events=[{"type": "replay_complete", "_recv_ms": 8.5}])
    refused = StreamResult(status=503)
    flood = daemon_vs_cli.flood_result(3, [seen, refused, None], healthy=True)
    assert (flood.opened, flood.connected, flood.statuses, flood.healthy_after) == (3, 1, [200, 503, 0], True)
    assert not flood.all_connected
    assert flood.time_to_replay_complete.count == 1
    assert flood.time_to_replay_complete.p50 == pytest.approx(8.5, rel=1e-3)
    assert daemon_vs_cli.flood_result(1, [seen], healthy=False).all_connected


def test_rusage_delta_subtracts_every_counter_but_max_rss():
    fields = ("ru_utime", "ru_stime", "ru_nvcsw", "ru_nivcsw", "ru_minflt", "ru_majflt", "ru_maxrss")
    before = SimpleNamespace(**dict(zip(fields, (1.0, 0.5, 10, 2, 100, 0, 9999), strict=True)))
    after = SimpleNamespace(**dict(zip(fields, (1.2504, 0.75, 15, 3, 180, 1, 5), strict=True)))
    assert daemon_vs_cli.rusage_delta(before, after) == {
        "user_cpu_s": 0.25,
        "system_cpu_s": 0.25,
        "voluntary_ctx_switches": 5,
        "involuntary_ctx_switches": 1,
        "minor_page_faults": 80,
        "major_page_faults": 1,
    }


def _run(index: int, wall: float, phases: StartupPhases | None = None, note: str = "") -> CliRun:
    return CliRun(
        index=index,
        argv=["node", "cli-entry.js", "-p", "say ok"],
        exit_code=0,
        wall_ms=wall,
        stdout="ok",
        profile=ResourceProfile(processes=3, peak_rss_mb=100.0 + index),
        rusage=Rusage(100.0, 1.0, 0.2, 10, 1, 1000, 0),
        phases=phases,
        phases_note=note,
    )


def test_cli_series_summarises_the_runs_and_describes_the_last():
    phases = StartupPhases(50.0, 10.0, 20.0, 30.0, 400.0, 450.0)
    runs = [_run(1, 1000.0, phases), _run(2, 1200.0, None, "no report file was written")]
    series = daemon_vs_cli.cli_series("say ok", 1, runs, profile_startup=True)
    assert series.wall.count == 2 and series.full_startup.count == 1
    assert series.peak_rss_mb.max == pytest.approx(102.0, rel=1e-3)
    assert series.phases is None and series.phases_note == "no report file was written"
    assert series.rusage["user_cpu_s"] == 1.0 and series.failures == 0 and series.stdout == "ok"
    snap = series.to_dict()
    assert snap["warmupRuns"] == 1 and snap["startupPhases"] is None and snap["fullStartupMs"]["count"] == 1
    assert snap["method"].startswith(f"wall: {daemon_vs_cli.WALL_METHOD}")


def test_cli_series_without_the_profiler_says_wall_time_only():
    series = daemon_vs_cli.cli_series("say ok", 0, [_run(1, 900.0)], profile_startup=False)
    assert series.full_startup is None and series.phases_note == "startup profiler not requested; wall time only"
    assert series.to_dict()["startupPhasesNote"] == series.phases_note


# -- validation and loops with a fake daemon ----------------------------------------------------------------


class FakeClient:
    """``create_session``/``close_session`` of a daemon, answering after ``delay_s``; every ``fail_every``-th fails."""

    def __init__(self, delay_s: float = 0.0, fail_every: int = 0) -> None:
        self.delay_s = delay_s
        self.fail_every = fail_every
        self.created: list[str] = []
        self.closed: list[str] = []
        self._lock = threading.Lock()

    def create_session(self, scope: str = "thread") -> SessionInfo:
        time.sleep(self.delay_s)
        with self._lock:
            n = len(self.created) + 1
            if self.fail_every and n % self.fail_every == 0:
                self.created.append("")
                raise RuntimeError(f"refused {n}")
            self.created.append(f"s{n}")
        return SessionInfo(f"s{n}", None, False, None, 1.0)

    def close_session(self, session_id: str) -> None:
        self.closed.append(session_id)


def target_of(client: FakeClient):
    return lambda: SimpleNamespace(client=client, daemon=None)


def no_daemon():
    raise AssertionError("the daemon was reached before the arguments were checked")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: daemon_vs_cli.check_cli_counts(0, 1), "iterations must be from 1 to 200, got 0."),
        (lambda: daemon_vs_cli.check_cli_counts(5, 11), "warmup must be from 0 to 10, got 11."),
        (lambda: daemon_vs_cli.time_session_creations(no_daemon, 501), "count must be from 1 to 500, got 501."),
        (
            lambda: daemon_vs_cli.measure_create_close_throughput(no_daemon, 0.1),
            "window must be from 0.5 to 600 seconds, got 0.1.",
        ),
        (lambda: daemon_vs_cli.measure_session_churn(no_daemon, 0), "rounds must be from 1 to 10000, got 0."),
        (lambda: daemon_vs_cli.open_sse_flood(no_daemon, "s", 0), "count must be from 1 to 500, got 0."),
        (
            lambda: daemon_vs_cli.measure_boot_to_first_session(no_daemon, no_daemon, no_daemon, 101),
            "iterations must be from 1 to 100, got 101.",
        ),
    ],
)
def test_arguments_are_checked_before_anything_starts(call, message):
    with pytest.raises(HarnessConfigError) as err:
        call()
    assert str(err.value) == message


def test_concurrent_prompts_need_one_to_two_hundred_sessions():
    with pytest.raises(HarnessConfigError, match=r"Give 1 to 200 session ids, got 0\."):
        daemon_vs_cli.time_concurrent_prompts(target_of(FakeClient()), [])


def test_sequential_creations_are_timed_and_failures_collected():
    client = FakeClient(delay_s=0.01, fail_every=3)
    timings = daemon_vs_cli.time_session_creations(target_of(client), 6)
    assert timings.session_ids == ["s1", "s2", "s4", "s5"] and timings.concurrency == 1
    assert timings.failures == ["RuntimeError: refused 3", "RuntimeError: refused 6"]
    assert timings.latency.count == 4 and timings.latency.min >= 9.0 and timings.wall_ms >= 60.0


def test_a_concurrent_burst_sends_all_requests_at_once():
    client = FakeClient(delay_s=0.2)
    timings = daemon_vs_cli.time_session_creations(target_of(client), 8, concurrent=True)
    assert timings.success_count == 8 and timings.concurrency == 8 and not timings.failures
    assert timings.wall_ms < 8 * 200 / 2  # overlapped, not one after another


def test_throughput_closes_its_anchors_and_counts_failed_operations():
    client = FakeClient(delay_s=0.001, fail_every=4)
    running = SimpleNamespace(client=client, daemon=SimpleNamespace(pid=2**22 + 12345))  # no such process
    window = daemon_vs_cli.measure_create_close_throughput(lambda: running, 0.5, anchors=2)
    assert window.mode == "anchored" and window.ops > 0 and window.failures > 0
    assert window.agent_spawns == 0 and window.agent_pids == []
    assert client.closed[-2:] == ["s1", "s2"]


def test_the_agent_watcher_sees_children_started_with_acp():
    watcher = daemon_vs_cli.AgentWatcher(os.getpid(), interval_s=0.02).start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "--acp"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "not-an-agent"])
    try:
        deadline = time.monotonic() + 5
        while child.pid not in watcher.seen and time.monotonic() < deadline:
            time.sleep(0.02)
        seen = watcher.stop()
    finally:
        for proc in (child, other):
            proc.kill()
            proc.wait(5)
    assert child.pid in seen and other.pid not in seen
    window = daemon_vs_cli.throughput_window(0, 1, 1.0, 0, seen, wall_started=time.time() - 60)
    assert window.agent_spawns >= 1
