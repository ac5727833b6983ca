*** Settings ***
Documentation    Upstream scenario 4: the agent child crashes on a prompt.
...
...              One agent child serves every session of a workspace, so the crash must be reported on the
...              prompting session (``turn_error``, then ``session_died``) and on every other open session
...              (``session_died`` with reason ``channel_closed``); those sessions are then gone. Recovery
...              means what upstream's reviewers asked for: a new session **and a successful prompt on it**
...              (the crash is a per-prompt mock directive, so the respawned agent serves normally), and a
...              healthy daemon.

Resource         ../../resources/loadtest.resource

Test Teardown    Stop All Daemons


*** Variables ***
${CRASH_TIMEOUT_S}    10
${RECOVERY_CHUNKS}    3


*** Test Cases ***
An Agent Crash Is Reported On Every Session And A New Session Answers A Prompt
    [Documentation]    Two open sessions besides the warm-up one; a prompt on one of them makes the agent exit 1.
    Begin Scenario    acp-crash-recovery
    ${anchor}    Start Daemon With Warm-Up Session
    ${victim}    Open Session
    ${bystander}    Open Session
    ${victim_watch}    Subscribe To Events    ${victim}    until=session_died    timeout=${CRASH_TIMEOUT_S}
    ${bystander_watch}    Subscribe To Events    ${bystander}    until=session_died    timeout=${CRASH_TIMEOUT_S}
    ${accepted}    Send Prompt    ${victim}    trigger-crash    mode=crash-on-prompt
    ${victim_seen}    Collect Events    ${victim_watch}    timeout=${CRASH_TIMEOUT_S}
    ${turn}    Turn From Stream    ${accepted}    ${victim_seen}
    ${bystander_seen}    Collect Events    ${bystander_watch}    timeout=${CRASH_TIMEOUT_S}
    ${fresh}    Open Session With Info
    ${recovered}    Prompt And Wait    ${fresh.session_id}    after-crash    chunks=${RECOVERY_CHUNKS}
    ${crash_ms}    Evaluate    round(${turn.turn_ms} or 0, 1)
    ${respawn_ms}    Evaluate    round(${fresh.elapsed_ms}, 1)
    ${crash_detected}    Evaluate    $turn.outcome in ('error', 'session_died')
    VAR    ${figures}
    ...    crash reported ${crash_ms} ms after the prompt (${turn.outcome}: ${turn.error_message})
    ...    · new session in ${respawn_ms} ms (agent respawn) · prompt after recovery ${recovered.summary()}
    ...    separator=${SPACE}
    Record Loadtest Figures
    ...    acp-crash-recovery
    ...    ${figures}
    ...    crashDetected=${crash_detected}
    ...    recoverySucceeded=${{$recovered.outcome == 'completed'}}
    ...    crashReportedMs=${crash_ms}
    ...    respawnSessionMs=${respawn_ms}
    ...    recoveryTurnMs=${recovered.turn_ms}
    ...    bystanderTerminal=${bystander_seen.terminal}
    Turn Should End With    ${turn}    error
    Should Contain    ${turn.error_message}    agent channel closed
    Stream Should Have Ended With    ${victim_seen}    terminal    session_died
    Stream Should Have Ended With    ${bystander_seen}    terminal    session_died
    Should Be Equal    ${bystander_seen.terminal_data}[reason]    channel_closed
    Should Be Equal As Integers    ${bystander_seen.terminal_data}[exitCode]    1
    Session Should Be Gone    ${victim}
    Session Should Be Gone    ${bystander}
    Session Should Be Gone    ${anchor}
    Turn Should Complete    ${recovered}    chunks=${RECOVERY_CHUNKS}
    Daemon Should Be Healthy    deep=${True}
