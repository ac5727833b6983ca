"""Markers of the harness's own acceptance tests, by module: which start the real daemon, run robot, take long.

Select with ``pytest -m "not slow"`` (or ``not daemon``) for a quick run.
"""

from __future__ import annotations

import pytest

MARKS = {
    "test_no_leaks": ("daemon", "robot", "slow"),
    "test_secrets": ("daemon", "robot", "slow"),
    "test_bad_input": ("robot",),
    "test_log_plots_browser": ("robot",),
    "test_history_runs": ("daemon", "robot", "slow"),
    "test_daemon_process": ("daemon",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in MARKS.get(item.module.__name__.rsplit(".", 1)[-1], ()):
            item.add_marker(getattr(pytest.mark, mark))
