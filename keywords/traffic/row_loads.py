"""The loads a limits row can put on a daemon, named in plain words, and what each of them saw.

A limits row (``suites/scenarios/limits.robot``) sets one daemon flag and names a load in its ``LOAD`` cell:

- ``<N> sessions at once``: N create → prompt → turn end → close flows released together (:mod:`flows`);
- ``<N> prompts at once``: one session, N prompts posted at the same instant, each turn lasting a moment
  (:data:`PROMPT_HOLD_MS`) so that they queue (:func:`run_prompts_at_once`);
- ``a hanging prompt``: one prompt that the mock never finishes (mode ``hang``), followed to its end or the wait;
- ``an idle stream``: one event stream on a session that gets no events, read until it ends or the wait.

:func:`load` reads the cell. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keywords.errors import DaemonHttpError
from keywords.measure import metrics
from keywords.traffic.barrier import run_together
from keywords.traffic.client import DaemonClient, PromptAccepted
from keywords.traffic.turns import HAPPENED, follow_turn

LOADS = ("<N> sessions at once", "<N> prompts at once", "a hanging prompt", "an idle stream")
"""The forms a ``LOAD`` cell may take (``N`` from 1 to :data:`MAX_AT_ONCE`)."""
MAX_AT_ONCE = 200
PROMPT_HOLD_MS = 300
"""How long the mock holds each prompt of ``<N> prompts at once`` before answering, so the later ones queue."""


@dataclass(frozen=True)
class Load:
    """A ``LOAD`` cell, read.

    Attributes:
        kind: ``sessions``, ``prompts``, ``hanging prompt`` or ``idle stream``.
        count: N of ``<N> sessions at once`` and ``<N> prompts at once`` (1 for the others).
    """

    kind: str
    count: int = 1

    @property
    def text(self) -> str:
        """The load as a row writes it."""
        if self.kind in ("sessions", "prompts"):
            return f"{self.count} {self.kind} at once"
        return f"a {self.kind}" if self.kind == "hanging prompt" else f"an {self.kind}"


def load(cell: str) -> Load:
    """Read a ``LOAD`` cell (lower case, single spaces).

    Raises:
        ValueError: the cell is none of :data:`LOADS`, or N is not from 1 to :data:`MAX_AT_ONCE`.
    """
    text = re.sub(r"\s+", " ", str(cell).strip()).lower()
    match = re.fullmatch(r"(\d+) (sessions|prompts) at once", text)
    if match and 1 <= int(match.group(1)) <= MAX_AT_ONCE:
        return Load(match.group(2), int(match.group(1)))
    if text in ("a hanging prompt", "an idle stream"):
        return Load(text.split(" ", 1)[1])
    raise ValueError(text)


@dataclass
class PromptsAtOnce:
    """What ``<N> prompts at once`` on one session saw.

    Attributes:
        session_id: The session.
        sent: Prompts posted together.
        accepted: Prompts the daemon answered with 202.
        refusals: Refused prompts by ``<status> <code>`` (``503 prompt_queue_full``) -> count.
        unanswered: Prompts whose POST got no HTTP answer at all (a reset connection, a timeout).
        outcomes: How the accepted prompts' turns ended (keys of ``HAPPENED``) -> count.
        post: POST → answer of every prompt (ms).
        turn: POST → turn end of the accepted prompts that were answered in full (ms).
        wall_ms: First POST to the last turn's end.
    """

    session_id: str
    sent: int
    accepted: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    post: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))
    turn: metrics.LatencySummary = field(default_factory=lambda: metrics.summarize([]))
    wall_ms: float = 0.0

    def figures(self) -> dict[str, Any]:
        """``sent``, ``accepted``, ``refusals`` (``{status, code, count}`` rows), ``unanswered``, ``promptOutcomes``,
        ``wallMs`` and the percentile dicts ``postLatencyMs`` and ``turnLatencyMs``."""
        rows = []
        for key, count in sorted(self.refusals.items()):
            status, _, code = key.partition(" ")
            rows.append({"status": int(status), "code": code or None, "count": count})
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "refusals": rows,
            "unanswered": self.unanswered,
            "promptOutcomes": dict(self.outcomes),
            "wallMs": round(self.wall_ms, 1),
            "postLatencyMs": self.post.to_dict(),
            "turnLatencyMs": self.turn.to_dict(),
        }

    def line(self) -> str:
        """One line: accepted, refused, how the accepted turns ended."""
        refused = ", ".join(f"{n}x {k}" for k, n in self.refusals.items()) or "none refused"
        ended = ", ".join(f"{n} {HAPPENED.get(k, k)}" for k, n in self.outcomes.items()) or "no turn"
        return f"{self.accepted}/{self.sent} prompts accepted ({refused}); accepted turns: {ended}"


def run_prompts_at_once(client: DaemonClient, count: int, *, chunks: int = 1, timeout_s: float = 30.0) -> PromptsAtOnce:
    """Open a session, post ``count`` prompts to it at the same instant (one barrier), follow each accepted one.

    Every prompt asks the mock to hold its answer :data:`PROMPT_HOLD_MS` ms, so while the first one runs the
    others wait in the session's queue (``--max-pending-prompts-per-session``). Refusals are counted by status
    and code, never raised; the session is closed at the end.

    Raises:
        BarrierBrokenError: the prompts could not be posted together.
    """
    sid = client.create_session("thread").session_id
    text = f"[[mock chunks={chunks} end_delay_ms={PROMPT_HOLD_MS}]] queued prompt"
    started = time.monotonic()

    def post(i: int) -> PromptAccepted | DaemonHttpError:
        try:
            return client.prompt(sid, f"{text} {i}")
        except DaemonHttpError as exc:
            return exc

    try:
        answers = run_together(count, post, what="prompts")
        result = PromptsAtOnce(sid, count)
        accepted = [a for a in answers if isinstance(a, PromptAccepted)]
        refused = [a for a in answers if isinstance(a, DaemonHttpError)]
        failed = [a for a in answers if not isinstance(a, (PromptAccepted, DaemonHttpError))]
        result.accepted = len(accepted)
        result.refusals = dict(Counter(f"{e.status} {e.code or ''}".strip() for e in refused))
        result.unanswered = len(failed)
        turns = [follow_turn(client, sid, a, timeout_s=timeout_s) for a in accepted]
        result.outcomes = dict(Counter(t.happened for t in turns))
        result.post = metrics.summarize([a.elapsed_ms for a in accepted], "post")
        result.turn = metrics.summarize([t.turn_ms for t in turns if t.happened == "completed" and t.turn_ms], "turn")
        result.wall_ms = (time.monotonic() - started) * 1000
        return result
    finally:
        client.close_session(sid, expected=None)
