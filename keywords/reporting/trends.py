"""The trend page: one self-contained HTML file of the run history (data inline, no network).

For every figure, grouped by snapshot kind and scenario (with its parameters), its value over the runs, the
run's number, time and daemon build on hover, and a marker at each change point (:mod:`change_points`: red
for worse, green for better, grey for a figure without a direction); a search box filters the figures and the
tests. Below: each test's outcome per run (pass/fail/skip, its duration and message on hover), and the runs
with their build, commit, Node, machine and tag selection.

The page draws itself from the JSON in its ``<script id="history-data">`` with plain DOM and SVG (no library,
no network), so it opens from a file and in a headless browser. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keywords import checks
from keywords.reporting import change_points
from keywords.reporting.figures import field_figures
from keywords.reporting.run_records import now_iso
from keywords.reporting.run_store import HistoryStore


@dataclass(frozen=True)
class TrendPage:
    """A written trend page.

    Attributes:
        path: The HTML file.
        runs: Runs shown.
        metrics: Figures charted.
        points: Values charted in all.
        change_points: Change points marked.
        worse: Of those, change points for the worse.
        tests: Tests in the pass/fail history.
    """

    path: Path
    runs: int
    metrics: int
    points: int
    change_points: int
    worse: int
    tests: int

    def figures(self) -> dict[str, Any]:
        """The page's counts (camelCase)."""
        return {
            **field_figures(self, "runs", "metrics", "points", "change_points"),
            "worseChangePoints": self.worse,
            "tests": self.tests,
        }

    def line(self) -> str:
        """One line: where, and what it shows."""
        return (
            f"{self.path}: {self.runs} runs, {self.metrics} figures ({self.points} values), "
            f"{self.change_points} change points ({self.worse} worse), {self.tests} tests"
        )


def page_data(
    store: HistoryStore,
    *,
    last: int = 100,
    max_pvalue: float = change_points.MAX_PVALUE,
    min_magnitude: float = change_points.MIN_MAGNITUDE,
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (the ``last`` runs)."""
    last = checks.whole_number("last", last, low=1, high=10000)
    runs = store.runs(last=last)
    ids = [r.id for r in runs]
    groups: dict[str, list[dict[str, Any]]] = {}
    for key, points in store.series(ids).items():
        found = change_points.find(points, key.metric, max_pvalue=max_pvalue, min_magnitude=min_magnitude)
        groups.setdefault(key.group, []).append(
            {
                "kind": key.kind,
                "scenario": key.scenario,
                "metric": key.metric,
                "label": key.label,
                "better": change_points.better(key.metric),
                "points": [[p.run_id, _finite(p.value)] for p in points],
                "changePoints": [cp.to_dict() for cp in found],
            }
        )
    tests = [
        {
            "name": name,
            "results": {
                str(run_id): {"status": t.status, "durationMs": t.duration_ms, "message": t.message[:300]}
                for run_id, t in by_run.items()
            },
        }
        for name, by_run in store.tests(ids).items()
    ]
    return {
        "database": store.path.name,
        "generatedAt": now_iso(),
        "maxPvalue": max_pvalue,
        "minMagnitude": min_magnitude,
        "runs": [
            {
                "id": r.id,
                "startedAt": r.started_at,
                "status": r.status,
                "build": r.build,
                "commit": (r.git_commit or "")[:12] + (" (dirty)" if "uncommitted" in (r.git_commit or "") else ""),
                "node": r.node_version,
                "machine": r.machine,
                "name": r.name,
                "tags": r.tags,
                "passed": r.passed,
                "failed": r.failed,
                "skipped": r.skipped,
            }
            for r in runs
        ],
        "groups": [{"name": name, "metrics": metrics} for name, metrics in sorted(groups.items())],
        "tests": tests,
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def write(
    store: HistoryStore,
    path: str | Path,
    *,
    last: int = 100,
    max_pvalue: float = change_points.MAX_PVALUE,
    min_magnitude: float = change_points.MIN_MAGNITUDE,
) -> TrendPage:
    """Write the trend page of the ``last`` runs to ``path``."""
    data = page_data(store, last=last, max_pvalue=max_pvalue, min_magnitude=min_magnitude)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    metrics = [m for g in data["groups"] for m in g["metrics"]]
    cps = [cp for m in metrics for cp in m["changePoints"]]
    return TrendPage(
        path=path,
        runs=len(data["runs"]),
        metrics=len(metrics),
        points=sum(len(m["points"]) for m in metrics),
        change_points=len(cps),
        worse=sum(cp["direction"] == "worse" for cp in cps),
        tests=len(data["tests"]),
    )


def render(data: dict[str, Any]) -> str:
    """The HTML page of :func:`page_data`'s data."""
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    title = f"Run history — {html.escape(data['database'])}"
    return PAGE.replace("{title}", title).replace("{data}", blob)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 24px 40px; color: #222; }
h1 { font-size: 20px; margin: 18px 0 4px; } h2 { font-size: 16px; margin: 26px 0 8px; }
h3 { font-size: 14px; margin: 18px 0 6px; color: #333; border-bottom: 1px solid #ddd; }
#summary { color: #555; margin-bottom: 10px; }
#search { width: 420px; padding: 6px 8px; font-size: 14px; border: 1px solid #aaa; border-radius: 4px; }
.metrics { display: flex; flex-wrap: wrap; gap: 10px; }
.metric { border: 1px solid #ddd; border-radius: 6px; padding: 6px 8px; width: 330px; }
.metric .name { font-weight: 600; font-size: 13px; } .metric .sub { color: #666; font-size: 12px; }
.metric.worse { border-color: #d33; } .metric.better { border-color: #2a2; }
svg { display: block; } .axis { stroke: #bbb; } .line { fill: none; stroke: #2463b3; stroke-width: 1.5; }
.pt { fill: #2463b3; } .pt:hover { r: 5; } .lbl { font-size: 10px; fill: #777; }
.cp { stroke-width: 2; stroke-dasharray: 4 3; } .cp-worse { stroke: #d33; } .cp-better { stroke: #2a2; }
.cp-changed { stroke: #999; } .cptext { font-size: 10px; font-weight: 600; }
.cptext.cp-worse { fill: #d33; } .cptext.cp-better { fill: #2a2; } .cptext.cp-changed { fill: #777; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 3px 6px; }
th { background: #f4f4f4; } td.s { width: 18px; height: 16px; padding: 0; }
.s-passed { background: #5b5; } .s-failed { background: #d44; } .s-skipped { background: #ec5; }
.s-none { background: #f4f4f4; } .st-interrupted, .st-running { color: #b60; } .st-failed { color: #c22; }
#tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 7px;
  border-radius: 4px; font-size: 12px; display: none; max-width: 420px; white-space: pre-line; }
.hidden { display: none !important; }
</style></head>
<body>
<h1>{title}</h1>
<div id="summary"></div>
<input id="search" type="search" placeholder="Search figures and tests (kind, scenario, metric, test name)">
<h2>Figures over runs</h2>
<div id="groups"></div>
<h2>Pass/fail history per test</h2>
<div id="tests"></div>
<h2>Runs</h2>
<div id="runs"></div>
<div id="tip"></div>
<script type="application/json" id="history-data">{data}</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("history-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var runIndex = {}, runById = {};
  data.runs.forEach(function (r, i) { runIndex[r.id] = i; runById[r.id] = r; });
  var tip = document.getElementById("tip");
  function el(tag, attrs, text, ns) {
    var e = ns ? document.createElementNS(NS, tag) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) { return "n/a"; }
    var a = Math.abs(v);
    return a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.1 ? v.toFixed(2) : v.toPrecision(2);
  }
  function when(iso) { return (iso || "").replace("T", " ").slice(0, 19); }
  function short(text) {  // a build's long path as its last two parts; the full text is on hover
    return (text || "").split(" ").map(function (w) {
      var parts = w.split("/");
      return parts.length > 3 ? "…/" + parts.slice(-2).join("/") : w;
    }).join(" ");
  }
  function runText(id) {
    var r = runById[id] || {};
    return "run #" + id + " · " + when(r.startedAt) + "\\nbuild: " + (r.build || "?") +
      (r.commit ? "\\ncommit: " + r.commit : "");
  }
  function hover(node, text) {
    node.appendChild(el("title", {}, text, true));
    node.addEventListener("mousemove", function (ev) {
      tip.textContent = text; tip.style.display = "block";
      tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
    });
    node.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  }
  function chart(m) {
    var W = 330, H = 130, L = 44, R = 8, T = 14, B = 18;
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "chart"}, null, true);
    var vals = m.points.map(function (p) { return p[1]; }).filter(function (v) { return v !== null; });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (lo === hi) { lo = lo - (Math.abs(lo) || 1) * 0.1; hi = hi + (Math.abs(hi) || 1) * 0.1; }
    var n = Math.max(data.runs.length - 1, 1);
    function x(id) { return L + (W - L - R) * (runIndex[id] / n); }
    function y(v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); }
    svg.appendChild(el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, "class": "axis"}, null, true));
    svg.appendChild(el("line", {x1: L, y1: T, x2: L, y2: H - B, "class": "axis"}, null, true));
    svg.appendChild(el("text", {x: L - 4, y: T + 4, "text-anchor": "end", "class": "lbl"}, fmt(hi), true));
    svg.appendChild(el("text", {x: L - 4, y: H - B, "text-anchor": "end", "class": "lbl"}, fmt(lo), true));
    var first = data.runs.length ? data.runs[0].id : 0, lastId = data.runs.length ? data.runs[n].id : 0;
    svg.appendChild(el("text", {x: L, y: H - 4, "class": "lbl"}, "#" + first, true));
    svg.appendChild(el("text", {x: W - R, y: H - 4, "text-anchor": "end", "class": "lbl"}, "#" + lastId, true));
    m.changePoints.forEach(function (cp) {
      var cx = x(cp.runId), cls = "cp cp-" + cp.direction;
      var line = el("line", {x1: cx, y1: T - 6, x2: cx, y2: H - B, "class": cls}, null, true);
      var pct = cp.changePct === null ? "from 0" : (cp.changePct >= 0 ? "+" : "") + cp.changePct.toFixed(0) + "%";
      var right = cx > W - 60;
      var label = el("text", {x: right ? cx - 3 : cx + 3, y: T - 4, "text-anchor": right ? "end" : "start",
        "class": "cptext cp-" + cp.direction}, pct, true);
      var text = "change point (" + cp.direction + ") at " + runText(cp.runId) + "\\n" + fmt(cp.before) +
        " -> " + fmt(cp.after) + " (" + pct + ", p=" + cp.pvalue.toPrecision(2) + ")";
      hover(line, text); hover(label, text);
      svg.appendChild(line); svg.appendChild(label);
    });
    var d = m.points.filter(function (p) { return p[1] !== null; }).map(function (p, i) {
      return (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1);
    }).join(" ");
    svg.appendChild(el("path", {d: d, "class": "line"}, null, true));
    m.points.forEach(function (p) {
      if (p[1] === null) { return; }
      var c = el("circle", {cx: x(p[0]), cy: y(p[1]), r: 3, "class": "pt", "data-run": p[0]}, null, true);
      hover(c, m.metric + " = " + fmt(p[1]) + "\\n" + runText(p[0]));
      svg.appendChild(c);
    });
    return svg;
  }
  var groupsDiv = document.getElementById("groups"), nMetrics = 0, nWorse = 0;
  data.groups.forEach(function (g) {
    var section = el("section", {"class": "group"});
    section.appendChild(el("h3", {}, g.name));
    var box = el("div", {"class": "metrics"});
    g.metrics.forEach(function (m) {
      nMetrics += 1;
      var latest = m.points.length ? m.points[m.points.length - 1] : null;
      var last = m.changePoints.length ? m.changePoints[m.changePoints.length - 1] : null;
      var card = el("div", {"class": "metric" + (last ? " " + last.direction : ""),
        "data-search": (g.name + " " + m.label).toLowerCase(), "data-metric": m.label});
      card.appendChild(el("div", {"class": "name"}, m.metric));
      card.appendChild(el("div", {"class": "sub"}, m.points.length + " runs · latest " +
        (latest ? fmt(latest[1]) + " (run #" + latest[0] + ")" : "n/a") +
        (m.better ? " · " + m.better + " is better" : "") +
        (m.changePoints.length ? " · " + m.changePoints.length + " change point(s)" : "")));
      nWorse += m.changePoints.filter(function (c) { return c.direction === "worse"; }).length;
      card.appendChild(chart(m));
      box.appendChild(card);
    });
    section.appendChild(box);
    groupsDiv.appendChild(section);
  });
  if (!data.groups.length) { groupsDiv.textContent = "No figures recorded yet."; }
  var table = el("table", {id: "test-table"}), head = el("tr");
  head.appendChild(el("th", {}, "test"));
  data.runs.forEach(function (r) { head.appendChild(el("th", {title: runText(r.id)}, "#" + r.id)); });
  table.appendChild(head);
  data.tests.forEach(function (t) {
    var tr = el("tr", {"class": "test-row", "data-search": t.name.toLowerCase()});
    tr.appendChild(el("td", {}, t.name));
    data.runs.forEach(function (r) {
      var res = t.results[String(r.id)];
      var td = el("td", {"class": "s s-" + (res ? res.status : "none")});
      if (res) {
        td.title = runText(r.id) + "\\n" + res.status.toUpperCase() + " in " +
          (res.durationMs === null ? "?" : (res.durationMs / 1000).toFixed(2) + " s") +
          (res.message ? "\\n" + res.message : "");
      }
      tr.appendChild(td);
    });
    table.appendChild(tr);
  });
  document.getElementById("tests").appendChild(data.tests.length ? table : el("p", {}, "No tests recorded yet."));
  var runs = el("table", {id: "run-table"}), rh = el("tr");
  ["run", "started (UTC)", "status", "tests pass/fail/skip", "daemon build", "commit", "Node", "machine",
   "suite", "tags"].forEach(function (h) { rh.appendChild(el("th", {}, h)); });
  runs.appendChild(rh);
  data.runs.slice().reverse().forEach(function (r) {
    var tr = el("tr");
    var tags = [];
    if (r.tags && r.tags.include && r.tags.include.length) { tags.push("include " + r.tags.include.join(",")); }
    if (r.tags && r.tags.exclude && r.tags.exclude.length) { tags.push("exclude " + r.tags.exclude.join(",")); }
    [["#" + r.id], [when(r.startedAt)], [r.status, "st-" + r.status],
     [r.passed + "/" + r.failed + "/" + r.skipped], [short(r.build), "", r.build], [r.commit], [r.node],
     [r.machine], [r.name], [tags.join("; ")]].forEach(function (c) {
      var attrs = c[1] ? {"class": c[1]} : {};
      if (c[2]) { attrs.title = c[2]; }
      tr.appendChild(el("td", attrs, c[0]));
    });
    runs.appendChild(tr);
  });
  document.getElementById("runs").appendChild(runs);
  document.getElementById("summary").textContent = data.runs.length + " runs · " + nMetrics + " figures · " +
    nWorse + " change points for the worse · " + data.tests.length + " tests · change points by Apache Otava " +
    "(p ≤ " + data.maxPvalue + ", step ≥ " + (data.minMagnitude * 100).toFixed(0) + "%) · written " +
    when(data.generatedAt);
  document.getElementById("search").addEventListener("input", function (ev) {
    var q = ev.target.value.trim().toLowerCase();
    document.querySelectorAll(".metric, .test-row").forEach(function (n) {
      n.classList.toggle("hidden", q !== "" && n.getAttribute("data-search").indexOf(q) < 0);
    });
    document.querySelectorAll("section.group").forEach(function (s) {
      s.classList.toggle("hidden", !s.querySelector(".metric:not(.hidden)"));
    });
  });
  document.body.setAttribute("data-rendered", String(nMetrics));
})();
</script>
</body></html>
"""
