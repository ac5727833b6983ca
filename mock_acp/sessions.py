"""The sessions the agent created, kept with their history and persisted so a new agent process (after a daemon
restart) can restore them; the answers to ``session/load`` and ``session/resume``; and each session's chat
record, where the daemon looks for a transcript (:mod:`mock_acp.transcript`). Stdlib only."""

from __future__ import annotations

import collections
import itertools
import json
import os
import re
import threading
import time
from typing import Any

from mock_acp.report import Reporter
from mock_acp.transcript import ChatLog, TranscriptError, json_objects, read_page
from mock_acp.wire import RESOURCE_NOT_FOUND, Output, log_stderr

LOAD_REPLAY_MODE_META = "qwen.session.loadReplayMode"
LOAD_REPLAY_META = "qwen.session.loadReplay"

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
SAVE_WAIT_S = 2.0


class SessionStore:
    """The sessions the agent created, with their history, persisted so a new agent process can load them.

    A session is one file ``<folder>/<sessionId>.jsonl``: a header line ``{"sessionId", "cwd", "createdAt"}``,
    then one ACP session update per line. Without a folder sessions live in memory only. Each turn written there
    also goes to the session's chat record (``chats``), the file the daemon's transcript route looks for.
    """

    def __init__(self, folder: str | None, max_updates: int, chats: ChatLog | None = None) -> None:
        """Keep at most `max_updates` updates per session; persist under `folder` (None: memory only); write
        each turn's chat record with `chats` (None: none)."""
        self._folder = folder
        self._max = max_updates
        self.chats = chats if chats is not None else ChatLog(None)
        self._cwd: dict[str, str] = {}
        self._history: dict[str, collections.deque[dict[str, Any]]] = {}
        self._unsaved: collections.Counter[str] = collections.Counter()
        # Per session, the remembered turns not yet written, in the order `remember` kept them: a turn whose
        # `persist` comes first waits for the earlier ones, so the file holds the turns in the memory's order.
        self._queued: dict[str, collections.deque[list[Any]]] = {}
        self._tickets = itertools.count(1)
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
            self._cwd[session_id] = cwd
        header = {"sessionId": session_id, "cwd": cwd, "createdAt": round(time.time(), 3)}
        self._append(session_id, [header], mode="w")

    def remember(self, session_id: str, updates: list[dict[str, Any]]) -> int:
        """Add the updates of one turn to the session's history in memory; return the turn's ticket for `persist`."""
        with self._lock:
            self._history.setdefault(session_id, collections.deque(maxlen=self._max)).extend(updates)
            self._unsaved[session_id] += 1
            ticket = next(self._tickets)
            self._queued.setdefault(session_id, collections.deque()).append([ticket, updates, False])
            return ticket

    def persist(self, session_id: str, ticket: int) -> None:
        """Write the remembered turn `ticket` to the session's file (after the turn's answer went out).

        Turns are written in the order they were remembered: when an earlier turn of the session is not written
        yet, this one is written right after it, by whichever `persist` call writes the earlier one.
        """
        with self._lock:
            queue = self._queued.get(session_id, collections.deque())
            for entry in queue:
                if entry[0] == ticket:
                    entry[2] = True
            written = 0
            while queue and queue[0][2]:
                _, updates, _ = queue.popleft()
                if updates:
                    self._append(session_id, updates, mode="a")  # under the lock: one writer, in order
                    cwd = self._cwd.get(session_id)
                    if cwd is not None:
                        self.chats.append_turn(session_id, cwd, updates)
                written += 1
            if not queue:
                self._queued.pop(session_id, None)
            self._unsaved[session_id] -= written
            if self._unsaved[session_id] <= 0:
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
        header = json_objects(lines[:1])
        updates = collections.deque(json_objects(lines[1:]), maxlen=self._max)
        with self._lock:
            self._history.setdefault(session_id, updates)
            if header and isinstance(header[0].get("cwd"), str):
                self._cwd.setdefault(session_id, header[0]["cwd"])
        return list(updates)


def answer_restore(
    store: SessionStore,
    report: Reporter,
    out: Output,
    msg_id: Any,
    params: dict[str, Any],
    *,
    replay: bool,
    bulk_replay: bool,
) -> None:
    """Answer ``session/load`` (``replay``: the history as session updates, or in the answer's ``_meta`` when
    ``bulk_replay`` is configured and the request asks for it) or ``session/resume``; an unknown session gets
    -32002 ``Resource not found``."""
    session_id = str(params.get("sessionId", ""))
    history = store.history(session_id)
    if history is None:
        uri = f"session:{session_id}"
        report.event("session_not_found", sessionId=session_id, replay=replay)
        out.error(msg_id, RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
        return
    meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
    bulk = replay and bulk_replay and meta.get(LOAD_REPLAY_MODE_META) == "bulk"
    if replay and not bulk:
        for update in history:
            out.update(session_id, update)
    report.event(
        "session_load" if replay else "session_resume",
        sessionId=session_id,
        historyUpdates=len(history),
        replayedUpdates=len(history) if replay else 0,
        replay="bulk" if bulk else "stream" if replay else None,
        meta=meta,
    )
    out.result(msg_id, {"_meta": {LOAD_REPLAY_META: {"v": 1, "updates": history}}} if bulk else {})


def answer_transcript(store: SessionStore, out: Output, msg_id: Any, params: dict[str, Any]) -> None:
    """Answer ``qwen/status/session/transcript`` with a page of the session's chat record (once the session's
    finished turns are written), or the JSON-RPC error :func:`mock_acp.transcript.read_page` raises."""
    session_id = str(params.get("sessionId", ""))
    store.wait_saved(session_id, SAVE_WAIT_S)
    if store.chats.qwen_dir is None:
        uri = f"session:{session_id}"
        out.error(msg_id, RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
        return
    try:
        page = read_page(store.chats.qwen_dir, params)
    except TranscriptError as exc:
        out.error(msg_id, exc.code, str(exc), exc.data)
        return
    out.result(msg_id, page)
