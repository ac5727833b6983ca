"""The mock agent's protocol I/O: NDJSON JSON-RPC 2.0 lines on stdout, diagnostics on stderr.

Stdlib only. stdout carries only protocol lines (except the deliberate one of the ``garbage`` mode).
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

PROTOCOL_VERSION = 1
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND = -32002


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
