"""A background answerer: allow (or reject) every permission request of a session as soon as it is read, so
other scenarios can run turns that ask permissions. Its thread never logs."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keywords.checks import choice, seconds
from keywords.measure.metrics import LatencySummary, summarize
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.answering import answer
from keywords.traffic.permissions.request_watch import PermissionWatch, end_watch, open_watch


@dataclass
class AutoAnswerResult:
    """What a background answerer did.

    Attributes:
        session_id: The session it answered.
        decision: What it answered (``select`` or ``reject``).
        answered: Answers the daemon accepted (200).
        refused: Answers the daemon refused (any other status), by status.
        latency: The request read to the accepted answer's reply (harness monotonic clock, ms).
    """

    session_id: str
    decision: str
    answered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    latency: LatencySummary | None = None

    def figures(self) -> dict[str, Any]:
        """``answered``, ``refused`` (status -> count) and ``answerLatency`` (percentiles, ms)."""
        return {
            "answered": self.answered,
            "refused": dict(self.refused),
            "answerLatency": self.latency.to_dict() if self.latency else None,
        }

    def line(self) -> str:
        """``auto-answer: 40 answered, 0 refused, p50 3.1 ms``."""
        p50 = "n/a" if self.latency is None or self.latency.p50 is None else f"{self.latency.p50:.1f} ms"
        return f"auto-answer: {self.answered} answered, {sum(self.refused.values())} refused, p50 {p50}"


class AutoAnswer:
    """Answer every permission request of a session as soon as it is read, in a background thread.

    Args:
        client: Client of the daemon.
        session_id: The session to answer.
        decision: ``select`` (allow) or ``reject``.
        client_id: ``X-Qwen-Client-Id`` to answer as (``None``: no header).
        timeout_s: Bound on the whole run (the subscription's timeout).
    """

    def __init__(
        self,
        client: DaemonClient,
        session_id: str,
        *,
        decision: str = "select",
        client_id: str | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self.decision = choice("decision", decision, ("select", "reject"))
        self.client = client
        self.session_id = session_id
        self.client_id = client_id
        self.timeout_s = seconds("timeout", timeout_s, high=3600)
        self.watch: PermissionWatch | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latency_ms: list[float] = []
        self._statuses: Counter[int] = Counter()

    def start(self) -> AutoAnswer:
        """Subscribe (waiting for the daemon's answer) and start answering."""
        self.watch = open_watch(self.client, self.session_id, timeout_s=self.timeout_s)
        self._thread = threading.Thread(target=self._run, name=f"auto-answer-{self.session_id[:8]}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        watch = self.watch
        while watch is not None and not self._stop.is_set() and not watch.done:
            request = watch.next_request(0.25)
            if request is None:
                continue
            reply = answer(self.client, request, self.decision, client_id=self.client_id)
            self._statuses[reply.status] += 1
            if reply.accepted:
                self._latency_ms.append((reply.sent_mono + reply.elapsed_ms / 1000 - request.seen_mono) * 1000)

    def stop(self) -> AutoAnswerResult:
        """Stop answering and subscribing; return what was done."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self.watch is not None:
            end_watch(self.watch)
        refused = {str(status): n for status, n in sorted(self._statuses.items()) if status != 200}
        return AutoAnswerResult(
            self.session_id,
            self.decision,
            answered=self._statuses.get(200, 0),
            refused=refused,
            latency=summarize(self._latency_ms, "answer") if self._latency_ms else None,
        )
