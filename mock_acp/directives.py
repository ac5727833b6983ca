"""Settings of the mock ACP agent: the single source of truth for the agent and the keyword library (the setting
tables, one prompt's settings, the ``[[mock ...]]`` directive).

Stdlib only, and cheap to import (the agent imports it at start-up).

Effective settings of one prompt are layered, later layers winning::

    AgentConfig.defaults <- control "defaults" <- control "sessions"[sessionId] <- prompt directive

A prompt directive is a prefix of the prompt's first text block, e.g.
``[[mock mode=hang chunks=5]] rest of the prompt``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

MOCK_MODES = ("echo", "reject", "crash-on-prompt", "crash-mid", "hang", "hang-ignore-cancel", "garbage")
INIT_MODES = ("normal", "never", "exit", "no-guard")
TOOL_KINDS = ("read", "edit", "delete", "move", "search", "execute", "think", "fetch", "switch_mode", "other")
"""ACP ``ToolKind`` values (the `tool_kind` setting)."""
PERMISSION_OPTION_KINDS = ("allow_once", "allow_always", "reject_once", "reject_always")
"""ACP ``PermissionOptionKind`` values; the mock uses each kind as the option's ``optionId`` too."""
ALLOW_KINDS = ("allow_once", "allow_always")
SWITCHES = ("off", "on")
LOAD_REPLAY_MODES = ("stream", "bulk")

CONFIG_ENV = "QWEN_MOCK_ACP_CONFIG"
PYTHON_ENV = "QWEN_MOCK_ACP_PYTHON"
LEGACY_MODE_ENV = "MOCK_ACP_MODE"
LEGACY_DELAY_ENV = "MOCK_ACP_PROMPT_DELAY_MS"
LEGACY_CHUNKS_ENV = "MOCK_ACP_EMIT_CHUNKS"

REPORT_FILE_NAME = "report.ndjson"
"""The agent's report, written next to the control file unless the config names another path."""
SESSIONS_DIR_NAME = "sessions"
"""Folder next to the control file where the agent persists its sessions (for ``session/load``)."""

MAX_CHUNKS = 100_000
MAX_PROMPT_NUMBER = 1_000_000
MAX_CHUNK_SIZE = 10_000_000
MAX_DELAY_MS = 86_400_000
MAX_TOOL_CALLS = 10_000
MAX_PLAN_ENTRIES = 1_000
MIN_ERROR_CODE = -(2**31)
MAX_ERROR_CODE = 2**31 - 1

DIRECTIVE_OPEN = "[[mock"
DIRECTIVE_CLOSE = "]]"


class MockSettingsError(ValueError):
    """A mock setting, directive, config file or control file is invalid."""


@dataclass(frozen=True)
class Setting:
    """One row of the mock's setting table: what a setting is, what it may hold and what it does.

    Attributes:
        name: The setting's name (a directive key, a control-file key, a `PromptSettings` field).
        kind: ``int`` (a whole number from `low` to `high`), ``choice`` (one of `values`) or ``choices``
            (a comma-separated list of distinct `values`, at least one).
        default: The value without any override.
        meaning: One sentence on what the setting does.
        low: Smallest allowed value of an ``int`` setting.
        high: Largest allowed value of an ``int`` setting.
        values: Allowed words of a ``choice`` or ``choices`` setting.
    """

    name: str
    kind: str
    default: int | str
    meaning: str
    low: int = 0
    high: int = 0
    values: tuple[str, ...] = ()

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``an integer from 0 to 100``."""
        if self.kind == "int":
            return f"an integer from {self.low} to {self.high}"
        if self.kind == "choice":
            return f"one of {', '.join(self.values)}"
        return f"a comma-separated list of distinct values from {', '.join(self.values)}"

    def check(self, value: object) -> None:
        """Raise `MockSettingsError` (naming the setting, the allowed values and `value`) unless valid."""
        if not self._valid(value):
            raise MockSettingsError(f"mock setting {self.name!r} must be {self.allowed()}, got {value!r}")

    def _valid(self, value: object) -> bool:
        if self.kind == "int":
            return not isinstance(value, bool) and isinstance(value, int) and self.low <= value <= self.high
        if self.kind == "choice":
            return value in self.values
        if not isinstance(value, str) or not value:
            return False
        items = value.split(",")
        return len(set(items)) == len(items) and all(item in self.values for item in items)

    def coerce(self, raw: str) -> object:
        """Turn directive text into the setting's type (validation follows separately)."""
        if self.kind != "int":
            return raw
        try:
            return int(raw, 10)
        except ValueError:
            raise MockSettingsError(f"mock setting {self.name!r} must be {self.allowed()}, got {raw!r}") from None


def _int(name: str, default: int, high: int, meaning: str, low: int = 0) -> Setting:
    return Setting(name, "int", default, meaning, low=low, high=high)


PROMPT_SETTINGS: tuple[Setting, ...] = (
    Setting("mode", "choice", "echo", "How the prompt ends (see MOCK_MODES in the README).", values=MOCK_MODES),
    _int("chunks", 3, MAX_CHUNKS, "Number of agent_message_chunk updates streamed first."),
    _int("chunk_size", 0, MAX_CHUNK_SIZE, "0 for the text chunk-<i>, else exactly this many characters a chunk."),
    _int("chunk_delay_ms", 0, MAX_DELAY_MS, "Sleep between two chunks."),
    _int("end_delay_ms", 0, MAX_DELAY_MS, "Sleep after the last update, before the final answer (or crash)."),
    _int("error_code", -32603, MAX_ERROR_CODE, "JSON-RPC error code of the reject mode.", low=MIN_ERROR_CODE),
    _int("tool_calls", 0, MAX_TOOL_CALLS, "Tool calls per prompt, after the chunks: pending, in_progress, final."),
    _int("tool_output_bytes", 0, MAX_CHUNK_SIZE, "Characters of text content in each finished tool call (0: none)."),
    _int("tool_delay_ms", 0, MAX_DELAY_MS, "Time a tool call stays in_progress before its final status."),
    _int(
        "tool_batch",
        1,
        MAX_TOOL_CALLS,
        "Tool calls announced at once; their permission requests go out together.",
        low=1,
    ),
    Setting("tool_kind", "choice", "read", "ACP tool kind of the mock's tool calls.", values=TOOL_KINDS),
    _int("tool_fail_every", 0, MAX_TOOL_CALLS, "Every Nth tool call (1-based) ends failed; 0: none fails."),
    _int("plan_entries", 0, MAX_PLAN_ENTRIES, "A plan update with this many entries first and all completed last."),
    Setting("usage", "choice", "off", "on: a usage_update (tokens in context) ends the turn.", values=SWITCHES),
    _int("permissions", 0, MAX_TOOL_CALLS, "session/request_permission requests per prompt, one a tool call."),
    _int("permission_at", 1, MAX_TOOL_CALLS, "The first tool call (1-based) that asks; the next ones follow.", low=1),
    Setting(
        "permission_options",
        "choices",
        "allow_once,allow_always,reject_once",
        "The options each request offers (kind = optionId), in this order.",
        values=PERMISSION_OPTION_KINDS,
    ),
    _int(
        "mode_at",
        1,
        MAX_PROMPT_NUMBER,
        "The session's first prompt (1-based) that gets the mode; the prompts before it echo.",
        low=1,
    ),
    _int(
        "mode_every",
        1,
        MAX_PROMPT_NUMBER,
        "From prompt mode_at on, every Nth prompt gets the mode (1: every one; 0: only mode_at); others echo.",
    ),
)
"""The mock's setting table: every per-prompt setting, with its type, allowed values, default and meaning."""

SETTINGS: dict[str, Setting] = {setting.name: setting for setting in PROMPT_SETTINGS}
"""The setting table by name."""

CONFIG_SETTINGS: dict[str, Setting] = {
    setting.name: setting
    for setting in (
        Setting("init_mode", "choice", "normal", "How the agent answers initialize.", values=INIT_MODES),
        _int("init_delay_ms", 0, MAX_DELAY_MS, "Sleep before answering initialize."),
        _int("new_session_delay_ms", 0, MAX_DELAY_MS, "Sleep before answering each session/new."),
        _int("load_delay_ms", 0, MAX_DELAY_MS, "Sleep before answering each session/load or session/resume."),
        _int("history_max_updates", 2000, MAX_CHUNKS, "Updates kept per session for session/load replay."),
        Setting(
            "load_replay",
            "choice",
            "stream",
            "stream: replay history as session/update notifications; bulk: in the result when the daemon asks.",
            values=LOAD_REPLAY_MODES,
        ),
    )
}
"""Start-up settings of the agent (the config file), checked like the prompt settings."""


@dataclass(frozen=True)
class PromptSettings:
    """How the mock answers one `session/prompt` (one field per row of `PROMPT_SETTINGS`).

    Attributes:
        mode: One of `MOCK_MODES`.
        chunks: Number of `agent_message_chunk` updates to stream (0..100000).
        chunk_size: 0 for the text ``chunk-<i>``; otherwise exactly this many characters per chunk.
        chunk_delay_ms: Sleep between two chunks.
        end_delay_ms: Sleep after the last update, before the final answer (or the crash).
        error_code: JSON-RPC error code of the `reject` mode.
        tool_calls: Tool calls per prompt (after the chunks).
        tool_output_bytes: Characters of text content in each finished tool call.
        tool_delay_ms: Time each tool call stays ``in_progress``.
        tool_batch: Tool calls announced together; their permission requests are all sent before any answer
            is awaited (parallel tool calls of one model reply).
        tool_kind: The ACP tool kind of the tool calls.
        tool_fail_every: Every Nth tool call ends ``failed`` (0: none).
        plan_entries: Entries of the plan sent before the tool calls and again, completed, after them.
        usage: ``on``: a final ``usage_update``.
        permissions: Permission requests per prompt, before tool calls `permission_at`, `permission_at` + 1...
        permission_at: The first tool call (1-based) that asks for permission.
        permission_options: Comma-separated option kinds each request offers.
        mode_at: The session's first prompt (1-based) that gets `mode`; the earlier prompts of the session
            run as ``echo``.
        mode_every: From `mode_at` on, every Nth prompt gets `mode` (1: every prompt; 0: only prompt
            `mode_at`); the others run as ``echo``. See `mode_applies`.
    """

    mode: str = "echo"
    chunks: int = 3
    chunk_size: int = 0
    chunk_delay_ms: int = 0
    end_delay_ms: int = 0
    error_code: int = -32603
    tool_calls: int = 0
    tool_output_bytes: int = 0
    tool_delay_ms: int = 0
    tool_batch: int = 1
    tool_kind: str = "read"
    tool_fail_every: int = 0
    plan_entries: int = 0
    usage: str = "off"
    permissions: int = 0
    permission_at: int = 1
    permission_options: str = "allow_once,allow_always,reject_once"
    mode_at: int = 1
    mode_every: int = 1

    def __post_init__(self) -> None:
        """Validate every field against the setting table.

        Raises:
            MockSettingsError: A field has a wrong type or is out of range.
        """
        for setting in PROMPT_SETTINGS:
            setting.check(getattr(self, setting.name))

    def check_turn(self) -> None:
        """Check the settings that depend on each other (done on the effective settings of a prompt).

        Raises:
            MockSettingsError: More permission requests than the tool calls can carry.
        """
        if self.permissions and self.permission_at + self.permissions - 1 > self.tool_calls:
            raise MockSettingsError(
                f"mock setting 'permissions' ({self.permissions}) from tool call permission_at="
                f"{self.permission_at} needs tool_calls >= {self.permission_at + self.permissions - 1}, "
                f"got tool_calls={self.tool_calls}"
            )

    def for_prompt(self, number: int) -> PromptSettings:
        """The settings of the session's prompt `number` (1-based): `mode` only where `mode_applies`, else echo."""
        if self.mode == "echo" or mode_applies(number, self.mode_at, self.mode_every):
            return self
        return replace(self, mode="echo")

    def asks_permission(self, index: int) -> bool:
        """Whether tool call `index` (1-based) is preceded by a permission request."""
        return self.permission_at <= index < self.permission_at + self.permissions

    def option_kinds(self) -> list[str]:
        """The option kinds of a permission request, in order."""
        return self.permission_options.split(",")

    def with_overrides(self, overrides: Mapping[str, Any]) -> PromptSettings:
        """Return a copy with some fields replaced.

        Args:
            overrides: Field name to new value; may be empty.

        Returns:
            The validated new settings.

        Raises:
            MockSettingsError: An unknown key or an invalid value.
        """
        if not overrides:
            return self
        _check_keys(overrides)
        return replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)


PROMPT_SETTING_NAMES = tuple(f.name for f in fields(PromptSettings))


def mode_applies(number: int, mode_at: int = 1, mode_every: int = 1) -> bool:
    """Whether a session's prompt `number` (1-based) gets the mode: prompt `mode_at`, then every `mode_every`-th.

    ``mode_at=1 mode_every=1`` (the defaults): every prompt; ``mode_at=1 mode_every=0``: only the first;
    ``mode_at=3 mode_every=3``: prompts 3, 6, 9...; ``mode_at=2 mode_every=0``: only prompt 2.
    """
    if number < mode_at:
        return False
    if mode_every == 0:
        return number == mode_at
    return (number - mode_at) % mode_every == 0


def _check_keys(overrides: Mapping[str, Any]) -> None:
    if not isinstance(overrides, Mapping):
        raise MockSettingsError(f"mock settings must be a JSON object, got {overrides!r}")
    unknown = sorted(set(overrides) - set(PROMPT_SETTING_NAMES))
    if unknown:
        raise MockSettingsError(f"unknown mock setting {unknown[0]!r}; allowed: {', '.join(PROMPT_SETTING_NAMES)}")


def validate_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check a partial set of prompt settings.

    Args:
        overrides: Field name to value.

    Returns:
        A plain dict copy of `overrides`.

    Raises:
        MockSettingsError: An unknown key or an invalid value.
    """
    PromptSettings().with_overrides(overrides)
    return dict(overrides)


def resolve_settings(base: PromptSettings, *layers: Mapping[str, Any] | None) -> PromptSettings:
    """Apply partial settings on top of `base`, later layers winning.

    Args:
        base: The starting settings.
        *layers: Partial settings; ``None`` entries are skipped.

    Returns:
        The effective settings.

    Raises:
        MockSettingsError: A layer has an unknown key or an invalid value.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            _check_keys(layer)
            merged.update(layer)
    return base.with_overrides(merged)


def format_directive(**overrides: Any) -> str:
    """Build a prompt-text directive, e.g. ``[[mock mode=hang chunks=5]]``.

    Args:
        **overrides: PromptSettings field names and values.

    Returns:
        The directive text (without any trailing prompt text).

    Raises:
        MockSettingsError: An unknown key or an invalid value.
    """
    validate_overrides(overrides)
    parts = [f"{name}={overrides[name]}" for name in PROMPT_SETTING_NAMES if name in overrides]
    return " ".join([DIRECTIVE_OPEN, *parts]) + DIRECTIVE_CLOSE


def parse_directive(text: str) -> tuple[dict[str, Any], str]:
    """Split a leading ``[[mock key=value ...]]`` directive off a prompt text.

    Args:
        text: The prompt's first text block.

    Returns:
        ``(overrides, rest)``: the validated overrides (empty without a directive) and the remaining
        text with leading whitespace removed (the whole text when there is no directive).

    Raises:
        MockSettingsError: The text starts with ``[[mock`` but the directive is malformed.
    """
    if not _starts_directive(text):
        return {}, text
    body_start = len(DIRECTIVE_OPEN)
    end = text.find(DIRECTIVE_CLOSE, body_start)
    if end < 0:
        raise MockSettingsError(f"mock directive is not closed with {DIRECTIVE_CLOSE!r}: {text[:80]!r}")
    overrides: dict[str, Any] = {}
    for token in text[body_start:end].split():
        name, sep, raw = token.partition("=")
        if not sep or not name or not raw:
            raise MockSettingsError(f"mock directive token {token!r} is not of the form key=value")
        _check_keys({name: raw})
        if name in overrides:
            raise MockSettingsError(f"mock directive sets {name!r} twice")
        overrides[name] = SETTINGS[name].coerce(raw)
    return validate_overrides(overrides), text[end + len(DIRECTIVE_CLOSE) :].lstrip()


def _starts_directive(text: str) -> bool:
    if not text.startswith(DIRECTIVE_OPEN):
        return False
    following = text[len(DIRECTIVE_OPEN) : len(DIRECTIVE_OPEN) + 1]
    return following == "" or following.isspace() or text.startswith(DIRECTIVE_CLOSE, len(DIRECTIVE_OPEN))


def parse_json(text: str, what: str) -> Any:
    """Parse JSON text; a `MockSettingsError` naming `what` when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MockSettingsError(f"{what} is not valid JSON: {exc}") from None


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write `obj` as JSON to `path` through a temporary file and `os.replace`.

    Readers never see a partial file.

    Args:
        path: Destination file.
        obj: JSON-serialisable value.
    """
    target = os.fspath(path)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, target)
