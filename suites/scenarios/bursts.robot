*** Settings ***
Documentation    Burst scenarios, one per row. Each row starts its own daemon with the mock agent and runs
...              ``burst`` sessions at the same time (released together); each session sends its ``prompts``
...              prompts one after another and is then closed. The mock answers each prompt with ``chunks``
...              chunks, ``delay ms`` apart. Every prompt is timed from its own POST to the end of its own turn.
...              A row passes when every prompt completes with all its chunks, every session closes, and the
...              p99 prompt latency is within its bound.
...
...              To add a scenario, add a row (see docs/ADDING-SCENARIOS.md). Keep the default rows cheap:
...              they run in CI.

Resource         ../../resources/scenarios.resource

Test Teardown    Stop All Daemons
Test Template    Run Scenario Row


*** Test Cases ***                  BURST    PROMPTS    CHUNKS    DELAY MS    MODE    P99 BOUND MS    # robocop: fmt: off
One Session Five Prompts            1        5          3         0           echo    2000
Burst Of 5 Sessions                 5        3          5         0           echo    3000
Burst Of 10 With Slow Chunks        10       2          10        20          echo    5000
