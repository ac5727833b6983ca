"""Mock ACP agent for the `qwen serve` harness: NDJSON JSON-RPC 2.0 over stdin/stdout.

Stdlib only. Run as ``python agent.py --acp`` (normally through ``launcher.cjs``). Behaviour comes
from `directives.py`: the config file named by ``QWEN_MOCK_ACP_CONFIG`` (or upstream's ``MOCK_ACP_*``
env variables), the runtime control file and ``[[mock ...]]`` prompt directives.

stdout carries only protocol lines (except the deliberate one of the ``garbage`` mode); diagnostics go
to stderr and to the optional log file; what the agent received and sent goes to its NDJSON report.
Each prompt runs in its own thread so a hung prompt (or one waiting for a permission answer) of one
session never blocks another.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from directives import (
    ALLOW_KINDS,
    REPORT_FILE_NAME,
    SESSIONS_DIR_NAME,
    AgentConfig,
    ControlState,
    MockSettingsError,
    PromptSettings,
    load_agent_config,
    parse_directive,
)

AGENT_NAME = "qwen-serve-harness-mock"
AGENT_VERSION = "0.2.0"
PROTOCOL_VERSION = 1
GUARD_META = {"qwen-code/external-tool-guard-ready": "required-v1"}
SESSION_ID_META = "qwen-code/sessionId"
INVOCATION_META = "qwen-code/invocation"
LOAD_REPLAY_MODE_META = "qwen.session.loadReplayMode"
LOAD_REPLAY_META = "qwen.session.loadReplay"
GARBAGE_LINE = b"mock-acp garbage: this line is deliberately not JSON\n"
REJECT_MESSAGE = "mock injected failure"
TOOL_FAILURE = "mock tool failure"
TOOL_REJECTED = "mock tool call rejected by the permission answer"
CONTEXT_WINDOW_TOKENS = 131_072
CHARS_PER_TOKEN = 4
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND = -32002
OPTION_NAMES = {
    "allow_once": "Allow once",
    "allow_always": "Allow always",
    "reject_once": "Reject once",
    "reject_always": "Reject always",
}
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class Output:
    """Serialised writer of NDJSON lines to stdout."""

    def __init__(self) -> None:
        """Bind to the binary stdout."""
        self._lock = threading.Lock()
        self._stream = sys.stdout.buffer

    def raw(self, data: bytes) -> None:
        """Write bytes as they are and flush."""
        with self._lock:
            self._stream.write(data)
            self._stream.flush()

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON-RPC message as one line."""
        self.raw(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def result(self, msg_id: Any, result: dict[str, Any]) -> None:
        """Answer a request successfully."""
        self.send({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def error(self, msg_id: Any, code: int, message: str, data: Any = None) -> None:
        """Answer a request with a JSON-RPC error."""
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self.send({"jsonrpc": "2.0", "id": msg_id, "error": error})

    def update(self, session_id: str, update: dict[str, Any]) -> None:
        """Send one `session/update` notification."""
        self.send({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session_id, "update": update}})


class ControlWatcher:
    """Re-reads the runtime control file when its mtime or size changes."""

    def __init__(self, path: str | None) -> None:
        """Watch `path` (None: no control file)."""
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._state = ControlState()
        self._lock = threading.Lock()

    def current(self) -> ControlState:
        """Return the control state, reloading the file if it changed.

        A missing file means no overrides. An invalid file keeps the previous state and is reported on
        stderr.
        """
        if not self._path:
            return self._state
        with self._lock:
            try:
                info = os.stat(self._path)
            except OSError:
                self._stamp, self._state = None, ControlState()
                return self._state
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                self._reload(stamp)
            return self._state

    def _reload(self, stamp: tuple[int, int]) -> None:
        try:
            with open(self._path, encoding="utf-8") as handle:  # type: ignore[arg-type]
                self._state = ControlState.from_json(handle.read())
            self._stamp = stamp
        except (OSError, MockSettingsError) as exc:
            log_stderr(f"control file {self._path} ignored: {exc}")


class Reporter:
    """The agent's NDJSON report: one flushed line per event, with both clocks of this process.

    The file is opened on the first event, so an agent that reports nothing creates nothing.
    """

    def __init__(self, path: str | None) -> None:
        """Write to `path` (None: no report)."""
        self._path = path
        self._handle: Any = None
        self._lock = threading.Lock()

    def event(self, name: str, **fields: Any) -> None:
        """Append one event line ``{"event", "mono", "wall", "pid", **fields}``."""
        if not self._path:
            return
        record = {"event": name, "mono": round(time.monotonic(), 6), "wall": round(time.time(), 6), "pid": os.getpid()}
        line = json.dumps({**record, **fields}, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                if self._handle is None:
                    os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
                    self._handle = open(self._path, "a", encoding="utf-8")  # noqa: SIM115
                self._handle.write(line)
                self._handle.flush()
            except OSError as exc:
                log_stderr(f"report {self._path} not written: {exc}")
                self._path = None


class Waiter:
    """One permission request the agent sent to the client, and its answer once it arrives.

    Attributes:
        request_id: The JSON-RPC id the agent used.
        session_id: The session of the request.
        tool_call_id: The tool call it asks about.
        kinds: The option kinds (= optionIds) it offered.
        stopped: The asking prompt's stop event (an answer after it is set is late).
        sent_mono: When it was sent (this process's monotonic clock).
        answered: Set when the answer arrives or when the waiting prompt is stopped.
        reply: The answer message (with ``result`` or ``error``), None until it arrives.
    """

    def __init__(
        self, request_id: str, session_id: str, tool_call_id: str, kinds: list[str], stopped: threading.Event
    ) -> None:
        """Create the record of request `request_id`."""
        self.request_id = request_id
        self.session_id = session_id
        self.tool_call_id = tool_call_id
        self.kinds = kinds
        self.stopped = stopped
        self.sent_mono = time.monotonic()
        self.answered = threading.Event()
        self.reply: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The report fields naming the request."""
        return {"sessionId": self.session_id, "requestId": self.request_id, "toolCallId": self.tool_call_id}

    def waited_ms(self) -> float:
        """Milliseconds since the request was sent."""
        return round((time.monotonic() - self.sent_mono) * 1000, 3)


class Outgoing:
    """Requests from the agent to the client (``session/request_permission``), matched to their answers."""

    def __init__(self, out: Output) -> None:
        """Send through `out`."""
        self._out = out
        self._ids = itertools.count(1)
        self._waiting: dict[str, Waiter] = {}
        self._lock = threading.Lock()

    def prepare(self, record: Prompt, tool_call_id: str, kinds: list[str]) -> Waiter:
        """A new request record with a fresh id (registered before it is sent, so no answer is missed)."""
        waiter = Waiter(f"mock-{next(self._ids)}", record.session_id, tool_call_id, kinds, record.stop)
        with self._lock:
            self._waiting[waiter.request_id] = waiter
        return waiter

    def send(self, waiter: Waiter, method: str, params: dict[str, Any]) -> None:
        """Send the request of `waiter`."""
        self._out.send({"jsonrpc": "2.0", "id": waiter.request_id, "method": method, "params": params})

    def answer(self, message: dict[str, Any]) -> Waiter | None:
        """Hand a response to its waiter; return that waiter (None for an id the agent never used)."""
        with self._lock:
            waiter = self._waiting.pop(str(message.get("id")), None)
        if waiter is not None:
            waiter.reply = message
            waiter.answered.set()
        return waiter


class Stopped(Exception):
    """The prompt ends early: a cancel, a close, or a permission answered ``cancelled``."""


class Prompt:
    """One running `session/prompt`, stoppable from another thread.

    Attributes:
        msg_id: The JSON-RPC id of the prompt request.
        session_id: The ACP session the prompt belongs to.
        honours_cancel: Whether a stop is answered with stopReason "cancelled" (False only for the
            hang-ignore-cancel mode, whose prompt is never answered).
        stop: Set by a cancel (cancellable prompts only) or by the session's close (all prompts).
        waiters: The permission requests the prompt waits on (empty when it waits on none).
        updates: The newest session updates of the prompt (for the session's history, up to a cap).
        sent: Counts of what the prompt sent, by kind.
    """

    def __init__(self, msg_id: Any, session_id: str, honours_cancel: bool, keep_updates: int) -> None:
        """Create the prompt record."""
        self.msg_id = msg_id
        self.session_id = session_id
        self.honours_cancel = honours_cancel
        self.stop = threading.Event()
        self.waiters: list[Waiter] = []
        self.updates: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep_updates)
        self.sent: collections.Counter[str] = collections.Counter()
        self.started = time.monotonic()

    def halt(self) -> None:
        """Stop the prompt and wake it if it waits for a permission answer."""
        self.stop.set()
        for waiter in self.waiters:
            waiter.answered.set()

    def pause(self, delay_ms: int) -> None:
        """Sleep `delay_ms`; raise `Stopped` if the prompt is (or gets) stopped."""
        if self.stop.wait(delay_ms / 1000) if delay_ms > 0 else self.stop.is_set():
            raise Stopped

    def keep(self, update: dict[str, Any]) -> None:
        """Remember a sent update for the session's history (the newest ones, up to the cap)."""
        self.updates.append(update)


class SessionStore:
    """The sessions the agent created, with their history, persisted so a new agent process can load them.

    A session is one file ``<folder>/<sessionId>.jsonl``: a header line ``{"sessionId", "cwd", "createdAt"}``,
    then one ACP session update per line. Without a folder sessions live in memory only.
    """

    def __init__(self, folder: str | None, max_updates: int) -> None:
        """Keep at most `max_updates` updates per session; persist under `folder` (None: memory only)."""
        self._folder = folder
        self._max = max_updates
        self._history: dict[str, collections.deque[dict[str, Any]]] = {}
        self._unsaved: collections.Counter[str] = collections.Counter()
        self._closed: set[str] = set()
        self._lock = threading.Condition()

    def _path(self, session_id: str) -> str | None:
        if not self._folder or not _SAFE_ID.fullmatch(session_id):
            return None
        return os.path.join(self._folder, f"{session_id}.jsonl")

    def create(self, session_id: str, cwd: str) -> None:
        """Record a new session (history empty)."""
        with self._lock:
            self._history[session_id] = collections.deque(maxlen=self._max)
        header = {"sessionId": session_id, "cwd": cwd, "createdAt": round(time.time(), 3)}
        self._append(session_id, [header], mode="w")

    def remember(self, session_id: str, updates: list[dict[str, Any]]) -> None:
        """Add the updates of one turn to the session's history in memory (`persist` writes them later)."""
        with self._lock:
            self._history.setdefault(session_id, collections.deque(maxlen=self._max)).extend(updates)
            self._unsaved[session_id] += 1

    def persist(self, session_id: str, updates: list[dict[str, Any]]) -> None:
        """Append the updates of one remembered turn to the session's file (after the turn's answer went out)."""
        if updates:
            self._append(session_id, updates, mode="a")
        with self._lock:
            self._unsaved[session_id] -= 1
            if not self._unsaved[session_id]:
                del self._unsaved[session_id]
                if session_id in self._closed:
                    self._drop(session_id)
            self._lock.notify_all()

    def forget(self, session_id: str) -> None:
        """Drop a closed session's history from memory once its file holds all of it."""
        with self._lock:
            if self._unsaved[session_id]:
                self._closed.add(session_id)
            else:
                self._drop(session_id)

    def _drop(self, session_id: str) -> None:
        self._closed.discard(session_id)
        self._unsaved.pop(session_id, None)
        if self._path(session_id) is not None:
            self._history.pop(session_id, None)

    def wait_saved(self, session_id: str, timeout_s: float) -> bool:
        """Wait up to `timeout_s` until the session's remembered turns are in its file; return whether they are."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._unsaved[session_id], timeout_s)

    def flush(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` until every remembered turn is written; return whether all are."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._unsaved, timeout_s)

    def _append(self, session_id: str, lines: list[dict[str, Any]], mode: str) -> None:
        path = self._path(session_id)
        if path is None:
            return
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, mode, encoding="utf-8") as handle:
                handle.write("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))
        except OSError as exc:
            log_stderr(f"session {session_id} not persisted: {exc}")

    def history(self, session_id: str) -> list[dict[str, Any]] | None:
        """The session's updates (oldest first), from memory or its file; None for an unknown session."""
        with self._lock:
            if session_id in self._history:
                return list(self._history[session_id])
        path = self._path(session_id)
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError:
            return None
        updates: collections.deque[dict[str, Any]] = collections.deque(maxlen=self._max)
        for line in lines[1:]:
            try:
                update = json.loads(line)
            except ValueError:
                continue
            if isinstance(update, dict):
                updates.append(update)
        with self._lock:
            self._history.setdefault(session_id, updates)
        return list(updates)


def log_stderr(text: str) -> None:
    """Write one diagnostic line to stderr."""
    sys.stderr.write(f"[mock-acp] {text}\n")
    sys.stderr.flush()


def first_text(params: dict[str, Any]) -> str:
    """Return the text of the prompt's first text block, or an empty string."""
    for block in params.get("prompt") or ():
        if isinstance(block, dict) and block.get("type") == "text":
            return str(block.get("text", ""))
    return ""


def chunk_text(index: int, size: int) -> str:
    """Text of chunk `index`: ``chunk-<i>``, or exactly `size` characters when `size` > 0."""
    if size <= 0:
        return f"chunk-{index}"
    return filler(f"chunk-{index}|", size)


def filler(stem: str, size: int) -> str:
    """Exactly `size` characters made of `stem` repeated."""
    return (stem * (size // len(stem) + 1))[:size]


def rss_bytes() -> int:
    """Own resident set size from /proc/self/statm (0 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def _answer_fields(reply: dict[str, Any]) -> dict[str, Any]:
    """The report fields of an answer to a permission request."""
    if "error" in reply:
        return {"error": reply["error"]}
    result = reply.get("result")
    outcome = result.get("outcome") if isinstance(result, dict) else None
    fields: dict[str, Any] = {"outcome": outcome.get("outcome") if isinstance(outcome, dict) else outcome}
    if isinstance(outcome, dict) and "optionId" in outcome:
        fields["optionId"] = outcome["optionId"]
    if isinstance(result, dict) and result.get("_meta") is not None:
        fields["meta"] = result["_meta"]
    return fields


def _action(fields: dict[str, Any], kinds: list[str]) -> str:
    """What the agent does with an answer: ``allow``, ``reject``, ``cancel_turn`` or ``invalid`` (tool fails)."""
    if fields.get("outcome") == "cancelled":
        return "cancel_turn"
    option = fields.get("optionId")
    if fields.get("outcome") != "selected" or option not in kinds:
        return "invalid"
    return "allow" if option in ALLOW_KINDS else "reject"


class Agent:
    """Dispatches JSON-RPC messages read from stdin."""

    def __init__(self, config: AgentConfig, out: Output) -> None:
        """Create the agent with its start-up config."""
        self.config = config
        self.out = out
        self.control = ControlWatcher(config.control_file)
        self.report = Reporter(config.beside_control(config.report_file, REPORT_FILE_NAME))
        self.sessions = SessionStore(
            config.beside_control(config.sessions_dir, SESSIONS_DIR_NAME), config.history_max_updates
        )
        self.outgoing = Outgoing(out)
        self._call_ids = itertools.count(1)
        self._prompts: dict[str, set[Prompt]] = {}
        self._prompts_lock = threading.Lock()
        self._prompt_numbers: collections.Counter[str] = collections.Counter()
        self._log = open(config.log_file, "a", buffering=1, encoding="utf-8") if config.log_file else None  # noqa: SIM115
        self._requests = {
            "initialize": self.initialize,
            "authenticate": lambda _id, _params: self.out.result(_id, {}),
            "session/new": self.new_session,
            "session/load": self.load_session,
            "session/resume": self.resume_session,
            "session/prompt": self.prompt,
            "craft/cancelPendingPrompt": self.cancel_request,
            "qwen/control/session/close": self.close_session,
            "qwen/status/workspace/mcp": self.mcp_status,
            "qwen/status/workspace/skills": self.skills_status,
            "qwen/status/workspace/resource": self.resource_status,
        }

    # --- transport -------------------------------------------------------------------------------

    def handle_line(self, line: bytes) -> None:
        """Parse and dispatch one input line; unparsable lines are reported and skipped."""
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError:
            log_stderr(f"ignored non-JSON input line: {line[:120]!r}")
            return
        if isinstance(message, dict):
            self.dispatch(message)

    def dispatch(self, message: dict[str, Any]) -> None:
        """Route a request, a notification or the answer to one of the agent's own requests."""
        method = message.get("method")
        if not isinstance(method, str):
            if "id" in message and ("result" in message or "error" in message):
                self._answer_arrived(message)
            return
        self._log_method(method)
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if "id" not in message:
            if method == "session/cancel":
                self.cancel(str(params.get("sessionId", "")))
            return
        handler = self._requests.get(method)
        if handler is None:
            self.out.error(message["id"], METHOD_NOT_FOUND, "Method not found")
        else:
            handler(message["id"], params)

    def _log_method(self, method: str) -> None:
        if self._log is not None:
            self._log.write(f"{time.time():.6f} {method}\n")

    def _answer_arrived(self, message: dict[str, Any]) -> None:
        """Report an answer to a permission request the moment it arrives, then wake the asking prompt."""
        waiter = self.outgoing.answer(message)
        if waiter is None:
            self.report.event("stray_response", requestId=message.get("id"))
            return
        fields = _answer_fields(message)
        self.report.event(
            "permission_outcome",
            **waiter.fields(),
            **fields,
            action=_action(fields, waiter.kinds),
            waitedMs=waiter.waited_ms(),
            late=waiter.stopped.is_set(),
        )
        waiter.answered.set()

    # --- lifecycle -------------------------------------------------------------------------------

    def initialize(self, msg_id: Any, _params: dict[str, Any]) -> None:
        """Answer `initialize` according to the config's init_mode and init_delay_ms."""
        mode = self.config.init_mode
        if mode == "exit":
            os._exit(1)
        if mode == "never":
            return
        result: dict[str, Any] = {
            "protocolVersion": PROTOCOL_VERSION,
            "agentCapabilities": {
                "loadSession": True,
                "promptCapabilities": {"image": False, "audio": False, "embeddedContext": False},
                "sessionCapabilities": {"resume": {}},
            },
            "authMethods": [],
            "agentInfo": {"name": AGENT_NAME, "version": AGENT_VERSION},
        }
        if mode != "no-guard":
            result["_meta"] = dict(GUARD_META)
        self._later(self.config.init_delay_ms, lambda: self.out.result(msg_id, result))

    def new_session(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Answer `session/new`, honouring a requested ``_meta["qwen-code/sessionId"]``."""
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        requested = meta.get(SESSION_ID_META)
        session_id = requested if isinstance(requested, str) and requested else _fresh_session_id()

        def answer() -> None:
            self.sessions.create(session_id, str(params.get("cwd") or os.getcwd()))
            self.report.event("session_new", sessionId=session_id)
            self.out.result(msg_id, {"sessionId": session_id})

        self._later(self.config.new_session_delay_ms, answer)

    def load_session(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Answer `session/load`: replay the session's history as session updates, then ``{}``."""
        self._restore(msg_id, params, replay=True)

    def resume_session(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Answer `session/resume`: restore the session without replaying its history."""
        self._restore(msg_id, params, replay=False)

    def _restore(self, msg_id: Any, params: dict[str, Any], *, replay: bool) -> None:
        session_id = str(params.get("sessionId", ""))

        def answer() -> None:
            history = self.sessions.history(session_id)
            if history is None:
                uri = f"session:{session_id}"
                self.report.event("session_not_found", sessionId=session_id, replay=replay)
                self.out.error(msg_id, RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
                return
            meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
            bulk = replay and self.config.load_replay == "bulk" and meta.get(LOAD_REPLAY_MODE_META) == "bulk"
            if replay and not bulk:
                for update in history:
                    self.out.update(session_id, update)
            self.report.event(
                "session_load" if replay else "session_resume",
                sessionId=session_id,
                historyUpdates=len(history),
                replayedUpdates=len(history) if replay else 0,
                replay="bulk" if bulk else "stream" if replay else None,
                meta=meta,
            )
            self.out.result(msg_id, {"_meta": {LOAD_REPLAY_META: {"v": 1, "updates": history}}} if bulk else {})

        self._later(self.config.load_delay_ms, answer)

    def _later(self, delay_ms: int, action: Any) -> None:
        if delay_ms <= 0:
            action()
            return

        def run() -> None:
            time.sleep(delay_ms / 1000)
            action()

        threading.Thread(target=run, daemon=True).start()

    # --- prompts ---------------------------------------------------------------------------------

    def prompt(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Resolve the prompt's settings and run it in its own thread."""
        session_id = str(params.get("sessionId", ""))
        text = first_text(params)
        try:
            overrides, _rest = parse_directive(text)
            base = self.control.current().settings_for(self.config.defaults, session_id)
            settings = base.with_overrides(overrides)
            settings.check_turn()
        except MockSettingsError as exc:
            self.report.event("prompt_rejected", sessionId=session_id, requestId=msg_id, error=str(exc))
            self.out.error(msg_id, INVALID_PARAMS, str(exc))
            return
        with self._prompts_lock:
            self._prompt_numbers[session_id] += 1
            number = self._prompt_numbers[session_id]
        settings = settings.for_prompt(number)
        invocation = (params.get("_meta") or {}).get(INVOCATION_META) if isinstance(params.get("_meta"), dict) else None
        self.report.event(
            "prompt_started",
            sessionId=session_id,
            requestId=msg_id,
            promptId=invocation.get("promptId") if isinstance(invocation, dict) else None,
            promptNumber=number,
            settings=settings.to_dict(),
        )
        if settings.mode == "crash-on-prompt":
            self.report.event("exit", reason="crash-on-prompt", sessionId=session_id)
            os._exit(1)
        record = Prompt(
            msg_id, session_id, settings.mode != "hang-ignore-cancel", keep_updates=self.config.history_max_updates
        )
        record.keep({"sessionUpdate": "user_message_chunk", "content": _text(text)})
        record.sent["promptChars"] = len(text)
        with self._prompts_lock:
            self._prompts.setdefault(session_id, set()).add(record)
        threading.Thread(target=self._run_prompt, args=(record, settings), daemon=True).start()

    def _run_prompt(self, record: Prompt, settings: PromptSettings) -> None:
        try:
            self._play(record, settings)
        finally:
            with self._prompts_lock:
                self._prompts.get(record.session_id, set()).discard(record)

    def _play(self, record: Prompt, settings: PromptSettings) -> None:
        outcome: dict[str, Any]
        try:
            self._plan(record, settings, "pending")
            self._stream_chunks(record, settings)
            self._tool_calls(record, settings)
            self._plan(record, settings, "completed")
            if settings.usage == "on":
                self._usage(record)
            record.pause(settings.end_delay_ms)
            outcome = self._finish(record, settings)
        except Stopped:
            outcome = {"stopReason": "cancelled"} if record.honours_cancel else {"stopReason": None}
        updates = list(record.updates)
        self.sessions.remember(record.session_id, updates)
        self.report.event(
            "prompt_finished",
            sessionId=record.session_id,
            requestId=record.msg_id,
            durationMs=round((time.monotonic() - record.started) * 1000, 3),
            sent=dict(record.sent),
            **outcome,
        )
        if outcome.get("stopReason"):
            self.out.result(record.msg_id, {"stopReason": outcome["stopReason"]})
        elif "error" in outcome:
            self.out.error(record.msg_id, outcome["error"], REJECT_MESSAGE)
        self.sessions.persist(record.session_id, updates)

    def _send(self, record: Prompt, update: dict[str, Any], kind: str) -> None:
        self.out.update(record.session_id, update)
        record.keep(update)
        record.sent[kind] += 1

    def _stream_chunks(self, record: Prompt, settings: PromptSettings) -> None:
        """Send the chunks (`Stopped` when a cancel interrupts them)."""
        for index in range(settings.chunks):
            if index:
                record.pause(settings.chunk_delay_ms)
            elif record.stop.is_set():
                raise Stopped
            text = chunk_text(index, settings.chunk_size)
            self._send(record, {"sessionUpdate": "agent_message_chunk", "content": _text(text)}, "chunks")
            record.sent["outputChars"] += len(text)
            if index == 0 and settings.mode == "garbage":
                self.out.raw(GARBAGE_LINE)
        if settings.chunks == 0 and settings.mode == "garbage":
            self.out.raw(GARBAGE_LINE)

    def _plan(self, record: Prompt, settings: PromptSettings, status: str) -> None:
        if not settings.plan_entries:
            return
        entries = [
            {"content": f"mock step {i}", "priority": "medium", "status": status}
            for i in range(1, settings.plan_entries + 1)
        ]
        self._send(record, {"sessionUpdate": "plan", "entries": entries}, "planUpdates")

    def _usage(self, record: Prompt) -> None:
        """Send the turn's token figure: ACP ``used``/``size`` and the ``_meta.usage`` the daemon counts."""
        input_tokens = _tokens(record.sent["promptChars"])
        output_tokens = _tokens(record.sent["outputChars"])
        update = {
            "sessionUpdate": "usage_update",
            "used": input_tokens + output_tokens,
            "size": CONTEXT_WINDOW_TOKENS,
            "_meta": {
                "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens},
                "durationMs": round((time.monotonic() - record.started) * 1000),
            },
        }
        self._send(record, update, "usageUpdates")

    def _tool_calls(self, record: Prompt, settings: PromptSettings) -> None:
        """The tool calls, `tool_batch` at a time: all announced (pending), their permission requests sent
        together and answered, then each run (in_progress, completed or failed) or failed when rejected."""
        for first in range(1, settings.tool_calls + 1, settings.tool_batch):
            record.pause(0)
            indexes = range(first, min(first + settings.tool_batch, settings.tool_calls + 1))
            calls = [self._announce(record, settings, index) for index in indexes]
            asked = [call for index, call in zip(indexes, calls, strict=True) if settings.asks_permission(index)]
            allowed = self._permissions(record, settings, asked)
            for index, call in zip(indexes, calls, strict=True):
                if call in asked and call["toolCallId"] not in allowed:
                    failed = {"sessionUpdate": "tool_call_update", "toolCallId": call["toolCallId"], "status": "failed"}
                    content = [{"type": "content", "content": _text(TOOL_REJECTED)}]
                    self._send(record, {**failed, "content": content}, "toolCallsFailed")
                else:
                    self._run_tool(record, settings, index, call["toolCallId"])

    def _announce(self, record: Prompt, settings: PromptSettings, index: int) -> dict[str, Any]:
        call_id = f"call-{next(self._call_ids)}"
        title = f"mock {settings.tool_kind} tool #{index}"
        call = {"toolCallId": call_id, "title": title, "kind": settings.tool_kind, "status": "pending"}
        self._send(record, {"sessionUpdate": "tool_call", **call, "rawInput": {"index": index}}, "toolCalls")
        return call

    def _run_tool(self, record: Prompt, settings: PromptSettings, index: int, call_id: str) -> None:
        running = {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": "in_progress"}
        self._send(record, running, "toolCallsRunning")
        record.pause(settings.tool_delay_ms)
        fails = bool(settings.tool_fail_every) and index % settings.tool_fail_every == 0
        final: dict[str, Any] = {
            "sessionUpdate": "tool_call_update",
            "toolCallId": call_id,
            "status": "failed" if fails else "completed",
        }
        if settings.tool_output_bytes:
            output = filler(f"{call_id} output|", settings.tool_output_bytes)
            final["content"] = [{"type": "content", "content": _text(output)}]
            record.sent["outputChars"] += len(output)
        if fails:
            final["rawOutput"] = {"error": TOOL_FAILURE}
        self._send(record, final, "toolCallsFailed" if fails else "toolCallsCompleted")

    def _permissions(self, record: Prompt, settings: PromptSettings, calls: list[dict[str, Any]]) -> set[str]:
        """Ask the client about `calls` (all requests sent before any answer is awaited).

        Returns:
            The toolCallIds whose answer allows them.

        Raises:
            Stopped: An answer is ``cancelled``, or the prompt was stopped while waiting.
        """
        kinds = settings.option_kinds()
        options = [{"optionId": kind, "name": OPTION_NAMES[kind], "kind": kind} for kind in kinds]
        waiters = [self.outgoing.prepare(record, call["toolCallId"], kinds) for call in calls]
        record.waiters = waiters
        for waiter, call in zip(waiters, calls, strict=True):
            params = {"sessionId": record.session_id, "toolCall": call, "options": options}
            self.outgoing.send(waiter, "session/request_permission", params)
            record.sent["permissionRequests"] += 1
            self.report.event("permission_requested", **waiter.fields(), options=kinds)
        allowed: set[str] = set()
        try:
            for waiter in waiters:
                if self._await_answer(record, waiter) == "allow":
                    allowed.add(waiter.tool_call_id)
        finally:
            record.waiters = []
        return allowed

    def _await_answer(self, record: Prompt, waiter: Waiter) -> str:
        """Wait for one answer; return the action (``allow``, ``reject`` or ``invalid``).

        Raises:
            Stopped: The answer is ``cancelled``, or the prompt was stopped while waiting.
        """
        if record.stop.is_set():
            waiter.answered.set()
        waiter.answered.wait()
        if waiter.reply is None:
            self.report.event("permission_abandoned", **waiter.fields(), waitedMs=waiter.waited_ms())
            raise Stopped
        action = _action(_answer_fields(waiter.reply), waiter.kinds)
        if action == "cancel_turn":
            raise Stopped
        return action

    def _finish(self, record: Prompt, settings: PromptSettings) -> dict[str, Any]:
        """The final answer of a prompt (`Stopped` when a hang ends by a cancel)."""
        mode = settings.mode
        if mode == "crash-mid":
            self.report.event("exit", reason="crash-mid", sessionId=record.session_id)
            os._exit(1)
        if mode in ("hang", "hang-ignore-cancel"):
            record.stop.wait()
            raise Stopped
        if mode == "reject":
            return {"error": settings.error_code}
        return {"stopReason": "end_turn"}

    def _release(self, session_id: str, closing: bool, via: str) -> bool:
        """Stop the session's prompts (on close, also the cancel-ignoring ones) and report it.

        Returns:
            True if at least one prompt was stopped.
        """
        with self._prompts_lock:
            targets = [r for r in self._prompts.get(session_id, ()) if closing or r.honours_cancel]
        pending = [w.request_id for r in targets for w in r.waiters if w.reply is None]
        self.report.event("cancel", sessionId=session_id, via=via, prompts=len(targets), pendingPermissions=pending)
        for record in targets:
            record.halt()
        return bool(targets)

    def cancel(self, session_id: str) -> None:
        """Handle the `session/cancel` notification."""
        self._release(session_id, closing=False, via="session/cancel")

    def cancel_request(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Handle `craft/cancelPendingPrompt`: answer ``{cancelled}``."""
        released = self._release(str(params.get("sessionId", "")), closing=False, via="craft/cancelPendingPrompt")
        self.out.result(msg_id, {"cancelled": released})

    def close_session(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Handle `qwen/control/session/close`, releasing the session's prompts."""
        session_id = str(params.get("sessionId", ""))
        self._release(session_id, closing=True, via="qwen/control/session/close")
        # a closed session's file is complete when the close is answered (a load right after finds every turn)
        self.sessions.wait_saved(session_id, FLUSH_TIMEOUT_S)
        self.sessions.forget(session_id)
        self.out.result(msg_id, {"sessionId": session_id, "closed": True})

    # --- status extensions -----------------------------------------------------------------------

    def mcp_status(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Answer `qwen/status/workspace/mcp` with an empty, completed discovery."""
        self.out.result(
            msg_id,
            {
                "v": 1,
                "workspaceCwd": params.get("cwd") or os.getcwd(),
                "initialized": True,
                "discoveryState": "completed",
                "servers": [],
            },
        )

    def skills_status(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Answer `qwen/status/workspace/skills` with no skills."""
        cwd = params.get("cwd") or os.getcwd()
        self.out.result(msg_id, {"v": 1, "workspaceCwd": cwd, "initialized": True, "skills": []})

    def resource_status(self, msg_id: Any, _params: dict[str, Any]) -> None:
        """Answer `qwen/status/workspace/resource` with the own RSS."""
        self.out.result(msg_id, {"rssBytes": rss_bytes(), "cpuPercent": 0})


def _fresh_session_id() -> str:
    import uuid

    return str(uuid.uuid4())


FLUSH_TIMEOUT_S = 2.0
_STORES: list[SessionStore] = []


def _exit_now(_signum: int, _frame: Any) -> None:
    for store in _STORES:
        store.flush(FLUSH_TIMEOUT_S)
    os._exit(0)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the launcher dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        log_stderr("prctl(PR_SET_PDEATHSIG) unavailable")
    if os.getppid() == 1:
        os._exit(0)


def main() -> int:
    """Run the agent until stdin ends; return the exit code."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _exit_now)
    _die_with_parent()
    try:
        config = load_agent_config(os.environ)
    except (MockSettingsError, OSError) as exc:
        log_stderr(f"bad config: {exc}")
        return 2
    agent = Agent(config, Output())
    _STORES.append(agent.sessions)
    stdin = sys.stdin.buffer
    for line in iter(stdin.readline, b""):
        agent.handle_line(line)
    agent.sessions.flush(FLUSH_TIMEOUT_S)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
