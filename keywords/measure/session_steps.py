"""Session counts that a measurement steps through (1, 5, 10 sessions open), and opening sessions up to each.

Several baseline and benchmark measurements read the daemon at growing numbers of open sessions: tree RSS
(C4), the sampled RSS of B1 and the MCP processes of B3. They share the check of the counts and the way the
sessions are opened, here.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from keywords.checks import choice, whole_number
from keywords.errors import HarnessConfigError
from keywords.traffic.client import DaemonClient

MAX_SESSIONS = 500
SCOPES = ("thread", "single")


def check_session_counts(counts: Iterable[Any], *, what: str = "session counts") -> list[int]:
    """The counts as integers: at least one, each 1..500, rising strictly (``1 5 10``).

    Raises:
        HarnessConfigError: no count, a count that is not a whole number in range, or counts that do not rise.
    """
    values = [whole_number("a session count", c, low=1, high=MAX_SESSIONS) for c in counts]
    if not values:
        raise HarnessConfigError(f"Give the {what} to measure at, e.g. 1 5 10; none was given.")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise HarnessConfigError(f"The {what} must rise, e.g. 1 5 10; got {' '.join(map(str, values))}.")
    return values


def check_scope(scope: Any) -> str:
    """``thread`` or ``single``, checked."""
    return choice("scope", scope, SCOPES)


def open_sessions_until(client: DaemonClient, opened: list[str], count: int, scope: str = "thread") -> list[str]:
    """Open sessions until ``count`` have been opened in all, ``opened`` (ids, appended to) counting those so far.

    With ``scope`` ``single`` every open after the first attaches to the same session, so ``opened`` may hold
    one id many times: it counts the opens, not distinct sessions.

    Returns:
        ``opened``, now ``count`` long (or longer when it already was).
    """
    while len(opened) < count:
        opened.append(client.create_session(scope).session_id)
    return opened


def plural(count: int, word: str = "session") -> str:
    """``1 session``, ``5 sessions``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def count_key(prefix: str, count: int, suffix: str = "") -> str:
    """A figure key per session count, as upstream names them: ``childrenAt1Session``, ``childrenAt5Sessions``."""
    return f"{prefix}{count}{'Session' if count == 1 else 'Sessions'}{suffix}"
