*** Settings ***
Documentation    Connection stress tests of the ``qwen serve`` daemon: upstream's five loadtest scenarios
...              (rapid lifecycle, SSE slow-consumer eviction, Last-Event-ID reconnect, agent crash recovery,
...              concurrent burst), made deterministic, plus agent failures (reject, hang with cancel and
...              with a server deadline).
...
...              Run them before a merge with ``robot --include loadtest suites/``. Every test starts its own
...              daemon with the mock agent in a fresh HOME and workspace and stops it afterwards.
...              Counts and bounds are variables (``--variable CYCLES:50``). Figures go to
...              ``results/loadtest-report.json`` / ``.md`` and to each test's message.

Test Tags        loadtest
