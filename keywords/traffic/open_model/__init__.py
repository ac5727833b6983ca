"""Open-model load: arrivals on a fixed-rate clock, both latencies, late and dropped starts, SSE-native figures.

A closed loop (each flow waits for its previous step) stops sampling while the daemon stalls, so its tail
percentiles come out optimistic (coordinated omission). Here every arrival has an *intended* start time
``t0 + i / rate`` set by a scheduler thread, whatever the daemon does, and two latencies are recorded:

- **response time**: intended start → done (what a user arriving on schedule would see);
- **service time**: actual send → done (what the daemon took once asked).

An arrival is **late** when it was sent more than ``late_ms`` after its intended start, and **dropped**
(k6's ``dropped_iterations``) when it could not start at all: the hand-off queue to the workers was full, or
it waited longer than ``max_start_lag_ms`` for a free worker. Dropped arrivals are not sent.

The rooms, one job each:

- :mod:`.plan`: :class:`LoadPlan`, what to drive, checked through :mod:`keywords.checks`;
- :mod:`.engine`: the arrival schedule and the workers (:func:`run_open_model`);
- :mod:`.session_tracker`: the SSE tracking of prompt turns, one long-lived subscription per session;
- :mod:`.result`: :class:`SustainedLoadResult` and its figures;
- :mod:`.drivers`: :func:`run_prompt_load` and :func:`run_lifecycle_load`.

The harness process's own CPU meter is :mod:`keywords.measure.harness_cpu`. Threads here never log and never
call Robot Framework.
"""

from __future__ import annotations

from keywords.traffic.open_model.drivers import run_lifecycle_load, run_prompt_load
from keywords.traffic.open_model.plan import LoadPlan
from keywords.traffic.open_model.result import SustainedLoadResult

__all__ = ["LoadPlan", "SustainedLoadResult", "run_lifecycle_load", "run_prompt_load"]
