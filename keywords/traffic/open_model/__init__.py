"""Open-model load: arrivals on a fixed-rate clock, both latencies, late and dropped starts, SSE-native figures.

A closed loop (each flow waits for its previous step) stops sampling while the daemon stalls, so its tail
percentiles come out optimistic (coordinated omission). Here every arrival has an *intended* start time
``t0 + i / rate``, whatever the daemon does, and two latencies are recorded:

- **response time**: intended start → done (what a user arriving on schedule would see);
- **service time**: actual send → done (what the daemon took once asked).

An arrival is **late** when it was sent more than ``late_ms`` after its intended start, and **dropped**
(k6's ``dropped_iterations``) when it could not start at all: the queue of arrivals waiting for a connection
was full, or it waited longer than ``max_start_lag_ms`` for one. Dropped arrivals are not sent.

The rooms, one job each:

- :mod:`.plan`: :class:`LoadPlan`, what to drive, checked through :mod:`keywords.checks`;
- :mod:`.slo`: :class:`Slo`, the bounds a run must keep, each bound's measured value and the early stop;
- :mod:`.result`: :class:`SustainedLoadResult` and its figures, folded from the processes' reports;
- :mod:`.drivers`: :func:`run_load`, :func:`run_prompt_load` and :func:`run_lifecycle_load`.

The schedule, the connections and the SSE tracking run in load-generating processes
(:mod:`keywords.traffic.loadgen`), each judged by the saturation rule of :mod:`keywords.measure.harness_cpu`.
Nothing here logs or calls Robot Framework.
"""

from __future__ import annotations

from keywords.traffic.open_model.drivers import run_lifecycle_load, run_load, run_prompt_load
from keywords.traffic.open_model.plan import LoadPlan
from keywords.traffic.open_model.result import SustainedLoadResult
from keywords.traffic.open_model.slo import Slo, SloVerdict

__all__ = ["LoadPlan", "Slo", "SloVerdict", "SustainedLoadResult", "run_lifecycle_load", "run_load", "run_prompt_load"]
