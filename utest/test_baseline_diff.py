"""Regression comparison: old snapshots still read, injected regressions are found, reruns pass, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from keywords.errors import HarnessConfigError, HarnessError
from keywords.reporting import baseline_diff, snapshot

DATA = Path(__file__).parent / "data"
V1 = DATA / "v1" / "loadtest-report.json"
ROOT = Path(__file__).parent.parent


def v2_doc(p99=31.0, params=None, node="v22.12.0", cpus=8, version="0.24.4", success=10) -> dict:
    scenario = snapshot.Scenario(
        "burst-10",
        metrics={
            "burstSize": 10,
            "successCount": success,
            "failureCount": 10 - success,
            "latency": {"count": 10, "p50": 12.0, "p90": 20.0, "p99": p99, "mean": 13.0, "min": 9.0, "max": p99},
            "eventsPerSecond": 5000.0,
        },
        parameters=params if params is not None else {"burst": 10, "chunks": 3, "mock_delay_ms": 0},
    )
    snap = snapshot.Snapshot(
        "scenarios",
        "t",
        {
            "gitCommit": "abc",
            "platform": {"os": "linux", "arch": "x86_64", "nodeVersion": node, "cpuCount": cpus},
            "daemon": {"version": version, "source": "release", "label": f"release {version}"},
        },
    )
    snap.add(scenario)
    return snap.to_dict()


def write(tmp_path: Path, name: str, doc: dict) -> Path:
    path = tmp_path / name
    path.write_text(snapshot.dumps(doc))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "keywords.reporting.baseline_diff", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


# -- old format --------------------------------------------------------------------------------------------
def test_checked_in_version_1_snapshot_still_reads():
    doc = snapshot.load(V1)
    assert doc["version"] == 1
    assert doc["kind"] == "loadtest-report"
    names = [sc["name"] for sc in doc["scenarios"]]
    assert names[:2] == ["rapid-lifecycle", "sse-slow-consumer-eviction"]
    assert "# " in snapshot.markdown(doc, "old")  # the Markdown writer accepts it too


def test_version_1_compared_with_itself_is_all_same():
    result = baseline_diff.compare_files(V1, V1)
    assert not result.regressions and not result.improvements and not result.warnings
    assert all(d.verdict == "same" for d in result.deltas)
    assert any(d.metric == "p99" for d in result.deltas)


def test_version_1_baseline_against_a_rerun_with_an_injected_regression(tmp_path):
    doc = json.loads(V1.read_text())
    doc["scenarios"][0]["metrics"]["p99"] = 400.0  # rapid-lifecycle p99 171.3 -> 400
    doc["scenarios"][0]["metrics"]["p50"] = 120.0  # within 25 %
    current = tmp_path / "loadtest-report.json"
    current.write_text(json.dumps(doc))
    result = baseline_diff.compare_files(V1, current)
    assert [(d.scenario, d.metric) for d in result.regressions] == [("rapid-lifecycle", "p99")]
    p50 = next(d for d in result.deltas if d.scenario == "rapid-lifecycle" and d.metric == "p50")
    assert p50.verdict == "within"


def test_unknown_version_is_refused(tmp_path):
    path = write(tmp_path, "x.json", {"version": 99, "scenarios": []})
    with pytest.raises(baseline_diff.CompareInputError, match="version 99 is not supported") as caught:
        baseline_diff.compare_files(path, path)
    assert isinstance(caught.value, HarnessConfigError)


def test_compare_errors_are_harness_errors(tmp_path):
    assert issubclass(baseline_diff.CompareError, HarnessError)
    with pytest.raises(HarnessConfigError, match="Cannot read the snapshot"):
        baseline_diff.compare_files(tmp_path / "missing.json", V1)
    with pytest.raises(HarnessConfigError, match="Cannot read the tolerance file"):
        baseline_diff.load_tolerances(tmp_path / "missing-tolerances.json")


def loadtest_run(tmp_path: Path, p99: float = 171.3) -> Path:
    """A version 3 loadtest-report.json as the loadtest suites write it (one scenario of the v1 file)."""
    snap = snapshot.Snapshot(
        "loadtest-report",
        None,
        {"platform": {"os": "linux", "arch": "x64", "nodeVersion": "v22.12.0"}, "daemon": {"version": "0.24.4"}},
    )
    lat = {"count": 20, "p50": 118.2, "p90": 140.9, "p99": p99, "mean": 121.7, "min": 101.5, "max": p99}
    snap.add(snapshot.Scenario("rapid-lifecycle", metrics={"cycles": 20, **lat}))
    return snap.write(tmp_path / "out")


def test_upstream_version_1_report_compares_with_this_runs_loadtest_report(tmp_path):
    current = loadtest_run(tmp_path, p99=400.0)
    proc = run_cli(V1, current)
    assert proc.returncode == 0, proc.stderr  # same kind (loadtest-report), not refused
    assert "!! rapid-lifecycle/p99: 171.3 -> 400" in proc.stdout
    assert "snapshot format differs: baseline version 1, current version 3" in proc.stdout


def test_version_2_snake_case_baseline_matches_camel_case_metrics_of_version_3(tmp_path):
    old = {
        "version": 2,
        "kind": "loadtest-report",
        "scenarios": [
            {"name": "sustained", "status": "passed", "durationMs": 1, "metrics": {"late_ms": 10, "events_per_s": 50}}
        ],
    }
    base = write(tmp_path, "baseline.json", old)
    new = {**old, "version": 3}
    new["scenarios"] = [{**old["scenarios"][0], "metrics": {"lateMs": 30, "eventsPerSec": 50}}]
    result = baseline_diff.compare_files(base, write(tmp_path, "current.json", new))
    assert {d.metric: d.verdict for d in result.deltas} == {"lateMs": "regression", "eventsPerSec": "same"}


def test_prefixed_percentiles_have_a_direction():
    old, new = v2_doc(), v2_doc()
    old["scenarios"][0]["metrics"].update(turnP99=10.0, turnCount=5)
    new["scenarios"][0]["metrics"].update(turnP99=30.0, turnCount=9)
    verdicts = {d.metric: d.verdict for d in baseline_diff.compare(old, new).deltas}
    assert verdicts["turnP99"] == "regression" and verdicts["turnCount"] == "changed"


class FakeContext:
    def __init__(self, results_dir: Path) -> None:
        self.results_dir = results_dir


def test_keyword_compares_with_this_runs_snapshot_of_the_baselines_kind(tmp_path):
    from keywords.components.baseline_keywords import BaselineKeywords

    keywords = BaselineKeywords(FakeContext(tmp_path / "out"))
    assert keywords._current_path(str(V1), None) == tmp_path / "out" / "loadtest-report.json"
    assert keywords._current_path(str(V1), "scenarios") == tmp_path / "out" / "scenarios.json"
    assert keywords._current_path(str(V1), "elsewhere/x.json") == Path("elsewhere/x.json")
    with pytest.raises(HarnessConfigError, match="must be one of"):
        keywords._current_path(str(V1), "loadtest")
    nameless = write(tmp_path, "saved.json", {"version": 1, "scenarios": []})
    with pytest.raises(HarnessConfigError, match="does not say its snapshot kind"):
        keywords._current_path(str(nameless), None)


# -- verdicts ----------------------------------------------------------------------------------------------
def test_unchanged_rerun_within_tolerance_passes_and_injected_regression_is_reported(tmp_path):
    base = write(tmp_path, "base.json", v2_doc(p99=31.0))
    rerun = write(tmp_path, "rerun.json", v2_doc(p99=33.0))  # +6 %: noise
    slower = write(tmp_path, "slower.json", v2_doc(p99=62.0))  # +100 %: a regression
    assert run_cli(base, rerun, "--fail-on-regression").returncode == 0
    proc = run_cli(base, slower, "--fail-on-regression")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "!! burst-10/latency.p99: 31 -> 62 (+31, +100%; allowed ±7.75) regression" in proc.stdout
    assert "1 regression(s) beyond tolerance" in proc.stderr
    assert run_cli(base, slower).returncode == 0  # reported, not fatal without the flag


def test_improvements_and_higher_is_better_metrics(tmp_path):
    result = baseline_diff.compare(v2_doc(p99=62.0, success=10), v2_doc(p99=31.0, success=9))
    verdicts = {d.metric: d.verdict for d in result.deltas}
    assert verdicts["latency.p99"] == "improvement"
    assert verdicts["successCount"] == "regression"  # fewer successes, zero tolerance
    assert verdicts["failureCount"] == "regression"
    assert verdicts["latency.max"] == "changed"  # info only
    assert verdicts["latency.count"] == "same"


def test_status_passed_to_failed_is_a_regression():
    old, new = v2_doc(), v2_doc()
    new["scenarios"][0]["status"] = "failed"
    result = baseline_diff.compare(old, new)
    assert [(d.metric, d.baseline, d.current) for d in result.regressions] == [("status", "passed", "failed")]


def test_per_metric_tolerances_from_a_file(tmp_path):
    tol = tmp_path / "tol.json"
    tol.write_text(
        json.dumps(
            {
                "default": {"relative": 0.1, "absolute": 0},
                "rules": [
                    {"match": "burst-*/latency.p99", "relative": 1.5},
                    {"match": "eventsPerSecond", "direction": "ignore"},
                ],
            }
        )
    )
    base = write(tmp_path, "b.json", v2_doc(p99=31.0))
    doc = v2_doc(p99=62.0)
    doc["scenarios"][0]["metrics"]["latency"]["p50"] = 14.0  # +17 % > 10 % default
    cur = write(tmp_path, "c.json", doc)
    result = baseline_diff.compare_files(base, cur, tol)
    verdicts = {d.metric: d.verdict for d in result.deltas}
    assert verdicts["latency.p99"] == "within"
    assert verdicts["latency.p50"] == "regression"
    assert "eventsPerSecond" not in verdicts
    assert run_cli(base, cur, "--tolerances", tol, "--fail-on-regression").returncode == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "Cannot read the tolerance file"),
        ('{"rules": [{"relative": 1}]}', r"rules\[0\] needs a 'match' pattern"),
        ('{"rules": [{"match": "*", "direction": "sideways"}]}', "direction 'sideways'"),
        ('{"default": {"relative": -1}}', "relative must be a number >= 0"),
    ],
)
def test_bad_tolerance_files_are_refused(tmp_path, content, message):
    tol = tmp_path / "tol.json"
    tol.write_text(content)
    with pytest.raises(baseline_diff.CompareError, match=message):
        baseline_diff.load_tolerances(tol)


# -- refusals and warnings ---------------------------------------------------------------------------------
def test_different_parameters_are_refused_unless_forced(tmp_path):
    base = write(tmp_path, "b.json", v2_doc())
    cur = write(tmp_path, "c.json", v2_doc(params={"burst": 20, "chunks": 3, "mock_delay_ms": 0}))
    proc = run_cli(base, cur)
    assert proc.returncode == 2
    assert "scenario 'burst-10' ran with different parameters (burst: 10 -> 20)" in proc.stderr
    assert "--force" in proc.stderr
    forced = run_cli(base, cur, "--force")
    assert forced.returncode == 0
    assert "REFUSED (forced): scenario 'burst-10' ran with different parameters" in forced.stdout


def test_environment_differences_are_shown_but_not_refused(tmp_path):
    result = baseline_diff.compare(v2_doc(), v2_doc(node="v20.18.0", cpus=4, version="0.25.0-dev"))
    assert "daemon version differs: baseline 0.24.4, current 0.25.0-dev" in result.warnings
    assert "Node version differs: baseline v22.12.0, current v20.18.0" in result.warnings
    assert "CPU count differs: baseline 8, current 4" in result.warnings
    assert "environment differs" in result.summary()
    assert "WARNING: daemon version differs" in result.text()
    assert "border:2px solid" in result.html()


def test_missing_and_new_scenarios_are_listed():
    old, new = v2_doc(), v2_doc()
    new["scenarios"][0]["name"] = "burst-20"
    result = baseline_diff.compare(old, new)
    assert result.missing == ["burst-10"] and result.new == ["burst-20"]
    assert "1 scenario(s) missing" in result.summary()


def test_markdown_and_json_outputs(tmp_path):
    base = write(tmp_path, "b.json", v2_doc(p99=31.0))
    cur = write(tmp_path, "c.json", v2_doc(p99=62.0))
    md, js = tmp_path / "cmp.md", tmp_path / "cmp.json"
    assert run_cli(base, cur, "--markdown", md, "--json", js).returncode == 0
    assert "| burst-10 | latency.p99 | 31 | 62 | +31 (+100%) | regression |" in md.read_text()
    data = json.loads(js.read_text())
    assert data["summary"].startswith("1 regression")


def test_snapshot_parameters_are_optional_and_written_when_given(tmp_path):
    sc = snapshot.Scenario("x", parameters={"burst": 3})
    assert sc.to_dict()["parameters"] == {"burst": 3}
    assert "parameters" not in snapshot.Scenario("y").to_dict()
    doc = {"version": 2, "scenarios": [sc.to_dict()]}
    assert '- Parameters: {"burst": 3}' in snapshot.markdown(doc, "t")
