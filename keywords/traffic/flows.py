"""Session flows for load scenarios: create → prompt → turn end (repeated) → close, run one by one or all at once.

A flow never raises; it returns a :class:`FlowRecord` saying what happened at each step, so one failing flow
does not hide the others. Concurrent flows start together behind a barrier, each in its own thread, and the
caller waits for all of them within a bound. Background load (:class:`BackgroundLoad`) keeps other sessions
busy while a scenario runs. Eviction is confirmed from the daemon's own log (:func:`find_evictions`).

Nothing here logs or touches Robot Framework; times are monotonic milliseconds.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from keywords.errors import DaemonHttpError, HarnessConfigError
from keywords.measure import metrics
from keywords.traffic.client import DaemonClient
from keywords.traffic.turns import follow_turn

MAX_FLOWS = 1000
MAX_PROMPTS = 1000


@dataclass
class FlowTurn:
    """One prompt of a flow, timed from its own POST to its own end frame as read over SSE.

    Attributes:
        prompt_id: The prompt's id from the 202 answer.
        outcome: How the turn ended (as :attr:`keywords.traffic.turns.TurnResult.outcome`).
        stop_reason: ``stopReason`` of ``turn_complete``.
        end_prompt_id: ``promptId`` carried by the frame that ended the turn.
        chunks: Agent chunks of this prompt.
        session_updates: ``session_update`` frames of this prompt (the daemon's echo included).
        prompt_ms: ``POST .../prompt`` time (to the 202).
        turn_ms: Prompt POST to the end of the turn.
        update_times: Monotonic receipt times (s) of this prompt's ``session_update`` frames.
    """

    prompt_id: str
    outcome: str
    stop_reason: str | None
    end_prompt_id: str | None
    chunks: int
    session_updates: int
    prompt_ms: float | None
    turn_ms: float | None
    update_times: list[float] = field(default_factory=list)

    def problems(self, chunks: int | None = None) -> list[str]:
        """What this turn got wrong (empty when it completed ``end_turn`` with its own promptId and chunks).

        Args:
            chunks: Expected agent chunks (then ``chunks + 1`` session updates are expected).
        """
        out = []
        if self.outcome != "completed" or self.stop_reason != "end_turn":
            out.append(f"turn ended {self.outcome} {self.stop_reason or ''}".strip() + ", expected completed end_turn")
        elif self.end_prompt_id != self.prompt_id:
            out.append(f"turn_complete carried promptId {self.end_prompt_id}, expected {self.prompt_id}")
        if chunks is not None and self.outcome == "completed":
            if self.chunks != chunks:
                out.append(f"{self.chunks} agent chunks, expected {chunks}")
            if self.session_updates != chunks + 1:
                out.append(f"{self.session_updates} session_update events, expected {chunks + 1} (echo + chunks)")
        return out


@dataclass
class FlowRecord:
    """One create → prompt → turn end → close flow; with ``prompts`` > 1, prompt → turn end is repeated.

    The single-turn fields (``prompt_id`` ... ``turn_ms``) describe the last turn the flow ran: the flow stops
    prompting after a turn that broke the contract, so that turn is the one they show. ``turns`` holds every turn.

    Attributes:
        index: Flow number (0-based).
        session_id: The session created (``None`` if creation failed).
        prompt_id: The prompt's id from the 202 answer.
        outcome: How the turn ended (``completed``, ``error``, ``session_died``, ``timeout``...) or ``not_run``.
        stop_reason: ``stopReason`` of ``turn_complete``.
        end_prompt_id: ``promptId`` carried by the frame that ended the turn.
        chunks: Agent chunks of this prompt.
        session_updates: ``session_update`` frames of this prompt (the daemon's echo included).
        close_status: Status of ``DELETE /session/:id`` (204 expected).
        after_close_status: Status of ``GET /session/:id/status`` after the close (404 expected).
        create_ms: ``POST /session`` time.
        prompt_ms: ``POST .../prompt`` time (to the 202).
        turn_ms: Prompt POST to the end of the turn.
        close_ms: ``DELETE`` time.
        total_ms: The whole flow.
        error: What went wrong (an HTTP refusal or an exception), if anything.
        started_at: Monotonic start time (s), to place flows on a common time line.
        prompts: Prompts the flow was to send, one after another, each after the previous turn ended.
        turns: Every turn the flow ran, in order.
    """

    index: int
    session_id: str | None = None
    prompt_id: str | None = None
    outcome: str = "not_run"
    stop_reason: str | None = None
    end_prompt_id: str | None = None
    chunks: int = 0
    session_updates: int = 0
    close_status: int | None = None
    after_close_status: int | None = None
    create_ms: float | None = None
    prompt_ms: float | None = None
    turn_ms: float | None = None
    close_ms: float | None = None
    total_ms: float | None = None
    error: str | None = None
    started_at: float = 0.0
    prompts: int = 1
    turns: list[FlowTurn] = field(default_factory=list)

    def turn_times(self) -> list[float]:
        """Prompt-to-turn-end times (ms) of every turn this flow ran (the single ``turn_ms`` without ``turns``)."""
        if self.turns:
            return [t.turn_ms for t in self.turns if t.turn_ms is not None]
        return [self.turn_ms] if self.turn_ms is not None else []

    def problems(self, chunks: int | None = None) -> list[str]:
        """What this flow got wrong against the per-flow contract (empty when correct).

        Args:
            chunks: Expected agent chunks (then ``chunks + 1`` session updates are expected).
        """
        out = []
        if self.error:
            out.append(self.error)
        last = FlowTurn(
            self.prompt_id or "",
            self.outcome,
            self.stop_reason,
            self.end_prompt_id,
            self.chunks,
            self.session_updates,
            self.prompt_ms,
            self.turn_ms,
        )
        out += last.problems(chunks)
        if self.turns and len(self.turns) < self.prompts:
            out.append(f"only {len(self.turns)} of {self.prompts} prompts ran")
        if self.session_id is not None and not self.error:
            if self.close_status != 204:
                out.append(f"DELETE answered {self.close_status}, expected 204")
            if self.after_close_status != 404:
                out.append(f"status after close answered {self.after_close_status}, expected 404")
        return out


@dataclass
class FlowBatch:
    """Flows run together (a burst) or one after another (lifecycle cycles).

    Attributes:
        mode: ``sequential`` or ``concurrent``.
        records: One :class:`FlowRecord` per flow, in flow order.
        wall_ms: First start to last end.
        chunks: Agent chunks each prompt asked for.
        latency: Percentiles of ``total_ms`` over the successful flows.
        turn_latency: Percentiles of the turn times (every prompt's) over the successful flows.
        create_latency: Percentiles of ``create_ms``.
    """

    mode: str
    records: list[FlowRecord]
    wall_ms: float
    chunks: int
    latency: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))
    turn_latency: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))
    create_latency: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))

    def __post_init__(self) -> None:
        """Compute the latency summaries from the correct flows."""
        good = [r for r in self.records if not r.problems(self.chunks)]
        self.latency = metrics.summarize(self.latencies_ms(), "flow")
        self.turn_latency = metrics.summarize([ms for r in good for ms in r.turn_times()], "turn")
        self.create_latency = metrics.summarize([r.create_ms for r in self.records if r.create_ms is not None])

    def latencies_ms(self) -> list[float]:
        """``total_ms`` of each correct flow, in flow order: the values behind ``latency`` (for plots)."""
        return [r.total_ms for r in self.records if not r.problems(self.chunks) and r.total_ms is not None]

    @property
    def count(self) -> int:
        """Number of flows."""
        return len(self.records)

    @property
    def failures(self) -> list[FlowRecord]:
        """Flows that broke the per-flow contract."""
        return [r for r in self.records if r.problems(self.chunks)]

    @property
    def success_count(self) -> int:
        """Flows that met the contract."""
        return self.count - len(self.failures)

    @property
    def failure_count(self) -> int:
        """Flows that did not."""
        return len(self.failures)

    @property
    def prompt_count(self) -> int:
        """Prompts the flows were to send (flows times prompts per flow)."""
        return sum(r.prompts for r in self.records)

    def good_turns(self) -> list[FlowTurn]:
        """Every turn, in any flow, that completed correctly (its own promptId, ``chunks`` chunks)."""
        return [t for r in self.records for t in r.turns if not t.problems(self.chunks)]

    @property
    def failed_prompt_count(self) -> int:
        """Prompts that did not complete correctly (a broken turn, or never sent after one)."""
        return self.prompt_count - len(self.good_turns())

    def failure_report(self, limit: int = 10) -> str:
        """One line per failing flow (at most ``limit``)."""
        lines = [f"flow {r.index} ({r.session_id}): {'; '.join(r.problems(self.chunks))}" for r in self.failures]
        more = len(lines) - limit
        return "\n".join(lines[:limit] + ([f"... and {more} more"] if more > 0 else []))

    def line(self) -> str:
        """Figures for a test message."""
        return (
            f"{self.success_count}/{self.count} flows correct ({self.mode}, {self.chunks} chunks) · "
            f"flow {self.latency.line()} · wall {self.wall_ms:.0f} ms"
        )


def run_flow(
    client: DaemonClient,
    index: int,
    *,
    text: str,
    timeout_s: float = 30.0,
    check_gone: bool = True,
    ready: Callable[[], None] | None = None,
    prompts: int = 1,
    chunks: int | None = None,
) -> FlowRecord:
    """Create a thread session, prompt it, follow the turn to its end, close it, check it is gone.

    With ``prompts`` > 1 the session gets that many prompts one after another (each sent when the previous
    turn ended), each timed from its own POST to its own end frame; a turn that breaks the contract ends the
    prompting (the session is still closed).

    Args:
        client: Client of the daemon.
        index: Flow number (in the record).
        text: Prompt text (may carry a mock directive); with ``prompts`` > 1, `` #<k>`` is added.
        timeout_s: Bound on each turn.
        check_gone: Ask the session's status after the close (404 expected).
        ready: Called just before the flow starts (a barrier wait for concurrent flows).
        prompts: Prompts to send, one after another.
        chunks: Expected agent chunks per turn (a turn with other counts ends the prompting).
    """
    rec = FlowRecord(index, prompts=prompts)
    if ready is not None:
        try:
            ready()
        except threading.BrokenBarrierError:
            rec.error = "the start barrier broke (another flow thread failed to start)"
            return rec
    rec.started_at = time.monotonic()
    try:
        info = client.create_session("thread")
        rec.session_id, rec.create_ms = info.session_id, info.elapsed_ms
        for k in range(prompts):
            turn = _run_turn(client, rec.session_id, text if prompts == 1 else f"{text} #{k}", timeout_s)
            rec.turns.append(turn)
            rec.prompt_id, rec.prompt_ms, rec.turn_ms = turn.prompt_id, turn.prompt_ms, turn.turn_ms
            rec.outcome, rec.stop_reason, rec.end_prompt_id = turn.outcome, turn.stop_reason, turn.end_prompt_id
            rec.chunks, rec.session_updates = turn.chunks, turn.session_updates
            if turn.problems(chunks):
                break
        closed = client.close_session(rec.session_id, expected=None)
        rec.close_status, rec.close_ms = closed.status, closed.elapsed_ms
        if check_gone:
            rec.after_close_status = client.session_status(rec.session_id, expected=None).status
    except DaemonHttpError as exc:
        rec.error = str(exc)
    except Exception as exc:  # a flow reports, it never raises
        rec.error = f"{type(exc).__name__}: {exc}"
    rec.total_ms = (time.monotonic() - rec.started_at) * 1000
    return rec


def _run_turn(client: DaemonClient, session_id: str, text: str, timeout_s: float) -> FlowTurn:
    """POST one prompt and follow its turn to the end frame (race-free: the stream replays from the 202)."""
    accepted = client.prompt(session_id, text)
    turn = follow_turn(client, session_id, accepted, timeout_s=timeout_s)
    events = turn.stream.events if turn.stream else []
    base = turn.stream.started_at if turn.stream else 0.0
    updates = [
        base + env["_recv_ms"] / 1000
        for env in events
        if env.get("type") == "session_update"
        and "_recv_ms" in env
        and (env.get("promptId") or (env.get("data") or {}).get("promptId")) in (None, accepted.prompt_id)
    ]
    return FlowTurn(
        prompt_id=accepted.prompt_id,
        outcome=turn.outcome,
        stop_reason=turn.stop_reason,
        end_prompt_id=_end_prompt_id(events, accepted.prompt_id),
        chunks=turn.chunks,
        session_updates=turn.session_updates,
        prompt_ms=accepted.elapsed_ms,
        turn_ms=turn.turn_ms,
        update_times=updates,
    )


def _end_prompt_id(events: Iterable[dict], prompt_id: str) -> str | None:
    """``promptId`` of the frame that ended the turn of ``prompt_id`` (``None`` if no end frame)."""
    for env in events:
        if env.get("type") in ("turn_complete", "turn_error"):
            data = env.get("data") if isinstance(env.get("data"), dict) else {}
            pid = env.get("promptId") or data.get("promptId")
            if pid == prompt_id:
                return pid
    return None


def _check_count(name: str, value: int, most: int = MAX_FLOWS) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise HarnessConfigError(f"{name} must be a whole number from 1 to {most}, got {value!r}.")


def run_sequential(
    client: DaemonClient, cycles: int, *, chunks: int, prefix: str = "", timeout_s: float = 30.0
) -> FlowBatch:
    """Run ``cycles`` flows one after another (upstream's rapid lifecycle).

    Args:
        client: Client of the daemon.
        cycles: Number of flows.
        chunks: Agent chunks each prompt asks for (recorded; the prefix makes the mock send them).
        prefix: Text put before ``cycle-<i>`` (a mock directive).
        timeout_s: Bound on each turn.
    """
    _check_count("cycles", cycles)
    started = time.monotonic()
    records = [run_flow(client, i, text=f"{prefix}cycle-{i}", timeout_s=timeout_s) for i in range(cycles)]
    return FlowBatch("sequential", records, (time.monotonic() - started) * 1000, chunks)


def run_concurrent(
    client: DaemonClient,
    flows: int,
    *,
    chunks: int,
    prefix: str = "",
    timeout_s: float = 30.0,
    join_timeout_s: float = 120.0,
    prompts: int = 1,
) -> FlowBatch:
    """Start ``flows`` flows at the same moment (threads behind a barrier) and wait for all of them.

    Args:
        client: Client of the daemon (its connection pool is shared by the threads).
        flows: Number of concurrent flows.
        chunks: Agent chunks each prompt asks for.
        prefix: Text put before ``burst-<i>`` (a mock directive).
        timeout_s: Bound on each turn.
        join_timeout_s: Bound on the whole batch; flows still running then are recorded as timed out.
        prompts: Prompts per flow, one after another within the flow (the flows run side by side).
    """
    _check_count("flows", flows)
    _check_count("prompts", prompts, MAX_PROMPTS)
    barrier = threading.Barrier(flows, timeout=30.0)
    records: list[FlowRecord | None] = [None] * flows

    def work(i: int) -> None:
        records[i] = run_flow(
            client,
            i,
            text=f"{prefix}burst-{i}",
            timeout_s=timeout_s,
            ready=barrier.wait,
            prompts=prompts,
            chunks=chunks,
        )

    threads = [threading.Thread(target=work, args=(i,), name=f"flow-{i}", daemon=True) for i in range(flows)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + join_timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    done = [
        r if r is not None else FlowRecord(i, outcome="timeout", error="flow still running", prompts=prompts)
        for i, r in enumerate(records)
    ]
    starts = [r.started_at for r in done if r.started_at]
    ends = [r.started_at + (r.total_ms or 0) / 1000 for r in done if r.started_at]
    wall = (max(ends) - min(starts)) * 1000 if starts else 0.0
    return FlowBatch("concurrent", done, wall, chunks)


# -- background load ---------------------------------------------------------------------------------
@dataclass
class LoadResult:
    """What background load did.

    Attributes:
        sessions: Sessions that ran prompts.
        turns: Turns that completed (``end_turn``).
        failures: Turns or requests that failed, with the reason.
        frames: Frames the load's turns received.
        elapsed_ms: Start to stop.
    """

    sessions: int
    turns: int
    failures: list[str]
    frames: int
    elapsed_ms: float

    def line(self) -> str:
        """Figures for a test message."""
        return (
            f"background load: {self.turns} turns on {self.sessions} sessions, {self.frames} frames, "
            f"{len(self.failures)} failures in {self.elapsed_ms:.0f} ms"
        )


class BackgroundLoad:
    """Keep other sessions busy: each worker opens a session and prompts it in a loop until stopped.

    Args:
        client: Client of the daemon.
        sessions: Number of busy sessions (one thread each).
        text: Prompt text (a mock directive sets its size).
        max_turns: Bound on turns per worker.
        max_s: Bound on the load's life.
    """

    def __init__(self, client: DaemonClient, sessions: int, text: str, max_turns: int = 1000, max_s: float = 60.0):
        _check_count("sessions", sessions)
        self.client = client
        self.sessions = sessions
        self.text = text
        self.max_turns = max_turns
        self.max_s = max_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._turns = 0
        self._frames = 0
        self._failures: list[str] = []
        self._threads: list[threading.Thread] = []
        self._started = 0.0
        self.first_turn = threading.Event()

    def start(self) -> BackgroundLoad:
        """Start the workers; returns at once."""
        self._started = time.monotonic()
        for i in range(self.sessions):
            thread = threading.Thread(target=self._work, args=(i,), name=f"load-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def _work(self, i: int) -> None:
        deadline = self._started + self.max_s
        sid = None
        try:
            sid = self.client.create_session("thread").session_id
            for _ in range(self.max_turns):
                if self._stop.is_set() or time.monotonic() >= deadline:
                    break
                accepted = self.client.prompt(sid, self.text)
                turn = follow_turn(self.client, sid, accepted, timeout_s=max(1.0, deadline - time.monotonic()))
                with self._lock:
                    self._frames += turn.stream.received if turn.stream else 0
                    if turn.outcome == "completed" and turn.stop_reason == "end_turn":
                        self._turns += 1
                        self.first_turn.set()
                    else:
                        self._failures.append(f"worker {i}: turn {turn.summary()}")
        except Exception as exc:
            with self._lock:
                self._failures.append(f"worker {i}: {type(exc).__name__}: {exc}")
        finally:
            if sid is not None:
                try:
                    self.client.close_session(sid, expected=None)
                except Exception as exc:
                    with self._lock:
                        self._failures.append(f"worker {i}: close failed: {exc}")

    def request_stop(self) -> None:
        """Ask the workers to stop after their current turn (does not wait)."""
        self._stop.set()

    def failures_so_far(self) -> list[str]:
        """Failures recorded until now."""
        with self._lock:
            return list(self._failures)

    @property
    def turns(self) -> int:
        """Turns completed so far."""
        with self._lock:
            return self._turns

    def stop(self, timeout_s: float = 30.0) -> LoadResult:
        """Stop the workers (each finishes its current turn) and return what they did."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = sum(t.is_alive() for t in self._threads)
        elapsed = (time.monotonic() - self._started) * 1000
        with self._lock:
            failures = list(self._failures)
            if alive:
                failures.append(f"{alive} workers still running after {timeout_s:g} s")
            return LoadResult(self.sessions, self._turns, failures, self._frames, elapsed)


# -- the daemon's log ---------------------------------------------------------------------------------
_FIELD = re.compile(r"(\w+)=(\S+)")
EVICTION_MESSAGE = "SSE client evicted"


@dataclass(frozen=True)
class EvictionLogRecord:
    """One ``SSE client evicted`` line of the daemon's log.

    Attributes:
        session_id: ``sessionId`` field.
        stream_id: ``streamId`` field (the subscriber's ``X-Qwen-SSE-Stream-Id``).
        reason: ``queue_overflow``, ``queue_bytes_overflow`` or ``writer_idle_timeout``.
        dropped_after: ``droppedAfter``: the last event id queued for the subscriber.
        queue_size: ``queueSize`` when evicted.
        max_queued: ``maxQueued`` of the subscriber.
        queued_bytes: ``queuedBytes`` when evicted.
        timestamp: The line's ISO timestamp.
        line: The whole line.
        detected_at: Monotonic time (s) the harness found the line (0 when parsed offline).
    """

    session_id: str | None
    stream_id: str | None
    reason: str | None
    dropped_after: int | None
    queue_size: int | None
    max_queued: int | None
    queued_bytes: int | None
    timestamp: str | None
    line: str
    detected_at: float = 0.0


def log_fields(line: str) -> dict[str, str]:
    """``key=value`` fields of a daemon log line."""
    return dict(_FIELD.findall(line))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def find_evictions(
    lines: Iterable[str], session_id: str | None = None, stream_id: str | None = None
) -> list[EvictionLogRecord]:
    """Eviction records in daemon log lines, optionally only those of one session and/or subscriber stream."""
    found = []
    for line in lines:
        if EVICTION_MESSAGE not in line:
            continue
        f = log_fields(line)
        if session_id is not None and f.get("sessionId") != session_id:
            continue
        if stream_id is not None and f.get("streamId") != stream_id:
            continue
        found.append(
            EvictionLogRecord(
                session_id=f.get("sessionId"),
                stream_id=f.get("streamId"),
                reason=f.get("reason"),
                dropped_after=_int(f.get("droppedAfter")),
                queue_size=_int(f.get("queueSize")),
                max_queued=_int(f.get("maxQueued")),
                queued_bytes=_int(f.get("queuedBytes")),
                timestamp=line.split(" ", 1)[0] if line[:1].isdigit() else None,
                line=line,
            )
        )
    return found


def wait_for_eviction(
    read_lines: Callable[[], list[str]],
    session_id: str | None = None,
    stream_id: str | None = None,
    timeout_s: float = 10.0,
    poll_s: float = 0.02,
) -> EvictionLogRecord | None:
    """Poll the daemon's log until it records an eviction (of this session/stream); ``None`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = find_evictions(read_lines(), session_id, stream_id)
        if found:
            return dataclasses.replace(found[0], detected_at=time.monotonic())
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)
