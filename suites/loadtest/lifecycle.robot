*** Settings ***
Documentation    Upstream scenario 1, rapid lifecycle: create → prompt → turn end → close cycles, one
...              after another.
...
...              Upstream only bounded the p99 (30 s for a cycle that takes about 20 ms), so the assertions
...              that matter are per flow: the turn ends with ``turn_complete`` ``end_turn`` for that prompt's
...              ``promptId``, the session saw exactly N+1 ``session_update`` events (the daemon's echo of
...              the prompt plus N chunks), DELETE answers 204 and the session then answers 404.

Resource         ../../resources/loadtest.resource

Test Teardown    Stop All Daemons


*** Variables ***
${CYCLES}                20
${CYCLE_CHUNKS}          3
${CYCLE_P99_BOUND_MS}    30000


*** Test Cases ***
Rapid Lifecycle Of Sequential Create Prompt Close Cycles
    [Documentation]    ${CYCLES} sequential thread-session cycles; each one must be correct, and the cycle
    ...    p99 stays under upstream's bound.
    Begin Scenario    rapid-lifecycle    cycles=${CYCLES}    chunks=${CYCLE_CHUNKS}
    Start Daemon With Warm-Up Session
    ${batch}    Run Lifecycle Cycles    ${CYCLES}    chunks=${CYCLE_CHUNKS}
    Record Result    ${batch}
    Flows Should All Be Correct    ${batch}
    Figure Should Be At Most    cycle p99    ${batch.latency.p99}    ${CYCLE_P99_BOUND_MS}
    Plot Flow Latencies    ${batch}    rapid lifecycle: cycle time of ${batch.count} sequential cycles (ms)
