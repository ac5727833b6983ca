"""The files that steer the mock agent: its start-up config (``QWEN_MOCK_ACP_CONFIG``, else upstream's
``MOCK_ACP_*`` variables) and the runtime control file, re-read when it changes.

Stdlib only, and cheap to import (the agent imports it at start-up). Effective settings of one prompt are
layered, later layers winning: ``AgentConfig.defaults`` <- control ``defaults`` <- control
``sessions[sessionId]`` <- prompt directive (:mod:`mock_acp.directives`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mock_acp.directives import (
    CONFIG_ENV,
    CONFIG_SETTINGS,
    LEGACY_CHUNKS_ENV,
    LEGACY_DELAY_ENV,
    LEGACY_MODE_ENV,
    MOCK_MODES,
    MockSettingsError,
    PromptSettings,
    parse_json,
    resolve_settings,
    validate_overrides,
    write_json_atomic,
)
from mock_acp.wire import log_stderr


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
        load_delay_ms: Sleep before answering each `session/load` or `session/resume`.
        history_max_updates: Session updates kept per session for the replay of `session/load`.
        load_replay: ``stream`` sends the history as ``session/update`` notifications before the answer;
            ``bulk`` puts it into the answer's ``_meta["qwen.session.loadReplay"]`` when the request asks for
            ``_meta["qwen.session.loadReplayMode"] = "bulk"`` (and streams otherwise).
        defaults: Base prompt settings.
        control_file: Runtime control file the agent re-reads when it changes, or None.
        log_file: File that gets one line per received message, or None.
        report_file: The agent's NDJSON report; None means `REPORT_FILE_NAME` next to the control file (no
            report without a control file).
        sessions_dir: Folder of the persisted sessions; None means `SESSIONS_DIR_NAME` next to the control
            file (sessions are kept in memory only without a control file).
        qwen_dir: The daemon's runtime folder (``<HOME>/.qwen``), under which each session's chat record is
            written where the real agent keeps it (:mod:`mock_acp.transcript`); None writes none.
    """

    init_mode: str = "normal"
    init_delay_ms: int = 0
    new_session_delay_ms: int = 0
    load_delay_ms: int = 0
    history_max_updates: int = 2000
    load_replay: str = "stream"
    defaults: PromptSettings = field(default_factory=PromptSettings)
    control_file: str | None = None
    log_file: str | None = None
    report_file: str | None = None
    sessions_dir: str | None = None
    qwen_dir: str | None = None

    def __post_init__(self) -> None:
        """Validate every field.

        Raises:
            MockSettingsError: A field has a wrong type or is out of range.
        """
        for setting in CONFIG_SETTINGS.values():
            setting.check(getattr(self, setting.name))
        if not isinstance(self.defaults, PromptSettings):
            raise MockSettingsError(f"mock config 'defaults' must be PromptSettings, got {self.defaults!r}")
        for name in ("control_file", "log_file", "report_file", "sessions_dir", "qwen_dir"):
            _optional_path(name, getattr(self, name))

    def beside_control(self, explicit: str | None, name: str) -> str | None:
        """`explicit`, else the file or folder `name` next to the control file, else None."""
        if explicit:
            return explicit
        return os.path.join(os.path.dirname(self.control_file), name) if self.control_file else None

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
        return cls.from_dict(parse_json(text, "mock config"))

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
        return cls.from_dict(parse_json(text, "mock control file"))

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the control state atomically to `path`."""
        write_json_atomic(path, self.to_dict())


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


class ControlWatcher:
    """Re-reads the runtime control file when its mtime or size changes."""

    def __init__(self, path: str | None) -> None:
        """Watch `path` (None: no control file)."""
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._state = ControlState()
        self._lock = threading.Lock()

    def current(self) -> ControlState:
        """Return the control state, reloading the file if it changed.

        A missing file means no overrides. An invalid file keeps the previous state and is reported on
        stderr.
        """
        if not self._path:
            return self._state
        with self._lock:
            try:
                info = os.stat(self._path)
            except OSError:
                self._stamp, self._state = None, ControlState()
                return self._state
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                self._reload(stamp)
            return self._state

    def _reload(self, stamp: tuple[int, int]) -> None:
        try:
            with open(self._path, encoding="utf-8") as handle:  # type: ignore[arg-type]
                self._state = ControlState.from_json(handle.read())
            self._stamp = stamp
        except (OSError, MockSettingsError) as exc:
            log_stderr(f"control file {self._path} ignored: {exc}")
