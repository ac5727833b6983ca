"""Keywords that change the mock agent's behaviour while the daemon runs."""

from __future__ import annotations

import json
from typing import Any, Literal

from robotlibcore import keyword

from keywords.components.component import Component
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_control
from mock_acp import directives

InitMode = Literal[directives.INIT_MODES]


class MockKeywords(Component):
    """Control the mock ACP agent at run time: for every prompt, or for one session."""

    @keyword(tags=("mock",))
    def set_mock_behaviour(self, *, session_id: str | None = None, daemon: str | None = None, **settings: Any) -> dict:
        """Change what the mock agent does from the next prompt on, without restarting the daemon.

        Settings: ``mode`` (echo, reject, crash-on-prompt, crash-mid, hang, hang-ignore-cancel, garbage),
        ``chunks``, ``chunk_size``, ``chunk_delay_ms``, ``end_delay_ms``, ``error_code``. With
        ``session_id`` the change applies to that session only (the mock sees the same session id).
        Settings are validated before anything is written; only a daemon started with the mock agent can be
        controlled.

        Args:
            session_id: Apply the settings to this session only; by default they apply to every session.
            settings: Mock settings as named arguments (see above); they are merged into those already in force.

        Returns:
            The control document now in force: ``defaults`` (settings for every prompt) and ``sessions``
            (session id -> settings).

        Example:
            | Set Mock Behaviour | mode=crash-on-prompt |
            | Set Mock Behaviour | session_id=${sid} | chunks=50 | chunk_delay_ms=5 |
        """
        running = self.ctx.get(daemon)
        if running.control_file is None:
            raise HarnessConfigError(f"{running.daemon.name} runs the real agent; only the mock can be controlled.")
        running.control = mock_control.write_control(
            running.control_file, running.control, session=session_id, **settings
        )
        return running.control

    @keyword(tags=("mock",))
    def mock_directive(self, **settings: Any) -> str:
        """The prompt prefix that makes the mock behave this way for one prompt.

        Args:
            settings: Mock settings as named arguments: ``mode``, ``chunks``, ``chunk_size``,
                ``chunk_delay_ms``, ``end_delay_ms``, ``error_code`` (validated here).

        Returns:
            The directive text, e.g. ``[[mock mode=hang]]``; an empty string when no setting is given.

        Example:
            | ${prefix}= | Mock Directive | mode=hang |
            | Send Prompt | ${sid} | ${prefix}wait forever |
        """
        return mock_control.directive(**settings)

    @keyword(tags=("mock",))
    def set_mock_init_mode(self, init_mode: InitMode = "normal", *, daemon: str | None = None) -> None:
        """Change how the next mock agent the daemon spawns answers ``initialize``.

        The agent reads its config file once at start, so this affects the next spawn (e.g. after a failed
        ``initialize`` killed the agent), not a running agent. Only a daemon started with the mock agent has
        init modes.

        Args:
            init_mode: ``normal`` (answer ``initialize``), ``never`` (do not answer), ``exit`` (exit with status 1
                on it) or ``no-guard`` (answer without the external-tool-guard acknowledgement).

        Example:
            | Set Mock Init Mode | normal |
            | ${sid}= | Open Session |
        """
        if init_mode not in directives.INIT_MODES:
            raise HarnessConfigError(f"init_mode must be one of {', '.join(directives.INIT_MODES)}; got {init_mode!r}.")
        running = self.ctx.get(daemon)
        if running.control_file is None:
            raise HarnessConfigError(f"{running.daemon.name} runs the real agent; only the mock has init modes.")
        config_path = running.control_file.parent / "config.json"
        config = json.loads(config_path.read_text())
        config["init_mode"] = init_mode
        directives.write_json_atomic(config_path, config)
