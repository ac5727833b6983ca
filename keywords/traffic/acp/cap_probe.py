"""The ``/acp`` connection cap: connections opened one by one up to the daemon's cap and past it, then one
closed and one opened again.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keywords.checks import choice, whole_number
from keywords.measure.metrics import summarize
from keywords.traffic.acp.acp_connection import AcpConnection
from keywords.traffic.acp.messages import CONNECTION_CAP, MAX_CONNECTIONS, TRANSPORTS, AcpRefused


@dataclass(frozen=True)
class CapProbe:
    """``/acp`` connections opened up to the daemon's cap and past it.

    Attributes:
        transport: ``ws`` or ``http``.
        reported_cap: ``limits.acpConnectionCap`` of ``/daemon/status`` (``None``: not reported).
        accepted: Connections the daemon accepted before the first refusal.
        refusals: What each connection past the cap got (one :class:`AcpRefused` each).
        reopened: After one accepted connection was closed, a new one was accepted.
        connect_ms: Connect and ``initialize`` of each accepted connection, ms.
    """

    transport: str
    reported_cap: int | None
    accepted: int
    refusals: tuple[AcpRefused, ...]
    reopened: bool | None
    connect_ms: tuple[float, ...] = field(default_factory=tuple)

    def figures(self) -> dict[str, Any]:
        """``reportedCap``, ``accepted``, ``refused``, ``refusalHttpStatus``, ``refusalErrorCode``,
        ``refusalCloseCode``, ``refusalRetryAfter``, ``reopened`` and ``connect`` (latency summary, ms)."""
        first = self.refusals[0] if self.refusals else None
        return {
            "reportedCap": self.reported_cap,
            "accepted": self.accepted,
            "refused": len(self.refusals),
            "refusalHttpStatus": None if first is None else first.http_status,
            "refusalErrorCode": None if first is None else first.error_code,
            "refusalCloseCode": None if first is None else first.close_code,
            "refusalRetryAfter": None if first is None else first.retry_after,
            "reopened": self.reopened,
            "connect": summarize(self.connect_ms).to_dict(),
        }

    def line(self) -> str:
        """``ws: 64 accepted (cap 64), then 2 refused: close 1013 'Connection cap'; reopened after a close``."""
        what = self.refusals[0].describe() if self.refusals else "none refused"
        again = {True: "reopened after a close", False: "not reopened after a close", None: "reopen not tried"}
        return (
            f"{self.transport}: {self.accepted} accepted (cap {self.reported_cap}), then {len(self.refusals)} "
            f"refused: {what}; {again[self.reopened]}"
        )


def probe_connection_cap(
    base_url: str,
    *,
    transport: str = "ws",
    past: int = 2,
    reported_cap: int | None = None,
    token: str | None = None,
    timeout_s: float = 10.0,
) -> CapProbe:
    """Open connections one by one until the daemon refuses one (at most ``reported_cap`` or 64, plus ``past``),
    try ``past`` more, close one accepted connection and open one again; close everything.

    Raises:
        HarnessConfigError: a bad count or transport (before anything is sent).
    """
    transport = choice("transport", transport, TRANSPORTS)
    past = whole_number("past", past, low=1, high=100)
    limit = whole_number("reported_cap", reported_cap if reported_cap is not None else CONNECTION_CAP, low=1)
    opened: list[AcpConnection] = []
    refusals: list[AcpRefused] = []
    reopened: bool | None = None
    try:
        for _ in range(min(limit + past, MAX_CONNECTIONS)):
            conn = AcpConnection(base_url, transport=transport, token=token, timeout_s=timeout_s)
            try:
                conn.connect()
            except AcpRefused as exc:
                refusals.append(exc)
                if len(refusals) >= past:
                    break
                continue
            if refusals:  # accepted after a refusal: the cap did not hold
                opened.append(conn)
                continue
            opened.append(conn)
        accepted = len(opened)
        if refusals and opened:
            opened.pop(0).close()
            again = AcpConnection(base_url, transport=transport, token=token, timeout_s=timeout_s)
            try:
                again.connect()
                reopened = True
                opened.append(again)
            except AcpRefused:
                reopened = False
    finally:
        for conn in opened:
            conn.close()
    return CapProbe(
        transport, reported_cap, accepted, tuple(refusals), reopened, tuple(c.connect_ms or 0.0 for c in opened)
    )
