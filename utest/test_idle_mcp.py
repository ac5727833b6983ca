"""The idle stdio MCP server fixture, driven over its stdio like the real agent child drives it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import mock_acp
from mock_acp.idle_mcp import handle

SERVER = Path(mock_acp.__file__).resolve().parent / "idle_mcp.py"


def _rpc(proc, msg):
    proc.stdin.write(json.dumps(msg) + "\n")
    proc.stdin.flush()
    if "id" not in msg:
        return None
    return json.loads(proc.stdout.readline())


def test_handshake_lists_and_idles():
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--name", "idle9"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        init = _rpc(
            proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
        )
        assert init["result"]["protocolVersion"] == "2025-11-25"
        assert init["result"]["serverInfo"]["name"] == "idle9"
        assert _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"}) is None
        assert _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "prompts/list"})["result"] == {"prompts": []}
        assert _rpc(proc, {"jsonrpc": "2.0", "id": 3, "method": "resources/list"})["result"] == {"resources": []}
        tools = _rpc(proc, {"jsonrpc": "2.0", "id": 4, "method": "tools/list"})["result"]["tools"]
        assert len(tools) == 1, "the real child drops a server that offers no tool"
        assert _rpc(proc, {"jsonrpc": "2.0", "id": 5, "method": "nope"})["error"]["code"] == -32601
        proc.stdin.write("not json\n")
        proc.stdin.flush()
        assert _rpc(proc, {"jsonrpc": "2.0", "id": 6, "method": "ping"})["result"] == {}
        time.sleep(0.3)
        assert proc.poll() is None, "it must stay alive while connected"
        proc.stdin.close()
        assert proc.wait(timeout=5) == 0
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_exits_zero():
    proc = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    time.sleep(0.3)
    proc.terminate()
    assert proc.wait(timeout=5) == 0


def test_notifications_and_responses_get_no_reply():
    assert handle({"jsonrpc": "2.0", "method": "notifications/cancelled"}) is None
    assert handle({"jsonrpc": "2.0", "id": 1, "result": {}}) is None
    assert handle({"jsonrpc": "2.0", "id": 7, "method": "tools/call"})["result"]["content"][0]["text"] == "pong"
