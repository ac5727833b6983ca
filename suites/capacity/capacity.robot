*** Settings ***
Documentation    One capacity search per workload against the daemon with the mock agent: prompts over
...              ${SESSIONS} sessions, session create + close, and SSE fan-out (${SUBSCRIBERS} subscribers a
...              session). Each reports the capacity, the SLO it held, the first rate that broke it and why, and
...              who was the bottleneck at each step.

Resource         ../../resources/qwen_serve.resource

Test Teardown    Stop All Daemons


*** Variables ***
${SNAPSHOT_KIND}           capacity    # robocop: off=VAR02
${P99_BOUND_MS}            100
${MAX_ERRORS}              0
${MAX_DROPPED}             0
${STEP}                    4 s
${TIME_BUDGET}             60 s
${SEARCH_BOUND}            2 min
${BISECTIONS}              3
${MAX_PROCESSES}           2
${SESSIONS}                8
${SUBSCRIBERS}             8
${MOCK_CHUNKS}             3
${PROMPT_START_RATE}       50
${LIFECYCLE_START_RATE}    25
${FANOUT_START_RATE}       25
${TOOL_START_RATE}         10
${TOOL_CALLS}              8
${TOOL_OUTPUT_BYTES}       2048
${PERMISSIONS}             2
${TOOL_P99_BOUND_MS}       250


*** Test Cases ***
Capacity Of Prompts Over Several Sessions
    [Documentation]    Prompts round-robin over ${SESSIONS} sessions, the mock replying at once with
    ...    ${MOCK_CHUNKS} chunks; done is the turn's end on the session's stream.
    ${plan}    Plan Capacity Search    prompt    p99_bound_ms=${P99_BOUND_MS}    max_errors=${MAX_ERRORS}
    ...    max_dropped=${MAX_DROPPED}    start_rate=${PROMPT_START_RATE}    step=${STEP}
    ...    time_budget=${TIME_BUDGET}    bisections=${BISECTIONS}    max_processes=${MAX_PROCESSES}
    ...    sessions=${SESSIONS}    chunks=${MOCK_CHUNKS}
    Search Capacity And Report    capacity-prompts    ${plan}

Capacity Of Session Create And Close
    [Documentation]    ``POST /session`` then ``DELETE``; done is the close's 204.
    ${plan}    Plan Capacity Search    lifecycle    p99_bound_ms=${P99_BOUND_MS}    max_errors=${MAX_ERRORS}
    ...    max_dropped=${MAX_DROPPED}    start_rate=${LIFECYCLE_START_RATE}    step=${STEP}
    ...    time_budget=${TIME_BUDGET}    bisections=${BISECTIONS}    max_processes=${MAX_PROCESSES}
    Search Capacity And Report    capacity-session-lifecycle    ${plan}

Capacity Of SSE Fan-Out
    [Documentation]    Prompts over 2 sessions with ${SUBSCRIBERS} SSE streams each; done is the turn's end on
    ...    every stream of the session.
    ${plan}    Plan Capacity Search    fanout    p99_bound_ms=${P99_BOUND_MS}    max_errors=${MAX_ERRORS}
    ...    max_dropped=${MAX_DROPPED}    start_rate=${FANOUT_START_RATE}    step=${STEP}
    ...    time_budget=${TIME_BUDGET}    bisections=${BISECTIONS}    max_processes=${MAX_PROCESSES}
    ...    sessions=2    subscribers=${SUBSCRIBERS}    chunks=${MOCK_CHUNKS}
    Search Capacity And Report    capacity-sse-fan-out    ${plan}

Capacity Of Tool-Call Turns That Ask Permissions
    [Documentation]    Prompts over ${SESSIONS} sessions whose turns look like a coding agent's: ${TOOL_CALLS} tool
    ...    calls with ${TOOL_OUTPUT_BYTES}-byte outputs, a plan and a usage update, ${PERMISSIONS} of the tool calls
    ...    asking permission, which the load generator allows as soon as it reads the request. The SSE figures
    ...    and the event mix are those a real client sees.
    ${plan}    Plan Capacity Search    prompt    p99_bound_ms=${TOOL_P99_BOUND_MS}    max_errors=${MAX_ERRORS}
    ...    max_dropped=${MAX_DROPPED}    start_rate=${TOOL_START_RATE}    step=${STEP}
    ...    time_budget=${TIME_BUDGET}    bisections=${BISECTIONS}    max_processes=${MAX_PROCESSES}
    ...    sessions=${SESSIONS}    answer_permissions=allow    chunks=${MOCK_CHUNKS}    tool_calls=${TOOL_CALLS}
    ...    tool_output_bytes=${TOOL_OUTPUT_BYTES}    plan_entries=3    usage=on    permissions=${PERMISSIONS}
    Search Capacity And Report    capacity-tool-call-turns    ${plan}

Bad Capacity Arguments Fail Before Any Daemon Starts
    [Documentation]    A word where a rate belongs, an unknown workload, a negative rate, a factor of 1, an empty
    ...    SLO and fewer processes allowed than asked for are refused
    ...    by `Plan Capacity Search`, which starts nothing, each naming the argument and the value.
    [Template]    Capacity Plan Should Be Refused
    *start_rate*'fast'*    start_rate=fast
    *workload*'burst'*'prompt', 'lifecycle' or 'fanout'*    workload=burst
    HarnessConfigError: start_rate must be a number above 0 and at most 5000 per second, got -5.0*    start_rate=-5
    HarnessConfigError: factor must be a number above 1 and at most 10, got 1.0.    factor=1
    HarnessConfigError: The capacity search needs at least one SLO bound*    p99_bound_ms=${None}
    ...    max_errors=${None}    max_dropped=${None}
    HarnessConfigError: max_processes must be a whole number from 3 to 16, got 2.    processes=3    max_processes=2


*** Keywords ***
Search Capacity And Report
    [Documentation]    Start the daemon with the mock agent (no session cap), search, record the result and its
    ...    knee plot, then check that a capacity and the rate that broke its SLO were found within the bound.
    [Arguments]    ${name}    ${plan}
    Begin Scenario    ${name}    &{plan.parameters()}
    Start Daemon With Mock Agent    chunks=${MOCK_CHUNKS}    max_sessions=0
    ${capacity}    Find Capacity    ${plan}
    Record Result    ${capacity}
    Plot Capacity Knee    ${capacity}
    Capacity Should Have Been Found    ${capacity}    within=${SEARCH_BOUND}

Capacity Plan Should Be Refused
    [Documentation]    `Plan Capacity Search` with ``&{arguments}`` fails with a message matching ``${pattern}``.
    [Arguments]    ${pattern}    &{arguments}
    Run Keyword And Expect Error    ${pattern}    Plan Capacity Search    &{arguments}
