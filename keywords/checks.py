"""The one validator of counts, bounds, durations and choices: every argument error reads the same way.

Each check returns the value converted (a whole number as ``int``, a bound as ``float``) or raises
:class:`~keywords.errors.HarnessConfigError` with one sentence that names the argument, the allowed values or
range, and what was given, for example ``"burst must be a whole number from 1 to 1000, got 'ten'."``. Checks
run before any process starts. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from keywords.errors import HarnessConfigError


def _num(value: float) -> str:
    """A bound as written: whole numbers in full (``86400000``, not ``8.64e+07``), others short (``0.5``)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _range_text(low: float | None, high: float | None, unit: str) -> str:
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"from {_num(low)} to {_num(high)}{unit}"
    if low is not None:
        return f"{_num(low)}{unit} or more"
    if high is not None:
        return f"{_num(high)}{unit} or less"
    return f"any{unit}"


def whole_number(name: str, value: Any, *, low: int | None = 0, high: int | None = None, unit: str = "") -> int:
    """``value`` as an ``int`` in ``low..high`` (either end open when ``None``).

    Accepts an ``int`` or a text of digits (Robot passes free named arguments as text); refuses booleans,
    fractions and words.

    Raises:
        HarnessConfigError: ``"<name> must be a whole number from <low> to <high>[ unit], got <value>."``
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or (low is not None and number < low) or (high is not None and number > high):
        raise HarnessConfigError(f"{name} must be a whole number {_range_text(low, high, unit)}, got {value!r}.")
    return number


def number(
    name: str,
    value: Any,
    *,
    low: float | None = 0.0,
    high: float | None = None,
    unit: str = "",
    low_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in ``low..high`` (``low_open``: strictly above ``low``).

    Raises:
        HarnessConfigError: ``"<name> must be a number from <low> to <high>[ unit], got <value>."``
    """
    try:
        result = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        result = math.nan
    bad = not math.isfinite(result)
    if not bad and low is not None:
        bad = result <= low if low_open else result < low
    if not bad and high is not None:
        bad = result > high
    if bad:
        where = _range_text(low, high, unit)
        if low_open and low is not None:
            where = (
                f"above {_num(low)}"
                + (f" and at most {_num(high)}" if high is not None else "")
                + (f" {unit}" if unit else "")
            )
        raise HarnessConfigError(f"{name} must be a number {where}, got {value!r}.")
    return result


Duration = timedelta | float
"""The type of a duration argument: a Robot time string (``10 s``, ``1.5 min``, which Robot turns into a
``timedelta``) or a number of seconds; :func:`seconds` checks and converts it."""


def seconds(name: str, value: Any, *, high: float = 3600.0, allow_zero: bool = False) -> float:
    """A duration in seconds: above 0 (or 0 with ``allow_zero``) and at most ``high``.

    ``value`` is a number of seconds or a ``datetime.timedelta`` (what Robot makes of ``10 s`` or ``1.5 min``
    for an argument typed ``timedelta``).

    Raises:
        HarnessConfigError: ``"<name> must be a number above 0 and at most <high> s, got <value>."``
    """
    if hasattr(value, "total_seconds"):
        value = value.total_seconds()
    return number(name, value, low=0.0, high=high, unit="s", low_open=not allow_zero)


def choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed`` (exact text).

    Raises:
        HarnessConfigError: ``"<name> must be one of a, b, c; got <value>."``
    """
    options = list(allowed)
    if not isinstance(value, str) or value not in options:
        raise HarnessConfigError(f"{name} must be one of {', '.join(options)}; got {value!r}.")
    return value


def known_names(what: str, given: Iterable[str], known: Iterable[str], hint: str = "") -> None:
    """Refuse names that are not in ``known`` (unknown options, flags, settings).

    Raises:
        HarnessConfigError: ``"Unknown <what> 'x'; known: a, b, c."`` (plus ``hint`` when given).
    """
    allowed = list(known)
    unknown = [n for n in given if n not in allowed]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        names = ", ".join(repr(n) for n in unknown)
        raise HarnessConfigError(
            f"Unknown {what}{plural} {names}; known: {', '.join(allowed)}.{' ' + hint if hint else ''}"
        )
