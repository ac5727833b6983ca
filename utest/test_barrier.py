"""The one start barrier (keywords.traffic.barrier): together, in order, failures kept, a broken barrier raised."""

from __future__ import annotations

import threading
import time

import pytest

from keywords.traffic import barrier


def test_items_start_together_and_results_keep_their_order():
    starts: list[float] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            starts.append(time.monotonic())
        return i * i

    assert barrier.run_together(20, work, what="sessions") == [i * i for i in range(20)]
    assert max(starts) - min(starts) < 0.5


def test_an_exception_of_one_item_is_returned_in_its_place():
    def work(i: int) -> int:
        if i == 2:
            raise RuntimeError("item two failed")
        return i

    results = barrier.run_together(4, work)
    assert results[:2] == [0, 1] and results[3] == 3
    assert isinstance(results[2], RuntimeError) and "item two failed" in str(results[2])


def test_a_broken_barrier_is_an_error_that_says_how_many_arrived(monkeypatch):
    real = threading.Barrier

    class Stingy(real):
        """A barrier for one more party than there are threads: it can only break."""

        def __init__(self, parties, timeout=None):
            super().__init__(parties + 1, timeout=timeout)

    monkeypatch.setattr(barrier.threading, "Barrier", Stingy)
    with pytest.raises(barrier.BarrierBrokenError, match=r"The 3 flows could not start together: 3 of 3 threads"):
        barrier.run_together(3, lambda i: i, timeout_s=0.2, what="flows")
