"""Run history without a daemon: the SQLite store (schema, migrations, transactions, concurrent writers,
interrupted runs, pabot parts), imports of output folders, change points by Otava and the history check, the
trend page's data and HTML, the command's exit codes, and the listener hooks of the history component."""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from keywords import history as command
from keywords.components.history_keywords import HistoryKeywords
from keywords.errors import HarnessConfigError
from keywords.reporting import change_points, run_import, run_records, run_store, trends
from keywords.reporting.run_records import Point, RunFacts, TestOutcome
from keywords.reporting.run_store import HistoryError, HistoryStore

ROOT = Path(__file__).parent.parent


def doc(values: dict, *, kind: str = "smoke", scenario: str = "round-trip", status: str = "passed", params=None):
    return {
        "version": 3,
        "kind": kind,
        "capturedAt": "2026-12-01T10:00:00.000+00:00",
        "scenarios": [
            {
                "name": scenario,
                "status": status,
                "durationMs": 10.0,
                "parameters": params or {"prompts": 3},
                "metrics": values,
            }
        ],
    }


def facts(build: str = "release 0.24.4 (npm, pinned)", started: str = "") -> RunFacts:
    return RunFacts(name="Smoke", started_at=started, daemon_version="0.24.4", daemon_label=build)


def passed_test(name: str = "Round Trip", status: str = "passed", message: str = "") -> TestOutcome:
    return TestOutcome(f"Smoke.{name}", name, "Smoke", status, 12.5, message, ["smoke"])


def record(store: HistoryStore, values: dict, *, key: str | None = None, build: str = "release", tests=None, **kw):
    key = key or f"run-{len(store.runs()) + 1}"
    return store.finish_part(key, "main", facts(build), tests or [passed_test()], [doc(values, **kw)])


def ten_runs_then(store: HistoryStore, step: float, *, seed: int = 7, metric: str = "turnP50Ms") -> None:
    rng = random.Random(seed)
    for _ in range(10):
        record(store, {metric: 25 * (1 + rng.gauss(0, 0.05)), "received": 10, "stopMs": 118 + rng.gauss(0, 2)})
    record(store, {metric: 25 * step, "received": 10, "stopMs": 118.5}, build="local build slow")


@pytest.fixture
def store(tmp_path):
    with run_store.open_store(tmp_path / "h" / "history.sqlite") as s:
        yield s


# -- where the database is ------------------------------------------------------------------------
def test_path_is_the_variable_else_the_environment_else_results(tmp_path):
    assert run_store.database_path("", {}) == Path("results/history.sqlite")
    assert run_store.database_path("", {"QWEN_HARNESS_HISTORY": "/team/h.sqlite"}) == Path("/team/h.sqlite")
    assert run_store.database_path("mine.sqlite", {"QWEN_HARNESS_HISTORY": "/team/h.sqlite"}) == Path("mine.sqlite")
    assert run_store.database_path("NONE", {}) is None
    assert run_store.database_path("", {"QWEN_HARNESS_HISTORY": "none"}) is None


# -- schema and migrations ------------------------------------------------------------------------
def test_a_new_database_has_the_current_schema_in_wal_mode(store):
    assert store.version == run_store.SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_database_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    with HistoryStore(path, migrations=run_store.MIGRATIONS[:1]) as old:
        record(old, {"turnP50Ms": 20.0})
    newer = (*run_store.MIGRATIONS, "ALTER TABLE runs ADD COLUMN note TEXT")
    with HistoryStore(path, migrations=newer) as new:
        assert new.version == len(newer)
        assert [r.id for r in new.runs()] == [1]
        assert new.db.execute("SELECT note FROM runs").fetchone()[0] is None
        assert len(new.series()) == 1


def test_a_database_of_a_newer_harness_is_refused_not_changed(tmp_path):
    path = tmp_path / "new.sqlite"
    with HistoryStore(path, migrations=(*run_store.MIGRATIONS, "CREATE TABLE extra (x)")) as newer:
        record(newer, {"turnP50Ms": 20.0})
    with pytest.raises(HistoryError, match="newer than this harness"):
        HistoryStore(path)
    with HistoryStore(path, migrations=(*run_store.MIGRATIONS, "CREATE TABLE extra (x)")) as again:
        assert len(again.runs()) == 1


def test_a_file_that_is_not_sqlite_is_an_error_naming_it(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database, just text " * 100)
    with pytest.raises(HistoryError, match=r"notes\.sqlite is not a usable history database"):
        HistoryStore(path)


# -- writing runs ---------------------------------------------------------------------------------
def test_a_run_is_recorded_with_its_tests_snapshot_and_numeric_figures(store):
    run_id = record(store, {"turn": {"p50": 14.2, "count": 3}, "evicted": True, "stopMs": 118.0, "note": "x"})
    (run,) = store.runs()
    assert (run.id, run.status, run.passed, run.failed) == (run_id, "passed", 1, 0)
    assert run.build == "0.24.4 — release"
    series = store.series()
    assert sorted(k.metric for k in series) == ["stopMs", "turn.count", "turn.p50"]
    assert store.db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 1
    assert store.tests()["Smoke.Round Trip"][run_id].duration_ms == 12.5


def test_a_run_that_fails_half_way_leaves_nothing_behind(store):
    broken = doc({"turnP50Ms": 20.0})
    broken["scenarios"][0]["metrics"]["odd"] = object()  # not JSON: the snapshot cannot be written
    with pytest.raises(TypeError):
        store.finish_part("run-x", "main", facts(), [passed_test()], [broken])
    assert store.runs() == []
    assert store.db.execute("SELECT COUNT(*) FROM tests").fetchone()[0] == 0


def test_a_failed_test_or_scenario_makes_a_failed_run(store):
    record(store, {"turnP50Ms": 20.0}, tests=[passed_test(status="failed", message="boom")])
    record(store, {"turnP50Ms": 20.0}, status="failed")
    assert [r.status for r in store.runs()] == ["failed", "failed"]
    # figures of a failed scenario are no trend: only run 1's scenario passed
    assert [p.run_id for points in store.series().values() for p in points] == [1]


def test_a_run_stopped_by_a_signal_is_recorded_as_interrupted(store):
    tests = [
        passed_test("A", "failed", "Execution terminated by signal"),
        passed_test("B", "failed", "Test execution stopped due to a fatal error."),
    ]
    assert run_records.is_interrupted(tests)
    assert not run_records.is_interrupted([passed_test("A", "failed", "1 != 2")])
    store.finish_part("run-1", "main", facts(), tests, [], interrupted=run_records.is_interrupted(tests))
    assert store.runs()[0].status == "interrupted"


def test_a_run_whose_process_died_is_marked_interrupted_when_the_database_is_opened(tmp_path):
    path = tmp_path / "h.sqlite"
    with run_store.open_store(path) as s:
        s.begin_part("run-1", "main", facts())
        assert s.runs()[0].status == "running"
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        s.db.execute("UPDATE run_parts SET pid = ?", (dead.pid,))
    with run_store.open_store(path) as s:
        assert s.mark_interrupted() == [1]
        assert s.runs()[0].status == "interrupted"
        assert s.runs()[0].ended_at is None


def test_a_running_run_of_a_live_process_stays_running(store):
    store.begin_part("run-1", "main", facts())
    assert store.mark_interrupted() == []
    assert store.runs()[0].status == "running"


def test_pabot_processes_write_their_parts_into_one_run(store):
    store.begin_part("pabot-1", "0", facts(started="2026-12-01T10:00:01.000+00:00"))
    store.begin_part("pabot-1", "1", facts(started="2026-12-01T10:00:00.500+00:00"))
    store.finish_part("pabot-1", "1", facts(), [passed_test("B")], [doc({"bMs": 2.0}, scenario="b")])
    assert store.runs()[0].status == "running"  # part 0 still runs
    store.finish_part("pabot-1", "0", facts(), [passed_test("A", "failed")], [doc({"aMs": 1.0}, scenario="a")])
    (run,) = store.runs()
    assert (run.status, run.passed, run.failed, run.started_at) == ("failed", 1, 1, "2026-12-01T10:00:00.500+00:00")
    assert {k.scenario for k in store.series()} == {"a", "b"}
    assert len(store.tests()) == 2


def _write_runs(path: str, writer: int, count: int) -> None:
    with run_store.open_store(path) as s:
        for i in range(count):
            s.finish_part(f"w{writer}-{i}", "main", facts(), [passed_test()], [doc({"turnP50Ms": float(i)})])


def test_two_processes_writing_at_once_lose_no_run(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    run_store.open_store(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_runs, args=(path, w, 15)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    with run_store.open_store(path) as s:
        assert len(s.runs()) == 30
        assert len(s.series()[next(iter(s.series()))]) == 30


def test_numeric_figures_flatten_objects_and_leave_out_what_is_no_number():
    figures = run_records.numeric_figures({"a": 1, "b": {"p99": 2.5, "ok": True}, "c": [1, 2], "d": None, "e": "x"})
    assert figures == {"a": 1.0, "b.p99": 2.5}


# -- imports --------------------------------------------------------------------------------------
OUTPUT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<robot generator="Robot 7.5" generated="2026-12-01T10:00:09.000000" rpa="false" schemaversion="5">
<suite id="s1" name="Suites">
<suite id="s1-s1" name="Smoke">
<test id="s1-s1-t1" name="Round Trip"><tag>smoke</tag>
<status status="PASS" start="2026-12-01T10:00:01.000000" elapsed="3.5">turn p50 14 ms</status></test>
<test id="s1-s1-t2" name="Broken">
<status status="FAIL" start="2026-12-01T10:00:05.000000" elapsed="0.5">1 != 2</status></test>
<status status="FAIL" start="2026-12-01T10:00:01.000000" elapsed="4.5"/>
</suite>
<meta name="Daemon">0.24.4 — release 0.24.4 (npm, pinned)</meta>
<meta name="Node">v20.20.2</meta>
<meta name="Harness git commit">abc123</meta>
<status status="FAIL" start="2026-12-01T10:00:00.000000" elapsed="9.0"/>
</suite>
</robot>
"""


def output_folder(path: Path, with_snapshot: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "output.xml").write_text(OUTPUT_XML, encoding="utf-8")
    if with_snapshot:
        (path / "smoke.json").write_text(json.dumps(doc({"turnP50Ms": 14.0})), encoding="utf-8")
        (path / "smoke.main.part.json").write_text(json.dumps(doc({"turnP50Ms": 99.0})), encoding="utf-8")
    return path


def test_an_output_folder_is_imported_once(store, tmp_path):
    folder = output_folder(tmp_path / "out")
    (first,) = run_import.import_folders(store, [folder])
    assert (first.imported, first.tests, first.kinds) == (True, 2, ["smoke"])
    (again,) = run_import.import_folders(store, [folder])
    assert (again.imported, again.run_id) == (False, first.run_id)
    (run,) = store.runs()
    assert (run.origin, run.status, run.name, run.daemon_version, run.node_version) == (
        "import",
        "failed",
        "Suites",
        "0.24.4",
        "v20.20.2",
    )
    assert set(store.tests()) == {"Suites.Smoke.Round Trip", "Suites.Smoke.Broken"}
    assert [p.value for p in next(iter(store.series().values()))] == [14.0]  # the merged snapshot, not a part


def test_a_merged_pabot_folder_is_one_run_and_its_process_folders_are_not_imported(store, tmp_path):
    folder = output_folder(tmp_path / "par")
    output_folder(folder / "pabot_results" / "0", with_snapshot=False)
    output_folder(folder / "pabot_results" / "1", with_snapshot=False)
    results = run_import.import_folders(store, [folder])
    assert [r.imported for r in results] == [True]
    assert len(store.runs()) == 1


def test_a_pabot_folder_whose_snapshot_parts_were_not_merged_is_imported_with_them(store, tmp_path):
    folder = output_folder(tmp_path / "par", with_snapshot=False)
    for index, value in (("0", 11.0), ("1", 12.0)):
        part = output_folder(folder / "pabot_results" / index, with_snapshot=False)
        (part / f"smoke.{index}.part.json").write_text(json.dumps(doc({"turnP50Ms": value}, scenario=f"s{index}")))
    (result,) = run_import.import_folders(store, [folder])
    assert result.kinds == ["smoke"]
    assert sorted(k.scenario for k in store.series()) == ["s0", "s1"]


def test_a_folder_its_listener_recorded_is_not_imported_again(store, tmp_path):
    folder = output_folder(tmp_path / "out")
    store.finish_part("robot-live", "main", facts(), [passed_test()], [])
    run_import.write_marker(folder, "robot-live", store.path)
    (result,) = run_import.import_folders(store, [folder])
    assert (result.imported, result.run_id, result.note) == (False, 1, "recorded at its end already")


def test_a_snapshot_folder_without_output_xml_is_imported_from_its_snapshots(store, tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "perf-baseline.json").write_text(json.dumps(doc({"rssMB": 90.0}, kind="perf-baseline")))
    (result,) = run_import.import_folders(store, [folder])
    assert result.imported and result.kinds == ["perf-baseline"]
    assert store.runs()[0].started_at == "2026-12-01T10:00:00.000+00:00"


def test_importing_what_is_not_a_folder_names_it(store, tmp_path):
    with pytest.raises(HarnessConfigError, match=r"missing: it is not a folder\. Give a Robot output folder"):
        run_import.import_folders(store, [tmp_path / "missing"])


# -- change points and the check ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "better"),
    [
        ("turnP50", "lower"),
        ("latency.p99", "lower"),
        ("stopMs", "lower"),
        ("peakRssMB", "lower"),
        ("harnessCpuPct", "lower"),
        ("failureCount", "lower"),
        ("eventsPerSec", "higher"),
        ("healthyReceived", None),
        ("turnCount", None),
        ("items", None),
    ],
)
def test_which_way_a_figure_is_better_comes_from_its_key(metric, better):
    assert change_points.better(metric) == better


def series(values):
    return [Point(i + 1, float(v)) for i, v in enumerate(values)]


def test_a_step_at_the_end_is_a_change_point_for_the_worse_of_a_latency():
    rng = random.Random(3)
    values = [25 * (1 + rng.gauss(0, 0.05)) for _ in range(10)] + [60]
    (cp,) = change_points.find(series(values), "turnP50Ms")
    assert (cp.index, cp.run_id, cp.direction) == (10, 11, "worse")
    assert cp.change_pct > 100 and cp.pvalue < 0.001
    (faster,) = change_points.find(series([*values[:10], 10]), "turnP50Ms")
    assert faster.direction == "better"
    (rate,) = change_points.find(series(values), "eventsPerSec")
    assert rate.direction == "better"
    (count,) = change_points.find(series(values), "received")
    assert count.direction == "changed"


def test_noise_a_constant_and_a_short_series_have_no_change_point():
    rng = random.Random(5)
    assert change_points.find(series([25 * (1 + rng.gauss(0, 0.05)) for _ in range(12)]), "turnP50Ms") == []
    assert change_points.find(series([3] * 10), "turnCount") == []
    assert change_points.find(series([1, 50]), "turnP50Ms") == []


def test_a_small_step_under_the_magnitude_is_not_marked():
    values = [100.0, 101.0, 99.0, 100.5, 99.5, 100.0, 101.0, 99.0, 100.5, 99.5, 103.0]
    assert change_points.find(series(values), "turnP50Ms", min_magnitude=0.05) == []
    assert change_points.find(series(values), "turnP50Ms", min_magnitude=0.0, max_pvalue=0.01)


def test_the_check_fails_on_a_slower_latest_run_and_names_metric_step_and_runs(store):
    ten_runs_then(store, step=12)
    result = change_points.check(store)
    assert not result.passed
    (worse,) = result.regressions
    assert worse.series.metric == "turnP50Ms"
    assert (worse.change.run_id, worse.previous_run) == (11, 10)
    line = worse.line()
    assert "smoke · round-trip · turnP50Ms" in line and "at run #11 (0.24.4 — local build slow)" in line
    assert "after run #10 (0.24.4 — release)" in line and "+1" in line
    assert result.figures()["regressions"] == 1 and result.figures()["seriesJudged"] == 3
    assert "worse: smoke · round-trip · turnP50Ms" in result.report()


def test_the_check_passes_on_a_faster_run_and_on_ten_steady_runs(store):
    ten_runs_then(store, step=0.4)
    result = change_points.check(store)
    assert result.passed and [r.series.metric for r in result.improvements] == ["turnP50Ms"]
    for table in ("figures", "tests", "snapshots", "run_parts"):
        store.db.execute(f"DELETE FROM {table} WHERE run_id = 11")
    store.db.execute("DELETE FROM runs WHERE id = 11")
    assert change_points.check(store).passed


def test_a_change_of_a_figure_without_direction_does_not_fail_the_check(store):
    ten_runs_then(store, step=1.0, metric="healthyReceived")
    record(store, {"healthyReceived": 400.0, "received": 10, "stopMs": 118.0})
    result = change_points.check(store)
    assert result.passed and [r.series.metric for r in result.changes] == ["healthyReceived"]


def test_the_check_needs_history_and_says_so(store):
    assert change_points.check(store).latest_run is None
    for _ in range(3):
        record(store, {"turnP50Ms": 25.0})
    result = change_points.check(store)
    assert result.passed and (result.series, result.too_short) == (0, 1)
    assert "1 with too little history" in result.line()


def test_the_check_refuses_bad_options(store):
    with pytest.raises(HarnessConfigError, match=r"max_pvalue must be a number above 0 and at most 0\.5, got 2"):
        change_points.check(store, max_pvalue=2)
    with pytest.raises(HarnessConfigError, match="last must be a whole number from 2 to 10000, got 1"):
        change_points.check(store, last=1)


def test_the_check_judges_only_the_window(store):
    ten_runs_then(store, step=12)
    for _ in range(3):
        record(store, {"turnP50Ms": 300.0, "received": 10, "stopMs": 118.0})
    assert change_points.check(store).passed  # the step is 4 runs back: no longer the latest run


# -- the trend page -------------------------------------------------------------------------------
def test_the_trend_page_carries_every_series_its_change_points_and_tests(store, tmp_path):
    ten_runs_then(store, step=12)
    data = trends.page_data(store)
    assert len(data["runs"]) == 11
    (group,) = data["groups"]
    assert group["name"] == "smoke · round-trip (prompts=3)"
    by_metric = {m["metric"]: m for m in group["metrics"]}
    assert {k: len(m["points"]) for k, m in by_metric.items()} == {"turnP50Ms": 11, "received": 11, "stopMs": 11}
    assert [cp["runId"] for cp in by_metric["turnP50Ms"]["changePoints"]] == [11]
    assert by_metric["turnP50Ms"]["changePoints"][0]["direction"] == "worse"
    assert data["runs"][-1]["build"] == "0.24.4 — local build slow"
    assert data["tests"][0]["results"]["11"]["status"] == "passed"
    page = trends.write(store, tmp_path / "trend.html")
    assert page.figures() == {
        "runs": 11,
        "metrics": 3,
        "points": 33,
        "changePoints": 1,
        "worseChangePoints": 1,
        "tests": 1,
    }
    text = page.path.read_text(encoding="utf-8")
    assert '<script type="application/json" id="history-data">' in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    assert "local build slow" in text


def test_a_test_name_with_a_script_end_tag_cannot_break_the_page(store, tmp_path):
    record(store, {"turnP50Ms": 1.0}, tests=[passed_test("</script><b>x")])
    text = trends.write(store, tmp_path / "t.html").path.read_text(encoding="utf-8")
    assert "</script><b>" not in text


# -- the command ----------------------------------------------------------------------------------
def test_the_command_imports_writes_the_page_and_checks(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    assert command.main(["--db", str(db), "import", str(output_folder(tmp_path / "out"))]) == 0
    assert "imported (2 tests, snapshots: smoke)" in capsys.readouterr().out
    assert command.main(["--db", str(db), "trend", "--out", str(tmp_path / "t.html")]) == 0
    assert (tmp_path / "t.html").is_file()
    with run_store.open_store(db) as s:
        ten_runs_then(s, step=12)
    assert command.main(["--db", str(db), "check"]) == 1
    out = capsys.readouterr().out
    assert "worse: smoke · round-trip · turnP50Ms" in out and "at run #12" in out
    assert command.main(["--db", str(db), "check", "--last", "1"]) == 2
    assert "last must be a whole number" in capsys.readouterr().err


def test_the_command_runs_as_a_module(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "keywords.history", "--db", str(tmp_path / "h.sqlite"), "check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no finished run to judge" in proc.stdout


# -- the listener hooks and the keyword -----------------------------------------------------------
class FakeReport:
    def __init__(self, documents):
        self.snapshots = {d["kind"]: SimpleNamespace(to_dict=lambda d=d: d) for d in documents}


def fake_suite(tests):
    suite = SimpleNamespace(
        parent=None,
        name="Smoke",
        full_name="Smoke",
        metadata={"Daemon": "0.24.4 — release", "Node": "v20"},
        start_time=datetime(2026, 12, 1, 10, 0, 0),
    )
    suite.all_tests = [
        SimpleNamespace(
            full_name=f"Smoke.{n}",
            name=n,
            parent=suite,
            status=s,
            message=m,
            elapsed_time=timedelta(seconds=1.5),
            tags=["smoke"],
        )
        for n, s, m in tests
    ]
    return suite


def component(tmp_path, monkeypatch, documents=()):
    ctx = SimpleNamespace(results_dir=tmp_path / "out")
    hk = HistoryKeywords(ctx, FakeReport(documents))
    values = {"${HISTORY_DB}": str(tmp_path / "h.sqlite"), "&{OPTIONS}": {"include": ["smoke"], "exclude": []}}
    monkeypatch.setattr(HistoryKeywords, "variable", staticmethod(lambda name, default=None: values.get(name, default)))
    return hk


def test_the_listener_records_a_run_at_its_end_with_tests_figures_and_tags(tmp_path, monkeypatch):
    hk = component(tmp_path, monkeypatch, [doc({"turnP50Ms": 14.0})])
    suite = fake_suite([("A", "PASS", "turn 14 ms"), ("B", "SKIP", "")])
    hk.run_started(suite)
    with run_store.open_store(tmp_path / "h.sqlite") as s:
        assert s.runs()[0].status == "running"
    marker = json.loads((tmp_path / "out" / run_import.MARKER).read_text())
    assert marker["runKey"].startswith("robot-")
    hk.run_ended()
    hk.run_ended()  # recorded once
    with run_store.open_store(tmp_path / "h.sqlite") as s:
        (run,) = s.runs()
        assert (run.status, run.passed, run.skipped, run.tags["include"]) == ("passed", 1, 1, ["smoke"])
        assert run.started_at.endswith("+00:00") and run.daemon_label == "release"
        assert s.tests()["Smoke.A"][1].duration_ms == 1500.0
        assert [k.metric for k in s.series()] == ["turnP50Ms"]


def test_a_run_whose_child_suite_imports_the_library_is_recorded_when_robot_closes_it(tmp_path):
    """A library listener sees no end of the suites above the one that imported it: the run is recorded at close."""
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "a.robot").write_text(
        "*** Settings ***\nLibrary    keywords.QwenServe\n*** Test Cases ***\nA\n    Log    a\n"
    )
    (suites / "b.robot").write_text("*** Test Cases ***\nB\n    Fail    b failed\n")
    db = tmp_path / "h.sqlite"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "robot",
            "--outputdir",
            str(tmp_path / "out"),
            "--console",
            "none",
            "--variable",
            f"HISTORY_DB:{db}",
            str(suites),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    with run_store.open_store(db) as s:
        (run,) = s.runs()
        assert (run.name, run.status, run.passed, run.failed) == ("Suites", "failed", 1, 1)
        assert set(s.tests()) == {"Suites.A.A", "Suites.B.B"}


def test_the_listener_records_a_signal_as_an_interrupted_run(tmp_path, monkeypatch):
    hk = component(tmp_path, monkeypatch)
    suite = fake_suite([("A", "FAIL", "Execution terminated by signal")])
    hk.run_started(suite)
    hk.run_ended()
    with run_store.open_store(tmp_path / "h.sqlite") as s:
        assert s.runs()[0].status == "interrupted"


def test_a_history_that_cannot_be_written_is_a_warning_not_a_failed_run(tmp_path, monkeypatch, caplog):
    hk = component(tmp_path, monkeypatch)
    (tmp_path / "h.sqlite").mkdir()  # a folder where the file should be
    suite = fake_suite([("A", "PASS", "")])
    hk.run_started(suite)
    hk.run_ended()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and all("is not a file; give the path of a file" in w for w in warnings)


def test_the_keyword_fails_on_a_regression_with_a_plain_first_sentence(tmp_path, monkeypatch):
    hk = component(tmp_path, monkeypatch)
    monkeypatch.setattr(HistoryKeywords, "info", staticmethod(lambda *a, **k: None))
    with run_store.open_store(tmp_path / "h.sqlite") as s:
        ten_runs_then(s, step=1.0)
    assert hk.history_should_show_no_regression().passed
    with run_store.open_store(tmp_path / "h.sqlite") as s:
        record(s, {"turnP50Ms": 300.0, "received": 10, "stopMs": 118.0}, build="local build slow")
    with pytest.raises(AssertionError, match=r"^The latest run #12 is a change point for the worse on 1 figure"):
        hk.history_should_show_no_regression()
    with pytest.raises(HarnessConfigError, match="There is no history database at"):
        hk.history_should_show_no_regression(str(tmp_path / "missing.sqlite"))


def test_sqlite_is_new_enough_for_wal_and_upserts():
    assert sqlite3.sqlite_version_info >= (3, 24)


def test_a_dry_run_is_not_recorded(tmp_path):
    # `robot --dryrun` executes no keyword: recording it would put a run without figures into the history.
    suite = tmp_path / "dry.robot"
    suite.write_text(
        "*** Settings ***\nLibrary    keywords.QwenServe\n\n*** Test Cases ***\nOne\n    Log    nothing\n",
        encoding="utf-8",
    )
    db = tmp_path / "history.sqlite"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "robot",
            "--dryrun",
            "--outputdir",
            str(tmp_path / "out"),
            "--variable",
            f"HISTORY_DB:{db}",
            str(suite),
        ],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert not db.exists() and not (tmp_path / "out" / run_import.MARKER).exists()
