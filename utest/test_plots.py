"""Plots: PNGs are written, decode to the expected size, and embed as data URIs; bad data is refused clearly."""

from __future__ import annotations

import base64
import io

import pytest
from matplotlib import image as mpimg

from keywords.errors import HarnessConfigError
from keywords.measure import metrics
from keywords.reporting import plots


def decode(png: bytes):
    return mpimg.imread(io.BytesIO(png), format="png")


def test_latency_distribution_writes_a_png_of_the_declared_size(tmp_path):
    plot = plots.latency_distribution([10, 12, 11, 15, 40, 13, 12], "burst of 7", tmp_path / "lat.png", bound_ms=30)
    assert plot.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = decode(plot.png)
    assert pixels.shape[:2] == (plot.height, plot.width)
    assert pixels.std() > 0.01  # something was drawn, not a blank canvas


def test_html_embeds_the_same_png_as_a_data_uri(tmp_path):
    plot = plots.latency_distribution([1.0, 2.0, 3.0], "t", tmp_path / "a.png")
    html = plot.html("caption <b>")
    assert 'class="qs-plot"' in html and "caption &lt;b&gt;" in html
    encoded = html.split("data:image/png;base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(encoded) == plot.png


def test_series_with_markers_and_extra_lines(tmp_path):
    plot = plots.series(
        [0, 1, 2, 3],
        [100, 110, 150, 160],
        "RSS over time",
        tmp_path / "rss.png",
        ylabel="MB",
        markers=[(0, "1 session"), (2, "5 sessions")],
        label="daemon",
        extra={"whole tree": [200, 220, 300, 310]},
    )
    assert decode(plot.png).shape[:2] == (plot.height, plot.width)


def test_bars_group_series_per_label(tmp_path):
    plot = plots.bars(["p50", "p99"], {"daemon": [12, 31], "CLI": [900, 1400]}, "daemon vs CLI", tmp_path / "b.png")
    assert decode(plot.png).shape[:2] == (plot.height, plot.width)


def test_rate_per_second_bins_event_times():
    xs, rates = plots.rate_per_second([0.0, 0.1, 0.2, 1.5, 2.9, 2.95], bin_s=1.0)
    assert xs == [0.0, 1.0, 2.0]
    assert rates == [3.0, 1.0, 2.0]
    assert plots.rate_per_second([], 1.0) == ([], [])
    xs, rates = plots.rate_per_second([5.0, 5.05, 5.25], bin_s=0.1)
    assert sum(r * 0.1 for r in rates) == pytest.approx(3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: plots.latency_distribution([], "t", p), "No latency values"),
        (lambda p: plots.latency_distribution([1, "fast"], "t", p), "values[1] must be a number, got 'fast'"),
        (lambda p: plots.series([0, 1], [1], "t", p), "x has 2 values but y has 1"),
        (lambda p: plots.series([0, 1], [1, 2], "t", p, extra={"tree": [1]}), "Line 'tree' has 1 values"),
        (lambda p: plots.bars(["a", "b"], {"d": [1]}, "t", p), "Series 'd' has 1 values for 2 labels"),
        (lambda p: plots.series([0, float("nan")], [1, 2], "t", p), "x[1] must be a number, got nan"),
        (lambda p: plots.rate_per_second([1.0], 0), "bin_s must be > 0"),
    ],
)
def test_bad_data_is_refused_with_a_clear_message(tmp_path, call, message):
    with pytest.raises(plots.PlotDataError, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        call(tmp_path / "x.png")
    assert isinstance(caught.value, HarnessConfigError)


def test_slug_makes_file_names_safe():
    assert plots.slug("Burst 10 + 3 prompts / p99") == "burst-10-3-prompts-p99"
    assert plots.slug("***") == "plot"


# -- plot inputs from results ------------------------------------------------------------------------------
class Batch:
    def latencies_ms(self):
        return [12.0, 15.0]


def test_latency_values_from_a_list_a_result_or_a_recorder():
    assert plots.latency_values([1, "2.5"]) == [1.0, 2.5]
    assert plots.latency_values(Batch()) == [12.0, 15.0]
    assert plots.latency_values(metrics.LatencyRecorder().record_all_ms([3.0, 4.0])) == [3.0, 4.0]
    with pytest.raises(plots.PlotDataError, match="got a dict"):
        plots.latency_values({"p50": 1})


def test_flow_batch_gives_the_times_of_its_correct_flows():
    from keywords.traffic.flows import FlowBatch, FlowRecord, FlowTurn

    turn = FlowTurn("p0", "completed", "end_turn", "p0", chunks=0, session_updates=1, prompt_ms=1.0, turn_ms=30.0)
    good = FlowRecord(0, session_id="s0", turns=[turn], close_status=204, after_close_status=404, total_ms=40.0)
    timed_out = FlowTurn("p1", "timeout", None, None, chunks=0, session_updates=0, prompt_ms=1.0, turn_ms=None)
    broken = FlowRecord(1, session_id="s1", turns=[timed_out], total_ms=90.0)
    batch = FlowBatch("sequential", [good, broken], wall_ms=130.0, chunks=0)
    assert batch.latencies_ms() == [40.0] == plots.latency_values(batch)
    assert batch.latency.count == 1


class Stream:
    events = [{"_recv_ms": 0.0}, {"type": "x"}, {"_recv_ms": 300.0}, {"_recv_ms": 600.0}]


def test_event_times_and_automatic_bins():
    assert plots.event_times(Stream()) == [0.0, 0.3, 0.6]
    assert plots.event_times([1, 2]) == [1.0, 2.0]
    assert plots.auto_bin_seconds([0.0, 0.3, 0.6]) == pytest.approx(0.02)  # a thirtieth of the span
    assert plots.auto_bin_seconds([0.0, 0.00001]) == 0.001  # at least 1 ms
    assert plots.auto_bin_seconds([5.0]) == 1.0


def test_spectrum_bars_label_percentiles_and_refuse_mismatches():
    response = [[50.0, 8.0], [99.9, 15.0], [100.0, 16.0]]
    service = [[50.0, 7.0], [99.9, 14.0], [100.0, 15.0]]
    labels, groups = plots.spectrum_bars({"response": response, "service": service})
    assert labels == ["p50", "p99.9", "max"]
    assert groups == {"response": [8.0, 15.0, 16.0], "service": [7.0, 14.0, 15.0]}
    with pytest.raises(plots.PlotDataError, match="percentiles"):
        plots.spectrum_bars({"response": response, "service": service[:2]})
    with pytest.raises(plots.PlotDataError, match=r"\[percentile, ms\] pairs"):
        plots.spectrum_bars({"response": [1, 2]})
    with pytest.raises(plots.PlotDataError, match="No percentile spectrum"):
        plots.spectrum_bars({})
