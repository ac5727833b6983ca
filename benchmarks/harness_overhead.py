"""The harness measured against the physical limit: keyword library versus a minimal raw-socket client.

One run, one daemon (the pinned release, mock agent replying at once with 3 chunks), four figures:

1. **Cycle latency** (create → prompt → turn end → close: POST /session, POST .../prompt, GET .../events
   with ``Last-Event-ID`` of the 202, DELETE) through the library (``DaemonClient`` + ``follow_turn``)
   versus raw sockets doing the same four requests, interleaved cycle by cycle (order alternating).
   Target: the library's median adds at most 5 ms.
2. **SSE ingestion**: one consumer reads the replay of a pre-filled ring (``Last-Event-ID: 0``, up to the
   ``replay_complete`` frame): the library's ``Subscription`` versus a raw-socket reader doing the same work
   (chunked decoding, frame split, ``json.loads`` of each data line), and a raw reader that only splits
   frames (no JSON) as the floor. Target: library ≥ 20,000 events/s and within 2x of raw.
3. **Process-tree sampler CPU** at 10 Hz (``keywords.measure.rss_sampler.RssSampler`` on the daemon's tree): the
   sampler thread's own CPU time over wall time. Target: < 1% of a core.
4. **Loadtest suite wall time**: ``robot --include loadtest --exclude sustained suites/`` in a subprocess
   (``--no-suite`` skips it).

Run: ``.venv/bin/python benchmarks/harness_overhead.py`` (writes ``results/harness-benchmark.json``).
Only 127.0.0.1 is contacted; the daemon and everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from sseclient import SSEClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keywords.components.daemon_keywords import DaemonKeywords  # noqa: E402
from keywords.context import HarnessContext  # noqa: E402
from keywords.fakes import mock_control  # noqa: E402
from keywords.measure.metrics import LatencyRecorder  # noqa: E402
from keywords.traffic.client import DaemonClient  # noqa: E402
from keywords.traffic.sse import Subscription  # noqa: E402
from keywords.traffic.stream_options import StreamOptions  # noqa: E402
from keywords.traffic.turns import follow_turn  # noqa: E402

REPLAY_BUDGET = 8 * 1024 * 1024


# -- a minimal raw-socket HTTP/1.1 client ----------------------------------------------------------------


class RawHttp:
    """Keep-alive HTTP/1.1 over one socket: just enough for the daemon's JSON routes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):  # one retry when the server closed an idle keep-alive socket
            if self.sock is None:
                self.sock = self._connect()
            head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            try:
                self.sock.sendall(head.encode() + b"\r\n" + (body or b""))
                return self._response()
            except (ConnectionError, OSError):
                self.close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data


def layer_read(base_url: str, session_id: str, last_event_id: int, until_type: str, parse_sse: bool) -> int:
    """Read a session's stream with the transport layers only (for measuring what they cost).

    Reads with httpx's ``iter_raw()`` and, with ``parse_sse``, sseclient-py's parser, but no JSON decoding and
    no bookkeeping, until a frame of ``until_type`` (its ``event:`` line) has arrived.

    Returns:
        Frames read (counted by their blank-line terminator without ``parse_sse``).
    """
    marker = f"event: {until_type}".encode()
    headers = {"Last-Event-ID": str(last_event_id)}
    with (
        httpx.Client(base_url=base_url, trust_env=False) as http,
        http.stream("GET", f"/session/{session_id}/events", headers=headers) as response,
    ):
        count = 0
        if parse_sse:
            for frame in SSEClient(response.iter_raw()).events():
                count += 1
                if frame.event == until_type:
                    break
        else:
            for chunk in response.iter_raw():
                count += chunk.count(b"\n\n")
                if marker in chunk:
                    break
        return count


def raw_sse(port: int, session_id: str, last_event_id: int, stop_token: bytes, parse_json: bool) -> tuple[int, int]:
    """Read ``/session/:id/events`` until a frame containing ``stop_token``; returns (frames, body bytes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.sendall(
            (
                f"GET /session/{session_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Accept: text/event-stream\r\nLast-Event-ID: {last_event_id}\r\n\r\n"
            ).encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        _, raw = buf.split(b"\r\n\r\n", 1)
        body = b""  # de-chunked bytes not yet split into frames
        frames = 0
        total = 0
        loads = json.loads
        while True:
            # de-chunk what we have
            while True:
                eol = raw.find(b"\r\n")
                if eol < 0:
                    break
                size = int(raw[:eol], 16)
                if len(raw) < eol + 2 + size + 2:
                    break
                body += raw[eol + 2 : eol + 2 + size]
                raw = raw[eol + 2 + size + 2 :]
                total += size
            parts = body.split(b"\n\n")
            body = parts.pop()
            for frame in parts:
                if b"data: " not in frame:
                    continue
                frames += 1
                if parse_json:
                    loads(frame[frame.index(b"data: ") + 6 :].split(b"\n", 1)[0])
                if stop_token in frame:
                    return frames, total
            data = sock.recv(262144)
            if not data:
                return frames, total
            raw += data
    finally:
        sock.close()


# -- the cycles ----------------------------------------------------------------------------------------


STEPS = ("create", "prompt", "events", "close")


def library_cycle(client: DaemonClient, steps: list[float]) -> float:
    t = [time.perf_counter()]
    info = client.create_session("thread")
    t.append(time.perf_counter())
    accepted = client.prompt(info.session_id, "bench")
    t.append(time.perf_counter())
    turn = follow_turn(client, info.session_id, accepted, timeout_s=10)
    t.append(time.perf_counter())
    client.close_session(info.session_id)
    t.append(time.perf_counter())
    if turn.outcome != "completed" or turn.chunks != 3:
        raise RuntimeError(f"library cycle: {turn.summary()}")
    steps[:] = [(b - a) * 1000 for a, b in itertools.pairwise(t)]
    return (t[-1] - t[0]) * 1000


def raw_cycle(raw: RawHttp, steps: list[float]) -> float:
    t = [time.perf_counter()]
    status, body = raw.request("POST", "/session", b'{"sessionScope":"thread"}')
    sid = json.loads(body)["sessionId"]
    t.append(time.perf_counter())
    status, body = raw.request("POST", f"/session/{sid}/prompt", b'{"prompt":[{"type":"text","text":"bench"}]}')
    last_id = json.loads(body)["lastEventId"]
    t.append(time.perf_counter())
    frames, _ = raw_sse(raw.port, sid, last_id, b"event: turn_complete", parse_json=True)
    t.append(time.perf_counter())
    status, _ = raw.request("DELETE", f"/session/{sid}")
    t.append(time.perf_counter())
    if status != 204 or frames < 5:  # echo, 3 chunks, turn_complete (+ replay_complete)
        raise RuntimeError(f"raw cycle: DELETE -> {status}, {frames} frames")
    steps[:] = [(b - a) * 1000 for a, b in itertools.pairwise(t)]
    return (t[-1] - t[0]) * 1000


def bench_cycles(client: DaemonClient, port: int, cycles: int, warmup: int) -> dict:
    raw = RawHttp(port)
    recs = {"lib": LatencyRecorder("library cycle"), "raw": LatencyRecorder("raw cycle")}
    step_values: dict[str, list[list[float]]] = {"lib": [], "raw": []}
    cpu_values: dict[str, list[float]] = {"lib": [], "raw": []}  # client CPU (this thread) per cycle
    try:
        for i in range(warmup + cycles):
            order = (("lib", library_cycle, client), ("raw", raw_cycle, raw))
            if i % 2:
                order = order[::-1]
            for name, fn, arg in order:
                steps: list[float] = []
                cpu0 = time.thread_time()
                ms = fn(arg, steps)
                cpu_ms = (time.thread_time() - cpu0) * 1000
                if i >= warmup:
                    recs[name].record_ms(ms)
                    step_values[name].append(steps)
                    cpu_values[name].append(cpu_ms)
    finally:
        raw.close()
    lib_median = statistics.median(recs["lib"].values_ms)
    raw_median = statistics.median(recs["raw"].values_ms)
    step_medians = {
        name: {step: round(statistics.median(v[k] for v in values), 3) for k, step in enumerate(STEPS)}
        for name, values in step_values.items()
    }
    return {
        "cycles": cycles,
        "warmup": warmup,
        "library": recs["lib"].summary().to_dict(),
        "raw": recs["raw"].summary().to_dict(),
        "library_median_ms": round(lib_median, 3),
        "raw_median_ms": round(raw_median, 3),
        "added_median_ms": round(lib_median - raw_median, 3),
        "step_medians_ms": {"library": step_medians["lib"], "raw": step_medians["raw"]},
        "client_cpu_median_ms": {
            "library": round(statistics.median(cpu_values["lib"]), 3),
            "raw": round(statistics.median(cpu_values["raw"]), 3),
        },
        "target": "library median adds <= 5 ms",
        "met": lib_median - raw_median <= 5.0,
    }


# -- SSE ingestion -------------------------------------------------------------------------------------


def bench_ingestion(client: DaemonClient, port: int, events: int, reps: int) -> dict:
    sid = client.create_session("thread").session_id
    prefix = mock_control.directive(chunks=events - 2)  # + user echo + turn_complete = ``events`` frames in the ring
    accepted = client.prompt(sid, f"{prefix} fill")
    turn = follow_turn(client, sid, accepted, timeout_s=120)
    if turn.outcome != "completed":
        raise RuntimeError(f"ring fill: {turn.summary()}")
    lib_rates, raw_rates, floor_rates, httpx_rates, sse_rates = [], [], [], [], []
    cpu_us: dict[str, list[float]] = {"lib": [], "raw": [], "floor": [], "httpx": [], "sse": []}
    frames_seen = body_bytes = 0
    for i in range(reps):
        runs = ("lib", "raw", "floor", "httpx", "sse") if i % 2 == 0 else ("sse", "httpx", "floor", "raw", "lib")
        for name in runs:
            started = time.perf_counter()
            cpu0 = time.thread_time()
            if name == "lib":
                options = StreamOptions(
                    last_event_id=0, until_types=("replay_complete",), keep_events=False, timeout_s=60
                )
                res = Subscription(client.base_url, sid, options, client.token).run()
                count = res.received
                if res.end != "until_type":
                    raise RuntimeError(f"library replay ended with {res.end}: {res.summary()}")
            elif name in ("httpx", "sse"):
                count = layer_read(client.base_url, sid, 0, "replay_complete", parse_sse=name == "sse")
            else:
                count, body_bytes = raw_sse(port, sid, 0, b"event: replay_complete", parse_json=name == "raw")
            secs = time.perf_counter() - started
            cpu_us[name].append((time.thread_time() - cpu0) * 1e6 / max(count, 1))
            frames_seen = count
            rates = {"lib": lib_rates, "raw": raw_rates, "floor": floor_rates, "httpx": httpx_rates, "sse": sse_rates}
            rates[name].append(count / secs)
    client.close_session(sid)
    lib_rate, raw_rate, floor_rate, httpx_rate, sse_rate = (
        statistics.median(r) for r in (lib_rates, raw_rates, floor_rates, httpx_rates, sse_rates)
    )
    return {
        "ring_events": events,
        "frames_read": frames_seen,
        "replay_bytes": body_bytes,
        "replay_budget_bytes": REPLAY_BUDGET,
        "reps": reps,
        "library_events_per_s": round(lib_rate),
        "raw_json_events_per_s": round(raw_rate),
        "raw_split_only_events_per_s": round(floor_rate),
        "raw_over_library": round(raw_rate / lib_rate, 2),
        "transport_layers_events_per_s": {
            "httpx iter_raw only (no SSE parsing)": round(httpx_rate),
            "httpx + sseclient-py (no JSON)": round(sse_rate),
            "library (sseclient + JSON + ids, gaps, delivery)": round(lib_rate),
        },
        "cpu_us_per_event": {k: round(statistics.median(v), 2) for k, v in cpu_us.items()},
        "library_cpu_bound_events_per_s": round(1e6 / statistics.median(cpu_us["lib"])),
        "library_runs": [round(r) for r in lib_rates],
        "raw_json_runs": [round(r) for r in raw_rates],
        "target": "library >= 20000 events/s and raw (same work) / library <= 2",
        "met": lib_rate >= 20000 and raw_rate / lib_rate <= 2,
    }


# -- sampler CPU ---------------------------------------------------------------------------------------


def bench_sampler(daemon, seconds: float) -> dict:
    try:
        from keywords.measure.process_tree import snapshot_tree
        from keywords.measure.rss_sampler import RssSampler
    except ImportError:
        return {"skipped": "keywords/measure/process_tree.py is not available"}
    me = psutil.Process()

    def run(marked) -> dict:
        sampler = RssSampler(daemon.pid, marked=marked, interval_ms=100).start()
        tid = sampler._thread.native_id

        def thread_cpu() -> float:
            for t in me.threads():
                if t.id == tid:
                    return t.user_time + t.system_time
            return 0.0

        cpu0, wall0 = thread_cpu(), time.monotonic()
        time.sleep(seconds)
        cpu1, wall1 = thread_cpu(), time.monotonic()
        samples = sampler.stop()
        pct = (cpu1 - cpu0) / (wall1 - wall0) * 100
        ticks = max(1, samples.sample_count + samples.dropped)
        return {
            "seconds": round(wall1 - wall0, 2),
            "samples": samples.sample_count,
            "dropped": samples.dropped,
            "agents_seen": samples.peak_agents,
            "cpu_pct_of_core": round(pct, 3),
            "cpu_ms_per_sample": round((cpu1 - cpu0) * 1000 / ticks, 3),
        }

    # as the library uses it (tree = the daemon's descendants plus processes carrying its environment
    # marker), and with descendants only (no marker scan), to show where the cost is
    with_marker = run(daemon.tree)
    descendants_only = run(None)
    started = time.process_time()
    for _ in range(20):
        snapshot_tree(daemon.pid, daemon.tree())
    per_snapshot_ms = (time.process_time() - started) * 1000 / 20
    return {
        "interval_ms": 100,
        "with_marker_scan": with_marker,
        "descendants_only": descendants_only,
        "snapshot_with_marker_cpu_ms": round(per_snapshot_ms, 3),
        "clock_tick_s": 1 / os.sysconf("SC_CLK_TCK"),
        "target": "< 1% of a core",
        "met": with_marker["cpu_pct_of_core"] < 1.0,
    }


# -- suite wall time -----------------------------------------------------------------------------------


def bench_suite(timeout_s: float) -> dict:
    robot = Path(sys.executable).with_name("robot")
    with tempfile.TemporaryDirectory(prefix="harness-bench-robot-") as out:
        cmd = [str(robot), "--include", "loadtest", "--exclude", "sustained", "--outputdir", out]
        cmd += ["--output", "output.xml", "--log", "NONE", "--report", "NONE", "--console", "dotted", "suites/"]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
            rc = proc.returncode
            tail = proc.stdout.strip().splitlines()[-6:]
        except subprocess.TimeoutExpired:
            rc, tail = None, [f"timed out after {timeout_s:.0f} s"]
        wall = time.monotonic() - started
    return {
        "command": "robot --include loadtest --exclude sustained suites/",
        "wall_s": round(wall, 1),
        "robot_rc": rc,
        "tail": tail,
    }


# -- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=200, help="measured cycles per client (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured cycles per client first")
    parser.add_argument("--events", type=int, default=6000, help="events in the pre-filled ring (default 6000)")
    parser.add_argument("--reps", type=int, default=7, help="replay reads per reader (default 7)")
    parser.add_argument("--sampler-seconds", type=float, default=10.0, help="sampler measurement time")
    parser.add_argument("--no-suite", action="store_true", help="skip the loadtest suite wall time")
    parser.add_argument("--suite-timeout", type=float, default=900.0)
    parser.add_argument("--out", default=str(ROOT / "results" / "harness-benchmark.json"))
    args = parser.parse_args(argv)
    if args.cycles < 1 or not 5000 <= args.events <= 8000 or args.reps < 1:
        parser.error("cycles >= 1, events 5000..8000 (the default ring holds 8000), reps >= 1")

    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    ctx = HarnessContext(results_dir=str(work))
    daemons = DaemonKeywords(ctx)
    report: dict = {
        "capturedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python benchmarks/harness_overhead.py",
        "platform": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    report["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    try:
        daemon = daemons.start_daemon_with_mock_agent(chunks=3, max_sessions=0)
        client = ctx.get().client
        port = int(daemon.base_url.rsplit(":", 1)[1])
        report["daemon"] = {"version": ctx.source().version, "label": ctx.source().label}
        print(f"daemon {ctx.source().label} at {daemon.base_url}", flush=True)

        cyc = bench_cycles(client, port, args.cycles, args.warmup)
        report["cycle"] = cyc
        print(
            f"cycle (create → prompt → turn end → close), {cyc['cycles']} each, interleaved: "
            f"library median {cyc['library_median_ms']:.2f} ms (p99 {cyc['library']['p99']:.1f}), "
            f"raw median {cyc['raw_median_ms']:.2f} ms (p99 {cyc['raw']['p99']:.1f}); "
            f"library adds {cyc['added_median_ms']:.2f} ms [target ≤ 5 ms: {'met' if cyc['met'] else 'MISSED'}]; "
            f"client CPU per cycle {cyc['client_cpu_median_ms']['library']:.2f} ms library vs "
            f"{cyc['client_cpu_median_ms']['raw']:.2f} ms raw",
            flush=True,
        )

        ing = bench_ingestion(client, port, args.events, args.reps)
        report["sse_ingestion"] = ing
        print(
            f"SSE replay ingestion, {ing['frames_read']} frames ({ing['replay_bytes'] / 1e6:.2f} MB of 8 MiB "
            f"budget), median of {ing['reps']}: library {ing['library_events_per_s']:,} ev/s, raw (same work) "
            f"{ing['raw_json_events_per_s']:,} ev/s, raw split only {ing['raw_split_only_events_per_s']:,} ev/s; "
            f"raw/library {ing['raw_over_library']:.2f}x [target ≥ 20,000 and ≤ 2x: "
            f"{'met' if ing['met'] else 'MISSED'}]; reader CPU per event: library "
            f"{ing['cpu_us_per_event']['lib']:.1f} µs (CPU-bound capacity "
            f"{ing['library_cpu_bound_events_per_s']:,} ev/s), raw {ing['cpu_us_per_event']['raw']:.1f} µs; "
            "by layer: " + ", ".join(f"{k} {v:,} ev/s" for k, v in ing["transport_layers_events_per_s"].items()),
            flush=True,
        )

        smp = bench_sampler(daemon, args.sampler_seconds)
        report["sampler"] = smp
        if "skipped" in smp:
            print(f"sampler: skipped ({smp['skipped']})", flush=True)
        else:
            a, b = smp["with_marker_scan"], smp["descendants_only"]
            print(
                f"process-tree sampler at 10 Hz: {a['cpu_pct_of_core']:.2f}% of a core as the library runs it "
                f"({a['cpu_ms_per_sample']:.2f} ms CPU per sample), {b['cpu_pct_of_core']:.2f}% without the "
                f"environment-marker scan ({b['cpu_ms_per_sample']:.2f} ms) "
                f"[target < 1%: {'met' if smp['met'] else 'MISSED'}]",
                flush=True,
            )
    finally:
        daemons.stop_all_daemons()

    if not args.no_suite:
        suite = bench_suite(args.suite_timeout)
        report["loadtest_suite"] = suite
        print(f"loadtest suite wall time: {suite['wall_s']:.1f} s (robot rc {suite['robot_rc']})", flush=True)
    else:
        report["loadtest_suite"] = {"skipped": "--no-suite"}

    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    busy = max(report["load_average_before"][0], report["load_average_after"][0]) > (os.cpu_count() or 1)
    report["machine_busy"] = busy
    if busy:
        print(
            f"note: load average {report['load_average_before'][0]} → {report['load_average_after'][0]} on "
            f"{os.cpu_count()} CPUs: other work shared the machine, so the figures are pessimistic",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
