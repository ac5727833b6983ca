"""Live progress of a load across its processes: one line, refreshed about every second on the console.

:func:`merge` folds the processes' latest progress lines into one :class:`Progress` (the p99 so far from their
merged response histograms, exact). The keyword layer prints :meth:`Progress.line` from the main thread; nothing
here prints, logs or imports Robot Framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from keywords.measure.metrics import LatencyRecorder
from keywords.reporting.figures import shown


@dataclass(frozen=True)
class Progress:
    """A load's counts so far, over every process.

    Attributes:
        elapsed_s: Since the schedule's start.
        planned: Arrivals of the whole schedule.
        sent: Arrivals sent so far.
        completed: Arrivals completed so far.
        errors: Errors so far.
        late: Late starts so far.
        dropped: Dropped arrivals so far.
        in_flight: Requests and turns open now.
        slower: Arrivals slower than the p99 bound so far, finished or open (0 without a bound).
        p99_ms: p99 response time of the completed arrivals so far (``None``: none completed).
        rate: Arrivals sent per second since the previous line (``None`` for the first).
        harness_cpu_pct: The processes' latest CPU windows added up (% of one core; ``None``: not measured yet).
        busiest_cpu_pct: The busiest process's latest window (% of one core).
    """

    elapsed_s: float
    planned: int
    sent: int
    completed: int
    errors: int
    late: int
    dropped: int
    in_flight: int
    slower: int
    p99_ms: float | None
    rate: float | None
    harness_cpu_pct: float | None
    busiest_cpu_pct: float | None

    def line(self) -> str:
        """``t 12 s | 200.0/s | in flight 3 | done 2398/4000 | errors 0 | late 1 | ... | harness CPU 41%``."""
        rate = shown(self.rate, ".1f", "/s")
        p99 = shown(self.p99_ms, ".1f", " ms")
        cpu = shown(self.harness_cpu_pct, ".0f", "%")
        return (
            f"t {self.elapsed_s:.0f} s | {rate} | in flight {self.in_flight} | done {self.completed}/{self.planned} | "
            f"errors {self.errors} | late {self.late} | dropped {self.dropped} | p99 {p99} | harness CPU {cpu}"
        )


# The counts a process's progress line carries, added up over the processes: Progress field -> line key.
_COUNTS = {key: key for key in ("sent", "completed", "errors", "late", "dropped", "slower")} | {"in_flight": "inFlight"}


def merge(
    lines: Iterable[dict[str, Any]], planned: int, elapsed_s: float, previous: Progress | None = None
) -> Progress:
    """One :class:`Progress` from each process's latest progress line."""
    lines = [line for line in lines if line]
    total = {name: sum(int(line.get(key) or 0) for line in lines) for name, key in _COUNTS.items()}
    response = LatencyRecorder("response", keep_values=False)
    for line in lines:
        if line.get("response"):
            response.merge(LatencyRecorder.decode(line["response"]))
    cpus = [float(line["cpuPct"]) for line in lines if line.get("cpuPct") is not None]
    rate = None
    if previous is not None and elapsed_s > previous.elapsed_s:
        rate = (total["sent"] - previous.sent) / (elapsed_s - previous.elapsed_s)
    return Progress(
        elapsed_s=elapsed_s,
        planned=planned,
        **total,
        p99_ms=response.percentile_ms(99),
        rate=rate,
        harness_cpu_pct=round(sum(cpus), 1) if cpus else None,
        busiest_cpu_pct=max(cpus) if cpus else None,
    )
