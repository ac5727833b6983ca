"""The chat record the real agent keeps of each session, written by the mock the same way, and the pages of it
the daemon asks the agent for (``qwen/status/session/transcript``, behind ``GET /session/:id/transcript``).
Stdlib only.

Where (as the real agent 0.24.4 writes it): ``<qwen_dir>/projects/<workspace path with every character but
a-z, A-Z and 0-9 as "-">/chats/<sessionId>.jsonl``, ``qwen_dir`` being the daemon's runtime folder
(``<HOME>/.qwen``). The file starts with the session's first turn (a session without a turn has none). One JSON
object a line, each linked to the line before by ``parentUuid``, every record with ``uuid``, ``parentUuid``,
``sessionId``, ``timestamp`` (ISO 8601), ``type``, ``cwd`` and ``version``. Per turn the mock writes

- a ``user`` record: ``message = {"role": "user", "parts": [{"text": <prompt>}]}`` and ``daemonPromptId``
  (the daemon's prompt id, from the prompt's ``_meta["qwen-code/invocation"]``);
- an ``assistant`` record: ``message = {"role": "model", "parts": [...]}`` with the agent's chunks joined into
  one ``text`` part (the real agent writes one record a model response) and one ``functionCall`` part
  ``{id, name, args}`` a tool call;
- a ``tool_result`` record a tool call that ended: ``toolCallResult = {callId, status: "success" | "error",
  error?}`` and ``message.parts = [{"functionResponse": {id, name, response}}]``.

Not recorded: plans and usage updates (the real agent records plans as a tool's result, usage as
``usageMetadata``), nor the real agent's system records (telemetry, checkpoints, turn results).

Who reads what (0.24.4):

- the daemon, before it forwards ``GET /session/:id/transcript`` to the agent (and for the export and
  turn-index routes): the first line's ``sessionId`` (the file's session, any case) and ``cwd`` (its SHA-256 must be
  the workspace's). No such first line: 404 ``session_not_found``, without asking the agent.
- the agent answers the pages: :func:`read_page`, as the real agent does from the same file: ``limit`` records a
  page (default 100, 1 to 500), each record projected into session updates: a user record into one
  ``user_message_chunk`` with ``_meta.promptId``, an assistant record into an ``agent_message_chunk`` and a
  ``tool_call`` a function call, a tool result into a ``tool_call_update`` (completed or failed, with the
  output as content); ``_meta["qwen.session.recordId"]`` names the record.
- the daemon's own reader (``GET /workspaces/:workspace/session/:id/transcript``) reads the same fields; from
  a file of the mock it gave the same updates as :func:`read_page` (measured, ``docs/daemon-restore.md``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from mock_acp.wire import INVALID_PARAMS, RESOURCE_NOT_FOUND, log_stderr

TRANSCRIPT_METHOD = "qwen/status/session/transcript"
RECORD_VERSION = "mock-acp"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
TAIL_BYTES = 65536
# The daemon looks only for files named like this (its SESSION_FILE_PATTERN); other session ids get no file.
_SESSION_FILE_ID = re.compile(r"[0-9a-fA-F-]{32,36}")
_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]")


class TranscriptError(Exception):
    """A transcript request the mock answers with a JSON-RPC error.

    Attributes:
        code: The JSON-RPC error code.
        data: The error's ``data``, or None.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        """Keep the code, the message and the data."""
        super().__init__(message)
        self.code = code
        self.data = data


def chat_path(qwen_dir: str, cwd: str, session_id: str) -> str | None:
    """Where the real agent keeps the session's chat record; None for an id the daemon never looks for."""
    if not _SESSION_FILE_ID.fullmatch(session_id):
        return None
    return os.path.join(qwen_dir, "projects", _NOT_ALNUM.sub("-", cwd), "chats", f"{session_id}.jsonl")


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s * 1000) % 1000:03d}Z"


def _text(update: dict[str, Any]) -> str:
    content = update.get("content")
    return content["text"] if isinstance(content, dict) and isinstance(content.get("text"), str) else ""


def _content_text(update: dict[str, Any]) -> str:
    """The text of a tool call update's ``content`` list (joined)."""
    parts = update.get("content") if isinstance(update.get("content"), list) else []
    return "".join(_text(p) for p in parts if isinstance(p, dict))


def turn_records(
    updates: Iterable[dict[str, Any]], *, session_id: str, cwd: str, parent: str | None, now: float | None = None
) -> list[dict[str, Any]]:
    """The records of one turn (its updates as the agent kept them, the user's prompt first), chained from
    ``parent`` (the uuid of the file's last record, None for the first turn)."""
    when = time.time() if now is None else now
    records: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        record = {"uuid": str(uuid.uuid4()), "parentUuid": records[-1]["uuid"] if records else parent}
        record.update(sessionId=session_id, timestamp=_iso(when), type=kind, cwd=cwd, version=RECORD_VERSION)
        records.append({**record, **fields})

    user: list[str] = []
    prompt_id = None
    texts: list[str] = []
    calls: dict[str, dict[str, Any]] = {}
    ended: dict[str, dict[str, Any]] = {}
    for update in updates:
        kind = update.get("sessionUpdate")
        if kind == "user_message_chunk":
            user.append(_text(update))
            meta = update.get("_meta") if isinstance(update.get("_meta"), dict) else {}
            prompt_id = prompt_id or meta.get("promptId")
        elif kind == "agent_message_chunk":
            texts.append(_text(update))
        elif kind == "tool_call" and isinstance(update.get("toolCallId"), str):
            raw = update.get("rawInput")
            calls[update["toolCallId"]] = {"name": str(update.get("title") or "tool"), "args": raw or {}}
        elif kind == "tool_call_update" and update.get("status") in ("completed", "failed"):
            ended[str(update.get("toolCallId"))] = update
    add("user", **({"daemonPromptId": prompt_id} if isinstance(prompt_id, str) else {}), message=_user("".join(user)))
    parts: list[dict[str, Any]] = [{"text": "".join(texts)}] if "".join(texts) else []
    parts += [{"functionCall": {"id": cid, **call}} for cid, call in calls.items()]
    if parts:
        add("assistant", model=RECORD_VERSION, message={"role": "model", "parts": parts})
    for cid, update in ended.items():
        name = calls.get(cid, {}).get("name", "tool")
        output = _content_text(update)
        failed = update.get("status") == "failed"
        result = {"callId": cid, "status": "error" if failed else "success"}
        if failed:
            result["error"] = {"message": output or "failed"}
        response = {"functionResponse": {"id": cid, "name": name, "response": {"output": output}}}
        add("tool_result", message={"role": "user", "parts": [response]}, toolCallResult=result)
    return records


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


class ChatLog:
    """Appends each turn of a session to its chat record (no record without a ``qwen_dir``).

    Not thread-safe: the session store calls it under its lock, one turn at a time, in order.
    """

    def __init__(self, qwen_dir: str | None) -> None:
        """Write under ``qwen_dir`` (the daemon's ``<HOME>/.qwen``); None writes nothing."""
        self.qwen_dir = qwen_dir
        self._last: dict[str, str | None] = {}

    def path(self, cwd: str, session_id: str) -> str | None:
        """The session's chat record, or None (no ``qwen_dir``, or an id the daemon never looks for)."""
        return chat_path(self.qwen_dir, cwd, session_id) if self.qwen_dir else None

    def append_turn(self, session_id: str, cwd: str, updates: list[dict[str, Any]]) -> int:
        """Write the turn's records after the file's last one; return how many were written (0 on an error)."""
        path = self.path(cwd, session_id)
        if path is None or not updates:
            return 0
        if session_id not in self._last:
            self._last[session_id] = _last_uuid(path)
        records = turn_records(updates, session_id=session_id, cwd=cwd, parent=self._last[session_id])
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        except OSError as exc:
            log_stderr(f"chat record of session {session_id} not written: {exc}")
            return 0
        self._last[session_id] = records[-1]["uuid"]
        return len(records)


def _last_uuid(path: str) -> str | None:
    """The ``uuid`` of the file's last record (None: no file, or no readable last line)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - TAIL_BYTES))
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("uuid"), str):
            return record["uuid"]
    return None


def read_records(path: str) -> list[dict[str, Any]]:
    """Every record of a chat file, in order (unreadable lines skipped).

    Raises:
        OSError: The file cannot be read (FileNotFoundError when there is none).
    """
    with open(path, encoding="utf-8") as handle:
        return json_objects(handle.read().splitlines())


def json_objects(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The lines that are JSON objects, parsed, in order (the others skipped)."""
    found = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def project(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The session updates of one record, as the real agent's transcript pages show them."""
    meta: dict[str, Any] = {"qwen.session.recordId": record.get("uuid")}
    message = record.get("message") if isinstance(record.get("message"), dict) else {}
    parts = [p for p in message.get("parts") or () if isinstance(p, dict)]
    kind = record.get("type")
    out: list[dict[str, Any]] = []
    if kind == "user":
        prompt_id = record.get("daemonPromptId")
        user_meta = {**({"promptId": prompt_id} if isinstance(prompt_id, str) else {}), **meta}
        for part in parts:
            if isinstance(part.get("text"), str) and part["text"]:
                chunk = {"type": "text", "text": part["text"]}
                out.append({"sessionUpdate": "user_message_chunk", "content": chunk, "_meta": user_meta})
    elif kind == "assistant":
        for part in parts:
            call = part.get("functionCall") if isinstance(part.get("functionCall"), dict) else None
            if isinstance(part.get("text"), str) and part["text"]:
                chunk = {"type": "text", "text": part["text"]}
                out.append({"sessionUpdate": "agent_message_chunk", "content": chunk, "_meta": meta})
            elif call is not None:
                title = str(call.get("name") or "tool")
                start = {"toolCallId": call.get("id"), "title": title, "status": "in_progress"}
                out.append({"sessionUpdate": "tool_call", **start, "rawInput": call.get("args") or {}, "_meta": meta})
    elif kind == "tool_result":
        result = record.get("toolCallResult") if isinstance(record.get("toolCallResult"), dict) else {}
        status = "completed" if result.get("status") == "success" else "failed"
        end: dict[str, Any] = {"toolCallId": result.get("callId"), "status": status}
        output = "".join(_response_output(p) for p in parts)
        if output:
            end["content"] = [{"type": "content", "content": {"type": "text", "text": output}}]
        out.append({"sessionUpdate": "tool_call_update", **end, "_meta": meta})
    return out


def _response_output(part: dict[str, Any]) -> str:
    response = part.get("functionResponse") if isinstance(part.get("functionResponse"), dict) else {}
    body = response.get("response") if isinstance(response.get("response"), dict) else {}
    return body["output"] if isinstance(body.get("output"), str) else ""


def encode_cursor(session_id: str, position: int) -> str:
    """An opaque cursor: the next record's position in the session's file."""
    raw = json.dumps({"v": 1, "sessionId": session_id, "position": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, session_id: str) -> int:
    """The position a cursor of :func:`encode_cursor` names.

    Raises:
        TranscriptError: Not a cursor of this session (-32602).
    """
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        state = None
    position = state.get("position") if isinstance(state, dict) else None
    if not isinstance(position, int) or position < 0 or state.get("sessionId") != session_id:
        raise TranscriptError(INVALID_PARAMS, "Invalid transcript cursor", {"errorKind": "invalid_transcript_cursor"})
    return position


def read_page(qwen_dir: str, params: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``qwen/status/session/transcript``: ``limit`` records from the cursor on, as events.

    Only forward paging is played (``cursor`` and ``limit``); ``direction``, ``beforeRecordId``, ``atRecordId``
    and ``snapshot`` are refused, so a daemon that asks for them falls back to what it keeps itself.

    Raises:
        TranscriptError: Bad parameters (-32602), or no chat record of the session (-32002: the daemon answers
            404 ``session_not_found``).
    """
    session_id = params.get("sessionId")
    if not isinstance(session_id, str) or not _SESSION_FILE_ID.fullmatch(session_id):
        raise TranscriptError(INVALID_PARAMS, "Invalid or missing sessionId")
    unplayed = [k for k in ("direction", "beforeRecordId", "atRecordId", "snapshot") if params.get(k) is not None]
    if unplayed:
        raise TranscriptError(INVALID_PARAMS, f"The mock agent pages its transcript forward only, not {unplayed[0]}")
    limit = params.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise TranscriptError(INVALID_PARAMS, "Invalid transcript limit")
    cursor = params.get("cursor")
    position = decode_cursor(cursor, session_id) if isinstance(cursor, str) else 0
    path = chat_path(qwen_dir, str(params.get("cwd") or ""), session_id)
    try:
        records = read_records(path) if path else None
    except OSError:
        records = None
    if not records:
        uri = f"session:{session_id}"
        raise TranscriptError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
    if position > len(records):
        raise TranscriptError(INVALID_PARAMS, "Invalid transcript cursor", {"errorKind": "invalid_transcript_cursor"})
    page = records[position : position + limit]
    following = position + len(page)
    events = [{"v": 1, "type": "session_update", "data": u} for record in page for u in project(record)]
    answer: dict[str, Any] = {"v": 1, "sessionId": session_id, "events": events, "hasMore": following < len(records)}
    if answer["hasMore"]:
        answer["nextCursor"] = encode_cursor(session_id, following)
    answer["startTime"] = records[0].get("timestamp")
    answer["lastUpdated"] = records[-1].get("timestamp")
    return answer
