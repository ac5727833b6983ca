"""The results the baseline and benchmark suites record: each carries its figures, derives them from what was
measured, and the daemon-facing loops run here against fake daemons, providers and samplers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from keywords.daemon.daemon_log import EvictionLogRecord
from keywords.errors import DaemonHttpError, HarnessConfigError
from keywords.fakes.oneshot_cli import CliRun, Rusage, StartupPhases
from keywords.measure import (
    bench_tunables,
    cli_runs,
    mcp_counts,
    metrics,
    model_faults,
    prompt_timer,
    rss_scaling,
    session_steps,
    session_timing,
    side_by_side,
    tree_rss,
)
from keywords.measure.ab import BuildComparison, daemon_builds
from keywords.measure.backpressure_replay import Backpressure, RingReplay
from keywords.measure.process_tree import ProcInfo, TreeSnapshot
from keywords.measure.resource_profile import ResourceProfile
from keywords.measure.rss_sampler import RssSamples
from keywords.reporting import kinds
from keywords.reporting.figures import HasFigures, non_camel_keys
from keywords.traffic.client import PromptAccepted, SessionInfo
from keywords.traffic.stream_result import StreamResult
from keywords.traffic.turns import TurnResult


def _target(client):
    return lambda: SimpleNamespace(client=client, daemon=None)


def _snap(total=300.0, descendants=(3, 4), mcp=(3,), declared=1) -> TreeSnapshot:
    return TreeSnapshot(
        daemon_pid=1,
        processes=[ProcInfo(1, 0, "daemon", 80.0, "node")],
        daemon_rss_mb=80.0,
        agents_rss_mb=150.0,
        total_rss_mb=total,
        agent_pids=[2],
        descendant_pids=list(descendants),
        mcp_pids=list(mcp),
        mcp_rss_mb=20.0 if mcp else None,
        mcp_declared=declared,
    )


# -- tree RSS (C4) ---------------------------------------------------------------------------------------


def test_tree_rss_counts_the_mcp_server_processes_not_every_descendant():
    # C4 checked descendants (everything below the agent) against the declared MCP servers: a stray shell
    # below the agent passed as an MCP server. The MCP count is the tree's own mcp_pids.
    rss = tree_rss.TreeRss.of(_snap(descendants=(3, 4, 5), mcp=(3, 4)), 10)
    assert rss.descendants == 3 and rss.mcp_processes == 2 and rss.figures()["mcpServers"] == 2
    none_declared = tree_rss.TreeRss.of(_snap(descendants=(3,), mcp=(), declared=0), 1)
    assert none_declared.mcp_processes is None and none_declared.mcp is None


def test_tree_rss_at_session_counts_opens_sessions_up_to_each_count_and_reads_the_growth(monkeypatch):
    created = []
    client = SimpleNamespace(create_session=lambda scope: created.append(scope) or SessionInfo("s", None, 0, None, 1))
    totals = iter([300.0, 320.0, 345.0])
    monkeypatch.setattr(
        tree_rss,
        "measure_tree_rss",
        lambda target, sessions, settle: tree_rss.TreeRss(sessions, next(totals), 80, 150, None, 1, len(created)),
    )
    series = tree_rss.measure_tree_rss_at(_target(client), ["1", 5, 10], settle=0)
    assert [r.sessions for r in series.readings] == [1, 5, 10] and len(created) == 10
    assert series.growth_per_session_mb == 5.0  # (345 - 300) / 9
    assert series.first.total == 300.0 and series.last.descendants == 10
    figures = series.figures()
    assert list(figures) == ["daemon1Session", "daemon5Sessions", "daemon10Sessions", "growthPerSessionMB"]
    assert figures["daemon5Sessions"]["treeRssMB"] == 320.0
    assert series.line().endswith("growth 5.0 MB/session")
    assert tree_rss.TreeRssSeries([series.first]).growth_per_session_mb is None


@pytest.mark.parametrize(
    "counts, message",
    [
        ([], "Give the session counts to measure at, e.g. 1 5 10; none was given."),
        ([1, 5, 5], "The session counts must rise, e.g. 1 5 10; got 1 5 5."),
        ([0, 5], "a session count must be a whole number from 1 to 500, got 0."),
    ],
)
def test_session_counts_are_checked_before_any_session_opens(counts, message):
    with pytest.raises(HarnessConfigError) as err:
        tree_rss.measure_tree_rss_at(lambda: pytest.fail("the daemon was reached"), counts)
    assert str(err.value) == message


def test_count_keys_read_as_upstreams():
    assert session_steps.count_key("childrenAt", 1) == "childrenAt1Session"
    assert session_steps.count_key("daemon", 10) == "daemon10Sessions"


# -- CLI, sessions, prompts ---------------------------------------------------------------------------------


def _run(wall: float, phases: StartupPhases | None = None) -> CliRun:
    return CliRun(
        index=1,
        argv=["node"],
        exit_code=0,
        wall_ms=wall,
        stdout="ok",
        profile=ResourceProfile(processes=1, peak_rss_mb=180.0),
        rusage=Rusage(100.0, 1.0, 0.2, 10, 1, 1000, 0),
        phases=phases,
    )


def test_cli_cold_start_is_the_profilers_full_start_up_when_written_else_wall_time():
    phases = StartupPhases(50.0, 10.0, 20.0, 30.0, 400.0, 450.0)
    profiled = cli_runs.cli_series("p", 0, [_run(1000.0, phases)], profile_startup=True)
    assert profiled.cold_start.p50 == pytest.approx(450.0, rel=1e-3)
    assert profiled.cold_start_basis == "profiler fullStartupMs"
    assert "phases: module load 50.0 ms · settings 10.0 ms" in profiled.line()
    wall = cli_runs.cli_series("p", 0, [_run(900.0)], profile_startup=False)
    assert wall.cold_start.p50 == pytest.approx(900.0, rel=1e-3) and wall.figures()["coldStartBasis"].startswith("wall")
    assert "no start-up phases: startup profiler not requested" in wall.line()


def test_a_burst_reports_its_success_rate_over_what_was_asked():
    timings = session_timing.session_timings([(5.0, "s1", None), (9.0, None, "HTTPError: 503")], 10.0, 2)
    assert timings.requested == 2 and timings.success_rate == 0.5
    assert timings.figures()["successRate"] == 0.5 and timings.figures()["concurrency"] == 2
    assert session_timing.session_timings([], 0.0, 1).success_rate is None


def test_attach_timings_name_each_request_and_say_whether_all_attached():
    sessions = [SessionInfo("s", None, False, None, 812.34)] + [
        SessionInfo("s", None, True, None, ms) for ms in (4.12, 3.0, 3.5, 3.94)
    ]
    attach = session_timing.AttachTimings(sessions)
    figures = attach.figures()
    assert figures["firstCreateMs"] == 812.3 and figures["session2Ms"] == 4.1 and figures["session5Ms"] == 3.9
    assert attach.all_attached and attach.same_session and attach.elapsed_ms[4] == 3.9
    assert attach.line().startswith("attach #2 4.1 ms")
    other = session_timing.AttachTimings([*sessions[:2], SessionInfo("t", None, False, None, 5.0)])
    assert not other.all_attached and not other.same_session and "NOT all attached" in other.line()
    with pytest.raises(HarnessConfigError, match="count must be a whole number from 2 to 100, got 1"):
        session_timing.time_attaches(lambda: pytest.fail("the daemon was reached"), 1)


class LimitClient:
    """A daemon with ``--max-sessions limit``: refuses with 503 over it, or ignores it (``enforce=False``)."""

    def __init__(self, limit: int, enforce: bool = True) -> None:
        self.limit, self.enforce, self.open, self.n = limit, enforce, [], 0

    def create_session(self, scope: str = "thread") -> SessionInfo:
        if self.enforce and len(self.open) >= self.limit:
            raise DaemonHttpError("POST", "/session", 503, {"code": "session_limit_exceeded", "error": "full"})
        self.n += 1
        self.open.append(f"s{self.n}")
        return SessionInfo(f"s{self.n}", None, False, None, 1.0)

    def close_session(self, session_id: str) -> None:
        self.open.remove(session_id)


def test_the_session_limit_run_records_what_the_daemon_did_not_a_constant():
    run = session_timing.saturate_session_limit(_target(LimitClient(3)), 3)
    assert (run.opened, run.refusal_status, run.refusal_code, run.recovered) == (3, 503, "session_limit_exceeded", True)
    assert run.figures()["limitEnforced"] is True and run.figures()["recoverySucceeded"] is True
    ignored = session_timing.saturate_session_limit(_target(LimitClient(3, enforce=False)), 3)
    assert ignored.refusal_status is None and ignored.extra_session == "s4"
    assert ignored.figures()["limitEnforced"] is False and "was NOT refused" in ignored.line()


def _timed(text: str, outcome: str = "completed") -> prompt_timer.TimedPrompt:
    return prompt_timer.TimedPrompt(text, 10.0, TurnResult("p", outcome=outcome, turn_ms=12.0))


def _req(at: float, done: float, text: str):
    return SimpleNamespace(at_monotonic=at, done_monotonic=done, last_user_text=text)


def test_concurrent_prompts_say_how_the_model_calls_queued_and_their_rate():
    sent = [_timed("say ok (1)"), _timed("say ok (2)")]
    serial = prompt_timer.prompt_series(
        sent, 500.0, concurrency=2, requests=[_req(10.1, 10.2, "say ok (1)"), _req(10.2, 10.3, "say ok (2)")]
    )
    assert serial.queueing.startswith("serialised") and serial.prompts_per_sec == 4.0
    assert serial.wall_ms_per_prompt == 250.0 and serial.figures()["queueing"] == serial.queueing
    overlap = prompt_timer.prompt_series(
        sent, 500.0, concurrency=2, requests=[_req(10.1, 10.3, "say ok (1)"), _req(10.2, 10.4, "say ok (2)")]
    )
    assert overlap.queueing == "overlapped: up to 2 model calls at once"
    assert prompt_timer.prompt_series(sent, 500.0).queueing is None  # one after another: nothing queues
    assert prompt_timer.prompt_series([], 0.0).prompts_per_sec is None


# -- the CLI side by side -----------------------------------------------------------------------------------


def test_a_daemon_figure_is_compared_with_the_matching_cli_figure():
    cli = cli_runs.cli_series("p", 0, [_run(1000.0)], profile_startup=False)
    warm = session_timing.session_timings([(4.0, "s", None)], 4.0, 1)
    c3 = side_by_side.versus_cli(warm, cli)
    assert c3.figures() == {"cliColdStartWallP50Ms": pytest.approx(1000.0, rel=1e-3), "cliOverDaemonP50": 250.05}
    rss = tree_rss.TreeRssSeries([tree_rss.TreeRss(1, 360.0, 80, 150, None, 1, 0)])
    c4 = side_by_side.versus_cli(rss, cli)
    assert c4.ratio_key == "daemonTreeOverCliPeak" and c4.ratio == 2.0  # daemon tree over the CLI's peak
    no_cli = side_by_side.versus_cli(warm, None)
    assert no_cli.figures() == {"cliColdStartWallP50Ms": None, "cliOverDaemonP50": None}
    assert "not run" in no_cli.line()
    with pytest.raises(HarnessConfigError, match="got a dict"):
        side_by_side.versus_cli({}, cli)


def test_side_by_side_bars_hold_only_the_pairs_measured():
    cli = cli_runs.cli_series("p", 0, [_run(1000.0)], profile_startup=False)
    side = side_by_side.pair_figures(prompt_cli=cli, prompt_daemon=prompt_timer.prompt_series([_timed("a")], 1.0))
    labels, _, daemon_ms = side.bars()
    assert labels == ["prompt latency, p50", "prompt latency, p99"] and daemon_ms[0] == pytest.approx(12.0, rel=1e-2)
    assert side["startToFirstUsableP50"] == "not run" and "start to first usable, p50: not run" in side.line()
    assert side_by_side.pair_figures().bars() == ([], [], [])


# -- MCP (B3, B4) --------------------------------------------------------------------------------------------


def _tree_with(*cmdlines: str) -> TreeSnapshot:
    procs = [ProcInfo(1, 0, "daemon", 80.0, "node serve")]
    procs += [ProcInfo(10 + i, 2, "mcp", 10.0, cmd) for i, cmd in enumerate(cmdlines)]
    return TreeSnapshot(daemon_pid=1, processes=procs, agent_pids=[2])


def test_mcp_processes_are_counted_at_each_session_count_and_amplification_is_seen():
    trees = iter([_tree_with("idle_mcp.py a", "idle_mcp.py b")] * 2 + [_tree_with(*["idle_mcp.py x"] * 10)])
    opened = []
    status = {"servers": [{"name": "workspace-idle1", "approvalState": "pending"}, {"name": "idle1", "mcpStatus": "c"}]}
    result = mcp_counts.count_mcp_processes(
        [1, 3, 5],
        opened.append,
        lambda minimum: next(trees),
        r"idle_mcp\.py",
        2,
        status=lambda: status,
        pending_server="workspace-idle1",
        pending_pattern="workspace-idle",
        tree=lambda: _tree_with("idle_mcp.py a"),
    )
    assert opened == [1, 3, 5] and result.counts == {1: 2, 3: 2, 5: 10}
    assert result.off_counts() == {5: 10} and result.at_fewest == 2 and result.at_most == 10
    assert result.linear_amplification  # 10 >= 2 x 5 x 0.5
    figures = result.figures()
    assert figures["childrenAt1Session"] == 2 and figures["childrenAt5Sessions"] == 10
    assert figures["workspaceServerState"] == "pending" and figures["workspaceServerProcesses"] == 0
    assert result.line().startswith("MCP processes 2 at 1 · 2 at 3 · 10 at 5 sessions (2 servers)")


def test_mcp_accounting_sums_the_daemons_entries_next_to_the_tree():
    status = {
        "clientCount": 1,
        "budgetMode": "pooled",
        "servers": [{"entryCount": 1, "mcpStatus": "connected"}, {"entryCount": None, "mcpStatus": "connecting"}],
    }
    acc = mcp_counts.McpAccounting.of(status, _tree_with("idle_mcp.py a", "idle_mcp.py b", "other"), r"idle_mcp\.py")
    assert (acc.entry_count_sum, acc.observed, acc.client_count, acc.connected) == (1, 2, 1, 1)
    assert acc.figures()["budgetMode"] == "pooled" and acc.line().startswith("entryCount sum 1 · observed 2")


# -- provider faults (B8) -----------------------------------------------------------------------------------


class FaultProvider:
    def __init__(self) -> None:
        self.fault, self.request_count, self.log = "none", 0, []

    def configure(self, **changes):
        self.fault = changes["fault"]
        self.log.append(self.fault)


def test_each_fault_is_run_and_the_provider_is_healthy_again_afterwards(monkeypatch):
    provider = FaultProvider()

    def send(client, sid, text, timeout_s):
        faulty = provider.fault != "none"
        provider.request_count += 3 if faulty else 1
        if faulty and provider.fault == "stall":
            return prompt_timer.TimedPrompt(text, 1.0, TurnResult("p", outcome="completed", turn_ms=50.0))
        turn = TurnResult("p", outcome="error" if faulty else "completed", turn_ms=8100.0, error_code="deadline")
        return prompt_timer.TimedPrompt(text, 1.0, turn)

    monkeypatch.setattr(model_faults, "send_prompt", send)
    client = SimpleNamespace(health=lambda: SimpleNamespace(body={"status": "ok"}))
    run = model_faults.run_provider_faults(_target(client), provider, "s", ["http500", "stall"], timeout=5)
    assert provider.log == ["http500", "none", "stall", "none"]
    http500, _ = run.faults
    assert (http500.outcome, http500.code, http500.provider_requests, http500.next_outcome) == (
        "error",
        "deadline",
        3,
        "completed",
    )
    assert run.figures()["faults"]["http500"]["turnMs"] == 8100
    assert run.problems() == ["the stall turn ended completed, expected turn_error"]
    assert run.line().startswith("http500: error deadline in 8.1 s after 3 request(s), next completed")
    with pytest.raises(HarnessConfigError, match="fault must be one of http500, http429, stall; got 'http503'"):
        model_faults.run_provider_faults(_target(client), provider, "s", ["http503"])


# -- RSS scaling (B1) ---------------------------------------------------------------------------------------


class FakeSampler:
    def __init__(self, peaks):
        self.peaks = peaks

    def stop(self) -> RssSamples:
        daemon, tree = self.peaks.pop(0)
        return RssSamples(
            100.0, sample_count=2, dropped=1, peak_daemon_mb=daemon, peak_tree_mb=tree, times_s=[0.0, 0.1],
            daemon_mb=[daemon - 1, daemon], tree_mb=[tree - 1, tree],
        )  # fmt: skip


def test_rss_scaling_takes_the_peaks_per_count_and_the_growth_from_the_first_to_the_last():
    peaks = [(80.0, 300.0), (84.0, 310.0), (89.0, 330.0)]
    opened = []
    scaling = rss_scaling.sample_at_session_counts(
        [1, 5, 10], "thread", opened.append, lambda: FakeSampler(peaks), 3.0, sleep=lambda s: None
    )
    assert opened == [1, 5, 10] and scaling.growth_per_session_mb == 1.0  # (89 - 80) / 9
    figures = scaling.figures()
    assert (figures["session1MB"], figures["session10MB"], figures["treeSession5MB"]) == (80.0, 89.0, 310.0)
    assert figures["sampleCount"] == 6 and figures["droppedSampleCount"] == 3 and figures["agentChildren"] is None
    assert scaling.worst_dropped_ratio == pytest.approx(1 / 3)
    assert (scaling.peak_at_fewest, scaling.peak_at_most) == (80.0, 89.0)
    timeline = scaling.timeline()
    assert len(timeline.times_s) == 6 and [label for _, label in timeline.markers] == [
        "1 session",
        "5 sessions",
        "10 sessions",
    ]
    assert scaling.line().startswith("thread: peak 80.0 MB at 1 · 84.0 MB at 5 · 89.0 MB at 10 · +1.0 MB/session")


def test_a_window_without_a_sample_fails_the_scaling():
    empty = SimpleNamespace(stop=lambda: RssSamples(100.0, dropped=4))
    with pytest.raises(AssertionError, match="took no sample in 3 s with 1 session open"):
        rss_scaling.sample_at_session_counts([1], "single", lambda n: None, lambda: empty, 3.0, sleep=lambda s: None)


# -- SSE (B5, B6) -------------------------------------------------------------------------------------------


def test_backpressure_times_the_eviction_from_the_prompts_post():
    evicted = EvictionLogRecord("s", "st", "queue_overflow", 40, 17, 16, 5000, None, "line", detected_at=12.5)
    accepted = PromptAccepted("p", 3, None, 1.0, posted_at=12.0)
    flood = Backpressure(evicted, accepted, StreamResult(received=40), StreamResult(received=2003), [])
    figures = flood.figures()
    assert figures["evictionMs"] == 500.0 and figures["evictionAtOverflow"] and not figures["healthyEvicted"]
    assert flood.line().startswith("evicted (queue_overflow) at queue 17/16 500.0 ms after the prompt")
    assert Backpressure(evicted, accepted, StreamResult(), StreamResult(), ["evicted healthy"]).healthy_evicted
    found_for_the_prompt = EvictionLogRecord("s", "st", "queue_overflow", 40, 17, 16, 5000, None, "", 12.5, 480.04)
    assert Backpressure(found_for_the_prompt, accepted, StreamResult(), StreamResult()).eviction_ms == 480.0


def test_ring_replay_behind_the_ring_must_hold_exactly_the_rings_last_events():
    inside = StreamResult(ids=list(range(11, 44)), last_id=43, received=34)
    good = StreamResult(ids=list(range(111, 211)), last_id=210, resync={"reason": "ring_evicted"})
    replay = RingReplay(100, 10, inside, good, 210)
    assert replay.first_id_kept == 111 and replay.replay_up_to_ring and replay.behind_problems() == []
    assert replay.figures()["replayedAfterResync"] == 100 and replay.figures()["firstIdAfterResync"] == 111
    short = StreamResult(ids=[*range(111, 150), *range(151, 211)], last_id=210, resync={"reason": "ring_evicted"})
    assert RingReplay(100, 10, inside, short, 210).behind_problems() == [
        "after the resync the stream should hold the ring's 100 events, ids 111..210, "
        "got 99 ids 111..210 with 1 break(s)"
    ]
    no_resync = RingReplay(100, 10, inside, StreamResult(ids=list(range(111, 211))), 210)
    assert no_resync.behind_problems()[0].startswith("a cursor behind the ring should get state_resync_required")


# -- A/B, tunables, kinds ----------------------------------------------------------------------------------


def test_the_build_comparison_says_which_metrics_miss_pairs_and_whether_one_build_ran_twice(tmp_path):
    cmp = BuildComparison("a", "b", 1, same_build=True)
    for build in cmp.order:
        cmp.add(build, treeRssMB=100.0, promptP50Ms=None if build == "B" else 10.0)
    assert cmp.full_pairs == 2 and [m.name for m in cmp.short_of_pairs()] == ["promptP50Ms"]
    assert cmp.figures()["sameBuild"] is True and cmp.figures()["a"] == "a"
    entry = tmp_path / "cli.js"
    entry.write_text("")
    assert daemon_builds.same_entry(str(entry), str(tmp_path / "x" / ".." / "cli.js"))
    assert not daemon_builds.same_entry(str(entry), str(tmp_path / "other.js"))


def test_benchmark_tunables_take_upstreams_defaults_unless_given():
    light = bench_tunables.resolve_tunables("", iterations="", concurrent_sessions=None)
    assert (light.iterations, light.concurrent_sessions, light.throughput_window_s, light.churn_rounds) == (
        5,
        5,
        10,
        20,
    )
    heavy = bench_tunables.resolve_tunables("True", iterations="7")
    assert (heavy.iterations, heavy.concurrent_sessions, heavy.churn_rounds, heavy.heavy) == (7, 10, 28, True)
    assert heavy.sse_flood_streams == 20 and heavy.parameters()["throughputWindowS"] == 30.0
    with pytest.raises(HarnessConfigError, match="HEAVY must be True or False, got 'maybe'"):
        bench_tunables.resolve_tunables("maybe")
    with pytest.raises(HarnessConfigError, match="ITERATIONS must be a whole number from 1 to 200, got '0'"):
        bench_tunables.resolve_tunables(False, iterations="0")


def test_the_build_comparison_has_its_own_snapshot_kind():
    assert kinds.get("build-comparison").schema_path.is_file()
    assert "compare_builds" not in kinds.get("daemon-vs-cli-benchmark").recorded_by
    doc = {"kind": "build-comparison", "scenarios": []}
    assert all("kind" not in p.key for p in kinds.problems(doc))


def test_every_new_result_carries_camel_case_figures_and_a_line():
    lat = metrics.summarize([1.0])
    results = [
        tree_rss.TreeRssSeries([tree_rss.TreeRss.of(_snap(), 1)]),
        session_timing.AttachTimings([SessionInfo("s", None, False, None, 1.0)]),
        session_timing.SessionLimitRun(1, 1, [], 503, "x", None, True),
        side_by_side.versus_cli(session_timing.session_timings([(lat.p50, "s", None)], 1.0, 1), None),
        side_by_side.pair_figures(),
        mcp_counts.McpAmplification(2, {1: 2}),
        mcp_counts.McpAccounting(2, 2, 0, 2, None),
        model_faults.ProviderFaultRun(),
        rss_scaling.RssScaling("single"),
        Backpressure(
            EvictionLogRecord("s", "t", "queue_overflow", 1, 1, 1, 1, None, ""),
            PromptAccepted("p", 1, None, 1.0),
            StreamResult(),
            StreamResult(),
        ),
        RingReplay(1, 0, StreamResult(), StreamResult(), 1),
        BuildComparison("a", "b"),
    ]
    for result in results:
        assert isinstance(result, HasFigures), type(result).__name__
        assert non_camel_keys(result.figures()) == [], type(result).__name__
        assert result.line(), type(result).__name__
