"""Settings of the mock ACP agent: the single source of truth for the agent and the keyword library.

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
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

MOCK_MODES = ("echo", "reject", "crash-on-prompt", "crash-mid", "hang", "hang-ignore-cancel", "garbage")
INIT_MODES = ("normal", "never", "exit", "no-guard")

CONFIG_ENV = "QWEN_MOCK_ACP_CONFIG"
PYTHON_ENV = "QWEN_MOCK_ACP_PYTHON"
LEGACY_MODE_ENV = "MOCK_ACP_MODE"
LEGACY_DELAY_ENV = "MOCK_ACP_PROMPT_DELAY_MS"
LEGACY_CHUNKS_ENV = "MOCK_ACP_EMIT_CHUNKS"

MAX_CHUNKS = 100_000
MAX_CHUNK_SIZE = 10_000_000
MAX_DELAY_MS = 86_400_000
MIN_ERROR_CODE = -(2**31)
MAX_ERROR_CODE = 2**31 - 1

DIRECTIVE_OPEN = "[[mock"
DIRECTIVE_CLOSE = "]]"

_INT_RANGES: dict[str, tuple[int, int]] = {
    "chunks": (0, MAX_CHUNKS),
    "chunk_size": (0, MAX_CHUNK_SIZE),
    "chunk_delay_ms": (0, MAX_DELAY_MS),
    "end_delay_ms": (0, MAX_DELAY_MS),
    "error_code": (MIN_ERROR_CODE, MAX_ERROR_CODE),
    "init_delay_ms": (0, MAX_DELAY_MS),
    "new_session_delay_ms": (0, MAX_DELAY_MS),
}


class MockSettingsError(ValueError):
    """A mock setting, directive, config file or control file is invalid."""


def _check_int(name: str, value: object) -> None:
    low, high = _INT_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MockSettingsError(f"mock setting {name!r} must be an integer from {low} to {high}, got {value!r}")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise MockSettingsError(f"mock setting {name!r} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class PromptSettings:
    """How the mock answers one `session/prompt`.

    Attributes:
        mode: One of `MOCK_MODES`.
        chunks: Number of `agent_message_chunk` updates to stream (0..100000).
        chunk_size: 0 for the text ``chunk-<i>``; otherwise exactly this many characters per chunk.
        chunk_delay_ms: Sleep between two chunks.
        end_delay_ms: Sleep after the last chunk, before the final answer (or the crash).
        error_code: JSON-RPC error code of the `reject` mode.
    """

    mode: str = "echo"
    chunks: int = 3
    chunk_size: int = 0
    chunk_delay_ms: int = 0
    end_delay_ms: int = 0
    error_code: int = -32603

    def __post_init__(self) -> None:
        """Validate every field.

        Raises:
            MockSettingsError: A field has a wrong type or is out of range.
        """
        _check_choice("mode", self.mode, MOCK_MODES)
        for name in ("chunks", "chunk_size", "chunk_delay_ms", "end_delay_ms", "error_code"):
            _check_int(name, getattr(self, name))

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


def _coerce(name: str, raw: str) -> object:
    if name == "mode":
        return raw
    try:
        return int(raw, 10)
    except ValueError:
        low, high = _INT_RANGES[name]
        raise MockSettingsError(f"mock setting {name!r} must be an integer from {low} to {high}, got {raw!r}") from None


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
        overrides[name] = _coerce(name, raw)
    return validate_overrides(overrides), text[end + len(DIRECTIVE_CLOSE) :].lstrip()


def _starts_directive(text: str) -> bool:
    if not text.startswith(DIRECTIVE_OPEN):
        return False
    following = text[len(DIRECTIVE_OPEN) : len(DIRECTIVE_OPEN) + 1]
    return following == "" or following.isspace() or text.startswith(DIRECTIVE_CLOSE, len(DIRECTIVE_OPEN))


def _optional_path(name: str, value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise MockSettingsError(f"mock config {name!r} must be a non-empty path string or null, got {value!r}")


@dataclass(frozen=True)
class AgentConfig:
    """The agent's start-up config, a JSON file named by env ``QWEN_MOCK_ACP_CONFIG``.

    Attributes:
        init_mode: One of `INIT_MODES`: answer `initialize` normally, never, exit(1) on it, or answer
            without the external-tool-guard acknowledgement.
        init_delay_ms: Sleep before answering `initialize`.
        new_session_delay_ms: Sleep before answering each `session/new`.
        defaults: Base prompt settings.
        control_file: Runtime control file the agent re-reads when it changes, or None.
        log_file: File that gets one line per received message, or None.
    """

    init_mode: str = "normal"
    init_delay_ms: int = 0
    new_session_delay_ms: int = 0
    defaults: PromptSettings = field(default_factory=PromptSettings)
    control_file: str | None = None
    log_file: str | None = None

    def __post_init__(self) -> None:
        """Validate every field.

        Raises:
            MockSettingsError: A field has a wrong type or is out of range.
        """
        _check_choice("init_mode", self.init_mode, INIT_MODES)
        _check_int("init_delay_ms", self.init_delay_ms)
        _check_int("new_session_delay_ms", self.new_session_delay_ms)
        if not isinstance(self.defaults, PromptSettings):
            raise MockSettingsError(f"mock config 'defaults' must be PromptSettings, got {self.defaults!r}")
        _optional_path("control_file", self.control_file)
        _optional_path("log_file", self.log_file)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict."""
        return asdict(self)

    def to_json(self) -> str:
        """Return the config as JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentConfig:
        """Build a validated config from a dict (missing keys take their defaults).

        Raises:
            MockSettingsError: Unknown keys or invalid values.
        """
        if not isinstance(data, Mapping):
            raise MockSettingsError(f"mock config must be a JSON object, got {data!r}")
        allowed = tuple(f.name for f in fields(cls))
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise MockSettingsError(f"unknown mock config key {unknown[0]!r}; allowed: {', '.join(allowed)}")
        values = dict(data)
        values["defaults"] = PromptSettings().with_overrides(values.get("defaults") or {})
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> AgentConfig:
        """Parse and validate JSON config text.

        Raises:
            MockSettingsError: Not JSON, unknown keys or invalid values.
        """
        return cls.from_dict(_loads(text, "mock config"))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AgentConfig:
        """Read and validate a JSON config file.

        Raises:
            MockSettingsError: Not JSON, unknown keys or invalid values.
            OSError: The file cannot be read.
        """
        with open(path, encoding="utf-8") as handle:
            return cls.from_json(handle.read())

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the config atomically to `path`."""
        write_json_atomic(path, self.to_dict())


@dataclass(frozen=True)
class ControlState:
    """The runtime control file: partial settings for all prompts and per ACP session.

    Attributes:
        defaults: Partial PromptSettings applied to every prompt.
        sessions: ACP sessionId to partial PromptSettings for that session.
    """

    defaults: Mapping[str, Any] = field(default_factory=dict)
    sessions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate both layers.

        Raises:
            MockSettingsError: An unknown key or an invalid value.
        """
        validate_overrides(self.defaults)
        if not isinstance(self.sessions, Mapping):
            raise MockSettingsError(f"mock control 'sessions' must be a JSON object, got {self.sessions!r}")
        for overrides in self.sessions.values():
            validate_overrides(overrides)

    def settings_for(self, base: PromptSettings, session_id: str) -> PromptSettings:
        """Return `base` with the control defaults and the session's entry applied."""
        return resolve_settings(base, self.defaults, self.sessions.get(session_id))

    def to_dict(self) -> dict[str, Any]:
        """Return the control state as a JSON-ready dict."""
        return {"defaults": dict(self.defaults), "sessions": {k: dict(v) for k, v in self.sessions.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlState:
        """Build a validated control state from a dict.

        Raises:
            MockSettingsError: Unknown keys or invalid values.
        """
        if not isinstance(data, Mapping) or set(data) - {"defaults", "sessions"}:
            raise MockSettingsError(
                f"mock control file must be an object with keys 'defaults' and 'sessions', got {data!r}"
            )
        return cls(defaults=data.get("defaults") or {}, sessions=data.get("sessions") or {})

    @classmethod
    def from_json(cls, text: str) -> ControlState:
        """Parse and validate control-file JSON text.

        Raises:
            MockSettingsError: Not JSON, unknown keys or invalid values.
        """
        return cls.from_dict(_loads(text, "mock control file"))

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the control state atomically to `path`."""
        write_json_atomic(path, self.to_dict())


def _loads(text: str, what: str) -> Any:
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


def _legacy_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise MockSettingsError(f"env {name} must be an integer, got {raw!r}") from None


def settings_from_env(environ: Mapping[str, str]) -> PromptSettings:
    """Prompt settings from upstream's env variables (the fallback without a config file).

    ``MOCK_ACP_MODE`` (an unknown mode means echo, as upstream), ``MOCK_ACP_PROMPT_DELAY_MS`` (sleep
    before the final answer) and ``MOCK_ACP_EMIT_CHUNKS``.

    Raises:
        MockSettingsError: A non-integer or out-of-range number.
    """
    mode = environ.get(LEGACY_MODE_ENV, "echo")
    return PromptSettings(
        mode=mode if mode in MOCK_MODES else "echo",
        chunks=_legacy_int(environ, LEGACY_CHUNKS_ENV, 3),
        end_delay_ms=_legacy_int(environ, LEGACY_DELAY_ENV, 0),
    )


def load_agent_config(environ: Mapping[str, str]) -> AgentConfig:
    """The agent's config: the file named by ``QWEN_MOCK_ACP_CONFIG``, else upstream's env variables.

    Raises:
        MockSettingsError: Invalid config file or env values.
        OSError: The config file cannot be read.
    """
    path = environ.get(CONFIG_ENV)
    if path:
        return AgentConfig.from_file(path)
    return AgentConfig(defaults=settings_from_env(environ))
