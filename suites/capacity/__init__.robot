*** Settings ***
Documentation    How much the daemon takes: capacity search per workload.
...
...              The arrival rate goes up in steps, then bisects to the highest rate at which the SLO holds for a
...              whole step (p99 response time from the intended start under a bound, no errors, no dropped
...              arrivals). A step stops early once a bound can no longer hold. Every step is kept with its
...              figures and whether the harness (a load-generating process saturated) or the daemon set the
...              limit; a step broken by a saturated harness is run again with one more process. Figures go to
...              ``results/capacity.json`` / ``.md``; the log has a table of the steps and the knee plot.
...              Run with ``robot --include capacity suites/``.

Test Tags        capacity
