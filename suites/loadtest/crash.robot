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
    Begin Scenario    acp-crash-recovery    recoveryChunks=${RECOVERY_CHUNKS}
    ${anchor}    Start Daemon With Warm-Up Session
    ${victim}    Open Session
    ${bystander}    Open Session
    ${turn}    ${victim_seen}    ${bystander_seen}    Crash The Agent On A Prompt    ${victim}    ${bystander}
    ${fresh}    ${recovered}    Open A New Session And Prompt It
    Record Result    ${turn}    as=crash
    Record Result    ${bystander_seen}    as=bystander
    Record Result    ${fresh}    as=respawn
    Record Result    ${recovered}    as=recovery
    The Crash Should Be Reported On The Prompting Session    ${turn}    ${victim_seen}
    Stream Should Have Ended With    ${bystander_seen}    terminal    session_died    reason=channel_closed
    ...    exit_code=1
    Sessions Should Be Gone    ${victim}    ${bystander}    ${anchor}
    Turn Should Complete    ${recovered}    chunks=${RECOVERY_CHUNKS}
    Daemon Should Be Healthy    deep=${True}


*** Keywords ***
Crash The Agent On A Prompt
    [Documentation]    Watch both sessions' event streams, send ``${victim}`` a prompt that makes the mock agent
    ...    exit 1, and collect what each stream saw until its ``session_died``. Returns the prompt's turn (read
    ...    from the stream subscribed before the prompt: the session is gone within milliseconds), the victim's
    ...    stream and the bystander's.
    [Arguments]    ${victim}    ${bystander}
    ${victim_watch}    Subscribe To Events    ${victim}    until=session_died    timeout=${CRASH_TIMEOUT_S}
    ${bystander_watch}    Subscribe To Events    ${bystander}    until=session_died    timeout=${CRASH_TIMEOUT_S}
    ${accepted}    Send Prompt    ${victim}    trigger-crash    mode=crash-on-prompt
    ${victim_seen}    Collect Events    ${victim_watch}    timeout=${CRASH_TIMEOUT_S}
    ${turn}    Turn From Stream    ${accepted}    ${victim_seen}
    ${bystander_seen}    Collect Events    ${bystander_watch}    timeout=${CRASH_TIMEOUT_S}
    RETURN    ${turn}    ${victim_seen}    ${bystander_seen}

Open A New Session And Prompt It
    [Documentation]    Create a session (the daemon respawns the agent for it) and send it one prompt of
    ...    ``${RECOVERY_CHUNKS}`` chunks. Returns the session's creation and the prompt's turn.
    ${fresh}    Open Session With Info
    ${recovered}    Prompt And Wait    ${fresh.session_id}    after-crash    chunks=${RECOVERY_CHUNKS}
    RETURN    ${fresh}    ${recovered}

The Crash Should Be Reported On The Prompting Session
    [Documentation]    The crashed prompt's turn ends with ``turn_error`` saying the agent channel closed (the
    ...    agent stopped: ``happened`` is ``sessionDied``), and the session's stream ends with ``session_died``.
    [Arguments]    ${turn}    ${stream}
    Turn Should End With    ${turn}    error
    Should Be Equal    ${turn.happened}    sessionDied    the turn_error should say the agent channel closed
    Stream Should Have Ended With    ${stream}    terminal    session_died

Sessions Should Be Gone
    [Documentation]    Every session given answers 404 on its status route.
    [Arguments]    @{sessions}
    FOR    ${sid}    IN    @{sessions}
        Session Should Be Gone    ${sid}
    END
