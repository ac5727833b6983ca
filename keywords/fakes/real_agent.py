"""Pointing the real ``qwen --acp`` agent child at a fake provider: its environment and HOME files, and the MCP
servers of its user or workspace settings (daemon-api.md §7 and §8).

The child is kept on the loopback: no telemetry, no usage statistics, no pre-connect, no auto-update. Nothing
here imports Robot Framework.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keywords.fakes.provider import ProviderConfigError

DUMMY_API_KEY = "sk-fake-harness-key"
QUIET_ENV = {
    "QWEN_TELEMETRY_ENABLED": "false",
    "QWEN_CODE_DISABLE_PRECONNECT": "1",
    "OTEL_SDK_DISABLED": "true",
}


def settings(
    provider_url: str | None,
    model: str = "fake-model",
    mcp_servers: dict | None = None,
    generation_config: dict | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Environment and HOME files for the real ``qwen --acp`` child (daemon-api.md §7 and §8).

    Args:
        provider_url: OpenAI base URL (``http://127.0.0.1:<port>/v1``); ``None`` leaves the child without a
            model (sessions are then refused with "Authentication required").
        model: Model name.
        mcp_servers: User-settings MCP servers (name -> ``{command, args, ...}``).
        generation_config: ``model.generationConfig`` (e.g. ``maxRetries``, ``retryInitialDelayMs``,
            ``retryMaxDelayMs``, ``streamIdleTimeoutMs``); by default the child retries a 500 or 429 for
            more than 30 s.

    Returns:
        ``(env, home_files)`` for ``DaemonSpec.prepare``.

    Raises:
        ProviderConfigError: the URL is not on 127.0.0.1, or a server entry has no command.
    """
    env = dict(QUIET_ENV)
    user: dict[str, Any] = {
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True},
    }
    if provider_url:
        if not provider_url.startswith(("http://127.0.0.1:", "http://localhost:")):
            raise ProviderConfigError(f"provider_url must be on 127.0.0.1, got {provider_url!r}.")
        env.update(OPENAI_API_KEY=DUMMY_API_KEY, OPENAI_BASE_URL=provider_url, OPENAI_MODEL=model)
        user["security"] = {"auth": {"selectedType": "openai"}}
        user["model"] = {"name": model}
    if generation_config:
        user.setdefault("model", {})["generationConfig"] = dict(generation_config)
    if mcp_servers:
        user["mcpServers"] = check_servers(mcp_servers)
    return env, {".qwen/settings.json": json.dumps(user, indent=2)}


def write_workspace_settings(workspace: str, mcp_servers: dict) -> None:
    """Write ``<workspace>/.qwen/settings.json`` declaring ``mcp_servers`` (pending approval on 0.24.4)."""
    target = Path(workspace) / ".qwen" / "settings.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"mcpServers": check_servers(mcp_servers)}, indent=2))


def check_servers(servers: dict) -> dict:
    """MCP server declarations (name -> ``{command, args, ...}``) as plain dicts; each needs a ``command``.

    Raises:
        ProviderConfigError: an entry is not a mapping or has no ``command``.
    """
    if not isinstance(servers, dict):
        raise ProviderConfigError(f"MCP servers must be a dictionary of name -> {{command, args}}, got {servers!r}.")
    out = {}
    for name, entry in servers.items():
        if not isinstance(entry, dict) or not entry.get("command"):
            raise ProviderConfigError(f"MCP server {name!r} needs a 'command', got {entry!r}.")
        out[str(name)] = dict(entry)
    return out
