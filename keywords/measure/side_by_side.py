"""The daemon and the one-shot CLI side by side: each figure of both, measured in the same run, with CLI / daemon.

This replaces upstream's ``/usr/bin/time`` table: start to first usable (a whole ``-p`` run against boot to
the first session), prompt latency (a whole ``-p`` run with the prompt against a prompt on a warm session),
and the resource profile of one run of each. A figure whose scenario did not run is ``not run``.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from typing import Any

from keywords.measure.boot_timing import BootSeries
from keywords.measure.cli_runs import CliSeries
from keywords.measure.counters import counter_figures
from keywords.measure.prompt_timer import PromptSeries

NOT_RUN = "not run"
PROFILE_HOW = (
    "sampled: psutil readings of every process of the tree every 50 ms (CLI) / 100 ms (daemon), "
    "last reading per process (peak RSS = largest VmHWM; context switches are the main "
    "thread's); exact: wait4 rusage of the CLI root / RUSAGE_CHILDREN delta over the daemon's "
    "life (all threads, reaped children included), as /usr/bin/time -v reports"
)


def figure_pair(cli: float | None, daemon: float | None, how: str, unit: str = "ms") -> dict[str, Any] | str:
    """``{cli, daemon, cliOverDaemon, unit, how}`` (values to 1 decimal, ratio to 2), or ``not run``.

    ``not run`` when either value is missing; the ratio is ``None`` when the daemon's value is 0.
    """
    if cli is None or daemon is None:
        return NOT_RUN
    return {
        "cli": round(cli, 1),
        "daemon": round(daemon, 1),
        "cliOverDaemon": round(cli / daemon, 2) if daemon else None,
        "unit": unit,
        "how": how,
    }


def side_by_side(
    cli_cold: CliSeries | None = None,
    daemon_boot: BootSeries | None = None,
    prompt_cli: CliSeries | None = None,
    prompt_daemon: PromptSeries | None = None,
) -> dict[str, Any]:
    """The CLI's and the daemon's figures paired with their ratio (CLI / daemon); a missing input gives ``not run``.

    Returns:
        ``startToFirstUsableP50``, ``promptLatencyP50`` and ``promptLatencyP99`` (see :func:`figure_pair`) and
        ``resourceProfile`` (sampled and exact figures of both sides, or ``not run``).
    """
    out: dict[str, Any] = {
        "startToFirstUsableP50": figure_pair(
            cli_cold.wall.p50 if cli_cold else None,
            daemon_boot.latency.p50 if daemon_boot else None,
            "CLI: whole -p run, spawn to exit; daemon: spawn to first session (not preheated)",
        ),
        "promptLatencyP50": figure_pair(
            prompt_cli.wall.p50 if prompt_cli else None,
            prompt_daemon.latency.p50 if prompt_daemon else None,
            "CLI: whole -p run with the prompt; daemon: POST prompt to turn_complete on a warm session",
        ),
        "promptLatencyP99": figure_pair(
            prompt_cli.wall.p99 if prompt_cli else None,
            prompt_daemon.latency.p99 if prompt_daemon else None,
            "as promptLatencyP50, 99th percentile",
        ),
        "resourceProfile": NOT_RUN,
    }
    if cli_cold is not None and daemon_boot is not None:
        out["resourceProfile"] = {
            "cli": {"sampled": cli_cold.profile.figures(), "exactWait4": counter_figures(cli_cold.rusage)},
            "daemon": {
                "sampled": daemon_boot.profile.figures() if daemon_boot.profile else None,
                "exactRusageChildren": counter_figures(daemon_boot.rusage),
            },
            "how": PROFILE_HOW,
            "cliRun": "one -p run (the last of C1)",
            "daemonRun": "boot + first session + SIGTERM stop (the last of C2)",
        }
    return out
