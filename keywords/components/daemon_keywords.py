"""Keywords that start, check and stop daemons."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from robotlibcore import keyword

from keywords.components.base import Component
from keywords.context import RunningDaemon
from keywords.daemon.process import Daemon, DaemonSpec
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_control
from keywords.fakes import provider as real_agent
from keywords.traffic.client import DaemonClient

SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "HUP": signal.SIGHUP, "KILL": signal.SIGKILL}


@dataclass(frozen=True)
class StopResult:
    """How a daemon stopped.

    Attributes:
        exit_code: Exit status (negative: killed by that signal).
        stop_ms: Signal to process exit, monotonic clock, ms.
        killed: Pids of its tree that had to be SIGKILLed afterwards.
        leftovers: Pids of its tree still alive after the stop (should be empty).
    """

    exit_code: int | None
    stop_ms: float | None
    killed: list[int]
    leftovers: list[int]


class DaemonKeywords(Component):
    """Start, inspect and stop ``qwen serve`` daemons."""

    @keyword(tags=("daemon",))
    def start_daemon(
        self,
        agent: str = "mock",
        mock_mode: str = "echo",
        mock_chunks: int = 3,
        mock_chunk_size: int = 0,
        mock_chunk_delay_ms: int = 0,
        mock_delay_ms: int = 0,
        mock_init: str = "normal",
        mock_init_delay_ms: int = 0,
        mock_new_session_delay_ms: int = 0,
        max_sessions: int | None = None,
        max_connections: int | None = None,
        max_pending_prompts: int | None = None,
        event_ring_size: int | None = None,
        prompt_deadline_ms: int | None = None,
        writer_idle_timeout_ms: int | None = None,
        session_idle_timeout_ms: int | None = None,
        session_reap_interval_ms: int | None = None,
        initialize_timeout_ms: int | None = None,
        token: str | None = None,
        require_auth: bool = False,
        extra_args: list[str] | None = None,
        workspace: str | None = None,
        boot_timeout: float = 30.0,
        daemon_entry: str | None = None,
        preheat: bool = True,
        provider_url: str | None = None,
        model: str = "fake-model",
        mcp_servers: dict | None = None,
        workspace_mcp_servers: dict | None = None,
        generation_config: dict | None = None,
    ) -> Daemon:
        """Start the real ``qwen serve`` daemon with a private HOME and workspace and make it current.

        The daemon listens on an OS-assigned loopback port. Arguments are checked before anything starts.
        The bearer token, when given, goes to the daemon through its environment, never its command line.

        Args:
            agent: ``mock`` (our mock ACP agent) or ``real`` (the daemon's own agent child; needs a model).
            mock_mode: Default mock behaviour: echo, reject, crash-on-prompt, crash-mid, hang,
                hang-ignore-cancel, garbage.
            mock_chunks: Agent message chunks per prompt.
            mock_chunk_size: Characters per chunk (0 = short ``chunk-N`` texts).
            mock_chunk_delay_ms: Pause between chunks.
            mock_delay_ms: Pause before the agent answers the prompt.
            mock_init: Agent start-up behaviour: normal, never (no initialize answer), exit, no-guard.
            mock_init_delay_ms: Delay before answering ``initialize``.
            mock_new_session_delay_ms: Delay before answering ``session/new``.
            max_sessions: ``--max-sessions`` (0 = unlimited).
            max_connections: ``--max-connections``.
            max_pending_prompts: ``--max-pending-prompts-per-session``.
            event_ring_size: ``--event-ring-size``.
            prompt_deadline_ms: ``--prompt-deadline-ms``.
            writer_idle_timeout_ms: ``--writer-idle-timeout-ms``.
            session_idle_timeout_ms: ``--session-idle-timeout-ms``.
            session_reap_interval_ms: ``--session-reap-interval-ms``.
            initialize_timeout_ms: ``--initialize-timeout-ms``.
            token: Bearer token the daemon requires on its routes.
            require_auth: Add ``--require-auth`` (the token is then needed on ``/health`` too).
            extra_args: Further daemon arguments.
            workspace: An existing folder to use as workspace (default: a fresh temporary one).
            boot_timeout: Seconds to wait for the listening line.
            daemon_entry: A local daemon build for this daemon only (default: library setting).
            preheat: Wait until the agent child is up (``POST /workspace/acp/preheat``) before returning, so
                the first session is not slowed by the agent's start and an early stop does not race it.
                Skipped for mock init modes that never become ready.
            provider_url: ``agent=real`` only: OpenAI base URL of a model provider (e.g. the fake provider's
                ``${provider.base_url}``); the child gets a dummy key, this URL and ``model`` through its
                environment and ``<HOME>/.qwen/settings.json`` (auth type ``openai``).
            model: ``agent=real`` only: model name.
            mcp_servers: ``agent=real`` only: MCP servers for the user settings in the daemon's HOME
                (name -> ``{command, args}``); the child starts these.
            workspace_mcp_servers: ``agent=real`` only: MCP servers for ``<workspace>/.qwen/settings.json``;
                without an approval record the daemon lists them as pending and starts none.
            generation_config: ``agent=real`` only: the child's ``model.generationConfig`` (``maxRetries``,
                ``retryInitialDelayMs``, ``retryMaxDelayMs``, ``streamIdleTimeoutMs``...).

        Returns:
            The daemon (``${d.base_url}``, ``${d.pid}``, ``${d.boot_s}``, ``${d.home}``, ``${d.workspace}``).

        Example:
            | ${daemon}= | Start Daemon | max_sessions=0 | mock_chunks=5 |
            | Start Daemon | mock_mode=hang | prompt_deadline_ms=1500 |
        """
        flags = {
            "max_sessions": max_sessions,
            "max_connections": max_connections,
            "max_pending_prompts": max_pending_prompts,
            "event_ring_size": event_ring_size,
            "prompt_deadline_ms": prompt_deadline_ms,
            "writer_idle_timeout_ms": writer_idle_timeout_ms,
            "session_idle_timeout_ms": session_idle_timeout_ms,
            "session_reap_interval_ms": session_reap_interval_ms,
            "initialize_timeout_ms": initialize_timeout_ms,
        }
        flags = {k: v for k, v in flags.items() if v is not None}
        if agent not in ("mock", "real"):
            raise HarnessConfigError(f"agent must be 'mock' or 'real', got {agent!r}.")
        defaults = {
            "mode": mock_mode,
            "chunks": mock_chunks,
            "chunk_size": mock_chunk_size,
            "chunk_delay_ms": mock_chunk_delay_ms,
            "end_delay_ms": mock_delay_ms,
        }
        prepare = None
        if agent == "mock":
            mock_control.prompt_settings(**defaults)  # validate before anything starts

            def prepare(home):
                env, files, _control = mock_control.agent_env(
                    home,
                    init_mode=mock_init,
                    init_delay_ms=mock_init_delay_ms,
                    new_session_delay_ms=mock_new_session_delay_ms,
                    **defaults,
                )
                return env, files

            _validate_init(mock_init, mock_init_delay_ms, mock_new_session_delay_ms)
        else:
            real_env, real_files = real_agent.settings(provider_url, model, mcp_servers, generation_config)

            def prepare(home):
                return real_env, real_files

            if workspace_mcp_servers:
                if not workspace:
                    workspace = str(self.ctx.registry.make_dir("real-workspace"))
                real_agent.write_workspace_settings(workspace, workspace_mcp_servers)
        spec = DaemonSpec(
            source=self.ctx.source(daemon_entry),
            node="",
            flags=flags,
            extra_args=list(extra_args or []),
            token=token or None,
            require_auth=require_auth,
            workspace=workspace or None,
            boot_timeout_s=float(boot_timeout),
            prepare=prepare,
        )
        spec.validate()
        node = self.ctx.node()
        spec.node = node.path
        if node.warning:
            self.info(node.warning)
        name = self.ctx.next_name()
        daemon = Daemon(spec, self.ctx.registry, name, self.ctx.artifacts_for(name, self.variable("${TEST NAME}")))
        daemon.start()
        client = DaemonClient(daemon.base_url, token=spec.token)
        daemon.on_stop(client.close)
        if preheat and (agent == "real" or mock_init == "normal"):
            try:
                client.preheat(timeout_ms=60000)
            except Exception:
                daemon.stop(grace_s=5.0)
                raise
        control = daemon.home / "mock-acp" / "control.json" if agent == "mock" else None
        self.ctx.add(RunningDaemon(daemon, client, control_file=control, agent=agent))
        self.info(
            f"Started {name} ({spec.source.label}, agent {agent}) at {daemon.base_url} "
            f"in {daemon.boot_s * 1000:.0f} ms; pid {daemon.pid}; artifacts {daemon.artifacts_dir}"
        )
        return daemon

    @keyword(tags=("daemon",))
    def stop_daemon(self, daemon: str | None = None, signal_name: str = "TERM", grace: float = 10.0) -> StopResult:
        """Stop a daemon: close client sockets and streams, signal it, then kill anything of its tree left.

        When the current test failed, the daemon's last stderr lines are written to the log.

        Args:
            daemon: Daemon name (default: the current one).
            signal_name: First signal: TERM, INT, HUP or KILL.
            grace: Seconds to wait for the daemon to exit before SIGKILL.

        Returns:
            A ``StopResult`` (``exit_code``, ``stop_ms``, ``killed``, ``leftovers``).

        Example:
            | ${stop}= | Stop Daemon |
            | Should Be Equal As Integers | ${stop.exit_code} | 0 |
        """
        if signal_name.upper() not in SIGNALS:
            raise HarnessConfigError(f"signal_name must be one of {', '.join(SIGNALS)}, got {signal_name!r}.")
        running = self.ctx.get(daemon, alive=False)
        result = self._stop(running, SIGNALS[signal_name.upper()], grace)
        return result

    @keyword(tags=("daemon",))
    def stop_all_daemons(self) -> None:
        """Stop every daemon the library started (for Suite/Test Teardown); never fails.

        Example:
            | [Teardown] | Stop All Daemons |
        """
        for name in list(self.ctx.daemons):
            try:
                self._stop(self.ctx.daemons[name], signal.SIGTERM, 10.0)
            except Exception as exc:
                self.info(f"Stopping {name} failed: {exc}")

    def _stop(self, running: RunningDaemon, sig: int, grace: float) -> StopResult:
        for sub in running.subscriptions:
            sub.stop()
        for sub in running.subscriptions:
            sub.join(5.0)
        daemon = running.daemon
        if self.variable("${TEST STATUS}") == "FAIL" or daemon.exit_code not in (None, 0):
            self.info(f"Last stderr lines of {daemon.name}:\n{daemon.stderr_tail(25)}")
        code = daemon.stop(grace_s=grace, sig=sig)
        leftovers = [p.pid for p in daemon.tree()]
        daemon.discard_home()
        self.ctx.remove(daemon.name)
        stop_ms = None if daemon.stop_s is None else daemon.stop_s * 1000
        self.info(
            f"Stopped {daemon.name}: exit {code}, "
            f"{'n/a' if stop_ms is None else f'{stop_ms:.0f} ms'} after the signal; "
            f"killed {daemon.killed_pids or 'nothing'}; logs in {daemon.artifacts_dir}"
        )
        return StopResult(code, stop_ms, list(daemon.killed_pids), leftovers)

    @keyword(tags=("daemon",))
    def get_daemon(self, daemon: str | None = None) -> Daemon:
        """Return a running daemon object (default: the current one).

        Example:
            | ${d}= | Get Daemon |
            | Log | ${d.base_url} |
        """
        return self.ctx.get(daemon, alive=False).daemon

    @keyword(tags=("daemon",))
    def switch_daemon(self, daemon: str) -> None:
        """Make another running daemon the current one.

        Example:
            | Switch Daemon | daemon-2 |
        """
        self.ctx.current = self.ctx.get(daemon).daemon.name

    @keyword(tags=("daemon", "process"))
    def daemon_processes_should_be_gone(self, daemon_obj: Daemon) -> None:
        """Fail if any process of a stopped daemon's tree (daemon, launcher, agent) is still alive.

        The tree is the daemon's descendants plus every process carrying its environment marker (agent children
        that were re-parented are found too).

        Args:
            daemon_obj: The daemon object returned by `Start Daemon` or `Get Daemon` (not a name).

        Example:
            | ${d}= | Start Daemon |
            | Stop Daemon |
            | Daemon Processes Should Be Gone | ${d} |
        """
        alive = daemon_obj.tree()
        if alive:
            names = ", ".join(f"{p.pid} {_cmd(p)}" for p in alive)
            raise AssertionError(f"{len(alive)} process(es) of {daemon_obj.name} still alive: {names}")

    @keyword(tags=("daemon", "logs"))
    def get_daemon_log_lines(self, pattern: str | None = None, daemon: str | None = None) -> list[str]:
        """Lines of the daemon's own log file (``$HOME/.qwen/debug/daemon/daemon.log``) matching a regex.

        Works after the daemon stopped too: the live file under its HOME is read if it still exists, else the
        copy kept in its artifacts folder.

        Args:
            pattern: A regular expression searched for in each line; all lines when empty.

        Returns:
            The matching lines, in file order; an empty list when there is no log file.

        Example:
            | ${lines}= | Get Daemon Log Lines | SSE client evicted |
            | Should Not Be Empty | ${lines} |
        """
        return self.ctx.get(daemon, alive=False).daemon.daemon_log_lines(pattern)

    @keyword(tags=("daemon", "logs"))
    def get_daemon_stderr(self, lines: int = 40, daemon: str | None = None) -> str:
        """The last lines of the daemon's stderr (the agent child's stderr is included).

        Works after the daemon stopped too.

        Args:
            lines: How many lines from the end.

        Returns:
            Those lines joined with newlines, or ``(no stderr captured)`` when the file cannot be read.

        Example:
            | ${tail}= | Get Daemon Stderr | 20 |
        """
        return self.ctx.get(daemon, alive=False).daemon.stderr_tail(lines)


def _validate_init(init_mode: str, init_delay_ms: int, new_session_delay_ms: int) -> None:
    from mock_acp import directives

    if init_mode not in directives.INIT_MODES:
        raise HarnessConfigError(f"Unknown mock_init {init_mode!r}; known: {', '.join(directives.INIT_MODES)}.")
    for name, value in (("mock_init_delay_ms", init_delay_ms), ("mock_new_session_delay_ms", new_session_delay_ms)):
        if value < 0:
            raise HarnessConfigError(f"{name} must be 0 or more, got {value}.")


def _cmd(proc) -> str:
    try:
        return " ".join(proc.cmdline())[:120]
    except Exception:
        return "?"
