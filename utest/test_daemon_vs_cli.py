"""The daemon-versus-CLI benchmark models without a daemon: how figures, ratios, labels and series are derived.

The daemon-facing functions take their daemon through a ``target`` callable; here it returns a fake client,
so the loops (timing, failures, barriers, validation before the daemon is reached) run in-process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from waiting import until

from keywords.components.provider_keywords import ProviderKeywords
from keywords.errors import HarnessConfigError
from keywords.fakes.oneshot_cli import CliRun, Rusage, StartupPhases
from keywords.measure import (
    bench_common,
    boot_timing,
    cli_runs,
    counters,
    metrics,
    prompt_timer,
    replay_flood,
    session_churn,
    session_timing,
    side_by_side,
    tree_rss,
)
from keywords.measure.process_tree import ProcInfo, TreeSnapshot
from keywords.measure.resource_profile import ResourceProfile
from keywords.reporting.figures import HasFigures, non_camel_keys
from keywords.traffic.barrier import BarrierBrokenError
from keywords.traffic.client import PromptAccepted, SessionInfo
from keywords.traffic.stream_result import StreamResult
from keywords.traffic.turns import TurnResult

# -- side-by-side figures ----------------------------------------------------------------------------------


def test_a_pair_rounds_values_and_takes_the_ratio_cli_over_daemon():
    pair = side_by_side.figure_pair(1234.56, 100.04, "how")
    assert pair == {"cli": 1234.6, "daemon": 100.0, "cliOverDaemon": 12.34, "unit": "ms", "how": "how"}
    assert side_by_side.figure_pair(5.0, 0.0, "h", unit="MB") == {
        "cli": 5.0,
        "daemon": 0.0,
        "cliOverDaemon": None,
        "unit": "MB",
        "how": "h",
    }


@pytest.mark.parametrize("cli, daemon", [(None, 1.0), (1.0, None), (None, None)])
def test_a_pair_with_a_missing_side_is_not_run(cli, daemon):
    assert side_by_side.figure_pair(cli, daemon, "how") == "not run"


def _cli(p50: float, p99: float, profile: ResourceProfile | None = None, rusage: Rusage | None = None):
    return SimpleNamespace(wall=SimpleNamespace(p50=p50, p99=p99), profile=profile or ResourceProfile(), rusage=rusage)


def test_side_by_side_pairs_each_figure_with_its_own_inputs():
    cold = _cli(2000.0, 2500.0, ResourceProfile(processes=3, peak_rss_mb=180.0), Rusage(170.0, 1.5, 0.2, 9, 1, 99, 0))
    boot = SimpleNamespace(
        latency=SimpleNamespace(p50=500.0), profile=ResourceProfile(processes=2), rusage={"user_cpu_s": 0.7}
    )
    prompt_cli = _cli(3000.0, 3600.0)
    prompt_daemon = SimpleNamespace(latency=SimpleNamespace(p50=30.0, p99=40.0))
    side = side_by_side.side_by_side(cold, boot, prompt_cli, prompt_daemon)
    assert list(side) == ["startToFirstUsableP50", "promptLatencyP50", "promptLatencyP99", "resourceProfile"]
    assert (side["startToFirstUsableP50"]["cli"], side["startToFirstUsableP50"]["daemon"]) == (2000.0, 500.0)
    assert side["startToFirstUsableP50"]["cliOverDaemon"] == 4.0
    assert side["promptLatencyP50"]["cliOverDaemon"] == 100.0
    assert (side["promptLatencyP99"]["cli"], side["promptLatencyP99"]["daemon"]) == (3600.0, 40.0)
    assert side["promptLatencyP99"]["cliOverDaemon"] == 90.0
    profile = side["resourceProfile"]
    assert profile["cli"]["sampled"]["processes"] == 3 and profile["cli"]["sampled"]["peakRssMB"] == 180.0
    assert profile["cli"]["exactWait4"]["maxRssMB"] == 170.0 and profile["cli"]["exactWait4"]["userCpuS"] == 1.5
    assert profile["daemon"]["exactRusageChildren"] == {"userCpuS": 0.7}
    assert profile["daemon"]["sampled"]["processes"] == 2
    assert profile["how"] == side_by_side.PROFILE_HOW
    assert non_camel_keys(side) == []


def test_side_by_side_marks_what_did_not_run():
    assert side_by_side.side_by_side() == {
        "startToFirstUsableP50": "not run",
        "promptLatencyP50": "not run",
        "promptLatencyP99": "not run",
        "resourceProfile": "not run",
    }
    only_cli = side_by_side.side_by_side(cli_cold=_cli(1.0, 2.0), prompt_cli=_cli(1.0, 2.0))
    assert set(only_cli.values()) == {"not run"}
    # A summary with no samples (p50 None) is "not run" too, not a division by None.
    empty_daemon = SimpleNamespace(latency=metrics.summarize([]))
    assert (
        side_by_side.side_by_side(prompt_cli=_cli(1.0, 2.0), prompt_daemon=empty_daemon)["promptLatencyP50"]
        == "not run"
    )


def test_exact_counters_get_the_keys_of_the_sampled_profile_and_a_new_counter_is_not_guessed():
    exact = counters.counter_figures(Rusage(170.0, 1.5, 0.2, 9, 1, 99, 0))
    sampled = ResourceProfile(processes=1, user_cpu_s=1.0).figures()
    assert set(exact) - {"maxRssMB"} <= set(sampled) and exact["userCpuS"] == 1.5
    assert counters.counter_figures(None) is None
    with pytest.raises(KeyError):
        counters.counter_figures({"brand_new_counter": 1})


def test_rusage_delta_subtracts_every_counter_but_max_rss():
    fields = ("ru_utime", "ru_stime", "ru_nvcsw", "ru_nivcsw", "ru_minflt", "ru_majflt", "ru_maxrss")
    before = SimpleNamespace(**dict(zip(fields, (1.0, 0.5, 10, 2, 100, 0, 9999), strict=True)))
    after = SimpleNamespace(**dict(zip(fields, (1.2504, 0.75, 15, 3, 180, 1, 5), strict=True)))
    delta = counters.rusage_delta(before, after)
    assert counters.counter_figures(delta) == {
        "userCpuS": 0.25,
        "systemCpuS": 0.25,
        "voluntaryCtxSwitches": 5,
        "involuntaryCtxSwitches": 1,
        "minorPageFaults": 80,
        "majorPageFaults": 1,
    }


# -- throughput and churn ----------------------------------------------------------------------------------


def test_a_window_counts_only_agents_created_after_it_started():
    seen = {300: 99.0, 200: 101.0, 100: 100.0}
    window = session_churn.throughput_window(3, 25, 10.0, ["RuntimeError: x"], seen, wall_started=100.0)
    assert (window.mode, window.ops, window.ops_per_sec, window.failures) == ("anchored", 25, 2.5, 1)
    assert window.agent_spawns == 2 and window.agent_pids == [100, 200, 300]
    assert window.label == "anchored: the agent child was respawned 2 time(s) (cold starts included)"
    assert window.figures()["agentChildRespawned"] is True


def test_a_window_without_respawn_says_it_was_not_a_cold_start():
    window = session_churn.throughput_window(0, 7, 3.0, [], {42: 10.0}, wall_started=50.0)
    assert window.mode == "unanchored" and window.agent_spawns == 0 and window.ops_per_sec == 2.33
    assert window.label == "unanchored: the agent child stayed up (no respawn; not a cold start)"
    assert window.figures() == {
        "opsPerSec": 2.33,
        "totalOps": 7,
        "failures": 0,
        "failureTexts": [],
        "agentSpawns": 0,
        "agentChildRespawned": False,
        "label": window.label,
    }
    assert window.to_dict()["mode"] == "unanchored" and window.to_dict()["windowS"] == 3.0


def test_failure_texts_keep_the_first_distinct_ones_with_their_counts():
    texts = ["a", "b", "a", "c", "d", "e", "f", "a", "f"]
    tally = bench_common.tally_failures(texts)
    assert [(f.text, f.count) for f in tally] == [("a", 3), ("b", 1), ("c", 1), ("d", 1), ("e", 1)]
    assert bench_common.failure_figures(len(texts), tally)["failures"] == 9
    assert bench_common.failure_line(9, tally) == "9 failed (first: a x3)"
    assert bench_common.failure_line(0, []) == "0 failed"


def test_churn_drift_is_after_minus_before_in_mb_and_failures_keep_their_texts():
    before = tree_rss.TreeRss(3, 300.04, 100, 150, 50, 1, 2)
    after = tree_rss.TreeRss(3, 312.46, 100, 162, 50, 1, 2)
    churn = session_churn.churn_result([4.0, 6.0], 3, ["HTTPError: 503"], before, after)
    assert churn.drift_mb == 12.4 and churn.rounds == 3 and churn.failures == 1 and churn.latency.count == 2
    figures = churn.figures()
    assert figures["failureTexts"] == [{"text": "HTTPError: 503", "count": 1}] and figures["completedRounds"] == 2
    assert figures["rssBefore"]["treeRssMB"] == 300.04 and figures["rssDriftMB"] == 12.4
    assert "1 failed (first: HTTPError: 503 x1)" in churn.line()


# -- provider arrival and queueing -------------------------------------------------------------------------


def test_max_in_flight_counts_overlap_and_not_touching_spans():
    assert prompt_timer.max_in_flight([]) == 0
    assert prompt_timer.max_in_flight([(0, 1), (1, 2), (2, 3)]) == 1  # one ends as the next starts
    assert prompt_timer.max_in_flight([(0, 5), (1, 2), (1.5, 6), (7, 8)]) == 3
    # A zero-length span (a request still unfinished is given as one) never counts as open.
    assert prompt_timer.max_in_flight(iter([(0, 0), (0, 0)])) == 0
    assert prompt_timer.max_in_flight([(0, 2), (1, 1)]) == 1


def _req(at: float, text: str, done: float | None = None):
    return SimpleNamespace(at_monotonic=at, done_monotonic=done, last_user_text=text)


def test_arrival_is_the_first_request_after_the_post_that_carries_the_text():
    reqs = [_req(9.0, "say ok (1)"), _req(10.4, "x say ok (10) y"), _req(10.5, "say ok (1) and more")]
    # "say ok (1)" is not inside "say ok (10)", and a request before the POST is someone else's.
    assert prompt_timer.arrival_ms(reqs, "say ok (1)", 10.0) == pytest.approx(500.0)
    assert prompt_timer.arrival_ms(reqs, "say ok (10)", 10.0) == pytest.approx(400.0)
    assert prompt_timer.arrival_ms(reqs, "say ok (2)", 10.0) is None


# -- the one prompt timer ----------------------------------------------------------------------------------


def _timed(text: str, outcome: str = "completed", turn_ms: float | None = 12.0, **extra) -> prompt_timer.TimedPrompt:
    turn = TurnResult("p", outcome=outcome, turn_ms=turn_ms, **extra)
    return prompt_timer.TimedPrompt(text, 10.0, turn)


def test_prompt_series_keeps_every_outcome_but_times_only_completed_turns():
    done = _timed("a", first_chunk_ms=3.0)
    err = _timed("b", "error", 5.0, error_code="-32603", first_chunk_ms=1.0)
    raised = prompt_timer.TimedPrompt("c", None, None, "RuntimeError: " + "x" * 300)
    series = prompt_timer.prompt_series([done, err, raised, done], 123.456)
    assert series.outcomes[:2] == ["completed", "error -32603"] and series.outcomes[3] == "completed"
    assert series.outcomes[2].startswith("exception: RuntimeError: x") and len(series.outcomes[2]) == 200
    assert series.failures == 2 and series.completed == 2 and series.wall_ms == 123.5
    assert series.failed[0].startswith("#2: error -32603") and series.failed[1].startswith("#3: exception")
    # The failed turn's 5 ms and its 1 ms first chunk are in no latency figure.
    assert series.latency_ms == [12.0, 12.0] and series.first_chunk_ms == [3.0, 3.0]
    assert series.latency.min == pytest.approx(12.0, rel=1e-3)
    assert (series.provider_arrival, series.provider_requests, series.provider_max_in_flight) == (None, None, None)
    figures = series.figures()
    assert figures["failures"] == 2 and figures["failureTexts"][0] == {"text": "error -32603", "count": 1}
    assert figures["providerArrivalMs"] is None and non_camel_keys(figures) == []


class PromptClient:
    """``prompt`` of a daemon: answers at once; the fake provider sees each text 10 ms after its POST."""

    def __init__(self, provider=None, refuse: set[int] | None = None) -> None:
        self.provider = provider
        self.refuse = refuse or set()
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def prompt(self, session_id: str, text: str) -> PromptAccepted:
        with self._lock:
            self.texts.append(text)
            n = len(self.texts)
        if n in self.refuse:
            raise RuntimeError(f"409 prompt {n} refused")
        posted = time.monotonic()
        if self.provider is not None:
            self.provider.log.append(_req(posted + 0.010, f"user: {text}", posted + 0.020))
        return PromptAccepted(f"p{n}", n, None, 1.0, posted)


class FakeProvider:
    def __init__(self) -> None:
        self.log: list = []

    def requests(self):
        return list(self.log)


def _script_turns(monkeypatch, outcomes: dict[str, tuple[str, float]]):
    """``follow_turn`` answers from a script: text -> (outcome, turn ms); unknown texts complete in 12 ms."""

    def follow(client, session_id, accepted, *, timeout_s):
        text = client.texts[accepted.last_event_id - 1]
        outcome, ms = outcomes.get(text, ("completed", 12.0))
        return TurnResult(accepted.prompt_id, outcome=outcome, turn_ms=ms, first_chunk_ms=ms / 2)

    monkeypatch.setattr(prompt_timer, "follow_turn", follow)


def test_measure_prompt_latency_counts_a_failed_turn_as_a_failure_never_as_latency(monkeypatch):
    provider = FakeProvider()
    client = PromptClient(provider)
    _script_turns(monkeypatch, {"say ok (2)": ("error", 5.0)})
    ctx = SimpleNamespace(get=lambda name=None: SimpleNamespace(client=client))
    lat = ProviderKeywords(ctx).measure_prompt_latency("s1", 3, text="say ok", provider=provider)
    assert client.texts == ["say ok (1)", "say ok (2)", "say ok (3)"]
    assert lat.prompts == 3 and lat.completed == 2 and lat.failures == 1
    assert lat.failed == ["#2: error (0 chunks, 5.0 ms)"]
    assert lat.latency_ms == [12.0, 12.0] and lat.first_chunk_ms == [6.0, 6.0]
    # The provider saw all three; the arrival of the failed turn's request is not a latency either.
    assert lat.provider_requests == 3 and lat.provider_arrival.count == 2
    assert lat.provider_arrival.min == pytest.approx(10.0, abs=0.5)
    assert isinstance(lat, HasFigures)


def test_time_prompts_sends_warm_ups_first_and_counts_a_refused_post_as_a_failure(monkeypatch):
    client = PromptClient(refuse={3})
    _script_turns(monkeypatch, {})
    series = prompt_timer.time_prompts(lambda: SimpleNamespace(client=client), "s1", "hi", iterations=3, warmup=1)
    assert client.texts == ["hi"] * 4 and series.prompts == 3 and series.latency.count == 2
    assert series.outcomes[1] == "exception: RuntimeError: 409 prompt 3 refused" and series.failures == 1


def test_concurrent_prompts_are_numbered_and_the_provider_log_says_how_they_queued(monkeypatch):
    provider = FakeProvider()
    client = PromptClient(provider)
    _script_turns(monkeypatch, {})
    target = lambda: SimpleNamespace(client=client)  # noqa: E731
    series = prompt_timer.time_concurrent_prompts(target, ["s1", "s2", "s3"], provider=provider)
    assert sorted(client.texts) == ["say ok (1)", "say ok (2)", "say ok (3)"]
    assert series.concurrency == 3 and series.completed == 3 and series.provider_requests == 3
    assert series.provider_arrival.count == 3 and series.provider_max_in_flight >= 1


class BrokenBarrier:
    """A barrier that is broken when the first thread arrives."""

    def __init__(self, parties: int, timeout: float | None = None) -> None:
        self.parties = parties

    def wait(self, timeout: float | None = None) -> int:
        raise threading.BrokenBarrierError


def test_a_broken_barrier_fails_a_burst_instead_of_starting_it_anyway(monkeypatch):
    monkeypatch.setattr(threading, "Barrier", BrokenBarrier)
    client = FakeClient()
    with pytest.raises(BarrierBrokenError):
        session_timing.time_session_creations(target_of(client), 4, concurrent=True)
    assert client.created == []  # nothing was sent as if it had started together
    prompts = PromptClient()
    with pytest.raises(BarrierBrokenError):
        prompt_timer.time_concurrent_prompts(lambda: SimpleNamespace(client=prompts), ["s1", "s2"])
    assert prompts.texts == []


# -- series from measurements -------------------------------------------------------------------------------


def test_session_timings_time_only_successes_and_keep_error_texts():
    timings = session_timing.session_timings(
        [(5.0, "s1", None), (9.0, None, "HTTPError: 503"), (7.0, "s2", None), RuntimeError("lost")], 21.26, 3
    )
    assert timings.session_ids == ["s1", "s2"] and timings.success_count == 2
    assert timings.failures == ["HTTPError: 503", "RuntimeError: lost"]
    assert timings.wall_ms == 21.3 and timings.concurrency == 3
    assert timings.latency.count == 2 and timings.latency.max == pytest.approx(7.0, rel=1e-3)
    assert timings.figures()["created"] == 2 and timings.figures()["failures"] == 2
    assert timings.line().startswith("2 created · p50")


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
        mcp_pids=[3],
        mcp_rss_mb=20.04,
        mcp_declared=1,
    )
    rss = tree_rss.TreeRss.of(snap, 5)
    assert (rss.sessions, rss.total, rss.daemon, rss.agent, rss.mcp, rss.agents, rss.descendants) == (
        5,
        270.1,
        80.0,
        150.1,
        20.0,
        1,
        2,
    )
    assert rss.line() == "total=270.1MB (daemon=80.0 acp=150.1 mcp=20.0)"
    assert rss.figures() == {
        "treeRssMB": 270.1,
        "daemonRssMB": 80.0,
        "agentsRssMB": 150.1,
        "mcpServersRssMB": 20.0,
        "agents": 1,
        "agentDescendants": 2,
        "mcpServers": 1,
    }
    assert set(rss.figures()) <= set(snap.figures())  # the process tree's own names
    assert rss.to_dict()["sessions"] == 5


def test_a_tree_without_mcp_servers_reports_no_mcp_figure():
    snap = TreeSnapshot(daemon_pid=1, total_rss_mb=100.0, descendants_rss_mb=30.0, descendant_pids=[3])
    rss = tree_rss.TreeRss.of(snap, 1)
    assert rss.mcp is None and rss.figures()["mcpServersRssMB"] is None
    assert rss.line().endswith("mcp=none)")


def test_flood_result_times_replay_complete_and_counts_missing_streams():
    seen = StreamResult(status=200, replay_complete={"ok": True}, events=[{"type": "replay_complete", "_recv_ms": 8.5}])
    refused = StreamResult(status=503)
    flood = replay_flood.flood_result(3, [seen, refused, None], healthy=True)
    assert isinstance(flood, replay_flood.SseFloodResult)
    assert (flood.opened, flood.connected, flood.statuses, flood.healthy_after) == (3, 1, [200, 503, 0], True)
    assert not flood.all_connected and flood.figures()["allConnected"] is False
    assert flood.time_to_replay_complete.count == 1
    assert flood.time_to_replay_complete.p50 == pytest.approx(8.5, rel=1e-3)
    assert replay_flood.flood_result(1, [seen], healthy=False).all_connected
    assert flood.line().startswith("1/3 streams saw replay_complete")


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
    series = cli_runs.cli_series("say ok", 1, runs, profile_startup=True)
    assert series.wall.count == 2 and series.full_startup.count == 1
    assert series.peak_rss_mb.max == pytest.approx(102.0, rel=1e-3)
    assert series.phases is None and series.phases_note == "no report file was written"
    assert series.rusage.user_cpu_s == 1.0 and series.failures == 0 and series.stdout == "ok"
    figures = series.figures()
    assert figures["rusageExact"]["userCpuS"] == 1.0 and figures["resourceProfile"]["peakRssMB"] == 102.0
    assert figures["runs"] == 2 and figures["startupPhases"] is None and figures["fullStartupMs"]["count"] == 1
    assert non_camel_keys(figures) == []
    snap = series.to_dict()
    assert snap["warmupRuns"] == 1 and snap["method"].startswith(f"wall: {cli_runs.WALL_METHOD}")
    assert series.line().startswith("CLI wall p50")


def test_cli_series_without_the_profiler_says_wall_time_only():
    series = cli_runs.cli_series("say ok", 0, [_run(1, 900.0)], profile_startup=False)
    assert series.full_startup is None and series.phases_note == "startup profiler not requested; wall time only"
    assert series.to_dict()["startupPhasesNote"] == series.phases_note
    assert series.figures()["fullStartupMs"] is None and "full start-up" not in series.line()


def test_boot_figures_say_not_measured_when_nothing_was_sampled():
    lat = metrics.summarize([500.0])
    boot = boot_timing.BootSeries(lat, lat, lat, profile=None, rusage={"user_cpu_s": 0.5}, peak_tree_mb=None)
    figures = boot.figures()
    assert figures["resourceProfile"] is None and figures["peakTreeRssMB"] is None
    assert figures["rusageExact"] == {"userCpuS": 0.5} and non_camel_keys(figures) == []
    assert boot.to_dict()["method"] == boot_timing.METHOD and boot.line().startswith("boot to first session p50")


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


def target_of(client: FakeClient, daemon=None):
    return lambda: SimpleNamespace(client=client, daemon=daemon)


def no_daemon():
    raise AssertionError("the daemon was reached before the arguments were checked")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cli_runs.check_cli_counts(0, 1), "iterations must be a whole number from 1 to 200, got 0."),
        (lambda: cli_runs.check_cli_counts(5, 11), "warmup must be a whole number from 0 to 10, got 11."),
        (
            lambda: session_timing.time_session_creations(no_daemon, 501),
            "count must be a whole number from 1 to 500, got 501.",
        ),
        (
            lambda: session_timing.time_session_creations(no_daemon, 5, scope="shared"),
            "scope must be one of thread, single; got 'shared'.",
        ),
        (
            lambda: session_churn.measure_create_close_throughput(no_daemon, 0),
            "window must be a number above 0 and at most 600 s, got 0.",
        ),
        (
            lambda: session_churn.measure_session_churn(no_daemon, 0),
            "rounds must be a whole number from 1 to 10000, got 0.",
        ),
        (
            lambda: replay_flood.open_sse_flood(no_daemon, "s", count=0),
            "count must be a whole number from 1 to 500, got 0.",
        ),
        (
            lambda: boot_timing.measure_boot_to_first_session(no_daemon, no_daemon, no_daemon, iterations=101),
            "iterations must be a whole number from 1 to 100, got 101.",
        ),
        (
            lambda: tree_rss.measure_tree_rss(no_daemon, settle=31),
            "settle must be a number from 0 to 30 s, got 31.",
        ),
        (
            lambda: prompt_timer.time_prompts(no_daemon, "s", "hi", timeout="soon"),
            "timeout must be a number above 0 and at most 1800 s, got 'soon'.",
        ),
        (
            lambda: prompt_timer.time_concurrent_prompts(no_daemon, []),
            "the number of session ids must be a whole number from 1 to 200, got 0.",
        ),
    ],
)
def test_arguments_are_checked_before_anything_starts(call, message):
    with pytest.raises(HarnessConfigError) as err:
        call()
    assert str(err.value) == message


def test_sequential_creations_are_timed_and_failures_collected():
    client = FakeClient(delay_s=0.01, fail_every=3)
    timings = session_timing.time_session_creations(target_of(client), 6)
    assert timings.session_ids == ["s1", "s2", "s4", "s5"] and timings.concurrency == 1
    assert timings.failures == ["RuntimeError: refused 3", "RuntimeError: refused 6"]
    assert timings.latency.count == 4 and timings.latency.min >= 9.0 and timings.wall_ms >= 60.0


def test_a_concurrent_burst_sends_all_requests_at_once():
    client = FakeClient(delay_s=0.2)
    timings = session_timing.time_session_creations(target_of(client), 8, concurrent=True)
    assert timings.success_count == 8 and timings.concurrency == 8 and not timings.failures
    assert timings.wall_ms < 8 * 200 / 2  # overlapped, not one after another


def test_throughput_closes_its_anchors_and_keeps_the_texts_of_failed_operations():
    client = FakeClient(delay_s=0.001, fail_every=4)
    running = SimpleNamespace(client=client, daemon=SimpleNamespace(pid=2**22 + 12345))  # no such process
    window = session_churn.measure_create_close_throughput(lambda: running, 0.5, anchors=2)
    assert window.mode == "anchored" and window.ops > 0 and window.failures > 0
    assert window.failure_texts[0].text == "RuntimeError: refused 4" and len(window.failure_texts) <= 5
    assert window.figures()["failureTexts"][0] == {"text": "RuntimeError: refused 4", "count": 1}
    assert window.agent_spawns == 0 and window.agent_pids == []
    assert client.closed[-2:] == ["s1", "s2"]


def test_churn_keeps_the_texts_of_failed_rounds_and_closes_its_anchors():
    client = FakeClient(fail_every=5)
    me = SimpleNamespace(pid=os.getpid(), tree=list, home=None)  # this process stands in for the daemon's tree
    churn = session_churn.measure_session_churn(target_of(client, me), 8, anchors=2)
    # Creations 1-2 are the anchors; rounds create 3..10, of which 5 and 10 fail.
    assert churn.rounds == 8 and churn.failures == 2 and churn.latency.count == 6
    assert [(f.text, f.count) for f in churn.failure_texts] == [
        ("RuntimeError: refused 5", 1),
        ("RuntimeError: refused 10", 1),
    ]
    assert churn.before.total > 0 and churn.after.total > 0
    assert client.closed[-2:] == ["s1", "s2"]


_SPAWN_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', '--acp'])\n"
    "print(g.pid, flush=True)\n"
    "time.sleep(30)\n"
)


def test_the_agent_watcher_uses_the_process_trees_rule_not_the_command_line():
    watcher = session_churn.AgentWatcher(os.getpid(), interval_s=0.02).start()
    # A direct child without --acp is an agent; its own child is a descendant even with --acp in its command line.
    child = subprocess.Popen([sys.executable, "-c", _SPAWN_GRANDCHILD], stdout=subprocess.PIPE, text=True)
    grandchild = int(child.stdout.readline())
    try:
        until(lambda: child.pid in watcher.seen, poll_s=0.02)
        seen = watcher.stop()
    finally:
        for pid in (grandchild, child.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        child.wait(5)
    assert child.pid in seen and grandchild not in seen
    window = session_churn.throughput_window(0, 1, 1.0, [], seen, wall_started=time.time() - 60)
    assert window.agent_spawns >= 1


def test_every_benchmark_result_carries_camel_case_figures_and_a_line():
    lat = metrics.summarize([1.0, 2.0])
    rss = tree_rss.TreeRss(1, 10.0, 5.0, 4.0, 1.0, 1, 1)
    results = [
        cli_runs.cli_series("p", 0, [_run(1, 900.0)], profile_startup=False),
        boot_timing.BootSeries(lat, lat, lat, ResourceProfile(processes=1), {"user_cpu_s": 1.0}, 50.0),
        session_timing.session_timings([(1.0, "s", None)], 1.0, 1),
        rss,
        prompt_timer.prompt_series([_timed("a")], 1.0, requests=[_req(10.001, "a")]),
        session_churn.throughput_window(0, 1, 1.0, [], {}, 0.0),
        session_churn.churn_result([1.0], 1, [], rss, rss),
        replay_flood.flood_result(1, [None], healthy=True),
    ]
    for result in results:
        assert isinstance(result, HasFigures), type(result).__name__
        assert non_camel_keys(result.figures()) == [], type(result).__name__
        assert result.line(), type(result).__name__
