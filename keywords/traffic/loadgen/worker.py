"""One load-generating process: ``python -m keywords.traffic.loadgen.worker`` (started by :mod:`.coordinator`).

Protocol on its standard streams, one JSON object a line:

1. stdin: the :class:`~keywords.traffic.loadgen.spec.WorkerSpec`; the worker opens its connections and the
   SSE streams of the sessions it owns, then writes ``{"type": "ready"}`` (or ``{"type": "error"}``);
2. stdin: ``go <t0>`` (a monotonic time shared by every process) starts the schedule; ``stop`` ends it early;
   end of stdin counts as ``stop``;
3. stdout: ``{"type": "progress", ...}`` every ``progress_s`` (counts so far and the response histogram),
   then ``{"type": "result", "report": {...}}`` (a :class:`~keywords.traffic.loadgen.spec.WorkerReport`).

Everything runs on one asyncio loop (:mod:`.wire`): a scheduler hands each arrival to a free connection at its
intended start, or queues it (``backlog``) or drops it; SSE frames are matched to prompts by ``promptId``.
Only 127.0.0.1 is contacted; every wait is bounded. The worker never imports Robot Framework.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import Counter, deque

from keywords.measure.metrics import LatencyRecorder
from keywords.traffic.loadgen.spec import SERIES, WorkerReport, WorkerSpec
from keywords.traffic.loadgen.wire import HttpConnection, SseStream, WireError

_loads = json.JSONDecoder().decode
TURN_ENDS = ("turn_complete", "turn_error")
TERMINALS = ("session_closed", "session_died", "client_evicted")
CONNECT_TIMEOUT_S = 15.0


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _code(status: int, body: bytes) -> str:
    try:
        code = _loads(body.decode()).get("code")
    except (ValueError, AttributeError, UnicodeDecodeError):
        code = None
    return str(code) if code else f"http_{status}"


class _Trace:
    __slots__ = ("ends", "events", "first_chunk", "intended", "last_event", "outcome", "sent")

    def __init__(self) -> None:
        self.intended: float | None = None
        self.sent: float | None = None
        self.events = 0
        self.first_chunk: float | None = None
        self.last_event: float | None = None
        self.ends = 0
        self.outcome: str | None = None


class Worker:
    """The state of one process's share of the load (single-threaded: the asyncio loop owns everything)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.auth = f"Authorization: Bearer {spec.token}\r\n".encode() if spec.token else b""
        self.rec = {name: LatencyRecorder(name, keep_values=False) for name in SERIES}
        self.counts: Counter = Counter()
        self.errors: Counter = Counter()
        self.event_mix: Counter = Counter()
        self.refused: Counter = Counter()
        self.done_per_s: list[int] = []
        self.events_per_s: list[int] = []
        self.traces: dict[str, dict[str, _Trace]] = {}
        self.streams: list[SseStream] = []
        self.idle: list[HttpConnection] = []
        self.all_conns: list[HttpConnection] = []
        self.waiting: deque = deque()
        self.answer_conns: list[HttpConnection] = []
        self.answer_waiting: deque = deque()
        self.in_flight = 0
        self.tasks: set[asyncio.Task] = set()
        self.t0 = 0.0
        self.first_event_at: float | None = None
        self.last_event_at: float | None = None
        self.stop = asyncio.Event()
        self.cpu_windows: list[float] = []
        self.schedule_end = 0.0
        self.prompt_body = json.dumps({"prompt": [{"type": "text", "text": spec.prompt_text}]}).encode()
        self.create_body = json.dumps({"sessionScope": "thread"}).encode()
        self.late_s = spec.late_ms / 1000
        self.max_lag_s = spec.max_start_lag_ms / 1000
        self.bound_s = spec.p99_bound_ms / 1000 if spec.p99_bound_ms is not None else None
        self.answering = spec.answer_permissions != "none" and spec.kind in ("prompt", "fanout")

    # -- set-up ------------------------------------------------------------------------------------------
    async def setup(self) -> None:
        spec = self.spec
        for _ in range(spec.connections):
            conn = HttpConnection(spec.port, self.auth)
            self.all_conns.append(conn)
            self.idle.append(conn)
        await asyncio.gather(*(c.open() for c in self.all_conns))
        if self.answering:
            self.answer_conns = [HttpConnection(spec.port, self.auth) for _ in range(2)]
        opens = []
        for sid in spec.own_sessions():
            self.traces[sid] = {}
            for sub in range(spec.subscribers):
                stream = SseStream(
                    spec.port,
                    f"/session/{sid}/events",
                    lambda data, now, sid=sid, sub=sub: self.frame(sid, sub, data, now),
                    self.auth,
                )
                self.streams.append(stream)
                opens.append(stream.open(CONNECT_TIMEOUT_S))
        statuses = await asyncio.gather(*opens)
        bad = [s for s in statuses if s != 200]
        if bad:
            raise WireError(f"{len(bad)} of {len(statuses)} SSE subscriptions failed (status {bad[0]})")

    # -- the schedule ----------------------------------------------------------------------------------
    async def run(self, t0: float) -> None:
        loop = asyncio.get_running_loop()
        spec = self.spec
        self.t0 = t0
        self._cpu_last = (time.process_time(), loop.time())
        self._cpu_start = self._cpu_last
        cpu_task = asyncio.ensure_future(self._cpu_loop())
        progress_task = asyncio.ensure_future(self._progress_loop())
        owned = (i for i in range(spec.arrivals) if spec.owns(i))
        self.counts["planned"] = sum(1 for i in range(spec.arrivals) if spec.owns(i))
        nxt = next(owned, None)
        while nxt is not None and not self.stop.is_set():
            now = loop.time()
            while nxt is not None and t0 + nxt / spec.rate <= now:
                self.fire(nxt, t0 + nxt / spec.rate)
                self.schedule_end = t0 + nxt / spec.rate
                nxt = next(owned, None)
            if nxt is None:
                break
            wait = t0 + nxt / spec.rate - loop.time()
            if wait > 0:
                await asyncio.sleep(min(wait, 0.1))  # a stop is seen within 0.1 s
        if self.stop.is_set() and nxt is not None:
            self.counts["planned"] -= sum(1 for i in range(nxt, spec.arrivals) if spec.owns(i))
        # waiting arrivals that never got a connection are dropped, not sent
        drain_until = loop.time() + (min(spec.drain_s, 2.0) if self.stop.is_set() else spec.drain_s)
        drain_until += self.max_lag_s if not self.stop.is_set() else 0.0
        while loop.time() < drain_until and (self.in_flight or self.waiting or self.outstanding() or self.tasks):
            await asyncio.sleep(0.01)
        self.counts["dropped_lag"] += len(self.waiting)
        self.waiting.clear()
        self.counts["unfinished"] = self.outstanding() + self.in_flight
        cpu_task.cancel()
        progress_task.cancel()
        self._cpu_window()

    def fire(self, index: int, intended: float) -> None:
        if self.idle:
            self.start(index, intended, self.idle.pop())
        elif len(self.waiting) < self.spec.backlog:
            self.waiting.append((index, intended))
        else:
            self.counts["dropped_queue_full"] += 1

    def start(self, index: int, intended: float, conn: HttpConnection) -> None:
        started = asyncio.get_running_loop().time()
        lag = started - intended
        self.rec["start_lag"].record_ms(max(0.0, lag) * 1000)
        if lag > self.late_s:
            self.counts["late"] += 1
        self.counts["sent"] += 1
        self.in_flight += 1
        kind = self.spec.kind
        job = self.prompt if kind in ("prompt", "fanout") else self.lifecycle if kind == "lifecycle" else self.cycle
        task = asyncio.ensure_future(self._guarded(job, index, intended, started, conn))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, job, index: int, intended: float, started: float, conn: HttpConnection) -> None:
        try:
            await job(index, intended, started, conn)
        except WireError as exc:
            self.errors[f"transport:{str(exc).split(' ', 1)[0]}"] += 1
        except Exception as exc:  # counted, never fatal for the run
            self.errors[f"exception:{type(exc).__name__}"] += 1
        finally:
            self.in_flight -= 1
            self.release(conn)

    def release(self, conn: HttpConnection) -> None:
        now = asyncio.get_running_loop().time()
        while self.waiting:
            index, intended = self.waiting.popleft()
            if now - intended > self.max_lag_s:
                self.counts["dropped_lag"] += 1
                continue
            self.start(index, intended, conn)
            return
        self.idle.append(conn)

    def done(self, intended: float, started: float, end: float) -> None:
        self.counts["completed"] += 1
        response_s = end - intended
        self.rec["response"].record_ms(response_s * 1000)
        self.rec["service"].record_ms((end - started) * 1000)
        if self.bound_s is not None and response_s > self.bound_s:
            self.counts["over_bound"] += 1
        self._tick(self.done_per_s, end)

    def _tick(self, per_s: list[int], now: float) -> None:
        second = int(now - self.t0)
        if second < 0:
            return
        if second >= len(per_s):
            per_s.extend([0] * (second + 1 - len(per_s)))
        per_s[second] += 1

    # -- the jobs ------------------------------------------------------------------------------------------
    async def prompt(self, index: int, intended: float, started: float, conn: HttpConnection) -> None:
        sid = self.spec.session_ids[index % len(self.spec.session_ids)]
        status, body = await conn.request(b"POST", f"/session/{sid}/prompt", self.prompt_body)
        now = asyncio.get_running_loop().time()
        if status != 202:
            self.errors[_code(status, body)] += 1
            return
        self.rec["accept"].record_ms((now - started) * 1000)
        prompt_id = _loads(body.decode())["promptId"]
        traces = self.traces[sid]
        trace = traces.get(prompt_id)
        if trace is None:
            trace = traces[prompt_id] = _Trace()
        trace.intended, trace.sent = intended, started
        if trace.outcome is not None:
            self._finish(sid, prompt_id, trace)

    async def lifecycle(self, index: int, intended: float, started: float, conn: HttpConnection) -> None:
        status, body = await conn.request(b"POST", "/session", self.create_body)
        loop = asyncio.get_running_loop()
        if status != 200:
            self.errors[_code(status, body)] += 1
            return
        self.rec["accept"].record_ms((loop.time() - started) * 1000)
        sid = _loads(body.decode())["sessionId"]
        status, body = await conn.request(b"DELETE", f"/session/{sid}")
        if status != 204:
            self.errors[_code(status, body)] += 1
            return
        self.done(intended, started, loop.time())

    async def cycle(self, index: int, intended: float, started: float, conn: HttpConnection) -> None:
        loop = asyncio.get_running_loop()
        status, body = await conn.request(b"POST", "/session", self.create_body)
        if status != 200:
            self.errors[_code(status, body)] += 1
            return
        self.rec["accept"].record_ms((loop.time() - started) * 1000)
        sid = _loads(body.decode())["sessionId"]
        try:
            status, body = await conn.request(b"POST", f"/session/{sid}/prompt", self.prompt_body)
            if status != 202:
                self.errors[_code(status, body)] += 1
                return
            accepted = _loads(body.decode())
            ended: asyncio.Future = loop.create_future()

            def on_frame(data: bytes, now: float) -> None:
                self.counts["events"] += 1
                self._tick(self.events_per_s, now)
                try:
                    env = _loads(data.decode())
                except (ValueError, UnicodeDecodeError):
                    self.errors["malformed_frame"] += 1
                    return
                if env.get("type") in TURN_ENDS and not ended.done():
                    ended.set_result((env.get("type"), now))

            stream = SseStream(
                self.spec.port,
                f"/session/{sid}/events",
                on_frame,
                self.auth + f"Last-Event-ID: {accepted.get('lastEventId', 0)}\r\n".encode(),
                on_end=lambda s: ended.done() or ended.set_result(("eof", loop.time())),
            )
            try:
                if await stream.open(CONNECT_TIMEOUT_S) != 200:
                    self.errors["subscribe_failed"] += 1
                    return
                bound = self.spec.drain_s + self.max_lag_s + 30  # a timer, not wait_for: no task per cycle
                timer = loop.call_later(bound, lambda: ended.done() or ended.set_result(("timeout", loop.time())))
                etype, _at = await ended
                timer.cancel()
            finally:
                stream.close()
            if etype != "turn_complete":
                self.errors[f"turn_end:{etype}"] += 1
                return
        finally:
            status, body = await conn.request(b"DELETE", f"/session/{sid}")
        if status != 204:
            self.errors[_code(status, body)] += 1
            return
        self.done(intended, started, loop.time())

    # -- SSE frames ----------------------------------------------------------------------------------------
    def frame(self, sid: str, sub: int, data: bytes, now: float) -> None:
        self.counts["events"] += 1
        self._tick(self.events_per_s, now)
        if self.first_event_at is None:
            self.first_event_at = now
        self.last_event_at = now
        try:
            env = _loads(data.decode())
        except (ValueError, UnicodeDecodeError):
            self.errors["malformed_frame"] += 1
            return
        stamp = env["_meta"].get("serverTimestamp") if isinstance(env.get("_meta"), dict) else None
        if stamp is not None:
            self.rec["delivery"].record_ms(max(0.0, time.time() * 1000 - stamp))
        etype = env.get("type")
        data_ = env.get("data") if isinstance(env.get("data"), dict) else {}
        if etype in TERMINALS:
            self._session_ended(sid, etype)
            return
        prompt_id = env.get("promptId") or data_.get("promptId")
        update = data_.get("update") if etype == "session_update" else None
        mix = update.get("sessionUpdate", etype) if isinstance(update, dict) else etype
        if sub == 0:
            self.event_mix[mix] += 1
        if not prompt_id:
            return
        traces = self.traces.get(sid)
        if traces is None:
            return
        trace = traces.get(prompt_id)
        if trace is None:
            trace = traces[prompt_id] = _Trace()
        if sub == 0:
            trace.events += 1
            if trace.last_event is not None:
                self.rec["gaps"].record_ms((now - trace.last_event) * 1000)
            trace.last_event = now
            if mix == "agent_message_chunk" and trace.first_chunk is None:
                trace.first_chunk = now
            if etype == "permission_request" and self.answering:
                self.counts["permission_requests"] += 1
                self._answer(env, now)
        if etype in TURN_ENDS:
            trace.ends += 1
            if trace.ends >= self.spec.subscribers and trace.outcome is None:
                trace.outcome = "completed" if etype == "turn_complete" else f"turn_error:{data_.get('code') or 'none'}"
                trace.last_event = now
                if trace.sent is not None:
                    self._finish(sid, prompt_id, trace)

    def _finish(self, sid: str, prompt_id: str, trace: _Trace) -> None:
        end = trace.last_event or trace.sent
        if trace.outcome == "completed":
            self.done(trace.intended, trace.sent, end)
            if trace.first_chunk is not None:
                self.rec["first_chunk"].record_ms((trace.first_chunk - trace.sent) * 1000)
        else:
            self.errors[trace.outcome or "unknown"] += 1
        self.traces[sid].pop(prompt_id, None)

    def _session_ended(self, sid: str, etype: str) -> None:
        for prompt_id, trace in list(self.traces.get(sid, {}).items()):
            if trace.outcome is None:
                trace.outcome = etype
                if trace.sent is not None:
                    self._finish(sid, prompt_id, trace)

    def outstanding(self) -> int:
        """Accepted prompts whose turn has not ended (on every subscriber) yet."""
        return sum(1 for traces in self.traces.values() for t in traces.values() if t.sent is not None)

    def slower_open(self, now: float) -> int:
        """Open prompts already older than the p99 bound (they will be slower than it)."""
        if self.bound_s is None:
            return 0
        return sum(
            1
            for traces in self.traces.values()
            for t in traces.values()
            if t.intended is not None and now - t.intended > self.bound_s
        )

    # -- permission answers --------------------------------------------------------------------------------
    def _answer(self, env: dict, seen: float) -> None:
        from keywords.traffic.permissions.answering import (
            PermissionRequest,  # only loads where permissions are answered
        )

        request = PermissionRequest.from_event(env, 0.0)
        decision = "select" if self.spec.answer_permissions == "allow" else "reject"
        try:
            body = json.dumps(request.outcome(decision)).encode()
        except ValueError:
            self.refused["no_matching_option"] += 1
            return
        path = f"/session/{request.session_id}/permission/{request.request_id}"
        task = asyncio.ensure_future(self._send_answer(path, body, seen))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send_answer(self, path: str, body: bytes, seen: float) -> None:
        conn = self.answer_conns.pop() if self.answer_conns else HttpConnection(self.spec.port, self.auth)  # grows
        try:
            status, _ = await conn.request(b"POST", path, body)
            if status == 200:
                self.counts["permission_answered"] += 1
                self.rec["answer"].record_ms((asyncio.get_running_loop().time() - seen) * 1000)
            else:
                self.refused[str(status)] += 1
        except WireError:
            self.refused["transport"] += 1
        finally:
            self.answer_conns.append(conn)

    # -- CPU and progress ----------------------------------------------------------------------------------
    async def _cpu_loop(self) -> None:
        while True:
            await asyncio.sleep(self.spec.cpu_interval_s)
            self._cpu_window()

    def _cpu_window(self) -> None:
        now = (time.process_time(), asyncio.get_running_loop().time())
        cpu, wall = now[0] - self._cpu_last[0], now[1] - self._cpu_last[1]
        if wall > 0.01:
            self.cpu_windows.append(round(cpu / wall * 100, 1))
            self._cpu_last = now

    async def _progress_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.spec.progress_s)
            now = loop.time()
            _emit(
                {
                    "type": "progress",
                    "sent": self.counts["sent"],
                    "completed": self.counts["completed"],
                    "errors": sum(self.errors.values()),
                    "late": self.counts["late"],
                    "dropped": self.counts["dropped_queue_full"] + self.counts["dropped_lag"],
                    "inFlight": self.in_flight + self.outstanding(),
                    "slower": self.counts["over_bound"] + self.slower_open(now),
                    "cpuPct": self.cpu_windows[-1] if self.cpu_windows else None,
                    "response": self.rec["response"].encode() if self.rec["response"].count else None,
                }
            )

    def report(self, wall_end: float) -> WorkerReport:
        cpu_s = time.process_time() - self._cpu_start[0]
        return WorkerReport(
            index=self.spec.index,
            counts={k: int(v) for k, v in self.counts.items()},
            errors=dict(self.errors),
            histograms={name: r.encode() for name, r in self.rec.items() if r.count},
            done_per_s=self.done_per_s,
            events_per_s=self.events_per_s,
            event_mix=dict(self.event_mix),
            permission_refused=dict(self.refused),
            first_event_at=self.first_event_at,
            last_event_at=self.last_event_at,
            cpu_windows_pct=self.cpu_windows,
            cpu_s=round(cpu_s, 4),
            wall_s=round(wall_end - self.t0, 4),
            schedule_s=round(max(0.0, self.schedule_end - self.t0), 4),
            stopped=self.stop.is_set(),
        )

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
        for conn in [*self.all_conns, *self.answer_conns]:
            conn.close()


def _read_commands(loop: asyncio.AbstractEventLoop, go: asyncio.Future, stop: asyncio.Event) -> None:
    """Reader thread: ``go <t0>`` and ``stop`` lines from stdin; end of stdin is a stop."""
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        if word == "go":
            loop.call_soon_threadsafe(lambda t=float(arg): go.done() or go.set_result(t))
        elif word == "stop":
            break
    loop.call_soon_threadsafe(stop.set)
    loop.call_soon_threadsafe(lambda: go.done() or go.set_result(None))


async def _main(spec: WorkerSpec) -> int:
    loop = asyncio.get_running_loop()
    worker = Worker(spec)
    try:
        await asyncio.wait_for(worker.setup(), CONNECT_TIMEOUT_S + 5)
    except (OSError, asyncio.TimeoutError) as exc:
        _emit({"type": "error", "message": f"set-up failed: {type(exc).__name__}: {exc}"})
        worker.close()
        return 1
    go: asyncio.Future = loop.create_future()
    threading.Thread(target=_read_commands, args=(loop, go, worker.stop), daemon=True).start()
    _emit({"type": "ready"})
    try:
        t0 = await asyncio.wait_for(go, 120)
    except asyncio.TimeoutError:
        t0 = None
    if t0 is None:
        worker.close()
        _emit({"type": "result", "report": WorkerReport(index=spec.index, stopped=True).to_json()})
        return 0
    await worker.run(t0)
    report = worker.report(loop.time())
    worker.close()
    _emit({"type": "result", "report": report.to_json()})
    return 0


def main() -> int:
    """Read the spec from the first stdin line and run the worker."""
    line = sys.stdin.readline()
    try:
        spec = WorkerSpec.loads(line)
    except (ValueError, TypeError) as exc:
        _emit({"type": "error", "message": f"bad spec: {exc}"})
        return 2
    return asyncio.run(_main(spec))


if __name__ == "__main__":
    sys.exit(main())
