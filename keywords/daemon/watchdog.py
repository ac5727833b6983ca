"""Watchdog: outlives its owner (own session) and cleans up after it if it dies without doing so.

Usage: ``python -m keywords.daemon.watchdog <owner pid> <run id> <temp root>``.
"""

from __future__ import annotations

import shutil
import sys
import time

import psutil

from keywords.daemon.registry import processes_with_marker, terminate


def main(argv: list[str]) -> int:
    owner_pid, run_id, root = int(argv[0]), argv[1], argv[2]
    try:
        owner = psutil.Process(owner_pid)
    except psutil.Error:
        owner = None
    while owner is not None and owner.is_running() and owner.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.2)
    terminate(processes_with_marker(run_id), grace_s=2.0)
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
