"""The churn soak calls a leaking build ``leak``: a copy of the release that keeps 1 MB per created session.

Runs ``suites/soak`` (the churn test, 60 s instead of 10 min) in a subprocess against the seeded copy
``leak-per-session`` (:mod:`keywords.daemon.seeded`); the test must fail on ``Soak Should Not Leak`` with the
daemon's RSS judged ``leak``, and the snapshot must say so, with the retained memory per session near the
1024 KB the build keeps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keywords.daemon.seeded import builder  # noqa: E402

pytestmark = [pytest.mark.daemon, pytest.mark.robot, pytest.mark.slow]


def test_the_churn_soak_calls_a_build_that_keeps_a_buffer_per_session_a_leak(tmp_path):
    (build,) = builder.make_builds(["leak-per-session:mb=1"], out=tmp_path / "builds")
    entry = build.entry
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "robot",
            "--outputdir",
            str(out),
            "--console",
            "dotted",
            "--variable",
            f"DAEMON_ENTRY:{entry}",
            "--variable",
            "SOAK_DURATION:60 s",
            "--variable",
            "WARM_UP:10 s",
            "--variable",
            "INTERVAL:1 s",
            "--test",
            "Session Churn For The Soak Duration",
            str(ROOT / "suites" / "soak"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]  # the one test fails: it leaks
    doc = json.loads((out / "soak.json").read_text(encoding="utf-8"))
    (scenario,) = [s for s in doc["scenarios"] if s["name"] == "soak-session-churn"]
    metrics = scenario["metrics"]
    assert metrics["verdicts"]["daemonRss"] == "leak", metrics["series"]
    assert "daemonRss leak" in scenario["error"]
    assert metrics["loadCompleted"] >= 250 and metrics["loadErrorCount"] == 0
    low, high = metrics["retainedLowKBPerSession"], metrics["retainedHighKBPerSession"]
    assert low <= 1024 * 1.25 and high >= 1024 * 0.75, (low, high)  # the interval holds what the build keeps
