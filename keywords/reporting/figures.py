"""How a result carries its own figures into the test message and the snapshot.

A measuring keyword returns a result object (a dataclass). A result that implements :class:`HasFigures` can
be recorded with one line in a suite (`Record Result`): its ``figures()`` go into the current scenario's
``metrics`` in the snapshot and its ``line()`` into the test message, so a test holds no bookkeeping.

Rules for ``figures()``:

* keys are camelCase (``evictionMs``, ``healthyReceived``), as in upstream's snapshots; units are in the key
  (``...Ms``, ``...MB``, ``...PerSec``) or in the name of the result's ``method``;
* values are numbers, texts, booleans, ``None`` (not measured: never an invented 0) or nested dicts/lists of
  those; a latency summary is stored as its percentile dict;
* only what was measured in this run; constants and inputs belong to the scenario's parameters.

Snapshots written before the camelCase rule (format version 2) and suites not yet rewritten use
``snake_case`` keys (``late_ms``, ``harness_cpu``). :func:`camelize` turns them into camelCase, losslessly: only
keys of lower-case words joined by ``_`` are converted, the last word as a unit when it is one (``peak_rss_mb``
-> ``peakRssMB``, ``duration_s`` -> ``durationSec``), and a key whose new name another key of the same object
already has is left as it was (the snapshot checker then reports it).

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

from keywords.errors import HarnessConfigError

_CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
CAMEL_PATTERN = _CAMEL.pattern
# A snake_case key's last word that is a unit: its camelCase form (``_s`` would read as a plural ``S``).
# The unit of a single figure (`Record Figure`) and the suffix it gives the key: ``eviction`` + ms -> ``evictionMs``.
UNIT_SUFFIXES = {"": "", "ms": "Ms", "s": "Sec", "MB": "MB", "pct": "Pct", "perSec": "PerSec"}
UNIT_WORDS = {"s": "Sec", "ms": "Ms", "us": "Us", "kb": "KB", "mb": "MB", "gb": "GB", "pct": "Pct"}


@runtime_checkable
class HasFigures(Protocol):
    """A result that knows its figures (``figures()``) and its one-line summary (``line()``)."""

    def figures(self) -> dict[str, Any]:
        """Measured figures by camelCase key."""
        ...

    def line(self) -> str:
        """One line of key figures for the test message."""
        ...


def is_camel(key: str) -> bool:
    """Whether a figure key is camelCase (``evictionMs``; not ``eviction_ms`` nor ``EvictionMs``)."""
    return bool(_CAMEL.match(key))


def camel_key(key: str) -> str:
    """camelCase form of a ``snake_case`` key (``late_ms`` -> ``lateMs``); any other key is returned as it is."""
    if not isinstance(key, str) or not _SNAKE.match(key):
        return key
    first, *rest = key.split("_")
    words = [
        UNIT_WORDS.get(w, w[:1].upper() + w[1:]) if i == len(rest) - 1 else w[:1].upper() + w[1:]
        for i, w in enumerate(rest)
    ]
    return first + "".join(words)


def camelize(value: Any) -> Any:
    """``value`` with every ``snake_case`` dict key (at any depth) in camelCase, where that loses nothing.

    A key is kept as it was when its camelCase form is already a key of the same dict (two keys would become
    one); lists are walked, other values returned unchanged.
    """
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, inner in value.items():
            new = camel_key(key)
            if new != key and (new in value or new in out):
                new = key
            out[new] = camelize(inner)
        return out
    if isinstance(value, (list, tuple)):
        return [camelize(v) for v in value]
    return value


def prefixed(prefix: str, figures: dict[str, Any]) -> dict[str, Any]:
    """Keys with a camelCase prefix: ``prefixed("healthy", {"received": 3})`` gives ``{"healthyReceived": 3}``."""
    if not prefix:
        return dict(figures)
    return {prefix + key[:1].upper() + key[1:]: value for key, value in figures.items()}


def non_camel_keys(value: Any, path: str = "") -> list[str]:
    """Every dict key (at any depth) that is not camelCase, as ``a.b.c`` paths (percentile keys ``p50``.. are fine)."""
    bad: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            here = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or not is_camel(key):
                bad.append(here)
            bad += non_camel_keys(inner, here)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            bad += non_camel_keys(inner, f"{path}[{i}]")
    return bad


def figure_key(name: str, unit: str = "") -> str:
    """The key of a single figure: ``name`` with the unit's suffix (``figure_key("eviction", "ms")`` is
    ``evictionMs``; a name that already ends with it keeps it once).

    Raises:
        HarnessConfigError: ``name`` is not camelCase, or ``unit`` is not one of :data:`UNIT_SUFFIXES`.
    """
    if unit not in UNIT_SUFFIXES:
        raise HarnessConfigError(f"unit must be one of {', '.join(repr(u) for u in UNIT_SUFFIXES)}; got {unit!r}.")
    if not isinstance(name, str) or not is_camel(name):
        raise HarnessConfigError(
            f"A figure's name must be camelCase (a lower-case letter, then letters and digits: evictionMs, p99), "
            f"got {name!r}."
        )
    suffix = UNIT_SUFFIXES[unit]
    return name if name.endswith(suffix) else name + suffix


def plain(value: Any, where: str = "figure") -> Any:
    """``value`` as JSON-ready data: numbers, texts, booleans, ``None``, lists and dicts (objects with ``to_dict()``,
    such as a latency summary, become their dict).

    Raises:
        HarnessConfigError: a value of another type (naming where it was and its type).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return plain(to_dict(), where)
    raise HarnessConfigError(
        f"{where} is a {type(value).__name__}; a figure must be a number, text, boolean, None, list or dict."
    )


def figures_of(result: Any, prefix: str = "") -> dict[str, Any]:
    """The figures of a :class:`HasFigures` result as JSON-ready data, keys prefixed in camelCase.

    Raises:
        HarnessConfigError: ``result`` has no ``figures()``/``line()``, its figures are not a dict, a key (at any
            depth) is not camelCase, or ``prefix`` is not camelCase.
    """
    kind = type(result).__name__
    if not isinstance(result, HasFigures):
        raise HarnessConfigError(
            f"Record Result needs a result that carries its figures (figures() and line()); got a {kind}: "
            f"{result!r:.80}. Record a single value with Record Figure."
        )
    if prefix and not is_camel(prefix):
        raise HarnessConfigError(f"as must be a camelCase prefix such as healthy or turn, got {prefix!r}.")
    figures = result.figures()
    if not isinstance(figures, dict):
        raise HarnessConfigError(f"{kind}.figures() must return a dict of figures, got a {type(figures).__name__}.")
    data = plain(figures, f"{kind}.figures()")
    bad = non_camel_keys(data)
    if bad:
        raise HarnessConfigError(
            f"{kind}.figures() has keys that are not camelCase: {', '.join(bad)} "
            "(a figure key is a lower-case letter, then letters and digits: evictionMs, healthyReceived, p99)."
        )
    return prefixed(prefix, data)


def shown(value: float | None, spec: str, unit: str = "") -> str:
    """A measured number as a result's ``line()`` shows it: ``shown(12.34, ".1f", " ms")`` is ``12.3 ms``;
    ``None`` (not measured) is ``n/a``."""
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def rounded(value: float | None, digits: int) -> float | None:
    """A measured number rounded to ``digits`` places; ``None`` (not measured) stays ``None``, whole numbers stay."""
    return round(value, digits) if isinstance(value, float) else value


def field_figures(result: Any, *names: str, digits: int | None = None) -> dict[str, Any]:
    """The attributes ``names`` of ``result`` as figures under their camelCase keys (:func:`camel_key`:
    ``same_build`` -> ``sameBuild``, ``ab_median_delta_ms`` -> ``abMedianDeltaMs``), in that order; with
    ``digits`` every number among them is :func:`rounded`."""
    values = {camel_key(name): getattr(result, name) for name in names}
    if digits is None:
        return values
    return {key: rounded(value, digits) for key, value in values.items()}
