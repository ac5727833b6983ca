"""Every page of ``GET /session/:id/transcript`` (404 ``session_not_found`` when the daemon finds no chat record
of the session), read cursor by cursor, bounded.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from keywords.checks import whole_number
from keywords.measure.metrics import summarize
from keywords.traffic.client import DaemonClient
from keywords.traffic.restore.replayed_turns import ReplayTurn, envelopes, replay_turns
from keywords.traffic.restore.restore_call import TRANSCRIPT_MAX_LIMIT

MAX_TRANSCRIPT_PAGES = 10_000


@dataclass(frozen=True)
class Transcript:
    """Every page of ``GET /session/:id/transcript``, read cursor by cursor.

    Attributes:
        session_id: The session.
        status: Status of the last page read (200; 404 ``session_not_found`` when the daemon finds no chat
            record of the session); 0 when a request failed in transport.
        code: The daemon's ``code`` of an error answer.
        error: Its ``error`` text, or the transport error.
        pages: Pages read with 200.
        page_sizes: Events on each page, in order.
        events: Every event of every page, in order.
        complete: The last page said ``hasMore: false`` (nothing left unread).
        page_ms: Time of each page's request (monotonic clock, ms).
    """

    session_id: str
    status: int
    code: str | None
    error: str | None
    pages: int
    page_sizes: tuple[int, ...]
    events: list[dict[str, Any]]
    complete: bool
    page_ms: tuple[float, ...] = field(default_factory=tuple)

    @property
    def turns(self) -> list[ReplayTurn]:
        """The turns of :attr:`events` (see :func:`replay_turns`)."""
        return replay_turns(self.events)

    def figures(self) -> dict[str, Any]:
        """``status``, ``pages``, ``events``, ``turns``, ``complete`` and ``page`` (latency summary, ms)."""
        return {
            "status": self.status or None,
            "pages": self.pages,
            "events": len(self.events),
            "turns": len(self.turns),
            "complete": self.complete,
            "page": summarize(self.page_ms).to_dict() if self.page_ms else None,
        }

    def line(self) -> str:
        """``transcript 200: 3 pages (100, 100, 12), 212 events, 10 turns, complete``."""
        if self.status != 200:
            return f"transcript {self.status} {self.code or ''}: {self.error}".replace("  ", " ")
        sizes = ", ".join(str(n) for n in self.page_sizes[:10])
        state = "complete" if self.complete else "incomplete"
        return (
            f"transcript 200: {self.pages} pages ({sizes}), {len(self.events)} events, {len(self.turns)} turns, {state}"
        )


def read_transcript(client: DaemonClient, session_id: str, *, limit: int = 100, max_pages: int = 1000) -> Transcript:
    """Read every page of a session's transcript from its start (``limit`` events a page, ``max_pages`` at most).

    The first page is asked without a cursor, each next one with the ``nextCursor`` of the page before, until a
    page says ``hasMore: false``; a cursor that does not advance ends the reading (``complete`` stays false).

    Raises:
        HarnessConfigError: ``limit`` outside 1..500 or ``max_pages`` outside 1..10000 (before anything is sent).
    """
    limit = whole_number("limit", limit, low=1, high=TRANSCRIPT_MAX_LIMIT, unit="events")
    max_pages = whole_number("max_pages", max_pages, low=1, high=MAX_TRANSCRIPT_PAGES)
    events: list[dict[str, Any]] = []
    sizes: list[int] = []
    times: list[float] = []
    cursor: str | None = None
    seen: set[str] = set()
    status, code, error, complete = 0, None, None, False
    for _ in range(max_pages):
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        try:
            reply = client.request(
                "GET",
                f"/session/{session_id}/transcript?{httpx.QueryParams(params)}",
                expected=None,
                route="/session/:id/transcript",
            )
        except httpx.HTTPError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
            break
        times.append(reply.elapsed_ms)
        status = reply.status
        body = reply.body if isinstance(reply.body, dict) else {}
        if status != 200:
            code, error = reply.code, str(body.get("error") if body else reply.body)[:300]
            break
        page = envelopes(body.get("events"))
        events += page
        sizes.append(len(page))
        next_cursor = body.get("nextCursor")
        if not body.get("hasMore"):
            complete = True
            break
        if not isinstance(next_cursor, str) or next_cursor in seen:
            error = "the transcript said hasMore but gave no new cursor"
            break
        seen.add(next_cursor)
        cursor = next_cursor
    return Transcript(session_id, status, code, error, len(sizes), tuple(sizes), events, complete, tuple(times))
