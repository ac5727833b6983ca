"""The one prompt timer: prompts one after another (C5, the baseline's B7) or all at once (C6), timed from the POST.

Every prompt is POSTed and its turn followed without a race (:func:`keywords.traffic.turns.follow_turn`, the
stream opened at the 202's ``lastEventId``). All times count from the POST on the harness's monotonic clock:
to the first ``agent_message_chunk``, to the turn's end frame and, with the fake provider given, to the
provider's receipt of the turn's chat-completion request.

The rule for a prompt that fails (its turn ends in ``turn_error``, the session dies, the stream is cut, the
wait times out, or the POST itself is refused): it is counted as a failure with its outcome text, and none of
its times enters any latency figure. A latency figure holds completed turns only.

Prompts sent all at once are released together by :func:`keywords.traffic.barrier.run_together`; a broken
barrier is an error. Each then carries its number in its text (``say ok (3)``), so the provider's requests
can be told apart; the provider's log also shows how many model calls were open at once.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from keywords.checks import seconds, whole_number
from keywords.errors import HarnessConfigError
from keywords.measure import metrics
from keywords.measure.bench_common import (
    FailureText,
    Target,
    error_text,
    failure_figures,
    failure_line,
    tally_failures,
)
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.turns import TurnResult, follow_turn

MAX_PROMPTS = 10000
MAX_WARMUP = 10
MAX_AT_ONCE = 200
MAX_TIMEOUT_S = 1800.0
COMPLETED = "completed"


class RequestLog(Protocol):
    """What the timer reads of the fake provider: its requests so far, in arrival order."""

    def requests(self) -> list[Any]:
        """Requests with ``at_monotonic``, ``done_monotonic`` and ``last_user_text``."""
        ...


@dataclass
class TimedPrompt:
    """One prompt of a batch: its text, when it was posted, and how its turn went (or what went wrong).

    Attributes:
        text: The text sent.
        posted_at: Monotonic time of the POST (``None`` when the POST raised before it was sent).
        turn: How the turn ended (``None`` when the POST or the stream raised).
        error: The exception's text when one was raised, else ``None``.
    """

    text: str
    posted_at: float | None
    turn: TurnResult | None
    error: str | None = None

    @property
    def outcome(self) -> str:
        """``completed``, or the failure's text (``error -32603``, ``timeout``, ``exception: <text>``)."""
        if self.turn is None:
            return f"exception: {self.error}"[:200]
        if self.turn.outcome == COMPLETED:
            return COMPLETED
        detail = self.turn.error_code or self.turn.error_message or self.turn.stop_reason or ""
        return f"{self.turn.outcome} {detail}".strip()[:200]

    @property
    def completed(self) -> bool:
        """The turn ended with ``turn_complete`` and has its end time."""
        return self.turn is not None and self.turn.outcome == COMPLETED and self.turn.turn_ms is not None

    def summary(self) -> str:
        """The turn's one-line summary (outcome, reason, chunks, time), or the exception's text."""
        return self.turn.summary() if self.turn is not None else self.outcome


@dataclass
class PromptSeries:
    """Timed prompts on the daemon: the result of the one prompt timer.

    Attributes:
        prompts: Prompts measured (warm-up prompts excluded).
        concurrency: 1 for prompts one after another, N for N prompts sent at once.
        latency: POST to the turn's end frame, per completed turn (ms).
        first_chunk: POST to the first ``agent_message_chunk``, per completed turn (ms).
        provider_arrival: POST to the provider's receipt of the turn's chat-completion request, per completed
            turn whose request was found (ms; ``None`` without a provider).
        latency_ms: The raw values of ``latency``, in prompt order.
        first_chunk_ms: The raw values of ``first_chunk``.
        provider_arrival_ms: The raw values of ``provider_arrival``.
        outcomes: Per measured prompt: ``completed`` or its failure text.
        failed: Per failed prompt: ``#<n>: <turn summary>`` (outcome, reason, chunks, time).
        wall_ms: Wall time of the measured prompts.
        provider_requests: Chat-completion requests the provider received during the batch (``None``
            without a provider).
        provider_max_in_flight: Most provider requests open at once (1 = the model calls were serialised;
            ``None`` without a provider).
    """

    prompts: int
    concurrency: int
    latency: metrics.LatencySummary
    first_chunk: metrics.LatencySummary
    provider_arrival: metrics.LatencySummary | None
    latency_ms: list[float] = field(default_factory=list)
    first_chunk_ms: list[float] = field(default_factory=list)
    provider_arrival_ms: list[float] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    wall_ms: float = 0.0
    provider_requests: int | None = None
    provider_max_in_flight: int | None = None

    @property
    def completed(self) -> int:
        """Prompts whose turn completed."""
        return sum(o == COMPLETED for o in self.outcomes)

    @property
    def failures(self) -> int:
        """Prompts that did not complete."""
        return len(self.failed)

    def failure_texts(self) -> list[FailureText]:
        """The first distinct failure outcomes (``error -32603``, ``timeout``...) with their counts."""
        return tally_failures(o for o in self.outcomes if o != COMPLETED)

    @property
    def prompts_per_sec(self) -> float | None:
        """Measured prompts per second of wall time (2 decimals; ``None`` without wall time)."""
        return round(self.prompts / (self.wall_ms / 1000), 2) if self.wall_ms > 0 else None

    @property
    def wall_ms_per_prompt(self) -> float | None:
        """Wall time divided by the prompts measured (ms; ``None`` without a prompt)."""
        return round(self.wall_ms / self.prompts, 1) if self.prompts else None

    @property
    def queueing(self) -> str | None:
        """For prompts sent at once with the provider's log: whether their model calls ran one at a time
        (``serialised``) or overlapped; ``None`` otherwise."""
        if self.concurrency <= 1 or self.provider_max_in_flight is None:
            return None
        if self.provider_max_in_flight <= 1:
            return "serialised: the model calls ran one at a time"
        return f"overlapped: up to {self.provider_max_in_flight} model calls at once"

    def figures(self) -> dict[str, Any]:
        """Latencies of completed turns (percentiles, ms), counts, failure texts, wall time and rate, the
        provider's view (requests, most at once, how the calls queued)."""
        return {
            "prompts": self.prompts,
            "latencyMs": self.latency.to_dict(),
            "firstChunkMs": self.first_chunk.to_dict(),
            "providerArrivalMs": self.provider_arrival.to_dict() if self.provider_arrival else None,
            "completed": self.completed,
            **failure_figures(self.failures, self.failure_texts()),
            "wallMs": self.wall_ms,
            "promptsPerSec": self.prompts_per_sec,
            "providerRequests": self.provider_requests,
            "providerMaxInFlight": self.provider_max_in_flight,
            "queueing": self.queueing,
        }

    def line(self) -> str:
        """``5/5 completed · turn p50 … · first chunk p50 … · provider arrival p50 … · 0 failed``."""
        arrival = f" · provider arrival {self.provider_arrival.line()}" if self.provider_arrival else ""
        at_once = f" · {self.queueing}" if self.queueing else ""
        if self.concurrency > 1:
            at_once = f" · {self.concurrency} at once, wall {self.wall_ms} ms{at_once}"
        return (
            f"{self.completed}/{self.prompts} completed · turn {self.latency.line()} · first chunk "
            f"{self.first_chunk.line()}{arrival}{at_once} · "
            f"{failure_line(self.failures, self.failure_texts())}"
        )


# -- sending ----------------------------------------------------------------------------------------------


def send_prompt(client: DaemonClient, session_id: str, text: str, timeout_s: float) -> TimedPrompt:
    """POST one prompt and follow its turn to the end; whatever goes wrong is kept, never raised."""
    try:
        accepted = client.prompt(session_id, text)
    except Exception as exc:  # a refused POST is a failed prompt
        return TimedPrompt(text, None, None, error_text(exc))
    try:
        turn = follow_turn(client, session_id, accepted, timeout_s=timeout_s)
    except Exception as exc:  # so is a stream that could not be read
        return TimedPrompt(text, accepted.posted_at, None, error_text(exc))
    return TimedPrompt(text, accepted.posted_at, turn)


def _checked_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise HarnessConfigError(f"The prompt text must not be empty, got {text!r}.")
    return text


def time_prompts(
    target: Target,
    session_id: str,
    text: str = "say ok",
    *,
    iterations: int = 5,
    warmup: int = 1,
    timeout: timedelta | float = 120.0,
    provider: RequestLog | None = None,
    numbered: bool = False,
) -> PromptSeries:
    """Send ``warmup + iterations`` prompts one after another on one session; time each from its POST.

    Args:
        target: The daemon.
        session_id: The session to prompt.
        text: The prompt text.
        iterations: Measured prompts (1..10000).
        warmup: Prompts sent first and left out of every figure (0..10).
        timeout: Seconds to wait for each turn's end (a number or ``timedelta``, at most 1800).
        provider: The fake provider the agent uses (``requests()``), to time the arrival of each turn's
            chat-completion request; optional.
        numbered: Append each prompt's number to its text (``say ok (3)``; warm-ups ``(warm-up 1)``), so the
            provider's requests are matched to prompts by text as well as by time.

    Raises:
        HarnessConfigError: a bad count, timeout or text (before the daemon is reached).
    """
    iterations = whole_number("iterations", iterations, low=1, high=MAX_PROMPTS)
    warmup = whole_number("warmup", warmup, low=0, high=MAX_WARMUP)
    timeout_s = seconds("timeout", timeout, high=MAX_TIMEOUT_S)
    text = _checked_text(text)
    client = target().client
    for i in range(warmup):
        send_prompt(client, session_id, f"{text} (warm-up {i + 1})" if numbered else text, timeout_s)
    mark = len(provider.requests()) if provider is not None else 0
    started = time.monotonic()
    sent = [
        send_prompt(client, session_id, f"{text} ({i + 1})" if numbered else text, timeout_s) for i in range(iterations)
    ]
    wall_ms = (time.monotonic() - started) * 1000
    requests = provider.requests()[mark:] if provider is not None else None
    return prompt_series(sent, wall_ms, concurrency=1, requests=requests)


def time_concurrent_prompts(
    target: Target,
    session_ids: Sequence[str],
    *,
    text: str = "say ok",
    timeout: timedelta | float = 300.0,
    provider: RequestLog | None = None,
) -> PromptSeries:
    """Send one prompt on every session (1..200) at the same moment; time each from its POST.

    Each prompt's text carries its number (``say ok (3)``). With the fake provider given, its request log of
    the batch tells how the model calls were queued (``provider_max_in_flight``) and when each prompt's call
    arrived (``provider_arrival``).

    Raises:
        HarnessConfigError: no or too many sessions, a bad timeout or text (before the daemon is reached).
        BarrierBrokenError: the prompts could not be started together.
    """
    count = whole_number("the number of session ids", len(session_ids), low=1, high=MAX_AT_ONCE)
    timeout_s = seconds("timeout", timeout, high=MAX_TIMEOUT_S)
    text = _checked_text(text)
    client = target().client
    texts = [f"{text} ({i + 1})" for i in range(count)]
    mark = len(provider.requests()) if provider is not None else 0
    started = time.monotonic()
    results = run_together(
        count, lambda i: send_prompt(client, session_ids[i], texts[i], timeout_s), what="prompts", timeout_s=30.0
    )
    wall_ms = (time.monotonic() - started) * 1000
    sent = [
        r if isinstance(r, TimedPrompt) else TimedPrompt(texts[i], None, None, error_text(r))
        for i, r in enumerate(results)
    ]
    requests = provider.requests()[mark:] if provider is not None else None
    return prompt_series(sent, wall_ms, concurrency=count, requests=requests)


# -- figures ----------------------------------------------------------------------------------------------


def prompt_series(
    sent: Sequence[TimedPrompt], wall_ms: float, *, concurrency: int = 1, requests: Sequence[Any] | None = None
) -> PromptSeries:
    """Figures of measured prompts: latencies of the completed turns only, every outcome, failures, wall time.

    Args:
        sent: The measured prompts in order.
        wall_ms: Wall time of the batch.
        concurrency: 1, or how many were sent at once.
        requests: The provider's requests of the batch (``at_monotonic``, ``done_monotonic``,
            ``last_user_text``), or ``None`` without a provider.
    """
    series = PromptSeries(
        prompts=len(sent),
        concurrency=concurrency,
        latency=metrics.summarize([]),
        first_chunk=metrics.summarize([]),
        provider_arrival=None,
        wall_ms=round(wall_ms, 1),
    )
    for n, p in enumerate(sent, start=1):
        series.outcomes.append(p.outcome)
        if not p.completed:
            series.failed.append(f"#{n}: {p.summary()}")
            continue
        series.latency_ms.append(p.turn.turn_ms)
        if p.turn.first_chunk_ms is not None:
            series.first_chunk_ms.append(p.turn.first_chunk_ms)
        if requests is not None and p.posted_at is not None:
            arrival = arrival_ms(requests, p.text, p.posted_at)
            if arrival is not None:
                series.provider_arrival_ms.append(arrival)
    series.latency = metrics.summarize(series.latency_ms, "prompt turn")
    series.first_chunk = metrics.summarize(series.first_chunk_ms, "first chunk")
    if requests is not None:
        series.provider_arrival = metrics.summarize(series.provider_arrival_ms, "provider arrival")
        series.provider_requests = len(requests)
        series.provider_max_in_flight = max_in_flight(
            [(r.at_monotonic, r.done_monotonic or r.at_monotonic) for r in requests]
        )
    return series


def arrival_ms(requests: Iterable[Any], text: str, posted_at: float) -> float | None:
    """Time from ``posted_at`` to the first request at or after it whose last user text contains ``text`` (ms)."""
    for req in requests:
        if req.at_monotonic >= posted_at and text in req.last_user_text:
            return (req.at_monotonic - posted_at) * 1000
    return None


def max_in_flight(spans: Iterable[tuple[float, float]]) -> int:
    """Most ``(start, end)`` intervals open at the same time.

    An interval ending exactly when another starts does not overlap it; a zero-length interval is never open.
    """
    spans = list(spans)
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda p: (p[0], p[1]))
    best = cur = 0
    for _, step in points:
        cur += step
        best = max(best, cur)
    return best
