"""B8: the model provider fails while a turn runs; the turn must end and the session and daemon stay usable.

For each fault the fake provider is switched to it, one prompt is sent and followed to its end (the one
prompt timer's :func:`keywords.measure.prompt_timer.send_prompt`), the provider is switched back to healthy,
the same session gets one more prompt, and ``/health`` is read. Nothing is raised for what the daemon does:
every outcome is recorded, and :meth:`ProviderFaultRun.problems` says what broke the rule.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from keywords.checks import choice, seconds
from keywords.errors import HarnessConfigError
from keywords.measure.bench_common import Target
from keywords.measure.prompt_timer import COMPLETED, MAX_TIMEOUT_S, TimedPrompt, send_prompt
from keywords.reporting.figures import field_figures

FAULTS = ("http500", "http429", "stall")
FAULT_OUTCOME = "error"
"""How a faulty turn must end: ``turn_error`` (the child's own error or the daemon's deadline)."""


class FaultyProvider(Protocol):
    """What the run needs of the fake provider: switching its fault and counting its requests."""

    def configure(self, **changes: Any) -> Any:
        """Change behaviour fields (``fault=``)."""
        ...

    @property
    def request_count(self) -> int:
        """Chat-completion requests received so far."""
        ...


def _outcome(prompt: TimedPrompt) -> str:
    """The turn's raw outcome (``completed``, ``error``, ``timeout``...) or ``exception: <text>``."""
    return prompt.turn.outcome if prompt.turn is not None else prompt.outcome


@dataclass
class FaultOutcome:
    """One fault: how the faulty turn ended, and whether the session and daemon stayed usable.

    Attributes:
        fault: ``http500``, ``http429`` or ``stall``.
        outcome: The faulty turn's outcome (``error`` for ``turn_error``; ``completed``, ``timeout``...).
        code: Its error code (``prompt_deadline_exceeded``, ``-32603``...), ``None`` without one.
        turn_ms: POST to the turn's end frame (ms), ``None`` when it did not end.
        provider_requests: Chat-completion requests the provider got during the faulty turn (the child's retries).
        next_outcome: Outcome of the prompt sent after the provider was healthy again.
        healthy_after: ``GET /health`` answered ``ok`` after that prompt.
    """

    fault: str
    outcome: str
    code: str | None
    turn_ms: float | None
    provider_requests: int
    next_outcome: str
    healthy_after: bool

    def figures(self) -> dict[str, Any]:
        """``outcome``, ``code``, ``turnMs``, ``providerRequests``, ``next`` and ``healthyAfter``."""
        return {
            **field_figures(self, "outcome", "code", "provider_requests", "healthy_after"),
            "turnMs": None if self.turn_ms is None else round(self.turn_ms),
            "next": self.next_outcome,
        }

    def line(self) -> str:
        """``http500: error prompt_deadline_exceeded in 8.1 s after 3 request(s), next completed``."""
        took = "did not end" if self.turn_ms is None else f"in {self.turn_ms / 1000:.1f} s"
        health = "" if self.healthy_after else ", daemon NOT healthy"
        return (
            f"{self.fault}: {self.outcome} {self.code} {took} after {self.provider_requests} request(s), "
            f"next {self.next_outcome}{health}"
        )

    def problems(self) -> list[str]:
        """What broke the rule: the faulty turn did not end in ``turn_error``, the next prompt did not complete,
        or the daemon was not healthy afterwards."""
        found = []
        if self.outcome != FAULT_OUTCOME:
            found.append(f"the {self.fault} turn ended {self.outcome}, expected turn_error")
        if self.next_outcome != COMPLETED:
            found.append(f"the prompt after the {self.fault} turn did not complete: {self.next_outcome}")
        if not self.healthy_after:
            found.append(f"the daemon did not answer /health with ok after the {self.fault} turn")
        return found


@dataclass
class ProviderFaultRun:
    """Every fault of one run, in order (B8).

    Attributes:
        faults: One :class:`FaultOutcome` per fault.
    """

    faults: list[FaultOutcome] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """``faults``: per fault name its figures (see :meth:`FaultOutcome.figures`)."""
        return {"faults": {f.fault: f.figures() for f in self.faults}}

    def line(self) -> str:
        """The faults' lines joined with `` · ``."""
        return " · ".join(f.line() for f in self.faults) or "no fault run"

    def problems(self) -> list[str]:
        """Every fault's problems, in order."""
        return [p for f in self.faults for p in f.problems()]


def check_faults(faults: Iterable[Any]) -> list[str]:
    """The fault names, checked (at least one; each ``http500``, ``http429`` or ``stall``)."""
    names = [choice("fault", f, FAULTS) for f in faults]
    if not names:
        raise HarnessConfigError(f"Give at least one provider fault to run: {', '.join(FAULTS)}.")
    return names


def _healthy(target: Target) -> bool:
    with contextlib.suppress(Exception):
        return target().client.health().body.get("status") == "ok"
    return False


def run_provider_faults(
    target: Target,
    provider: FaultyProvider,
    session_id: str,
    faults: Iterable[Any] = FAULTS,
    *,
    timeout: timedelta | float = 30.0,
) -> ProviderFaultRun:
    """Run each fault in turn on one session: faulty prompt, provider healthy again, next prompt, ``/health``.

    The provider is healthy again (``fault=none``) when this returns, whatever happened.

    Raises:
        HarnessConfigError: a bad fault name or timeout (before anything is sent).
    """
    names = check_faults(faults)
    timeout_s = seconds("timeout", timeout, high=MAX_TIMEOUT_S)
    run = ProviderFaultRun()
    client = target().client
    for fault in names:
        provider.configure(fault=fault)
        try:
            before = provider.request_count
            turn = send_prompt(client, session_id, f"fault {fault}", timeout_s)
            requests = provider.request_count - before
        finally:
            provider.configure(fault="none")
        after = send_prompt(client, session_id, f"after {fault}", timeout_s)
        run.faults.append(
            FaultOutcome(
                fault=fault,
                outcome=_outcome(turn),
                code=turn.turn.error_code if turn.turn is not None else None,
                turn_ms=turn.turn.turn_ms if turn.turn is not None else None,
                provider_requests=requests,
                next_outcome=_outcome(after),
                healthy_after=_healthy(target),
            )
        )
    return run
