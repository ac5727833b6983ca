"""Upstream's first-output benchmark, one run: a fresh daemon process from spawn to its first model output.

A *run* is one fresh daemon of one build with its real agent child, talking to the fake model provider of the
harness (a thread of this process, :mod:`keywords.fakes.provider`). Its steps, each stamped on the harness's
monotonic clock (the provider stamps its arrivals on the same clock, since it runs in this process):

``spawned`` (just before the spawn) -> ``listening`` (the listening line on stdout; the harness polls it every
10 ms) -> ``session_ready`` (the answer to ``POST /session``, sent right after the line, agent child not
preheated) -> ``sse_ready`` (the event stream's response headers) -> the dwell (0, 100 or 500 ms, counted from
the later of the two) -> ``prompt_start`` (the prompt POST is sent) -> ``accepted`` (its 202 is read) ->
``user_echo`` (the daemon relays the user prompt on the stream) -> ``provider_arrival`` (the provider receives
the chat-completion request carrying this run's marker) -> ``provider_ready`` (the provider starts answering,
after its fixed time to first token) -> ``first_output`` (the first model output on the stream) ->
``first_answer`` (the first answer text) -> ``terminal`` (``turn_complete``). ``daemonPromptQueueWaitMs`` is
the daemon's own figure (``GET /daemon/status`` -> ``runtime.perf.promptQueueWait``), taken only when its
counter says exactly one prompt waited, as one prompt did.

The 14 stages (:data:`STAGES`) are differences of those stamps. A stage that cannot be measured is ``None`` with
its reason, never 0. Two stages are signed: the provider can receive the request before the client has read the
202 or the echo, so ``acceptanceToProviderRequestArrivalMs`` and ``userEchoToProviderRequestArrivalMs`` may be
negative; any other negative stage is a broken clock order and is left out with that reason.

*First model output* and the user echo are found by :mod:`keywords.measure.first_output_events`.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from keywords.checks import seconds
from keywords.fakes.provider import FakeProvider, ProviderRequest
from keywords.measure.first_output_events import Observation, as_dict, observe
from keywords.reporting.figures import field_figures, rounded, shown
from keywords.traffic.client import DaemonClient
from keywords.traffic.sse import Subscription
from keywords.traffic.stream_options import StreamOptions

Build = Literal["control", "candidate"]
PROMPT_LENGTH = 128


@dataclass(frozen=True)
class Stage:
    """One stage timing: the time from one stamp of a run to another.

    Attributes:
        name: camelCase name with its unit (upstream's name).
        start: The stamp it counts from (a field of :class:`Stamps`); empty for the daemon's own figure.
        end: The stamp it counts to.
        what: What it is, in one line.
        signed: It may be negative (a race between the client and the provider).
        required: A run of a sound build must measure it (``False`` for a figure older builds do not report).
    """

    name: str
    start: str
    end: str
    what: str
    signed: bool = False
    required: bool = True


STAGES: tuple[Stage, ...] = (
    Stage("processToListenMs", "spawned", "listening", "spawn to the listening line"),
    Stage("processToSessionReadyMs", "spawned", "session_ready", "spawn to the first POST /session answer"),
    Stage("sseReadyToPromptMs", "sse_ready", "prompt_start", "event stream open to the prompt POST (the dwell)"),
    Stage("promptToAcceptanceMs", "prompt_start", "accepted", "prompt POST to its 202"),
    Stage(
        "acceptanceToProviderRequestArrivalMs",
        "accepted",
        "provider_arrival",
        "202 read to the provider request (signed)",
        signed=True,
    ),
    Stage("promptToUserEchoMs", "prompt_start", "user_echo", "prompt POST to the user echo on the stream"),
    Stage(
        "userEchoToProviderRequestArrivalMs",
        "user_echo",
        "provider_arrival",
        "user echo to the provider request (signed)",
        signed=True,
    ),
    Stage(
        "daemonPromptQueueWaitMs",
        "",
        "",
        "the daemon's FIFO wait of the prompt (its own figure, whole ms)",
        required=False,
    ),
    Stage("promptToProviderRequestArrivalMs", "prompt_start", "provider_arrival", "prompt POST to provider request"),
    Stage("promptToFirstModelOutputMs", "prompt_start", "first_output", "prompt POST to the first model output"),
    Stage("promptToFirstAnswerTextMs", "prompt_start", "first_answer", "prompt POST to the first answer text"),
    Stage(
        "providerReadyToFirstModelOutputMs",
        "provider_ready",
        "first_output",
        "provider starts answering to the first model output",
    ),
    Stage("processToFirstModelOutputMs", "spawned", "first_output", "spawn to the first model output"),
    Stage("promptToTerminalMs", "prompt_start", "terminal", "prompt POST to turn_complete"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
QUEUE_WAIT = "daemonPromptQueueWaitMs"


# -- stamps and stage arithmetic --------------------------------------------------------------------------------
@dataclass
class Stamps:
    """The monotonic times of one run (seconds; ``None``: that step did not happen or was not seen).

    Attributes:
        spawned: Just before the daemon was spawned.
        listening: The listening line was seen.
        session_ready: The first ``POST /session`` answered.
        sse_ready: The event stream's response headers arrived.
        prompt_start: The prompt POST was sent.
        accepted: Its 202 was read.
        user_echo: The user echo arrived on the stream.
        provider_arrival: The provider received the run's request.
        provider_ready: The provider started answering it.
        first_output: The first model output arrived.
        first_answer: The first answer text arrived.
        terminal: ``turn_complete`` arrived.
        queue_wait_ms: The daemon's own queue wait of the prompt (ms), or ``None``.
        queue_wait_reason: Why it is ``None``.
    """

    spawned: float | None = None
    listening: float | None = None
    session_ready: float | None = None
    sse_ready: float | None = None
    prompt_start: float | None = None
    accepted: float | None = None
    user_echo: float | None = None
    provider_arrival: float | None = None
    provider_ready: float | None = None
    first_output: float | None = None
    first_answer: float | None = None
    terminal: float | None = None
    queue_wait_ms: float | None = None
    queue_wait_reason: str = "not read"


STAMP_WHAT = {
    "spawned": "the spawn",
    "listening": "the listening line",
    "session_ready": "the session's answer",
    "sse_ready": "the event stream's answer",
    "prompt_start": "the prompt POST",
    "accepted": "the 202",
    "user_echo": "the user echo",
    "provider_arrival": "the provider request",
    "provider_ready": "the provider's answer",
    "first_output": "a model output",
    "first_answer": "answer text",
    "terminal": "turn_complete",
}


def stage_timings(stamps: Stamps) -> tuple[dict[str, float | None], dict[str, str]]:
    """The 14 stage timings of one run in ms, and the reason for each one left ``None``."""
    values: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    for stage in STAGES:
        if stage.name == QUEUE_WAIT:
            values[stage.name] = stamps.queue_wait_ms
            if stamps.queue_wait_ms is None:
                missing[stage.name] = stamps.queue_wait_reason
            continue
        start, end = getattr(stamps, stage.start), getattr(stamps, stage.end)
        value = None
        if start is None or end is None:
            absent = [STAMP_WHAT[s] for s, v in ((stage.start, start), (stage.end, end)) if v is None]
            missing[stage.name] = f"no time for {' or '.join(absent)}"
        else:
            value = (end - start) * 1000
            if value < 0 and not stage.signed:
                missing[stage.name] = f"negative ({value:.1f} ms): {STAMP_WHAT[stage.end]} before its start"
                value = None
        values[stage.name] = value
    return values, missing


def queue_wait(status: Mapping, prompts: int = 1) -> tuple[float | None, str]:
    """The daemon's queue wait of the run's prompt from ``GET /daemon/status``, or ``None`` with the reason.

    Taken only when the counter (``runtime.perf.promptQueueWait.count``) equals the prompts sent to this fresh
    daemon: then ``lastMs`` is this prompt's wait.
    """
    perf = as_dict(as_dict(as_dict(status).get("runtime")).get("perf"))
    wait = perf.get("promptQueueWait")
    if not isinstance(wait, dict):
        return None, "the build reports no runtime.perf.promptQueueWait"
    count, last = wait.get("count"), wait.get("lastMs")
    if count != prompts:
        return None, f"the daemon's queue-wait counter is {count!r} after {prompts} prompt(s)"
    if isinstance(last, bool) or not isinstance(last, (int, float)) or last < 0:
        return None, f"the daemon's lastMs is {last!r}"
    return float(last), ""


# -- one run ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunPlan:
    """Bounds and the dwell of every run.

    Attributes:
        dwell_s: Pause between the open event stream and the prompt POST.
        timeout_s: Bound on each wait of a run (the stream's answer, the prompt's terminal event).
    """

    dwell_s: float = 0.0
    timeout_s: float = 60.0

    def checked(self) -> RunPlan:
        """The plan with its durations checked (``HarnessConfigError`` names the bad one)."""
        return RunPlan(
            dwell_s=seconds("dwell", self.dwell_s, high=10, allow_zero=True),
            timeout_s=seconds("timeout", self.timeout_s, high=600),
        )


@dataclass
class FirstOutputRun:
    """One fresh daemon process of one build, spawn to its first model output and the prompt's end.

    Attributes:
        build: ``control`` or ``candidate``.
        pair: 1-based pair number (0 for a warm-up pair).
        order: ``AB`` (control first) or ``BA`` (candidate first) of its pair.
        warmup: It belongs to an unrecorded warm-up pair.
        stages: Stage name -> ms (``None``: not measured; the reason is in ``missing``).
        missing: Stage name -> why it was not measured.
        problems: What went wrong in the run (a step that failed, a wrong answer, an unexpected output kind).
        first_output_kind: ``answer_text``, ``thought_text`` or ``tool_call``, or ``None``.
        answer_text: The answer text the stream carried.
        provider_requests: Provider requests that carried this run's prompt.
        ignored_events: Stream events ignored for the first output, by reason.
        pid: The daemon's process id.
        wall_s: Wall time of the run, start to stop.
    """

    build: Build
    pair: int
    order: str
    warmup: bool = False
    stages: dict[str, float | None] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    first_output_kind: str | None = None
    answer_text: str = ""
    provider_requests: int = 0
    ignored_events: dict[str, int] = field(default_factory=dict)
    pid: int | None = None
    wall_s: float = 0.0

    def line(self) -> str:
        """One line: which run, its first-output figures and its problems."""
        what = f"{'warm-up ' if self.warmup else ''}pair {self.pair} {self.order} {self.build} (pid {self.pid})"
        shown = ", ".join(
            f"{name} {_ms(self.stages.get(name))}"
            for name in ("processToSessionReadyMs", "promptToProviderRequestArrivalMs", "promptToFirstModelOutputMs")
        )
        trouble = f"; problems: {'; '.join(self.problems)}" if self.problems else ""
        return f"{what} in {self.wall_s:.1f} s: {shown}{trouble}"

    def figures(self) -> dict[str, Any]:
        """Snapshot form (camelCase)."""
        return {
            **field_figures(self, "build", "pair", "order", "pid"),
            "wallSec": round(self.wall_s, 2),
            "stages": {k: rounded(v, 3) for k, v in self.stages.items()},
            "missing": dict(self.missing),
            "problems": list(self.problems),
            **field_figures(self, "first_output_kind", "provider_requests"),
        }


def _ms(value: float | None) -> str:
    return shown(value, ".0f", " ms")


_SEQUENCE = itertools.count(1)
_RUN_TOKEN = uuid.uuid4().hex[:8]


def prompt_text(sequence: int | None = None) -> tuple[str, str]:
    """A prompt of exactly :data:`PROMPT_LENGTH` characters with a marker unique to this run: ``(marker, text)``."""
    marker = f"fo-{_RUN_TOKEN}-{next(_SEQUENCE) if sequence is None else sequence:06d}"
    text = f"Answer in one short sentence. Run marker {marker}. "
    return marker, text.ljust(PROMPT_LENGTH, "-")


def _own_requests(provider: FakeProvider, marker: str) -> list[ProviderRequest]:
    return [r for r in provider.requests() if marker in r.last_user_text]


def _wait_for_end(sub: Subscription, prompt_id: str, deadline: float) -> Observation:
    """Poll the stream until the prompt's terminal event (or a stream end, or the deadline)."""
    while True:
        obs = observe(list(sub.result.events), prompt_id, sub.result.started_at)
        if obs.terminal is not None or obs.ended_by or sub.done or time.monotonic() >= deadline:
            return obs
        time.sleep(0.005)


def measure_run(
    start: Callable[[Build], tuple[Any, DaemonClient]],
    stop: Callable[[Any], Any],
    provider: FakeProvider,
    plan: RunPlan,
    *,
    build: Build,
    pair: int,
    order: str,
    warmup: bool = False,
) -> FirstOutputRun:
    """Run one fresh daemon of ``build`` through one prompt and return its stage timings.

    Args:
        start: ``start(build)`` starts a fresh daemon (real agent child against ``provider``, not preheated)
            and returns ``(daemon, client)``; the daemon has ``pid``, ``spawned_at`` and ``boot_s``.
        stop: ``stop(daemon)`` stops it (always called once it started).
        provider: The fake provider the agent child talks to (its reply is the expected answer).
        plan: Dwell and bounds.
        build: ``control`` or ``candidate``.
        pair: Pair number (recorded).
        order: ``AB`` or ``BA`` (recorded).
        warmup: Whether the run belongs to a warm-up pair (recorded).
    """
    run = FirstOutputRun(build=build, pair=pair, order=order, warmup=warmup)
    stamps = Stamps()
    marker, text = prompt_text()
    began = time.monotonic()
    daemon = sub = None
    step = "start"
    try:
        daemon, client = start(build)
        run.pid = daemon.pid
        stamps.spawned = daemon.spawned_at
        if daemon.spawned_at is not None and daemon.boot_s is not None:
            stamps.listening = daemon.spawned_at + daemon.boot_s
        step = "session"
        info = client.create_session("thread")
        stamps.session_ready = time.monotonic()
        step = "event stream"
        options = StreamOptions(timeout_s=plan.dwell_s + 2 * plan.timeout_s + 5)
        sub = Subscription(client.base_url, info.session_id, options, client.token).start()
        if not sub.wait_connected(plan.timeout_s) or sub.result.status != 200:
            raise AssertionError(f"the event stream was not answered 200 within {plan.timeout_s:g} s")
        stamps.sse_ready = sub.result.started_at + (sub.result.headers_ms or 0.0) / 1000
        pause = max(stamps.session_ready, stamps.sse_ready) + plan.dwell_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        step = "prompt"
        accepted = client.prompt(info.session_id, text)
        stamps.accepted = time.monotonic()
        stamps.prompt_start = accepted.posted_at
        if not accepted.prompt_id:
            raise AssertionError("the prompt's answer carried no promptId (the daemon's non-blocking prompt is needed)")
        step = "turn"
        obs = _wait_for_end(sub, accepted.prompt_id, time.monotonic() + plan.timeout_s)
        _take_observation(run, stamps, obs, plan.timeout_s)
        if obs.terminal_kind == "complete":
            step = "daemon status"
            stamps.queue_wait_ms, stamps.queue_wait_reason = queue_wait(client.daemon_status())
    except Exception as exc:  # one run's failure is recorded with the step; the benchmark goes on
        run.problems.append(f"{step}: {type(exc).__name__}: {exc}"[:300])
    finally:
        if sub is not None:
            sub.stop()
            sub.join(5.0)
        if daemon is not None:
            with contextlib.suppress(Exception):
                stop(daemon)
        run.wall_s = time.monotonic() - began
    _take_provider(run, stamps, _own_requests(provider, marker), provider.behaviour.reply)
    run.stages, run.missing = stage_timings(stamps)
    return run


def _take_observation(run: FirstOutputRun, stamps: Stamps, obs: Observation, timeout_s: float) -> None:
    stamps.user_echo, stamps.first_output, stamps.first_answer = obs.user_echo, obs.first_output, obs.first_answer
    run.first_output_kind, run.answer_text, run.ignored_events = obs.first_output_kind, obs.answer_text, obs.ignored
    if obs.terminal_kind == "complete":
        stamps.terminal = obs.terminal
    elif obs.terminal_kind == "error":
        run.problems.append(f"turn: the prompt ended with turn_error ({obs.terminal_detail})")
    elif obs.ended_by:
        run.problems.append(f"turn: the stream ended with {obs.ended_by} before the prompt's end")
    else:
        run.problems.append(f"turn: no turn_complete within {timeout_s:g} s")
    if obs.terminal_kind == "complete" and obs.first_output is None:
        run.problems.append("turn: the prompt completed without a model output")
    elif obs.first_output_kind not in (None, "answer_text"):
        run.problems.append(f"turn: the first model output was {obs.first_output_kind}, not answer text")


def _take_provider(run: FirstOutputRun, stamps: Stamps, requests: list[ProviderRequest], expected: str) -> None:
    run.provider_requests = len(requests)
    if requests:
        first = min(requests, key=lambda r: r.at_monotonic)
        stamps.provider_arrival, stamps.provider_ready = first.at_monotonic, first.answering_monotonic
    if stamps.terminal is not None:
        if not requests:
            run.problems.append("provider: no request carried the run's prompt")
        if run.answer_text != expected:
            run.problems.append(f"answer: the stream carried {run.answer_text!r}, the provider sent {expected!r}")
