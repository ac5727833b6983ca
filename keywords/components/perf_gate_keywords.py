"""Keywords of the pre-merge performance gate: a candidate build against a reference build, same run."""

from __future__ import annotations

from pathlib import Path

from robotlibcore import keyword

from keywords.components.component import fail_with, html_table
from keywords.components.daemon_component import DaemonComponent
from keywords.measure.pair_probe import PairPlan
from keywords.measure.perf_gate import GateResult, load_tolerances, run_gate

HEADERS = (
    "metric",
    "reference (median of runs)",
    "candidate (median of runs)",
    "candidate / reference",
    "interval",
    "tolerance",
    "smallest detectable",
    "verdict",
)


class PerfGateKeywords(DaemonComponent):
    """Run the performance gate and judge it."""

    @keyword(tags=("gate", "benchmark"))
    def run_performance_gate(
        self,
        *,
        reference: str = "",
        candidate: str = "",
        tolerances: str = "",
        blocks: int = 3,
        warmup: int = 1,
        creates: int = 20,
        prompts: int = 30,
        subscribers: int = 8,
        churn: int = 120,
    ) -> GateResult:
        """Measure a candidate daemon build against a reference build, interleaved, with the mock agent.

        After ``warmup`` unrecorded pairs, ``blocks`` blocks of two pairs follow. A pair is one fresh daemon of
        each build (not preheated), both alive and measured alternately request by request, the reference
        first in one pair of a block and the candidate first in the other; measured are boot, first
        session, warm session creation, prompt accepted / first event / turn end, replay fan-out to
        ``subscribers`` streams, live delivery delay, idle RSS, memory retained per session over ``churn``
        create+close cycles, and the daemon's own event-loop figures. Every metric is then estimated from the
        adjacent pairs (candidate / reference, or candidate - reference for differences) with its confidence
        interval, judged against its tolerance, and given the smallest change the sample could detect. The
        table goes to the log; `Performance Gate Should Pass` judges the result.

        Args:
            reference: Entry script of the reference build; empty: the pinned release.
            candidate: Entry script of the candidate build; empty: the library's build (``DAEMON_ENTRY``, else
                the pinned release - then the run is the gate's false-alarm check).
            tolerances: Tolerance file (JSON); empty: ``resources/perf-gate.json`` of the harness.
            blocks: Blocks of two pairs recorded (1..20).
            warmup: Unrecorded pairs first (0..5).
            creates: Warm session creations per run.
            prompts: Prompts per run.
            subscribers: Streams of the fan-out measurements.
            churn: Sessions created and closed per run for the retained-memory slope.

        Returns:
            ``GateResult``: ``reference`` (str), ``candidate`` (str), ``same_build`` (bool), ``order`` (str),
            ``runs`` (list of ``GateRun``: ``build``, ``position``, ``values`` dict, ``problems`` list,
            ``wall_s``, ``pid``), ``pairs`` (list of (reference run, candidate run)), ``warmup_runs`` (list),
            ``estimates`` (list of ``PairedEstimate``: ``metric``, ``kind``, ``better``, ``pairs``,
            ``dropped``, ``confidence``, ``estimate``, ``low``, ``high``, ``tolerance``, ``verdict``,
            ``smallest_detectable``, ``unit``), ``tolerances``, ``method`` (str), ``wall_s`` (float);
            properties ``passed``, ``failed``, ``unmeasured``, ``problems``; ``line()``, ``figures()``.

        Example:
            | ${gate}= | Run Performance Gate | candidate=${DAEMON_ENTRY} | blocks=3 |
            | Performance Gate Should Pass | ${gate} |
        """
        harness_root = Path(__file__).resolve().parents[2]
        tol = load_tolerances(tolerances or harness_root / "resources" / "perf-gate.json")
        plan = PairPlan(creates=creates, prompts=prompts, subscribers=subscribers, churn=churn).checked()
        builds = self.paired_builds(
            reference,
            candidate,
            roles=("reference", "candidate"),
            start_daemon=lambda entry: self._daemons.start_daemon_with_mock_agent(
                preheat=False, daemon_entry=entry, max_sessions=0, boot_timeout=60.0
            ),
        )
        self.info(builds.describe("Performance gate", "the same build: false-alarm check"))
        result = run_gate(
            builds.start,
            self.stop_started,
            reference=builds.label("reference"),
            candidate=builds.label("candidate"),
            same_build=builds.same,
            tolerances=tol,
            blocks=blocks,
            warmup=warmup,
            plan=plan,
            log=self.info,
        )
        self.info(_html_table(result), html=True)
        return result

    @keyword(tags=("gate", "assertion"))
    def performance_gate_should_pass(self, gate: GateResult) -> None:
        """Fail when the candidate is worse than a tolerance with confidence, or a metric could not be judged.

        The message names every such metric with its ratio (or difference), interval and tolerance.

        Args:
            gate: From `Run Performance Gate`.

        Example:
            | Performance Gate Should Pass | ${gate} |
        """
        if gate.passed:
            return
        parts = []
        if gate.failed:
            parts.append(
                f"The candidate build is slower, bigger or leakier than the reference on {len(gate.failed)} "
                f"metric(s), beyond their tolerance with {gate.tolerances.confidence:.0%} confidence: "
                + "; ".join(e.line() for e in gate.failed)
                + "."
            )
        if gate.unmeasured:
            parts.append(
                "These metrics could not be judged (fewer than two usable run pairs): "
                + "; ".join(e.line() for e in gate.unmeasured)
                + "."
            )
        fail_with(parts, problems=gate.problems, context=f"Reference: {gate.reference}; candidate: {gate.candidate}.")


def _html_table(gate: GateResult) -> str:
    who = "the candidate is the reference build (false-alarm check)" if gate.same_build else "two builds"
    caption = (
        f"Performance gate ({who}): reference {gate.reference}, candidate {gate.candidate}; {len(gate.pairs)} "
        f"pairs, first build of each {gate.order}, after {len(gate.warmup_runs) // 2} warm-up pair(s); "
        f"{gate.tolerances.confidence:.0%} intervals; {gate.method}"
    )
    return html_table(caption, HEADERS, gate.table_rows())
