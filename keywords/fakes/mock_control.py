"""Mock agent settings for a daemon: validated before anything starts or is sent.

The agent itself lives in ``mock_acp/``; its settings schema (``mock_acp.directives``) is shared, so the
library and the agent cannot disagree on mode names or fields.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import mock_acp
from keywords.errors import HarnessConfigError
from mock_acp import directives

SETTING_NAMES = tuple(f.name for f in fields(directives.PromptSettings))


def prompt_settings(**overrides: Any) -> dict[str, Any]:
    """Validate partial prompt settings (``mode``, ``chunks``...) and return only the given ones.

    Raises:
        HarnessConfigError: an unknown setting or mode, or a bad value.
    """
    given = {k: v for k, v in overrides.items() if v is not None and v != ""}
    unknown = sorted(set(given) - set(SETTING_NAMES))
    if unknown:
        raise HarnessConfigError(f"Unknown mock setting(s) {', '.join(unknown)}; known: {', '.join(SETTING_NAMES)}.")
    try:
        directives.PromptSettings(**given)
    except (directives.MockSettingsError, TypeError) as exc:
        raise HarnessConfigError(str(exc)) from exc
    return given


def directive(**overrides: Any) -> str:
    """The prompt prefix that makes the mock use these settings for one prompt (``[[mock mode=hang]]``)."""
    given = prompt_settings(**overrides)
    if not given:
        return ""
    try:
        return directives.format_directive(**given)
    except directives.MockSettingsError as exc:
        raise HarnessConfigError(str(exc)) from exc


def agent_env(
    home: Path, *, init_mode: str = "normal", init_delay_ms: int = 0, new_session_delay_ms: int = 0, **defaults: Any
) -> tuple[dict[str, str], dict[str, str], Path]:
    """Environment and HOME files that make the daemon run the mock agent.

    Returns:
        ``(env, home_files, control_file)``: env for the daemon (inherited by its agent child), files to
        write under HOME (relative path -> text), and the control file for runtime changes.
    """
    if init_mode not in directives.INIT_MODES:
        raise HarnessConfigError(f"Unknown mock init mode {init_mode!r}; known: {', '.join(directives.INIT_MODES)}.")
    for name, value in (("init_delay_ms", init_delay_ms), ("new_session_delay_ms", new_session_delay_ms)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise HarnessConfigError(f"Mock setting {name} must be a whole number >= 0, got {value!r}.")
    settings = prompt_settings(**defaults)
    control = home / "mock-acp" / "control.json"
    config = {
        "init_mode": init_mode,
        "init_delay_ms": init_delay_ms,
        "new_session_delay_ms": new_session_delay_ms,
        "defaults": settings,
        "control_file": str(control),
        "log_file": str(home / "mock-acp" / "agent.log"),
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
