"""The A/B room: the interleaved A B B A engine (:mod:`.abba`) and the run of two daemon builds through it
(:mod:`.daemon_builds`).

The engine's names are importable from here: ``from keywords.measure import ab; ab.BuildComparison(...)``.
"""

from keywords.measure.ab.abba import (
    BLOCK,
    NOT_MEASURED,
    BuildComparison,
    BuildRun,
    MetricComparison,
    abba_order,
    median,
)

__all__ = ["BLOCK", "NOT_MEASURED", "BuildComparison", "BuildRun", "MetricComparison", "abba_order", "median"]
