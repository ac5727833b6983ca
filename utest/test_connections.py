"""Unit tests of keywords.traffic.connections against a local loopback server and a plain subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from keywords.errors import HarnessConfigError
from keywords.reporting.figures import non_camel_keys
from keywords.traffic import connections


class CappedServer:
    """A loopback HTTP-ish server that answers the first ``cap`` connections and resets the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            live = [c for c in self.accepted if c.fileno() != -1]
            if len(live) >= self.cap:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()  # linger 0: RST, like Node's maxConnections
                continue
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            self.accepted.append(conn)

    def release(self) -> None:
        for conn in self.accepted:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.release()
        self.listener.close()


@pytest.fixture
def server():
    srv = CappedServer(cap=3)
    yield srv
    srv.close()


def test_flood_counts_served_and_rejected(server):
    flood = connections.open_flood(server.port, 6, timeout_s=2.0)
    try:
        assert flood.attempted == 6
        assert flood.served == 3
        assert flood.rejected == 3
        assert flood.first_rejected == 3
        assert flood.open_sockets == 3
        assert all(a.status == 200 for a in flood.attempts[:3])
        assert set(flood.outcomes) <= {"served", "reset", "eof"}
        assert "6 connections" in flood.summary() and flood.summary().endswith(f"in {flood.elapsed_ms:.1f} ms")
        figures = flood.figures()
        assert not non_camel_keys(figures)
        assert (figures["attempted"], figures["served"], figures["rejected"], figures["firstRejected"]) == (6, 3, 3, 3)
        assert figures["outcomes"]["served"] == 3 and figures["floodMs"] >= 0
        assert flood.line() == flood.summary()
    finally:
        flood.close()
    assert flood.open_sockets == 0
    flood.close()  # idempotent


def test_wait_until_served_after_release(server):
    flood = connections.open_flood(server.port, 3)
    server.release()
    flood.close()
    recovery = connections.wait_until_served(server.port, timeout_s=3.0)
    assert recovery.served
    assert recovery.attempts >= 1
    assert recovery.figures()["recoveryMs"] == round(recovery.elapsed_ms, 1)
    assert recovery.line().startswith("served again after")


def test_wait_until_served_gives_up_on_a_closed_port():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    recovery = connections.wait_until_served(port, timeout_s=0.3, interval_s=0.05)
    assert not recovery.served
    assert recovery.attempts >= 2
    assert recovery.figures() == {"served": False, "attempts": recovery.attempts, "recoveryMs": None}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"port": 0, "count": 1}, "port must be a whole number from 1 to 65535, got 0"),
        ({"port": 80, "count": 0}, "count must be a whole number from 1 to 1000 connections, got 0"),
        ({"port": 80, "count": 5000}, "count must be a whole number from 1 to 1000 connections, got 5000"),
        ({"port": 80, "count": 1, "timeout_s": 0}, "timeout must be a number above 0 and at most 60 s, got 0"),
        ({"port": 80, "count": 1, "pause_s": -1}, "pause must be a number from 0 to 60 s, got -1"),
        ({"port": 80, "count": 1, "path": "health"}, "path"),
    ],
)
def test_flood_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(HarnessConfigError, match=fragment):
        connections.open_flood(**kwargs)


def test_signal_and_wait_measures_exit():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    before = time.monotonic()
    result = connections.signal_and_wait(proc, [], "TERM", timeout_s=5.0, settle_s=0.0)
    assert before <= result.signalled_at <= before + result.exit_ms / 1000  # frames can be timed from the signal
    assert result.exited
    assert result.exit_code == -15
    assert 0 <= result.exit_ms < 5000
    assert result.leftovers == []
    assert result.figures() == {"exited": True, "exitCode": -15, "exitMs": round(result.exit_ms, 1), "processesLeft": 0}
    assert result.line().startswith("SIGTERM -> exit -15 after")


def test_signal_and_wait_reports_a_process_that_ignores_the_signal():
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        result = connections.signal_and_wait(proc, [], "TERM", timeout_s=0.3)
        assert not result.exited
        assert result.exit_code is None and result.exit_ms is None
        assert result.figures()["exitMs"] is None and "no exit" in result.line()
    finally:
        proc.kill()
        proc.wait(5)


def test_signal_and_wait_rejects_unknown_signal():
    with pytest.raises(HarnessConfigError, match="signal_name must be one of TERM, INT, HUP; got 'KILL'"):
        connections.signal_and_wait(None, [], "KILL")
