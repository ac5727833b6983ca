*** Settings ***
Documentation    Crash durability: the daemon is SIGKILLed while several sessions are mid-turn under load, started
...              again on the same HOME, and every session is loaded. Every turn whose ``turn_complete`` a stream
...              showed before the kill must come back (replay and ledger); the turns in flight are reported: how
...              many the ledger records as completed, how many the replay holds (the agent kept the turn).

Resource         restore.resource

Test Teardown    Stop All Daemons

Test Tags        loadtest


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (restore.json).
${SNAPSHOT_KIND}     restore    # robocop: off=VAR02
${SESSIONS}          4
${KILL_AFTER}        1.5 s
${CHUNKS}            10
${CHUNK_DELAY_MS}    20


*** Test Cases ***
Turns Completed Before A SIGKILL Survive It
    [Documentation]    ${SESSIONS} sessions each run one turn after another (${CHUNKS} chunks ${CHUNK_DELAY_MS} ms
    ...    apart); SIGKILL ${KILL_AFTER} after the first prompt; restart; load each session. Records turns
    ...    completed before the kill, recovered, lost, and the turns in flight.
    Begin Scenario    crash-durability    sessions=${SESSIONS}    killAfter=${KILL_AFTER}    chunks=${CHUNKS}
    ...    chunkDelayMs=${CHUNK_DELAY_MS}
    Start Daemon With Mock Agent    max_sessions=0
    ${crash}    Run Crash Durability    ${SESSIONS}    kill_after=${KILL_AFTER}    chunks=${CHUNKS}
    ...    chunk_delay_ms=${CHUNK_DELAY_MS}
    Record Result    ${crash}
    Record Result    ${crash.kill}    as=sigkill
    Should Be Equal As Integers    ${crash.kill.exit_code}    -9    the daemon was not killed by SIGKILL
    Should Be True    ${crash.completed_before} > 0    no turn completed before the kill: ${crash.line()}
    Should Be True    ${crash.in_flight} > 0    no session was mid-turn at the kill: ${crash.line()}
    Restored Turns Should Match    ${crash.check}
