"""Keywords that draw plots (matplotlib) and embed them in ``log.html`` as ``data:`` URIs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from robotlibcore import keyword

from keywords.checks import seconds
from keywords.components.component import Component
from keywords.errors import HarnessConfigError
from keywords.reporting import plots
from keywords.reporting.snapshot import claim_folder


class PlotKeywords(Component):
    """Draw latency histograms, series over time and bars; write PNGs to ``results/plots`` and show them in the log."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._used: set[Path] = set()

    @keyword(tags=("plot", "report"))
    def plot_latency_distribution(
        self, values: Any, title: str, *, bound: float | None = None, unit: str = "ms"
    ) -> plots.Plot:
        """Draw a histogram of latencies with p50/p90/p99 marked, embed it in the log and save the PNG.

        Args:
            values: The latencies: a list of numbers (``unit``), or a result that has them: a flow batch
                (`Run Lifecycle Cycles`, `Run Concurrent Flows`: the times of its correct flows) or anything
                with ``latencies_ms()``, or a latency recorder.
            title: Title on the figure and in the PNG's file name.
            bound: Draw this bound (e.g. the p99 bound) as a red dashed line.
            unit: Unit of the values.

        Returns:
            ``Plot`` with ``path`` (Path: the PNG under ``<output dir>/plots``), ``title`` (str), ``png``
            (bytes), ``width`` and ``height`` (int, pixels).

        Example:
            | ${plot}= | Plot Latency Distribution | ${latencies_ms} | burst of 10 | bound=${P99_BOUND_MS} |
            | File Should Exist | ${plot.path} |
            | Plot Latency Distribution | ${batch} | rapid lifecycle: cycle time (ms) |
        """
        return self._show(
            title, lambda path: plots.latency_distribution(plots.latency_values(values), title, path, bound, unit)
        )

    @keyword(tags=("plot", "report"))
    def plot_series(
        self,
        times: list[float],
        values: list[float],
        title: str,
        *,
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
    def plot_rss_over_time(self, samples: Any, title: str = "RSS over time", *, markers: Any = None) -> plots.Plot:
        """Draw the RSS sampler's samples (daemon and whole tree, MB) with markers, e.g. session counts.

        Args:
            samples: The sampler's result: anything with ``times_s``, ``daemon_mb`` and ``tree_mb`` lists.
            title: Figure title.
            markers: As in `Plot Series`.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | ${samples}= | Stop RSS Sampler | ${sampler} |
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
    def plot_events_per_second(
        self, events: Any, title: str, *, bin_seconds: timedelta | float | None = None
    ) -> plots.Plot:
        """Draw events per second of a stream, embed it in the log and save the PNG.

        Args:
            events: A ``StreamResult`` (frames keep their receipt time) or a list of arrival times in seconds.
            title: Figure title.
            bin_seconds: Width of one bar of the rate (``0.1``, ``1 s``). Default: a thirtieth of the
                events' span, at least 1 ms, so a stream that lasts a fraction of a second still shows its shape.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | ${stream}= | Collect Events | ${sub} |
            | Plot Events Per Second | ${stream} | events of a 200-chunk turn |
            | Plot Events Per Second | ${arrivals} | events per second | bin_seconds=0.25 |
        """
        times = plots.event_times(events)
        if not times:
            raise HarnessConfigError(f"No event times to plot for {title!r} (were frames kept?).")
        width = plots.auto_bin_seconds(times) if bin_seconds is None else seconds("bin_seconds", bin_seconds)
        xs, rates = plots.rate_per_second(times, width)
        return self._show(
            title, lambda path: plots.series(xs, rates, title, path, "time (s)", "events per second", step=True)
        )

    @keyword(tags=("plot", "report"))
    def plot_bars(self, labels: list[str], title: str, *, ylabel: str = "ms", **series: list[float]) -> plots.Plot:
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

    @keyword(tags=("plot", "report"))
    def plot_daemon_versus_cli(
        self, side: Any, title: str = "Daemon vs one-shot CLI (ms, lower is better)"
    ) -> plots.Plot | None:
        """Draw bars of the side-by-side figures (CLI and daemon, ms) that were measured in this run.

        A figure whose scenario did not run is left out; with none measured nothing is drawn (and that is
        logged).

        Args:
            side: From `Daemon Versus CLI Figures`.
            title: Figure title.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`), or ``None`` when no figure was measured.

        Example:
            | ${side}= | Daemon Versus CLI Figures | ${CLI_COLD} | ${DAEMON_BOOT} | ${PROMPT_CLI} | ${PROMPT_DAEMON} |
            | Plot Daemon Versus CLI | ${side} |
        """
        bars = getattr(side, "bars", None)
        if not callable(bars):
            raise HarnessConfigError(
                f"Plot Daemon Versus CLI needs the result of Daemon Versus CLI Figures, got {side!r:.100}."
            )
        labels, cli, daemon = bars()
        if not labels:
            self.info("No side-by-side figure was measured in this run, so there are no bars to draw.")
            return None
        return self.plot_bars(labels, title, ylabel="ms", CLI=cli, daemon=daemon)

    @keyword(tags=("plot", "report"))
    def plot_rss_at_session_counts(self, scaling: Any, title: str = "RSS at session counts") -> plots.Plot:
        """Draw the daemon's and the whole tree's RSS (MB) over the sampling windows of one time axis.

        Time is seconds since the first window began, so the gaps are the time spent opening sessions; each
        window's session count is marked where it starts.

        Args:
            scaling: From `Sample RSS At Session Counts`.
            title: Figure title.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | ${rss}= | Sample RSS At Session Counts | 1 | 5 | 10 |
            | Plot RSS At Session Counts | ${rss} | RSS while 1, 5 and 10 sessions are open |
        """
        timeline = getattr(scaling, "timeline", None)
        if not callable(timeline):
            raise HarnessConfigError(
                f"Plot RSS At Session Counts needs the result of Sample RSS At Session Counts, got {scaling!r:.100}."
            )
        line = timeline()
        return self.plot_rss_over_time(line, title, markers=line.markers)

    @keyword(tags=("plot", "report"))
    def plot_percentile_spectra(self, title: str, *, ylabel: str = "ms", **spectra: list) -> plots.Plot:
        """Draw bars of latency spectra side by side at each percentile (p50 ... max), embed them and save the PNG.

        Args:
            title: Figure title.
            ylabel: Y axis label.
            spectra: One named argument per series: ``name=[[percentile, ms], ...]`` (a load's
                ``response_spectrum``, ``service_spectrum``); every series must have the same percentiles.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | Plot Percentile Spectra | sustained load by percentile | response=${load.response_spectrum} |
            | ... | service=${load.service_spectrum} |
        """
        labels, groups = self._data(title, lambda: plots.spectrum_bars(spectra))
        return self._show(title, lambda path: plots.bars(labels, groups, title, path, ylabel))

    @keyword(tags=("plot", "report"))
    def plot_load_timeline(self, load: Any, title: str, *, completed_label: str = "completed") -> plots.Plot:
        """Draw what a sustained load completed in each second and, for a prompt load, the SSE frames received.

        Args:
            load: The result of `Run Sustained Prompt Load` or `Run Sustained Session Load` (its ``timeline``:
                ``[second, completed, frames]`` per second since the schedule started).
            title: Figure title.
            completed_label: Legend entry of the completed arrivals, e.g. ``turns ended (turn_complete)``.

        Returns:
            ``Plot`` (see `Plot Latency Distribution`).

        Example:
            | ${load}= | Run Sustained Prompt Load | rate=10 | duration=20 |
            | Plot Load Timeline | ${load} | 10 prompts/s | completed_label=turns ended |
        """
        rows = getattr(load, "timeline", None)
        if not isinstance(rows, list) or not rows:
            raise HarnessConfigError(
                f"Plot Load Timeline needs a sustained load's result with a timeline, got {load!r:.100}."
            )
        seconds_, completed = [row[0] for row in rows], [row[1] for row in rows]
        extra = {"SSE frames received": [row[2] for row in rows]} if getattr(load, "kind", "") == "prompt" else None
        return self._show(
            title,
            lambda path: plots.series(
                seconds_, completed, title, path, "time (s)", "per second", label=completed_label, extra=extra
            ),
        )

    # -- helpers ------------------------------------------------------------------------------
    def _path(self, title: str) -> Path:
        claim_folder(self.ctx.results_dir)  # this run's first file here clears the plots an earlier run left
        test = self.variable("${TEST NAME}") or self.variable("${SUITE NAME}") or "run"
        base = self.ctx.results_dir / "plots" / f"{plots.slug(str(test), 40)}--{plots.slug(title, 50)}"
        path, n = base.with_suffix(".png"), 1
        while path in self._used:
            n += 1
            path = base.with_name(f"{base.name}-{n}.png")
        self._used.add(path)
        return path

    def _show(self, title: str, draw) -> plots.Plot:
        plot = self._data(title, lambda: draw(self._path(title)))
        self.info(plot.html(f"{plot.title} — {plot.path}"), html=True)
        return plot

    @staticmethod
    def _data(title: str, compute):
        try:
            return compute()
        except plots.PlotDataError as exc:
            raise HarnessConfigError(f"Cannot plot {title!r}: {exc}") from exc


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
