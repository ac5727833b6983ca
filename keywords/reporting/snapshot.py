"""Per-suite JSON and Markdown snapshots in upstream's shape (extended), safe under pabot.

Shape (``version`` 3; upstream's version 1 and this harness's version 2 still read)::

    {"version": 3, "kind": "loadtest-report", "capturedAt": ISO, "gitCommit": sha|null,
     "platform": {"os", "arch", "nodeVersion", "python", "cpuCount", "cpuModel"},
     "daemon": {"version", "source", "label"}, "method": {...how figures were measured...},
     "scenarios": [{"name", "status": "passed"|"failed"|"skipped", "durationMs", "error"?, "parameters"?,
                    "metrics"}]}

Version 3 has one key style: camelCase at every depth of ``metrics`` and ``parameters`` (as upstream's
snapshots); version 2 files mixed ``late_ms`` with ``evictionMs``. Keys are converted with
:func:`keywords.reporting.figures.camelize` when a scenario is written and when an older file is read, so a
comparison of a version 2 baseline with a version 3 run matches its metrics. The kinds, their titles and
their JSON Schemas are in :mod:`keywords.reporting.kinds`.

``parameters`` holds the scenario's inputs (burst size, chunks, mock delay...) so that a comparison can refuse
snapshots taken with different inputs.

Each process writes its own part (``<kind>.<pool id>.part.json`` under pabot) plus the merged
``<kind>.json``/``.md`` of every part in the folder, so the last writer leaves a complete merged snapshot.

A run's first write into a folder clears what earlier runs left there (:func:`claim_folder`): their snapshot
parts, the merged ``<kind>.json``/``.md`` of every kind and the PNGs under ``plots/``, so no file of an old run
survives beside a new report and disagrees with it. Each process of a pabot run writes into a folder of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.errors import HarnessConfigError
from keywords.reporting import kinds
from keywords.reporting.figures import camelize, shown

FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, FORMAT_VERSION)
_CLAIMED: set[Path] = set()


def claim_folder(directory: Path) -> list[Path]:
    """At this process's first write into ``directory``, remove the files earlier runs left there.

    Removed: every snapshot part (``*.part.json``), the merged ``<kind>.json`` and ``<kind>.md`` of every
    registered kind, and the plots (``plots/*.png``). Later calls for the same folder remove nothing, so the
    parts and plots of this run accumulate.

    Returns:
        The files removed (empty after the first call for a folder).
    """
    folder = Path(directory).resolve()
    if folder in _CLAIMED:
        return []
    _CLAIMED.add(folder)
    stale = [*folder.glob("*.part.json"), *(folder / "plots").glob("*.png")]
    for kind in kinds.KINDS:
        stale += [folder / f"{kind}.json", folder / f"{kind}.md"]
    removed = []
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


class SnapshotError(HarnessConfigError):
    """A snapshot file cannot be read: missing, not JSON, or of a format version this harness does not read."""


@dataclass
class Scenario:
    """One scenario's record in a snapshot."""

    name: str
    status: str = "passed"
    duration_ms: float = 0.0
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``error`` and ``parameters`` only when set; snake_case keys in camelCase, see the module doc)."""
        out: dict[str, Any] = {"name": self.name, "status": self.status, "durationMs": round(self.duration_ms, 1)}
        if self.error:
            out["error"] = self.error
        if self.parameters is not None:
            out["parameters"] = camelize(self.parameters)
        out["metrics"] = camelize(self.metrics)
        return out


def git(*args: str, cwd: str | os.PathLike | None = None) -> str | None:
    """Stdout of ``git <args>`` in the harness checkout (stripped), or ``None`` when git fails."""
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, cwd=cwd or Path(__file__).parent, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_head(cwd: str | os.PathLike | None = None) -> str | None:
    """``git rev-parse HEAD`` of the harness checkout, or ``None``."""
    return git("rev-parse", "HEAD", cwd=cwd) or None


def platform_info(node_version: str | None = None) -> dict[str, Any]:
    """OS, architecture, Node and Python versions, CPU count and model."""
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "os": platform.system().lower(),
        "arch": platform.machine(),
        "nodeVersion": node_version,
        "python": platform.python_version(),
        "cpuCount": os.cpu_count(),
        "cpuModel": model,
    }


class Snapshot:
    """Scenarios of one kind (``loadtest-report``, ``perf-baseline``...) written to ``<dir>/<kind>.json``/``.md``.

    Args:
        kind: File base name and the ``kind`` field (a kind of :mod:`keywords.reporting.kinds`).
        title: Markdown title (default: the kind's title in the registry).
        header: Run facts (platform, daemon, method...) merged into the top level.
    """

    def __init__(self, kind: str, title: str | None, header: dict[str, Any]) -> None:
        self.kind = kind
        self.title = title or kinds.title(kind)
        self.header = header
        self.captured_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        self.scenarios: list[Scenario] = []

    def add(self, scenario: Scenario) -> Scenario:
        """Add (or replace, by name) a scenario."""
        self.scenarios = [s for s in self.scenarios if s.name != scenario.name] + [scenario]
        return scenario

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "capturedAt": self.captured_at,
            **self.header,
            "scenarios": [s.to_dict() for s in self.scenarios],
        }

    def write(self, directory: Path, part_id: str = "main") -> Path:
        """Write this process's part and the merged JSON/Markdown of all parts; returns the JSON path.

        Args:
            directory: Output folder (Robot's output directory).
            part_id: Name of this process's part (pabot's queue index, else ``main``).
        """
        directory.mkdir(parents=True, exist_ok=True)
        claim_folder(directory)
        part = directory / f"{self.kind}.{part_id}.part.json"
        _write_text(part, dumps(self.to_dict()))
        with open(directory / f".{self.kind}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = merge_parts(sorted(directory.glob(f"{self.kind}.*.part.json")))
            target = directory / f"{self.kind}.json"
            _write_text(target, dumps(merged))
            _write_text(directory / f"{self.kind}.md", markdown(merged, self.title))
        return target


def merge_parts(paths: list[Path]) -> dict[str, Any]:
    """Merge snapshot parts: header of the first, scenarios of all (later parts win on equal names)."""
    merged: dict[str, Any] | None = None
    scenarios: dict[str, dict] = {}
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            doc = load(path)
            if merged is None:
                merged = {k: v for k, v in doc.items() if k != "scenarios"}
            for sc in doc.get("scenarios", []):
                scenarios[sc["name"]] = sc
    merged = merged or {"version": FORMAT_VERSION}
    merged["scenarios"] = list(scenarios.values())
    return merged


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a snapshot of any supported version, its figure keys in camelCase.

    Version 1 is upstream's (no ``kind`` field: the kind is the file's name when that is a registered kind,
    as ``loadtest-report.json``), 2 this harness's before the camelCase rule, 3 the current one.

    Raises:
        SnapshotError: the file is missing or not a JSON object, or its version is not 1, 2 or 3.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SnapshotError(f"Cannot read the snapshot {path}: {exc.strerror or exc}.") from exc
    except ValueError as exc:
        raise SnapshotError(f"The snapshot {path} is not JSON: {exc}.") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios", []), list):
        raise SnapshotError(f"The snapshot {path} is not a snapshot: expected an object with a list of scenarios.")
    version = doc.get("version")
    if version not in READABLE_VERSIONS:
        raise SnapshotError(
            f"{path}: snapshot version {version!r} is not supported (expected one of "
            f"{', '.join(map(str, READABLE_VERSIONS))})."
        )
    if version == 1:
        doc = {**doc, "kind": doc.get("kind") or kinds.kind_of_file(path), "daemon": doc.get("daemon")}
    doc["scenarios"] = [_camel_scenario(sc) for sc in doc.get("scenarios", [])]
    return doc


def _camel_scenario(scenario: Any) -> Any:
    if not isinstance(scenario, dict):
        return scenario
    out = dict(scenario)
    for key in ("metrics", "parameters"):
        if isinstance(out.get(key), dict):
            out[key] = camelize(out[key])
    return out


def dumps(doc: dict[str, Any]) -> str:
    """2-space JSON with NaN/inf written as ``null`` (as upstream)."""
    return json.dumps(_clean(doc), indent=2) + "\n"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def markdown(doc: dict[str, Any], title: str) -> str:
    """Upstream-style Markdown: header facts, then one section per scenario."""
    plat = doc.get("platform") or {}
    daemon = doc.get("daemon") or {}
    lines = [
        f"# {title}",
        "",
        f"Captured: {doc.get('capturedAt')}",
        f"Git: {doc.get('gitCommit') or 'unknown'}",
        f"Platform: {plat.get('os')}/{plat.get('arch')} node={plat.get('nodeVersion')} "
        f"python={plat.get('python')} cpus={plat.get('cpuCount')}",
        f"Daemon: {daemon.get('label') or 'unknown'}",
    ]
    method = doc.get("method")
    if method:
        lines.append(f"Method: {method if isinstance(method, str) else json.dumps(method, ensure_ascii=False)}")
    lines += ["", "## Scenarios", ""]
    for sc in doc.get("scenarios", []):
        lines += [f"### {sc['name']}", f"- Status: {sc.get('status')}", f"- Duration: {sc.get('durationMs', 0):.0f}ms"]
        if sc.get("error"):
            lines.append(f"- Error: {sc['error']}")
        if sc.get("parameters"):
            lines.append(f"- Parameters: {json.dumps(_clean(sc['parameters']), ensure_ascii=False)}")
        for key, value in (sc.get("metrics") or {}).items():
            if isinstance(value, dict) and "p50" in value and "count" in value:
                lines.append(f"- {key}: {format_percentiles(value)}")
            else:
                lines.append(f"- {key}: {json.dumps(_clean(value))}")
        lines.append("")
    return "\n".join(lines)


def format_percentiles(p: dict[str, Any] | None) -> str:
    """``p50=… p90=… p99=… mean=… (n=…)`` in ms, or ``n/a`` (upstream's format, units added)."""
    if not p or not p.get("count"):
        return "n/a"

    def f(key: str) -> str:
        v = p.get(key)
        return shown(v, ".1f")

    return f"p50={f('p50')}ms p90={f('p90')}ms p99={f('p99')}ms mean={f('mean')}ms (n={p['count']})"


def merge_folders(out: Path, sources: list[Path]) -> dict[str, int]:
    """Merge the snapshot parts found under ``sources`` (recursively) into ``out/<kind>.json`` and ``.md``.

    Used after a pabot run (each process writes its parts into its own output folder) or across machines.

    Returns:
        Number of scenarios per kind written.
    """
    parts: dict[str, list[Path]] = {}
    for source in sources:
        for path in sorted(Path(source).rglob("*.part.json")):
            parts.setdefault(path.name.split(".", 1)[0], []).append(path)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, paths in sorted(parts.items()):
        doc = merge_parts(paths)
        _write_text(out / f"{kind}.json", dumps(doc))
        _write_text(out / f"{kind}.md", markdown(doc, kinds.title(kind)))
        written[kind] = len(doc["scenarios"])
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m keywords.reporting.snapshot merge OUT SOURCE...``: merge per-process snapshot parts."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m keywords.reporting.snapshot")
    sub = parser.add_subparsers(dest="command", required=True)
    merge = sub.add_parser("merge", help="merge *.part.json files found under SOURCE folders into OUT")
    merge.add_argument("out", type=Path)
    merge.add_argument("sources", type=Path, nargs="+")
    args = parser.parse_args(argv)
    written = merge_folders(args.out, args.sources)
    if not written:
        print(f"no snapshot parts found under {', '.join(map(str, args.sources))}")
        return 1
    for kind, count in written.items():
        print(f"{args.out / (kind + '.json')}: {count} scenarios")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
