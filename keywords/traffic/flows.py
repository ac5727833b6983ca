"""Session flows for load scenarios: create → prompt → turn end (repeated) → close, run one by one or all at once.

A flow never raises; it returns a :class:`FlowRecord` saying what happened at each step, so one failing flow
does not hide the others. Concurrent flows are released together by the one start barrier
(:func:`keywords.traffic.barrier.run_together`; a broken barrier is an error), and every flow is bounded by
the batch's time bound. Other sessions kept busy meanwhile are :mod:`keywords.traffic.background_load`; the
daemon's log lines are :mod:`keywords.daemon.daemon_log`.

Nothing here logs or touches Robot Framework; times are monotonic milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from keywords import checks
from keywords.errors import DaemonHttpError
from keywords.measure import metrics
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.turns import follow_turn

MAX_FLOWS = 1000
MAX_PROMPTS = 1000
MAX_CHUNKS = 100_000
MIN_BATCH_S = 60.0


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


NOT_RUN = FlowTurn("", "not_run", None, None, 0, 0, None, None)


@dataclass
class FlowRecord:
    """One create → prompt → turn end → close flow; with ``prompts`` > 1, prompt → turn end is repeated.

    The flow stops prompting after a turn that broke the contract, so its last turn (``last_turn``) is the one
    that shows what went wrong.

    Attributes:
        index: Flow number (0-based).
        prompts: Prompts the flow was to send, one after another, each after the previous turn ended.
        session_id: The session created (``None`` if creation failed).
        started_at: Monotonic start time (s), to place flows on a common time line.
        create_ms: ``POST /session`` time.
        turns: Every turn the flow ran, in order (each a ``FlowTurn``: ``prompt_id``, ``outcome``,
            ``stop_reason``, ``end_prompt_id``, ``chunks``, ``session_updates``, ``prompt_ms``, ``turn_ms``,
            ``update_times``).
        close_status: Status of ``DELETE /session/:id`` (204 expected).
        close_ms: ``DELETE`` time.
        after_close_status: Status of ``GET /session/:id/status`` after the close (404 expected).
        total_ms: The whole flow.
        error: What went wrong (an HTTP refusal, an exception, the flow's bound), if anything.
    """

    index: int
    prompts: int = 1
    session_id: str | None = None
    started_at: float = 0.0
    create_ms: float | None = None
    turns: list[FlowTurn] = field(default_factory=list)
    close_status: int | None = None
    close_ms: float | None = None
    after_close_status: int | None = None
    total_ms: float | None = None
    error: str | None = None

    @property
    def last_turn(self) -> FlowTurn:
        """The last turn the flow ran (a ``not_run`` turn when it ran none)."""
        return self.turns[-1] if self.turns else NOT_RUN

    def turn_times(self) -> list[float]:
        """Prompt-to-turn-end times (ms) of every turn this flow ran."""
        return [t.turn_ms for t in self.turns if t.turn_ms is not None]

    def problems(self, chunks: int | None = None) -> list[str]:
        """What this flow got wrong against the per-flow contract (empty when correct).

        Args:
            chunks: Expected agent chunks (then ``chunks + 1`` session updates are expected).
        """
        out = [self.error] if self.error else []
        out += self.last_turn.problems(chunks)
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

    def figures(self) -> dict[str, Any]:
        """``flows``, ``successCount``, ``failureCount``, ``promptCount``, ``failedPromptCount``, ``wallMs`` and
        the percentile dicts ``flowLatencyMs``, ``turnLatencyMs``, ``createLatencyMs``."""
        return {
            "flows": self.count,
            "successCount": self.success_count,
            "failureCount": self.failure_count,
            "promptCount": self.prompt_count,
            "failedPromptCount": self.failed_prompt_count,
            "wallMs": round(self.wall_ms, 1),
            "flowLatencyMs": self.latency.to_dict(),
            "turnLatencyMs": self.turn_latency.to_dict(),
            "createLatencyMs": self.create_latency.to_dict(),
        }

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
    prompts: int = 1,
    chunks: int | None = None,
    bound_s: float | None = None,
) -> FlowRecord:
    """Create a thread session, prompt it, follow the turn to its end, close it, check it is gone.

    With ``prompts`` > 1 the session gets that many prompts one after another (each sent when the previous
    turn ended), each timed from its own POST to its own end frame; a turn that breaks the contract ends the
    prompting (the session is still closed), and so does the end of ``bound_s``.

    Args:
        client: Client of the daemon.
        index: Flow number (in the record).
        text: Prompt text (may carry a mock directive); with ``prompts`` > 1, `` #<k>`` is added.
        timeout_s: Bound on each turn.
        check_gone: Ask the session's status after the close (404 expected).
        prompts: Prompts to send, one after another.
        chunks: Expected agent chunks per turn (a turn with other counts ends the prompting).
        bound_s: Bound on the flow's prompting from its start (no new prompt after it; a turn waits at most
            until it); ``None``: only ``timeout_s`` per turn.
    """
    rec = FlowRecord(index, prompts=prompts)
    rec.started_at = time.monotonic()
    deadline = rec.started_at + bound_s if bound_s is not None else None
    try:
        info = client.create_session("thread")
        rec.session_id, rec.create_ms = info.session_id, info.elapsed_ms
        for k in range(prompts):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                rec.error = _bound_ran_out(bound_s, k, prompts)
                break
            turn_timeout = timeout_s if left is None else min(timeout_s, left)
            turn = _run_turn(client, rec.session_id, text if prompts == 1 else f"{text} #{k}", turn_timeout)
            rec.turns.append(turn)
            if turn.problems(chunks):
                if deadline is not None and time.monotonic() >= deadline:  # the bound cut this turn short
                    rec.error = _bound_ran_out(bound_s, k, prompts)
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


def _bound_ran_out(bound_s: float | None, done: int, prompts: int) -> str:
    return f"the flow's bound of {bound_s:g} s ran out after {done} of {prompts} prompts"


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


def batch_bound_s(prompts: int, timeout_s: float) -> float:
    """Default bound on a concurrent batch: ``prompts + 3`` turn timeouts, at least 60 s."""
    return max(MIN_BATCH_S, (prompts + 3) * timeout_s)


def run_sequential(
    client: DaemonClient, cycles: int, *, chunks: int, prefix: str = "", timeout_s: float = 30.0
) -> FlowBatch:
    """Run ``cycles`` flows one after another (upstream's rapid lifecycle).

    Args:
        client: Client of the daemon.
        cycles: Number of flows (1..1000).
        chunks: Agent chunks each prompt asks for (recorded; the prefix makes the mock send them).
        prefix: Text put before ``cycle-<i>`` (a mock directive).
        timeout_s: Bound on each turn.
    """
    cycles = checks.whole_number("cycles", cycles, low=1, high=MAX_FLOWS)
    chunks = checks.whole_number("chunks", chunks, low=0, high=MAX_CHUNKS)
    timeout_s = checks.seconds("turn timeout", timeout_s)
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
    prompts: int = 1,
    batch_timeout_s: float | None = None,
) -> FlowBatch:
    """Start ``flows`` flows at the same moment (released by one barrier) and wait for all of them.

    Args:
        client: Client of the daemon (its connection pool is shared by the threads).
        flows: Number of concurrent flows (1..1000).
        chunks: Agent chunks each prompt asks for.
        prefix: Text put before ``burst-<i>`` (a mock directive).
        timeout_s: Bound on each turn.
        prompts: Prompts per flow, one after another within the flow (the flows run side by side).
        batch_timeout_s: Bound on each flow's prompting (default :func:`batch_bound_s`); a flow that reaches
            it sends no more prompts, closes its session and records the bound as its error.

    Raises:
        BarrierBrokenError: the flows could not be released together.
    """
    flows = checks.whole_number("flows", flows, low=1, high=MAX_FLOWS)
    prompts = checks.whole_number("prompts", prompts, low=1, high=MAX_PROMPTS)
    chunks = checks.whole_number("chunks", chunks, low=0, high=MAX_CHUNKS)
    timeout_s = checks.seconds("turn timeout", timeout_s)
    bound = batch_bound_s(prompts, timeout_s) if batch_timeout_s is None else batch_timeout_s
    bound = checks.seconds("batch timeout", bound, high=24 * 3600)

    def work(i: int) -> FlowRecord:
        text = f"{prefix}burst-{i}"
        return run_flow(client, i, text=text, timeout_s=timeout_s, prompts=prompts, chunks=chunks, bound_s=bound)

    results = run_together(flows, work, what="flows")
    done = [
        r if isinstance(r, FlowRecord) else FlowRecord(i, error=f"{type(r).__name__}: {r}", prompts=prompts)
        for i, r in enumerate(results)
    ]
    starts = [r.started_at for r in done if r.started_at]
    ends = [r.started_at + (r.total_ms or 0) / 1000 for r in done if r.started_at]
    wall = (max(ends) - min(starts)) * 1000 if starts else 0.0
    return FlowBatch("concurrent", done, wall, chunks)
