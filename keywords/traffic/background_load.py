"""Background load: other sessions kept busy while a scenario runs.

Each worker opens a thread session and prompts it in a loop (each prompt after the previous turn ended) until
stopped, bounded in turns and in time. The workers are released together by the one start barrier
(:func:`keywords.traffic.barrier.run_together`), run from one background thread so that starting returns at
once. Nothing here logs or touches Robot Framework; times are monotonic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from keywords import checks
from keywords.traffic.barrier import BarrierBrokenError, run_together
from keywords.traffic.client import DaemonClient
from keywords.traffic.turns import follow_turn

MAX_SESSIONS = 1000


@dataclass
class BackgroundLoadResult:
    """What background load did.

    Attributes:
        sessions: Sessions that ran prompts (one worker each).
        turns: Turns that completed (``end_turn``).
        frames: Frames the load's turns received.
        elapsed_ms: Start to stop.
        failures: Turns or requests that failed, with the reason.
    """

    sessions: int
    turns: int
    frames: int
    elapsed_ms: float
    failures: list[str]

    def figures(self) -> dict[str, Any]:
        """``loadSessions``, ``loadTurns``, ``loadFailures`` (count), ``loadFrames``, ``loadElapsedMs``."""
        return {
            "loadSessions": self.sessions,
            "loadTurns": self.turns,
            "loadFailures": len(self.failures),
            "loadFrames": self.frames,
            "loadElapsedMs": round(self.elapsed_ms, 1),
        }

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
        sessions: Number of busy sessions (one thread each, 1..1000).
        text: Prompt text (a mock directive sets its size).
        max_turns: Bound on turns per worker.
        max_s: Bound on the load's life in seconds.
    """

    def __init__(
        self, client: DaemonClient, sessions: int, text: str, *, max_turns: int = 1000, max_s: float = 60.0
    ) -> None:
        self.sessions = checks.whole_number("sessions", sessions, low=1, high=MAX_SESSIONS)
        self.max_turns = checks.whole_number("max turns", max_turns, low=1, high=100_000)
        self.max_s = checks.seconds("max duration", max_s, high=3600)
        self.client = client
        self.text = text
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._turns = 0
        self._frames = 0
        self._active = 0
        self._failures: list[str] = []
        self._runner: threading.Thread | None = None
        self._broken: BarrierBrokenError | None = None
        self._started = 0.0
        self.first_turn = threading.Event()

    def start(self) -> BackgroundLoad:
        """Start the workers (released together) and return at once."""
        self._started = time.monotonic()
        self._runner = threading.Thread(target=self._run, name="background-load", daemon=True)
        self._runner.start()
        return self

    def _run(self) -> None:
        try:
            run_together(self.sessions, self._work, what="background sessions")
        except BarrierBrokenError as exc:
            self._broken = exc
            self._fail(str(exc))

    def _fail(self, text: str) -> None:
        with self._lock:
            self._failures.append(text)

    def _work(self, i: int) -> None:
        deadline = self._started + self.max_s
        sid = None
        with self._lock:
            self._active += 1
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
            self._fail(f"worker {i}: {type(exc).__name__}: {exc}")
        finally:
            if sid is not None:
                try:
                    self.client.close_session(sid, expected=None)
                except Exception as exc:
                    self._fail(f"worker {i}: close failed: {exc}")
            with self._lock:
                self._active -= 1

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

    def stop(self, timeout_s: float = 30.0) -> BackgroundLoadResult:
        """Stop the workers (each finishes its current turn) and return what they did.

        Raises:
            BarrierBrokenError: the workers could not start together.
        """
        timeout_s = checks.seconds("timeout", timeout_s, high=600)
        self._stop.set()
        if self._runner is not None:
            self._runner.join(timeout_s)
        if self._broken is not None:
            raise self._broken
        elapsed = (time.monotonic() - self._started) * 1000
        running = self._runner is not None and self._runner.is_alive()
        with self._lock:
            failures = list(self._failures)
            if running:
                failures.append(f"{self._active} of {self.sessions} workers still running after {timeout_s:g} s")
            return BackgroundLoadResult(self.sessions, self._turns, self._frames, elapsed, failures)
