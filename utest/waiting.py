"""A bounded wait for the unit tests: poll a condition until it holds or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], bool], timeout_s: float = 5.0, poll_s: float = 0.01) -> bool:
    """Poll ``condition`` every ``poll_s`` until it is true or ``timeout_s`` has passed.

    Returns:
        Whether the condition held; the caller asserts what it needs, so a failure names the real state.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True
