"""The mock agent's NDJSON report: the writer the agent uses, and the reader the harness uses.

One flushed line per event, with both clocks of the agent process (format in the README). Stdlib only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from mock_acp.directives import MockSettingsError, parse_json
from mock_acp.wire import log_stderr


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


def read_report(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read the agent's NDJSON report (see the README for the events and their fields).

    A missing file is an empty report; a last line the agent is still writing (no newline yet) is skipped.

    Args:
        path: The report file.

    Returns:
        One dict per event, in the order written.

    Raises:
        MockSettingsError: A complete line is not a JSON object.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    events = []
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        event = parse_json(line, f"mock report line {number}")
        if not isinstance(event, dict):
            raise MockSettingsError(f"mock report line {number} is not a JSON object: {line[:80]!r}")
        events.append(event)
    return events
