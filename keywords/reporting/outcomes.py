"""Expected outcomes of scenario rows, in plain words, and the verdict on what happened.

A row's ``EXPECTED`` cell says what must happen (``completes``, ``ends with an error -32042``, ``session dies``,
``refused 503 session_limit_exceeded``, ``stream evicted``...). :func:`expected` reads it (each table allows its
own subset, :data:`OUTCOMES` holds them all with their meaning); the ``judge_*`` functions compare what a run
measured with it and return a :class:`Verdict`, whose :meth:`Verdict.message` starts with one plain sentence
(what was expected, what happened) and then gives the technical detail. The daemon's own words that remain in
the detail (``turn_error``, ``session_died``...) are explained in :data:`GLOSSARY`.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from keywords.traffic.turns import HAPPENED
from mock_acp.directives import mode_applies

OUTCOMES: dict[str, str] = {
    "completes": "every prompt is answered in full and every session closes normally",
    "ends with an error": "the prompts the mock's MODE hits end with an error, their session lives on, and the "
    "other prompts are answered in full; add the error's code to require it (ends with an error -32042)",
    "session dies": "the agent stops (crashes) during a prompt, so its sessions die; every prompt answered "
    "before that is complete, and nothing fails in any other way",
    "never ends": "the prompts the mock's MODE hits get no end within the turn timeout, and the others are "
    "answered in full",
    "refused": "the daemon refuses some requests with this HTTP status and code (refused 503 "
    "session_limit_exceeded), and everything it accepts works",
    "stream evicted": "the daemon ends the event stream of a subscriber (client_evicted), optionally for this "
    "reason (stream evicted writer_idle_timeout)",
    "is cancelled": "the turn ends as cancelled (turn_complete with stopReason cancelled)",
}
"""Every expected outcome a row can name, with what it means in plain words (the guide's outcome table)."""

GLOSSARY: dict[str, str] = {
    "turn_complete": "the daemon's event that a prompt's answer is complete; stopReason end_turn means it ended "
    "normally, cancelled that it was cancelled",
    "end_turn": "the stop reason of a normal, complete answer",
    "turn_error": "the daemon's event that a prompt ended with an error; its code says which",
    "session_died": "the daemon's event that a session ended because the agent process stopped",
    "session_closed": "the daemon's event that a session was closed (by DELETE or the daemon)",
    "channel_closed": "the reason of session_died when the agent's connection (its stdin/stdout) closed",
    "agent channel closed": "the turn_error message when the agent stopped during that prompt",
    "stream_refused": "the harness could not open the prompt's event stream (404: the session was already gone)",
    "client_evicted": "the daemon's event that it dropped a subscriber (a slow or idle event stream)",
    "session_limit_exceeded": "503 answer: the daemon already has as many sessions as --max-sessions allows",
    "prompt_queue_full": "503 answer: a session already has as many prompts running or waiting as "
    "--max-pending-prompts-per-session allows",
    "prompt_deadline_exceeded": "turn_error code: the prompt ran longer than --prompt-deadline-ms",
    "writer_idle_timeout": "client_evicted reason: nothing was written to the stream for --writer-idle-timeout-ms",
    "queue_overflow": "client_evicted reason: the subscriber's queue of unsent events overflowed",
    "p99": "99 out of 100 measured times were at most this",
}
"""The daemon's words that remain in technical detail, in plain words (the guide's glossary)."""


@dataclass(frozen=True)
class Expected:
    """An ``EXPECTED`` cell, read.

    Attributes:
        outcome: A key of :data:`OUTCOMES` (``refused``, ``ends with an error``...).
        status: The HTTP status of ``refused`` (``503``), else ``None``.
        code: The required code or reason (``session_limit_exceeded``, ``-32042``, ``writer_idle_timeout``),
            ``None`` when any is accepted.
    """

    outcome: str
    status: int | None = None
    code: str | None = None

    @property
    def text(self) -> str:
        """The outcome as a row writes it (``refused 503 session_limit_exceeded``)."""
        return " ".join(str(p) for p in (self.outcome, self.status, self.code) if p is not None)

    def __str__(self) -> str:
        return self.text


_CODED = ("ends with an error", "stream evicted")


def expected(cell: str, allowed: Iterable[str] = tuple(OUTCOMES)) -> Expected:
    """Read an ``EXPECTED`` cell (lower case, single spaces) as one of the ``allowed`` outcomes.

    ``refused`` needs an HTTP status (``refused 503``) and takes a code after it; ``ends with an error`` and
    ``stream evicted`` take an optional code or reason; the others take nothing after them.

    Raises:
        ValueError: the cell names no allowed outcome, or ``refused`` has no status.
    """
    text = re.sub(r"\s+", " ", str(cell).strip()).lower()
    for outcome in allowed:
        if text == outcome and outcome != "refused":
            return Expected(outcome)
        if outcome in _CODED and text.startswith(outcome + " ") and " " not in text[len(outcome) + 1 :]:
            return Expected(outcome, code=text[len(outcome) + 1 :])
        if outcome == "refused":
            match = re.fullmatch(r"refused ([1-5]\d\d)(?: ([a-z0-9_]+))?", text)
            if match:
                return Expected("refused", int(match.group(1)), match.group(2))
    raise ValueError(text)


def expected_forms(allowed: Iterable[str]) -> tuple[str, ...]:
    """How each allowed outcome may be written (for a bad cell's message)."""
    forms = {
        "ends with an error": "ends with an error [code]",
        "stream evicted": "stream evicted [reason]",
        "refused": "refused <status> [code]",
    }
    return tuple(forms.get(o, o) for o in allowed)


@dataclass
class Verdict:
    """Whether a row's run did what its ``EXPECTED`` cell says, in plain words first.

    Attributes:
        expected: What the row expects, as written (``session dies``).
        should: What had to happen, as the start of a plain sentence (``Every prompt should have been
            answered in full``).
        happened: What happened, in plain words (``3 of 15 were not: 2 ended with an error``).
        passed: Whether what happened is what was expected.
        detail: The technical detail (daemon words, ids), one item a line.
    """

    expected: str
    should: str
    happened: str
    passed: bool
    detail: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        """The plain sentence: ``<should>, and <happened>.`` or ``<should>, but <happened>.``"""
        return f"{self.should}, {'and' if self.passed else 'but'} {self.happened}."

    def message(self) -> str:
        """The failure message: the plain sentence, then the detail (a line each)."""
        return "\n".join([self.sentence(), *(f"- {line}" for line in self.detail[:10])])

    def line(self) -> str:
        """One line for the test message: the expected outcome and what happened."""
        return f"expected {self.expected}: {'yes' if self.passed else 'no'}, {self.happened}"


def counted(counts: dict[str, int], total: int | None = None) -> str:
    """Prompt outcomes in plain words: ``12 answered in full, 3 ended with an error`` (``HAPPENED`` order)."""
    parts = [f"{n} {HAPPENED.get(kind, kind)}" for kind, n in counts.items() if n]
    text = ", ".join(parts) or "nothing happened"
    return f"of {total} prompts, {text}" if total is not None else text


def prompts_hit(mode: str, mode_at: int, mode_every: int) -> Callable[[int], bool]:
    """Which prompt numbers (from 1, per session) the mock's mode hits (``echo`` hits none)."""
    if mode == "echo":
        return lambda _number: False
    return lambda number: mode_applies(number, mode_at, mode_every)


def judge_flows(batch: Any, want: Expected, hit: Callable[[int], bool]) -> Verdict:
    """The verdict on a batch of flows (:class:`keywords.traffic.flows.FlowBatch`) against ``want``.

    ``hit(number)`` says whether the mock's mode hits a session's prompt ``number`` (see :func:`prompts_hit`).
    """
    outcomes = batch.prompt_outcomes()
    total = batch.prompt_count
    detail = [line for line in batch.failure_report(limit=5).splitlines() if line]
    if want.outcome == "completes":
        bad = total - outcomes.get("completed", 0)
        if bad:
            happened = f"{bad} of {total} prompts were not ({counted(_without(outcomes, 'completed'))})"
        elif batch.failure_count:
            happened = f"{batch.failure_count} sessions did not close normally"
        else:
            happened = f"all {total} prompts were"
        should = "Every prompt should have been answered in full and every session closed normally"
        return Verdict(want.text, should, happened, not bad and not batch.failure_count, detail)
    if want.outcome in ("ends with an error", "never ends"):
        return _judge_hits(batch, want, hit, detail)
    if want.outcome == "session dies":
        return _judge_death(batch, want, detail)
    if want.outcome == "refused":
        return _judge_refusal(batch, want, detail)
    raise ValueError(f"{want.outcome!r} is not an outcome of a flow table")


def _without(counts: dict[str, int], kind: str) -> dict[str, int]:
    return {k: n for k, n in counts.items() if k != kind}


def _judge_hits(batch: Any, want: Expected, hit: Callable[[int], bool], detail: list[str]) -> Verdict:
    kind = "error" if want.outcome == "ends with an error" else "timeout"
    words = "ended with an error" if kind == "error" else "got no end in time"
    code = f" {want.code}" if want.code else ""
    hits, others = Counter(), Counter()
    wrong_code = []
    for rec in batch.records:
        stuck = False  # a session whose prompt never ended sends nothing more
        for number, happened in enumerate(rec.prompt_outcomes(), start=1):
            if stuck and happened == "notSent":
                continue
            (hits if hit(number) else others)[happened] += 1
            stuck = stuck or (hit(number) and happened == "timeout")
            turn = rec.turns[number - 1] if number <= len(rec.turns) else None
            if hit(number) and happened == kind and want.code and turn is not None and turn.error_code != want.code:
                wrong_code.append(f"flow {rec.index} prompt {number}: code {turn.error_code}, expected {want.code}")
    should = f"The prompts the mode hits should have {words}{code} and the others should have been answered in full"
    if not sum(hits.values()):
        return Verdict(want.text, should, "the mode hit no prompt (check MODE and MODE ON)", False, detail)
    problems = []
    if hits[kind] != sum(hits.values()):
        problems.append(f"of the {sum(hits.values())} prompts it hit, {counted(hits)}")
    if wrong_code:
        problems.append(f"{len(wrong_code)} ended with another code")
        detail = wrong_code[:5] + detail
    if others["completed"] != sum(others.values()):
        problems.append(f"of the {sum(others.values())} others, {counted(others)}")
    if problems:
        return Verdict(want.text, should, "; ".join(problems), False, detail)
    rest = f", and the {others['completed']} others were answered in full" if others["completed"] else ""
    return Verdict(want.text, should, f"all {hits[kind]} prompts it hit {words}{code}{rest}", True, detail)


DEATH = ("sessionDied", "sessionGone", "notSent", "completed")


def _judge_death(batch: Any, want: Expected, detail: list[str]) -> Verdict:
    outcomes = batch.prompt_outcomes()
    should = "The agent should have stopped during a prompt, so that its sessions died"
    died = outcomes.get("sessionDied", 0) + outcomes.get("sessionGone", 0)
    other = {k: n for k, n in outcomes.items() if k not in DEATH}
    refused = [r for r in batch.records if r.refusal]
    dead_refusals = [r for r in refused if r.refused_status == 404 or (r.error and "channel closed" in r.error)]
    odd = len(refused) - len(dead_refusals)
    if not died:
        return Verdict(want.text, should, f"no session died ({counted(outcomes, batch.prompt_count)})", False, detail)
    parts = [f"prompts: {counted(outcomes)}"]
    if dead_refusals:
        parts.append(f"{len(dead_refusals)} requests failed because the agent had stopped")
    if other or odd:
        if odd:
            parts.append(f"{odd} requests were refused for another reason")
        return Verdict(want.text, should, "other things happened too (" + "; ".join(parts) + ")", False, detail)
    return Verdict(want.text, should, "it did (" + "; ".join(parts) + ")", True, detail)


def _judge_refusal(batch: Any, want: Expected, detail: list[str]) -> Verdict:
    key = f"{want.status} {want.code or ''}".strip()
    refusals = batch.refusals()
    matching = sum(n for k, n in refusals.items() if k == key or (want.code is None and k.split()[0] == key))
    should = f"The daemon should have refused some requests with {key}, and everything it accepted should have worked"
    accepted = [r for r in batch.records if not r.refusal]
    broken = [r for r in accepted if r.problems(batch.chunks)]
    other = {k: n for k, n in refusals.items() if k != key and not (want.code is None and k.split()[0] == key)}
    if not matching:
        seen = f"it refused {', '.join(f'{n}x {k}' for k, n in refusals.items())}" if refusals else "it refused none"
        return Verdict(want.text, should, seen, False, detail)
    problems = []
    if other:
        problems.append("it also refused " + ", ".join(f"{n}x {k}" for k, n in other.items()))
    if broken:
        problems.append(f"{len(broken)} of the {len(accepted)} sessions it accepted broke the flow's rules")
    happened = f"it refused {matching} with {key}"
    if problems:
        return Verdict(want.text, should, happened + "; " + "; ".join(problems), False, detail)
    return Verdict(want.text, should, f"{happened} and the {len(accepted)} others worked", True, detail)


def judge_prompts_at_once(result: Any, want: Expected) -> Verdict:
    """The verdict on ``<N> prompts at once`` (:class:`keywords.traffic.row_loads.PromptsAtOnce`)."""
    done = result.outcomes.get("completed", 0)
    turns = f"{done} of the {result.accepted} it accepted were answered in full"
    detail = [result.line()]
    if want.outcome == "completes":
        should = f"The daemon should have accepted all {result.sent} prompts and answered each in full"
        refused = ", ".join(f"{n}x {k}" for k, n in result.refusals.items())
        happened = f"it accepted {result.accepted}" + (f" and refused {refused}" if refused else "") + f"; {turns}"
        return Verdict(want.text, should, happened, result.accepted == result.sent == done, detail)
    key = f"{want.status} {want.code or ''}".strip()
    matching = sum(n for k, n in result.refusals.items() if k == key or (not want.code and k.startswith(key)))
    should = f"The daemon should have refused some of the {result.sent} prompts with {key} and answered the rest"
    others = {k: n for k, n in result.refusals.items() if not (k == key or (not want.code and k.startswith(key)))}
    passed = matching > 0 and not others and not result.unanswered and done == result.accepted
    also = f"; it also refused {', '.join(f'{n}x {k}' for k, n in others.items())}" if others else ""
    lost = f"; {result.unanswered} got no answer" if result.unanswered else ""
    return Verdict(want.text, should, f"it refused {matching} with {key}{also}{lost}; {turns}", passed, detail)


_TURN_SHOULD = {
    "completes": ("The prompt should have been answered in full", ("completed",)),
    "ends with an error": ("The prompt should have ended with an error", ("error",)),
    "never ends": ("The prompt should have got no end within the wait", ("timeout",)),
    "is cancelled": ("The prompt should have been cancelled", ("cancelled",)),
    "session dies": ("The agent should have stopped during the prompt, so its session died", ("sessionDied",)),
}


def judge_turn(turn: Any, want: Expected) -> Verdict:
    """The verdict on one prompt's turn (:class:`keywords.traffic.turns.TurnResult`)."""
    should, kinds = _TURN_SHOULD[want.outcome]
    code = f" {want.code}" if want.code else ""
    happened = turn.happened
    passed = happened in kinds and (not want.code or turn.error_code == want.code)
    words = HAPPENED.get(happened, happened)
    if happened == "error":
        words += f" {turn.error_code}"
    detail = [f"turn {turn.prompt_id}: {turn.summary()}"]
    return Verdict(want.text, should + code, f"it {words}", passed, detail)


def judge_stream(stream: Any, want: Expected, wait_s: float) -> Verdict:
    """The verdict on an event stream read for up to ``wait_s``.

    ``stream`` is a :class:`keywords.traffic.stream_result.StreamResult`.
    """
    detail = [stream.summary()]
    if want.outcome == "completes":
        should = f"The event stream should have stayed open for the whole wait of {wait_s:g} s"
        ended = "it stayed open" if stream.end == "timeout" else f"it ended ({stream.end} {stream.terminal or ''})"
        return Verdict(want.text, should, ended.strip(), stream.end == "timeout", detail)
    reason = f" for {want.code}" if want.code else ""
    should = f"The daemon should have evicted the event stream{reason} within {wait_s:g} s"
    if stream.evicted:
        passed = not want.code or stream.eviction_reason == want.code
        happened = f"it evicted it for {stream.eviction_reason}"
    elif stream.cut_before_terminal:
        passed, happened = False, "the stream was cut without an eviction event (client_evicted)"
    else:
        passed, happened = False, f"it did not (the stream ended {stream.end})"
    return Verdict(want.text, should, happened, passed, detail)


def judge_slo(result: Any) -> Verdict:
    """The verdict on a sustained load run with an SLO (:class:`keywords.traffic.open_model.SustainedLoadResult`
    whose ``slo`` holds every bound's measured value): each breached bound with its measured value, and an early
    stop when a bound could no longer hold."""
    verdict = result.slo
    if verdict is None:
        raise ValueError("judge_slo needs a load run with an SLO (run_prompt_load(..., slo=...)).")
    bounds = ", ".join(f"{c.name} at most {c.bound:g}{' ms' if c.name == 'p99' else ''}" for c in verdict.checks)
    should = f"The load should have stayed within its bounds ({bounds})"
    detail = [result.line()]
    if not result.reliable:
        detail.append(f"the harness itself was saturated ({result.harness_cpu.line()}): the figures are unreliable")
    if not verdict.held:
        count = "1 bound was" if len(verdict.breached) == 1 else f"{len(verdict.breached)} bounds were"
        happened = f"{count} breached: {verdict.reason()}" if verdict.breached else verdict.reason()
        return Verdict("within its bounds", should, happened, False, detail)
    measured = "; ".join(c.detail for c in verdict.checks)
    return Verdict("within its bounds", should, f"it did: {measured} ({result.planned} planned)", True, detail)


def judge_permissions(result: Any, want: Expected) -> Verdict:
    """The verdict on a permission row: round trips (``problems()``, ``turn_ends``) or an unanswered request
    (``outcome``, ``turn_end``)."""
    if hasattr(result, "turn_ends"):
        problems = result.problems()
        ends = ", ".join(f"{n}x {end}" for end, n in result.turn_ends.items())
        should = (
            "Every permission request should have been answered and resolved exactly once, and every turn "
            "answered in full"
        )
        happened = f"{len(problems)} things went wrong ({problems[0]})" if problems else f"all were (turns: {ends})"
        passed = not problems and want.outcome == "completes"
        return Verdict(want.text, should, happened, passed, problems[:10] or [result.line()])
    should = "Nobody answered, so the daemon should have given up waiting and the turn should have been cancelled"
    cancelled = result.outcome == "cancelled" and result.turn_end == "turn_complete cancelled"
    happened = f"the request was resolved as {result.outcome or 'nothing'} and the turn ended {result.turn_end}"
    return Verdict(want.text, should, happened, cancelled and want.outcome == "is cancelled", [result.line()])


def judge_tool_turns(result: Any, tool_calls: int, permissions: int) -> Verdict | None:
    """The verdict on the tool calls and permissions of a sustained prompt load
    (:class:`keywords.traffic.open_model.SustainedLoadResult`): every turn that ended well showed its tool calls
    on the stream, asked its permissions, and the daemon accepted every answer. ``None`` without tool calls."""
    if not tool_calls:
        return None
    done = result.completed
    want = f"{tool_calls} tool call(s)" + (f" and {permissions} permission request(s)" if permissions else "")
    should = f"Each of the {done} answered prompts should have shown {want}, every request answered"
    problems = []
    shown = result.event_mix.get("tool_call", 0)
    if shown < done * tool_calls:
        problems.append(f"{shown} tool_call updates on the streams, fewer than {done} x {tool_calls}")
    if permissions:
        asked, answered = result.permission_requests or 0, result.permission_answered or 0
        if asked < done * permissions or asked > result.sent * permissions:
            expected = f"{done} x {permissions} to {result.sent} x {permissions}"
            problems.append(f"{asked} permission requests, expected {expected}")
        if answered != asked or result.permission_refused:
            refused = ", ".join(f"{n}x {status}" for status, n in sorted(result.permission_refused.items()))
            refused = f"refused: {refused}" if refused else "none refused"
            problems.append(f"{answered} of {asked} answers accepted ({refused})")
    elif result.permission_requests:
        problems.append(f"{result.permission_requests} permission requests where the row asks none")
    detail = [result.line()]
    if problems:
        return Verdict("tool calls and permissions", should, "; ".join(problems), False, detail)
    asked = f", {result.permission_answered} permission requests answered" if permissions else ""
    return Verdict("tool calls and permissions", should, f"they did: {shown} tool_call updates{asked}", True, detail)


def judge_bound(name: str, value: float | None, bound: float | None, unit: str = "ms") -> Verdict | None:
    """The verdict on one measured figure against its upper bound; ``None`` when the row sets no bound.

    A figure that was not measured (no sample) is not judged: the verdict passes and says so.
    """
    if bound is None:
        return None
    should = f"The {name} should have been at most {bound:g} {unit}"
    if value is None:
        return Verdict(f"{name} ≤ {bound:g} {unit}", should, "nothing was measured to check it against", True)
    over = value - bound
    if over > 0:
        pct = f" ({over / bound * 100:.0f}% over)" if bound else ""
        return Verdict(f"{name} ≤ {bound:g} {unit}", should, f"it was {value:.1f} {unit}{pct}", False)
    return Verdict(f"{name} ≤ {bound:g} {unit}", should, f"it was {value:.1f} {unit}", True)


@dataclass
class RowRun:
    """One scenario row's run: its row, what it measured and the verdicts on it.

    Attributes:
        row: The parsed row (:class:`keywords.reporting.rows.Row`).
        result: What the run measured (a result with ``figures()`` and ``line()``).
        verdicts: The verdicts, the expected outcome's first; a row passes when all pass.
        summary: The key figures in one line of plain words.
    """

    row: Any
    result: Any
    verdicts: list[Verdict]
    summary: str

    @property
    def passed(self) -> bool:
        """Whether every verdict passed."""
        return all(v.passed for v in self.verdicts)

    def figures(self) -> dict[str, Any]:
        """The result's figures (what the run measured)."""
        return self.result.figures()

    def line(self) -> str:
        """One line for the test message: the key figures, then each verdict's expectation and whether it held."""
        held = " · ".join(f"{v.expected}: {'yes' if v.passed else 'NO'}" for v in self.verdicts)
        return f"{self.summary} | {held}"

    def message(self) -> str:
        """The failure message: the first failing verdict's plain sentence, its detail, the other verdicts'
        sentences, and the key figures."""
        failing = [v for v in self.verdicts if not v.passed]
        if not failing:
            return ""
        first, *rest = failing
        lines = [first.message(), *(f"Also: {v.sentence()}" for v in rest), f"Figures: {self.summary}"]
        return "\n".join(lines)
