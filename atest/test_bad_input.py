"""Bad input that needs its own process: a PATH without Node.js, or with a too old one.

The table of other bad inputs is the Robot suite ``suites/errors/bad_input.robot``. Here ``robot`` runs the
fixture ``atest/fixtures/start_one_daemon.robot`` with a fake PATH; the start must fail with a message saying
what is missing and what to do, within a bound, and the run must spawn no process at all (no daemon, no agent,
not even the watchdog, which starts with the first temporary folder).
"""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from leakcheck import FIXTURES, RobotRun

FAKE_NODES = {
    "missing": None,
    "too-old": "#!/bin/sh\necho v18.19.0\n",
    "broken": "#!/bin/sh\necho 'node: cannot execute' >&2\nexit 127\n",
}
EXPECTED = {
    "missing": "HarnessSetupError: Node.js was not found on PATH. The qwen serve daemon is a Node.js program",
    "too-old": "Node.js v18.19.0 at {bin}/node is too old: the daemon needs Node.js 20 or newer",
    "broken": "`{bin}/node --version` failed",
}


@pytest.mark.parametrize("case", sorted(FAKE_NODES))
def test_start_without_a_usable_node_fails_clearly_and_spawns_nothing(tmp_path, case):
    from robot.api import ExecutionResult

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    script = FAKE_NODES[case]
    if script is not None:
        node = fake_bin / "node"
        node.write_text(script)
        node.chmod(node.stat().st_mode | stat.S_IXUSR)
    assert shutil.which("node", path=str(fake_bin)) == (None if script is None else str(fake_bin / "node"))
    run = RobotRun(
        [str(FIXTURES / "start_one_daemon.robot")],
        outdir=tmp_path / "out",
        tmpdir=tmp_path / "tmp",
        env_extra={"PATH": str(fake_bin)},
    ).start()
    try:
        code = run.wait(timeout_s=60)
    finally:
        run.stop_sampling()
        run.kill_everything()
    assert code == 1, run.console()[-2000:]
    test = next(iter(ExecutionResult(str(run.outdir / "output.xml")).suite.all_tests))
    assert EXPECTED[case].format(bin=fake_bin) in test.message, test.message
    assert not run.seen, f"processes were spawned: {run.seen}"
    assert not list(run.tmpdir.iterdir()), f"temporary folders were made: {os.listdir(run.tmpdir)}"
