"""Snapshots (keywords.reporting.snapshot): upstream's JSON shape, Markdown layout, NaN handling, merging of parts."""

from __future__ import annotations

import json
import math

import pytest

from keywords.measure import metrics
from keywords.reporting import snapshot
from keywords.reporting.snapshot import Scenario, Snapshot


def make(tmp_path, monkeypatch, pool=None):
    if pool is None:
        monkeypatch.delenv("PABOTEXECUTIONPOOLID", raising=False)
        monkeypatch.delenv("PABOTQUEUEINDEX", raising=False)
    else:
        monkeypatch.setenv("PABOTEXECUTIONPOOLID", pool)
    header = {"gitCommit": "abc", "platform": snapshot.platform_info("v20"), "daemon": {"label": "release 0.24.4"}}
    return Snapshot("loadtest-report", "qwen serve daemon — connection stress test report", header)


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
    assert text.startswith("# qwen serve daemon — connection stress test report\n")
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


def test_upstream_version_1_still_reads_and_others_are_refused(tmp_path):
    v1 = tmp_path / "loadtest-report.json"
    v1.write_text(json.dumps({"version": 1, "capturedAt": "t", "gitCommit": None, "platform": {}, "scenarios": []}))
    assert snapshot.load(v1)["kind"] == "loadtest"
    v9 = tmp_path / "other.json"
    v9.write_text(json.dumps({"version": 9, "scenarios": []}))
    with pytest.raises(ValueError, match="version 9"):
        snapshot.load(v9)


def test_format_percentiles_without_samples_is_na():
    assert snapshot.format_percentiles(None) == "n/a"
    assert snapshot.format_percentiles({"count": 0, "p50": None}) == "n/a"
