"""The daemon-versus-CLI benchmark's tunables: upstream's defaults, heavier with ``HEAVY``, each overridable.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keywords.checks import number, whole_number
from keywords.errors import HarnessConfigError
from keywords.reporting.figures import field_figures

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")


def flag(name: str, value: Any) -> bool:
    """A yes/no setting given as a boolean or a word (``True``, ``false``, ``1``...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise HarnessConfigError(f"{name} must be True or False, got {value!r}.")


def _given(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


@dataclass(frozen=True)
class BenchmarkTunables:
    """The run's tunables (recorded as every scenario's parameters, as upstream's ``config``).

    Attributes:
        iterations: Measured iterations of C1, C2, C3 and C5 (upstream: 5, 20 when heavy).
        concurrent_sessions: Sessions of C6 and C8, half the streams of C12 (5, 10 when heavy).
        throughput_window_s: C9's window (10 s, 30 s when heavy).
        churn_rounds: C10's rounds (iterations x 4).
        heavy: Upstream's heavy values were asked for.
    """

    iterations: int
    concurrent_sessions: int
    throughput_window_s: float
    churn_rounds: int
    heavy: bool

    @property
    def sse_flood_streams(self) -> int:
        """C12's streams: two per concurrent session."""
        return self.concurrent_sessions * 2

    def parameters(self) -> dict[str, Any]:
        """``iterations``, ``concurrentSessions``, ``throughputWindowS``, ``churnRounds``, ``heavy``."""
        return {
            **field_figures(self, "iterations", "concurrent_sessions"),
            "throughputWindowS": self.throughput_window_s,
            **field_figures(self, "churn_rounds", "heavy"),
        }

    def line(self) -> str:
        """``iterations=5 concurrent=5 window=10.0s churn=20 heavy=False``."""
        return (
            f"iterations={self.iterations} concurrent={self.concurrent_sessions} "
            f"window={self.throughput_window_s:g}s churn={self.churn_rounds} heavy={self.heavy}"
        )


def resolve_tunables(
    heavy: Any = False,
    *,
    iterations: Any = None,
    concurrent_sessions: Any = None,
    throughput_window_s: Any = None,
    churn_rounds: Any = None,
) -> BenchmarkTunables:
    """The tunables: each one given (not empty) is checked and kept, the others get upstream's defaults.

    Raises:
        HarnessConfigError: a value that is not a whole number (a number for the window) in range.
    """
    heavy = flag("HEAVY", heavy)
    its = whole_number("ITERATIONS", iterations, low=1, high=200) if _given(iterations) else (20 if heavy else 5)
    conc = (
        whole_number("CONCURRENT_SESSIONS", concurrent_sessions, low=1, high=200)
        if _given(concurrent_sessions)
        else (10 if heavy else 5)
    )
    window = (
        number("THROUGHPUT_WINDOW_S", throughput_window_s, low=0, low_open=True, high=600, unit="s")
        if _given(throughput_window_s)
        else (30.0 if heavy else 10.0)
    )
    churn = whole_number("CHURN_ROUNDS", churn_rounds, low=1, high=10000) if _given(churn_rounds) else its * 4
    return BenchmarkTunables(its, conc, float(window), churn, heavy)
