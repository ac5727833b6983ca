"""Keywords that draw plots (matplotlib) and embed them in ``log.html`` as ``data:`` URIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robotlibcore import keyword

from keywords.components.base import Component
from keywords.errors import HarnessConfigError
from keywords.reporting import plots


class PlotKeywords(Component):
    """Draw latency histograms, series over time and bars; write PNGs to ``results/plots`` and show them in the log."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._used: set[Path] = set()

    @keyword(tags=("plot", "report"))
    def plot_latency_distribution(
        self, values: list[float], title: str, bound: float | None = None, unit: str = "ms"
    ) -> plots.Plot:
        """Draw a histogram of latencies with p50/p90/p99 marked, embed it in the log and save the PNG.

        Args:
            values: Latencies (numbers, ``unit``).
            title: Title on the figure and in the PNG's file name.
            bound: Draw this bound (e.g. the p99 bound) as a red dashed line.
            unit: Unit of the values.

        Returns:
            ``Plot`` with ``path`` (the PNG under ``results/plots``), ``title``, ``width``, ``height``.

        Example:
            | ${plot}= | Plot Latency Distribution | ${latencies_ms} | burst of 10 | bound=${P99_BOUND_MS} |
            | File Should Exist | ${plot.path} |
        """
        return self._show(title, lambda path: plots.latency_distribution(values, title, path, bound, unit))

    @keyword(tags=("plot", "report"))
    def plot_series(
        self,
        times: list[float],
        values: list[float],
        title: str,
        markers: Any = None,
        xlabel: str = "time (s)",
        ylabel: str = "",
        label: str = "",
        **more_lines: list[float],
    ) -> plots.Plot:
        """Draw values over time with labelled vertical markers, embed it in the log and save the PNG.

        Args:
            times: X positions (seconds since the start, for example).
            values: Y values, as many as ``times``.
            title: Figure title.
            markers: Marked moments: a dictionary label -> time (``&{marks}``) or a list of ``[time, label]``
                pairs, e.g. when the session count changed.
            xlabel: X axis label.
            ylabel: Y axis label.
            label: Legend entry of ``values``.
            more_lines: More lines over the same times, as ``legend label=values``.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | &{marks}= | Create Dictionary | 1 session=${0.0} | 5 sessions=${2.5} |
            | Plot Series | ${times} | ${rss_mb} | RSS over time | markers=${marks} | ylabel=MB |
        """
        marks = _markers(markers)
        return self._show(
            title,
            lambda path: plots.series(
                times, values, title, path, xlabel, ylabel, marks, label=label, extra=more_lines or None
            ),
        )

    @keyword(tags=("plot", "report"))
    def plot_rss_over_time(self, samples: Any, title: str = "RSS over time", markers: Any = None) -> plots.Plot:
        """Draw the RSS sampler's samples (daemon and whole tree, MB) with markers, e.g. session counts.

        Args:
            samples: The sampler's result: anything with ``times_s``, ``daemon_mb`` and ``tree_mb`` lists.
            title: Figure title.
            markers: As in `Plot Series`.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | ${samples}= | Stop RSS Sampler |
            | Plot RSS Over Time | ${samples} | RSS at 1/5/10 sessions | markers=${marks} |
        """
        try:
            times, daemon_mb, tree_mb = list(samples.times_s), list(samples.daemon_mb), list(samples.tree_mb)
        except AttributeError as exc:
            raise HarnessConfigError(
                f"Plot RSS Over Time needs the sampler's result (times_s, daemon_mb, tree_mb), got {samples!r:.120}."
            ) from exc
        extra = {"whole tree": tree_mb} if tree_mb else None
        return self._show(
            title,
            lambda path: plots.series(
                times, daemon_mb, title, path, "time (s)", "RSS (MB)", _markers(markers), "daemon", extra=extra
            ),
        )

    @keyword(tags=("plot", "report"))
    def plot_events_per_second(self, events: Any, title: str, bin_seconds: float = 1.0) -> plots.Plot:
        """Draw events per second of a stream, embed it in the log and save the PNG.

        Args:
            events: A ``StreamResult`` (frames keep their receipt time) or a list of arrival times in seconds.
            title: Figure title.
            bin_seconds: Width of one bar of the rate, in seconds.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | ${stream}= | Collect Events | ${sub} |
            | Plot Events Per Second | ${stream} | events of a 200-chunk turn | bin_seconds=0.1 |
        """
        if hasattr(events, "events"):
            times = [env["_recv_ms"] / 1000 for env in events.events if isinstance(env, dict) and "_recv_ms" in env]
        else:
            times = list(events)
        xs, rates = plots.rate_per_second(times, float(bin_seconds))
        if not xs:
            raise HarnessConfigError(f"No event times to plot for {title!r} (were frames kept?).")
        return self._show(
            title, lambda path: plots.series(xs, rates, title, path, "time (s)", "events per second", step=True)
        )

    @keyword(tags=("plot", "report"))
    def plot_bars(self, labels: list[str], title: str, ylabel: str = "ms", **series: list[float]) -> plots.Plot:
        """Draw grouped bars (one bar per series in each label's group), embed them in the log and save the PNG.

        Args:
            labels: Group names on the x axis, e.g. ``p50`` and ``p99``.
            title: Figure title.
            ylabel: Y axis label.
            series: One named argument per series: ``name=values`` with one value per label.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | @{labels}= | Create List | p50 | p99 |
            | Plot Bars | ${labels} | Daemon vs CLI: prompt latency | daemon=${daemon_ms} | CLI=${cli_ms} |
        """
        return self._show(title, lambda path: plots.bars(labels, series, title, path, ylabel))

    # -- helpers ------------------------------------------------------------------------------
    def _path(self, title: str) -> Path:
        test = self.variable("${TEST NAME}") or self.variable("${SUITE NAME}") or "run"
        base = self.ctx.results_dir / "plots" / f"{plots.slug(str(test), 40)}--{plots.slug(title, 50)}"
        path, n = base.with_suffix(".png"), 1
        while path in self._used:
            n += 1
            path = base.with_name(f"{base.name}-{n}.png")
        self._used.add(path)
        return path

    def _show(self, title: str, draw) -> plots.Plot:
        try:
            plot = draw(self._path(title))
        except plots.PlotDataError as exc:
            raise HarnessConfigError(f"Cannot plot {title!r}: {exc}") from exc
        self.info(plot.html(f"{plot.title} — {plot.path}"), html=True)
        return plot


def _markers(markers: Any) -> list[tuple[float, str]]:
    if not markers:
        return []
    if isinstance(markers, dict):
        items = [(value, label) for label, value in markers.items()]
    else:
        items = [tuple(pair) for pair in markers]
    out = []
    for item in items:
        if len(item) != 2:
            raise HarnessConfigError(f"A marker must be [time, label], got {item!r}.")
        try:
            out.append((float(item[0]), str(item[1])))
        except (TypeError, ValueError) as exc:
            raise HarnessConfigError(f"A marker's time must be a number, got {item[0]!r} ({item[1]!r}).") from exc
    return out
