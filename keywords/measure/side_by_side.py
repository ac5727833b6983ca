"""The daemon and the one-shot CLI side by side: each figure of both, measured in the same run, with CLI / daemon.

This replaces upstream's ``/usr/bin/time`` table: start to first usable (a whole ``-p`` run against boot to
the first session), prompt latency (a whole ``-p`` run with the prompt against a prompt on a warm session),
and the resource profile of one run of each. A figure whose scenario did not run is ``not run``.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keywords.errors import HarnessConfigError
from keywords.measure.boot_timing import BootSeries
from keywords.measure.cli_runs import CliSeries
from keywords.measure.counters import counter_figures
from keywords.measure.prompt_timer import PromptSeries
from keywords.measure.session_timing import SessionTimings
from keywords.measure.tree_rss import TreeRss, TreeRssSeries

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


BAR_LABELS = {
    "startToFirstUsableP50": "start to first usable, p50",
    "promptLatencyP50": "prompt latency, p50",
    "promptLatencyP99": "prompt latency, p99",
}
"""The side-by-side figures drawn as bars (ms), with their labels."""


@dataclass
class SideBySide:
    """The daemon's and the CLI's figures of this run, paired (see :func:`side_by_side`).

    Attributes:
        pairs: ``startToFirstUsableP50``, ``promptLatencyP50``, ``promptLatencyP99`` (each a pair dict or
            ``not run``) and ``resourceProfile``.
    """

    pairs: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        """A pair by name, as the dictionary this replaces (``${side}[promptLatencyP50]``)."""
        return self.pairs[key]

    def figures(self) -> dict[str, Any]:
        """The pairs and the resource profiles, as measured (``not run`` for a scenario that did not run)."""
        return dict(self.pairs)

    def line(self) -> str:
        """``start to first usable, p50: CLI 2100.0 ms, daemon 1500.0 ms (CLI/daemon 1.4) · …``."""
        parts = []
        for key, label in BAR_LABELS.items():
            pair = self.pairs.get(key)
            if isinstance(pair, dict):
                parts.append(
                    f"{label}: CLI {pair['cli']} ms, daemon {pair['daemon']} ms (CLI/daemon {pair['cliOverDaemon']})"
                )
            else:
                parts.append(f"{label}: {NOT_RUN}")
        return " · ".join(parts)

    def bars(self) -> tuple[list[str], list[float], list[float]]:
        """``(labels, cli values, daemon values)`` of the pairs measured in this run (empty lists with none)."""
        rows = [(label, self.pairs[key]) for key, label in BAR_LABELS.items() if isinstance(self.pairs.get(key), dict)]
        return [r[0] for r in rows], [r[1]["cli"] for r in rows], [r[1]["daemon"] for r in rows]


def pair_figures(
    cli_cold: CliSeries | None = None,
    daemon_boot: BootSeries | None = None,
    prompt_cli: CliSeries | None = None,
    prompt_daemon: PromptSeries | None = None,
) -> SideBySide:
    """:func:`side_by_side` as a result that carries its figures."""
    return SideBySide(side_by_side(cli_cold, daemon_boot, prompt_cli, prompt_daemon))


# -- one daemon figure against the CLI's ------------------------------------------------------------------


@dataclass
class CliComparison:
    """One daemon figure of this run next to the one-shot CLI's figure it is compared with.

    Attributes:
        cli_key: Figure key of the CLI's value (``cliColdStartWallP50Ms``).
        cli_value: The CLI's value (``None`` when the CLI scenario did not run in this run).
        daemon_value: The daemon's value.
        ratio_key: Figure key of the ratio (``cliOverDaemonP50``).
        ratio: The ratio (2 decimals; ``None`` when either value is missing or the divisor is 0).
        what: The comparison in words, for the test message.
    """

    cli_key: str
    cli_value: float | None
    daemon_value: float | None
    ratio_key: str
    ratio: float | None
    what: str

    def figures(self) -> dict[str, Any]:
        """The CLI's value and the ratio under their keys."""
        return {self.cli_key: self.cli_value, self.ratio_key: self.ratio}

    def line(self) -> str:
        """``CLI cold start p50 / warm create p50 = 350.2`` (``not measured`` when the CLI did not run)."""
        return f"{self.what} = {NOT_RUN + ' (no CLI figure in this run)' if self.ratio is None else self.ratio}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` to 2 decimals; ``None`` when either is missing or 0."""
    if not numerator or not denominator:
        return None
    return round(float(numerator) / float(denominator), 2)


def versus_cli(daemon: Any, cli: CliSeries | None) -> CliComparison:
    """Compare a daemon result of this run with the one-shot CLI's (``cli``: ``None`` when it did not run).

    * ``SessionTimings`` (C3, warm creations): the CLI's cold-start wall p50 over the creation p50
      (``cliColdStartWallP50Ms``, ``cliOverDaemonP50``);
    * ``TreeRssSeries`` or ``TreeRss`` (C4): the daemon's tree RSS at the first count over the CLI's peak RSS
      p50 (``cliPeakRssMB``, ``daemonTreeOverCliPeak``);
    * ``PromptSeries`` (C5): the CLI's wall p50 over the daemon's prompt p50 (``cliWallP50Ms``,
      ``cliOverDaemonP50``).

    Raises:
        HarnessConfigError: ``daemon`` is none of those, or ``cli`` is not CLI runs.
    """
    if cli is not None and not isinstance(cli, CliSeries):
        raise HarnessConfigError(f"The CLI side must be the result of Run One Shot CLI (or None), got {cli!r:.80}.")
    wall = cli.wall.p50 if cli is not None else None
    if isinstance(daemon, SessionTimings):
        value = daemon.latency.p50
        return CliComparison(
            "cliColdStartWallP50Ms",
            wall,
            value,
            "cliOverDaemonP50",
            ratio(wall, value),
            "CLI cold start p50 / warm create p50",
        )
    if isinstance(daemon, (TreeRssSeries, TreeRss)):
        reading = daemon.first if isinstance(daemon, TreeRssSeries) else daemon
        peak = cli.peak_rss_mb.p50 if cli is not None else None
        return CliComparison(
            "cliPeakRssMB",
            peak,
            reading.total,
            "daemonTreeOverCliPeak",
            ratio(reading.total, peak),
            f"daemon tree RSS at {reading.sessions} session(s) / CLI peak RSS p50",
        )
    if isinstance(daemon, PromptSeries):
        value = daemon.latency.p50
        return CliComparison(
            "cliWallP50Ms", wall, value, "cliOverDaemonP50", ratio(wall, value), "CLI prompt p50 / daemon prompt p50"
        )
    raise HarnessConfigError(
        "Compare With CLI takes warm session creations, a tree RSS reading or timed prompts of the daemon; "
        f"got a {type(daemon).__name__}."
    )
