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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from keywords import checks
from keywords.errors import DaemonHttpError
from keywords.measure import metrics
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.turns import HAPPENED, follow_turn, what_happened

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
        number: The prompt's number in its session, from 1 (0: not known).
        error_code: ``code`` of ``turn_error``, if any.
        error_message: ``message`` of ``turn_error`` or the reason of ``session_died``/``session_closed``.
        stream_status: HTTP status the turn's event stream was answered with (0: no answer).
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
    number: int = 0
    error_code: str | None = None
    error_message: str | None = None
    stream_status: int | None = None

    @property
    def happened(self) -> str:
        """How the turn ended in plain terms: a key of :data:`keywords.traffic.turns.HAPPENED`."""
        return what_happened(self.outcome, self.stop_reason, self.error_message, self.stream_status)

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
        refused_step: The request the daemon refused (``create``, ``prompt``, ``close`` or ``status``), if any.
        refused_status: Its HTTP status (``503``).
        refused_code: The ``code`` of its error body (``session_limit_exceeded``), if any.
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
    refused_step: str | None = None
    refused_status: int | None = None
    refused_code: str | None = None

    @property
    def refusal(self) -> str | None:
        """The refusal as ``<status> <code>`` (``503 session_limit_exceeded``), ``None`` when nothing was refused."""
        if self.refused_status is None:
            return None
        return f"{self.refused_status} {self.refused_code or ''}".strip()

    def prompt_outcomes(self) -> list[str]:
        """What happened to each prompt the flow was to send, in order: keys of ``HAPPENED``.

        A prompt the daemon refused is ``refused`` (``sessionGone`` when it answered 404: the session was gone);
        prompts after the last one sent are ``notSent``.
        """
        out = [t.happened for t in self.turns]
        if self.refused_step == "prompt" and len(out) < self.prompts:
            out.append("sessionGone" if self.refused_status == 404 else "refused")
        return out + ["notSent"] * (self.prompts - len(out))

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
        prompt_latency: Percentiles of the turn times of every correct turn, in any flow (a flow that broke
            the contract later still counts its good turns).
    """

    mode: str
    records: list[FlowRecord]
    wall_ms: float
    chunks: int
    latency: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))
    turn_latency: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))
    create_latency: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))
    prompt_latency: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))

    def __post_init__(self) -> None:
        """Compute the latency summaries from the correct flows."""
        good = [r for r in self.records if not r.problems(self.chunks)]
        self.latency = metrics.summarize(self.latencies_ms(), "flow")
        self.turn_latency = metrics.summarize([ms for r in good for ms in r.turn_times()], "turn")
        self.create_latency = metrics.summarize([r.create_ms for r in self.records if r.create_ms is not None])
        self.prompt_latency = metrics.summarize(self.good_turn_times(), "prompt")

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

    def good_turn_times(self) -> list[float]:
        """Turn times (ms) of every correct turn, in flow order: the values behind ``prompt_latency``."""
        return [t.turn_ms for t in self.good_turns() if t.turn_ms is not None]

    @property
    def failed_prompt_count(self) -> int:
        """Prompts that did not complete correctly (a broken turn, or never sent after one)."""
        return self.prompt_count - len(self.good_turns())

    def prompt_outcomes(self) -> dict[str, int]:
        """How many prompts of all flows ended each way (keys of ``HAPPENED``, in its order; zeros left out)."""
        counts = Counter(kind for r in self.records for kind in r.prompt_outcomes())
        return {kind: counts[kind] for kind in HAPPENED if counts[kind]}

    def refusals(self) -> dict[str, int]:
        """Requests the daemon refused, by ``<status> <code>`` (``{"503 session_limit_exceeded": 2}``)."""
        return dict(Counter(r.refusal for r in self.records if r.refusal))

    def update_times(self) -> list[float]:
        """Receipt times (s, sorted) of every prompt's ``session_update`` frames, from the moment the flows
        were released (the earliest flow start); empty when no flow started."""
        starts = [r.started_at for r in self.records if r.started_at]
        if not starts:
            return []
        origin = min(starts)
        return sorted(at - origin for r in self.records for t in r.turns for at in t.update_times)

    @property
    def updates_per_s(self) -> float | None:
        """``session_update`` frames per second of all flows together, first to last receipt (``None`` for
        fewer than two frames)."""
        times = self.update_times()
        if len(times) < 2:
            return None
        return round((len(times) - 1) / max(times[-1] - times[0], 0.001), 1)

    def failure_report(self, limit: int = 10) -> str:
        """One line per failing flow (at most ``limit``)."""
        lines = [f"flow {r.index} ({r.session_id}): {'; '.join(r.problems(self.chunks))}" for r in self.failures]
        more = len(lines) - limit
        return "\n".join(lines[:limit] + ([f"... and {more} more"] if more > 0 else []))

    def figures(self) -> dict[str, Any]:
        """``flows``, ``successCount``, ``failureCount``, ``promptCount``, ``failedPromptCount``, ``wallMs``,
        ``updatesPerSec`` (``None`` under two frames), ``promptOutcomes`` (``HAPPENED`` key -> prompts),
        ``refusals`` (``{status, code, count}`` rows) and the percentile dicts ``flowLatencyMs``, ``turnLatencyMs``,
        ``createLatencyMs``, ``promptLatencyMs``."""
        refused = Counter((r.refused_status, r.refused_code) for r in self.records if r.refused_status is not None)
        return {
            "flows": self.count,
            "successCount": self.success_count,
            "failureCount": self.failure_count,
            "promptCount": self.prompt_count,
            "failedPromptCount": self.failed_prompt_count,
            "wallMs": round(self.wall_ms, 1),
            "updatesPerSec": self.updates_per_s,
            "promptOutcomes": self.prompt_outcomes(),
            "refusals": [{"status": s, "code": c, "count": n} for (s, c), n in sorted(refused.items(), key=str)],
            "flowLatencyMs": self.latency.to_dict(),
            "turnLatencyMs": self.turn_latency.to_dict(),
            "createLatencyMs": self.create_latency.to_dict(),
            "promptLatencyMs": self.prompt_latency.to_dict(),
        }

    def prompt_line(self) -> str:
        """The prompts' figures in plain words: how they ended, their p50/p99, the update rate, the wall time."""
        ended = ", ".join(f"{n} {HAPPENED[k]}" for k, n in self.prompt_outcomes().items())
        lat = self.prompt_latency
        pcts = f"p50 {lat.p50:.0f} ms · p99 {lat.p99:.0f} ms" if lat.count else "no prompt answered in full"
        rate = "no updates" if self.updates_per_s is None else f"{self.updates_per_s:g} updates/s (all sessions)"
        refused = ", ".join(f"{n}x {k}" for k, n in self.refusals().items())
        refused = f" · refused {refused}" if refused else ""
        return f"{self.prompt_count} prompts: {ended}{refused} · {pcts} · {rate} · wall {self.wall_ms:.0f} ms"

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
    past_errors: bool = False,
) -> FlowRecord:
    """Create a thread session, prompt it, follow the turn to its end, close it, check it is gone.

    With ``prompts`` > 1 the session gets that many prompts one after another (each sent when the previous
    turn ended), each timed from its own POST to its own end frame; a turn that breaks the contract ends the
    prompting (the session is still closed), and so does the end of ``bound_s``. With ``past_errors`` a turn
    that ended with ``turn_error`` while its session lives on (``happened`` ``error``) does not end it.

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
        past_errors: Go on prompting after a turn that ended with an error the session survived.
    """
    rec = FlowRecord(index, prompts=prompts)
    rec.started_at = time.monotonic()
    deadline = rec.started_at + bound_s if bound_s is not None else None
    step = "create"
    try:
        info = client.create_session("thread")
        rec.session_id, rec.create_ms = info.session_id, info.elapsed_ms
        step = "prompt"
        for k in range(prompts):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                rec.error = _bound_ran_out(bound_s, k, prompts)
                break
            turn_timeout = timeout_s if left is None else min(timeout_s, left)
            turn = _run_turn(client, rec.session_id, text if prompts == 1 else f"{text} #{k}", turn_timeout)
            turn.number = k + 1
            rec.turns.append(turn)
            if turn.problems(chunks) and not (past_errors and turn.happened == "error"):
                if deadline is not None and time.monotonic() >= deadline:  # the bound cut this turn short
                    rec.error = _bound_ran_out(bound_s, k, prompts)
                break
        step = "close"
        closed = client.close_session(rec.session_id, expected=None)
        rec.close_status, rec.close_ms = closed.status, closed.elapsed_ms
        if check_gone:
            step = "status"
            rec.after_close_status = client.session_status(rec.session_id, expected=None).status
    except DaemonHttpError as exc:
        rec.error = str(exc)
        rec.refused_step, rec.refused_status, rec.refused_code = step, exc.status, exc.code
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
        error_code=turn.error_code,
        error_message=turn.error_message,
        stream_status=turn.stream.status if turn.stream else None,
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
    past_errors: bool = False,
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
        past_errors: A flow goes on prompting after a turn that ended with an error its session survived
            (:func:`run_flow`).

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
        return run_flow(
            client,
            i,
            text=text,
            timeout_s=timeout_s,
            prompts=prompts,
            chunks=chunks,
            bound_s=bound,
            past_errors=past_errors,
        )

    results = run_together(flows, work, what="flows")
    done = [
        r if isinstance(r, FlowRecord) else FlowRecord(i, error=f"{type(r).__name__}: {r}", prompts=prompts)
        for i, r in enumerate(results)
    ]
    starts = [r.started_at for r in done if r.started_at]
    ends = [r.started_at + (r.total_ms or 0) / 1000 for r in done if r.started_at]
    wall = (max(ends) - min(starts)) * 1000 if starts else 0.0
    return FlowBatch("concurrent", done, wall, chunks)
