"""Print the failed tests of every Robot output under a results folder, one line each.

CI's log is often read from its end only; this names what failed and where its log is.
Usage: python atest/failed_tests.py results/ci
"""

import sys
from pathlib import Path

from robot.api import ExecutionResult


def main(root: str) -> int:
    count = 0
    for output in sorted(Path(root).glob("**/output.xml")):
        for test in ExecutionResult(str(output)).suite.all_tests:
            if test.status != "FAIL":
                continue
            count += 1
            first = test.message.splitlines()[0] if test.message else "(no message)"
            print(f"FAIL {test.full_name} [{output.parent / 'log.html'}]: {first}")
    print(f"{count} failed test(s) in the Robot outputs under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "results/ci"))
