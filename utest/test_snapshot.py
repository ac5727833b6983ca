"""Snapshots: upstream's JSON shape, one key style (camelCase), the kinds and their schemas, the checker, merging
of parts, and the scenario recorder (`Begin Scenario`, `Record Result`, `Record Figure`) in a real Robot run."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from keywords.errors import HarnessConfigError, HarnessError
from keywords.measure import metrics
from keywords.reporting import figures, kinds, snapshot
from keywords.reporting.snapshot import Scenario, Snapshot

ROOT = Path(__file__).parent.parent
SCHEMAS = ROOT / "keywords" / "reporting" / "schemas"
_spec = importlib.util.spec_from_file_location("check_snapshots", ROOT / "atest" / "check_snapshots.py")
check_snapshots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_snapshots)


def make(tmp_path, monkeypatch, pool=None):
    if pool is None:
        monkeypatch.delenv("PABOTEXECUTIONPOOLID", raising=False)
        monkeypatch.delenv("PABOTQUEUEINDEX", raising=False)
    else:
        monkeypatch.setenv("PABOTEXECUTIONPOOLID", pool)
    header = {
        "gitCommit": "abc1234",
        "platform": snapshot.platform_info("v20"),
        "daemon": {"version": "0.24.4", "source": "release", "label": "release 0.24.4"},
        "method": {"latency": metrics.METHOD},
    }
    return Snapshot("loadtest-report", None, header)


def test_json_has_upstream_shape(tmp_path, monkeypatch):
    snap = make(tmp_path, monkeypatch)
    lat = metrics.summarize([1.0, 2.0, 3.0]).to_dict()
    snap.add(Scenario("rapid-lifecycle", "passed", 1234.5, metrics={"cycles": 20, "latency": lat}))
    snap.add(Scenario("sse-slow-consumer-eviction", "failed", 10.0, error="boom", metrics={"evicted": False}))
    path = snap.write(tmp_path)
    assert path.name == "loadtest-report.json"
    doc = json.loads(path.read_text())
    assert {"version", "capturedAt", "gitCommit", "platform", "scenarios"} <= set(doc)
    assert doc["platform"]["os"] and doc["platform"]["arch"] and doc["platform"]["nodeVersion"] == "v20"
    names = [s["name"] for s in doc["scenarios"]]
    assert names == ["rapid-lifecycle", "sse-slow-consumer-eviction"]
    failed = doc["scenarios"][1]
    assert failed["status"] == "failed" and failed["error"] == "boom" and failed["durationMs"] == 10.0
    assert "error" not in doc["scenarios"][0]


def test_markdown_layout(tmp_path, monkeypatch):
    snap = make(tmp_path, monkeypatch)
    lat = metrics.summarize([10.0, 20.0]).to_dict()
    snap.add(Scenario("burst-concurrent-10", "passed", 99.6, metrics={"burstSize": 10, "latency": lat}))
    snap.write(tmp_path)
    text = (tmp_path / "loadtest-report.md").read_text()
    assert text.startswith(f"# {kinds.KINDS['loadtest-report'].title}\n")
    assert "## Scenarios" in text
    assert "### burst-concurrent-10\n- Status: passed\n- Duration: 100ms\n" in text
    assert "- burstSize: 10" in text
    assert "- latency: p50=" in text and "(n=2)" in text


def test_nan_and_infinity_are_written_as_null():
    doc = json.loads(snapshot.dumps({"a": math.nan, "b": [math.inf, 1.0]}))
    assert doc == {"a": None, "b": [None, 1.0]}


def test_adding_a_scenario_again_replaces_it(tmp_path, monkeypatch):
    snap = make(tmp_path, monkeypatch)
    snap.add(Scenario("x", "running"))
    snap.add(Scenario("x", "passed", metrics={"n": 1}))
    assert [s.status for s in snap.scenarios] == ["passed"]


def test_parts_of_parallel_processes_merge(tmp_path, monkeypatch):
    one = make(tmp_path, monkeypatch, pool="0")
    one.add(Scenario("a"))
    one.write(tmp_path, part_id="0")
    two = make(tmp_path, monkeypatch, pool="1")
    two.add(Scenario("b"))
    two.write(tmp_path, part_id="1")
    doc = json.loads((tmp_path / "loadtest-report.json").read_text())
    assert sorted(s["name"] for s in doc["scenarios"]) == ["a", "b"]


def test_merge_command_gathers_parts_of_separate_process_folders(tmp_path, monkeypatch):
    for pool, name in (("0", "a"), ("1", "b")):
        snap = make(tmp_path, monkeypatch, pool=pool)
        snap.add(Scenario(name))
        snap.write(tmp_path / "pabot_results" / pool, part_id=pool)
    assert snapshot.main(["merge", str(tmp_path / "merged"), str(tmp_path / "pabot_results")]) == 0
    doc = json.loads((tmp_path / "merged" / "loadtest-report.json").read_text())
    assert sorted(s["name"] for s in doc["scenarios"]) == ["a", "b"]
    assert "### a" in (tmp_path / "merged" / "loadtest-report.md").read_text()


def test_upstream_version_1_reads_with_the_kind_of_its_file_name_and_others_are_refused(tmp_path):
    v1 = tmp_path / "loadtest-report.json"
    v1.write_text(json.dumps({"version": 1, "capturedAt": "t", "gitCommit": None, "platform": {}, "scenarios": []}))
    assert snapshot.load(v1)["kind"] == "loadtest-report"  # the kind the loadtest suites write, not "loadtest"
    saved = tmp_path / "baseline-2026-06.json"
    saved.write_text(v1.read_text())
    assert snapshot.load(saved)["kind"] is None  # unknown, so a comparison does not refuse it for its kind
    v9 = tmp_path / "other.json"
    v9.write_text(json.dumps({"version": 9, "scenarios": []}))
    with pytest.raises(snapshot.SnapshotError, match="version 9 is not supported"):
        snapshot.load(v9)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "Cannot read the snapshot"), ("{not json", "is not JSON"), ("[1, 2]", "is not a snapshot")],
)
def test_unreadable_snapshots_raise_a_harness_config_error(tmp_path, content, message):
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(HarnessConfigError, match=message) as caught:
        snapshot.load(path)
    assert isinstance(caught.value, HarnessError)


# -- one key style -------------------------------------------------------------------------------------------
def test_snake_case_keys_are_written_in_camel_case_at_every_depth(tmp_path, monkeypatch):
    snap = make(tmp_path, monkeypatch)
    recorded = {
        "late_ms": 10.0,
        "duration_s": 20.0,
        "events_per_s": 50.4,
        "harness_cpu": {"mean_pct": 3.0, "peak_pct": 4.0},
        "resourceProfile": {"peak_rss_mb": 120.5, "user_cpu_s": 1.5},
        "response_spectrum": [[50.0, 8.0], [100.0, 15.0]],
        "latency": metrics.summarize([1.0, 2.0]).to_dict(),
    }
    snap.add(Scenario("sustained-prompts", metrics=recorded, parameters={"mock_delay_ms": 0}))
    doc = json.loads(snap.write(tmp_path).read_text())
    sc = doc["scenarios"][0]
    assert doc["version"] == 3
    assert set(sc["metrics"]) == {
        "lateMs", "durationSec", "eventsPerSec", "harnessCpu", "resourceProfile", "responseSpectrum", "latency"
    }  # fmt: skip
    assert sc["metrics"]["harnessCpu"] == {"meanPct": 3.0, "peakPct": 4.0}
    assert sc["metrics"]["resourceProfile"] == {"peakRssMB": 120.5, "userCpuSec": 1.5}
    assert set(sc["metrics"]["latency"]) == {"count", "p50", "p90", "p99", "p999", "mean", "min", "max"}
    assert sc["parameters"] == {"mockDelayMs": 0}
    assert not figures.non_camel_keys(sc)
    assert kinds.problems(doc) == []


def test_a_key_whose_camel_case_form_is_taken_is_kept_and_reported():
    data = {"late_ms": 1, "lateMs": 2, "at_1_session": 3, "at1_session": 4, "200": 5}
    out = figures.camelize(data)
    assert out == {"late_ms": 1, "lateMs": 2, "at1Session": 3, "at1_session": 4, "200": 5}  # nothing merged
    assert figures.non_camel_keys(out) == ["late_ms", "at1_session", "200"]


def test_version_2_files_read_with_camel_case_keys(tmp_path):
    v2 = tmp_path / "loadtest-report.json"
    metrics_ = {"late_ms": 3, "harness_cpu": {"peak_pct": 4}}
    scenario = {"name": "s", "status": "passed", "durationMs": 1, "metrics": metrics_}
    v2.write_text(json.dumps({"version": 2, "kind": "loadtest-report", "scenarios": [scenario]}))
    assert snapshot.load(v2)["scenarios"][0]["metrics"] == {"lateMs": 3, "harnessCpu": {"peakPct": 4}}


# -- kinds and schemas ---------------------------------------------------------------------------------------
def test_every_kind_has_a_schema_and_every_schema_a_kind():
    files = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
    assert files - {"envelope"} == set(kinds.KINDS)
    for name in kinds.KINDS:
        doc = kinds.schema(name)
        assert doc["$schema"].endswith("/draft/2020-12/schema")
        assert doc["properties"]["kind"] == {"const": name}
    assert "loadtest" not in kinds.KINDS  # named by the old titles table, written by no suite


def test_an_unknown_kind_is_refused_naming_the_known_ones():
    with pytest.raises(HarnessConfigError, match="must be one of loadtest-report, limits, perf-baseline"):
        kinds.get("loadtest")


def valid_doc(tmp_path, monkeypatch) -> dict:
    snap = make(tmp_path, monkeypatch)
    snap.add(Scenario("burst", "passed", 12.0, metrics={"latency": metrics.summarize([1.0, 2.0]).to_dict()}))
    return snap.to_dict()


@pytest.mark.parametrize(
    ("change", "scenario", "key", "words"),
    [
        (lambda d: d["scenarios"][0]["metrics"].update(late_ms=1), "burst", "metrics.late_ms", "not camelCase"),
        (
            lambda d: d["scenarios"][0]["metrics"].update(cpu={"Peak": 1}),
            "burst",
            "metrics.cpu.Peak",
            "not camelCase",
        ),
        (lambda d: d["scenarios"][0].update(status="running"), "burst", "status", "is not one of"),
        (lambda d: d["scenarios"][0].pop("durationMs"), "burst", "", "'durationMs' is a required property"),
        (lambda d: d.update(version=2), None, "version", "3 was expected"),
        (lambda d: d.update(kind="limits"), None, "kind", "'loadtest-report' was expected"),
    ],
)
def test_the_schema_names_the_scenario_and_key_of_each_problem(tmp_path, monkeypatch, change, scenario, key, words):
    doc = valid_doc(tmp_path, monkeypatch)
    assert kinds.problems(doc, "loadtest-report") == []
    change(doc)
    found = kinds.problems(doc, "loadtest-report")
    assert [(p.scenario, p.key) for p in found] == [(scenario, key)], found
    assert words in found[0].message


def test_percentile_keys_fit_the_camel_case_pattern(tmp_path, monkeypatch):
    doc = valid_doc(tmp_path, monkeypatch)
    doc["scenarios"][0]["metrics"]["spectrum"] = {"p50": 1, "p999": 2, "p9999": 3}
    assert kinds.problems(doc, "loadtest-report") == []


def test_scenarios_kind_requires_parameters(tmp_path, monkeypatch):
    doc = valid_doc(tmp_path, monkeypatch)
    doc["kind"] = "scenarios"
    assert [p.message for p in kinds.problems(doc)] == ["'parameters' is a required property"]


def test_checker_validates_every_snapshot_of_a_run_and_names_file_scenario_and_key(tmp_path, monkeypatch, capsys):
    snap = make(tmp_path, monkeypatch)
    snap.add(Scenario("burst", "passed", 12.0, metrics={"late_ms": 1}))
    snap.write(tmp_path / "serial")
    (tmp_path / "serial" / "daemons").mkdir()
    (tmp_path / "serial" / "daemons" / "other.json").write_text("{}")  # not a snapshot: ignored
    assert check_snapshots.main([str(tmp_path / "serial")]) == 0
    assert "2 snapshot file(s), 0 with problems" in capsys.readouterr().out  # the part and the merged file
    bad = tmp_path / "serial" / "loadtest-report.json"
    doc = json.loads(bad.read_text())
    doc["scenarios"][0]["metrics"]["harness_cpu"] = 3
    bad.write_text(json.dumps(doc))
    assert check_snapshots.main([str(tmp_path / "serial")]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: scenario 'burst', key metrics.harness_cpu: key 'harness_cpu' is not camelCase" in out
    assert check_snapshots.main(["--report-only", str(tmp_path / "serial")]) == 0
    (tmp_path / "empty").mkdir()
    assert check_snapshots.main([str(tmp_path / "empty")]) == 1
    assert check_snapshots.main([str(tmp_path / "nowhere")]) == 2


def test_format_percentiles_without_samples_is_na():
    assert snapshot.format_percentiles(None) == "n/a"
    assert snapshot.format_percentiles({"count": 0, "p50": None}) == "n/a"


# -- the scenario recorder in a Robot run ---------------------------------------------------------------------
RECORDER_SUITE = """\
*** Settings ***
Library     keywords.QwenServe

*** Variables ***
${SNAPSHOT_KIND}    smoke

*** Test Cases ***
Records A Result And A Figure
    Begin Scenario    recorded    prompts=3    rateLimit=${0.5}
    ${lat}    Summarize Latencies    ${{[10, 20, 30]}}    name=turn
    Record Result    ${lat}    as=turn
    Record Figure    stop    ${12.5}    unit=ms
    Record Figure    peak    ${None}    unit=MB

Keeps Its Figures When It Fails
    Begin Scenario    failing
    Record Figure    eviction    ${3}    unit=ms
    Fail    boom

Refuses What It Cannot Record
    Begin Scenario    refused
    Run Keyword And Expect Error    *needs a result that carries its figures*got a dict*
    ...    Record Result    ${{ {'a': 1} }}
    ${snake}    Evaluate    type('Snake', (), {'figures': lambda s: {'late_ms': 1}, 'line': lambda s: ''})()
    Run Keyword And Expect Error    *Snake.figures() has keys that are not camelCase: late_ms*
    ...    Record Result    ${snake}
    ${lat}    Summarize Latencies    ${{[1]}}
    Record Result    ${lat}
    Run Keyword And Expect Error    *already has count, p50*as=<prefix>*    Record Result    ${lat}
    Run Keyword And Expect Error    *Unknown Record Result option 'prefix'*    Record Result    ${lat}    prefix=x
    Run Keyword And Expect Error    *name must be camelCase*got 'cycle time'*    Record Figure    cycle time    ${1}
    Run Keyword And Expect Error    *camelCase names*mock_delay*    Begin Scenario    other    mock_delay=1

Needs A Scenario First
    ${lat}    Summarize Latencies    ${{[1]}}
    Run Keyword And Expect Error    *Record Result needs a scenario: call Begin Scenario first*
    ...    Record Result    ${lat}
"""


@pytest.mark.robot
def test_a_test_records_a_result_in_one_line_and_its_real_outcome(tmp_path):
    from robot.api import ExecutionResult

    suite = tmp_path / "recorder.robot"
    suite.write_text(RECORDER_SUITE)
    proc = subprocess.run(
        [sys.executable, "-m", "robot", "--outputdir", str(tmp_path / "out"), "--console", "none", str(suite)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    tests = {t.name: t for t in ExecutionResult(str(tmp_path / "out" / "output.xml")).suite.all_tests}
    assert proc.returncode == 1, proc.stdout + proc.stderr  # only the test that fails on purpose
    assert [n for n, t in tests.items() if t.status != "PASS"] == ["Keeps Its Figures When It Fails"]
    message = tests["Records A Result And A Figure"].message
    assert message == "p50 20.0 ms · p90 30.0 ms · p99 30.0 ms · max 30.0 ms (n=3) | stop 12.5 ms | peak not measured"
    doc = json.loads((tmp_path / "out" / "smoke.json").read_text())
    by_name = {sc["name"]: sc for sc in doc["scenarios"]}
    recorded = by_name["recorded"]
    assert recorded["status"] == "passed" and recorded["parameters"] == {"prompts": 3, "rateLimit": 0.5}
    expected = metrics.summarize([10, 20, 30])
    assert recorded["metrics"]["turnP50"] == expected.p50 and recorded["metrics"]["turnCount"] == 3
    assert recorded["metrics"]["stopMs"] == 12.5 and recorded["metrics"]["peakMB"] is None
    failing = by_name["failing"]
    assert failing["status"] == "failed" and failing["error"] == "boom" and failing["metrics"] == {"evictionMs": 3}
    assert by_name["refused"]["metrics"] == metrics.summarize([1]).to_dict()  # the refused ones left no trace
    assert "other" not in by_name
    assert kinds.problems(doc) == []
    assert check_snapshots.main([str(tmp_path / "out")]) == 0
    assert "# qwen serve daemon — smoke test" in (tmp_path / "out" / "smoke.md").read_text()


def test_field_figures_name_attributes_in_camel_case_and_round_only_measured_floats():
    from types import SimpleNamespace

    from keywords.reporting.figures import field_figures, rounded

    result = SimpleNamespace(same_build=True, ab_median_delta_ms=1.23456, pairs=7, wall_s=None)
    assert field_figures(result, "same_build", "pairs") == {"sameBuild": True, "pairs": 7}
    assert list(field_figures(result, "pairs", "same_build")) == ["pairs", "sameBuild"]
    assert field_figures(result, "ab_median_delta_ms", "pairs", "wall_s", "same_build", digits=2) == {
        "abMedianDeltaMs": 1.23,
        "pairs": 7,
        "wallSec": None,
        "sameBuild": True,
    }
    assert (rounded(None, 1), rounded(3, 1), rounded(2.25, 1), rounded(True, 1)) == (None, 3, 2.2, True)


def test_a_runs_first_write_clears_what_an_earlier_run_left_and_nothing_of_its_own(tmp_path):
    # Before, an old scenarios.md and old pabot parts survived beside a new report and disagreed with it.
    (tmp_path / "plots").mkdir()
    stale = [
        tmp_path / "scenarios.json",
        tmp_path / "scenarios.md",
        tmp_path / "limits.md",
        tmp_path / "scenarios.3.part.json",
        tmp_path / "plots" / "old-row--latency.png",
    ]
    for path in stale:
        path.write_text("{}")
    kept = tmp_path / "output.xml"
    kept.write_text("<robot/>")
    one = snapshot.Snapshot("smoke", None, {})
    one.add(snapshot.Scenario("a"))
    one.write(tmp_path)
    assert not [p for p in stale if p.exists()] and kept.exists()
    (tmp_path / "plots" / "this-run.png").write_text("png")
    two = snapshot.Snapshot("loadtest-report", None, {})
    two.add(snapshot.Scenario("b"))
    two.write(tmp_path, part_id="1")
    assert (tmp_path / "smoke.json").exists() and (tmp_path / "plots" / "this-run.png").exists()
    assert snapshot.claim_folder(tmp_path) == []


def test_a_measured_number_is_shown_with_its_unit_and_a_missing_one_as_n_a():
    from keywords.reporting.figures import shown

    assert shown(12.345, ".1f", " ms") == "12.3 ms"
    assert shown(0.0, ".0f", "%") == "0%"
    assert shown(None, ".1f", " ms") == "n/a"
