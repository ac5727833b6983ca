"""What every benchmark measurement shares: how it reaches its daemon, clean-up, and failure texts.

The daemon under measurement is reached through a :data:`Target`, a callable returning its
:class:`keywords.context.RunningDaemon` (daemon and client). It is called again before each use, so a daemon
that died in the middle is reported by whatever check the callable makes (the keyword layer passes
``HarnessContext.get``, which fails with the daemon's exit code and last stderr lines). ``log`` callables are
only ever called on the caller's thread; background threads of the measurements never log.

A measurement that counts failures instead of raising keeps their texts: :func:`tally_failures` gives the
first few distinct texts with how often each occurred, so a figure says *what* failed, not only how often.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from keywords.context import RunningDaemon
from keywords.traffic.client import DaemonClient

Target = Callable[[], RunningDaemon]
"""How a measurement reaches its daemon: returns the running daemon (and may check it is still alive)."""

Log = Callable[[str], None]
"""Gets one line per step of a measurement (on the caller's thread)."""

DISTINCT_FAILURES = 5
"""How many distinct failure texts a result keeps (with their counts)."""


def quiet(_: str) -> None:
    """The default ``log``: say nothing."""


def close_quietly(client: DaemonClient, session_ids: Iterable[str]) -> None:
    """Close sessions, ignoring errors (clean-up)."""
    for sid in session_ids:
        with contextlib.suppress(Exception):
            client.close_session(sid)


def error_text(exc: BaseException, limit: int = 300) -> str:
    """``<ExceptionType>: <message>``, cut to ``limit`` characters."""
    return f"{type(exc).__name__}: {exc}"[:limit]


@dataclass(frozen=True)
class FailureText:
    """One distinct failure text and how many failures had it.

    Attributes:
        text: The error text (``<ExceptionType>: <message>``, or a turn's outcome).
        count: Failures with exactly this text.
    """

    text: str
    count: int

    def figures(self) -> dict[str, Any]:
        """``{"text": ..., "count": ...}``."""
        return {"text": self.text, "count": self.count}


def tally_failures(texts: Iterable[str], limit: int = DISTINCT_FAILURES) -> list[FailureText]:
    """The first ``limit`` distinct texts in order of first appearance, each with its count over all ``texts``.

    Failures whose text is not among the first ``limit`` distinct ones are counted by the caller's total only.
    """
    counts: dict[str, int] = {}
    for text in texts:
        if text in counts:
            counts[text] += 1
        elif len(counts) < limit:
            counts[text] = 1
    return [FailureText(text, count) for text, count in counts.items()]


def failure_figures(count: int, texts: list[FailureText]) -> dict[str, Any]:
    """``failures`` (how many) and ``failureTexts`` (the first distinct texts with their counts)."""
    return {"failures": count, "failureTexts": [f.figures() for f in texts]}


def failure_line(count: int, texts: list[FailureText]) -> str:
    """``0 failed``, or ``3 failed (first: <text> x2)`` for a test message."""
    if not count:
        return "0 failed"
    first = f" (first: {texts[0].text} x{texts[0].count})" if texts else ""
    return f"{count} failed{first}"
