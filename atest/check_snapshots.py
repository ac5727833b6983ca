"""Validate every snapshot a run wrote against its kind's JSON Schema (``keywords/reporting/schemas``).

    python atest/check_snapshots.py [--report-only] FOLDER...

Looks for ``<kind>.json`` and ``<kind>.<part>.part.json`` of every registered kind under each folder (at any
depth: pabot writes parts into its process folders). Each problem is printed as one line naming the file,
the scenario and the key. Exit status: 0 every snapshot valid (or ``--report-only``); 1 a problem was found,
or no snapshot at all was found; 2 a folder does not exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from keywords.reporting import kinds  # noqa: E402
from keywords.reporting.snapshot import FORMAT_VERSION  # noqa: E402


def snapshot_files(folder: Path) -> list[Path]:
    """Snapshot files of registered kinds under ``folder``, sorted."""
    return sorted(p for p in folder.rglob("*.json") if kinds.kind_of_file(p) and _is_snapshot_name(p))


def _is_snapshot_name(path: Path) -> bool:
    parts = path.name.split(".")
    return len(parts) == 2 or (len(parts) == 4 and parts[2] == "part")


def older_format(path: Path) -> bool:
    """A snapshot of an older format (upstream's version 1, a copy a test made): not written by this run."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("version") in (1, 2) and doc.get("version") != FORMAT_VERSION


def check_file(path: Path) -> list[str]:
    """One line per problem of one snapshot file (empty when it is valid)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{path}: cannot be read as JSON: {exc}"]
    kind = kinds.kind_of_file(path)
    if isinstance(doc, dict) and doc.get("kind") != kind:
        return [f"{path}: kind {doc.get('kind')!r} does not match the file name (kind {kind!r})"]
    return [f"{path}: {problem.line()}" for problem in kinds.problems(doc, kind)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_snapshots.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="output folders of robot or pabot runs")
    parser.add_argument("--report-only", action="store_true", help="print the problems but exit 0")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.folders if not f.is_dir()]
    if missing:
        print(f"check_snapshots: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    found = [p for folder in args.folders for p in snapshot_files(folder)]
    older = [p for p in found if older_format(p)]
    for path in older:
        print(f"{path}: an older snapshot format (a copy a test made), not checked")
    files = [p for p in found if p not in older]
    problems = [line for path in files for line in check_file(path)]
    for line in problems:
        print(line)
    bad_files = len({line.split(": ", 1)[0] for line in problems})
    print(f"check_snapshots: {len(files)} snapshot file(s), {bad_files} with problems ({len(problems)} problems)")
    if not files:
        print("check_snapshots: no snapshot found; a run that records scenarios writes <kind>.json", file=sys.stderr)
        return 1
    return 0 if args.report_only or not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
