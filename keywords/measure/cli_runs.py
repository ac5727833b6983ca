"""C1 / C5: runs of the one-shot CLI (``qwen -p``), summarised over the measured runs.

Each run is started and measured by :class:`keywords.fakes.oneshot_cli.OneShotCli` (wall time from spawn to
``wait4``, the tree's sampled resource profile, the root's exact rusage, the startup profiler's phases);
here the runs are repeated after excluded warm-up runs and summarised through
:mod:`keywords.measure.metrics` (HdrHistogram).

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keywords.checks import whole_number
from keywords.fakes.oneshot_cli import CliRun, OneShotCli, Rusage, StartupPhases
from keywords.measure import metrics
from keywords.measure.bench_common import Log, quiet
from keywords.measure.counters import counter_figures
from keywords.measure.resource_profile import ResourceProfile

WALL_METHOD = "monotonic clock from just before spawn to wait4 reaping the process (2 ms polling)"
TREE_METHOD = "psutil process-tree readings (VmHWM, /proc stat counters), sampled"
MAX_RUNS = 200
MAX_WARMUP = 10


@dataclass
class CliSeries:
    """Measured runs of the one-shot CLI (after excluded warm-up runs).

    Attributes:
        prompt: The ``-p`` prompt.
        warmup: Warm-up runs (not in the figures).
        runs: The measured runs.
        wall: Wall time per run (ms).
        full_startup: Profiler ``fullStartupMs`` per run, when the profiler wrote it (``None`` otherwise).
        peak_rss_mb: Peak single-process RSS per run (MB), through the same percentile method.
        phases: Startup phases of the last run (``None`` when the profiler wrote nothing).
        phases_note: Why phases are missing (empty when present).
        profile: Resource profile of the last run's tree.
        rusage: Exact ``wait4`` rusage of the last run's root (``None`` when it was not reaped here).
        failures: Runs that did not exit 0 within the timeout.
        stdout: What the last run printed.
    """

    prompt: str
    warmup: int
    runs: list[CliRun]
    wall: metrics.LatencySummary
    full_startup: metrics.LatencySummary | None
    peak_rss_mb: metrics.LatencySummary
    phases: StartupPhases | None
    phases_note: str
    profile: ResourceProfile
    rusage: Rusage | None
    failures: int
    stdout: str

    @property
    def cold_start(self) -> metrics.LatencySummary:
        """Upstream's cold-start sample: the profiler's ``fullStartupMs`` when it was written, else wall time."""
        return self.full_startup if self.full_startup else self.wall

    @property
    def cold_start_basis(self) -> str:
        """What :attr:`cold_start` is: ``profiler fullStartupMs`` or ``wall time (no profile written)``."""
        return "profiler fullStartupMs" if self.full_startup else "wall time (no profile written)"

    def phases_text(self) -> str:
        """The last run's start-up phases in one line, or why there are none."""
        p = self.phases
        if p is None:
            return f"no start-up phases: {self.phases_note}" if self.phases_note else "no start-up phases"
        return (
            f"phases: module load {p.module_load_ms} ms · settings {p.settings_ms} ms · config init "
            f"{p.config_init_ms} ms · MCP settled {p.mcp_settled_ms} ms"
        )

    def figures(self) -> dict[str, Any]:
        """Measured figures: wall time, profiler start-up, cold start with its basis, peak RSS (percentiles),
        the last run's details."""
        return {
            "runs": len(self.runs),
            "wallMs": self.wall.to_dict(),
            "fullStartupMs": self.full_startup.to_dict() if self.full_startup else None,
            "coldStartMs": self.cold_start.to_dict(),
            "coldStartBasis": self.cold_start_basis,
            "peakRssMB": self.peak_rss_mb.to_dict(),
            "startupPhases": self.phases.to_dict() if self.phases else None,
            "resourceProfile": self.profile.figures(),
            "rusageExact": counter_figures(self.rusage),
            "failures": self.failures,
        }

    def line(self) -> str:
        """``CLI wall p50 … (n=5) · peak RSS p50 180 MB · full start-up p50 … ms · phases: …``."""
        startup = f" · full start-up {self.full_startup.line()}" if self.full_startup else ""
        return f"CLI wall {self.wall.line()} · peak RSS {self.peak_rss_mb.line('MB')}{startup} · {self.phases_text()}"

    def to_dict(self) -> dict[str, Any]:
        """Snapshot form: the figures, the prompt and warm-up runs, and how they were measured."""
        return {
            "prompt": self.prompt,
            "warmupRuns": self.warmup,
            **self.figures(),
            "startupPhasesNote": self.phases_note or "from the CLI's startup profiler (last run)",
            "method": f"wall: {WALL_METHOD}; resources: {TREE_METHOD} every 50 ms; rusageExact: wait4 of the root",
        }


def check_cli_counts(iterations: Any, warmup: Any) -> tuple[int, int]:
    """``(iterations, warmup)`` as integers, checked (1..200 measured runs, 0..10 warm-up runs)."""
    return (
        whole_number("iterations", iterations, low=1, high=MAX_RUNS),
        whole_number("warmup", warmup, low=0, high=MAX_WARMUP),
    )


def run_cli_series(
    cli: OneShotCli,
    prompt: str = "say ok",
    *,
    iterations: int = 5,
    warmup: int = 1,
    profile_startup: bool = False,
    log: Log = quiet,
) -> CliSeries:
    """Run the one-shot CLI ``warmup + iterations`` times; every run must exit 0 and print something.

    Args:
        cli: The CLI (its private HOME carries the model settings).
        prompt: The ``-p`` prompt.
        iterations: Measured runs (1..200).
        warmup: Excluded runs first (0..10).
        profile_startup: Ask the CLI's startup profiler for its phases.
        log: Gets one line per run (warm-up runs included).

    Raises:
        HarnessConfigError: a count out of range (before the first run).
        AssertionError: a run failed or printed nothing (with the CLI's stderr).
    """
    iterations, warmup = check_cli_counts(iterations, warmup)
    runs: list[CliRun] = []
    for i in range(warmup + iterations):
        run = cli.run(prompt, profile_startup=bool(profile_startup))
        label = "warm-up" if i < warmup else "measured"
        log(f"CLI {label} {run.summary()}")
        if not run.ok or not run.stdout.strip():
            raise AssertionError(
                f"The one-shot CLI failed (exit {run.exit_code}, timed out {run.timed_out}, stdout "
                f"{run.stdout[:200]!r}).\nLast stderr lines:\n{run.stderr_tail}"
            )
        if i >= warmup:
            runs.append(run)
    return cli_series(prompt, warmup, runs, bool(profile_startup))


def cli_series(prompt: str, warmup: int, runs: Sequence[CliRun], profile_startup: bool) -> CliSeries:
    """The figures of measured CLI runs (at least one): percentiles over the runs, details of the last."""
    full = [r.phases.full_startup_ms for r in runs if r.phases and r.phases.full_startup_ms]
    last = runs[-1]
    note = ""
    if profile_startup and last.phases is None:
        note = last.phases_note
    elif not profile_startup:
        note = "startup profiler not requested; wall time only"
    return CliSeries(
        prompt=prompt,
        warmup=warmup,
        runs=list(runs),
        wall=metrics.summarize([r.wall_ms for r in runs], "cli wall"),
        full_startup=metrics.summarize(full, "cli full startup") if full else None,
        peak_rss_mb=metrics.summarize([r.profile.peak_rss_mb for r in runs], "cli peak rss"),
        phases=last.phases,
        phases_note=note,
        profile=last.profile,
        rusage=last.rusage,
        failures=sum(not r.ok for r in runs),
        stdout=last.stdout,
    )
