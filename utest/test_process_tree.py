"""Process-tree measurement against real processes: a small tree of Python children, checked with ``ps``.

Also the tree's role rule (agent, MCP server, descendant) on synthetic parent maps, and the loopback check of
the tree's sockets against real sockets of child processes (bound to 127.0.0.1, or to every interface).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest
from waiting import until

from keywords.components.process_keywords import ProcessKeywords
from keywords.errors import HarnessConfigError
from keywords.measure import proc_stat
from keywords.measure.proc_stat import ProcStat
from keywords.measure.process_tree import (
    McpServer,
    build_snapshot,
    declared_mcp_servers,
    mcp_servers_from,
    role_of,
    rss_mb,
    snapshot_tree,
)
from keywords.measure.resource_profile import ResourceProfile, TreeProfiler, read_process
from keywords.measure.rss_sampler import RssSampler, RssSamples
from keywords.measure.sockets import InetSocket, SocketReport, inet_sockets, is_loopback
from keywords.reporting.figures import non_camel_keys

# A parent that allocates ~30 MB, starts two grandchildren that allocate ~20 MB each, then idles.
PARENT = r"""
import subprocess, sys, time
ballast = bytearray(30 * 1024 * 1024)
for i in range(len(ballast) // 4096):
    ballast[i * 4096] = 1
kids = [subprocess.Popen([sys.executable, "-c", CHILD, "idle-grandchild-marker"]) for _ in range(2)]
print("ready", flush=True)
try:
    time.sleep(60)
finally:
    for k in kids:
        k.kill()
"""
CHILD = r"""
import time
b = bytearray(20 * 1024 * 1024)
for i in range(len(b) // 4096):
    b[i * 4096] = 1
time.sleep(60)
"""


@pytest.fixture
def tree():
    """A root process (stands in for the daemon) with one direct child and two grandchildren."""
    root_script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', {(f'CHILD = {CHILD!r}' + chr(10) + PARENT)!r}])\n"
        "time.sleep(60)\n"
    )
    root = subprocess.Popen([sys.executable, "-c", root_script], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        previous = None
        while time.monotonic() < deadline:
            kids = psutil.Process(root.pid).children(recursive=True)
            sizes = [k.memory_info().rss for k in kids]
            # up and done allocating: every child past 15 MB and no size changed since the last poll
            if len(kids) == 3 and all(size > 15 * 1024 * 1024 for size in sizes) and sizes == previous:
                break
            previous = sizes
            time.sleep(0.05)
        else:
            pytest.fail("the test tree did not come up within 15 s")
        yield root
    finally:
        procs = [psutil.Process(root.pid), *psutil.Process(root.pid).children(recursive=True)]
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(procs, timeout=5)


def _ps_rss_mb(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def test_roles_and_counts(tree):
    snap = snapshot_tree(tree.pid)
    assert snap.daemon_pid == tree.pid
    assert snap.agent_count == 1
    assert len(snap.descendant_pids) == 2
    assert len(snap.matching(r"idle-grandchild-marker")) == 2
    assert snap.matching(r"no-such-thing") == []
    parts = snap.daemon_rss_mb + snap.agents_rss_mb + snap.descendants_rss_mb
    assert snap.total_rss_mb == pytest.approx(parts, abs=0.05)
    assert snap.agents_rss_mb > 25
    assert snap.descendants_rss_mb > 35
    assert "2 descendant(s)" in snap.line()


def test_orphaned_marked_process_counts_as_agent(tree):
    """A process handed in as 'marked' whose parent is not in the tree is an agent, not a descendant."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        snap = snapshot_tree(tree.pid, [psutil.Process(other.pid)])
        assert other.pid in snap.agent_pids
        assert snap.agent_count == 2
    finally:
        other.kill()
        other.wait()


def test_descendants_of_marked_process_belong_to_tree(tree):
    sleeper = "import time; time.sleep(30)"
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); time.sleep(30)"
    other = subprocess.Popen([sys.executable, "-c", code])
    try:
        until(lambda: bool(psutil.Process(other.pid).children()), timeout_s=10, poll_s=0.02)
        (grandchild,) = psutil.Process(other.pid).children()
        snap = snapshot_tree(tree.pid, [psutil.Process(other.pid)])
        assert other.pid in snap.agent_pids
        assert grandchild.pid in snap.descendant_pids
        assert len(snap.descendant_pids) == 3
    finally:
        for p in psutil.Process(other.pid).children():
            p.kill()
        other.kill()
        other.wait()


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps for the independent reading")
def test_rss_agrees_with_ps_within_5_percent(tree):
    snap = snapshot_tree(tree.pid)
    for proc in snap.processes:
        theirs = _ps_rss_mb(proc.pid)
        assert proc.rss_mb == pytest.approx(theirs, rel=0.05), proc
    assert rss_mb(tree.pid) == pytest.approx(_ps_rss_mb(tree.pid), rel=0.05)


def test_gone_process_gives_empty_snapshot():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    snap = snapshot_tree(p.pid)
    assert snap.processes == []
    assert snap.total_rss_mb == 0


def test_sampler_peak_samples_and_profile(tree):
    sampler = RssSampler(tree.pid, interval_ms=20).start()
    time.sleep(0.5)
    res = sampler.stop()
    assert not sampler.running
    assert sampler.error is None
    assert res.sample_count >= 10
    assert len(res.times_s) == len(res.daemon_mb) == len(res.tree_mb) == res.sample_count
    assert res.peak_tree_mb >= max(res.tree_mb) - 0.01
    assert res.peak_tree_mb > 60
    assert res.peak_agents == 1
    assert res.dropped_ratio < 0.5
    assert res.profile is not None and res.profile.processes == 4
    assert res.profile.peak_rss_mb > 25
    assert res.profile.minor_page_faults > 1000  # touching 30 MB page by page faults
    assert "samples" in res.line()


def test_sampler_counts_dropped_after_daemon_exit():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    sampler = RssSampler(p.pid, interval_ms=20).start()
    p.wait()
    time.sleep(0.3)
    res = sampler.stop()
    assert res.sample_count >= 1
    assert res.dropped >= 3


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("interval_ms", 1),
        ("max_duration_s", 0),
        ("max_samples", 1),
        ("rediscover_s", 0.01),
        ("profile_every_s", 5000),
    ],
)
def test_sampler_rejects_bad_arguments_naming_the_argument(argument, value):
    """A bad argument is a configuration error (not a bare ValueError) whose message names it and its range."""
    with pytest.raises(HarnessConfigError, match=rf"^{argument} must be a (whole )?number .*, got {value!r}\.$"):
        RssSampler(os.getpid(), **{argument: value})


def test_sampler_takes_a_timedelta_as_max_duration():
    from datetime import timedelta

    sampler = RssSampler(os.getpid(), max_duration_s=timedelta(minutes=1.5))
    assert sampler.max_duration_s == 90.0


def test_profile_of_finished_process_keeps_last_reading():
    code = "x = sum(range(3_000_000)); print('done', flush=True); import time; time.sleep(0.5)"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    proc = psutil.Process(p.pid)
    profiler = TreeProfiler()
    assert p.stdout.readline().strip() == "done"  # read after the work, however loaded the machine is
    deadline = time.monotonic() + 10
    profiler.update([proc])
    while proc.num_ctx_switches().voluntary < 1 and time.monotonic() < deadline:  # until it is in its sleep
        time.sleep(0.02)
        profiler.update([proc])
    p.wait()
    prof = profiler.profile(live=[])
    assert prof.processes == 1
    assert prof.ended == 1
    assert prof.user_cpu_s + prof.system_cpu_s > 0.01
    assert prof.voluntary_ctx_switches >= 1
    assert prof.peak_rss_mb > 5
    assert "peak RSS" in prof.line()


def test_read_process_matches_psutil_counters():
    me = psutil.Process()
    reading = read_process(me)
    assert reading is not None
    assert reading.hwm_mb >= me.memory_info().rss / (1024 * 1024) - 1
    assert reading.minflt > 0


# A child whose four worker threads each sleep 200 times (about 200 voluntary switches each), then block
# until a line arrives on stdin; the threads end on that line and the child idles.
THREADED = r"""
import sys, threading, time
ready = threading.Barrier(5)
go = threading.Event()
def work():
    for _ in range(200):
        time.sleep(0.002)
    ready.wait()
    go.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
ready.wait()
print("ready", flush=True)
sys.stdin.readline()
go.set()
for t in threads:
    t.join()
print("joined", flush=True)
time.sleep(30)
"""


def _independent_ctx_sum(pid: int) -> tuple[int, int]:
    vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as fh:
            for line in fh:
                if line.startswith("voluntary_ctxt_switches:"):
                    vol += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    invol += int(line.split()[1])
    return vol, invol


@pytest.fixture
def threaded():
    proc = subprocess.Popen([sys.executable, "-c", THREADED], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait(5)


def test_context_switches_are_summed_over_threads(threaded):
    """psutil reads the main thread's counters only; the profile counts every thread's switches."""
    pid = threaded.pid
    before = _independent_ctx_sum(pid)
    reading = read_process(psutil.Process(pid))
    after = _independent_ctx_sum(pid)
    assert reading is not None
    assert before[0] <= reading.vol <= after[0]
    assert before[1] <= reading.invol <= after[1]
    assert reading.vol >= 4 * 150  # the workers' sleeps
    main_thread_only = psutil.Process(pid).num_ctx_switches().voluntary
    assert reading.vol > main_thread_only + 4 * 150
    prof = TreeProfiler().profile(live=[psutil.Process(pid)])
    assert before[0] <= prof.voluntary_ctx_switches <= _independent_ctx_sum(pid)[0]


def test_profile_keeps_switches_of_threads_that_ended(threaded):
    pid = threaded.pid
    profiler = TreeProfiler()
    profiler.update([psutil.Process(pid)])
    with_workers = profiler.profile().voluntary_ctx_switches
    threaded.stdin.write("go\n")
    threaded.stdin.flush()
    assert threaded.stdout.readline().strip() == "joined"
    # join() returns when Python's thread state is gone; the kernel task can outlive it for a moment.
    until(lambda: len(os.listdir(f"/proc/{pid}/task")) == 1)
    assert len(os.listdir(f"/proc/{pid}/task")) == 1
    assert _independent_ctx_sum(pid)[0] < with_workers  # the ended threads' switches are gone from /proc
    profiler.update([psutil.Process(pid)])
    assert profiler.profile().voluntary_ctx_switches >= with_workers


# A stand-in daemon: on each stdin line it starts a sleeping child and prints the child's pid.
SPAWNER = r"""
import subprocess, sys, time
kids = []
for line in sys.stdin:
    kids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
    print(kids[-1].pid, flush=True)
for k in kids:
    k.kill()
"""


@pytest.fixture
def marked_daemon():
    """A stand-in daemon carrying run and tag markers of its own; yields (process, its environment)."""
    env = dict(os.environ, QWEN_HARNESS_RUN=f"pytest-{os.getpid()}-{time.time_ns()}", QWEN_HARNESS_TAG="d1")
    proc = subprocess.Popen(
        [sys.executable, "-c", SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    # Until its exec is done a new process shows its parent's environment: wait until the markers read.
    until(lambda: proc_stat.markers_of(proc.pid) is not None)
    others: list[subprocess.Popen] = []
    try:
        yield proc, env, others
    finally:
        for p in [*others, proc]:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(p.pid).children(recursive=True):
                    child.kill()
            p.kill()
            p.wait(5)


def test_a_new_process_read_before_its_exec_is_looked_at_again(marked_daemon, monkeypatch):
    """Read before its exec, a marked agent still shows its parent's environment: it must join once it reads."""
    daemon, env, others = marked_daemon
    sampler = RssSampler(daemon.pid, interval_ms=100, rediscover_s=60)
    stats = sampler._discover_all()
    sampler._members, sampler._listed = stats, set(proc_stat.proc_pids())
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env, start_new_session=True)
    others.append(agent)
    real_markers_of = proc_stat.markers_of
    monkeypatch.setattr(proc_stat, "markers_of", lambda pid: None if pid == agent.pid else real_markers_of(pid))
    listed = set(proc_stat.proc_pids())
    sampler._members = sampler._refresh(listed)
    sampler._listed = listed
    assert agent.pid not in sampler._members, "not yet: its markers did not read"
    monkeypatch.setattr(proc_stat, "markers_of", real_markers_of)
    until(lambda: real_markers_of(agent.pid) is not None)
    sampler._members = sampler._refresh(listed)
    assert agent.pid in sampler._members, "looked at again on the next tick, and joined"


def _seconds_until_member(sampler: RssSampler, pid: int, limit_s: float = 5.0) -> float:
    started = time.monotonic()
    while pid not in sampler.pids and time.monotonic() - started < limit_s:
        time.sleep(0.005)
    return time.monotonic() - started


def test_sampler_finds_new_child_and_marked_orphan_within_one_interval(marked_daemon):
    """No full rediscovery during the test (60 s): new processes are found by the cheap per-tick pass."""
    daemon, env, others = marked_daemon
    interval_s = 0.1
    sampler = RssSampler(daemon.pid, interval_ms=interval_s * 1000, rediscover_s=60).start()
    try:
        assert sampler.pids == [daemon.pid]
        # a child of the daemon: found by parentage
        daemon.stdin.write("spawn\n")
        daemon.stdin.flush()
        child = int(daemon.stdout.readline())
        assert _seconds_until_member(sampler, child) <= 2 * interval_s + 0.1
        # an agent in its own session whose parent is outside the tree (as after re-parenting to init),
        # carrying the daemon's markers, with a child of its own: found by marker, its child by parentage
        agent_code = (
            "import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
            "time.sleep(30)\n"
        )
        agent = subprocess.Popen([sys.executable, "-c", agent_code], env=env, start_new_session=True)
        others.append(agent)
        assert _seconds_until_member(sampler, agent.pid) <= 2 * interval_s + 0.1
        until(lambda: bool(psutil.Process(agent.pid).children()))
        (grandchild,) = psutil.Process(agent.pid).children()
        assert _seconds_until_member(sampler, grandchild.pid) <= 2 * interval_s + 0.1
        # an unrelated process (no markers, parent outside the tree) never joins
        stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        others.append(stranger)
        time.sleep(4 * interval_s)
        assert stranger.pid not in sampler.pids
        # a member that ends leaves the tree
        agent.kill()
        agent.wait(5)
        time.sleep(3 * interval_s)
        assert agent.pid not in sampler.pids
        assert grandchild.pid in sampler.pids  # re-parented, still the daemon's
    finally:
        res = sampler.stop()
    assert sampler.full_discoveries == 1
    assert res.peak_agents == 2  # the child and the agent, then the child and the orphaned grandchild
    assert res.profile is not None and res.profile.processes == 4  # daemon, child, agent, grandchild


# -- the role rule and the breakdown ----------------------------------------------------------------------


def _st(ppid: int, state: str = "S", pages: int = 256) -> ProcStat:
    return ProcStat(ppid=ppid, state=state, minflt=0, majflt=0, utime=0, stime=0, start=0, rss_pages=pages)


def test_role_rule_daemon_agent_orphan_descendant_and_mcp():
    """One rule: the daemon's child is the agent, a member whose parent is outside the tree is an agent too,
    a declared MCP server (and what it starts) is ``mcp``, everything else below an agent a descendant."""
    # 10 daemon -> 11 launcher -> 12 python agent; 20 orphan (parent 1 outside) -> 21; 11 -> 30 mcp -> 31
    stats = {10: _st(1), 11: _st(10), 12: _st(11), 20: _st(1), 21: _st(20), 30: _st(11), 31: _st(30)}
    roles = {pid: role_of(10, pid, stats, {30}) for pid in stats}
    assert roles == {
        10: "daemon",
        11: "agent",
        12: "descendant",
        20: "agent",
        21: "descendant",
        30: "mcp",
        31: "mcp",
    }
    # an orphaned MCP server (its agent died) is still an MCP server, not a second agent
    assert role_of(10, 30, {10: _st(1), 30: _st(99)}, {30}) == "mcp"
    # a child of the daemon is its agent even when its command line looks like a declared server
    assert role_of(10, 11, stats, {11}) == "agent"


def test_child_of_an_exited_unreaped_member_keeps_its_role():
    stats = {10: _st(1), 11: _st(10, state="Z"), 12: _st(11)}
    snap = build_snapshot(10, stats, cmdlines=False)
    assert [p.pid for p in snap.processes] == [10, 12]  # the zombie is not measured
    assert snap.descendant_pids == [12] and snap.agent_pids == []


def test_mcp_server_matches_by_command_name_and_argument_tail():
    server = McpServer("idle1", "/usr/bin/python3", ("idle_mcp.py", "--name", "idle1"))
    assert server.runs_as(["/usr/bin/python3", "idle_mcp.py", "--name", "idle1"])
    assert server.runs_as(["python3", "-u", "idle_mcp.py", "--name", "idle1"])
    assert not server.runs_as(["/usr/bin/python3", "idle_mcp.py", "--name", "idle2"])
    assert not server.runs_as(["/usr/bin/node", "idle_mcp.py", "--name", "idle1"])
    assert not server.runs_as(["idle_mcp.py", "--name", "idle1"])
    npx = McpServer("fs", "npx", ("-y", "some-mcp-server"))
    assert npx.runs_as(["node", "/usr/lib/node_modules/npm/bin/npx", "-y", "some-mcp-server"])
    assert not npx.runs_as([])


def test_mcp_servers_are_read_from_a_settings_mapping_or_the_daemons_home(tmp_path):
    entries = {"a": {"command": "python3", "args": ["x.py"]}, "b": {"args": ["no-command"]}}
    assert mcp_servers_from(entries) == [McpServer("a", "python3", ("x.py",))]
    assert mcp_servers_from({"mcpServers": entries}) == [McpServer("a", "python3", ("x.py",))]
    assert mcp_servers_from(None) == []
    assert declared_mcp_servers(tmp_path) == {}
    assert declared_mcp_servers(None) == {}
    (tmp_path / ".qwen").mkdir()
    (tmp_path / ".qwen" / "settings.json").write_text(json.dumps({"mcpServers": entries, "other": 1}))
    assert declared_mcp_servers(tmp_path) == entries
    (tmp_path / ".qwen" / "settings.json").write_text("{not json")
    assert declared_mcp_servers(tmp_path) == {}


def test_tree_without_mcp_servers_has_no_mcp_figure(tree):
    """The mock's Python agent behind its launcher is a descendant, not an MCP server: no MCP part, no MCP
    figure (it used to be reported as the MCP servers' RSS)."""
    snap = snapshot_tree(tree.pid)
    assert snap.mcp_rss_mb is None and snap.mcp_pids == [] and snap.mcp_declared == 0
    assert [part.part for part in snap.breakdown()] == ["daemon", "agents", "otherDescendants"]
    figures = snap.figures()
    assert figures["mcpServersRssMB"] is None and figures["mcpServers"] is None
    assert figures["agentDescendantsRssMB"] == snap.descendants_rss_mb > 35
    assert "MCP" not in snap.line()


def test_declared_mcp_servers_form_their_own_part(tree):
    servers = {"idle": {"command": sys.executable, "args": ["-c", CHILD, "idle-grandchild-marker"]}}
    snap = snapshot_tree(tree.pid, mcp_servers=servers)
    grandchildren = sorted(p.pid for p in snap.matching("idle-grandchild-marker"))
    assert snap.mcp_pids == grandchildren and len(grandchildren) == 2
    assert snap.mcp_rss_mb == pytest.approx(sum(p.rss_mb for p in snap.processes if p.role == "mcp"), abs=0.05)
    assert snap.mcp_rss_mb > 35
    parts = {part.part: part for part in snap.breakdown()}
    assert list(parts) == ["daemon", "agents", "mcpServers", "otherDescendants"]
    assert parts["mcpServers"].pids == tuple(grandchildren) and parts["otherDescendants"].pids == ()
    assert sum(part.rss_mb for part in parts.values()) == pytest.approx(snap.total_rss_mb, abs=0.05)
    assert snap.figures()["mcpServers"] == 2 and snap.figures()["mcpServersRssMB"] == snap.mcp_rss_mb
    # declared but not running: counted (0), no RSS figure
    absent = snapshot_tree(tree.pid, mcp_servers={"x": {"command": "no-such-server"}})
    assert absent.figures()["mcpServers"] == 0 and absent.figures()["mcpServersRssMB"] is None


def test_results_carry_camel_case_figures_and_a_line(tree):
    snap = snapshot_tree(tree.pid)
    sampler = RssSampler(tree.pid, interval_ms=20).start()
    time.sleep(0.2)
    samples = sampler.stop()
    report = inet_sockets([tree.pid])
    for result in (snap, samples, samples.profile, report):
        figures = result.figures()
        assert non_camel_keys(figures) == [], type(result).__name__
        assert isinstance(result.line(), str) and result.line()
    assert snap.figures()["treeRssMB"] == snap.total_rss_mb
    assert samples.figures()["peakTreeRssMB"] == samples.peak_tree_mb > 60
    assert samples.figures()["profile"]["processes"] == 4


def test_figures_of_what_was_not_measured_are_none():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    snap = snapshot_tree(gone.pid)
    assert snap.figures()["treeRssMB"] is None and snap.figures()["daemonRssMB"] is None
    assert snap.breakdown() == []
    assert ResourceProfile().figures()["peakRssMB"] is None
    assert RssSamples(interval_ms=100).figures()["peakTreeRssMB"] is None


# -- sockets and the loopback rule ------------------------------------------------------------------------

# Listens on 127.0.0.1, connects to itself and accepts: one listening and two connected sockets.
LOOPBACK_SOCKETS = r"""
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname())
peer, _ = server.accept()
print("ready", flush=True)
sys.stdin.readline()
"""
# A UDP socket bound to every interface (it sends and receives nothing).
OPEN_SOCKET = r"""
import socket, sys
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", 0))
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def socket_child():
    started = []

    def start(code: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(5)


def test_loopback_sockets_are_counted_and_pass(socket_child):
    proc = socket_child(LOOPBACK_SOCKETS)
    report = inet_sockets([proc.pid])
    assert (report.listening, report.connected, report.checked) == (1, 2, 3)
    assert report.processes == 1 and report.proven
    assert report.failure() is None
    assert report.line() == "3 socket(s) of 1 process(es): 1 listening, 2 connected; all on loopback"
    assert report.figures() == {
        "processes": 1,
        "listeningSockets": 1,
        "connectedSockets": 2,
        "checkedSockets": 3,
        "outsideLoopback": 0,
    }


def test_socket_bound_to_every_interface_fails(socket_child):
    good = socket_child(LOOPBACK_SOCKETS)
    bad = socket_child(OPEN_SOCKET)
    report = inet_sockets([good.pid, bad.pid])
    assert [s.pid for s in report.outside] == [bad.pid]
    message = report.failure()
    assert message is not None
    assert message.startswith("Expected every socket of the tree to use loopback only; 1 of 4 did not:")
    assert f"pid {bad.pid} udp 0.0.0.0:" in message and "bound to 0.0.0.0:" in message


def test_no_socket_at_all_proves_nothing():
    """The old check passed having checked zero sockets; a tree without sockets is now 'not proven'."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        report = inet_sockets([sleeper.pid])
        assert report.checked == 0 and report.processes == 1 and not report.proven
        assert "not proven" in report.failure()
        assert report.line().endswith("nothing proven")
    finally:
        sleeper.kill()
        sleeper.wait()
    ended = inet_sockets([sleeper.pid])
    assert ended.gone == 1 and ended.processes == 0 and "1 ended before" in ended.failure()


def test_remote_address_outside_loopback_is_a_problem():
    """Judged on a constructed socket: the harness never connects anywhere but 127.0.0.1."""
    out = InetSocket(1, "tcp", "127.0.0.1", 40000, "192.0.2.7", 443, "ESTABLISHED")
    assert out.problem() == "connected with 192.0.2.7:443"
    assert SocketReport(processes=1, sockets=[out]).outside == [out]
    mapped = InetSocket(1, "tcp", "::ffff:127.0.0.1", 40000, "::1", 80, "ESTABLISHED")
    assert mapped.problem() is None
    unbound = InetSocket(1, "udp", "0.0.0.0", 0, None, None, "NONE")
    assert unbound.problem() is None


@pytest.mark.parametrize(
    ("ip", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("::ffff:192.0.2.1", False),
        ("fe80::1%lo", False),
        ("nonsense", False),
    ],
)
def test_is_loopback(ip, loopback):
    assert is_loopback(ip) is loopback


# -- the keywords on top (a stand-in daemon) --------------------------------------------------------------


def _keywords_for(pid: int, home=None) -> ProcessKeywords:
    daemon = SimpleNamespace(pid=pid, name="daemon-1", home=home, tag=f"no-such-run:{pid}")
    ctx = SimpleNamespace(get=lambda name=None: SimpleNamespace(daemon=daemon), registry=SimpleNamespace(run_id="none"))
    return ProcessKeywords(ctx)


def test_get_agent_pids_returns_the_trees_agents_sorted(tree):
    kw = _keywords_for(tree.pid)
    (launcher,) = psutil.Process(tree.pid).children()
    assert kw.get_agent_pids() == [launcher.pid]
    assert kw.count_agent_children() == 1


def test_loopback_keyword_fails_when_no_socket_could_be_checked():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        kw = _keywords_for(sleeper.pid)
        with pytest.raises(AssertionError, match=r"^Expected at least one socket to check; .*not proven"):
            kw.tree_should_only_use_loopback()
        with pytest.raises(AssertionError, match="not proven"):
            kw.tree_should_only_connect_to_loopback()  # the deprecated form used to pass, returning 0
    finally:
        sleeper.kill()
        sleeper.wait()


def test_loopback_keyword_returns_the_report(socket_child):
    proc = socket_child(LOOPBACK_SOCKETS)
    report = _keywords_for(proc.pid).tree_should_only_use_loopback()
    assert (report.listening, report.connected, report.checked) == (1, 2, 3)
    assert _keywords_for(proc.pid).tree_should_only_connect_to_loopback() == 2


def test_wait_for_descendants_checks_its_arguments_before_polling():
    kw = _keywords_for(os.getpid())
    with pytest.raises(HarnessConfigError, match=r"^timeout must be a number above 0 and at most 600 s"):
        kw.wait_for_descendants_matching("x", timeout=0)
    with pytest.raises(HarnessConfigError, match=r"^pattern must be a regular expression"):
        kw.wait_for_descendants_matching("(")
    with pytest.raises(HarnessConfigError, match=r"^minimum must be a whole number"):
        kw.wait_for_descendants_matching("x", minimum=-1)
