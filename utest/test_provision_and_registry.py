"""Provisioning of the daemon build and the process registry (markers, own sessions, watchdog), without a daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest
from waiting import until

from keywords.daemon import provision
from keywords.daemon.registry import RUN_MARKER, Registry, describe
from keywords.errors import HarnessConfigError


def test_pinned_version_matches_lockfile():
    lock = json.loads((provision.PIN_DIR / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/@qwen-code/qwen-code"]
    assert entry["version"] == provision.pinned_version() == "0.24.4"
    assert entry["integrity"].startswith("sha512-")


def test_local_source_rejects_missing_path(tmp_path):
    with pytest.raises(HarnessConfigError, match="does not exist"):
        provision.local_source(str(tmp_path / "nope" / "cli.js"))


def test_local_source_rejects_non_script(tmp_path):
    target = tmp_path / "daemon.txt"
    target.write_text("x")
    with pytest.raises(HarnessConfigError, match="not a JavaScript entry script"):
        provision.local_source(str(target))


def test_local_source_finds_entry_in_folder_and_version(tmp_path):
    (tmp_path / "package.json").write_text('{"version": "9.9.9-dev"}')
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "cli.js").write_text("")
    source = provision.local_source(str(tmp_path))
    assert source.kind == "local"
    assert source.entry.endswith("dist/cli.js")
    assert source.version == "9.9.9-dev"


def test_env_override_wins(tmp_path, monkeypatch):
    entry = tmp_path / "cli.js"
    entry.write_text("")
    monkeypatch.setenv(provision.ENTRY_ENV, str(entry))
    assert provision.resolve_daemon(None, install=False).entry == str(entry.resolve())


def test_release_is_installed_and_checked():
    source = provision.resolve_daemon(None)
    assert source.kind == "release"
    assert os.path.isfile(source.entry)
    assert (provision.release_dir() / ".complete").read_text().strip() == provision.pinned_version()


def test_registry_stops_grandchild_in_its_own_session():
    """A grandchild that left the process group (like the agent child) is still found by its marker."""
    reg = Registry()
    code = (
        "import subprocess,sys,time;"
        "subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)'],start_new_session=True);"
        "time.sleep(60)"
    )
    proc = reg.spawn([sys.executable, "-c", code], env=reg.child_env())
    until(lambda: len(psutil.Process(proc.pid).children()) >= 1, timeout_s=10, poll_s=0.05)
    grandchild = psutil.Process(proc.pid).children()[0]
    assert grandchild.environ()[RUN_MARKER] == reg.run_id
    reg.stop_all(grace_s=1.0)
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE
    assert not reg.root.exists()
    reg.shutdown()


def test_watchdog_cleans_up_after_owner_is_killed(tmp_path):
    """The owner dies by SIGKILL: the watchdog kills its marked processes and removes its temp root."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import sys,time\n"
        "from keywords.daemon.registry import registry\n"
        "reg = registry()\n"
        "d = reg.make_dir('x')\n"
        "p = reg.spawn([sys.executable, '-c', 'import time; time.sleep(120)'], env=reg.child_env(), pdeathsig=False)\n"
        "print(reg.run_id, reg.root, p.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__))
    )
    run_id, root, child_pid = owner.stdout.readline().split()
    assert os.path.isdir(root)
    owner.kill()
    owner.wait()
    until(lambda: not (psutil.pid_exists(int(child_pid)) or os.path.isdir(root)), timeout_s=10, poll_s=0.1)
    child_alive = psutil.pid_exists(int(child_pid)) and psutil.Process(int(child_pid)).status() != "zombie"
    assert not child_alive, f"child {child_pid} of run {run_id} survived its owner"
    assert not os.path.isdir(root)


class _Process:
    """A process as psutil shows it, with a command line that reads ``cmdline``."""

    def __init__(self, cmdline: list[str], *, gone: bool = False) -> None:
        self.pid = 4242
        self._cmdline = cmdline
        self._gone = gone

    def cmdline(self) -> list[str]:
        if self._gone:
            raise psutil.NoSuchProcess(self.pid)
        return self._cmdline

    def name(self) -> str:
        return "python3"


def test_describe_names_a_process_by_its_command_line():
    assert describe(_Process(["node", "cli-entry.js", "serve"])) == "4242 node cli-entry.js serve"


def test_describe_names_a_process_with_an_empty_command_line_by_its_executable():
    assert describe(_Process([])) == "4242 [python3]"


def test_describe_marks_a_process_that_is_gone():
    assert describe(_Process([], gone=True)) == "4242 ?"
