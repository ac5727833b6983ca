"""Mock ACP agent for the `qwen serve` harness: NDJSON JSON-RPC 2.0 over stdin/stdout.

Stdlib only. Run as ``python agent.py --acp`` (normally through ``launcher.cjs``). Behaviour comes
from `directives.py`: the config file named by ``QWEN_MOCK_ACP_CONFIG`` (or upstream's ``MOCK_ACP_*``
env variables), the runtime control file and ``[[mock ...]]`` prompt directives.

stdout carries only protocol lines (except the deliberate one of the ``garbage`` mode); diagnostics go
to stderr and to the optional log file. Each prompt runs in its own thread so a hung prompt of one
session never blocks another.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from directives import (
    AgentConfig,
    ControlState,
    MockSettingsError,
    PromptSettings,
    load_agent_config,
    parse_directive,
)

AGENT_NAME = "qwen-serve-harness-mock"
AGENT_VERSION = "0.1.0"
PROTOCOL_VERSION = 1
GUARD_META = {"qwen-code/external-tool-guard-ready": "required-v1"}
SESSION_ID_META = "qwen-code/sessionId"
GARBAGE_LINE = b"mock-acp garbage: this line is deliberately not JSON\n"
REJECT_MESSAGE = "mock injected failure"
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


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

    def error(self, msg_id: Any, code: int, message: str) -> None:
        """Answer a request with a JSON-RPC error."""
        self.send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})


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


class Prompt:
    """One running `session/prompt`, stoppable from another thread.

    Attributes:
        session_id: The ACP session the prompt belongs to.
        honours_cancel: Whether a stop is answered with stopReason "cancelled" (False only for the
            hang-ignore-cancel mode, whose prompt is never answered).
        stop: Set by a cancel (cancellable prompts only) or by the session's close (all prompts).
    """

    def __init__(self, session_id: str, honours_cancel: bool) -> None:
        """Create the prompt record."""
        self.session_id = session_id
        self.honours_cancel = honours_cancel
        self.stop = threading.Event()


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
    stem = f"chunk-{index}|"
    return (stem * (size // len(stem) + 1))[:size]


def rss_bytes() -> int:
    """Own resident set size from /proc/self/statm (0 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Agent:
    """Dispatches JSON-RPC messages read from stdin."""

    def __init__(self, config: AgentConfig, out: Output) -> None:
        """Create the agent with its start-up config."""
        self.config = config
        self.out = out
        self.control = ControlWatcher(config.control_file)
        self._prompts: dict[str, set[Prompt]] = {}
        self._prompts_lock = threading.Lock()
        self._log = open(config.log_file, "a", buffering=1, encoding="utf-8") if config.log_file else None  # noqa: SIM115
        self._requests = {
            "initialize": self.initialize,
            "authenticate": lambda _id, _params: self.out.result(_id, {}),
            "session/new": self.new_session,
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
        """Route a request or notification; responses to us are ignored."""
        method = message.get("method")
        if not isinstance(method, str):
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
                "loadSession": False,
                "promptCapabilities": {"image": False, "audio": False, "embeddedContext": False},
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
        self._later(self.config.new_session_delay_ms, lambda: self.out.result(msg_id, {"sessionId": session_id}))

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
        try:
            overrides, _rest = parse_directive(first_text(params))
            base = self.control.current().settings_for(self.config.defaults, session_id)
            settings = base.with_overrides(overrides)
        except MockSettingsError as exc:
            self.out.error(msg_id, INVALID_PARAMS, str(exc))
            return
        if settings.mode == "crash-on-prompt":
            os._exit(1)
        record = Prompt(session_id, honours_cancel=settings.mode != "hang-ignore-cancel")
        with self._prompts_lock:
            self._prompts.setdefault(session_id, set()).add(record)
        threading.Thread(target=self._run_prompt, args=(msg_id, record, settings), daemon=True).start()

    def _run_prompt(self, msg_id: Any, record: Prompt, settings: PromptSettings) -> None:
        try:
            self._play(msg_id, record, settings)
        finally:
            with self._prompts_lock:
                self._prompts.get(record.session_id, set()).discard(record)

    def _play(self, msg_id: Any, record: Prompt, settings: PromptSettings) -> None:
        stopped = (
            self._stream_chunks(record, settings)
            or record.stop.wait(settings.end_delay_ms / 1000)
            or self._finish(msg_id, record, settings)
        )
        if stopped and record.honours_cancel:
            self.out.result(msg_id, {"stopReason": "cancelled"})

    def _stream_chunks(self, record: Prompt, settings: PromptSettings) -> bool:
        """Send the chunks; return True when a cancel interrupted them."""
        delay = settings.chunk_delay_ms / 1000
        for index in range(settings.chunks):
            if index and delay and record.stop.wait(delay):
                return True
            if record.stop.is_set():
                return True
            self._send_chunk(record.session_id, chunk_text(index, settings.chunk_size))
            if index == 0 and settings.mode == "garbage":
                self.out.raw(GARBAGE_LINE)
        if settings.chunks == 0 and settings.mode == "garbage":
            self.out.raw(GARBAGE_LINE)
        return False

    def _finish(self, msg_id: Any, record: Prompt, settings: PromptSettings) -> bool:
        """Give the final answer of a prompt; return True when it ended by a cancel instead."""
        mode = settings.mode
        if mode == "crash-mid":
            os._exit(1)
        if mode in ("hang", "hang-ignore-cancel"):
            record.stop.wait()
            return True
        if mode == "reject":
            self.out.error(msg_id, settings.error_code, REJECT_MESSAGE)
        else:
            self.out.result(msg_id, {"stopReason": "end_turn"})
        return False

    def _send_chunk(self, session_id: str, text: str) -> None:
        self.out.send(
            {
                "jsonrpc": "2.0",
                "method": "session/update",
                "params": {
                    "sessionId": session_id,
                    "update": {
                        "sessionUpdate": "agent_message_chunk",
                        "content": {"type": "text", "text": text},
                    },
                },
            }
        )

    def _release(self, session_id: str, closing: bool) -> bool:
        """Stop the session's prompts (on close, also the cancel-ignoring ones).

        Returns:
            True if at least one prompt was stopped.
        """
        with self._prompts_lock:
            targets = [r for r in self._prompts.get(session_id, ()) if closing or r.honours_cancel]
        for record in targets:
            record.stop.set()
        return bool(targets)

    def cancel(self, session_id: str) -> None:
        """Handle the `session/cancel` notification."""
        self._release(session_id, closing=False)

    def cancel_request(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Handle `craft/cancelPendingPrompt`: answer ``{cancelled}``."""
        released = self._release(str(params.get("sessionId", "")), closing=False)
        self.out.result(msg_id, {"cancelled": released})

    def close_session(self, msg_id: Any, params: dict[str, Any]) -> None:
        """Handle `qwen/control/session/close`, releasing the session's prompts."""
        session_id = str(params.get("sessionId", ""))
        self._release(session_id, closing=True)
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


def _exit_now(_signum: int, _frame: Any) -> None:
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
    stdin = sys.stdin.buffer
    for line in iter(stdin.readline, b""):
        agent.handle_line(line)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
