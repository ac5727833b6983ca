"""Mock agent settings for a daemon: validated before anything starts or is sent.

The agent itself lives in ``mock_acp/``; its setting tables (``mock_acp.directives.SETTINGS`` and
``CONFIG_SETTINGS``: each setting's type, range or values) are shared, so the library and the agent cannot
disagree on names or ranges. Every setting is converted and checked here, through :mod:`keywords.checks`,
in one place.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import mock_acp
from keywords import checks
from keywords.errors import HarnessConfigError
from mock_acp import directives

SETTING_NAMES = tuple(directives.SETTINGS)
INIT_SETTING_NAMES = ("init_mode", "init_delay_ms", "new_session_delay_ms")
RESTORE_SETTING_NAMES = ("load_replay", "load_delay_ms")


def check_setting(name: str, value: Any) -> Any:
    """One mock setting converted and checked against the mock's own table (Robot passes ``"5"`` as text).

    Prompt settings are the rows of ``directives.SETTINGS``, start-up settings (``init_mode``,
    ``init_delay_ms``...) those of ``directives.CONFIG_SETTINGS``.

    Raises:
        HarnessConfigError: a word that is not one of the setting's values, or a number that is not whole or
            out of the setting's range.
    """
    setting = directives.SETTINGS.get(name) or directives.CONFIG_SETTINGS[name]
    if setting.kind == "int":
        unit = "ms" if name.endswith("_ms") else ""
        return checks.whole_number(name, value, low=setting.low, high=setting.high, unit=unit)
    if setting.kind == "choice":
        return checks.choice(name, value, setting.values)
    try:
        setting.check(value)
    except directives.MockSettingsError as exc:
        raise HarnessConfigError(f"{exc}.") from exc
    return value


def prompt_settings(**overrides: Any) -> dict[str, Any]:
    """Check partial prompt settings (``mode``, ``chunks``...) and return only the given ones, converted.

    Settings given as ``None`` or an empty text are left out.

    Raises:
        HarnessConfigError: an unknown setting (listing the known ones), an unknown mode, or a bad value.
    """
    given = {k: v for k, v in overrides.items() if v is not None and v != ""}
    checks.known_names("mock setting", given, SETTING_NAMES)
    return {name: check_setting(name, value) for name, value in given.items()}


def directive(**overrides: Any) -> str:
    """The prompt prefix that makes the mock use these settings for one prompt (``[[mock mode=hang]]``)."""
    given = prompt_settings(**overrides)
    if not given:
        return ""
    try:
        return directives.format_directive(**given)
    except directives.MockSettingsError as exc:
        raise HarnessConfigError(str(exc)) from exc


def with_directive(text: str, **overrides: Any) -> str:
    """``text`` after the directive of these settings (``[[mock chunks=5]] text``); ``text`` alone without any."""
    prefix = directive(**overrides)
    return f"{prefix} {text}" if prefix else text


def agent_env(
    home: Path,
    *,
    init_mode: str = "normal",
    init_delay_ms: int = 0,
    new_session_delay_ms: int = 0,
    load_replay: str = "stream",
    load_delay_ms: int = 0,
    **defaults: Any,
) -> tuple[dict[str, str], dict[str, str], Path]:
    """Environment and HOME files that make the daemon run the mock agent.

    ``load_replay`` (``stream``/``bulk``) and ``load_delay_ms`` are the agent's restore settings
    (``session/load``, ``session/resume``).

    Returns:
        ``(env, home_files, control_file)``: env for the daemon (inherited by its agent child), files to
        write under HOME (relative path -> text), and the control file for runtime changes.

    Raises:
        HarnessConfigError: a bad setting (see :func:`check_setting`).
    """
    start = {
        name: check_setting(name, value)
        for name, value in zip(INIT_SETTING_NAMES, (init_mode, init_delay_ms, new_session_delay_ms), strict=True)
    }
    start.update(
        (name, check_setting(name, value))
        for name, value in zip(RESTORE_SETTING_NAMES, (load_replay, load_delay_ms), strict=True)
    )
    settings = prompt_settings(**defaults)
    control = home / "mock-acp" / "control.json"
    config = {
        **start,
        "defaults": settings,
        "control_file": str(control),
        "log_file": str(home / "mock-acp" / "agent.log"),
        "qwen_dir": str(home / ".qwen"),
    }
    config_path = home / "mock-acp" / "config.json"
    files = {"mock-acp/config.json": json.dumps(config, indent=2) + "\n", "mock-acp/control.json": "{}\n"}
    env = {
        "QWEN_CLI_ENTRY": str(mock_acp.LAUNCHER),
        "QWEN_MOCK_ACP_PYTHON": sys.executable,
        "QWEN_MOCK_ACP_CONFIG": str(config_path),
    }
    return env, files, control


def write_control(
    control: Path, current: dict[str, Any], *, session: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """Change the running mock's settings (all prompts, or one ACP session) by rewriting its control file.

    Returns:
        The new control document.
    """
    given = prompt_settings(**overrides)
    doc = {"defaults": dict(current.get("defaults", {})), "sessions": dict(current.get("sessions", {}))}
    if session:
        doc["sessions"][session] = {**doc["sessions"].get(session, {}), **given}
    else:
        doc["defaults"].update(given)
    directives.write_json_atomic(control, doc)
    return doc
