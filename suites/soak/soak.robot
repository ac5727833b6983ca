*** Settings ***
Documentation    Soaks against the daemon with the mock agent: prompts at a constant rate, and session churn
...              (create + close) that also reports the memory the daemon keeps per created session. Point
...              ``DAEMON_ENTRY`` at another build to soak it.

Resource         ../../resources/qwen_serve.resource

Test Teardown    Stop All Daemons


*** Variables ***
${SNAPSHOT_KIND}               soak    # robocop: off=VAR02
${SOAK_DURATION}               10 min
${SHORT_SOAK_DURATION}         60 s
${WARM_UP}                     60 s
${SHORT_WARM_UP}               10 s
${INTERVAL}                    2 s
${MEMORY_BOUND_MB_PER_HOUR}    50
${COUNT_BOUND_PER_HOUR}        60
${RATE}                        10
${CHURN_RATE}                  5
${SESSIONS}                    5
${MOCK_CHUNKS}                 3
${EVENT_RING_SIZE}             500    # the daemon's replay ring per session: small, so it fills in the warm-up


*** Test Cases ***
Prompts At A Constant Rate For The Soak Duration
    [Documentation]    ${RATE} prompts/s over ${SESSIONS} sessions for ${SOAK_DURATION}; no series may leak.
    [Tags]    manual
    ${plan}    Plan Soak    constant    duration=${SOAK_DURATION}    warm_up=${WARM_UP}    interval=${INTERVAL}
    ...    memory_bound_mb_per_hour=${MEMORY_BOUND_MB_PER_HOUR}    count_bound_per_hour=${COUNT_BOUND_PER_HOUR}
    ...    rate=${RATE}    sessions=${SESSIONS}    chunks=${MOCK_CHUNKS}
    Soak And Judge    soak-constant-prompts    ${plan}

Session Churn For The Soak Duration
    [Documentation]    ${CHURN_RATE} session create + close pairs per second for ${SOAK_DURATION}; no series may
    ...    leak, and the memory retained per created session is reported with its interval.
    [Tags]    manual    churn
    ${plan}    Plan Soak    churn    duration=${SOAK_DURATION}    warm_up=${WARM_UP}    interval=${INTERVAL}
    ...    memory_bound_mb_per_hour=${MEMORY_BOUND_MB_PER_HOUR}    count_bound_per_hour=${COUNT_BOUND_PER_HOUR}
    ...    rate=${CHURN_RATE}
    Soak And Judge    soak-session-churn    ${plan}

Short Soak Proves The Machinery
    [Documentation]    ${RATE} prompts/s for ${SHORT_SOAK_DURATION}: every series is sampled, fitted and judged
    ...    with its interval. A minute cannot tell a leak from a daemon still warming up (its heap and ring
    ...    grow for minutes), so the verdicts are recorded, not asserted.
    [Tags]    soak-short
    ${plan}    Plan Soak    constant    duration=${SHORT_SOAK_DURATION}    warm_up=${SHORT_WARM_UP}
    ...    interval=1 s    memory_bound_mb_per_hour=${MEMORY_BOUND_MB_PER_HOUR}
    ...    count_bound_per_hour=${COUNT_BOUND_PER_HOUR}    rate=${RATE}    sessions=${SESSIONS}
    ...    chunks=${MOCK_CHUNKS}
    Begin Scenario    soak-short    &{plan.parameters()}
    Start Daemon With Mock Agent    chunks=${MOCK_CHUNKS}    max_sessions=0    event_ring_size=${EVENT_RING_SIZE}
    ${soak}    Run Soak    ${plan}
    Record Result    ${soak}
    Plot Soak Series    ${soak}
    Load Should Have Completed    ${soak.load}
    Soak Should Have Judged Every Series    ${soak}


*** Keywords ***
Soak And Judge
    [Documentation]    Start the daemon with the mock agent (a replay ring of ${EVENT_RING_SIZE} events a session),
    ...    run the soak, record every series' verdict and plot it with its fit, then fail if any series leaks.
    [Arguments]    ${name}    ${plan}
    Begin Scenario    ${name}    &{plan.parameters()}
    Start Daemon With Mock Agent    chunks=${MOCK_CHUNKS}    max_sessions=0    event_ring_size=${EVENT_RING_SIZE}
    ${soak}    Run Soak    ${plan}
    Record Result    ${soak}
    Plot Soak Series    ${soak}
    Load Should Have Completed    ${soak.load}
    Soak Should Not Leak    ${soak}
