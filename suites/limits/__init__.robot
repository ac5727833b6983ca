*** Settings ***
Documentation    The daemon's limits and failure paths, one scenario each: what it does at every cap, when its
...              timers fire, when its agent or its clients misbehave, and when it is shut down under load.
...
...              Each test asserts the behaviour measured on 0.24.4 (``daemon-api.md``), records its timings
...              in the test message, checks that the daemon still serves a fresh session afterwards, and
...              flags behaviour that looks wrong with a ``FINDING:`` line. Run with
...              ``robot --include limits suites/``.

Test Tags        loadtest    limits
