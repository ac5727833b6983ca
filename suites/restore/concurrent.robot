*** Settings ***
Documentation    Concurrent restores of one session coalesce: N clients load the same session at the same instant;
...              the agent is asked once (its report shows one ``session/load``) and every client gets the same
...              replay. The agent takes ${LOAD_DELAY_MS} ms to restore, so the loads overlap.

Resource         restore.resource

Test Teardown    Stop All Daemons

Test Tags        loadtest


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (restore.json).
${SNAPSHOT_KIND}    restore    # robocop: off=VAR02
${CLIENTS}          8
${TURNS}            3
${LOAD_DELAY_MS}    300


*** Test Cases ***
Loads Of A Closed Session At Once Reach The Agent Once
    [Documentation]    One session runs ${TURNS} turns and is closed; ${CLIENTS} clients load it at once.
    Begin Scenario    concurrent-loads-closed    clients=${CLIENTS}    turns=${TURNS}    loadDelayMs=${LOAD_DELAY_MS}
    Start Daemon With Mock Agent    load_delay_ms=${LOAD_DELAY_MS}    max_sessions=0
    ${seen}    Run Remembered Turns    1    ${TURNS}    chunks=5
    Close Session    ${seen.session_ids}[0]
    Loads At Once Coalesce    ${seen}

Loads After A Restart At Once Reach The Agent Once
    [Documentation]    One session runs ${TURNS} turns; the daemon restarts; ${CLIENTS} clients load it at once
    ...    (the first restore after the restart also starts the agent).
    Begin Scenario    concurrent-loads-restart    clients=${CLIENTS}    turns=${TURNS}    loadDelayMs=${LOAD_DELAY_MS}
    Start Daemon With Mock Agent    load_delay_ms=${LOAD_DELAY_MS}    max_sessions=0
    ${seen}    Run Remembered Turns    1    ${TURNS}    chunks=5
    Restart Daemon
    Loads At Once Coalesce    ${seen}


*** Keywords ***
Loads At Once Coalesce
    [Documentation]    ${CLIENTS} loads of the session of ``${seen}`` at once: all restored, the agent asked once,
    ...    one replay for all, holding every turn seen. Two or more agent restores are a daemon finding (upstream
    ...    documents concurrent restores of one session as coalesced).
    [Arguments]    ${seen}
    ${together}    Restore Session Together    ${seen.session_ids}[0]    ${CLIENTS}
    Record Result    ${together}
    Should Be Equal As Integers    ${together.figures()}[restored]    ${CLIENTS}    ${together.line()}
    Should Be Equal As Integers    ${together.distinct_replays}    1    the clients got different replays
    Length Should Be    ${together.replays}[0]    ${TURNS}    the replay should hold the ${TURNS} turns
    IF    ${together.agent_restores} > 1
        Skip As Known Daemon Finding    coalescing
        ...    ${CLIENTS} concurrent loads reached the agent ${together.agent_restores} times: ${together.line()}
    END
    Should Be Equal As Integers    ${together.agent_restores}    1    ${together.line()}
