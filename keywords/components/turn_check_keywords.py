"""Keywords that check how a prompt turn ended: completed with its chunks, ended this way, ended in a window.

They read :class:`~keywords.traffic.turns.TurnResult` objects that the session keywords return
(`Wait For Turn End`, `Prompt And Wait`); how a turn is classified lives in the model (:mod:`keywords.traffic.turns`).
"""

from __future__ import annotations

from typing import Literal

from robotlibcore import keyword

from keywords.checks import number
from keywords.components.component import Component
from keywords.traffic.turns import OUTCOMES, TurnResult

Outcome = Literal[OUTCOMES]
StopReason = Literal["end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled"]


class TurnCheckKeywords(Component):
    """Check how prompt turns ended."""

    @keyword(tags=("prompt", "assertion"))
    def turn_should_complete(
        self, turn: TurnResult, *, stop_reason: StopReason = "end_turn", chunks: int | None = None
    ) -> None:
        """Fail unless the turn ended with ``turn_complete`` and this stop reason (and chunk count).

        The daemon echoes the user prompt as one extra ``session_update``, so N chunks give N+1 updates.

        Args:
            turn: The turn (`Wait For Turn End`, `Prompt And Wait`).
            stop_reason: The ``stopReason`` of ``turn_complete``.
            chunks: The agent chunks the turn must have had; not checked when empty.

        Example:
            | Turn Should Complete | ${turn} | chunks=3 |
            | Turn Should Complete | ${turn} | stop_reason=cancelled |
        """
        if turn.outcome != "completed" or turn.stop_reason != stop_reason:
            raise AssertionError(
                f"Turn {turn.prompt_id} should complete with {stop_reason}, but ended {turn.summary()}."
            )
        if chunks is not None:
            if turn.chunks != chunks:
                raise AssertionError(f"Turn {turn.prompt_id} should have {chunks} agent chunks, but had {turn.chunks}.")
            if turn.session_updates != chunks + 1:
                raise AssertionError(
                    f"Turn {turn.prompt_id} had {turn.session_updates} session_update events, "
                    f"expected {chunks + 1} (the prompt echo plus {chunks} chunks)."
                )

    @keyword(tags=("prompt", "assertion"))
    def turn_should_end_with(self, turn: TurnResult, outcome: Outcome, code: str | None = None) -> None:
        """Fail unless the turn ended this way (error, session_died, session_closed...) with this code.

        Args:
            turn: The turn (`Wait For Turn End`, `Prompt And Wait`).
            outcome: Expected ``outcome`` of the turn.
            code: Expected ``error_code`` (e.g. ``prompt_deadline_exceeded``); not checked when empty.

        Example:
            | Turn Should End With | ${turn} | error | prompt_deadline_exceeded |
            | Turn Should End With | ${turn} | session_died |
        """
        if turn.outcome != outcome:
            raise AssertionError(f"Turn {turn.prompt_id} should end {outcome}, but ended {turn.summary()}.")
        if code is not None and turn.error_code != code:
            raise AssertionError(f"Turn {turn.prompt_id} ended with code {turn.error_code!r}, expected {code!r}.")

    @keyword(tags=("prompt", "assertion"))
    def turn_should_end_after(self, turn: TurnResult, after_ms: float, *, within_ms: float) -> None:
        """Fail unless the turn ended no earlier than ``after_ms`` after its POST and at most ``within_ms`` later.

        For a turn a timer ends, such as the daemon's ``--prompt-deadline-ms``: it must not end before the
        timer, and not much after it.

        Args:
            turn: The turn (`Wait For Turn End`, `Prompt And Wait`).
            after_ms: The earliest end allowed, ms after the prompt's POST (the timer).
            within_ms: How much later than ``after_ms`` the end may come, ms (the slack).

        Example:
            | Start Daemon With Mock Agent | prompt_deadline_ms=1000 |
            | ${sid}= | Open Session |
            | ${turn}= | Prompt And Wait | ${sid} | hang | mode=hang |
            | Turn Should End After | ${turn} | 1000 | within_ms=2000 |
        """
        after_ms = number("after_ms", after_ms, unit="ms")
        within_ms = number("within_ms", within_ms, unit="ms")
        if turn.turn_ms is None:
            raise AssertionError(
                f"Turn {turn.prompt_id} should have ended {after_ms:g} to {after_ms + within_ms:g} ms after its "
                f"POST, but it did not end at all ({turn.summary()})."
            )
        if not after_ms <= turn.turn_ms <= after_ms + within_ms:
            when = "before" if turn.turn_ms < after_ms else "after"
            raise AssertionError(
                f"Turn {turn.prompt_id} should have ended {after_ms:g} to {after_ms + within_ms:g} ms after its "
                f"POST, but it ended at {turn.turn_ms:.1f} ms, {when} that window ({turn.summary()})."
            )
