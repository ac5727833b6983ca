"""The one-shot ``qwen -p`` CLI as a measured, registered child with a private HOME and workspace.

One :class:`OneShotCli` owns a private HOME (settings written before each run, for example the fake provider's
``.qwen/settings.json``) and a workspace. :meth:`OneShotCli.run` starts ``node <cli-entry.js> -p <prompt>
--output-format text`` through the process registry (markers, watchdog, ``PR_SET_PDEATHSIG``) and measures:

* **wall time**: monotonic clock from just before ``spawn`` to the moment ``wait4`` reaps the process (polled
  every 2 ms), the same span upstream's ``performance.now()`` around ``spawn`` ... ``exit`` covered;
* **resource profile** of the whole CLI tree (the entry relaunches itself as ``node --expose-gc cli.js`` twice)
  with :class:`keywords.measure.resource_profile.TreeProfiler`, sampled every ``sample_ms`` in a background thread:
  peak RSS (``VmHWM``), user/system CPU, context switches, page faults — the fields of ``/usr/bin/time -v``;
* the root's own ``wait4`` rusage (what ``/usr/bin/time`` prints: the root plus the children it reaped),
  kept as an exact cross-check of the sampled profile;
* **startup phases** when ``profile_startup`` is on: the CLI's startup profiler
  (``QWEN_CODE_PROFILE_STARTUP=1`` with ``QWEN_CODE_PROFILE_STARTUP_OUTER=1``; without a sandbox only the
  "outer" opt-in makes it record) writes ``$HOME/.qwen/startup-perf/*.json``; the new file is parsed and
  removed. When no file appears, ``phases`` is ``None`` and the run says so.

Nothing here imports Robot Framework; the sampler thread never logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from keywords.daemon.daemon_process import _SCRUBBED_ENV
from keywords.daemon.liveness import is_alive as _alive
from keywords.daemon.provision import DaemonSource
from keywords.daemon.registry import Registry, processes_with_marker, terminate
from keywords.errors import HarnessConfigError
from keywords.measure.resource_profile import ResourceProfile, TreeProfiler

PROFILE_DIR = Path(".qwen") / "startup-perf"
PROFILE_ENV = {"QWEN_CODE_PROFILE_STARTUP": "1", "QWEN_CODE_PROFILE_STARTUP_OUTER": "1"}
OUTPUT_FORMATS = ("text", "json", "stream-json")


@dataclass(frozen=True)
class StartupPhases:
    """What the CLI's startup profiler wrote for one run (all times in ms).

    Attributes:
        module_load_ms: ``processUptimeAtT0Ms``: process start to the profiler's t0 (module loading).
        settings_ms: ``derivedPhases.settings_time``: t0 to settings loaded.
        config_init_ms: ``derivedPhases.config_initialize_dur``: ``Config.initialize`` (tools, skills, memory).
        mcp_settled_ms: ``derivedPhases.mcp_all_settled``: t0 to every MCP server settled.
        total_ms: ``totalMs``: t0 to the last checkpoint.
        full_startup_ms: ``module_load_ms + total_ms`` (upstream's ``fullStartupMs``).
        phases: ``(checkpoint, duration ms)`` in order.
        file: Name of the report file (removed after parsing).
        outer_process: The report came from the outer (non-sandbox) process.
    """

    module_load_ms: float | None
    settings_ms: float | None
    config_init_ms: float | None
    mcp_settled_ms: float | None
    total_ms: float | None
    full_startup_ms: float | None
    phases: list[tuple[str, float]] = field(default_factory=list)
    file: str = ""
    outer_process: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Upstream's ``startupPhases`` names plus the extras."""
        return {
            "moduleLoadMs": self.module_load_ms,
            "settingsMs": self.settings_ms,
            "configInitMs": self.config_init_ms,
            "mcpSettledMs": self.mcp_settled_ms,
            "totalMs": self.total_ms,
            "fullStartupMs": self.full_startup_ms,
            "phases": [{"name": n, "durationMs": d} for n, d in self.phases],
        }


@dataclass(frozen=True)
class Rusage:
    """``wait4`` rusage of the CLI's root process (itself plus the children it reaped), as ``time -v`` shows.

    Attributes:
        max_rss_mb: ``ru_maxrss`` (largest single process among them), MB.
        user_cpu_s: User CPU seconds.
        system_cpu_s: System CPU seconds.
        voluntary_ctx_switches: ``ru_nvcsw``.
        involuntary_ctx_switches: ``ru_nivcsw``.
        minor_page_faults: ``ru_minflt``.
        major_page_faults: ``ru_majflt``.
    """

    max_rss_mb: float
    user_cpu_s: float
    system_cpu_s: float
    voluntary_ctx_switches: int
    involuntary_ctx_switches: int
    minor_page_faults: int
    major_page_faults: int

    @classmethod
    def of(cls, ru: resource.struct_rusage) -> Rusage:
        """From a ``struct_rusage`` (Linux: ``ru_maxrss`` in KiB)."""
        return cls(
            round(ru.ru_maxrss / 1024, 2),
            round(ru.ru_utime, 3),
            round(ru.ru_stime, 3),
            ru.ru_nvcsw,
            ru.ru_nivcsw,
            ru.ru_minflt,
            ru.ru_majflt,
        )


@dataclass
class CliRun:
    """One measured run of the one-shot CLI.

    Attributes:
        index: 1-based run number of this CLI object.
        argv: Command line (the prompt included).
        exit_code: Exit status (negative: killed by that signal); ``None`` if it could not be reaped.
        wall_ms: Spawn to exit, monotonic clock.
        timed_out: It ran past the timeout and was killed.
        stdout: What it printed (first 4000 characters).
        stderr_tail: Last 20 lines of its stderr.
        profile: Resource profile of the whole tree (sampled).
        rusage: Exact ``wait4`` rusage of the root (``None`` when not reaped by us).
        phases: Startup profiler phases (``None`` when not asked for or not written).
        phases_note: Why ``phases`` is missing, when it is.
        processes_seen: Processes of the tree seen while sampling.
        leftovers: Pids of the tree still alive after the root exited (they are killed).
    """

    index: int
    argv: list[str]
    exit_code: int | None
    wall_ms: float
    timed_out: bool = False
    stdout: str = ""
    stderr_tail: str = ""
    profile: ResourceProfile = field(default_factory=ResourceProfile)
    rusage: Rusage | None = None
    phases: StartupPhases | None = None
    phases_note: str = ""
    processes_seen: int = 0
    leftovers: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exit status 0 within the timeout."""
        return self.exit_code == 0 and not self.timed_out

    def summary(self) -> str:
        """One line: exit, wall time, peak RSS, CPU."""
        phases = (
            f", full startup {self.phases.full_startup_ms:.0f} ms"
            if self.phases and self.phases.full_startup_ms
            else ""
        )
        return (
            f"run {self.index}: exit {self.exit_code}{' (timed out)' if self.timed_out else ''}, "
            f"wall {self.wall_ms:.0f} ms, peak RSS {self.profile.peak_rss_mb:.1f} MB, "
            f"CPU user {self.profile.user_cpu_s:.2f} s sys {self.profile.system_cpu_s:.2f} s{phases}"
        )


@dataclass
class CliSpec:
    """How to run the one-shot CLI; validated before anything starts.

    Attributes:
        source: The build (its ``entry`` is the CLI entry ``cli-entry.js``).
        node: Path of ``node``.
        env: Extra environment (e.g. the fake provider's ``OPENAI_*``); the user's model keys are scrubbed.
        home_files: Files written under the private HOME before each run (relative path -> text).
        workspace: Existing folder to run in (default: a fresh one).
        timeout_s: Bound on one run; it is killed after that.
        sample_ms: Resource sampling interval.
        output_format: ``--output-format`` value.
    """

    source: DaemonSource
    node: str
    env: dict[str, str] = field(default_factory=dict)
    home_files: dict[str, str] = field(default_factory=dict)
    workspace: str | None = None
    timeout_s: float = 120.0
    sample_ms: float = 50.0
    output_format: str = "text"

    def validate(self) -> None:
        """Raise :class:`HarnessConfigError` naming the first bad field."""
        if not Path(self.source.entry).is_file():
            raise HarnessConfigError(f"The CLI entry script {self.source.entry} does not exist.")
        if not 0 < self.timeout_s <= 1800:
            raise HarnessConfigError(f"timeout must be between 0 and 1800 seconds, got {self.timeout_s}.")
        if not 10 <= self.sample_ms <= 5000:
            raise HarnessConfigError(f"sample_ms must be from 10 to 5000, got {self.sample_ms}.")
        if self.output_format not in OUTPUT_FORMATS:
            raise HarnessConfigError(
                f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {self.output_format!r}."
            )
        if self.workspace is not None and not Path(self.workspace).is_dir():
            raise HarnessConfigError(f"The CLI workspace {self.workspace!r} is not an existing folder.")
        for rel in self.home_files:
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise HarnessConfigError(f"home_files paths must be relative inside HOME, got {rel!r}.")

    def argv(self, prompt: str, extra_args: Iterable[str] = ()) -> list[str]:
        """``node <entry> -p <prompt> --output-format <fmt> [extra]``."""
        return [self.node, self.source.entry, "-p", prompt, "--output-format", self.output_format, *extra_args]


class OneShotCli:
    """The one-shot CLI with a private HOME and workspace, run as often as needed.

    Args:
        spec: How to run it.
        registry: The process registry that owns every child.
        name: Unique name (folders and the environment tag).
    """

    def __init__(self, spec: CliSpec, registry: Registry, name: str = "cli") -> None:
        spec.validate()
        self.spec = spec
        self.name = name
        self._registry = registry
        self.home = registry.make_dir(f"{name}-home")
        self.workspace = Path(spec.workspace).resolve() if spec.workspace else registry.make_dir(f"{name}-workspace")
        self.runs: list[CliRun] = []

    @property
    def tag(self) -> str:
        """Environment marker of this CLI's processes."""
        return f"{self._registry.run_id}:{self.name}"

    def _env(self, profile_startup: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV and not k.startswith("QWEN_CODE_PROFILE")}
        env.update(HOME=str(self.home), NO_COLOR="1", NODE_NO_WARNINGS="1")
        env.update(self.spec.env)
        if profile_startup:
            env.update(PROFILE_ENV)
        return self._registry.child_env(env, tag=self.tag)

    def _write_home(self) -> None:
        for rel, text in self.spec.home_files.items():
            target = self.home / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def run(self, prompt: str = "say ok", *, profile_startup: bool = False, extra_args: Iterable[str] = ()) -> CliRun:
        """Run the CLI once and measure it.

        Args:
            prompt: The ``-p`` prompt.
            profile_startup: Ask the CLI's startup profiler for its phases.
            extra_args: Further CLI arguments.

        Returns:
            A :class:`CliRun` (also appended to :attr:`runs`).
        """
        if not prompt:
            raise HarnessConfigError("The CLI prompt must not be empty.")
        self._write_home()
        profile_dir = self.home / PROFILE_DIR
        before = set(profile_dir.glob("*.json")) if profile_dir.is_dir() else set()
        argv = self.spec.argv(prompt, extra_args)
        index = len(self.runs) + 1
        out_path = self.home.parent / f"{self.home.name}-run{index}.stdout"
        err_path = self.home.parent / f"{self.home.name}-run{index}.stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            started = time.monotonic()
            proc = self._registry.spawn(
                argv, env=self._env(profile_startup), cwd=self.workspace, stdout=out, stderr=err
            )
        sampler = _TreeSampler(proc.pid, self.spec.sample_ms / 1000)
        sampler.start()
        exit_code, ru, timed_out, ended = _reap(proc, started + self.spec.timeout_s)
        wall_ms = (ended - started) * 1000
        sampler.stop()
        self._registry.release(proc)
        leftovers = [p for p in processes_with_marker(self._registry.run_id, self.tag) if _alive(p)]
        leftover_pids = [p.pid for p in leftovers]
        if leftovers:
            terminate(leftovers, grace_s=2.0)
        run = CliRun(
            index=index,
            argv=argv,
            exit_code=exit_code,
            wall_ms=round(wall_ms, 2),
            timed_out=timed_out,
            stdout=_read(out_path)[:4000],
            stderr_tail="\n".join(_read(err_path).splitlines()[-20:]),
            profile=sampler.profiler.profile(),
            rusage=Rusage.of(ru) if ru is not None else None,
            processes_seen=sampler.seen,
            leftovers=leftover_pids,
        )
        if profile_startup:
            new = sorted(set(profile_dir.glob("*.json")) - before) if profile_dir.is_dir() else []
            run.phases, run.phases_note = read_startup_profile(new)
            for path in new:
                with contextlib.suppress(OSError):
                    path.unlink()
        self.runs.append(run)
        return run


def read_startup_profile(paths: list[Path]) -> tuple[StartupPhases | None, str]:
    """Parse the startup profiler's report(s) of one run; returns ``(phases, note)``.

    With several new files, the outer process's report is used (it covers the most of the start-up).
    """
    if not paths:
        return None, "the CLI wrote no startup profile (QWEN_CODE_PROFILE_STARTUP); wall time only"
    docs = []
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(path.read_text())
            if isinstance(doc, dict):
                docs.append((path, doc))
    if not docs:
        return None, f"the startup profile {paths[0].name} could not be read; wall time only"
    docs.sort(key=lambda item: (not item[1].get("outerProcess"), item[0].name))
    path, doc = docs[0]
    return parse_startup_profile(doc, path.name), ""


def parse_startup_profile(doc: dict[str, Any], file: str = "") -> StartupPhases:
    """A :class:`StartupPhases` from the profiler's JSON (missing fields stay ``None``)."""
    derived = doc.get("derivedPhases") if isinstance(doc.get("derivedPhases"), dict) else {}
    module_load = _num(doc.get("processUptimeAtT0Ms"))
    total = _num(doc.get("totalMs"))
    full = round((module_load + total) * 10) / 10 if module_load is not None and total is not None else None
    phases = []
    for phase in doc.get("phases") or []:
        if isinstance(phase, dict) and _num(phase.get("durationMs")) is not None:
            phases.append((str(phase.get("name")), float(phase["durationMs"])))
    return StartupPhases(
        module_load_ms=module_load,
        settings_ms=_num(derived.get("settings_time")),
        config_init_ms=_num(derived.get("config_initialize_dur")),
        mcp_settled_ms=_num(derived.get("mcp_all_settled")),
        total_ms=total,
        full_startup_ms=full,
        phases=phases,
        file=file,
        outer_process=doc.get("outerProcess") if isinstance(doc.get("outerProcess"), bool) else None,
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _reap(proc, deadline: float) -> tuple[int | None, resource.struct_rusage | None, bool, float]:
    """Wait for ``proc`` with ``wait4`` (polling every 2 ms) until ``deadline``; kill its tree past it.

    Returns:
        ``(exit code, rusage, timed out, monotonic time it was reaped)``.
    """
    timed_out = False
    while True:
        try:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere
            return proc.poll(), None, timed_out, time.monotonic()
        now = time.monotonic()
        if pid:
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code
            return code, ru, timed_out, now
        if now >= deadline and not timed_out:
            timed_out = True
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(proc.pid)
                terminate([*root.children(recursive=True), root], grace_s=2.0)
            deadline = now + 5.0
        elif now >= deadline:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = proc.wait(timeout=5)
            return code, None, timed_out, time.monotonic()
        time.sleep(0.002)


class _TreeSampler:
    """Feeds a :class:`TreeProfiler` with the CLI tree every ``interval_s`` (never logs)."""

    def __init__(self, root_pid: int, interval_s: float) -> None:
        self.root_pid = root_pid
        self.interval_s = interval_s
        self.profiler = TreeProfiler()
        self._stop = threading.Event()
        self._seen: set[tuple[int, float]] = set()
        self._thread = threading.Thread(target=self._run, name=f"cli-tree-{root_pid}", daemon=True)

    @property
    def seen(self) -> int:
        """Distinct processes read."""
        return len(self._seen)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):
            root = psutil.Process(self.root_pid)
            while not self._stop.is_set():
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    return
                self._seen.update(self.profiler.update(procs))
                self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
