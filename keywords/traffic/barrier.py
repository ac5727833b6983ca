"""Starting N things at the same instant: the one barrier of the harness.

:func:`run_together` runs ``fn(0) .. fn(n-1)`` in ``n`` threads that wait at one barrier and are released
together. A barrier that breaks (a thread did not arrive within the timeout) is an error everywhere: it is
raised as :class:`BarrierBrokenError`, never swallowed, because "at once" would then not be true. Any other
exception of ``fn`` is returned in that item's place, so one failed item does not hide the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from keywords.checks import seconds, whole_number
from keywords.errors import HarnessError

T = TypeVar("T")
MAX_PARTIES = 1000


class BarrierBrokenError(HarnessError):
    """Not every thread reached the start barrier in time, so the items did not start together."""


def run_together(
    count: int, fn: Callable[[int], T], *, timeout_s: float = 30.0, what: str = "items"
) -> list[T | Exception]:
    """Run ``fn(i)`` for ``i`` in ``0..count-1``, all released by one barrier; results in index order.

    Args:
        count: Number of items (1..1000); each gets its own thread.
        fn: The work of one item; an exception it raises is returned in its place.
        timeout_s: How long the barrier waits for every thread to arrive.
        what: What the items are, for the error message (``sessions``, ``flows``...).

    Returns:
        ``fn``'s result, or the exception it raised, per index.

    Raises:
        BarrierBrokenError: a thread did not reach the barrier within ``timeout_s`` (with how many did).
    """
    count = whole_number("count", count, low=1, high=MAX_PARTIES)
    timeout_s = seconds("timeout", timeout_s, high=600)
    barrier = threading.Barrier(count, timeout=timeout_s)
    arrived = [0]
    lock = threading.Lock()
    broken: list[bool] = [False]

    def one(i: int) -> T | Exception:
        with lock:
            arrived[0] += 1
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            broken[0] = True
            return BarrierBrokenError(f"item {i + 1} was not released")
        try:
            return fn(i)
        except Exception as exc:  # one failed item must not hide the others
            return exc

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix=f"together-{what}") as pool:
        results = list(pool.map(one, range(count)))
    if broken[0]:
        raise BarrierBrokenError(
            f"The {count} {what} could not start together: {arrived[0]} of {count} threads reached the start "
            f"barrier within {timeout_s:g} s (waited {time.monotonic() - started:.1f} s). The machine may be "
            "overloaded; use fewer at once."
        )
    return results


def results_or_raise(results: list[T | Exception]) -> list[T]:
    """The results of :func:`run_together` when no item failed; the first item's exception otherwise."""
    for item in results:
        if isinstance(item, Exception):
            raise item
    return list(results)  # type: ignore[arg-type]
