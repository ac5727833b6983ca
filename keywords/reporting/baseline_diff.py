"""Compare a run's snapshot with a saved baseline snapshot, metric by metric, with per-metric tolerances.

Usage::

    python -m keywords.compare <baseline.json> <current.json> [--tolerances file.json]
                               [--fail-on-regression] [--force] [--markdown out.md] [--json out.json]

Exit status: 0 compared (regressions are reported, not fatal); 1 regressions with ``--fail-on-regression``;
2 refused (the scenarios' parameters or the snapshot kind differ, without ``--force``) or unreadable input.

Snapshots of every readable format version compare with each other: upstream's version 1, this harness's
version 2 (whatever its key style: keys are read in camelCase, ``late_ms`` as ``lateMs``) and version 3.

What is compared: every numeric metric of every scenario found in both snapshots, flattened to dotted names
(``latency.p99``, ``failureCount``). Each metric has a direction (``lower`` is better, ``higher`` is better,
or ``info``: shown, never judged) and a tolerance: a change is within tolerance when
``|current - baseline| <= max(absolute, relative * |baseline|)``; beyond it, it is an improvement or a
regression according to the direction. A scenario that passed in the baseline and failed now is a regression.

Tolerance file (JSON; patterns are shell-style, matched against ``scenario/metric`` and ``metric``; the first
matching rule wins, then the built-in rules, then ``default``)::

    {"default": {"relative": 0.25, "absolute": 1.0},
     "rules": [{"match": "*.p99", "relative": 0.5, "absolute": 5},
               {"match": "burst-*/successCount", "direction": "higher", "relative": 0, "absolute": 0},
               {"match": "*/cycles", "direction": "info"}]}

Refusals and warnings: different scenario ``parameters`` (or snapshot ``kind``) make the numbers meaningless,
so the comparison is refused unless forced. Different daemon version/source, Node version, OS, CPU count or
model are shown prominently but never refused: comparing a branch build with the release is the main use.
"""

from __future__ import annotations

import argparse
import fnmatch
import html
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.errors import HarnessConfigError, HarnessError
from keywords.reporting import snapshot

DEFAULT_TOLERANCE = {"relative": 0.25, "absolute": 1.0}

# Built-in rules (after the file's rules): which way is better for the metric names suites use.
BUILTIN_RULES: list[dict[str, Any]] = [
    {"match": "*.count", "direction": "info"},
    {"match": "*.min", "direction": "info"},
    {"match": "*.max", "direction": "info"},
    {"match": "count", "direction": "info"},
    {"match": "*[Pp]er[Ss]ec*", "direction": "higher"},
    {"match": "*per_second*", "direction": "higher"},
    {"match": "*[Tt]hroughput*", "direction": "higher"},
    {"match": "*[Oo]ps*", "direction": "higher"},
    {"match": "*[Ss]uccess*", "direction": "higher", "relative": 0.0, "absolute": 0.0},
    {"match": "*[Rr]eceived*", "direction": "higher"},
    {"match": "*[Ff]ail*", "direction": "lower", "relative": 0.0, "absolute": 0.0},
    {"match": "*[Ee]rror*", "direction": "lower", "relative": 0.0, "absolute": 0.0},
    {"match": "min", "direction": "info"},
    {"match": "max", "direction": "info"},
    {"match": "p50", "direction": "lower"},
    {"match": "p90", "direction": "lower"},
    {"match": "p99", "direction": "lower"},
    {"match": "p999", "direction": "lower"},
    {"match": "mean", "direction": "lower"},
    {"match": "*.p50", "direction": "lower"},
    {"match": "*.p90", "direction": "lower"},
    {"match": "*.p99", "direction": "lower"},
    {"match": "*.p999", "direction": "lower"},
    {"match": "*.mean", "direction": "lower"},
    {"match": "*P50", "direction": "lower"},
    {"match": "*P90", "direction": "lower"},
    {"match": "*P99", "direction": "lower"},
    {"match": "*P999", "direction": "lower"},
    {"match": "*Mean", "direction": "lower"},
    {"match": "*Count", "direction": "info"},
    {"match": "*Min", "direction": "info"},
    {"match": "*Max", "direction": "info"},
    {"match": "*[Mm]s", "direction": "lower"},
    {"match": "*[Mm][Bb]", "direction": "lower"},
    {"match": "*[Rr]ss*", "direction": "lower"},
    {"match": "*[Ll]atency*", "direction": "lower"},
    {"match": "*", "direction": "info"},
]
DIRECTIONS = ("lower", "higher", "info", "ignore")
ENVIRONMENT_FIELDS = (
    ("daemon version", ("daemon", "version")),
    ("daemon source", ("daemon", "source")),
    ("daemon build", ("daemon", "label")),
    ("Node version", ("platform", "nodeVersion")),
    ("OS", ("platform", "os")),
    ("architecture", ("platform", "arch")),
    ("CPU count", ("platform", "cpuCount")),
    ("CPU model", ("platform", "cpuModel")),
)


class CompareError(HarnessError):
    """The snapshots cannot be compared: refused without ``force`` (parameters or kind differ), or bad input."""


class CompareInputError(CompareError, HarnessConfigError):
    """A snapshot or tolerance file is missing, not JSON, or malformed."""


@dataclass(frozen=True)
class Delta:
    """One metric of one scenario in both snapshots.

    Attributes:
        scenario: Scenario name.
        metric: Dotted metric name (``latency.p99``) or ``status``.
        baseline: Baseline value.
        current: Current value.
        verdict: ``regression``, ``improvement``, ``within`` (tolerance), ``changed`` (info metric) or ``same``.
        direction: ``lower``/``higher`` is better, or ``info``.
        allowed: The tolerance in the metric's unit.
    """

    scenario: str
    metric: str
    baseline: Any
    current: Any
    verdict: str
    direction: str
    allowed: float = 0.0

    @property
    def change(self) -> float | None:
        """current - baseline for numbers."""
        if _is_number(self.baseline) and _is_number(self.current):
            return float(self.current) - float(self.baseline)
        return None

    @property
    def change_pct(self) -> float | None:
        """Relative change in percent (``None`` when the baseline is 0 or not a number)."""
        change = self.change
        if change is None or not self.baseline:
            return None
        return change / abs(float(self.baseline)) * 100

    def line(self) -> str:
        """``burst/latency.p99: 31.0 -> 45.2 (+14.2, +46%; allowed ±7.8) regression``."""
        if self.change is None:
            return f"{self.scenario}/{self.metric}: {self.baseline!r} -> {self.current!r} {self.verdict}"
        pct = f", {self.change_pct:+.0f}%" if self.change_pct is not None else ""
        return (
            f"{self.scenario}/{self.metric}: {_fmt(self.baseline)} -> {_fmt(self.current)} "
            f"({self.change:+.4g}{pct}; allowed ±{self.allowed:.4g}) {self.verdict}"
        )


@dataclass
class BaselineComparison:
    """The result of comparing two snapshots.

    Attributes:
        baseline_path: Baseline file.
        current_path: Current file.
        kind: Snapshot kind.
        deltas: Every compared metric.
        warnings: Environment differences (daemon, Node, machine) and notes, shown prominently.
        refusals: Parameter or kind differences (the comparison went on only because it was forced).
        missing: Scenarios of the baseline absent from the current run.
        new: Scenarios only in the current run.
        forced: ``force`` was given.
    """

    baseline_path: str
    current_path: str
    kind: str | None
    deltas: list[Delta] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    forced: bool = False

    @property
    def regressions(self) -> list[Delta]:
        """Deltas judged worse beyond tolerance."""
        return [d for d in self.deltas if d.verdict == "regression"]

    @property
    def improvements(self) -> list[Delta]:
        """Deltas judged better beyond tolerance."""
        return [d for d in self.deltas if d.verdict == "improvement"]

    def summary(self) -> str:
        """One line: ``2 regressions · 1 improvement · 14 within tolerance · environment differs``."""
        within = sum(d.verdict in ("within", "same") for d in self.deltas)
        parts = [
            f"{len(self.regressions)} regression{'s' if len(self.regressions) != 1 else ''}",
            f"{len(self.improvements)} improvement{'s' if len(self.improvements) != 1 else ''}",
            f"{within} within tolerance",
        ]
        if self.missing:
            parts.append(f"{len(self.missing)} scenario(s) missing")
        if self.warnings:
            parts.append("environment differs")
        if self.refusals:
            parts.append("parameters differ (forced)")
        return " · ".join(parts)

    def text(self) -> str:
        """Plain-text report: warnings first, then regressions, improvements and the rest."""
        lines = [f"Baseline: {self.baseline_path}", f"Current:  {self.current_path}", self.summary()]
        for title, items in (("REFUSED (forced)", self.refusals), ("WARNING", self.warnings)):
            lines += [f"{title}: {item}" for item in items]
        lines += [f"MISSING scenario: {name}" for name in self.missing]
        lines += [f"NEW scenario: {name}" for name in self.new]
        order = {"regression": 0, "improvement": 1, "changed": 2, "within": 3, "same": 4}
        for delta in sorted(self.deltas, key=lambda d: order.get(d.verdict, 9)):
            lines.append(("!! " if delta.verdict == "regression" else "   ") + delta.line())
        return "\n".join(lines)

    def markdown(self) -> str:
        """Markdown report with a table of every metric."""
        lines = ["# Comparison with baseline", "", f"- Baseline: `{self.baseline_path}`"]
        lines += [f"- Current: `{self.current_path}`", f"- **{self.summary()}**", ""]
        for title, items in (("Refused (forced)", self.refusals), ("Warning", self.warnings)):
            lines += [f"> **{title}:** {item}" for item in items]
        lines += [f"> Missing scenario: {name}" for name in self.missing]
        lines += ["", "| scenario | metric | baseline | current | change | verdict |", "|---|---|---|---|---|---|"]
        for d in self.deltas:
            pct = f" ({d.change_pct:+.0f}%)" if d.change_pct is not None else ""
            change = f"{d.change:+.4g}{pct}" if d.change is not None else ""
            lines.append(
                f"| {d.scenario} | {d.metric} | {_fmt(d.baseline)} | {_fmt(d.current)} | {change} | {d.verdict} |"
            )
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """HTML for the Robot log: warnings in a highlighted box, a coloured table of metrics."""
        colors = {"regression": "#f8d0d0", "improvement": "#d4f4d4", "changed": "#fff3c4"}
        out = [f"<b>{html.escape(self.summary())}</b>"]
        notes = [f"REFUSED (forced): {r}" for r in self.refusals] + [f"WARNING: {w}" for w in self.warnings]
        notes += [f"Missing scenario: {m}" for m in self.missing]
        if notes:
            out.append(
                '<div style="border:2px solid #e0a000;background:#fff8e0;padding:4px;margin:4px 0">'
                + "<br>".join(html.escape(n) for n in notes)
                + "</div>"
            )
        out.append('<table border="1" cellspacing="0" cellpadding="3"><tr><th>scenario</th><th>metric</th>')
        out.append("<th>baseline</th><th>current</th><th>change</th><th>verdict</th></tr>")
        for d in self.deltas:
            pct = f" ({d.change_pct:+.0f}%)" if d.change_pct is not None else ""
            change = f"{d.change:+.4g}{pct}" if d.change is not None else ""
            bg = colors.get(d.verdict)
            style = f' style="background:{bg}"' if bg else ""
            cells = (d.scenario, d.metric, _fmt(d.baseline), _fmt(d.current), change, d.verdict)
            out.append(f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        out.append("</table>")
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "baseline": self.baseline_path,
            "current": self.current_path,
            "kind": self.kind,
            "summary": self.summary(),
            "warnings": self.warnings,
            "refusals": self.refusals,
            "missing": self.missing,
            "new": self.new,
            "deltas": [
                {
                    "scenario": d.scenario,
                    "metric": d.metric,
                    "baseline": d.baseline,
                    "current": d.current,
                    "change": d.change,
                    "verdict": d.verdict,
                    "direction": d.direction,
                    "allowed": d.allowed,
                }
                for d in self.deltas
            ],
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if _is_number(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    return "—" if value is None else json.dumps(value)


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Numeric, boolean and string leaves of nested metrics with dotted names (lists are skipped)."""
    out: dict[str, Any] = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif value is None or isinstance(value, (int, float, str, bool)):
            out[name] = value
    return out


def load_tolerances(path: str | Path | None) -> dict[str, Any]:
    """Read and check a tolerance file (see the module doc); ``None`` gives the defaults."""
    if not path:
        return {"default": dict(DEFAULT_TOLERANCE), "rules": []}
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CompareInputError(f"Cannot read the tolerance file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise CompareInputError(f"{path}: a tolerance file is a JSON object with 'default' and 'rules'.")
    default = {**DEFAULT_TOLERANCE, **(doc.get("default") or {})}
    rules = doc.get("rules") or []
    for i, rule in enumerate([default, *rules]):
        where = "default" if i == 0 else f"rules[{i - 1}]"
        if i and not isinstance(rule.get("match"), str):
            raise CompareInputError(f"{path}: {where} needs a 'match' pattern, e.g. \"*.p99\".")
        if rule.get("direction") not in (None, *DIRECTIONS):
            raise CompareInputError(f"{path}: {where} direction {rule['direction']!r} is not one of {DIRECTIONS}.")
        for key in ("relative", "absolute"):
            if key in rule and (not _is_number(rule[key]) or rule[key] < 0):
                raise CompareInputError(f"{path}: {where} {key} must be a number >= 0, got {rule[key]!r}.")
    return {"default": default, "rules": rules}


def rule_for(scenario: str, metric: str, tolerances: dict[str, Any]) -> dict[str, Any]:
    """Direction and tolerance of one metric: the first matching file rule, then built-in rules, then default."""
    names = (f"{scenario}/{metric}", metric)
    resolved: dict[str, Any] = {}
    for rule in [*tolerances["rules"], *BUILTIN_RULES]:
        if any(fnmatch.fnmatchcase(n, rule["match"]) for n in names):
            for key in ("direction", "relative", "absolute"):
                if key in rule and key not in resolved:
                    resolved[key] = rule[key]
            if len(resolved) == 3:
                break
    return {**tolerances["default"], **resolved}


def judge(baseline: Any, current: Any, rule: dict[str, Any]) -> tuple[str, float]:
    """Verdict and allowed change for one metric."""
    if baseline == current:
        return "same", 0.0
    if not (_is_number(baseline) and _is_number(current)):
        return "changed", 0.0
    allowed = max(float(rule["absolute"]), float(rule["relative"]) * abs(float(baseline)))
    change = float(current) - float(baseline)
    if rule["direction"] in ("info", "ignore") or abs(change) <= allowed:
        return ("changed" if rule["direction"] in ("info", "ignore") else "within"), allowed
    worse = change > 0 if rule["direction"] == "lower" else change < 0
    return ("regression" if worse else "improvement"), allowed


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = doc
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def compare(
    baseline: dict[str, Any],
    current: dict[str, Any],
    tolerances: dict[str, Any] | None = None,
    force: bool = False,
    baseline_path: str = "baseline",
    current_path: str = "current",
) -> BaselineComparison:
    """Compare two loaded snapshots (see :func:`keywords.reporting.snapshot.load`).

    Raises:
        CompareError: parameters or kind differ and ``force`` is false.
    """
    tolerances = tolerances or load_tolerances(None)
    result = BaselineComparison(baseline_path, current_path, current.get("kind") or baseline.get("kind"), forced=force)
    if baseline.get("kind") and current.get("kind") and baseline["kind"] != current["kind"]:
        result.refusals.append(f"snapshot kind differs: baseline {baseline['kind']!r}, current {current['kind']!r}")
    for label, path in ENVIRONMENT_FIELDS:
        old, new = _get(baseline, path), _get(current, path)
        if old is not None and new is not None and old != new:
            result.warnings.append(f"{label} differs: baseline {old}, current {new}")
        elif old != new:
            result.warnings.append(f"{label} unknown in one snapshot: baseline {old}, current {new}")
    if baseline.get("version") != current.get("version"):
        result.warnings.append(
            f"snapshot format differs: baseline version {baseline.get('version')}, "
            f"current version {current.get('version')} (older files carry fewer facts)"
        )
    old_by_name = {sc["name"]: sc for sc in baseline.get("scenarios", [])}
    new_by_name = {sc["name"]: sc for sc in current.get("scenarios", [])}
    result.missing = [name for name in old_by_name if name not in new_by_name]
    result.new = [name for name in new_by_name if name not in old_by_name]
    for name, old in old_by_name.items():
        new = new_by_name.get(name)
        if new is None:
            continue
        old_params, new_params = old.get("parameters"), new.get("parameters")
        if old_params is not None and new_params is not None and old_params != new_params:
            keys = sorted(set(old_params) | set(new_params))
            diff = ", ".join(
                f"{k}: {old_params.get(k)!r} -> {new_params.get(k)!r}"
                for k in keys
                if old_params.get(k) != new_params.get(k)
            )
            result.refusals.append(f"scenario {name!r} ran with different parameters ({diff})")
        elif (old_params is None) != (new_params is None):
            result.warnings.append(f"scenario {name!r}: parameters recorded in only one snapshot; not checked")
        if old.get("status") != new.get("status"):
            verdict = "regression" if old.get("status") == "passed" else "changed"
            if new.get("status") == "passed":
                verdict = "improvement"
            result.deltas.append(Delta(name, "status", old.get("status"), new.get("status"), verdict, "info"))
        old_metrics, new_metrics = flatten(old.get("metrics") or {}), flatten(new.get("metrics") or {})
        for metric in [m for m in old_metrics if m in new_metrics]:
            rule = rule_for(name, metric, tolerances)
            if rule["direction"] == "ignore":
                continue
            verdict, allowed = judge(old_metrics[metric], new_metrics[metric], rule)
            result.deltas.append(
                Delta(name, metric, old_metrics[metric], new_metrics[metric], verdict, rule["direction"], allowed)
            )
    if result.refusals and not force:
        raise CompareError(
            "Refusing to compare: "
            + "; ".join(result.refusals)
            + ". The figures would not mean the same thing; pass force (--force) to compare anyway."
        )
    return result


def compare_files(
    baseline: str | Path, current: str | Path, tolerances: str | Path | None = None, force: bool = False
) -> BaselineComparison:
    """Load two snapshot files (any supported version) and compare them."""
    docs = []
    for path in (baseline, current):
        try:
            docs.append(snapshot.load(Path(path)))
        except snapshot.SnapshotError as exc:
            raise CompareInputError(str(exc)) from exc
    return compare(docs[0], docs[1], load_tolerances(tolerances), force, str(baseline), str(current))


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module doc)."""
    parser = argparse.ArgumentParser(
        prog="python -m keywords.compare",
        description="Compare a run's snapshot with a baseline snapshot.",
    )
    parser.add_argument("baseline", help="saved baseline snapshot (JSON, format version 1, 2 or 3)")
    parser.add_argument("current", help="this run's snapshot (JSON)")
    parser.add_argument("--tolerances", help="JSON file of per-metric tolerances and directions")
    parser.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a metric regressed")
    parser.add_argument("--force", action="store_true", help="compare even when scenario parameters differ")
    parser.add_argument("--markdown", help="also write the report as Markdown to this file")
    parser.add_argument("--json", help="also write the report as JSON to this file")
    args = parser.parse_args(argv)
    try:
        result = compare_files(args.baseline, args.current, args.tolerances, args.force)
    except CompareError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    print(result.text())
    if args.markdown:
        Path(args.markdown).write_text(result.markdown())
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    if args.fail_on_regression and result.regressions:
        print(f"compare: {len(result.regressions)} regression(s) beyond tolerance.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
