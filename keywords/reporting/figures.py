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

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

_CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")


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
