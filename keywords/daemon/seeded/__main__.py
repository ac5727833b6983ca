"""``python -m keywords.daemon.seeded``: list the patches, make seeded copies, run the check against them.

    python -m keywords.daemon.seeded list
    python -m keywords.daemon.seeded make  [--from ENTRY] [--out DIR] [NAMES...]
    python -m keywords.daemon.seeded check [--from ENTRY] [--results DIR] [--confirm] [--skip-control]
                                           [NAMES...] [-- ROBOT OPTIONS]

A name may carry parameters: ``leak-per-session:mb=4``, ``slow-prompt-post:delay_ms=500``. No name means every
patch. Options after ``--`` replace the default Robot options (``--include loadtest``); the suites folder
(``suites/``), ``--outputdir``, ``--variable DAEMON_ENTRY:<copy>`` and ``--variable REFERENCE_ENTRY:<base>``
(the performance gate's reference) are always given. ``--confirm`` re-runs the failed tests of each patch once:
a test that passes on the re-run is marked ``(once)`` and does not count as a catch.

Exit status of ``check``: 0 every patch caught, 1 at least one not caught, 2 the control failed, a run gave
no result, or bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from keywords import checks
from keywords.daemon.seeded import builder, runner
from keywords.daemon.seeded.patches import PATCHES
from keywords.errors import HarnessError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m keywords.daemon.seeded",
        description="Seeded regressions: patched copies of a daemon build, and which tests catch them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print the patch table")
    make = sub.add_parser("make", help="make one seeded copy per patch and print each copy's entry script")
    check = sub.add_parser("check", help="run the pre-merge check against the control and each copy")
    for cmd in (make, check):
        cmd.add_argument(
            "--from",
            dest="base",
            metavar="ENTRY",
            help="entry script or package folder of a local build (default: the pinned release)",
        )
        cmd.add_argument("names", nargs="*", metavar="NAME", help="patches (NAME or NAME:key=value,...); all if none")
    make.add_argument("--out", metavar="DIR", help=f"folder of the copies (default {builder.DEFAULT_OUT})")
    check.add_argument(
        "--results",
        metavar="DIR",
        default=str(runner.RESULTS),
        help=f"folder of the runs and the table (default {runner.RESULTS})",
    )
    check.add_argument(
        "--confirm",
        action="store_true",
        help="re-run the failed tests of each patch once; only a test failing twice counts as a catch",
    )
    check.add_argument(
        "--expected-only",
        action="store_true",
        help="run only the tests each patch is expected to be caught by (the control: all of them); the quick "
        "check CI runs",
    )
    check.add_argument(
        "--skip-control", action="store_true", help="do not run the unpatched control first (only to re-run patches)"
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=runner.RUN_TIMEOUT_S,
        metavar="S",
        help=f"bound on each Robot run in seconds (default {runner.RUN_TIMEOUT_S:g})",
    )
    return parser


def _list() -> int:
    for patch in PATCHES:
        params = ", ".join(
            f"{p.name}={p.default} ({p.low}..{p.high}{' ' + p.unit if p.unit else ''})" for p in patch.params
        )
        print(f"{patch.name} [{patch.kind}] {patch.describe()}")
        print(f"  file {patch.file}; params: {params or 'none'}")
        print(f"  expected to be caught by: {'; '.join(patch.expected) or 'none'}")
        if patch.note:
            print(f"  note: {patch.note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    robot_options: list[str] | None = None
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, robot_options = args_in[:cut], args_in[cut + 1 :]
    args = _parser().parse_args(args_in)
    if args.command == "list":
        if robot_options is not None:
            print("error: `list` takes no Robot options.", file=sys.stderr)
            return 2
        return _list()
    try:
        timeout_s = checks.seconds("--timeout", args.timeout, high=24 * 3600.0) if args.command == "check" else 0.0
        base = builder.base_build(args.base)
        if args.command == "make":
            if robot_options is not None:
                print("error: Robot options (after --) belong to `check`, not `make`.", file=sys.stderr)
                return 2
            for build in builder.make_builds(args.names, base=base, out=args.out):
                print(builder.describe(build), file=sys.stderr)
                print(build.entry)
            return 0
        results = Path(args.results)
        builds = builder.make_builds(args.names, base=base, out=results / "builds")
        table = runner.check_all(
            base,
            builds,
            results=results,
            options=robot_options if robot_options else runner.DEFAULT_ROBOT_OPTIONS,
            control=not args.skip_control,
            confirm=args.confirm,
            expected_only=args.expected_only,
            timeout_s=timeout_s,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table.to_console())
    print(f"\ntable: {results / 'table.md'} and {results / 'table.json'}")
    return table.exit_code()


if __name__ == "__main__":
    sys.exit(main())
