"""A service-level objective for a sustained load: its bounds, each bound's measured value, and the early stop.

An :class:`Slo` holds up to four bounds: p99 response time (from the intended start), errors, late starts and
dropped arrivals. :meth:`Slo.check` gives every bound with the value this run measured
(:class:`SloVerdict`); :meth:`Slo.doomed` says, from the counts of a run still going, when a bound can no
longer be met whatever the rest of the run does (k6's ``abortOnFail``), so the run can stop early.

The p99 bound counts an arrival that never completed (an error, or a turn still open when the drain ended) as
slower than the bound: p99 holds when at most ``floor(1 % of the sent arrivals)`` are slower or missing and the
histogram's p99 is within the bound (for a run stopped early, 1 % of the arrivals its whole schedule planned,
as the early stop judged it). Nothing here logs or imports Robot Framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from keywords import checks

BoundName = Literal["p99", "errors", "late", "dropped"]
BOUND_NAMES: tuple[BoundName, ...] = ("p99", "errors", "late", "dropped")
TAIL_SHARE = 0.01  # the share of arrivals p99 lets be slower than its bound


def tail_allowance(arrivals: int) -> int:
    """How many of ``arrivals`` may be slower than a p99 bound (or missing) with the p99 still within it."""
    return math.floor(arrivals * TAIL_SHARE + 1e-9)


@dataclass(frozen=True)
class BoundCheck:
    """One bound of an SLO and what the run measured.

    Attributes:
        name: ``p99``, ``errors``, ``late`` or ``dropped``.
        bound: The bound (ms for p99, a count otherwise).
        measured: The measured value (``None``: nothing was measured, e.g. no arrival completed).
        held: The bound held.
        detail: What was measured, in words (``p99 412 ms (bound 100 ms), 7 of 500 slower or missing``).
    """

    name: str
    bound: float
    measured: float | None
    held: bool
    detail: str


@dataclass
class SloVerdict:
    """Every bound of an SLO against one run.

    Attributes:
        checks: One :class:`BoundCheck` per bound set.
        stopped_early: Why the run stopped before its schedule ended (``None``: it ran to the end).
    """

    checks: list[BoundCheck] = field(default_factory=list)
    stopped_early: str | None = None

    @property
    def held(self) -> bool:
        """Every bound held (and the run was not stopped early)."""
        return self.stopped_early is None and all(c.held for c in self.checks)

    @property
    def breached(self) -> list[BoundCheck]:
        """The bounds that did not hold."""
        return [c for c in self.checks if not c.held]

    def reason(self) -> str:
        """Which bounds broke, with their measured values (``""`` when the SLO held)."""
        parts = [c.detail for c in self.breached]
        if self.stopped_early:
            parts.append(f"stopped early: {self.stopped_early}")
        return "; ".join(parts)

    def figures(self) -> dict[str, Any]:
        """``sloHeld``, ``sloBreached`` (bound names), ``sloStoppedEarly`` and per bound ``slo<Name>Measured``."""
        out: dict[str, Any] = {
            "sloHeld": self.held,
            "sloBreached": [c.name for c in self.breached],
            "sloStoppedEarly": self.stopped_early,
        }
        for c in self.checks:
            out[f"slo{c.name[:1].upper()}{c.name[1:]}Measured"] = c.measured
        return out

    def line(self) -> str:
        """``SLO held`` or ``SLO broken: <reason>``."""
        return "SLO held: " + ", ".join(c.detail for c in self.checks) if self.held else f"SLO broken: {self.reason()}"


@dataclass
class Slo:
    """Bounds a sustained load must keep (``None``: that bound is not part of the objective).

    Attributes:
        p99_ms: p99 response time from the intended start, ms.
        max_errors: Errors allowed (refusals, turn errors, transport errors).
        max_late: Late starts allowed.
        max_dropped: Dropped arrivals allowed.
    """

    p99_ms: float | None = None
    max_errors: int | None = 0
    max_late: int | None = None
    max_dropped: int | None = 0

    def validate(self) -> Slo:
        """Check every bound (converting texts of numbers) and return the SLO.

        Raises:
            HarnessConfigError: naming the bound, its range and the value given.
        """
        if self.p99_ms is not None:
            ms = self.p99_ms.total_seconds() * 1000 if hasattr(self.p99_ms, "total_seconds") else self.p99_ms
            self.p99_ms = checks.number("p99 bound", ms, high=3_600_000, unit="ms", low_open=True)
        for name in ("max_errors", "max_late", "max_dropped"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, checks.whole_number(name, value, low=0, high=1_000_000))
        return self

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, by name (``p99`` in ms)."""
        given = {"p99": self.p99_ms, "errors": self.max_errors, "late": self.max_late, "dropped": self.max_dropped}
        return {name: value for name, value in given.items() if value is not None}

    def parameters(self) -> dict[str, Any]:
        """The bounds as scenario parameters (``sloP99Ms``, ``sloMaxErrors``, ``sloMaxLate``, ``sloMaxDropped``)."""
        return {
            "sloP99Ms": self.p99_ms,
            "sloMaxErrors": self.max_errors,
            "sloMaxLate": self.max_late,
            "sloMaxDropped": self.max_dropped,
        }

    def text(self) -> str:
        """The SLO in words: ``p99 <= 100 ms, errors <= 0, dropped <= 0``."""
        words = {
            "p99": "p99 <= {:g} ms",
            "errors": "errors <= {:g}",
            "late": "late <= {:g}",
            "dropped": "dropped <= {:g}",
        }
        return ", ".join(words[name].format(value) for name, value in self.bounds().items()) or "no bound"

    def check(self, result: Any, stopped_early: str | None = None) -> SloVerdict:
        """Every bound against a finished run (a ``SustainedLoadResult``): bound, measured value, held."""
        verdict = SloVerdict(stopped_early=stopped_early)
        sent = result.sent
        missing = result.error_count + (result.unfinished or 0)
        for name, bound in self.bounds().items():
            if name == "p99":
                p99 = result.response.p99 if result.response is not None else None
                slower = (result.over_bound or 0) + missing
                base = result.plan.arrivals if stopped_early else sent  # stopped early: judged as the stop was
                allowed = tail_allowance(base)
                held = p99 is not None and p99 <= bound and slower <= allowed
                counted = f"{base} planned" if stopped_early else f"{base} sent"
                detail = f"p99 {_num(p99)} ms (bound {bound:g} ms), {slower} of {counted} slower or missing"
                detail += f" (at most {allowed})"
                verdict.checks.append(BoundCheck(name, bound, p99, held, detail))
                continue
            measured = {"errors": result.error_count, "late": result.late, "dropped": result.dropped}[name]
            held = measured <= bound
            codes = ", ".join(f"{n}x {code}" for code, n in sorted((getattr(result, "errors", None) or {}).items()))
            which = f": {codes}" if name == "errors" and codes else ""
            detail = f"{name} {measured} (bound {bound:g}{which})"
            verdict.checks.append(BoundCheck(name, bound, measured, held, detail))
        return verdict

    def doomed(self, planned: int, errors: int, late: int, dropped: int, slower: int) -> str | None:
        """Why a bound can no longer be met by a run still going, or ``None`` while every bound can still hold.

        Args:
            planned: Arrivals the whole run will schedule.
            errors: Errors so far.
            late: Late starts so far.
            dropped: Dropped arrivals so far.
            slower: Arrivals so far that took longer than the p99 bound, finished or still open.
        """
        for name, count in (("errors", errors), ("late", late), ("dropped", dropped)):
            bound = self.bounds().get(name)
            if bound is not None and count > bound:
                return f"{count} {name} already, more than the bound of {bound:g}"
        if self.p99_ms is not None:
            allowed = tail_allowance(planned)
            if slower + errors > allowed:
                return (
                    f"p99 can no longer be within {self.p99_ms:g} ms: {slower + errors} of {planned} planned "
                    f"arrivals already took longer or failed (at most {allowed} may)"
                )
        return None


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"
