*** Settings ***
Documentation    Sustained open-model load: prompts (and, separately, session create + close) arrive at a
...              fixed rate whatever the daemon does, so a stall shows up in the tail instead of being hidden
...              by a closed loop (coordinated omission).
...
...              Every arrival has an intended start time. *Response time* counts from it, *service time* from
...              the actual send, both to the turn's end as seen on the session's SSE stream. An arrival sent
...              more than ``${LATE_TOLERANCE_MS}`` ms after its intended start is *late*; one that could not
...              start at all is *dropped*. Both latencies go into HdrHistograms (p99.9 and max exact), and the
...              harness's own CPU is measured: the result says when the harness, not the daemon, was the
...              bottleneck. These tests sit outside the loadtest wall-time target (20 s of schedule each by
...              default); run them alone with ``robot --include sustained suites/loadtest``.

Resource         ../../resources/loadtest.resource

Test Teardown    Stop All Daemons

Test Tags        sustained


*** Variables ***
${RATE}                     10
${DURATION}                 20
${SESSIONS}                 5
${WORKERS}                  16
${LATE_TOLERANCE_MS}        10
${MOCK_CHUNKS}              3
${LIFECYCLE_RATE}           5
${LIFECYCLE_DURATION}       10
${RESPONSE_P99_BOUND_MS}    30000


*** Test Cases ***
Prompts At A Steady Arrival Rate Over Several Sessions
    [Documentation]    ${RATE} prompts/s for ${DURATION} s, round-robin over ${SESSIONS} sessions, mock replying
    ...    at once with ${MOCK_CHUNKS} chunks. Every prompt is sent (none dropped), every turn ends with
    ...    ``turn_complete`` and streams its echo, chunks and end, and the report shows both latencies, the
    ...    late-start count and the SSE figures (time to first chunk, gaps between a prompt's events, delivery
    ...    delay from ``serverTimestamp``).
    Start Daemon With Mock Agent    chunks=${MOCK_CHUNKS}    max_sessions=0
    ${load}    Run Sustained Prompt Load
    ...    rate=${RATE}    duration=${DURATION}    sessions=${SESSIONS}    workers=${WORKERS}
    ...    late_tolerance_ms=${LATE_TOLERANCE_MS}
    Begin Scenario    sustained-prompts    &{load.plan.parameters()}
    Record Result    ${load}
    Report Figures    ${load.sse_line()}
    Warn If Harness Saturated    ${load}
    Load Should Have Completed    ${load}
    Load Should Have Streamed Whole Turns    ${load}    chunks=${MOCK_CHUNKS}
    Figure Should Be At Most    response p99    ${load.response.p99}    ${RESPONSE_P99_BOUND_MS}
    Plot Load Percentiles    ${load}
    ...    ${RATE} prompts/s, ${load.completed} turns: response and service time by percentile (to turn end)
    Plot Load Per Second    ${load}    ${RATE} prompts/s: turns ended and SSE frames per second
    ...    turns ended (turn_complete)

Session Create And Close At A Steady Arrival Rate
    [Documentation]    ${LIFECYCLE_RATE} create + close pairs per second for ${LIFECYCLE_DURATION} s: each
    ...    create answers 200 and each close 204; both latencies and the late-start count are reported.
    Start Daemon With Mock Agent    max_sessions=0
    ${load}    Run Sustained Session Load
    ...    rate=${LIFECYCLE_RATE}    duration=${LIFECYCLE_DURATION}    workers=${WORKERS}
    ...    late_tolerance_ms=${LATE_TOLERANCE_MS}
    Begin Scenario    sustained-session-lifecycle    &{load.plan.parameters()}
    Record Result    ${load}
    Warn If Harness Saturated    ${load}
    Load Should Have Completed    ${load}
    Figure Should Be At Most    response p99    ${load.response.p99}    ${RESPONSE_P99_BOUND_MS}
    Plot Load Percentiles    ${load}
    ...    ${LIFECYCLE_RATE} creates+closes/s, ${load.completed} pairs: response and service time by percentile
    Plot Load Per Second    ${load}    ${LIFECYCLE_RATE} creates+closes/s: pairs completed per second
    ...    create+close pairs done
