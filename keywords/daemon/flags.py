"""The daemon flags a harness test may set: the one table of keyword name, command-line flag and value type.

The start keywords accept exactly the names of :data:`FLAGS` as free named arguments
(``max_sessions=0  prompt_deadline_ms=1500``), :class:`~keywords.daemon.daemon_process.DaemonSpec` builds the command
line from it, and the library introduction shows it as its ``Daemon flags`` section. Ranges are those of
``qwen serve --help`` and the daemon's own start-up checks (0.24.4); a value outside them is refused before any
process starts, naming the flag. Nothing here imports Robot Framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from keywords import checks
from keywords.errors import HarnessConfigError

MAX_INT32 = 2**31 - 1  # the largest timer Node.js accepts, and the daemon's bound on its timeouts
MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript's largest exact integer: the daemon's "positive safe integer"

_POWERS = {MAX_INT32: "2^31-1", MAX_SAFE_INTEGER: "2^53-1"}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Flag:
    """One daemon flag.

    Attributes:
        name: Keyword argument name (``max_sessions``).
        flag: Command-line flag (``--max-sessions``).
        kind: ``count`` (a whole number from ``low`` to ``high``) or ``switch`` (``True`` adds the flag).
        low: Smallest value of a count.
        high: Largest value of a count.
        unit: Unit of a count (``ms``, ``bytes``) or empty.
        description: What the flag does, in one line.
        needs: Name of a switch this flag only works with (``rate_limit``), or empty.
    """

    name: str
    flag: str
    kind: Literal["count", "switch"]
    description: str
    low: int = 0
    high: int = MAX_INT32
    unit: str = ""
    needs: str = ""

    def convert(self, value: Any) -> int | bool:
        """``value`` as this flag's type (Robot passes free named arguments as text).

        Raises:
            HarnessConfigError: the value is not a whole number in range, or not a boolean for a switch.
        """
        if self.kind == "count":
            return checks.whole_number(self.name, value, low=self.low, high=self.high, unit=self.unit)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise HarnessConfigError(f"{self.name} is a switch and must be True or False, got {value!r}.")

    def args(self, value: int | bool) -> list[str]:
        """The command-line words for a converted value (a switch that is off adds nothing)."""
        if self.kind == "switch":
            return [self.flag] if value else []
        return [self.flag, str(value)]

    def values(self) -> str:
        """The allowed values, for the documentation table."""
        if self.kind == "switch":
            return "``${True}`` adds the flag"
        unit = f" {self.unit}" if self.unit else ""
        high = _POWERS.get(self.high) or f"{self.high:,}".replace(",", " ")
        return f"{self.low} to {high}{unit}"


def _count(name: str, flag: str, description: str, **bounds: Any) -> Flag:
    return Flag(name=name, flag=flag, kind="count", description=description, **bounds)


_MS = {"unit": "ms"}
_MS1 = {"unit": "ms", "low": 1}
_RATE = {"low": 1, "needs": "rate_limit"}

FLAGS: dict[str, Flag] = {
    flag.name: flag
    for flag in (
        _count("max_sessions", "--max-sessions", "Live sessions per workspace; 0 disables the cap (default 32)."),
        _count("max_total_sessions", "--max-total-sessions", "Live sessions across all workspaces; 0 disables."),
        _count("max_connections", "--max-connections", "TCP connections the listener accepts; 0 disables (256)."),
        _count(
            "max_pending_prompts",
            "--max-pending-prompts-per-session",
            "Running plus queued prompts per session; 0 disables (default 5).",
        ),
        _count(
            "event_ring_size", "--event-ring-size", "SSE replay ring per session (default 8000).", low=1, high=10**6
        ),
        _count(
            "compacted_replay_max_bytes",
            "--compacted-replay-max-bytes",
            "Byte cap of the compacted replay snapshot of a late attach (default 4 MiB).",
            low=1,
            high=256 * 2**20,
            unit="bytes",
        ),
        _count(
            "max_journal_events",
            "--max-journal-events",
            "Entries kept in the live journal of the current turn; pinning it disables adaptive growth.",
            low=1,
            high=MAX_SAFE_INTEGER,
        ),
        _count(
            "max_journal_bytes",
            "--max-journal-bytes",
            "Bytes kept in the live journal of the current turn; pinning it disables adaptive growth.",
            low=1,
            high=MAX_SAFE_INTEGER,
            unit="bytes",
        ),
        _count(
            "prompt_deadline_ms", "--prompt-deadline-ms", "Wall-clock cap of one prompt (default: none).", low=1, **_MS
        ),
        _count(
            "writer_idle_timeout_ms",
            "--writer-idle-timeout-ms",
            "An SSE stream with no completed write for this long is evicted (default: off).",
            low=1,
            **_MS,
        ),
        _count(
            "initialize_timeout_ms",
            "--initialize-timeout-ms",
            "Timeout of each request to the agent child, its start and initialize included (default 10000).",
            low=1,
            **_MS,
        ),
        _count(
            "session_restore_timeout_ms",
            "--session-restore-timeout-ms",
            "Timeout of an ACP session load or resume (default 60000).",
            low=1,
            **_MS,
        ),
        _count(
            "session_idle_timeout_ms",
            "--session-idle-timeout-ms",
            "A session without subscriber or work is reaped after this long; 0 disables (default 30 min).",
            **_MS,
        ),
        _count(
            "session_reap_interval_ms",
            "--session-reap-interval-ms",
            "How often the reaper looks for idle sessions; 0 disables (default 60000).",
            **_MS,
        ),
        _count(
            "session_prompt_settled_close_grace_ms",
            "--session-prompt-settled-close-grace-ms",
            "Grace after a prompt settles before an idle session may be auto-closed; 0 closes at once.",
            **_MS,
        ),
        _count(
            "permission_response_timeout_ms",
            "--permission-response-timeout-ms",
            "How long the daemon waits for a permission answer; 0 waits for ever (default).",
            **_MS,
        ),
        _count(
            "channel_idle_timeout_ms",
            "--channel-idle-timeout-ms",
            "Idle delay before the workspace's agent child is reaped; 0 reaps when work drains (default).",
            **_MS,
        ),
        Flag("rate_limit", "--rate-limit", "switch", "Per-client HTTP rate limits: prompt, mutation and read tiers."),
        _count("rate_limit_prompt", "--rate-limit-prompt", "Prompt requests per window and client (10).", **_RATE),
        _count(
            "rate_limit_mutation", "--rate-limit-mutation", "Mutating requests per window and client (30).", **_RATE
        ),
        _count("rate_limit_read", "--rate-limit-read", "Read requests per window and client (120).", **_RATE),
        _count("rate_limit_window_ms", "--rate-limit-window-ms", "Rate limit window (default 60000).", **_RATE, **_MS),
    )
}

# Flags the start keywords set themselves, or that have their own keyword argument.
_MANAGED = {
    "--port": "the daemon always gets an OS-assigned loopback port",
    "--hostname": "the daemon always binds 127.0.0.1",
    "--workspace": "use the workspace argument",
    "--web": "the daemon always runs without its web UI",
    "--token": "use the token argument (it goes to the daemon through QWEN_SERVER_TOKEN, never the command line)",
    "--require-auth": "use the require_auth argument",
}


def check_flags(given: Mapping[str, Any]) -> dict[str, int | bool]:
    """Daemon flags by keyword name, converted and checked against :data:`FLAGS` (``None`` values are left out).

    Raises:
        HarnessConfigError: an unknown name (listing the known ones), a value out of range, or a
            ``rate_limit_*`` value without ``rate_limit=${True}``.
    """
    checks.known_names("daemon flag", given, FLAGS)
    result = {name: FLAGS[name].convert(value) for name, value in given.items() if value is not None}
    for name in result:
        needs = FLAGS[name].needs
        if needs and not result.get(needs):
            raise HarnessConfigError(f"{name} only works with the daemon's {FLAGS[needs].flag}: add {needs}=${{True}}.")
    return result


def check_extra_args(extra_args: Iterable[Any]) -> list[str]:
    """``extra_args`` as texts, refusing any that repeats a flag of the table or one the keywords set themselves.

    Raises:
        HarnessConfigError: an argument is such a flag (``--max-sessions``, ``--max-sessions=3``,
            ``--no-rate-limit``, ``--token``...); the message names the keyword argument to use instead.
    """
    by_flag = {flag.flag: name for name, flag in FLAGS.items()}
    words = [str(arg) for arg in extra_args]
    for word in words:
        flag = word.split("=", 1)[0]
        if flag.startswith("--no-"):
            flag = "--" + flag[len("--no-") :]
        if flag in by_flag:
            raise HarnessConfigError(
                f"extra_args repeats the daemon flag {flag}: use the named flag {by_flag[flag]}= instead."
            )
        if flag in _MANAGED:
            raise HarnessConfigError(f"extra_args may not contain {flag}: {_MANAGED[flag]}.")
    return words


def argv(flags: Mapping[str, int | bool]) -> list[str]:
    """Command-line words for checked flags (see :func:`check_flags`), in table order."""
    words: list[str] = []
    for name, flag in FLAGS.items():
        if name in flags:
            words += flag.args(flags[name])
    return words


def doc_table() -> str:
    """The table as a Robot documentation table: name, flag, values, what it does."""
    rows = ["| =Name= | =Flag= | =Values= | =What it does= |"]
    for name, flag in FLAGS.items():
        needs = f" Needs ``{flag.needs}=${{True}}``." if flag.needs else ""
        rows.append(f"| ``{name}`` | ``{flag.flag}`` | {flag.values()} | {flag.description}{needs} |")
    return "\n".join(rows)
