"""Check a pabot run: merge its snapshot parts, and prove the merged report and snapshots hold every test.

Usage: ``python atest/check_parallel_run.py <pabot output dir>`` (after ``rebot`` wrote ``<dir>/output.xml``).
Exit status 1 when a test or a scenario of a process is missing from the merged results.
"""

from __future__ import annotations

import sys
from pathlib import Path

from robot.api import ExecutionResult, ResultVisitor

from keywords.reporting import snapshot


class _Tests(ResultVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_test(self, test) -> None:
        # Suite names differ between a process's output and the merged one (the top suite is renamed),
        # so a test is identified by its file and name.
        self.names.add(f"{Path(str(test.source)).parent.name}/{Path(str(test.source)).name}::{test.name}")


def test_names(output: Path) -> set[str]:
    """Long names of the tests in one output.xml."""
    visitor = _Tests()
    ExecutionResult(str(output)).visit(visitor)
    return visitor.names


def main(out: Path) -> int:
    parts = sorted(out.glob("pabot_results/*/output.xml"))
    if not parts:
        print(f"no pabot process outputs under {out}/pabot_results")
        return 1
    expected = {name for part in parts for name in test_names(part)}
    merged = test_names(out / "output.xml")
    missing = sorted(expected - merged)
    print(f"{len(parts)} process outputs, {len(expected)} tests; merged report has {len(merged)}")
    written = snapshot.merge_folders(out, [out / "pabot_results"])
    scenario_names: dict[str, set[str]] = {}
    for path in (out / "pabot_results").rglob("*.part.json"):
        kind = path.name.split(".", 1)[0]
        scenario_names.setdefault(kind, set()).update(s["name"] for s in snapshot.load(path)["scenarios"])
    for kind, names in sorted(scenario_names.items()):
        got = {s["name"] for s in snapshot.load(out / f"{kind}.json")["scenarios"]}
        lost = sorted(names - got)
        print(f"{kind}: {written.get(kind, 0)} scenarios merged from the processes' parts")
        missing += [f"{kind}: {name}" for name in lost]
    if missing:
        print("missing from the merged results:\n  " + "\n  ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
