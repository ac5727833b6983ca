"""Print the failed tests of Robot outputs, one line each: CI's log is often read from its end only.

Usage: python atest/failed_tests.py results/ci/serial results/ci/routes ...
Each folder's ``output.xml`` is read (a folder without one is skipped). The seeded-regression copies are not
given: their failures are what that check expects, and it prints its own verdict.
"""

import sys
from pathlib import Path

from robot.api import ExecutionResult


def main(folders: list[str]) -> int:
    count = 0
    for folder in folders:
        output = Path(folder) / "output.xml"
        if not output.is_file():
            continue
        for test in ExecutionResult(str(output)).suite.all_tests:
            if test.status != "FAIL":
                continue
            count += 1
            first = test.message.splitlines()[0] if test.message else "(no message)"
            print(f"FAIL {test.full_name} [{Path(folder) / 'log.html'}]: {first}")
    print(f"{count} failed test(s) in {', '.join(folders)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
