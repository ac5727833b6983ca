"""Mock ACP agent for the `qwen serve` harness: NDJSON JSON-RPC 2.0 over stdin/stdout.

Stdlib only. Run as ``python agent.py --acp`` (normally through ``launcher.cjs``). Behaviour comes
from the config file named by ``QWEN_MOCK_ACP_CONFIG`` (or upstream's ``MOCK_ACP_*`` env variables), the
runtime control file (:mod:`mock_acp.config`) and ``[[mock ...]]`` prompt directives (:mod:`mock_acp.directives`).

This module dispatches the messages; the pieces live beside it: :mod:`mock_acp.wire` (protocol I/O),
:mod:`mock_acp.turns` (a prompt's turn and its tool calls), :mod:`mock_acp.permissions` (requests to the
client and their answers), :mod:`mock_acp.sessions` (the session store and restore) and :mod:`mock_acp.report`.
Diagnostics go to stderr and to the optional log file; what the agent received and sent goes to its NDJSON
report. Each prompt runs in its own thread so a hung prompt (or one waiting for a permission answer) of one
session never blocks another.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script: mock_acp.*

from mock_acp.config import AgentConfig, ControlWatcher, load_agent_config
from mock_acp.directives import REPORT_FILE_NAME, SESSIONS_DIR_NAME, MockSettingsError, PromptSettings, parse_directive
from mock_acp.permissions import Outgoing, report_answer
from mock_acp.prompts import Prompt
from mock_acp.report import Reporter
from mock_acp.sessions import SessionStore, answer_restore, answer_transcript
from mock_acp.transcript import TRANSCRIPT_METHOD, ChatLog
from mock_acp.turns import TurnPlayer, text_block
from mock_acp.wire import INVALID_PARAMS, METHOD_NOT_FOUND, PROTOCOL_VERSION, Output, first_text, log_stderr

AGENT_NAME = "qwen-serve-harness-mock"
AGENT_VERSION = "0.2.0"
GUARD_META = {"qwen-code/external-tool-guard-ready": "required-v1"}
SESSION_ID_META = "qwen-code/sessionId"
INVOCATION_META = "qwen-code/invocation"


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
        self.report = Reporter(config.beside_control(config.report_file, REPORT_FILE_NAME))
        self.sessions = SessionStore(
            config.beside_control(config.sessions_dir, SESSIONS_DIR_NAME),
            config.history_max_updates,
            ChatLog(config.qwen_dir),
        )
        self.outgoing = Outgoing(out)
        self.player = TurnPlayer(out, self.report, self.outgoing, self.sessions)
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
            TRANSCRIPT_METHOD: lambda _id, _params: answer_transcript(self.sessions, self.out, _id, _params),
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
        report_answer(self.outgoing, self.report, message)

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
        bulk = self.config.load_replay == "bulk"

        def answer() -> None:
            answer_restore(self.sessions, self.report, self.out, msg_id, params, replay=replay, bulk_replay=bulk)

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
        prompt_id = invocation.get("promptId") if isinstance(invocation, dict) else None
        self.report.event(
            "prompt_started",
            sessionId=session_id,
            requestId=msg_id,
            promptId=prompt_id,
            promptNumber=number,
            settings=settings.to_dict(),
        )
        if settings.mode == "crash-on-prompt":
            self.report.event("exit", reason="crash-on-prompt", sessionId=session_id)
            os._exit(1)
        record = Prompt(
            msg_id, session_id, settings.mode != "hang-ignore-cancel", keep_updates=self.config.history_max_updates
        )
        # the daemon's prompt id on the user's message, as the real agent's replays and transcripts carry it
        user_meta = {"_meta": {"promptId": prompt_id}} if isinstance(prompt_id, str) else {}
        record.keep({"sessionUpdate": "user_message_chunk", "content": text_block(text), **user_meta})
        record.sent["promptChars"] = len(text)
        with self._prompts_lock:
            self._prompts.setdefault(session_id, set()).add(record)
        threading.Thread(target=self._run_prompt, args=(record, settings), daemon=True).start()

    def _run_prompt(self, record: Prompt, settings: PromptSettings) -> None:
        try:
            self.player.play(record, settings)
        finally:
            with self._prompts_lock:
                self._prompts.get(record.session_id, set()).discard(record)

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
