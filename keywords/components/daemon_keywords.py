"""Keywords that start, check and stop daemons."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from robotlibcore import keyword

from keywords import checks
from keywords.components.component import ARGS_INDENT, Component, Option, pop_options, takes_options
from keywords.context import RunningDaemon
from keywords.daemon import flags as daemon_flags
from keywords.daemon import lifecycle
from keywords.daemon.daemon_process import Daemon, DaemonSpec, KillOutcome
from keywords.daemon.lifecycle import PREHEAT_TIMEOUT_MS, RestartResult, StopResult
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_control, real_agent
from keywords.traffic.client import DaemonClient
from mock_acp import directives

SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "HUP": signal.SIGHUP, "KILL": signal.SIGKILL}
SignalName = Literal["TERM", "INT", "HUP", "KILL"]
MockMode = Literal[directives.MOCK_MODES]  # the mock's own table of modes
InitMode = Literal[directives.INIT_MODES]
LoadReplay = Literal[directives.LOAD_REPLAY_MODES]
USER_SETTINGS = ".qwen/settings.json"
STOP_ALL_GRACE_S = 10.0

# Arguments of the deprecated `Start Daemon` that belong to one agent only: old name -> new name.
_MOCK_ONLY = {
    "mock_mode": "mode",
    "mock_chunks": "chunks",
    "mock_chunk_size": "chunk_size",
    "mock_chunk_delay_ms": "chunk_delay_ms",
    "mock_delay_ms": "end_delay_ms",
    "mock_init": "init",
    "mock_init_delay_ms": "init_delay_ms",
    "mock_new_session_delay_ms": "new_session_delay_ms",
}
_REAL_ONLY = ("provider_url", "model", "mcp_servers", "workspace_mcp_servers", "generation_config")
# The options both start keywords take besides their agent's settings and the daemon flags.
START_OPTIONS: dict[str, Option] = {
    "token": Option(
        str | None,
        None,
        "Bearer token the daemon requires on its routes; it goes to the daemon through\n"
        "``QWEN_SERVER_TOKEN``, never its command line.",
    ),
    "require_auth": Option(bool, False, "Add ``--require-auth`` (the token is then needed on ``/health`` too)."),
    "workspace": Option(str | None, None, "An existing folder to use as workspace (default: a fresh temporary one)."),
    "boot_timeout": Option(
        timedelta | float,
        30.0,
        "How long to wait for the listening line (``30 s``, ``1 min`` or seconds; up to 600 s).",
    ),
    "daemon_entry": Option(
        str | None, None, "A local daemon build for this daemon only (default: the library setting)."
    ),
    "preheat": Option(bool, True),  # documented by each keyword: what it waits for differs
    "extra_args": Option(
        list[str] | None, None, "Further daemon arguments; none may repeat a flag of the `Daemon flags` table."
    ),
}
_FLAGS_DOC = """flags: Daemon flags as named arguments (``max_sessions=0``, ``prompt_deadline_ms=1500``): exactly the
    names of the `Daemon flags` table in the library introduction; any other name is refused."""
_RETURNS_DOC = """The daemon: ``name``, ``base_url``, ``pid``, ``boot_s`` (spawn to listening line, s), ``home``,
``workspace`` and ``artifacts_dir`` (its stdout, stderr and own log)."""


def _start_keyword(func: Callable) -> Callable:
    """A start keyword: the common options added to its signature and its docstring, and the returned daemon
    (both written once, here)."""
    pad = "\n" + " " * ARGS_INDENT
    func.__doc__ = func.__doc__.replace("{flags}", _FLAGS_DOC.replace("\n", pad)).replace(
        "{returns}", _RETURNS_DOC.replace("\n", pad)
    )
    return takes_options(START_OPTIONS, keep_var_keyword=True)(func)


class DaemonKeywords(Component):
    """Start, inspect and stop ``qwen serve`` daemons."""

    @keyword(tags=("daemon",))
    @_start_keyword
    def start_daemon_with_mock_agent(
        self,
        *,
        mode: MockMode = "echo",
        chunks: int = 3,
        chunk_size: int = 0,
        chunk_delay_ms: int = 0,
        end_delay_ms: int = 0,
        init: InitMode = "normal",
        init_delay_ms: int = 0,
        new_session_delay_ms: int = 0,
        load_replay: LoadReplay = "stream",
        load_delay_ms: int = 0,
        user_settings: dict | None = None,
        **flags: Any,
    ) -> Daemon:
        """Start the real ``qwen serve`` daemon whose agent child is our mock ACP agent, and make it current.

        The daemon gets a private HOME and workspace and listens on an OS-assigned loopback port. Every
        argument is checked before anything starts. The mock settings are the defaults of every prompt;
        `Set Mock Behaviour` and `Send Prompt` change them later.

        Args:
            mode: What the mock does with a prompt: echo, reject, crash-on-prompt, crash-mid, hang,
                hang-ignore-cancel or garbage.
            chunks: Agent message chunks per prompt (0 to 100000).
            chunk_size: Characters per chunk (0: short ``chunk-N`` texts).
            chunk_delay_ms: Pause between two chunks, ms.
            end_delay_ms: Pause after the last chunk, before the prompt's answer, ms.
            init: How the agent starts: normal, never (no ``initialize`` answer), exit (exits on it) or
                no-guard.
            init_delay_ms: Delay before the agent answers ``initialize``, ms.
            new_session_delay_ms: Delay before the agent answers ``session/new``, ms.
            load_replay: How the agent replays a session on ``session/load``: ``stream`` (as session updates before
                its answer) or ``bulk`` (in its answer, when the daemon asks for it, as it does on ``/load``).
            load_delay_ms: Delay before the agent answers each ``session/load`` and ``session/resume``, ms.
            user_settings: Top-level keys for the user settings ``<HOME>/.qwen/settings.json``, which the daemon
                reads once at boot, e.g. ``{"policy": {"permissionStrategy": "designated"}}``.
            {options}
            {flags}
            preheat: Wait until the agent child is up (``POST /workspace/acp/preheat``) before returning, so
                the first session is not slowed by the agent's start; skipped unless ``init`` is normal.

        Returns:
            {returns}

        Example:
            | ${daemon}= | Start Daemon With Mock Agent | chunks=5 | max_sessions=0 |
            | Start Daemon With Mock Agent | mode=hang | prompt_deadline_ms=1500 |
            | Start Daemon With Mock Agent | init=never | initialize_timeout_ms=2000 |
            | Start Daemon With Mock Agent | user_settings={"policy": {"permissionStrategy": "consensus"}} |
        """
        common = pop_options(START_OPTIONS, flags)
        settings = mock_control.prompt_settings(
            mode=mode, chunks=chunks, chunk_size=chunk_size, chunk_delay_ms=chunk_delay_ms, end_delay_ms=end_delay_ms
        )
        start = {
            name: mock_control.check_setting(name, value)
            for name, value in (("init_mode", init), ("init_delay_ms", init_delay_ms))
        }
        start["new_session_delay_ms"] = mock_control.check_setting("new_session_delay_ms", new_session_delay_ms)
        start["load_replay"] = mock_control.check_setting("load_replay", load_replay)
        start["load_delay_ms"] = mock_control.check_setting("load_delay_ms", load_delay_ms)
        user = _user_settings(user_settings)

        def prepare(home: Path) -> tuple[dict[str, str], dict[str, str]]:
            env, files, _control = mock_control.agent_env(home, **start, **settings)
            return env, {**files, USER_SETTINGS: user} if user else files

        common["preheat"] = common["preheat"] and init == "normal"
        return self._start("mock", prepare, flags, **common)

    @keyword(tags=("daemon",))
    @_start_keyword
    def start_daemon_with_real_agent(
        self,
        provider_url: str,
        *,
        model: str = "fake-model",
        mcp_servers: dict | None = None,
        workspace_mcp_servers: dict | None = None,
        generation_config: dict | None = None,
        **flags: Any,
    ) -> Daemon:
        """Start the real ``qwen serve`` daemon with its own agent child pointed at a model provider; make it current.

        The daemon gets a private HOME and workspace and listens on an OS-assigned loopback port. Every
        argument is checked before anything starts. The child gets a dummy API key, ``provider_url`` and
        ``model`` through its environment and ``<HOME>/.qwen/settings.json`` (auth type ``openai``).

        Args:
            provider_url: OpenAI base URL of a model provider on 127.0.0.1, e.g. the fake provider's
                ``${provider.base_url}`` (see `Start Fake Provider`).
            model: Model name.
            mcp_servers: MCP servers for the user settings in the daemon's HOME (name -> ``{command, args}``);
                the child starts these.
            workspace_mcp_servers: MCP servers for ``<workspace>/.qwen/settings.json``; without an approval
                record the daemon lists them as pending and starts none.
            generation_config: The child's ``model.generationConfig`` (``maxRetries``, ``retryInitialDelayMs``,
                ``retryMaxDelayMs``, ``streamIdleTimeoutMs``); by default the child retries a failing
                provider for more than 30 s.
            {options}
            {flags}
            preheat: Wait until the agent child is up (``POST /workspace/acp/preheat``) before returning.

        Returns:
            {returns}

        Example:
            | ${provider}= | Start Fake Provider |
            | ${daemon}= | Start Daemon With Real Agent | ${provider.base_url} | max_sessions=0 |
            | Start Daemon With Real Agent | provider_url=${provider.base_url} | mcp_servers=${servers} |
        """
        common = pop_options(START_OPTIONS, flags)
        if not isinstance(provider_url, str) or not provider_url.strip():
            raise HarnessConfigError(
                f"provider_url must be the base URL of a model provider on 127.0.0.1, got {provider_url!r}."
            )
        env, files = real_agent.settings(provider_url, model, mcp_servers, generation_config)
        servers = real_agent.check_servers(workspace_mcp_servers) if workspace_mcp_servers else None

        def prepare(home: Path) -> tuple[dict[str, str], dict[str, str]]:
            return env, files

        return self._start("real", prepare, flags, workspace_mcp_servers=servers, **common)

    @keyword(tags=("daemon",))
    def start_daemon(
        self,
        agent: str = "mock",
        mock_mode: str | None = None,
        mock_chunks: int | None = None,
        mock_chunk_size: int | None = None,
        mock_chunk_delay_ms: int | None = None,
        mock_delay_ms: int | None = None,
        mock_init: str | None = None,
        mock_init_delay_ms: int | None = None,
        mock_new_session_delay_ms: int | None = None,
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
        boot_timeout: timedelta | float = 30.0,
        daemon_entry: str | None = None,
        preheat: bool = True,
        provider_url: str | None = None,
        model: str | None = None,
        mcp_servers: dict | None = None,
        workspace_mcp_servers: dict | None = None,
        generation_config: dict | None = None,
    ) -> Daemon:
        """*DEPRECATED* Use `Start Daemon With Mock Agent` or `Start Daemon With Real Agent` instead.

        Maps its old arguments onto those keywords. ``agent`` is ``mock`` or ``real``. For the mock:
        mock_mode -> ``mode``, mock_chunks -> ``chunks``, mock_chunk_size -> ``chunk_size``,
        mock_chunk_delay_ms -> ``chunk_delay_ms``, mock_delay_ms -> ``end_delay_ms``, mock_init -> ``init``,
        mock_init_delay_ms -> ``init_delay_ms``, mock_new_session_delay_ms -> ``new_session_delay_ms``. For the
        real agent: provider_url (required), model, mcp_servers, workspace_mcp_servers, generation_config.
        An argument of the other agent is refused, naming it (it used to be ignored). The daemon flags
        max_sessions, max_connections, max_pending_prompts, event_ring_size, prompt_deadline_ms,
        writer_idle_timeout_ms, session_idle_timeout_ms, session_reap_interval_ms and initialize_timeout_ms
        are those of the `Daemon flags` table; token, require_auth, extra_args, workspace, boot_timeout,
        daemon_entry and preheat are the common options of both keywords.

        Returns:
            The daemon, as the new keywords return it.

        Example:
            | Start Daemon With Mock Agent | chunks=5 | max_sessions=0 |
        """
        checks.choice("agent", agent, ("mock", "real"))
        given = dict(locals())
        mock_given = {old: given[old] for old in _MOCK_ONLY if given[old] is not None}
        real_given = {name: given[name] for name in _REAL_ONLY if given[name] is not None}
        wrong = real_given if agent == "mock" else mock_given
        if wrong:
            name = next(iter(wrong))
            right = "Start Daemon With Real Agent" if agent == "mock" else "Start Daemon With Mock Agent"
            raise HarnessConfigError(
                f"{name} does not apply to agent={agent}; use `{right}` for the other agent, or leave {name} out."
            )
        common = pop_options(START_OPTIONS, given)
        common.update({name: given[name] for name in daemon_flags.FLAGS if given.get(name) is not None})
        if agent == "mock":
            return self.start_daemon_with_mock_agent(
                **{_MOCK_ONLY[old]: value for old, value in mock_given.items()}, **common
            )
        if provider_url is None:
            raise HarnessConfigError("provider_url is required for agent=real: pass the model provider's base URL.")
        return self.start_daemon_with_real_agent(**real_given, **common)

    def _start(
        self,
        agent: Literal["mock", "real"],
        prepare: Callable[[Path], tuple[dict[str, str], dict[str, str]]],
        flags: dict[str, Any],
        *,
        token: str | None,
        require_auth: bool,
        workspace: str | None,
        boot_timeout: timedelta | float,
        daemon_entry: str | None,
        preheat: bool,
        extra_args: list[str] | None,
        workspace_mcp_servers: dict | None = None,
    ) -> Daemon:
        """Check the common options and the flags, start the daemon, preheat its agent, register it."""
        spec = DaemonSpec(
            source=self.ctx.source(daemon_entry),
            node="",
            flags=dict(flags),
            extra_args=list(extra_args or []),
            token=token or None,
            require_auth=require_auth,
            workspace=workspace or None,
            boot_timeout_s=checks.seconds("boot_timeout", boot_timeout, high=600),
            prepare=prepare,
        )
        spec.validate()
        node = self.ctx.node()
        spec.node = node.path
        if node.warning:
            self.info(node.warning)
        if workspace_mcp_servers:
            if spec.workspace is None:
                spec.workspace = str(self.ctx.registry.make_dir("real-workspace"))
            real_agent.write_workspace_settings(spec.workspace, workspace_mcp_servers)
        name = self.ctx.next_name()
        daemon = Daemon(spec, self.ctx.registry, name, self.ctx.artifacts_for(name, self.variable("${TEST NAME}")))
        daemon.start()
        client = DaemonClient(daemon.base_url, token=spec.token)
        daemon.on_stop(client.close)
        if preheat:
            try:
                client.preheat(timeout_ms=PREHEAT_TIMEOUT_MS)
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
    def stop_daemon(
        self, daemon: str | None = None, *, signal_name: SignalName = "TERM", grace: timedelta | float = 10.0
    ) -> StopResult:
        """Stop a daemon: close client sockets and streams, signal it, then kill anything of its tree left.

        When the current test failed, the daemon's last stderr lines are written to the log.

        Args:
            daemon: Daemon name (default: the current one).
            signal_name: First signal: TERM, INT, HUP or KILL.
            grace: How long the daemon gets to exit before SIGKILL (``10 s`` or seconds).

        Returns:
            A ``StopResult``: ``daemon`` (name), ``signal_name``, ``exit_code`` (int or ``None``), ``stop_ms``
            (float or ``None``), ``killed`` (list of pids), ``leftovers`` (list of pids alive after the stop,
            then killed) and ``leftover_processes`` (list of ``<pid> <command>`` texts).

        Example:
            | ${stop}= | Stop Daemon |
            | Should Be Equal As Integers | ${stop.exit_code} | 0 |
            | Stop Daemon | daemon-2 | signal_name=INT | grace=5 s |
        """
        sig = SIGNALS[checks.choice("signal_name", str(signal_name).upper(), SIGNALS)]
        grace_s = checks.seconds("grace", grace, high=600)
        running = self.ctx.get(daemon, alive=False)
        return self._stop(running, sig, grace_s)

    @keyword(tags=("daemon",))
    def stop_all_daemons(self) -> None:
        """Stop every daemon the library started (for Suite/Test Teardown), then fail if any process survived.

        Every daemon is stopped first. Processes of a daemon's tree still alive after its stop are killed
        too, and then the keyword fails with one sentence naming each such daemon and its leftover processes
        (pid and command), so a leak cannot pass silently. A stop that raised an error is reported the same
        way.

        Example:
            | [Teardown] | Stop All Daemons |
        """
        problems: list[str] = []
        for name in list(self.ctx.daemons):
            try:
                result = self._stop(self.ctx.daemons[name], signal.SIGTERM, STOP_ALL_GRACE_S)
            except Exception as exc:
                problems.append(f"{name} could not be stopped ({type(exc).__name__}: {exc})")
                continue
            if result.leftovers:
                problems.append(f"{name} left {', '.join(result.leftover_processes)}")
        if problems:
            raise AssertionError(
                "Stop All Daemons expected every daemon's processes to end, but "
                + "; ".join(problems)
                + " (leftovers were killed)."
            )

    @keyword(tags=("daemon", "restore"))
    def kill_daemon(
        self,
        daemon: str | None = None,
        *,
        after: timedelta | float = 0,
        children_grace: timedelta | float = 5.0,
    ) -> KillOutcome:
        """SIGKILL a daemon at a chosen moment (a crash): no drain, no close; its HOME and workspace are kept.

        Its event streams are cut. Its agent children, which run in their own session, get ``children_grace`` to
        end on their own (stdin EOF); whatever is left then is stopped, so nothing survives. The daemon stays
        known to the library (`Restart Daemon` starts it again, `Stop Daemon` forgets it).

        Args:
            daemon: Daemon name (default: the current one).
            after: Wait this long first (``200 ms``, ``1.5 s`` or seconds; 0: now).
            children_grace: How long its agent children get to end by themselves (up to 60 s).

        Returns:
            ``KillOutcome``: ``exit_code`` (int, -9), ``kill_ms`` (float, signal to exit), ``children`` (list of
            pids), ``children_gone_ms`` (float or None when some had to be stopped), ``stopped_leftovers`` and
            ``needed_sigkill`` (lists of pids); ``figures()`` and ``line()`` for `Record Result`.

        Example:
            | ${kill}= | Kill Daemon | after=500 ms |
            | Should Be Equal As Integers | ${kill.exit_code} | -9 |
        """
        wait_s = checks.seconds("after", after, high=600, allow_zero=True)
        grace_s = checks.seconds("children_grace", children_grace, high=60, allow_zero=True)
        running = self.ctx.get(daemon)
        if wait_s:
            time.sleep(wait_s)
        for sub in running.subscriptions:
            sub.stop()
        outcome = running.daemon.kill(children_grace_s=grace_s)
        running.client.close()
        self.info(f"{running.daemon.name}: {outcome.line()}")
        return outcome

    def kill_for(self, running: RunningDaemon, grace_s: float = 5.0) -> Callable[[], KillOutcome]:
        """The kill of one daemon as a callable, for engines that choose the moment themselves."""

        def kill() -> KillOutcome:
            return running.daemon.kill(children_grace_s=grace_s)

        return kill

    @keyword(tags=("daemon", "restore"))
    def restart_daemon(self, daemon: str | None = None, *, preheat: bool = False) -> RestartResult:
        """Start a new process of a daemon on the same HOME and workspace, with the same flags and agent.

        A daemon still running is stopped first (SIGTERM); one killed with `Kill Daemon` (or crashed) is started
        again at once. The new process listens on a new port; the library's client follows it. Everything under
        HOME (the daemon's prompt ledgers, the mock agent's persisted sessions) is what the new process finds.

        Args:
            daemon: Daemon name (default: the current one).
            preheat: Wait until its agent child is up before returning; by default the first request that needs
                the agent (a restore) starts it, and its time includes that start.

        Returns:
            ``RestartResult``: ``daemon`` (name), ``generation`` (int: 2 after the first restart), ``pid`` and
            ``previous_pid`` (int), ``boot_ms`` (float, spawn to listening line), ``base_url`` (str);
            ``figures()`` and ``line()`` for `Record Result`.

        Example:
            | Kill Daemon |
            | ${restart}= | Restart Daemon |
            | Record Result | ${restart} |
        """
        running = self.ctx.get(daemon, alive=False)
        return self.restart_running(running, preheat=bool(preheat))

    def restart_running(self, running: RunningDaemon, *, preheat: bool = False) -> RestartResult:
        """Restart one daemon and point its client at the new process (also used by restore engines)."""
        result = lifecycle.restart(running, preheat=preheat)
        self.info(f"{result.line()}; artifacts {running.daemon.artifacts_dir}")
        return result

    def _stop(self, running: RunningDaemon, sig: int, grace_s: float) -> StopResult:
        daemon = running.daemon
        if self.variable("${TEST STATUS}") == "FAIL" or daemon.exit_code not in (None, 0):
            self.info(f"Last stderr lines of {daemon.name}:\n{daemon.stderr_tail(25)}")
        result = lifecycle.stop(running, sig, grace_s)
        self.ctx.remove(daemon.name)
        self.info(f"{result.line()}; logs in {daemon.artifacts_dir}")
        return result

    @keyword(tags=("daemon",))
    def get_daemon(self, daemon: str | None = None) -> Daemon:
        """Return a daemon the library started and has not stopped (default: the current one).

        Args:
            daemon: Daemon name (``daemon-2``); the current daemon when empty.

        Returns:
            The daemon: ``name``, ``base_url``, ``pid``, ``boot_s``, ``home``, ``workspace``, ``artifacts_dir``.

        Example:
            | ${d}= | Get Daemon |
            | Log | ${d.base_url} |
        """
        return self.ctx.get(daemon, alive=False).daemon

    @keyword(tags=("daemon",))
    def switch_daemon(self, daemon: str) -> None:
        """Make another running daemon the current one.

        Args:
            daemon: Daemon name (``daemon-2``, see ``${d.name}``).

        Example:
            | Switch Daemon | daemon-2 |
        """
        self.ctx.current = self.ctx.get(daemon).daemon.name


def _user_settings(settings: dict | None) -> str | None:
    """The text of ``<HOME>/.qwen/settings.json`` for ``settings`` (``None`` when none are given).

    Raises:
        HarnessConfigError: ``settings`` is not a dictionary of JSON values.
    """
    if settings is None:
        return None
    if not isinstance(settings, dict):
        raise HarnessConfigError(f"user_settings must be a dictionary of settings keys, got {settings!r:.80}.")
    try:
        return json.dumps(settings, indent=2)
    except (TypeError, ValueError) as exc:
        raise HarnessConfigError(
            f"user_settings must hold only JSON values (texts, numbers, lists, dicts): {exc}."
        ) from exc
