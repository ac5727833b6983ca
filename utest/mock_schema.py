"""ACP JSON-schema validation of the messages the mock agent emits.

The official schema ships in the npm package ``@agentclientprotocol/sdk`` (``schema/v1/schema.json``,
protocol version 1 as the daemon speaks it). It is fetched once with ``npm pack`` into
``~/.cache/qwen-serve-harness/acp-schema/<version>/``. The daemon's ``qwen/...`` and ``craft/...``
extension results are checked against small hand-written schemas derived from daemon-api.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

ACP_SDK_PACKAGE = "@agentclientprotocol/sdk"
ACP_SDK_VERSION = "2.4.0"
SCHEMA_MEMBER = "package/schema/v1/schema.json"

ACP_RESULT_DEFS = {
    "initialize": "InitializeResponse",
    "authenticate": "AuthenticateResponse",
    "session/new": "NewSessionResponse",
    "session/prompt": "PromptResponse",
    "session/load": "LoadSessionResponse",
    "session/resume": "ResumeSessionResponse",
}

ACP_AGENT_REQUEST_DEFS = {"session/request_permission": "RequestPermissionRequest"}
"""Requests the mock sends to the client (the daemon), by method, and their ``$defs`` schema."""

_OBJECT = {"type": "object"}
EXT_RESULT_SCHEMAS: dict[str, dict[str, Any]] = {
    "craft/cancelPendingPrompt": {
        **_OBJECT,
        "required": ["cancelled"],
        "properties": {"cancelled": {"type": "boolean"}},
    },
    "qwen/control/session/close": {
        **_OBJECT,
        "required": ["sessionId", "closed"],
        "properties": {"sessionId": {"type": "string"}, "closed": {"const": True}},
    },
    "qwen/status/workspace/mcp": {
        **_OBJECT,
        "required": ["v", "workspaceCwd", "initialized", "discoveryState", "servers"],
        "properties": {
            "v": {"const": 1},
            "workspaceCwd": {"type": "string", "minLength": 1},
            "initialized": {"type": "boolean"},
            "discoveryState": {"enum": ["not_started", "in_progress", "completed"]},
            "servers": {"type": "array"},
        },
    },
    "qwen/status/workspace/skills": {
        **_OBJECT,
        "required": ["v", "workspaceCwd", "initialized", "skills"],
        "properties": {
            "v": {"const": 1},
            "workspaceCwd": {"type": "string", "minLength": 1},
            "initialized": {"type": "boolean"},
            "skills": {"type": "array"},
        },
    },
    "qwen/status/session/transcript": {
        **_OBJECT,
        "required": ["v", "sessionId", "events", "hasMore"],
        "properties": {
            "v": {"const": 1},
            "sessionId": {"type": "string", "minLength": 1},
            "events": {
                "type": "array",
                "items": {
                    **_OBJECT,
                    "required": ["v", "type", "data"],
                    "properties": {
                        "v": {"const": 1},
                        "type": {"const": "session_update"},
                        "data": {**_OBJECT, "required": ["sessionUpdate"]},
                    },
                },
            },
            "hasMore": {"type": "boolean"},
            "nextCursor": {"type": "string", "minLength": 1},
            "startTime": {"type": "string"},
            "lastUpdated": {"type": "string"},
        },
    },
    "qwen/status/workspace/resource": {
        **_OBJECT,
        "required": ["rssBytes", "cpuPercent"],
        "properties": {
            "rssBytes": {"type": "integer", "minimum": 0},
            "cpuPercent": {"type": "number", "minimum": 0},
        },
    },
}

GUARD_META_SCHEMA: dict[str, Any] = {
    **_OBJECT,
    "required": ["_meta"],
    "properties": {
        "_meta": {
            **_OBJECT,
            "required": ["qwen-code/external-tool-guard-ready"],
            "properties": {"qwen-code/external-tool-guard-ready": {"const": "required-v1"}},
        }
    },
}
"""The daemon's extra requirement on the `initialize` result (daemon-api.md §0.5)."""


def schema_cache_dir(version: str = ACP_SDK_VERSION) -> Path:
    """Folder that caches the schema of one SDK version."""
    return Path.home() / ".cache" / "qwen-serve-harness" / "acp-schema" / version


def fetch_acp_schema(version: str = ACP_SDK_VERSION) -> dict[str, Any]:
    """Return the ACP v1 JSON schema, downloading the SDK package with ``npm pack`` on first use.

    Raises:
        RuntimeError: npm is missing or the download fails (the message says what to do).
    """
    target = schema_cache_dir(version) / "schema.json"
    if not target.is_file():
        _download_schema(version, target)
    return json.loads(target.read_text(encoding="utf-8"))


def _download_schema(version: str, target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"npm is required to fetch the ACP JSON schema ({ACP_SDK_PACKAGE}@{version}); install Node.js/npm"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        proc = subprocess.run(
            [npm, "pack", f"{ACP_SDK_PACKAGE}@{version}", "--pack-destination", work, "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"npm pack {ACP_SDK_PACKAGE}@{version} failed: {proc.stderr.strip()}")
        tarball = next(Path(work).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(SCHEMA_MEMBER)
            if member is None:
                raise RuntimeError(f"{SCHEMA_MEMBER} missing from {tarball.name}")
            data = member.read()
        tmp = Path(work) / "schema.json"
        tmp.write_bytes(data)
        os.replace(tmp, target)


class AcpValidator:
    """Validates agent-to-client messages against the ACP schema and the extension schemas."""

    def __init__(self, schema: dict[str, Any]) -> None:
        """Prepare validators from the full ACP schema document."""
        self._defs = schema["$defs"]
        agent_branch = next(branch for branch in schema["anyOf"] if branch.get("title") == "Agent")
        self._envelope = self._compile(agent_branch)
        self._cache: dict[str, Draft202012Validator] = {}

    def _compile(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**schema, "$defs": self._defs})

    def definition(self, name: str) -> Draft202012Validator:
        """Validator for one ``$defs`` entry of the ACP schema, e.g. ``PromptResponse``."""
        if name not in self._cache:
            self._cache[name] = self._compile({"$ref": f"#/$defs/{name}"})
        return self._cache[name]

    def check(self, message: dict[str, Any], request_method: str | None = None) -> None:
        """Validate one emitted message.

        Args:
            message: A parsed line from the agent's stdout.
            request_method: For a response, the method of the request it answers.

        Raises:
            jsonschema.ValidationError: The message breaks the schema.
            AssertionError: A notification other than ``session/update``, a request other than
                ``session/request_permission``, or an unknown result kind.
        """
        self._envelope.validate(message)
        if "method" in message and "id" in message:
            method = message["method"]
            assert method in ACP_AGENT_REQUEST_DEFS, f"unexpected agent request {message!r}"
            self.definition(ACP_AGENT_REQUEST_DEFS[method]).validate(message["params"])
        elif "method" in message:
            assert message["method"] == "session/update", f"unexpected agent notification {message!r}"
            self.definition("SessionNotification").validate(message["params"])
        elif "error" in message:
            self.definition("Error").validate(message["error"])
        else:
            self._check_result(message["result"], request_method)

    def _check_result(self, result: Any, request_method: str | None) -> None:
        if request_method in ACP_RESULT_DEFS:
            self.definition(ACP_RESULT_DEFS[request_method]).validate(result)
        elif request_method in EXT_RESULT_SCHEMAS:
            Draft202012Validator(EXT_RESULT_SCHEMAS[request_method]).validate(result)
        else:
            raise AssertionError(f"result for unexpected request method {request_method!r}: {result!r}")
