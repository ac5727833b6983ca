"""Secrets: an authenticated run leaves its token in no command line and no artifact.

Runs ``suites/security`` in a ``robot`` subprocess with a fresh token in ``QWEN_HARNESS_AUTH_TOKEN`` (its only
way in), records the command line of every process of that run while it runs, then searches every file the
run produced (``output.xml``, ``log.html``, ``report.html``, snapshots, ``daemons/**`` with the captured
daemon stdout, stderr and daemon log, the console output) for the token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import zlib
from pathlib import Path

import psutil
from leakcheck import REPO, RobotRun, describe


def test_authenticated_run_leaks_the_token_nowhere(tmp_path):
    token = f"tok-{secrets.token_hex(16)}"
    run = RobotRun(
        ["--include", "security", str(REPO / "suites" / "security")],
        outdir=tmp_path / "out",
        tmpdir=tmp_path / "tmp",
        env_extra={"QWEN_HARNESS_AUTH_TOKEN": token},
    ).start()
    agent_env_has_token: list[bool] = []
    try:
        # while it runs: look at the agent children's environment (what the daemon passes down)
        run.wait_for_kinds({"mock agent"}, timeout_s=60)
        for seen in list(run.seen.values()):
            if seen.kind == "mock agent" and seen.alive():
                with contextlib.suppress(psutil.Error):
                    agent_env_has_token.append(token in psutil.Process(seen.pid).environ().values())
        code = run.wait(timeout_s=180)
    finally:
        run.stop_sampling()
        run.kill_everything()
    assert code == 0, f"security suite failed (exit {code}):\n{run.console()[-3000:]}"
    kinds = run.kinds_seen()
    assert {"daemon", "launcher", "mock agent"} <= kinds, kinds
    on_command_line = [s for s in run.seen.values() if token in s.cmdline]
    assert not on_command_line, f"token on the command line of: {describe(on_command_line)}"

    artifacts = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    names = {p.name for p in artifacts}
    assert {"output.xml", "log.html", "report.html", "stderr.log", "daemon.log", "console.txt"} <= names, names
    carrying = [str(p.relative_to(tmp_path)) for p in artifacts if token in readable_text(p)]
    assert not carrying, f"the token appears in {carrying}"
    # Recorded, not asserted: the daemon hands its whole environment (QWEN_SERVER_TOKEN included) to the agent.
    print(f"agent child environment carries the token: {agent_env_has_token}")


_STRINGS = re.compile(r'window\.output\["strings"\] = window\.output\["strings"\]\.concat\((\[.*?\])\);', re.S)


def readable_text(path: Path) -> str:
    """A file's text; for Robot's ``log.html``/``report.html`` also every compressed string of the model.

    Robot stores most log strings in those pages zlib-compressed and base64-encoded, so a plain search of
    the HTML would miss a leaked token.
    """
    text = path.read_bytes().decode(errors="replace")
    if path.suffix != ".html":
        return text
    decoded = []
    for block in _STRINGS.findall(text):
        for item in json.loads(block.replace("\\x3c", "<")):
            if item.startswith("*"):
                decoded.append(item[1:])
            else:
                with contextlib.suppress(ValueError, zlib.error):
                    decoded.append(zlib.decompress(base64.b64decode(item)).decode(errors="replace"))
    return text + "\n" + "\n".join(decoded)


def test_the_artifact_search_sees_compressed_log_strings(tmp_path):
    """The search itself: a value only present compressed inside log.html is found."""
    secret = f"needle-{secrets.token_hex(8)}"
    packed = base64.b64encode(zlib.compress(f"some long message {secret} ".encode() * 20)).decode()
    page = tmp_path / "log.html"
    page.write_text(f'window.output["strings"] = window.output["strings"].concat(["*plain","{packed}"]);')
    assert secret not in page.read_text()
    assert secret in readable_text(page)
