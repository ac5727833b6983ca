"""One session's long-lived SSE reader for a prompt load: frames matched to prompts by ``promptId``.

A prompt costs one POST, never a stream of its own: one subscription per session reads every frame and hands
it to a :class:`SessionTracker`, which matches it to its prompt by the envelope's ``promptId``. Per prompt it
records the time to the first ``agent_message_chunk``, the gaps between the prompt's frames, the delivery
delay (the daemon's ``_meta.serverTimestamp`` to receipt, wall clock) and the turn's end. The reader thread
never logs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from keywords.measure.metrics import LatencyRecorder
from keywords.traffic.client import DaemonClient
from keywords.traffic.open_model.engine import TICK_S
from keywords.traffic.sse import TERMINAL_TYPES, TURN_END_TYPES, StreamOptions, Subscription


@dataclass
class _Trace:
    """What is known of one prompt so far: its times (monotonic s), frames and how its turn ended."""

    intended: float | None = None
    sent: float | None = None
    events: int = 0
    first_chunk: float | None = None
    last_event: float | None = None
    outcome: str | None = None
    end: float | None = None


class SessionTracker:
    """One session's long-lived SSE reader: matches frames to prompts by ``promptId`` and records figures.

    The reader thread records gaps and delivery delays (only it writes those recorders); the per-prompt
    figures are recorded under a lock by whichever side, worker (202 received) or reader (turn ended),
    completes the pair.
    """

    def __init__(self, client: DaemonClient, session_id: str, timeout_s: float) -> None:
        self.session_id = session_id
        self.lock = threading.Lock()
        self.traces: dict[str, _Trace] = {}
        self.response = LatencyRecorder("response", keep_values=False)
        self.service = LatencyRecorder("service", keep_values=False)
        self.first_chunk = LatencyRecorder("first chunk", keep_values=False)
        self.gaps = LatencyRecorder("inter-event gap", keep_values=False)
        self.delivery = LatencyRecorder("delivery", keep_values=False)
        self.completed = 0
        self.errors: Counter = Counter()
        self.events = 0
        self.event_ticks: Counter = Counter()
        self.turn_ticks: Counter = Counter()
        self.first_event_at: float | None = None
        self.last_event_at: float | None = None
        self.session_end: str | None = None
        options = StreamOptions(timeout_s=timeout_s, keep_events=False)
        self.subscription = _DispatchingSubscription(client.base_url, session_id, options, client.token, self)

    def start(self, connect_timeout_s: float = 10.0) -> None:
        """Open the stream in a background thread and wait for its headers."""
        self.subscription.start()
        if not self.subscription.wait_connected(connect_timeout_s) or self.subscription.result.status != 200:
            self.subscription.stop()
            res = self.subscription.result
            raise ConnectionError(f"SSE subscribe of session {self.session_id} failed: {res.error or res.status}")

    def stop(self) -> None:
        """Close the stream and wait for the reader (bounded)."""
        self.subscription.stop()
        self.subscription.join(5.0)

    # called by workers
    def accepted(self, prompt_id: str, intended: float, sent: float) -> None:
        """A prompt's 202 arrived."""
        with self.lock:
            trace = self.traces.setdefault(prompt_id, _Trace())
            trace.intended, trace.sent = intended, sent
            if trace.end is not None:
                self._finish(prompt_id, trace)

    @property
    def outstanding(self) -> int:
        """Accepted prompts whose turn has not ended yet."""
        with self.lock:
            return sum(1 for t in self.traces.values() if t.sent is not None and t.end is None)

    # called by the reader thread
    def frame(self, env: dict, now: float) -> None:
        """One frame of the session's stream."""
        self.events += 1
        self.event_ticks[int(now / TICK_S)] += 1
        if self.first_event_at is None:
            self.first_event_at = now
        self.last_event_at = now
        stamp = (env.get("_meta") or {}).get("serverTimestamp")
        if isinstance(stamp, (int, float)):
            self.delivery.record_ms(max(0.0, time.time() * 1000 - stamp))
        etype = env.get("type")
        data = env.get("data") if isinstance(env.get("data"), dict) else {}
        prompt_id = env.get("promptId") or data.get("promptId")
        if etype in TERMINAL_TYPES:
            self._session_ended(etype, now)
            return
        if not prompt_id:
            return
        with self.lock:
            trace = self.traces.setdefault(prompt_id, _Trace())
            if trace.end is not None:
                return
            trace.events += 1
            if trace.last_event is not None:
                self.gaps.record_ms((now - trace.last_event) * 1000)
            trace.last_event = now
            update = data.get("update") if isinstance(data.get("update"), dict) else {}
            if etype == "session_update" and update.get("sessionUpdate") == "agent_message_chunk":
                if trace.first_chunk is None:
                    trace.first_chunk = now
            elif etype in TURN_END_TYPES:
                trace.end = now
                if etype == "turn_complete":
                    trace.outcome = "completed"
                else:
                    trace.outcome = f"turn_error:{data.get('code') or 'none'}"
                if trace.sent is not None:
                    self._finish(prompt_id, trace)

    def _session_ended(self, etype: str, now: float) -> None:
        with self.lock:
            self.session_end = etype
            for prompt_id, trace in list(self.traces.items()):
                if trace.end is None:
                    trace.end, trace.outcome = now, etype
                    if trace.sent is not None:
                        self._finish(prompt_id, trace)

    def _finish(self, prompt_id: str, trace: _Trace) -> None:
        # under self.lock
        if trace.outcome == "completed":
            self.completed += 1
            self.turn_ticks[int(trace.end / TICK_S)] += 1
            self.response.record_ms((trace.end - trace.intended) * 1000)
            self.service.record_ms((trace.end - trace.sent) * 1000)
            if trace.first_chunk is not None:
                self.first_chunk.record_ms((trace.first_chunk - trace.sent) * 1000)
        else:
            self.errors[trace.outcome or "unknown"] += 1
        del self.traces[prompt_id]


class _DispatchingSubscription(Subscription):
    """A background :class:`Subscription` that hands every frame to its :class:`SessionTracker`."""

    def __init__(self, base_url, session_id, options, token, tracker: SessionTracker) -> None:
        super().__init__(base_url, session_id, options, token)
        self._tracker = tracker

    def _take(self, data: str, recv_ms: float, counts: Counter) -> None:
        before = self._last
        super()._take(data, recv_ms, counts)
        # Keep the base result bounded on long runs: the tracker keeps the figures.
        if len(self.result.delivery_ms) > 1000:
            self.result.delivery_ms.clear()
        if len(self.result.ids) > 10_000:
            del self.result.ids[:-1]
        if self._last is not before and self._last is not None:
            self._tracker.frame(self._last, time.monotonic())
