"""Test driver: runs the mock ACP agent through its Node launcher and speaks NDJSON JSON-RPC to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mock_acp import LAUNCHER

Message = dict[str, Any]


class MockAgentProcess:
    """One ``node launcher.cjs --acp`` process with reader threads on stdout and stderr.

    Attributes:
        messages: Every parsed JSON line the agent wrote, in order.
        non_json: Every stdout line that is not a JSON object.
        methods: Request id to method, for the requests this driver sent.
    """

    def __init__(self, env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> None:
        """Start the launcher.

        Args:
            env: Extra environment variables (on top of this process's environment, minus any
                inherited ``QWEN_MOCK_ACP_*``/``MOCK_ACP_*`` settings).
            cwd: Working directory of the agent.
        """
        base = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_MOCK_ACP_", "MOCK_ACP_"))}
        full_env = {**base, "QWEN_MOCK_ACP_PYTHON": sys.executable, **(env or {})}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            ["node", str(LAUNCHER), "--acp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
        )
        self.messages: list[Message] = []
        self.non_json: list[bytes] = []
        self.stderr: list[str] = []
        self.methods: dict[int, str] = {}
        self._cond = threading.Condition()
        self._next_id = 0
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            with self._cond:
                if isinstance(message, dict):
                    self.messages.append(message)
                else:
                    self.non_json.append(line)
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    # --- sending ---------------------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Write one message as an NDJSON line."""
        self.send_raw(json.dumps(message).encode() + b"\n")

    def send_raw(self, data: bytes) -> None:
        """Write raw bytes to the agent's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> int:
        """Send a request; return its id."""
        msg_id = self._next_id
        self._next_id += 1
        self.methods[msg_id] = method
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": dict(params or {})})
        return msg_id

    def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        """Send a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": dict(params or {})})

    # --- waiting ---------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """Return the first emitted message matching `predicate`, waiting up to `timeout` seconds.

        Raises:
            AssertionError: Nothing matched in time.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((m for m in self.messages if predicate(m)), None)
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    break
                self._cond.wait(remaining)
        assert found is not None, f"no matching message within {timeout}s; got {self.messages!r}"
        return found

    def response(self, msg_id: int, timeout: float = 5.0) -> Message:
        """Wait for the response to request `msg_id`."""
        return self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    def has_response(self, msg_id: int) -> bool:
        """Whether request `msg_id` has been answered yet."""
        with self._cond:
            return any(m.get("id") == msg_id and "method" not in m for m in self.messages)

    def call(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 5.0) -> Message:
        """Send a request and wait for its response."""
        return self.response(self.request(method, params), timeout)

    def chunks(self, session_id: str) -> list[str]:
        """Texts of the agent_message_chunk updates received so far for `session_id`."""
        return [u["content"]["text"] for u in self.updates(session_id, "agent_message_chunk")]

    def updates(self, session_id: str, kind: str | None = None) -> list[Message]:
        """The `session/update` payloads received so far for `session_id` (only `kind` if given)."""
        with self._cond:
            return [
                m["params"]["update"]
                for m in self.messages
                if m.get("method") == "session/update"
                and m["params"]["sessionId"] == session_id
                and kind in (None, m["params"]["update"]["sessionUpdate"])
            ]

    def agent_requests(self, method: str = "session/request_permission") -> list[Message]:
        """The requests the agent sent to this driver (as a client), in order."""
        with self._cond:
            return [m for m in self.messages if m.get("method") == method and "id" in m]

    def next_agent_request(self, seen: int, timeout: float = 5.0) -> Message:
        """Wait for the agent's request number `seen` + 1 (``session/request_permission``) and return it."""
        self.wait_for(lambda _m: len(self.agent_requests()) > seen, timeout)
        return self.agent_requests()[seen]

    def answer(self, request: Message, result: Mapping[str, Any] | None = None, **error: Any) -> None:
        """Answer one of the agent's requests with `result`, or with a JSON-RPC error given as ``code``/``message``."""
        reply: Message = {"jsonrpc": "2.0", "id": request["id"]}
        if error:
            reply["error"] = dict(error)
        else:
            reply["result"] = dict(result or {})
        self.send(reply)

    # --- ACP shortcuts ---------------------------------------------------------------------------

    def initialize(self) -> Message:
        """Send the daemon's `initialize` and return the result."""
        reply = self.call("initialize", {"protocolVersion": 1, "clientCapabilities": {}})
        return reply["result"]

    def new_session(self, session_id: str | None = None) -> str:
        """Create a session (optionally asking for `session_id`) and return its id."""
        params: dict[str, Any] = {"cwd": os.getcwd(), "mcpServers": []}
        if session_id:
            params["_meta"] = {"qwen-code/sessionId": session_id}
        return self.call("session/new", params)["result"]["sessionId"]

    def start(self) -> str:
        """Initialize and create one session; return its id."""
        self.initialize()
        return self.new_session()

    def prompt(self, session_id: str, text: str = "hello") -> int:
        """Send a text prompt; return the request id."""
        return self.request("session/prompt", {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]})

    # --- process ---------------------------------------------------------------------------------

    def wait_exit(self, timeout: float = 5.0) -> int:
        """Wait for the launcher to exit and return its exit code."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def child_pids(self) -> list[int]:
        """PIDs of the launcher's direct children (Linux /proc)."""
        pid = self.proc.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def stop(self) -> None:
        """Close stdin and make sure the process is gone."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.wait_exit(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.wait_exit(5)


def pid_alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
