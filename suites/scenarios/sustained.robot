*** Comments ***
# robocop: off=line-too-long


*** Settings ***
Documentation    Sustained load, one scenario per row, with its bounds (a service level objective): arrivals
...              come at ``RATE`` per second for ``DURATION S`` seconds whatever the daemon does. ``WORKLOAD``
...              ``prompts`` sends prompts round-robin to ``SESSIONS`` sessions (answers of ``CHUNKS`` pieces,
...              then ``TOOL CALLS`` tool calls of which ``PERMISSIONS`` ask a permission the harness allows);
...              ``sessions`` creates and closes a session per arrival. A row passes when every bound holds:
...              p99 response time, errors, late and dropped arrivals; otherwise it lists every bound it breached
...              with the measured value. With tool calls every answered prompt must also have shown them and
...              asked its permissions, every answer accepted.
...
...              A row is one line under the header, so the file allows lines longer than 120 characters.
...              To add a row, follow docs/ADDING-SCENARIOS.md. Keep these rows short: they run in CI.

Resource         ../../resources/scenarios.resource

Test Teardown    Stop All Daemons
Test Template    Run Sustained Load Row

Test Tags        table:sustained


*** Test Cases ***                   WORKLOAD    RATE    DURATION S    SESSIONS    CHUNKS    TOOL CALLS    PERMISSIONS    P99 BOUND MS    MAX ERRORS    MAX LATE    MAX DROPPED    # robocop: fmt: off
Ten Prompts A Second                 prompts     10      5             5           3         0             0              3000            0             10          0
Ten Tool-Call Prompts A Second       prompts     10      5             5           3         4             1              3000            0             10          0
Five Sessions A Second               sessions    5       5             -           -         -             -              3000            0             10          0
