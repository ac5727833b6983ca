"""An idle stdio MCP server (standard library only): stays connected and does nothing, so it can be counted.

Speaks newline-delimited JSON-RPC 2.0 on stdin/stdout. The real agent child (0.24.4) sends ``initialize``,
``notifications/initialized``, then ``prompts/list``, ``resources/list`` and ``tools/list``; a server that
offers no tool, or fails either list, is dropped as "failed to start" (daemon-api.md §8). So this one answers
all three, with one harmless tool (``idle_ping``). It exits 0 when stdin ends or on SIGTERM, and never writes
anything but JSON-RPC to stdout.

Usage: ``python -m mock_acp.idle_mcp [--name NAME]`` or ``python idle_mcp.py``; the command line carries
``idle_mcp`` so a process-tree pattern can find it.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

PROTOCOL_VERSION = "2025-11-25"
TOOL = {
    "name": "idle_ping",
    "description": "Answers 'pong'. Exists so the client keeps this idle server connected.",
    "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
}


def handle(message: dict[str, Any], name: str = "idle-mcp") -> dict[str, Any] | None:
    """The reply to one JSON-RPC message (``None`` for notifications and responses)."""
    method = message.get("method")
    msg_id = message.get("id")
    if msg_id is None or not isinstance(method, str):
        return None
    if method == "initialize":
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        result: Any = {
            "protocolVersion": params.get("protocolVersion") or PROTOCOL_VERSION,
            "capabilities": {"tools": {"listChanged": False}, "prompts": {}, "resources": {}},
            "serverInfo": {"name": name, "version": "0.0.1"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "prompts/list":
        result = {"prompts": []}
    elif method == "resources/list":
        result = {"resources": []}
    elif method == "resources/templates/list":
        result = {"resourceTemplates": []}
    elif method == "tools/call":
        result = {"content": [{"type": "text", "text": "pong"}], "isError": False}
    else:
        return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": f"method not found: {method}"}}
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


def serve(stdin=None, stdout=None, name: str = "idle-mcp") -> int:
    """Answer messages until stdin ends; returns the exit status (0)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        batch = message if isinstance(message, list) else [message]
        for item in batch:
            if not isinstance(item, dict):
                continue
            reply = handle(item, name)
            if reply is not None:
                stdout.write(json.dumps(reply) + "\n")
                stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``--name NAME`` sets the server name it reports."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args[args.index("--name") + 1] if "--name" in args and args.index("--name") + 1 < len(args) else "idle-mcp"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return serve(name=name)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
