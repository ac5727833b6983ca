*** Settings ***
Documentation    Upstream scenario 5, burst: N create → prompt → turn end → close flows started at the same
...              moment (threads behind a barrier), with 0 failures and the same per-flow correctness as the
...              rapid lifecycle: ``turn_complete`` ``end_turn`` for that prompt's ``promptId``, N+1
...              ``session_update`` events, DELETE 204, then 404.
...
...              The daemon's default cap is 32 sessions per workspace and the warm-up session counts, so each
...              daemon is started without a session cap (``--max-sessions 0``).

Resource         ../../resources/loadtest.resource

Test Teardown    Stop All Daemons
Test Template    Concurrent Flows Should All Be Correct


*** Variables ***
${BURST_UPSTREAM}        10
${BURST_LARGE}           50
${BURST_CHUNKS}          3
${BURST_P99_BOUND_MS}    60000


*** Test Cases ***    FLOWS    CHUNKS    P99 BOUND (MS)
Burst At Upstream Size    ${BURST_UPSTREAM}    ${BURST_CHUNKS}    ${BURST_P99_BOUND_MS}
Burst Above The Default Session Cap    ${BURST_LARGE}    ${BURST_CHUNKS}    ${BURST_P99_BOUND_MS}


*** Keywords ***
Concurrent Flows Should All Be Correct
    [Documentation]    Start a daemon without a session cap, run ``${flows}`` flows together, record the
    ...    figures, then require every flow to be correct and the flow p99 to stay under ``${p99_bound_ms}``.
    [Arguments]    ${flows}    ${chunks}    ${p99_bound_ms}
    Begin Scenario    burst-concurrent-${flows}    burst=${flows}    chunks=${chunks}
    Start Daemon With Warm-Up Session    max_sessions=${0}
    ${batch}    Run Concurrent Flows    ${flows}    chunks=${chunks}
    Record Result    ${batch}
    Flows Should All Be Correct    ${batch}
    Figure Should Be At Most    burst ${flows} flow p99    ${batch.latency.p99}    ${p99_bound_ms}
    Plot Flow Latencies    ${batch}    burst of ${flows}: flow time of each concurrent flow (ms)
