"""The four scenario tables: their columns as the header lines spell them, and the checks across columns.

``suites/scenarios/bursts.robot``, ``sustained.robot``, ``limits.robot`` and ``permissions.robot`` are tables
whose header lines must read exactly as :data:`TABLES` says (a unit test compares them), so a bad cell's message
names its column as the reader sees it. The guide (``docs/ADDING-SCENARIOS.md``) explains each column with the
``meaning`` given here. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import re
from typing import Any

from keywords.daemon import flags as daemon_flags
from keywords.errors import HarnessConfigError
from keywords.reporting import outcomes
from keywords.reporting.rows import MAX_COUNT, Column, Table
from keywords.traffic import row_loads
from mock_acp.directives import MAX_CHUNKS, MAX_DELAY_MS, MOCK_MODES

MODE_ON_FORMS = ("every prompt", "first prompt", "prompt <N>", "every <N>th prompt")
_ORDINAL = r"(\d+)(?:st|nd|rd|th)"


def mode_on(cell: str) -> tuple[int, int]:
    """A ``MODE ON`` cell as the mock's ``(mode_at, mode_every)``: ``every prompt`` (1, 1), ``first prompt`` (1, 0),
    ``prompt 3`` (3, 0), ``every 2nd prompt`` (2, 2).

    Raises:
        ValueError: none of :data:`MODE_ON_FORMS`.
    """
    if cell == "every prompt":
        return 1, 1
    if cell == "first prompt":
        return 1, 0
    match = re.fullmatch(r"prompt (\d+)", cell)
    if match and 1 <= int(match.group(1)) <= MAX_COUNT:
        return int(match.group(1)), 0
    match = re.fullmatch(rf"every {_ORDINAL} prompt", cell)
    if match and 1 <= int(match.group(1)) <= MAX_COUNT:
        return int(match.group(1)), int(match.group(1))
    raise ValueError(cell)


def _expected(*allowed: str) -> Column:
    return Column(
        "EXPECTED",
        "expected",
        "text",
        "What must happen, in the words of the guide's outcome table; the row passes when it happens.",
        values=outcomes.expected_forms(allowed),
        parse=lambda cell: outcomes.expected(cell, allowed),
    )


def _failure_needs_a_mode(values: dict[str, Any]) -> str | None:
    want = values["expected"]
    if want.outcome != "completes" and values["mode"] == "echo":
        return (
            f'Column "EXPECTED" says "{want.text}", but column "MODE" is "echo", which answers every prompt '
            "normally: choose the mode that makes it happen (the guide's mode table lists them)."
        )
    return None


BURSTS = Table(
    "bursts",
    (
        Column("BURST", "burst", "count", "Sessions working at the same time (all start together).", 1, MAX_COUNT),
        Column("PROMPTS", "prompts", "count", "Prompts each session sends, one after another.", 1, MAX_COUNT),
        Column("CHUNKS", "chunks", "count", "Pieces of each answer (the mock streams them).", 0, MAX_CHUNKS),
        Column("DELAY MS", "delay_ms", "count", "Pause between two pieces of an answer, ms.", 0, MAX_DELAY_MS),
        Column("MODE", "mode", "choice", "How the mock agent answers (the guide's mode table).", values=MOCK_MODES),
        Column(
            "MODE ON",
            "mode_on",
            "text",
            "Which prompts of each session get the MODE; the others are answered normally.",
            values=MODE_ON_FORMS,
            parse=mode_on,
        ),
        Column(
            "P99 BOUND MS",
            "p99_bound_ms",
            "bound",
            "The longest p99 answer time allowed, ms, over the prompts answered in full.",
            blank=True,
        ),
        _expected("completes", "ends with an error", "session dies", "never ends"),
    ),
    across=(_failure_needs_a_mode,),
    inputs={
        "burst": "burst",
        "prompts": "promptsPerSession",
        "chunks": "chunksPerPrompt",
        "delay_ms": "mockDelayMs",
        "mode": "mode",
    },
)


def _tools_ask(values: dict[str, Any]) -> str | None:
    if values["permissions"] is None or values["tool_calls"] is None:
        return None
    if values["permissions"] > values["tool_calls"]:
        return (
            f'Column "PERMISSIONS" ({values["permissions"]}) cannot be more than column "TOOL CALLS" '
            f"({values['tool_calls']}): each permission is asked by one tool call."
        )
    return None


def _sessions_workload(values: dict[str, Any]) -> str | None:
    per_session = {
        "SESSIONS": values["sessions"],
        "CHUNKS": values["chunks"],
        "TOOL CALLS": values["tool_calls"],
        "PERMISSIONS": values["permissions"],
    }
    if values["workload"] == "sessions":
        given = [name for name, value in per_session.items() if value is not None]
        if given:
            return (
                f'Column "{given[0]}" must be "-" when WORKLOAD is "sessions" (each arrival creates and closes '
                f'its own session, and sends no prompt), got "{per_session[given[0]]}".'
            )
    else:
        missing = [name for name, value in per_session.items() if value is None]
        if missing:
            return f'Column "{missing[0]}" needs a number when WORKLOAD is "prompts", got "-".'
    return None


SUSTAINED = Table(
    "sustained",
    (
        Column(
            "WORKLOAD",
            "workload",
            "choice",
            "prompts: prompts over a few sessions; sessions: each arrival creates and closes a session.",
            values=("prompts", "sessions"),
        ),
        Column("RATE", "rate", "bound", "Arrivals per second, whatever the daemon does.", 0, 5000, unit="per second"),
        Column("DURATION S", "duration_s", "bound", "How long arrivals keep coming, seconds.", 0, 3600),
        Column("SESSIONS", "sessions", "count", "Sessions the prompts go to in turn.", 1, 64, blank=True),
        Column("CHUNKS", "chunks", "count", "Pieces of each answer.", 0, MAX_CHUNKS, blank=True),
        Column("TOOL CALLS", "tool_calls", "count", "Tool calls in each answer, after its pieces.", 0, 64, blank=True),
        Column(
            "PERMISSIONS",
            "permissions",
            "count",
            "Permission requests each answer's tool calls ask; the harness allows each as soon as it reads it.",
            0,
            64,
            blank=True,
        ),
        Column("P99 BOUND MS", "p99_bound_ms", "bound", "The longest p99 response time allowed, ms."),
        Column("MAX ERRORS", "max_errors", "count", "Failed or refused arrivals allowed.", 0),
        Column("MAX LATE", "max_late", "count", "Arrivals allowed to start late.", 0),
        Column("MAX DROPPED", "max_dropped", "count", "Arrivals allowed to be dropped (never sent).", 0),
    ),
    across=(_sessions_workload, _tools_ask),
    inputs={"chunks": "chunks", "tool_calls": "toolCalls", "permissions": "permissions"},
)

LIMIT_FLAGS = {flag.flag: flag for flag in daemon_flags.FLAGS.values() if flag.kind == "count" and not flag.needs}
"""The daemon flags a limits row may set, by their command-line spelling (``--max-sessions``)."""


def _flag_value(values: dict[str, Any]) -> str | None:
    flag = LIMIT_FLAGS[values["flag"]]
    try:
        flag.convert(values["value"])
    except HarnessConfigError:
        return f'Column "VALUE" must be a whole number from {flag.values()} for {flag.flag}, got "{values["value"]}".'
    return None


OUTCOMES_OF_LOAD = {
    "sessions": ("completes", "refused"),
    "prompts": ("completes", "refused"),
    "hanging prompt": ("ends with an error", "never ends", "is cancelled"),
    "idle stream": ("completes", "stream evicted"),
}
"""The outcomes each kind of limits load can have."""


def _outcome_fits_load(values: dict[str, Any]) -> str | None:
    load, want = values["load"], values["expected"]
    fitting = OUTCOMES_OF_LOAD[load.kind]
    if want.outcome not in fitting:
        return (
            f'Column "EXPECTED" says "{want.text}", which cannot happen to "{load.text}": use one of '
            f"{', '.join(outcomes.expected_forms(fitting))}."
        )
    return None


LIMITS = Table(
    "limits",
    (
        Column(
            "FLAG",
            "flag",
            "choice",
            "The daemon flag the row sets, as qwen serve --help spells it.",
            values=tuple(LIMIT_FLAGS),
        ),
        Column("VALUE", "value", "count", "The flag's value (its range depends on the flag).", 0),
        Column(
            "LOAD",
            "load",
            "text",
            "What the row does to the daemon (the guide's load table).",
            values=row_loads.LOADS,
            parse=row_loads.load,
        ),
        _expected("completes", "refused", "ends with an error", "never ends", "stream evicted", "is cancelled"),
    ),
    across=(_flag_value, _outcome_fits_load),
    inputs={"flag": "flag", "value": "value", "load": "load"},
)


def _nobody_answers(values: dict[str, Any]) -> str | None:
    if values["answer"] != "nobody":
        return None
    for header, field in (("SESSIONS", "sessions"), ("TOOL CALLS", "tool_calls"), ("PERMISSIONS", "permissions")):
        if values[field] != 1:
            return (
                f'Column "{header}" must be 1 when ANSWER is "nobody" (one request is left unanswered), '
                f'got "{values[field]}".'
            )
    if values["timeout_ms"] == 0:
        return 'Column "TIMEOUT MS" must be 1 or more when ANSWER is "nobody": 0 makes the daemon wait for ever.'
    return None


PERMISSIONS = Table(
    "permissions",
    (
        Column("SESSIONS", "sessions", "count", "Sessions prompted at the same time.", 1, 64),
        Column("TOOL CALLS", "tool_calls", "count", "Tool calls in each prompt's answer.", 1, 64),
        Column("PERMISSIONS", "permissions", "count", "Permission requests each prompt's tool calls ask.", 1, 64),
        Column(
            "ANSWER",
            "answer",
            "choice",
            "allow or reject: each request is answered so as soon as it is read; nobody: no answer.",
            values=("allow", "reject", "nobody"),
        ),
        Column(
            "TIMEOUT MS",
            "timeout_ms",
            "count",
            "The daemon's --permission-response-timeout-ms (0: it waits for ever).",
            0,
            daemon_flags.MAX_INT32,
        ),
        _expected("completes", "is cancelled"),
    ),
    across=(_tools_ask, _nobody_answers),
    inputs={
        "sessions": "sessions",
        "tool_calls": "toolCalls",
        "permissions": "permissions",
        "answer": "answer",
        "timeout_ms": "timeoutMs",
    },
)

TABLES: dict[str, Table] = {table.name: table for table in (BURSTS, SUSTAINED, LIMITS, PERMISSIONS)}
"""Every scenario table by name (its file is ``suites/scenarios/<name>.robot``)."""
