"""Whether a process still runs: the one liveness rule of the harness (a zombie counts as ended)."""

from __future__ import annotations

import psutil


def is_alive(proc: psutil.Process) -> bool:
    """The process runs and is not a zombie (an exited child not yet reaped); ``False`` when it is gone."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pid_alive(pid: int) -> bool:
    """:func:`is_alive` by process id."""
    try:
        return is_alive(psutil.Process(pid))
    except psutil.Error:
        return False
