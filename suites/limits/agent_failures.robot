*** Settings ***
Documentation    Agent failures: an agent that never answers ``initialize``, exits during it, or omits the
...              tool-guard acknowledgement; one that writes a non-JSON line on stdout; one that ignores
...              cancel. Each failure is checked as the daemon reports it, then the daemon must serve a
...              fresh session (the mock is switched back to a healthy start-up where needed).

Resource         ../../resources/limits.resource

Test Teardown    Stop All Daemons

Test Tags        agent-failures


*** Variables ***
${INIT_TIMEOUT_MS}       2000
${INIT_MARGIN_MS}        1500
${CANCEL_DEADLINE_MS}    2000
${STILL_ACTIVE_S}        1


*** Test Cases ***
Initialize Never Answered Gives 504 Init Timeout
    [Documentation]    An agent that never answers ``initialize``: ``POST /session`` gets 504 ``init_timeout``
    ...    within ``--initialize-timeout-ms ${INIT_TIMEOUT_MS}`` plus ${INIT_MARGIN_MS} ms (it may join the
    ...    daemon's own preheat already under way), and the agent is killed.
    [Tags]    init
    Start Daemon With Mock Agent    init=never    initialize_timeout_ms=${INIT_TIMEOUT_MS}
    ${t0}    Start Clock
    ${err}    Open Session Should Fail    504    init_timeout
    ${ms}    Milliseconds Since    ${t0}
    Should Be True    ${ms} <= ${INIT_TIMEOUT_MS} + ${INIT_MARGIN_MS}    504 came after ${ms} ms
    Should Be True    ${err.body}[retryable]
    Should Be True    ${err.body}[timeoutMs] <= ${INIT_TIMEOUT_MS}
    Should Contain    ${err.body}[error]    initialize timed out
    Wait Until Keyword Succeeds    5 s    100 ms    No Agent Should Run
    ${serve_ms}    Recover With A Healthy Agent
    Record Figures
    ...    init timeout ${INIT_TIMEOUT_MS} ms: 504 ${err.code} after ${ms} ms (daemon timeoutMs ${err.body}[timeoutMs]
    ...    phase ${err.body}[phase])
    ...    after switching the mock back: fresh session + turn ${serve_ms} ms

Agent Failing During Initialize Gives 500 With The Daemon's Message
    [Documentation]    An agent that exits on ``initialize``, or answers it without the tool-guard
    ...    acknowledgement: ``POST /session`` gets 500 with the daemon's explanation.
    [Tags]    init
    [Template]    Session Creation Should Fail With 500
    exit    agent channel closed during initialize
    no-guard    did not acknowledge the required external tool guard

Non-JSON Line On Agent Stdout Kills Every Session Of That Agent
    [Documentation]    The agent writes one non-JSON line during a prompt: every session on that agent gets
    ...    ``session_died`` ``channel_closed`` (the active turn a ``turn_error`` first); the sessions are
    ...    gone; the next ``POST /session`` spawns a new agent and its prompt completes.
    Start Daemon With Mock Agent
    ${victim}    Open Session
    ${bystander}    Open Session
    ${before}    Get Agent Pids
    ${victim_sub}    Subscribe To Events    ${victim}    timeout=10
    ${bystander_sub}    Subscribe To Events    ${bystander}    timeout=10
    ${t0}    Start Clock
    Send Prompt    ${victim}    corrupt the channel    mode=garbage    chunks=3
    ${victim_stream}    Collect Events    ${victim_sub}    timeout=10
    ${bystander_stream}    Collect Events    ${bystander_sub}    timeout=10
    ${died_ms}    Milliseconds Since    ${t0}
    FOR    ${stream}    IN    ${victim_stream}    ${bystander_stream}
        Stream Should Have Ended With    ${stream}    terminal    session_died
        Should Be Equal    ${stream.terminal_data}[reason]    channel_closed
    END
    Stream Should Contain Event    ${victim_stream}    turn_error
    Session Should Be Gone    ${victim}
    Session Should Be Gone    ${bystander}
    Wait For Daemon Stderr Line    transport=ndjson_parse_error
    ${t1}    Start Clock
    ${info}    Open Session With Info
    ${respawn_ms}    Milliseconds Since    ${t1}
    ${after}    Get Agent Pids
    Should Not Be Empty    ${after}
    Should Not Be Equal    ${before}    ${after}    the agent was not respawned
    ${turn}    Prompt And Wait    ${info.session_id}    after the respawn    mode=echo    chunks=2
    Turn Should Complete    ${turn}    chunks=2
    Record Figures
    ...    both sessions died (channel_closed) within ${died_ms} ms of the prompt
    ...    respawning create ${respawn_ms} ms (agent ${before} -> ${after})
    ...    first turn on it ${{round($turn.turn_ms, 1)}} ms

Agent Ignoring Cancel Keeps The Turn Active Until Close Or Deadline
    [Documentation]    An agent that ignores cancel: after ``POST /cancel`` the turn is still active
    ...    ${STILL_ACTIVE_S} s later on both sessions. ``DELETE`` ends one (``turn_error`` ``session_closed``,
    ...    then ``session_closed``); ``--prompt-deadline-ms ${CANCEL_DEADLINE_MS}`` ends the other
    ...    (``prompt_deadline_exceeded``), and that session takes the next prompt.
    Start Daemon With Mock Agent    prompt_deadline_ms=${CANCEL_DEADLINE_MS}
    ${closed}    Open Session
    ${timed}    Open Session
    ${closed_sub}    Subscribe To Events    ${closed}    timeout=15
    ${timed_sub}    Subscribe To Events    ${timed}    until=turn_error    timeout=15
    ${t0}    Start Clock
    Send Prompt    ${closed}    ignore the cancel    mode=hang-ignore-cancel
    Send Prompt    ${timed}    ignore the cancel    mode=hang-ignore-cancel
    Cancel Prompt    ${closed}
    Cancel Prompt    ${timed}
    Sleep    ${STILL_ACTIVE_S} s    give the agent time to (not) honour the cancel
    FOR    ${sid}    IN    ${closed}    ${timed}
        ${status}    Get Session Status    ${sid}
        Should Be True    ${status}[hasActivePrompt]    ${sid} is no longer active after the cancel
    END
    ${close_ms}    Close Session    ${closed}
    ${closed_stream}    Collect Events    ${closed_sub}    timeout=10
    ${closed_at}    Milliseconds Since    ${t0}
    Stream Should Contain Event    ${closed_stream}    turn_error    code=session_closed
    Stream Should Have Ended With    ${closed_stream}    terminal    session_closed
    ${timed_stream}    Collect Events    ${timed_sub}    timeout=10
    ${deadline_frame}    Stream Should Contain Event    ${timed_stream}    turn_error    code=prompt_deadline_exceeded
    VAR    ${deadline_at}    ${{round($deadline_frame['_recv_ms'])}}
    ${next}    Prompt And Wait    ${timed}    after the deadline    mode=echo    chunks=2
    Turn Should Complete    ${next}    chunks=2
    ${serve_ms}    Daemon Should Still Serve
    Record Figures
    ...    still active ${STILL_ACTIVE_S} s after cancel on both
    ...    DELETE ${{round($close_ms, 1)}} ms ended one (stream closed ${closed_at} ms after the prompt)
    ...    deadline ${CANCEL_DEADLINE_MS} ms ended the other at ${deadline_at} ms of its stream
    ...    next prompt there ${{round($next.turn_ms, 1)}} ms; fresh turn ${serve_ms} ms


*** Keywords ***
Session Creation Should Fail With 500
    [Documentation]    Start the daemon with this mock start-up behaviour; ``POST /session`` must give 500 whose
    ...    ``error`` contains ``message``; then the daemon recovers with a healthy agent.
    [Arguments]    ${init_mode}    ${message}
    Start Daemon With Mock Agent    init=${init_mode}    initialize_timeout_ms=${INIT_TIMEOUT_MS}
    ${t0}    Start Clock
    ${err}    Open Session Should Fail    500
    ${ms}    Milliseconds Since    ${t0}
    Should Contain    ${err.body}[error]    ${message}
    ${serve_ms}    Recover With A Healthy Agent
    Record Figures    ${init_mode}: 500 "${err.body}[error]" after ${ms} ms; recovered turn ${serve_ms} ms.${SPACE}
    Stop All Daemons

Recover With A Healthy Agent
    [Documentation]    Switch the mock back to a normal start-up; a fresh session (new agent) and prompt succeed.
    Set Mock Init Mode    normal
    ${serve_ms}    Daemon Should Still Serve
    RETURN    ${serve_ms}

No Agent Should Run
    [Documentation]    The daemon has no live mock agent process.
    ${pids}    Get Agent Pids
    Should Be Empty    ${pids}    agent processes still running: ${pids}
