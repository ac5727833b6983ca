"""Ten short runs in a row fill the run history; the trend page renders them in headless Chromium; a run
against a slower daemon build is a change point and the history check (command and keyword) fails on it.

Each run is the smoke suite's round trip alone (``--test``), recorded by the library's listener into a
database of this test (``--variable HISTORY_DB:...``). The slower build is the seeded copy ``slow-prompt-post``
of the pinned release (:mod:`keywords.daemon.seeded`), whose prompt route answers ``DELAY_MS`` later.
``QS_TREND_SCREENSHOT=docs/trend-page.png`` also saves a screenshot of the final page.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_log_plots_browser import chromium, probe

from keywords.daemon.seeded import builder
from keywords.reporting import run_store, trends

ROOT = Path(__file__).parent.parent
RUNS = 10
DELAY_MS = 1000
TEST = "Prompts Round Trip With The Mock Agent"
CHECK_SUITE = Path(__file__).parent / "data" / "history_suite" / "check.robot"

PROBE = """
<script>
(function () {
  function report(result) {
    var pre = document.createElement('pre');
    pre.id = 'qs-probe';
    pre.textContent = 'QS-' + 'PROBE ' + JSON.stringify(result) + ' QS-' + 'END';
    document.body.appendChild(pre);
  }
  window.addEventListener('load', function () {
    var cards = Array.prototype.slice.call(document.querySelectorAll('.metric'));
    var result = {
      rendered: document.body.getAttribute('data-rendered'),
      cards: cards.map(function (c) {
        return {
          label: c.getAttribute('data-metric'),
          points: c.querySelectorAll('circle.pt').length,
          worse: Array.prototype.map.call(c.querySelectorAll('line.cp-worse'), function (l) {
            return l.querySelector('title').textContent;
          }),
          lastTitle: (function () {
            var pts = c.querySelectorAll('circle.pt');
            return pts.length ? pts[pts.length - 1].querySelector('title').textContent : '';
          })()
        };
      }),
      testCells: document.querySelectorAll('#test-table td.s-passed').length,
      runRows: document.querySelectorAll('#run-table tr').length - 1
    };
    var search = document.getElementById('search');
    search.value = 'turnP50';
    search.dispatchEvent(new Event('input'));
    result.visibleAfterSearch = Array.prototype.map.call(
      document.querySelectorAll('.metric:not(.hidden)'), function (c) { return c.getAttribute('data-metric'); });
    report(result);
  });
})();
</script>
"""


def robot_run(out: Path, db: Path, *extra: str, suite: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("QWEN_SERVE_ENTRY", run_store.ENV_VARIABLE)}
    cmd = [sys.executable, "-m", "robot", "--outputdir", str(out), "--console", "none"]
    cmd += ["--variable", f"HISTORY_DB:{db}", *extra]
    cmd += [str(suite)] if suite else ["--variable", "PROMPTS:5", "--test", TEST, str(ROOT / "suites" / "smoke.robot")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT, env=env)


def history_command(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "keywords.history", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_ten_runs_fill_the_history_and_a_slower_build_fails_the_check(tmp_path):
    chromium()  # fail now, not after the runs, when there is no browser
    db = tmp_path / "history.sqlite"
    for i in range(1, RUNS + 1):
        run = robot_run(tmp_path / f"run-{i}", db)
        assert run.returncode == 0, f"run {i} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}"

    with run_store.open_store(db) as store:
        runs = store.runs()
        assert [(r.id, r.status, r.passed, r.failed) for r in runs] == [(i, "passed", 1, 0) for i in range(1, 11)]
        assert all(r.daemon_label == "release 0.24.4 (npm, pinned)" for r in runs)
        series = store.series()
    assert len(series) >= 9, sorted(k.metric for k in series)
    assert {k.metric: len(p) for k, p in series.items()} == {k.metric: RUNS for k in series}

    steady = history_command(db, "check")
    print(steady.stdout)
    assert steady.returncode in (0, 1), steady.stderr
    assert f"history check of run #{RUNS}" in steady.stdout  # a loaded machine may flag a figure of run 10

    page = history_command(db, "trend", "--out", str(tmp_path / "trend-10.html"))
    assert page.returncode == 0, page.stderr
    assert f"{RUNS} runs, {len(series)} figures ({len(series) * RUNS} values)" in page.stdout
    shown = probe(tmp_path / "trend-10.html", tmp_path, PROBE)
    assert shown["rendered"] == str(len(series))
    assert len(shown["cards"]) == len(series)
    assert {c["label"]: c["points"] for c in shown["cards"]} == {c["label"]: RUNS for c in shown["cards"]}
    assert shown["testCells"] == RUNS and shown["runRows"] == RUNS
    assert "release 0.24.4 (npm, pinned)" in shown["cards"][0]["lastTitle"]
    assert shown["visibleAfterSearch"] == ["smoke · prompt-round-trip · turnP50"]

    (slow,) = builder.make_builds([f"slow-prompt-post:delay_ms={DELAY_MS}"], out=tmp_path / "seeded")
    run = robot_run(tmp_path / "run-slow", db, "--variable", f"DAEMON_ENTRY:{slow.entry}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    check = history_command(db, "check")
    print(check.stdout)
    assert check.returncode == 1, check.stdout + check.stderr
    worse = [line for line in check.stdout.splitlines() if line.startswith("  worse: ")]
    turn = [line for line in worse if "smoke · prompt-round-trip · turnP50:" in line]
    assert turn, check.stdout
    assert f"at run #11 (0.24.4+seeded-slow-prompt-post.delay-ms-{DELAY_MS} — local build" in turn[0]
    assert "after run #10 (0.24.4 — release 0.24.4 (npm, pinned))" in turn[0]

    keyword = robot_run(tmp_path / "check-keyword", Path("NONE"), "--variable", f"DB:{db}", suite=CHECK_SUITE)
    assert keyword.returncode == 0, keyword.stdout[-3000:]
    with run_store.open_store(db) as store:
        assert len(store.runs()) == RUNS + 1, "the run with HISTORY_DB:NONE was recorded"

    final = tmp_path / "trend.html"
    with run_store.open_store(db) as store:
        written = trends.write(store, final)
    assert written.runs == RUNS + 1 and written.worse >= 1
    shown = probe(final, tmp_path, PROBE)
    (p50,) = [c for c in shown["cards"] if c["label"] == "smoke · prompt-round-trip · turnP50"]
    assert p50["points"] == RUNS + 1
    assert p50["worse"] and "run #11" in p50["worse"][0] and "local build" in p50["worse"][0], p50
    screenshot = os.environ.get("QS_TREND_SCREENSHOT")
    if screenshot:
        subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'shot-profile'}",
                "--hide-scrollbars",
                "--window-size=1300,1250",
                f"--screenshot={Path(screenshot).resolve()}",
                final.as_uri(),
            ],
            capture_output=True,
            timeout=90,
            check=True,
        )
    print(json.dumps(written.figures()))
