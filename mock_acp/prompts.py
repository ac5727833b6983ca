"""One running ``session/prompt`` as a record another thread can stop. Stdlib only."""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_acp.permissions import Waiter


class Stopped(Exception):
    """The prompt ends early: a cancel, a close, or a permission answered ``cancelled``."""


class Prompt:
    """One running `session/prompt`, stoppable from another thread.

    Attributes:
        msg_id: The JSON-RPC id of the prompt request.
        session_id: The ACP session the prompt belongs to.
        honours_cancel: Whether a stop is answered with stopReason "cancelled" (False only for the
            hang-ignore-cancel mode, whose prompt is never answered).
        stop: Set by a cancel (cancellable prompts only) or by the session's close (all prompts).
        waiters: The permission requests the prompt waits on (empty when it waits on none).
        updates: The newest session updates of the prompt (for the session's history, up to a cap).
        sent: Counts of what the prompt sent, by kind.
    """

    def __init__(self, msg_id: Any, session_id: str, honours_cancel: bool, keep_updates: int) -> None:
        """Create the prompt record."""
        self.msg_id = msg_id
        self.session_id = session_id
        self.honours_cancel = honours_cancel
        self.stop = threading.Event()
        self.waiters: list[Waiter] = []
        self.updates: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep_updates)
        self.sent: collections.Counter[str] = collections.Counter()
        self.started = time.monotonic()

    def halt(self) -> None:
        """Stop the prompt and wake it if it waits for a permission answer."""
        self.stop.set()
        for waiter in self.waiters:
            waiter.answered.set()

    def pause(self, delay_ms: int) -> None:
        """Sleep `delay_ms`; raise `Stopped` if the prompt is (or gets) stopped."""
        if self.stop.wait(delay_ms / 1000) if delay_ms > 0 else self.stop.is_set():
            raise Stopped

    def keep(self, update: dict[str, Any]) -> None:
        """Remember a sent update for the session's history (the newest ones, up to the cap)."""
        self.updates.append(update)
