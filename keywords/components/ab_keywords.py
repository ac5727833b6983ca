"""Keywords of the A/B comparison of two daemon builds, interleaved A B B A.

Thin wrapper: the keyword checks its arguments, then runs :func:`keywords.measure.ab.daemon_builds.compare_builds`,
which fills a :class:`keywords.measure.ab.abba.BuildComparison` (the A/B engine).
"""

from __future__ import annotations

import functools
from datetime import timedelta

from robotlibcore import keyword

from keywords.checks import number, seconds
from keywords.components.daemon_component import DaemonComponent
from keywords.daemon import provision
from keywords.errors import HarnessConfigError
from keywords.measure.ab import daemon_builds
from keywords.measure.ab.abba import BuildComparison

__all__ = ["BuildComparison", "BuildComparisonKeywords"]


class BuildComparisonKeywords(DaemonComponent):
    """Compare two daemon builds run interleaved A B B A (ratios B/A with their spread)."""

    @keyword(tags=("benchmark", "compare"))
    def compare_daemon_builds(
        self,
        provider_url: str,
        *,
        a_entry: str = "",
        b_entry: str = "",
        rounds: int = 1,
        creates: int = 5,
        prompts: int = 3,
        boot_timeout: timedelta | float = 60.0,
        warmup: int = 1,
    ) -> BuildComparison:
        """Run the same measurements against two daemon builds, interleaved A B B A, and compare them.

        Each run starts the build (real agent, fake provider, not preheated) and measures
        ``bootToFirstSessionMs`` (spawn to the first session), ``warmCreateP50Ms`` (median of ``creates``
        warm ``thread`` creations), ``promptP50Ms`` (median of ``prompts`` prompt latencies after one warm-up
        prompt) and ``treeRssMB`` (tree RSS with those sessions open), then stops it. A figure a run could not
        measure (every creation or prompt failed) is recorded as not measured, never as a number: that
        metric then rests on fewer adjacent pairs, and its line says so.

        Args:
            provider_url: The fake provider's base URL.
            a_entry: Build A's entry script (empty: the library's build, normally the pinned release).
            b_entry: Build B's entry script (empty: the library's build).
            rounds: A B B A blocks (1..50).
            creates: Warm creations per run (1..500).
            prompts: Prompts per run, after one warm-up prompt (1..200).
            boot_timeout: How long each start may take to print its listening line (``1 min`` or seconds).
            warmup: Runs of build A before the order starts, not recorded (0..10; first-run disk and cache
                effects).

        Returns:
            ``BuildComparison``: ``a_label`` and ``b_label`` (str), ``order`` (list of ``A``/``B``), ``runs``
            (list of ``BuildRun``: ``position``, ``build``, ``values``, ``missing``); ``compare(name)`` and
            ``results()`` give a ``MetricComparison`` per metric (``name``, ``a_values``, ``b_values``,
            ``a_median``, ``b_median``, ``ratio``, ``ratio_min``, ``ratio_max``, ``spread_pct``, ``pairs``,
            ``possible_pairs``, ``pair_ratios``, ``missing_runs``, ``verdict``, ``line()``); ``same_build``
            (bool: both entries are one file), ``full_pairs`` (int), ``short_of_pairs()``; ``figures()``,
            ``line()``, ``to_dict()`` and ``markdown()``.

        Example:
            | ${cmp}= | Compare Daemon Builds | ${provider.base_url} | b_entry=${LOCAL_BUILD} |
            | Log | ${cmp.markdown()} |
        """
        start = self.real_agent_starter(provider_url, seconds("boot_timeout", boot_timeout, high=600))
        a_src, b_src = self.ctx.source(a_entry or None), self.ctx.source(b_entry or None)
        cmp = BuildComparison(a_src.label, b_src.label, rounds)  # the counts are checked before any daemon starts
        cmp = daemon_builds.compare_builds(
            cmp,
            start,
            self._daemons.stop_daemon,
            functools.partial(self.ctx.get, None),
            a_entry=a_entry or None,
            b_entry=b_entry or None,
            creates=creates,
            prompts=prompts,
            warmup=warmup,
            log=self.info,
        )
        cmp.same_build = daemon_builds.same_entry(a_src.entry, b_src.entry)
        return cmp

    @keyword(tags=("benchmark", "compare"))
    def pinned_release_entry(self) -> str:
        """The pinned release's cached entry script (``cli-entry.js``), e.g. to run it as build B.

        Returns:
            The absolute path of the entry script (installed into the cache first when needed).

        Example:
            | ${entry}= | Pinned Release Entry |
            | ${cmp}= | Compare Daemon Builds | ${provider.base_url} | b_entry=${entry} |
        """
        return provision.release_source().entry

    @keyword(tags=("benchmark", "compare", "assertion"))
    def every_build_metric_should_rest_on_every_pair(self, comparison: BuildComparison) -> None:
        """Fail when a metric of the comparison rests on fewer adjacent pairs than the order has (a run missed it).

        Args:
            comparison: From `Compare Daemon Builds`.

        Example:
            | Every Build Metric Should Rest On Every Pair | ${cmp} |
        """
        short = _comparison(comparison).short_of_pairs()
        if short:
            detail = "; ".join(f"{m.name}: {m.pairs_text()}" for m in short)
            raise AssertionError(f"Expected every metric on all {comparison.full_pairs} adjacent pairs, but {detail}.")

    @keyword(tags=("benchmark", "compare", "assertion"))
    def build_ratio_should_be_near_one(
        self, comparison: BuildComparison, metric: str = "treeRssMB", *, bound: float = 3.0
    ) -> None:
        """Fail unless the metric's ratio B/A lies within ``1/bound .. bound`` (for the same build on both sides).

        With one build on both sides a ratio far from 1 means the comparison's mechanism is broken, not the
        build.

        Args:
            comparison: From `Compare Daemon Builds`.
            metric: The metric's name, e.g. ``treeRssMB`` or ``bootToFirstSessionMs``.
            bound: The largest factor allowed either way (above 1).

        Example:
            | IF | ${cmp.same_build} | Build Ratio Should Be Near One | ${cmp} | treeRssMB | bound=3 |
        """
        bound = number("bound", bound, low=1.0, low_open=True)
        cmp = _comparison(comparison)
        if metric not in cmp.metric_names():
            raise HarnessConfigError(f"metric must be one of {', '.join(cmp.metric_names())}; got {metric!r}.")
        m = cmp.compare(metric)
        if m.ratio is None or not 1 / bound <= m.ratio <= bound:
            ratio = "not measured" if m.ratio is None else f"{m.ratio:.3f}"
            raise AssertionError(
                f"Expected {metric} B/A within 1/{bound:g} .. {bound:g} for the same build on both sides, "
                f"but it is {ratio} ({m.pairs_text()})."
            )


def _comparison(value) -> BuildComparison:
    if not isinstance(value, BuildComparison):
        raise HarnessConfigError(f"Expected the result of Compare Daemon Builds, got {value!r:.80}.")
    return value
