"""Keywords of upstream's first-output benchmark: control and candidate builds in AB/BA pairs, 14 stage timings."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from robotlibcore import keyword

from keywords.checks import seconds
from keywords.components.component import fail_with, html_table
from keywords.components.daemon_component import DaemonComponent
from keywords.errors import HarnessConfigError
from keywords.fakes.provider import FakeProvider
from keywords.measure.first_output_pairs import (
    FAMILY_CONFIDENCE,
    MATERIAL_MS,
    VERDICT_PAIRS,
    FirstOutputResult,
    run_benchmark,
)

HEADERS = (
    "stage",
    "control (median)",
    "candidate (median)",
    "candidate - control (interval)",
    "pairs beyond +/-10 ms (sign test p)",
    "AB / BA median difference",
    "verdict",
)


class FirstOutputKeywords(DaemonComponent):
    """Run upstream's first-output benchmark and judge it."""

    @keyword(tags=("benchmark", "first-output"))
    def run_first_output_benchmark(
        self,
        provider: FakeProvider,
        dwell: Literal[0, 100, 500],
        *,
        pairs: int = VERDICT_PAIRS,
        warmup: int = 1,
        control: str = "",
        candidate: str = "",
        timeout: timedelta | float = 60.0,
        boot_timeout: timedelta | float = 60.0,
    ) -> FirstOutputResult:
        """Measure a fresh daemon process from spawn to its first model output, control against candidate build.

        Each run is one fresh daemon (`Start Daemon With Real Agent` against ``provider``, not preheated): spawn, the
        listening line, ``POST /session``, the event stream, ``dwell`` ms of quiet, the prompt, its 202, the
        user echo on the stream, the provider's request and answer, the first model output, the first answer
        text and ``turn_complete``, all on the harness's monotonic clock, plus the daemon's own queue wait of the
        prompt. Those give upstream's 14 stage timings per run. After ``warmup`` unrecorded pairs, ``pairs``
        pairs follow, each one run of each build one after the other, control first (AB) and candidate first
        (BA) alternately. Per stage the difference candidate - control is estimated from the pairs with its
        Student-t interval and judged against upstream's material threshold of 10 ms (the intervals of the 14
        stages hold together with 95 % confidence); a stage is ``regressed`` (or ``improved``) only when the exact
        sign test agrees: more pairs beyond the threshold than chance allows at the same confidence, which takes at
        least 10 pairs. With fewer pairs every stage is measured and shown with its interval, and its verdict is
        ``too few pairs``. Upstream's order check says whether AB and BA pairs disagree. The table goes to the
        log; `First Output Benchmark Should Pass` judges the result.

        Args:
            provider: The fake provider from `Start Fake Provider` (its ``first_token_ms`` is the fixed delay
                before the first token, its ``reply`` the expected answer).
            dwell: Milliseconds between the open event stream and the prompt: 0, 100 or 500.
            pairs: Recorded pairs (2..50; upstream uses 30 for 0 and 100 ms, 10 for 500 ms); fewer than 10 give
                no verdict.
            warmup: Unrecorded pairs first (0..5).
            control: Entry script of the control build; empty: the pinned release.
            candidate: Entry script of the candidate build; empty: the library's build (``DAEMON_ENTRY``, else
                the pinned release: then the run is a control-vs-control check of the benchmark itself).
            timeout: Bound on each wait of a run (the event stream's answer, the prompt's end), e.g. ``60 s``.
            boot_timeout: Bound on each daemon's wait for its listening line.

        Returns:
            ``FirstOutputResult``: ``dwell_ms`` (int), ``control`` and ``candidate`` (str labels),
            ``same_build`` (bool), ``pairs`` (list of ``FirstOutputPair``: ``pair`` int, ``order`` ``AB`` or
            ``BA``, ``control`` and ``candidate`` runs), ``warmup_pairs`` (list of ``FirstOutputPair``), ``stages``
            (list of ``StageComparison``: ``stage`` with ``name``/``what``/``signed``/``required``,
            ``control_median_ms`` and ``candidate_median_ms`` (float or None), ``difference`` (``PairedEstimate``:
            ``estimate``, ``low``, ``high``, ``confidence``, ``tolerance``, ``verdict``, ``smallest_detectable``),
            ``order`` (``OrderSensitivity``: ``ab_pairs``, ``ba_pairs``, ``ab_median_delta_ms``,
            ``ba_median_delta_ms``, ``threshold_ms``, ``sensitive``), ``slower`` and ``faster`` (``SignTest``:
            ``pairs``, ``beyond``, ``threshold``, ``side``, ``p_value``, ``alpha``, ``fewest_pairs``) and
            ``decision`` (str)), ``wall_s`` (float),
            ``method`` (str); properties ``runs`` (list of ``FirstOutputRun``: ``build``, ``pair``, ``order``,
            ``warmup``, ``stages`` dict of ms or None, ``missing`` dict of reasons, ``problems`` list,
            ``first_output_kind``, ``answer_text``, ``provider_requests``, ``ignored_events``, ``pid``,
            ``wall_s``), ``order`` (str), ``regressed``, ``improved`` and ``order_sensitive`` (lists of
            ``StageComparison``), ``missing`` and ``problems`` (lists of str); ``stage(name)``, ``decided(decision)``
            (the stages with that decision), ``line()``, ``figures()``.

        Example:
            | ${provider}= | Start Fake Provider | reply=benchmark response complete | first_token_ms=50 |
            | ${result}= | Run First Output Benchmark | ${provider} | 0 | pairs=30 |
            | First Output Benchmark Should Pass | ${result} |
        """
        if not isinstance(provider, FakeProvider) or not provider.running:
            raise HarnessConfigError(
                f"provider must be a running fake provider from Start Fake Provider, got {provider!r:.80}."
            )
        if provider.behaviour.fault != "none":
            raise HarnessConfigError(
                f"The fake provider answers with fault={provider.behaviour.fault!r}; the first-output benchmark "
                "needs fault=none (Set Provider Behaviour    ${provider}    fault=none)."
            )
        timeout_s = seconds("timeout", timeout, high=600)
        boot_s = seconds("boot_timeout", boot_timeout, high=600)
        builds = self.paired_builds(
            control,
            candidate,
            roles=("control", "candidate"),
            start_daemon=lambda entry: self._daemons.start_daemon_with_real_agent(
                provider.base_url, preheat=False, daemon_entry=entry, max_sessions=0, boot_timeout=boot_s
            ),
        )
        what = f"First-output benchmark, dwell {dwell} ms"
        self.info(builds.describe(what, "the same build: control-vs-control check"))
        result = run_benchmark(
            builds.start,
            self.stop_started,
            provider,
            dwell_ms=dwell,
            pairs=pairs,
            warmup=warmup,
            timeout_s=timeout_s,
            control=builds.label("control"),
            candidate=builds.label("candidate"),
            same_build=builds.same,
            log=self.info,
        )
        self.info(_table(result), html=True)
        return result

    @keyword(tags=("benchmark", "first-output", "assertion"))
    def first_output_benchmark_should_pass(self, result: FirstOutputResult) -> None:
        """Fail when a stage is called regressed, or a recorded run did not measure a stage it must measure.

        With the same build on both sides a regressed stage is a false alarm of the benchmark; with two builds it
        is the candidate being slower than the control by more than 10 ms with confidence. The message names
        each stage with its difference and interval, each missing stage with its run and reason, and the runs'
        problems. Order-sensitive stages are named in the result, not failed (upstream gives them no verdict), and so
        are stages with too few pairs for a verdict or whose interval the sign test does not confirm.

        Args:
            result: From `Run First Output Benchmark`.

        Example:
            | ${result}= | Run First Output Benchmark | ${provider} | 100 | pairs=10 |
            | First Output Benchmark Should Pass | ${result} |
        """
        if not isinstance(result, FirstOutputResult):
            raise HarnessConfigError(
                f"First Output Benchmark Should Pass needs the result of Run First Output Benchmark, "
                f"got {result!r:.80}."
            )
        parts = []
        if result.regressed:
            lines = "; ".join(s.difference.line() for s in result.regressed)
            if result.same_build:
                parts.append(
                    f"The control build compared with itself must show no regressed stage, but "
                    f"{len(result.regressed)} stage(s) were called regressed (a false alarm of the benchmark): "
                    f"{lines}."
                )
            else:
                parts.append(
                    f"The candidate build must not be slower than the control by more than {MATERIAL_MS:g} ms, but "
                    f"it is on {len(result.regressed)} stage(s): {lines}."
                )
        if result.missing:
            parts.append(
                f"Every recorded run must measure every required stage, but {len(result.missing)} were not "
                f"measured: {'; '.join(result.missing[:12])}."
            )
        context = f"Control: {result.control}; candidate: {result.candidate}; dwell {result.dwell_ms} ms."
        fail_with(parts, problems=result.problems, context=context)


def _table(result: FirstOutputResult) -> str:
    who = "the control build against itself" if result.same_build else "two builds"
    caption = (
        f"First output at dwell {result.dwell_ms} ms ({who}): control {result.control}, candidate "
        f"{result.candidate}; {len(result.pairs)} pairs ({result.order}) after {len(result.warmup_pairs)} "
        f"warm-up pair(s); threshold {MATERIAL_MS:g} ms; intervals hold together with {FAMILY_CONFIDENCE:.0%} "
        f"confidence; {result.method}"
    )
    return html_table(caption, HEADERS, result.table_rows())
