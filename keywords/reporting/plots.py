"""Plots for the Robot log: PNG images drawn with matplotlib (Agg, no display) and embedded as ``data:`` URIs.

Every function draws one figure on a fresh :class:`matplotlib.figure.Figure` (no pyplot global state, so it is
safe from any thread), writes the PNG to ``path`` and returns a :class:`Plot` with the bytes, so a keyword
can put ``<img src="data:image/png;base64,...">`` in ``log.html`` and the log stays one self-contained file.

Latency figures come from :mod:`keywords.measure.metrics` (the one way figures are computed); this module only
draws, and derives plot inputs from results (:func:`latency_values`, :func:`event_times`, :func:`auto_bin_seconds`,
:func:`spectrum_bars`), so that no suite computes them inline.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from keywords import checks
from keywords.errors import HarnessConfigError
from keywords.measure import metrics

WIDTH_IN, HEIGHT_IN, DPI = 7.0, 3.6, 100
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


EVENT_RATE_BINS = 30  # automatic bins of an event rate: a thirtieth of the events' span...
MIN_BIN_S = 0.001  # ...but at least 1 ms


class PlotDataError(HarnessConfigError):
    """The data cannot be drawn (no values, lengths differ, not numbers)."""


@dataclass(frozen=True)
class Plot:
    """One drawn plot.

    Attributes:
        title: Title drawn on the figure.
        path: Where the PNG was written.
        png: The PNG bytes.
        width: Width in pixels.
        height: Height in pixels.
    """

    title: str
    path: Path
    png: bytes
    width: int
    height: int

    def data_uri(self) -> str:
        """``data:image/png;base64,...`` of the PNG."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def html(self, caption: str = "") -> str:
        """An ``<img>`` element (with a class and alt text the browser test looks for) and an optional caption."""
        alt = html.escape(self.title, quote=True)
        img = (
            f'<img class="qs-plot" alt="{alt}" src="{self.data_uri()}" '
            f'width="{self.width}" height="{self.height}" style="max-width:100%;height:auto">'
        )
        cap = f"<div>{html.escape(caption)}</div>" if caption else ""
        return f"<div>{img}{cap}</div>"


def slug(text: str, limit: int = 60) -> str:
    """File-name-safe lower-case form of ``text``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:limit] or "plot"


def _numbers(values: Sequence, what: str) -> list[float]:
    """Finite numbers through the one validator (:func:`keywords.checks.number`), as a :class:`PlotDataError`."""
    try:
        return [checks.number(f"{what}[{i}]", v, low=-math.inf) for i, v in enumerate(values)]
    except HarnessConfigError as exc:
        raise PlotDataError(str(exc).replace(" from -inf", "").replace(" -inf or more", "")) from exc


def _figure(title: str) -> tuple[Figure, object]:
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Figure, title: str, path: Path) -> Plot:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    png = path.read_bytes()
    width, height = round(WIDTH_IN * DPI), round(HEIGHT_IN * DPI)
    return Plot(title=title, path=path, png=png, width=width, height=height)


def latency_distribution(
    values_ms: Sequence[float], title: str, path: Path, bound_ms: float | None = None, unit: str = "ms"
) -> Plot:
    """Histogram of latencies with p50, p90 and p99 (from :func:`keywords.measure.metrics.summarize`) marked.

    Args:
        values_ms: Latencies.
        title: Figure title.
        path: PNG file to write.
        bound_ms: A bound to draw as a red dashed line (e.g. the p99 bound).
        unit: Axis unit.
    """
    values = _numbers(values_ms, "values")
    if not values:
        raise PlotDataError("No latency values to plot.")
    summary = metrics.summarize(values)
    fig, ax = _figure(title)
    bins = max(5, min(50, int(math.sqrt(len(values)) * 2)))
    ax.hist(values, bins=bins, color=COLORS[0], alpha=0.75, edgecolor="white")
    for label, value, color in (("p50", summary.p50, COLORS[2]), ("p90", summary.p90, COLORS[1])):
        ax.axvline(value, color=color, linestyle="-", linewidth=1.5, label=f"{label} {value:.1f} {unit}")
    ax.axvline(summary.p99, color=COLORS[4], linestyle="-", linewidth=1.5, label=f"p99 {summary.p99:.1f} {unit}")
    if bound_ms is not None:
        ax.axvline(float(bound_ms), color=COLORS[3], linestyle="--", linewidth=1.5, label=f"bound {bound_ms:g} {unit}")
    ax.set_xlabel(f"latency ({unit})")
    ax.set_ylabel("count")
    ax.legend(fontsize=8, title=f"n={summary.count}", title_fontsize=8)
    return _save(fig, title, path)


def series(
    x: Sequence[float],
    y: Sequence[float],
    title: str,
    path: Path,
    xlabel: str = "time (s)",
    ylabel: str = "",
    markers: Sequence[tuple[float, str]] = (),
    label: str = "",
    step: bool = False,
    extra: dict[str, Sequence[float]] | None = None,
) -> Plot:
    """A line over time (RSS, events per second...) with labelled vertical markers (e.g. session counts).

    Args:
        x: Positions (seconds since start, for example).
        y: Values, as many as ``x``.
        title: Figure title.
        path: PNG file to write.
        xlabel: X axis label.
        ylabel: Y axis label.
        markers: ``(x, label)`` pairs drawn as dotted vertical lines with their label.
        label: Legend entry for the line.
        step: Draw as steps (for rates per bin).
        extra: More lines over the same ``x``: legend label to values (e.g. ``{"whole tree": [...]}``).
    """
    xs, ys = _numbers(x, "x"), _numbers(y, "y")
    if not xs:
        raise PlotDataError("No points to plot.")
    if len(xs) != len(ys):
        raise PlotDataError(f"x has {len(xs)} values but y has {len(ys)}; they must match.")
    lines = {label: ys}
    for name, values in (extra or {}).items():
        nums = _numbers(values, str(name))
        if len(nums) != len(xs):
            raise PlotDataError(f"Line {name!r} has {len(nums)} values but x has {len(xs)}; they must match.")
        lines[str(name)] = nums
    fig, ax = _figure(title)
    for i, (name, values) in enumerate(lines.items()):
        color = COLORS[i % len(COLORS)]
        if step:
            ax.step(xs, values, where="post", color=color, label=name or None)
        else:
            ax.plot(xs, values, color=color, marker="." if len(xs) <= 60 else None, label=name or None)
    top = max(max(values) for values in lines.values())
    for i, (mx, text) in enumerate(markers):
        mx = float(mx)
        ax.axvline(mx, color=COLORS[3], linestyle=":", linewidth=1.2)
        ax.annotate(
            str(text),
            (mx, top),
            xytext=(3, -12 - 11 * (i % 3)),
            textcoords="offset points",
            fontsize=8,
            color=COLORS[3],
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if label or extra:
        ax.legend(fontsize=8)
    return _save(fig, title, path)


def rate_per_second(times_s: Sequence[float], bin_s: float = 1.0) -> tuple[list[float], list[float]]:
    """Events per second from event times (seconds): ``(bin starts, events per second in each bin)``.

    Args:
        times_s: When each event arrived, in seconds from any origin (sorted or not).
        bin_s: Bin width in seconds (> 0).
    """
    if bin_s <= 0:
        raise PlotDataError(f"bin_s must be > 0, got {bin_s!r}.")
    times = sorted(_numbers(times_s, "times"))
    if not times:
        return [], []
    start = times[0]
    count = int((times[-1] - start) // bin_s) + 1
    bins = [0] * count
    for t in times:
        bins[min(int((t - start) // bin_s), count - 1)] += 1
    return [round(i * bin_s, 6) for i in range(count)], [b / bin_s for b in bins]


def bars(
    labels: Sequence[str],
    groups: dict[str, Sequence[float]],
    title: str,
    path: Path,
    ylabel: str = "ms",
) -> Plot:
    """Grouped bars: one group per label, one bar per series (e.g. ``{"daemon": [...], "CLI": [...]}``).

    Args:
        labels: Group names (x axis), e.g. ``["p50", "p99"]`` or scenario names.
        groups: Series name to values, one value per label.
        title: Figure title.
        path: PNG file to write.
        ylabel: Y axis label.
    """
    names = [str(label) for label in labels]
    if not names or not groups:
        raise PlotDataError("Bars need at least one label and one series.")
    data = {}
    for name, values in groups.items():
        nums = _numbers(values, f"{name}")
        if len(nums) != len(names):
            raise PlotDataError(f"Series {name!r} has {len(nums)} values for {len(names)} labels; they must match.")
        data[str(name)] = nums
    fig, ax = _figure(title)
    width = 0.8 / len(data)
    for i, (name, nums) in enumerate(data.items()):
        xs = [j + (i - (len(data) - 1) / 2) * width for j in range(len(names))]
        drawn = ax.bar(xs, nums, width=width, label=name, color=COLORS[i % len(COLORS)])
        ax.bar_label(drawn, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _save(fig, title, path)


# -- plot inputs derived from results -----------------------------------------------------------------------
def latency_values(source: Any) -> list[float]:
    """The raw latencies (ms) of a result, or the numbers of a list.

    A result gives them by ``latencies_ms()`` (e.g. a flow batch: the times of its correct flows) or, as a
    :class:`keywords.measure.metrics.LatencyRecorder`, by its kept ``values_ms``.

    Raises:
        PlotDataError: ``source`` is none of these, or a value is not a finite number.
    """
    if callable(getattr(source, "latencies_ms", None)):
        values = source.latencies_ms()
    elif isinstance(source, metrics.LatencyRecorder):
        values = source.values_ms
    elif isinstance(source, (list, tuple)):
        values = source
    else:
        raise PlotDataError(
            f"Expected latencies: a list of numbers (ms), a result with latencies_ms() or a latency recorder; "
            f"got a {type(source).__name__}."
        )
    return _numbers(list(values), "latencies")


def event_times(source: Any) -> list[float]:
    """Arrival times (s) of a stream's frames (``_recv_ms`` of each kept frame), or the numbers of a list."""
    if isinstance(getattr(source, "events", None), list):
        return [env["_recv_ms"] / 1000 for env in source.events if isinstance(env, dict) and "_recv_ms" in env]
    return _numbers(list(source), "times")


def auto_bin_seconds(times_s: Sequence[float], bins: int = EVENT_RATE_BINS, minimum_s: float = MIN_BIN_S) -> float:
    """Bin width for an event rate: the events' span over ``bins`` (at least ``minimum_s``), so a stream that
    lasts a fraction of a second still shows its shape; 1 s for fewer than two events."""
    times = _numbers(times_s, "times")
    if len(times) < 2:
        return 1.0
    return max(minimum_s, round((max(times) - min(times)) / bins, 4))


def percentile_label(percentile: float) -> str:
    """``p50``, ``p99.9`` ... and ``max`` for 100."""
    return "max" if float(percentile) == 100 else f"p{float(percentile):g}"


def spectrum_bars(spectra: dict[str, Sequence[Sequence[float]]]) -> tuple[list[str], dict[str, list[float]]]:
    """Bar labels and series from percentile spectra (``[[percentile, ms], ...]`` each, same percentiles).

    Raises:
        PlotDataError: no spectrum, a pair that is not ``[percentile, ms]``, or spectra of different percentiles.
    """
    if not spectra:
        raise PlotDataError("No percentile spectrum to plot.")
    labels: list[str] | None = None
    groups: dict[str, list[float]] = {}
    for name, pairs in spectra.items():
        if any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in pairs):
            raise PlotDataError(f"Spectrum {name!r} must be a list of [percentile, ms] pairs, got {pairs!r:.80}.")
        these = [percentile_label(p) for p in _numbers([p for p, _ in pairs], f"{name} percentiles")]
        if labels is not None and these != labels:
            raise PlotDataError(f"Spectrum {name!r} has percentiles {these}, the first one {labels}; they must match.")
        labels = these
        groups[str(name)] = _numbers([ms for _, ms in pairs], str(name))
    return labels or [], groups
