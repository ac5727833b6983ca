*** Comments ***
# robocop: off=line-too-long


*** Settings ***
Documentation    Bursts, one scenario per row: ``BURST`` sessions start at the same moment; each sends its
...              ``PROMPTS`` prompts one after another and is then closed. The mock agent answers each prompt with
...              ``CHUNKS`` pieces, ``DELAY MS`` apart, in the ``MODE`` the row names on the prompts ``MODE ON``
...              names. Every prompt is timed from its own POST to the end of its own answer. A row passes when
...              what ``EXPECTED`` says happens and the p99 answer time is within ``P99 BOUND MS``. A row is one
...              line under the header, so the file allows lines longer than 120 characters.
...
...              To add a row, follow docs/ADDING-SCENARIOS.md. Keep these rows cheap: they run in CI.

Resource         ../../resources/scenarios.resource

Test Teardown    Stop All Daemons
Test Template    Run Burst Row

Test Tags        table:bursts


*** Test Cases ***                  BURST    PROMPTS    CHUNKS    DELAY MS    MODE               MODE ON         P99 BOUND MS    EXPECTED              # robocop: fmt: off
One Session Five Prompts            1        5          3         0           echo               every prompt    2000            completes
Burst Of 5 Sessions                 5        3          5         0           echo               every prompt    3000            completes
Burst Of 10 With Slow Chunks        10       2          10        20          echo               every prompt    5000            completes
Only The First Prompt Is Rejected   2        3          1         0           reject             first prompt    3000            ends with an error
An Agent Crash Ends Every Session   3        2          3         0           crash-on-prompt    first prompt    -               session dies
