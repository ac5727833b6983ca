"""Exact resource counters as figures: the ``/usr/bin/time -v`` fields of ``getrusage``/``wait4`` readings.

The exact counters come from two places: the ``wait4`` rusage of a CLI run
(:class:`~keywords.fakes.oneshot_cli.Rusage`) and the ``RUSAGE_CHILDREN`` delta around a daemon's life
(:func:`rusage_delta`). :func:`counter_figures` gives both the keys the sampled
:meth:`keywords.measure.resource_profile.ResourceProfile.figures` uses (``userCpuS``,
``voluntaryCtxSwitches``...), so a report can set sampled and exact figures side by side.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import dataclasses
from typing import Any

COUNTER_KEYS = {
    "max_rss_mb": "maxRssMB",
    "user_cpu_s": "userCpuS",
    "system_cpu_s": "systemCpuS",
    "voluntary_ctx_switches": "voluntaryCtxSwitches",
    "involuntary_ctx_switches": "involuntaryCtxSwitches",
    "minor_page_faults": "minorPageFaults",
    "major_page_faults": "majorPageFaults",
}
"""Field name of a counter -> its figure key."""


def counter_figures(counters: Any) -> dict[str, Any] | None:
    """A counter dataclass or dict under the figure keys of :data:`COUNTER_KEYS` (``None`` stays ``None``).

    Raises:
        KeyError: a field that has no figure key (a new counter must be named in :data:`COUNTER_KEYS`).
    """
    if counters is None:
        return None
    values = dataclasses.asdict(counters) if dataclasses.is_dataclass(counters) else dict(counters)
    return {COUNTER_KEYS[name]: value for name, value in values.items()}


def rusage_delta(before: Any, after: Any) -> dict[str, Any]:
    """``after - before`` of two ``getrusage`` readings (CPU seconds to 3 decimals; ``ru_maxrss`` left out).

    ``ru_maxrss`` is the largest process ever reaped, not a count, so a difference of two readings means
    nothing. Keys are the field names of :data:`COUNTER_KEYS` (give the dict to :func:`counter_figures`).
    """
    return {
        "user_cpu_s": round(after.ru_utime - before.ru_utime, 3),
        "system_cpu_s": round(after.ru_stime - before.ru_stime, 3),
        "voluntary_ctx_switches": after.ru_nvcsw - before.ru_nvcsw,
        "involuntary_ctx_switches": after.ru_nivcsw - before.ru_nivcsw,
        "minor_page_faults": after.ru_minflt - before.ru_minflt,
        "major_page_faults": after.ru_majflt - before.ru_majflt,
    }
