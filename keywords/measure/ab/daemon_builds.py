"""Two daemon builds through the A/B engine: one run per position of the A B B A order, after warm-up runs.

Each run starts the build (not preheated) and measures, on the harness's monotonic clock:

* ``bootToFirstSessionMs``: spawn to the first ``thread`` session's answer;
* ``warmCreateP50Ms``: the median of ``creates`` warm ``thread`` creations (successful ones);
* ``promptP50Ms``: the median of ``prompts`` prompt latencies after one warm-up prompt (completed turns);
* ``treeRssMB``: the whole tree's RSS with those sessions open;

then stops it. A figure the run could not measure (every creation or prompt failed, the tree could not be
read) is recorded as not measured, never as a number. The ratios are computed by
:class:`keywords.measure.ab.abba.BuildComparison`.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from keywords.checks import whole_number
from keywords.measure.ab.abba import BuildComparison
from keywords.measure.bench_common import Log, Target, quiet
from keywords.measure.prompt_timer import time_prompts
from keywords.measure.session_timing import MAX_CREATIONS, time_session_creations
from keywords.measure.tree_rss import measure_tree_rss

METRICS = ("bootToFirstSessionMs", "warmCreateP50Ms", "promptP50Ms", "treeRssMB")
MAX_PROMPTS = 200
MAX_WARMUP = 10
PROMPT_TEXT = "say ok"
RSS_SETTLE_S = 0.5


def compare_builds(
    cmp: BuildComparison,
    start: Callable[[str | None, bool], Any],
    stop: Callable[[], Any],
    target: Target,
    *,
    a_entry: str | None = None,
    b_entry: str | None = None,
    creates: int = 5,
    prompts: int = 3,
    warmup: int = 1,
    log: Log = quiet,
) -> BuildComparison:
    """Fill ``cmp`` with one run per position of its A B B A order, after ``warmup`` unrecorded runs of A.

    Args:
        cmp: The comparison to fill (its order says which build runs next).
        start: ``start(entry, preheat)`` starts a daemon of that build (``None``: the default build).
        stop: Stops it.
        target: The daemon just started.
        a_entry: Build A's entry script (``None``: the default build).
        b_entry: Build B's entry script (``None``: the default build).
        creates: Warm creations per run (1..500).
        prompts: Prompts per run (1..200).
        warmup: Unrecorded runs of build A first (0..10; preheated, one session).
        log: Gets one line per recorded run.

    Raises:
        HarnessConfigError: a bad count (before any daemon starts).
    """
    creates = whole_number("creates", creates, low=1, high=MAX_CREATIONS)
    prompts = whole_number("prompts", prompts, low=1, high=MAX_PROMPTS)
    warmup = whole_number("warmup", warmup, low=0, high=MAX_WARMUP)
    for _ in range(warmup):
        start(a_entry or None, True)
        try:
            target().client.create_session("thread")
        finally:
            stop()
    while not cmp.complete:
        build = cmp.next_build
        entry = (a_entry if build == "A" else b_entry) or None
        started = time.monotonic()
        start(entry, False)
        try:
            sid = target().client.create_session("thread").session_id
            boot_ms = (time.monotonic() - started) * 1000
            warm = time_session_creations(target, creates)
            series = time_prompts(target, sid, PROMPT_TEXT, iterations=prompts, warmup=1)
            rss = measure_tree_rss(target, sessions=1 + warm.success_count, settle=RSS_SETTLE_S)
        finally:
            stop()
        run = cmp.add(
            build,
            bootToFirstSessionMs=boot_ms,
            warmCreateP50Ms=warm.latency.p50,
            promptP50Ms=series.latency.p50,
            treeRssMB=rss.total if rss.total > 0 else None,  # 0 MB: no process of the tree was read
        )
        problems = [f"{len(warm.failures)} creation(s) failed"] if warm.failures else []
        problems += [f"{series.failures} prompt(s) failed: {series.failed[0]}"] if series.failures else []
        missing = f"; not measured: {', '.join(run.missing)}" if run.missing else ""
        log(f"{run.label()}: {run.values}{missing}{'; ' + '; '.join(problems) if problems else ''}")
    return cmp


def same_entry(a_entry: str, b_entry: str) -> bool:
    """Whether two entry scripts are one file (paths compared after resolving links and ``..``)."""
    return os.path.realpath(a_entry) == os.path.realpath(b_entry)
