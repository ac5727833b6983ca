"""One running ``qwen serve`` daemon: spawn, listening line, private HOME and workspace, logs, stop."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from keywords import checks
from keywords.daemon import flags as daemon_flags
from keywords.daemon.liveness import is_alive
from keywords.daemon.provision import DaemonSource
from keywords.daemon.registry import Registry, processes_with_marker, terminate
from keywords.errors import DaemonBootError, HarnessConfigError

KILL_POLL_S = 0.01
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(?P<port>\d+)")
# Variables that must not leak from the user's shell into a hermetic daemon.
_SCRUBBED_ENV = (
    "QWEN_SERVER_TOKEN",
    "QWEN_CLI_ENTRY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "DASHSCOPE_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "QWEN_API_KEY",
    "QWEN_HOME",
    "QWEN_SERVE_PROMPT_DEADLINE_MS",
    "QWEN_SERVE_WRITER_IDLE_TIMEOUT_MS",
    "NODE_OPTIONS",
)


@dataclass
class DaemonSpec:
    """Everything needed to start one daemon; validated before any process starts.

    Attributes:
        source: The daemon build.
        node: Path of the ``node`` executable.
        flags: Daemon flags by keyword name (the table of :mod:`keywords.daemon.flags`).
        extra_args: Further daemon arguments, appended as given (none may repeat a flag of the table).
        token: Bearer token (passed as ``QWEN_SERVER_TOKEN`` in the environment, never on the command line).
        require_auth: Add ``--require-auth``.
        agent_env: Environment for the agent child (e.g. ``QWEN_CLI_ENTRY`` for the mock).
        home_files: Files to write under the private HOME before start (relative path -> text).
        workspace: Use this folder as the workspace instead of a fresh one.
        boot_timeout_s: How long to wait for the listening line.
        label: Short name used in folder names and reports.
        prepare: Called with the fresh HOME before spawn; returns extra ``(agent_env, home_files)``.
    """

    source: DaemonSource
    node: str
    flags: dict[str, int | bool] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    token: str | None = None
    require_auth: bool = False
    agent_env: dict[str, str] = field(default_factory=dict)
    home_files: dict[str, str] = field(default_factory=dict)
    workspace: str | None = None
    boot_timeout_s: float = 30.0
    label: str = "daemon"
    prepare: Callable[[Path], tuple[dict[str, str], dict[str, str]]] | None = None

    def validate(self) -> None:
        """Check every field; raise :class:`HarnessConfigError` naming the bad one."""
        self.flags = daemon_flags.check_flags(self.flags)
        self.extra_args = daemon_flags.check_extra_args(self.extra_args)
        self.boot_timeout_s = checks.seconds("boot_timeout", self.boot_timeout_s, high=600)
        if self.require_auth and not self.token:
            raise HarnessConfigError("require_auth needs a token: pass token=<secret> too.")
        if self.workspace is not None:
            ws = Path(self.workspace)
            if not ws.is_dir():
                raise HarnessConfigError(
                    f"The workspace {self.workspace!r} is not an existing folder; create it or leave "
                    "workspace empty for a fresh temporary one."
                )
        if not Path(self.source.entry).is_file():
            raise HarnessConfigError(f"The daemon entry script {self.source.entry} does not exist.")

    def argv(self, workspace: str) -> list[str]:
        """The daemon command line (never contains the token)."""
        args = [self.node, self.source.entry, "serve", "--port", "0", "--hostname", "127.0.0.1"]
        args += ["--workspace", workspace, "--no-web"]
        args += daemon_flags.argv(self.flags)
        if self.require_auth:
            args.append("--require-auth")
        return args + list(self.extra_args)


@dataclass(frozen=True)
class KillOutcome:
    """What a SIGKILL of the daemon did (:meth:`Daemon.kill`).

    Attributes:
        exit_code: The daemon's exit status (``-9``: killed by SIGKILL).
        kill_ms: Signal to the daemon's exit, monotonic clock, ms.
        children: Pids of its tree other than itself (launcher, agent, MCP servers) at the kill.
        children_gone_ms: The daemon's exit to the last of them ending on its own, ms; ``None`` when some had
            to be stopped.
        stopped_leftovers: Pids still alive after the grace time, stopped by the harness.
        needed_sigkill: Those of them that ignored SIGTERM and needed SIGKILL.
    """

    exit_code: int | None
    kill_ms: float
    children: list[int]
    children_gone_ms: float | None
    stopped_leftovers: list[int]
    needed_sigkill: list[int]

    def figures(self) -> dict[str, int | float | None]:
        """``exitCode``, ``killMs``, ``children``, ``childrenGoneMs`` (``None``: some had to be stopped),
        ``stoppedLeftovers`` and ``neededSigkill``."""
        return {
            "exitCode": self.exit_code,
            "killMs": round(self.kill_ms, 1),
            "children": len(self.children),
            "childrenGoneMs": None if self.children_gone_ms is None else round(self.children_gone_ms, 1),
            "stoppedLeftovers": len(self.stopped_leftovers),
            "neededSigkill": len(self.needed_sigkill),
        }

    def line(self) -> str:
        """``SIGKILL: exit -9 after 3 ms; 2 children ended on their own 1 ms later``."""
        if self.children_gone_ms is not None:
            after = f"{len(self.children)} children ended on their own {self.children_gone_ms:.0f} ms later"
        else:
            after = f"{len(self.stopped_leftovers)} of {len(self.children)} children had to be stopped"
        return f"SIGKILL: exit {self.exit_code} after {self.kill_ms:.0f} ms; {after}"


class Daemon:
    """A ``qwen serve`` process owned by the harness.

    Attributes:
        name: Unique name within the run (``daemon-3``).
        home: Private HOME folder (logs, ledgers).
        workspace: Workspace folder the daemon is bound to.
        base_url: ``http://127.0.0.1:<port>`` once started.
        boot_s: Seconds from spawn to the listening line (monotonic clock).
        spawned_at: ``time.monotonic()`` just before the spawn (the start of every spawn-to-X figure).
        generation: 1 for the first process, then +1 for each :meth:`restart` on the same HOME and workspace.
    """

    def __init__(self, spec: DaemonSpec, registry: Registry, name: str, artifacts_dir: Path) -> None:
        self.spec = spec
        self.name = name
        self._registry = registry
        self.artifacts_dir = artifacts_dir
        self.home: Path | None = None
        self.workspace: Path | None = None
        self._agent_env: dict[str, str] = {}
        self.port: int | None = None
        self.proc = None
        self.boot_s: float | None = None
        self.spawned_at: float | None = None
        self.exit_code: int | None = None
        self.stop_s: float | None = None
        self.killed_pids: list[int] = []
        self.generation = 1
        self._before_stop: list[Callable[[], None]] = []

    # -- paths ------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Base URL of the daemon's HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout_path(self) -> Path:
        """File that receives the daemon's stdout (``stdout.<n>.log`` for the n-th process after restarts)."""
        return self.artifacts_dir / self._generation_name("stdout")

    @property
    def stderr_path(self) -> Path:
        """File that receives the daemon's stderr (includes the agent child's stderr); one per process."""
        return self.artifacts_dir / self._generation_name("stderr")

    def _generation_name(self, stem: str) -> str:
        return f"{stem}.log" if self.generation == 1 else f"{stem}.{self.generation}.log"

    @property
    def log_path(self) -> Path | None:
        """The daemon's own log file under its HOME (``.qwen/debug/daemon/daemon.log``)."""
        return None if self.home is None else self.home / ".qwen" / "debug" / "daemon" / "daemon.log"

    @property
    def pid(self) -> int | None:
        """Pid of the daemon process."""
        return None if self.proc is None else self.proc.pid

    @property
    def running(self) -> bool:
        """Whether the daemon process is alive."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def tag(self) -> str:
        """Marker put into the environment of this daemon and of every process it starts."""
        return f"{self._registry.run_id}:{self.name}"

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` before SIGTERM (used to close client sockets so the daemon exits at once)."""
        self._before_stop.append(callback)

    # -- start ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the daemon and wait for its listening line.

        Raises:
            DaemonBootError: it exited before listening, or did not listen within the boot timeout.
        """
        self.spec.validate()
        self.home = self._registry.make_dir(f"{self.name}-home")
        if self.spec.workspace:
            self.workspace = Path(self.spec.workspace).resolve()
        else:
            self.workspace = self._registry.make_dir(f"{self.name}-workspace")
        agent_env, home_files = dict(self.spec.agent_env), dict(self.spec.home_files)
        if self.spec.prepare is not None:
            extra_env, extra_files = self.spec.prepare(self.home)
            agent_env.update(extra_env)
            home_files.update(extra_files)
        for rel, text in home_files.items():
            target = self.home / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self._agent_env = agent_env
        self._spawn()

    def restart(self) -> None:
        """Start a new daemon process on the same HOME and workspace, with the same flags and agent settings.

        The previous process must have ended (:meth:`kill`, or a crash); a running one is stopped first
        (SIGTERM, as :meth:`stop`), without removing its HOME. The new process is the next
        :attr:`generation`: it listens on a new port and writes ``stdout.<n>.log`` / ``stderr.<n>.log``.
        Everything under HOME (the daemon's ledgers, the mock agent's sessions) and the workspace is kept.

        Raises:
            HarnessConfigError: the daemon was never started (nothing to restart from).
            DaemonBootError: the new process did not come up (as :meth:`start`).
        """
        if self.home is None or self.workspace is None or not self.home.is_dir():
            raise HarnessConfigError(
                f"{self.name} has no HOME to restart on: start it first (a restart reuses its HOME and workspace)."
            )
        if self.proc is not None:
            self.stop()
        self.generation += 1
        self.port = None
        self.exit_code = None
        self.stop_s = None
        self._spawn()

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.update(HOME=str(self.home), NO_COLOR="1", NODE_NO_WARNINGS="1")
        env.update(self._agent_env)
        if self.spec.token:
            env["QWEN_SERVER_TOKEN"] = self.spec.token
        env = self._registry.child_env(env, tag=self.tag)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        argv = self.spec.argv(str(self.workspace))
        started = self.spawned_at = time.monotonic()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = self._registry.spawn(argv, env=env, cwd=self.workspace, stdout=out, stderr=err)
        deadline = started + self.spec.boot_timeout_s
        while True:
            match = LISTENING.search(self.stdout_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group("port"))
                self.boot_s = time.monotonic() - started
                return
            code = self.proc.poll()
            if code is not None:
                self.exit_code = code
                self._registry.release(self.proc)
                raise DaemonBootError(
                    f"The daemon exited with code {code} before it was listening (command: {' '.join(argv)}).\n"
                    f"Last stderr lines:\n{self.stderr_tail(15)}"
                )
            if time.monotonic() >= deadline:
                self.stop(grace_s=2.0)
                raise DaemonBootError(
                    f"The daemon printed no listening line within {self.spec.boot_timeout_s:g} s; it was "
                    f"stopped. Raise boot_timeout if the machine is slow.\nLast stderr lines:\n"
                    f"{self.stderr_tail(15)}"
                )
            time.sleep(0.01)

    # -- stop -------------------------------------------------------------------------------------
    def tree(self) -> list[psutil.Process]:
        """Every live process of this daemon: itself and everything carrying its marker."""
        procs: dict[int, psutil.Process] = {}
        if self.running:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.proc.pid)
                procs[root.pid] = root
                for child in root.children(recursive=True):
                    procs[child.pid] = child
        for proc in processes_with_marker(self._registry.run_id, self.tag):
            procs.setdefault(proc.pid, proc)
        return list(procs.values())

    def stop(self, grace_s: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
        """Close client sockets, signal the daemon, wait, then SIGKILL whatever of its tree is left.

        Args:
            grace_s: Seconds the daemon gets to drain (it needs up to 5 s for a stubborn agent).
            sig: The signal to send first (SIGTERM, SIGINT or SIGHUP).

        Returns:
            The daemon's exit code (negative for a signal), or ``None`` if it was not running.
        """
        for callback in self._before_stop:
            with contextlib.suppress(Exception):
                callback()
        self._before_stop.clear()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            tree = self.tree()
            started = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=grace_s)
            except Exception:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout=5)
            self.stop_s = time.monotonic() - started
            leftovers = [p for p in tree if p.pid != self.proc.pid and is_alive(p)]
            leftovers += [p for p in processes_with_marker(self._registry.run_id, self.tag) if p not in leftovers]
            self.killed_pids = terminate(leftovers, grace_s=2.0) if leftovers else []
        else:
            # The daemon died on its own (crash, SIGKILL): its agent children run in their own session and
            # may outlive it, so they are found by marker and stopped here too.
            self.killed_pids = terminate(processes_with_marker(self._registry.run_id, self.tag), grace_s=2.0)
        self.exit_code = self.proc.returncode
        self._registry.release(self.proc)
        self._keep_logs()
        return self.exit_code

    def kill(self, children_grace_s: float = 5.0) -> KillOutcome:
        """SIGKILL the daemon now (a crash), then give its agent children time to end on their own.

        The daemon gets no chance to drain or close anything. Its agent children run in their own session, so
        the signal does not reach them: they should end when their stdin reaches EOF. They get
        ``children_grace_s`` to do so; any still alive then is stopped like :meth:`stop` stops leftovers
        (SIGTERM, then SIGKILL), so nothing is left behind. HOME and the workspace are kept (see
        :meth:`restart`).

        Returns:
            What happened (see :class:`KillOutcome`).

        Raises:
            HarnessConfigError: the daemon is not running.
        """
        if not self.running:
            raise HarnessConfigError(f"{self.name} is not running, so it cannot be killed; start or restart it first.")
        tree = self.tree()
        children = [p for p in tree if p.pid != self.proc.pid]
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        exited = time.monotonic()
        self.stop_s = exited - started
        gone_after: float | None = None
        deadline = exited + max(0.0, children_grace_s)
        for _ in range(int(max(0.0, children_grace_s) / KILL_POLL_S) + 2):  # the tree was read before the kill
            if not any(is_alive(p) for p in children):
                gone_after = time.monotonic() - exited
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(KILL_POLL_S)
        leftovers = [p for p in children if is_alive(p)]
        leftovers += [p for p in processes_with_marker(self._registry.run_id, self.tag) if p not in leftovers]
        killed = terminate(leftovers, grace_s=2.0) if leftovers else []
        self.killed_pids = killed
        self.exit_code = self.proc.returncode
        self._registry.release(self.proc)
        self._keep_logs()
        return KillOutcome(
            exit_code=self.exit_code,
            kill_ms=self.stop_s * 1000,
            children=[p.pid for p in children],
            children_gone_ms=None if gone_after is None else gone_after * 1000,
            stopped_leftovers=[p.pid for p in leftovers],
            needed_sigkill=killed,
        )

    def _keep_logs(self) -> None:
        """Copy the daemon's own log out of the temporary HOME into the artifacts folder."""
        log = self.log_path
        if log is not None and log.is_file():
            with contextlib.suppress(OSError):
                shutil.copy2(log, self.artifacts_dir / "daemon.log")

    def discard_home(self) -> None:
        """Remove the temporary HOME and workspace (after :meth:`stop`; logs were copied out)."""
        for path in (self.home, None if self.spec.workspace else self.workspace):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)

    # -- logs -------------------------------------------------------------------------------------
    def stderr_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the daemon's stderr."""
        with contextlib.suppress(OSError):
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no stderr captured)"

    def daemon_log_lines(self, pattern: str | None = None) -> list[str]:
        """Lines of the daemon's own log (live file under HOME, or the copy after stop)."""
        for path in (self.log_path, self.artifacts_dir / "daemon.log"):
            if path is not None and path.is_file():
                lines = path.read_text(errors="replace").splitlines()
                if pattern:
                    rx = re.compile(pattern)
                    lines = [line for line in lines if rx.search(line)]
                return lines
        return []
