"""``python -m keywords.history``: the run history's commands.

    python -m keywords.history import results/ results/par     # record existing output folders
    python -m keywords.history trend --out results/trend.html    # write the trend page
    python -m keywords.history check                           # exit 1 on a change for the worse

Every command reads ``--db`` (default: ``$QWEN_HARNESS_HISTORY``, else ``results/history.sqlite``). ``check``
exits 0 when the latest run is no change point for the worse on any figure, 1 when it is (naming the figure,
the step and the runs around it), 2 on bad input. The modules are :mod:`keywords.reporting.run_store`,
:mod:`keywords.reporting.run_import`, :mod:`keywords.reporting.trends` and :mod:`keywords.reporting.change_points`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keywords.errors import HarnessError
from keywords.reporting import change_points, trends
from keywords.reporting.run_import import import_folders
from keywords.reporting.run_store import database_path, open_store


def _db(value: str | None) -> Path:
    path = Path(value) if value else database_path()
    if path is None:
        raise SystemExit("The history is turned off (QWEN_HARNESS_HISTORY=NONE); give --db PATH.")
    return path


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m keywords.history", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="history database (default: $QWEN_HARNESS_HISTORY, else results/history.sqlite)")
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="record Robot output folders (output.xml, snapshots; merged pabot outputs)")
    imp.add_argument("folders", type=Path, nargs="+")
    trend = sub.add_parser("trend", help="write the trend page (one self-contained HTML file)")
    trend.add_argument("--out", type=Path, default=Path("results") / "trend.html")
    trend.add_argument("--last", type=int, default=100, help="runs shown (default 100)")
    chk = sub.add_parser("check", help="exit 1 when the latest run is a change point for the worse")
    chk.add_argument("--last", type=int, default=change_points.WINDOW, help="runs judged (default 50)")
    chk.add_argument("--min-history", type=int, default=change_points.MIN_HISTORY, help="earlier values needed")
    for p in (trend, chk):
        p.add_argument("--max-pvalue", type=float, default=change_points.MAX_PVALUE)
        p.add_argument("--min-magnitude", type=float, default=change_points.MIN_MAGNITUDE, help="0.05 = 5 %%")
    args = parser.parse_args(argv)
    try:
        with open_store(_db(args.db)) as store:
            if args.command == "import":
                results = import_folders(store, args.folders)
                for result in results:
                    print(result.line())
                return 0 if any(r.run_id is not None for r in results) else 1
            if args.command == "trend":
                page = trends.write(
                    store, args.out, last=args.last, max_pvalue=args.max_pvalue, min_magnitude=args.min_magnitude
                )
                print(page.line())
                return 0
            result = change_points.check(
                store,
                last=args.last,
                max_pvalue=args.max_pvalue,
                min_magnitude=args.min_magnitude,
                min_history=args.min_history,
            )
            print(result.report())
            return 0 if result.passed else 1
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
