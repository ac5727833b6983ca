"""Keywords for the real agent child's fixtures: the fake model provider, idle MCP servers, prompt latency."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from robotlibcore import keyword

import mock_acp
from keywords.checks import Duration
from keywords.components.component import Component
from keywords.errors import HarnessConfigError
from keywords.fakes.provider import FakeProvider, ProviderBehaviour, ProviderConfigError, stop_quietly
from keywords.measure import prompt_timer
from keywords.measure.prompt_timer import PromptSeries

IDLE_MCP = Path(mock_acp.__file__).resolve().parent / "idle_mcp.py"
IDLE_MCP_PATTERN = r"idle_mcp\.py"


class ProviderKeywords(Component):
    """Start and steer the fake OpenAI-compatible provider; idle MCP server entries; prompt latency."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.providers: list[FakeProvider] = []

    # -- provider -------------------------------------------------------------------------------
    @keyword(tags=("provider",))
    def start_fake_provider(
        self,
        reply: str = "ok",
        chunks: int = 1,
        chunk_delay_ms: int = 0,
        first_token_ms: int = 0,
        fault: str = "none",
        model: str = "fake-model",
    ) -> FakeProvider:
        """Start a fake OpenAI-compatible chat-completions server on 127.0.0.1 (a thread of this process).

        Point the real agent child at it with `Start Daemon With Real Agent` ``${provider.base_url}``.

        Args:
            reply: The assistant's reply text.
            chunks: Content chunks the reply is split into when streaming.
            chunk_delay_ms: Pause between chunks.
            first_token_ms: Pause before the first content chunk.
            fault: ``none``, ``http500``, ``http429`` or ``stall``.
            model: Model name it reports.

        Returns:
            The provider (``${provider.base_url}``, ``${provider.request_count}``).

        Example:
            | ${provider}= | Start Fake Provider | reply=ok | chunks=2 |
            | Start Daemon With Real Agent | ${provider.base_url} |
        """
        try:
            behaviour = ProviderBehaviour(
                reply=reply, chunks=chunks, chunk_delay_ms=chunk_delay_ms, first_token_ms=first_token_ms, fault=fault
            )
            provider = FakeProvider(behaviour, model=model).start()
        except ProviderConfigError as exc:
            raise HarnessConfigError(str(exc)) from exc
        self.providers.append(provider)
        self.info(f"Fake provider at {provider.base_url}: {behaviour}")
        return provider

    @keyword(tags=("provider",))
    def set_provider_behaviour(self, provider: FakeProvider, **changes: Any) -> ProviderBehaviour:
        """Change the provider's behaviour while it runs (``fault``, ``reply``, ``chunks``, delays).

        The change applies to requests that arrive afterwards; unknown names and bad values fail before
        anything changes.

        Args:
            provider: From `Start Fake Provider`.
            changes: Behaviour fields as named arguments: ``reply``, ``chunks``, ``chunk_delay_ms`` and
                ``first_token_ms`` (milliseconds), ``fault`` (``none``, ``http500``, ``http429``, ``stall``),
                ``stall_max_s`` (seconds), ``retry_after_s`` (seconds, the 429's ``Retry-After``).

        Returns:
            The ``ProviderBehaviour`` now in force (``reply``, ``chunks``, ``chunk_delay_ms``, ``first_token_ms``,
            ``fault``, ``stall_max_s``, ``retry_after_s``).

        Example:
            | Set Provider Behaviour | ${provider} | fault=http500 |
        """
        typed = {
            k: (int(v) if k in ("chunks", "chunk_delay_ms", "first_token_ms", "retry_after_s") else v)
            for k, v in changes.items()
        }
        if "stall_max_s" in typed:
            typed["stall_max_s"] = float(typed["stall_max_s"])
        try:
            return provider.configure(**typed)
        except (ProviderConfigError, ValueError) as exc:
            raise HarnessConfigError(str(exc)) from exc

    @keyword(tags=("provider",))
    def get_provider_requests(self, provider: FakeProvider, path_contains: str = "/chat/completions") -> list:
        """The chat-completion requests the provider received so far (``ProviderRequest`` objects).

        Args:
            provider: From `Start Fake Provider`.
            path_contains: Keep only requests whose path contains this text; an empty string keeps all.

        Returns:
            A list of ``ProviderRequest`` in arrival order: ``index``, ``method``, ``path``, ``at_monotonic`` (s),
            ``at_wall_ms``, ``stream``, ``model``, ``messages``, ``tools``, ``last_user_text``, ``fault``,
            ``status``, ``done_monotonic``.

        Example:
            | ${requests}= | Get Provider Requests | ${provider} |
            | Should Be True | ${requests}[0].stream |
        """
        return provider.requests(path_contains)

    @keyword(tags=("provider",))
    def stop_fake_provider(self, provider: FakeProvider) -> None:
        """Stop one fake provider (stalled answers are released).

        Example:
            | Stop Fake Provider | ${provider} |
        """
        stop_quietly(provider)
        if provider in self.providers:
            self.providers.remove(provider)

    @keyword(tags=("provider",))
    def stop_all_fake_providers(self) -> None:
        """Stop every fake provider the library started (for teardowns); never fails.

        Example:
            | [Teardown] | Stop All Fake Providers |
        """
        for provider in list(self.providers):
            stop_quietly(provider)
        self.providers.clear()

    # -- MCP fixture ----------------------------------------------------------------------------
    @keyword(tags=("mcp",))
    def idle_mcp_servers(self, count: int = 2, prefix: str = "idle") -> dict:
        """Settings entries for ``count`` idle stdio MCP servers (``mock_acp/idle_mcp.py``).

        Use them as ``mcp_servers`` (user settings: started) or ``workspace_mcp_servers`` (pending approval)
        of `Start Daemon With Real Agent`. Their processes match the pattern ``idle_mcp\\.py``.

        Args:
            count: Servers to define (1..50).
            prefix: Server names are this prefix plus 1, 2, ... (``idle1``, ``idle2``).

        Returns:
            A dictionary server name -> ``{"command": <python>, "args": [<idle_mcp.py>, "--name", <name>]}``.

        Example:
            | ${servers}= | Idle MCP Servers | 2 |
            | Start Daemon With Real Agent | ${provider.base_url} | mcp_servers=${servers} |
        """
        if not 1 <= count <= 50:
            raise HarnessConfigError(f"count must be from 1 to 50, got {count}.")
        return {
            f"{prefix}{i}": {"command": sys.executable, "args": [str(IDLE_MCP), "--name", f"{prefix}{i}"]}
            for i in range(1, count + 1)
        }

    # -- latency --------------------------------------------------------------------------------
    @keyword(tags=("prompt", "metrics"))
    def measure_prompt_latency(
        self,
        session_id: str,
        iterations: int = 20,
        *,
        text: str = "reply with the single word ok",
        provider: FakeProvider | None = None,
        timeout: Duration = 60.0,
        daemon: str | None = None,
    ) -> PromptSeries:
        """Prompt ``iterations`` times, one after another, and measure each turn from its POST.

        The one prompt timer (also behind `Time Prompts`), with every prompt numbered and no warm-up. Each
        turn is followed without a race (stream opened at the prompt's ``lastEventId``). With a provider,
        the arrival of the turn's chat-completion request is measured too. A turn that does not complete is
        counted as a failure with its outcome text (``failed``), and none of its times enters a latency
        figure.

        Args:
            session_id: The session to prompt.
            iterations: Turns to measure (1..10000).
            text: Prompt text; each prompt gets its number appended, e.g. ``(3)``, so the provider's requests
                can be matched to turns.
            provider: The fake provider the agent uses (`Start Fake Provider`), to measure request arrival.
            timeout: How long to wait for each turn's end (``1 min`` or seconds).

        Returns:
            ``PromptSeries`` as `Time Prompts` describes: ``latency`` (POST to the turn's end),
            ``first_chunk`` (POST to the first ``agent_message_chunk``) and ``provider_arrival`` (POST to the
            provider's receipt of the request; ``None`` without a provider) as ``LatencySummary`` in ms over
            completed turns, the raw ``latency_ms``/``first_chunk_ms``/``provider_arrival_ms`` lists,
            ``outcomes``, ``failed``, ``completed``, ``failures``, ``figures()`` and ``line()``.

        Example:
            | ${lat}= | Measure Prompt Latency | ${sid} | 20 | provider=${provider} |
            | Should Be Empty | ${lat.failed} |
        """
        series = prompt_timer.time_prompts(
            functools.partial(self.ctx.get, daemon),
            session_id,
            text,
            iterations=iterations,
            warmup=0,
            timeout=timeout,
            provider=provider,
            numbered=True,
        )
        return self.reported(series)
