"""What every permission scenario shares: a watched session that is cleaned up whatever happens, the daemon's
policy, the prompt after the scenario, and the rounding of its figures.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from keywords.errors import DaemonHttpError
from keywords.measure.metrics import LatencySummary, summarize
from keywords.traffic.client import DaemonClient
from keywords.traffic.permissions.request_watch import PermissionWatch, end_watch, open_watch
from keywords.traffic.turns import run_turn


@contextlib.contextmanager
def watched_session(
    client: DaemonClient, session_id: str, *, timeout_s: float, closer: str | None = None
) -> Iterator[PermissionWatch]:
    """A :class:`PermissionWatch` on ``session_id``; on the way out the watch ends and the session is closed (as
    the client ``closer``; a session already gone is fine)."""
    watch = open_watch(client, session_id, timeout_s=timeout_s)
    try:
        yield watch
    finally:
        end_watch(watch)
        client.close_sessions([session_id], closer)


def need(value: Any, what: str) -> Any:
    """``value``, or an AssertionError saying ``what`` when it is ``None``."""
    if value is None:
        raise AssertionError(what)
    return value


def daemon_policy(client: DaemonClient) -> str | None:
    """The permission policy the daemon reports in ``/capabilities`` (``policy.permission``)."""
    policy = client.capabilities().get("policy")
    return policy.get("permission") if isinstance(policy, dict) else None


def next_prompt(client: DaemonClient, sid: str, timeout_s: float) -> tuple[str, float | None]:
    """How a prompt after the scenario went (``turn_complete end_turn``, ``refused 404 session_not_found``) and its
    turn time (ms, ``None`` when refused)."""
    try:
        turn = run_turn(client, sid, "after the pending request", timeout_s=timeout_s)
    except DaemonHttpError as err:
        return f"refused {err.status} {err.code or ''}".strip(), None
    ended = (
        f"turn_complete {turn.stop_reason}"
        if turn.outcome == "completed"
        else f"{turn.outcome} {turn.error_code or ''}"
    )
    return ended.strip(), turn.turn_ms


def summary(values: list[float], name: str) -> LatencySummary | None:
    """The latency summary of ``values`` (ms), ``None`` when there is none."""
    return summarize(values, name) if values else None


def to_dict(summary: LatencySummary | None) -> dict[str, Any] | None:
    """A summary's percentile dict, ``None`` when it was not measured."""
    return summary.to_dict() if summary is not None else None


def rounded_ms(value: float | None) -> float | None:
    """A time in ms to 0.1 ms, ``None`` kept."""
    return None if value is None else round(value, 1)
