"""The patch table: seeded regressions of the daemon, each a small edit of one bundled JavaScript chunk.

Each :class:`Patch` is one regression a daemon developer could plausibly introduce: a delay on one route, a
blocked event loop, memory kept per session, a cap off by one, an event lost or sent twice, a replay cursor
off by one, eviction of slow consumers switched off, a route left out of the bearer check. A patch names the
file it edits (relative to the folder of the build's entry script, e.g. ``chunks/server-5R5R5J4B.js`` of
0.24.4) and one or more edits; every edit is anchored on a text that must occur exactly once in that file,
so a patch that no longer fits a build fails before anything runs, naming the patch, the file and the
anchor (:class:`PatchError`).

Parameters (a delay, a per-session amount, every how many events) are whole numbers with a default and a
range; they are written into the JavaScript where ``{{name}}`` stands in an edit. Nothing here imports Robot
Framework.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from keywords import checks
from keywords.errors import HarnessConfigError

Kind = Literal["slower", "leakier", "broken", "unsafe"]
KINDS: tuple[str, ...] = ("slower", "leakier", "broken", "unsafe")
SEARCH_GLOB = "chunks/*.js"
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


class PatchError(HarnessConfigError):
    """A patch does not fit a build (file missing, anchor missing or not unique) or got a bad parameter."""


@dataclass(frozen=True)
class Param:
    """One whole-number parameter of a patch.

    Attributes:
        name: Parameter name (``delay_ms``), used as ``{{delay_ms}}`` in edits and descriptions.
        default: Value when none is given.
        low: Smallest allowed value.
        high: Largest allowed value.
        unit: Unit shown in messages (``ms``, ``MB``), or empty.
    """

    name: str
    default: int
    low: int
    high: int
    unit: str = ""


@dataclass(frozen=True)
class Edit:
    """Replace ``anchor`` (which must occur exactly once in the file) by ``replacement``.

    Attributes:
        anchor: Exact text of the unpatched file.
        replacement: Text put in its place; ``{{name}}`` is replaced by the parameter's value.
    """

    anchor: str
    replacement: str


def insert_before(anchor: str, code: str) -> Edit:
    """An edit that puts ``code`` right before ``anchor``."""
    return Edit(anchor, code + anchor)


def insert_after(anchor: str, code: str) -> Edit:
    """An edit that puts ``code`` right after ``anchor``."""
    return Edit(anchor, anchor + code)


@dataclass(frozen=True)
class Patch:
    """One seeded regression.

    Attributes:
        name: Short name (``lose-every-nth-update``); the copy's folder and the report use it.
        kind: ``slower``, ``leakier``, ``broken`` or ``unsafe``.
        description: One line of what it breaks (``{{name}}`` filled with the parameter values).
        file: The edited file, relative to the folder of the entry script.
        edits: The edits, each anchored on a unique text of ``file``.
        params: The parameters with their defaults.
        expected: Tests of the pre-merge check expected to catch it (test names); empty when no test is
            expected to today.
        note: Why the expectation is what it is (e.g. no performance gate yet).
    """

    name: str
    kind: Kind
    description: str
    file: str
    edits: tuple[Edit, ...]
    params: tuple[Param, ...] = ()
    expected: tuple[str, ...] = ()
    note: str = ""

    def values(self, given: Mapping[str, object] | None = None) -> dict[str, int]:
        """The parameter values: defaults overridden by ``given``, each checked against its range.

        Raises:
            PatchError: an unknown parameter, or a value outside its range.
        """
        given = dict(given or {})
        known = [p.name for p in self.params]
        try:
            checks.known_names(f"parameter of patch {self.name}", given, known, hint=_params_hint(self))
            return {
                p.name: checks.whole_number(
                    f"{self.name} parameter {p.name}", given.get(p.name, p.default), low=p.low, high=p.high, unit=p.unit
                )
                for p in self.params
            }
        except PatchError:
            raise
        except HarnessConfigError as exc:
            raise PatchError(str(exc)) from exc

    def describe(self, given: Mapping[str, object] | None = None) -> str:
        """The description with the parameter values filled in."""
        return fill(self.description, self.values(given))


def _params_hint(patch: Patch) -> str:
    if not patch.params:
        return f"Patch {patch.name} takes no parameters."
    return "Give them as " + ", ".join(f"{patch.name}:{p.name}=<{p.low}..{p.high}>" for p in patch.params) + "."


def fill(template: str, values: Mapping[str, int]) -> str:
    """Replace every ``{{name}}`` of ``template`` by ``values[name]``.

    Raises:
        PatchError: a placeholder without a value (a defect of the patch table).
    """

    def one(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise PatchError(f"placeholder {{{{{key}}}}} has no parameter of that name")
        return str(values[key])

    return _PLACEHOLDER.sub(one, template)


def short(anchor: str, limit: int = 90) -> str:
    """The anchor as one line for messages: whitespace collapsed, cut at ``limit`` characters."""
    text = " ".join(anchor.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the table ------------------------------------------------------------------------------------------
SERVER = "chunks/server-5R5R5J4B.js"  # HTTP routes, auth middleware, SSE writer
EVENT_BUS = "chunks/chunk-KWYTSSTJ.js"  # per-session event bus: publish, subscribe, replay, queues
BRIDGE = "chunks/chunk-ODAWVZRE.js"  # the HTTP-ACP bridge: session admission, prompt queue, turn frames

_GATE = "The Candidate Build Is Not Slower, Bigger Or Leakier Than The Reference"  # suites/loadtest/perf_gate.robot
_ROUTE_PROMPT = "      async (req, res, sessionId, runtime, onPromptAdmitted) => {\n"
_SESSION_CREATE = 'app.post("/session", mutate(), async (req, res) => {\n'
_SESSION_OK = "      res.status(200).json(session);\n    } catch (err) {"
_SSE_WRITE = "const next = writeChain.then(() => doWrite(chunk));"
_ACCESS_LOG = "  installAccessLogMiddleware(app, daemonLog);\n"
_AUTH = "  app.use(authenticate);\n"
_SPAWN_CAP = (
    ">= maxSessions) {\n        throw new SessionLimitExceededError(maxSessions);\n      }\n"
    "      const requestedSessionRegistrationOwner"
)
_PENDING_CAP = "if (!isPromotedMidTurn && entry.pendingPromptCount >= maxPendingPromptsPerSession) {"
_SUBSCRIBER_CAP = "if (this.subs.size >= this.maxSubscribers) {"
_PUBLISH = "  publish(input) {\n    if (this.closed) return void 0;\n"
_RING_PUSH = "    this.nextId += 1;\n    this.ring.push(event);\n"
_SUB_PUSH = "const pushResult = sub.queue.push(event, getEventBytes);"
_REPLAY_FROM = "const replayFrom = epochReset ? 0 : opts.lastEventId;"
_QUEUE_FULL = "if (this.liveCount >= this.maxSize) {"
_QUEUE_BYTES = "if (this.liveCount > 0 && this.liveBytes + bytes > this.maxBytes) {"
_TURN_COMPLETE = (
    "function broadcastTurnComplete(entry, sessionId, promptResult, promptId, originatorClientId, mutateTurnState) {\n"
)


def _every_nth(counter: str) -> str:
    """A JavaScript test that is true on every ``{{every}}``-th call (a process-wide counter per patch)."""
    return f"(globalThis.{counter} = (globalThis.{counter} ?? 0) + 1) % {{{{every}}}} === 0"


def _sleep_in_route(name: str, route: str, anchor: str, indent: int) -> Patch:
    """A route that sleeps ``{{delay_ms}}`` ms before doing its work."""
    return Patch(
        name=name,
        kind="slower",
        description=f"{route} answers {{{{delay_ms}}}} ms later (a sleep at the start of the route)",
        file=SERVER,
        edits=(insert_after(anchor, " " * indent + "await new Promise((r) => setTimeout(r, {{delay_ms}}));\n"),),
        params=(Param("delay_ms", 200, 1, 60000, "ms"),),
        expected=(_GATE,),
    )


def _off_by_one(name: str, description: str, file: str, anchor: str, expected: str) -> Patch:
    """A cap compared with ``>`` where ``>=`` belongs: it admits one more than its limit."""
    return Patch(
        name=name,
        kind="broken",
        description=description + " (> instead of >=)",
        file=file,
        edits=(Edit(anchor, anchor.replace(">=", ">", 1)),),
        expected=(expected,),
    )


def _skip_bearer(name: str, route: str, condition: str, row: str) -> Patch:
    """The bearer-token middleware passes requests for which the JavaScript ``condition`` holds."""
    return Patch(
        name=name,
        kind="unsafe",
        description=f"{route} skips the bearer check (answers without a token)",
        file=SERVER,
        edits=(Edit(_AUTH, f"  app.use((req, res, next) => {condition} ? next() : authenticate(req, res, next));\n"),),
        expected=(row,),
        note="caught by the route's row of the security route table (suites/security/routes.robot)",
    )


def _busy_wait_us(indent: int) -> str:
    """A line of route code that busy-waits ``{{busy_us}}`` microseconds (a block of its own), indented."""
    wait = "{ const until = performance.now() + {{busy_us}} / 1000; while (performance.now() < until) {} }"
    return " " * indent + wait + "\n"


_SERIAL_TURNS = "Rapid Lifecycle Of Sequential Create Prompt Close Cycles"
_BURSTS = ("Burst At Upstream Size", "Burst Above The Default Session Cap")
_STALLED = "A Stalled Slow Consumer Is Evicted While A Healthy Subscriber Gets Everything"
_RECONNECT = "Reconnect With Last-Event-ID Under Concurrent Load Continues Exactly After The Cursor"
_WRITER_IDLE = "Writer Idle Timeout Evicts A Stalled Stream And A Healthy Idle One"
_SUSTAINED = "Prompts At A Steady Arrival Rate Over Several Sessions"

PATCHES: tuple[Patch, ...] = (
    _sleep_in_route("slow-prompt-post", "POST /session/:id/prompt", _ROUTE_PROMPT, 8),
    _sleep_in_route("slow-session-create", "POST /session", _SESSION_CREATE, 4),
    Patch(
        name="busy-session-and-prompt",
        kind="slower",
        description="POST /session and POST /session/:id/prompt each busy-wait {{busy_us}} us first (with the mock "
        "agent about a tenth of their answer time on the pinned release)",
        file=SERVER,
        edits=(insert_after(_SESSION_CREATE, _busy_wait_us(4)), insert_after(_ROUTE_PROMPT, _busy_wait_us(8))),
        params=(Param("busy_us", 400, 1, 1_000_000, "us"),),
        expected=(_GATE,),
        note="the regression the performance gate's power study measures (benchmarks/gate_power.py)",
    ),
    Patch(
        name="block-event-loop",
        kind="slower",
        description="every HTTP request busy-waits {{busy_ms}} ms on the event loop (all other work stalls meanwhile)",
        file=SERVER,
        edits=(
            insert_before(
                _ACCESS_LOG,
                "  app.use((_req, _res, next) => {\n"
                "    const until = performance.now() + {{busy_ms}};\n"
                "    while (performance.now() < until) {\n    }\n"
                "    next();\n  });\n",
            ),
        ),
        params=(Param("busy_ms", 20, 1, 10000, "ms"),),
        expected=(_GATE,),
    ),
    Patch(
        name="slow-sse-frames",
        kind="slower",
        description="every SSE write waits {{delay_ms}} ms first, so a stream delivers at most 1000/{{delay_ms}} "
        "frames per second",
        file=SERVER,
        edits=(
            Edit(
                _SSE_WRITE,
                _SSE_WRITE.replace(
                    "writeChain.then(",
                    "writeChain.then(() => new Promise((r) => setTimeout(r, {{delay_ms}}))).then(",
                    1,
                ),
            ),
        ),
        params=(Param("delay_ms", 5, 1, 10000, "ms"),),
        expected=(_GATE, _WRITER_IDLE, "Pending Prompt Queue Full Gives 503 With Retry-After"),
    ),
    Patch(
        name="leak-per-session",
        kind="leakier",
        description="every created session leaves a {{mb}} MB buffer in a process-wide array that is never freed",
        file=SERVER,
        edits=(
            insert_before(
                _SESSION_OK,
                "      if (!session.attached)\n"
                "        (globalThis.__qwenSeededLeak ??= []).push(Buffer.alloc({{mb}} * 1048576, 1));\n",
            ),
        ),
        params=(Param("mb", 1, 1, 1024, "MB"),),
        expected=(_GATE,),
    ),
    _off_by_one(
        "session-cap-off-by-one",
        "--max-sessions N admits N+1 thread sessions in the spawn path",
        BRIDGE,
        _SPAWN_CAP,
        "Session Cap Gives 503 And Attach Works At The Cap Only To An Existing Shared Session",
    ),
    _off_by_one(
        "pending-cap-off-by-one",
        "--max-pending-prompts-per-session N admits N+1 prompts",
        BRIDGE,
        _PENDING_CAP,
        "Pending Prompt Queue Full Gives 503 With Retry-After",
    ),
    _off_by_one(
        "subscriber-cap-off-by-one",
        "a session takes 65 SSE subscribers instead of 64",
        EVENT_BUS,
        _SUBSCRIBER_CAP,
        "The Subscriber Over The Cap Is Refused And Those At The Cap Keep Working",
    ),
    Patch(
        name="lose-every-nth-update",
        kind="broken",
        description="every {{every}}th session_update is silently not published (no id is used, so no gap shows)",
        file=EVENT_BUS,
        edits=(
            insert_after(
                _PUBLISH,
                f'    if (input.type === "session_update" && {_every_nth("__qwenSeededLost")}) return void 0;\n',
            ),
        ),
        params=(Param("every", 20, 1, 100000),),
        expected=(_SERIAL_TURNS, *_BURSTS, _STALLED, _RECONNECT, _SUSTAINED),
    ),
    Patch(
        name="duplicate-every-nth-update",
        kind="broken",
        description="every {{every}}th session_update is delivered twice with the same id (ring and live queues)",
        file=EVENT_BUS,
        edits=(
            insert_after(
                _RING_PUSH,
                f'    const seededDuplicate = event.type === "session_update" && {_every_nth("__qwenSeededDup")};\n'
                "    if (seededDuplicate) this.ring.push(event);\n",
            ),
            insert_after(
                _SUB_PUSH, "\n      if (seededDuplicate && pushResult.ok) sub.queue.push(event, getEventBytes);"
            ),
        ),
        params=(Param("every", 20, 1, 100000),),
        expected=(_SERIAL_TURNS, *_BURSTS, _STALLED, _RECONNECT, _WRITER_IDLE),
    ),
    Patch(
        name="drop-turn-complete",
        kind="broken",
        description="the turn_complete frame of every {{every}}th finished turn is never published",
        file=BRIDGE,
        edits=(insert_after(_TURN_COMPLETE, f"  if ({_every_nth('__qwenSeededTurns')}) return;\n"),),
        params=(Param("every", 10, 1, 100000),),
        expected=(_SERIAL_TURNS, *_BURSTS, _RECONNECT, _SUSTAINED, _GATE),
    ),
    Patch(
        name="replay-off-by-one",
        kind="broken",
        description="a reconnect with Last-Event-ID n replays from n+2: the first event after the cursor is skipped",
        file=EVENT_BUS,
        edits=(Edit(_REPLAY_FROM, _REPLAY_FROM.replace("opts.lastEventId;", "opts.lastEventId + 1;")),),
        expected=(_RECONNECT, _SERIAL_TURNS, *_BURSTS),
        note="every test that follows a turn opens its stream with Last-Event-ID, so nearly every test fails",
    ),
    Patch(
        name="no-slow-consumer-eviction",
        kind="broken",
        description="a subscriber's queue never overflows, so a stalled reader is never evicted and its backlog "
        "grows without bound",
        file=EVENT_BUS,
        edits=(
            Edit(_QUEUE_FULL, _QUEUE_FULL.replace("if (", "if (false && ", 1)),
            Edit(_QUEUE_BYTES, _QUEUE_BYTES.replace("if (", "if (false && ", 1)),
        ),
        expected=(_STALLED,),
    ),
    _skip_bearer(
        "unauth-workspace-mcp",
        "GET /workspace/mcp",
        'req.method === "GET" && req.path === "/workspace/mcp"',
        "GET /workspace/mcp",
    ),
    _skip_bearer(
        "unauth-session-status",
        "GET /session/:id/status",
        'req.method === "GET" && /^\\/session\\/[^/]+\\/status$/.test(req.path)',
        "GET /session/{session}/status",
    ),
)

BY_NAME: dict[str, Patch] = {p.name: p for p in PATCHES}
RESERVED_NAMES = ("control", "builds")


@dataclass(frozen=True)
class Selection:
    """A patch chosen for a build, with its parameter values.

    Attributes:
        patch: The patch.
        values: Its parameter values (defaults filled in, ranges checked).
    """

    patch: Patch
    values: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The patch's name."""
        return self.patch.name

    @property
    def description(self) -> str:
        """What it breaks, with the values filled in."""
        return fill(self.patch.description, self.values)


def select(specs: Iterable[str] = ()) -> list[Selection]:
    """Parse ``NAME`` or ``NAME:key=value,key=value`` texts; no text at all selects every patch.

    Raises:
        PatchError: an unknown patch, a malformed parameter, a value outside its range, or a name given twice.
    """
    specs = [s.strip() for s in specs if s.strip()]
    if not specs:
        return [Selection(p, p.values()) for p in PATCHES]
    chosen: list[Selection] = []
    for spec in specs:
        name, _, rest = spec.partition(":")
        if name not in BY_NAME:
            raise PatchError(f"Unknown patch {name!r}; known: {', '.join(BY_NAME)}.")
        given: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise PatchError(
                    f"Patch parameters are written {name}:key=value[,key=value]; got {item!r} in {spec!r}."
                )
            given[key.strip()] = value.strip()
        if any(s.name == name for s in chosen):
            raise PatchError(f"Patch {name} is given twice; give it once (with all its parameters).")
        patch = BY_NAME[name]
        chosen.append(Selection(patch, patch.values(given)))
    return chosen


# -- applying -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Located:
    """Where a patch applies in one build.

    Attributes:
        path: The file to edit.
        relative: Its path relative to the entry script's folder.
        relocated: The named file was missing and the file was found by its anchors instead.
    """

    path: Path
    relative: str
    relocated: bool


def locate(patch: Patch, base_dir: Path, version: str) -> Located:
    """Find the file a patch edits in the build whose entry script lies in ``base_dir``.

    The named file is used when it exists. When it does not (another build hashes its chunk names
    differently), the one file under ``chunks/`` that contains every anchor of the patch is used.

    Raises:
        PatchError: the named file is missing and no single file holds the anchors.
    """
    named = base_dir / patch.file
    if named.is_file():
        return Located(named, patch.file, False)
    holders = []
    for candidate in sorted(base_dir.glob(SEARCH_GLOB)):
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if all(edit.anchor in text for edit in patch.edits):
            holders.append(candidate)
    if len(holders) == 1:
        return Located(holders[0], holders[0].relative_to(base_dir).as_posix(), True)
    where = ", ".join(h.relative_to(base_dir).as_posix() for h in holders[:5])
    raise PatchError(
        f"patch {patch.name} no longer applies to {version}: {patch.file} does not exist, and "
        f"{len(holders)} files under {SEARCH_GLOB} hold its anchor `{short(patch.edits[0].anchor)}`"
        f"{' (' + where + ')' if where else ''}; update the patch table for this build."
    )


def apply(patch: Patch, text: str, values: Mapping[str, int], *, version: str, relative: str) -> str:
    """``text`` with every edit of ``patch`` made; every anchor is checked on the unpatched text first.

    Raises:
        PatchError: an anchor found 0 or more than 1 times, or two edits that overlap.
    """
    spans: list[tuple[int, int, Edit]] = []
    for edit in patch.edits:
        count = text.count(edit.anchor)
        if count != 1:
            raise PatchError(
                f"patch {patch.name} no longer applies to {version}: anchor `{short(edit.anchor)}` found "
                f"{count} times in {relative} (it must occur exactly once)."
            )
        start = text.index(edit.anchor)
        spans.append((start, start + len(edit.anchor), edit))
    spans.sort(key=lambda s: s[0])
    for (_s1, end1, first), (start2, _e2, second) in itertools.pairwise(spans):
        if start2 < end1:
            raise PatchError(
                f"patch {patch.name}: edits `{short(first.anchor, 40)}` and `{short(second.anchor, 40)}` overlap "
                f"in {relative}."
            )
    out, pos = [], 0
    for start, end, edit in spans:
        out += [text[pos:start], fill(edit.replacement, values)]
        pos = end
    out.append(text[pos:])
    return "".join(out)
