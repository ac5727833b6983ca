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
    ...    (retryable, naming a timeout no longer than ours) within ``--initialize-timeout-ms
    ...    ${INIT_TIMEOUT_MS}`` plus ${INIT_MARGIN_MS} ms (it may come earlier: it may join the daemon's own
    ...    preheat already under way), and the agent is killed.
    [Tags]    init
    Begin Scenario    init-never-answered    initTimeoutMs=${INIT_TIMEOUT_MS}
    Start Daemon With Mock Agent    init=never    initialize_timeout_ms=${INIT_TIMEOUT_MS}
    ${err}    Open Session Should Fail    504    init_timeout
    ${refusal}    Refusal Should Say    ${err}    initialize timed out
    Record Result    ${refusal}    as=refusal
    ${timer}    Timer Should Have Fired On Time    initialize timeout    ${refusal.elapsed_ms}
    ...    ${INIT_TIMEOUT_MS} ms    margin=${INIT_MARGIN_MS} ms    may_fire_early=${True}
    Record Result    ${timer}    as=initTimeout
    Should Be True    ${refusal.retryable}    The 504 should say it is retryable: ${refusal.text}
    Figure Should Be At Most    the daemon's timeoutMs    ${refusal.timeout_ms}    ${INIT_TIMEOUT_MS}
    Wait Until Keyword Succeeds    5 s    100 ms    No Agent Should Run
    Recover With A Healthy Agent

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
    Begin Scenario    agent-stdout-not-json
    Start Daemon With Mock Agent
    ${victim}    Open Session
    ${bystander}    Open Session
    ${before}    Get Agent Pids
    ${subs}    Watch Sessions    ${victim}    ${bystander}
    ${accepted}    Send Prompt    ${victim}    corrupt the channel    mode=garbage    chunks=3
    ${streams}    Collect Event Streams    ${subs}    timeout=10
    ${deaths}    Every Stream Should Receive    ${streams}    session_died    reason=channel_closed
    ...    after=${accepted}
    Record Result    ${deaths}
    Stream Should Contain Event    ${streams.results}[0]    turn_error
    Session Should Be Gone    ${victim}
    Session Should Be Gone    ${bystander}
    Wait For Daemon Stderr Line    transport=ndjson_parse_error
    Daemon Should Still Serve And Record It
    Agent Should Have Been Respawned    ${before}

Agent Ignoring Cancel Keeps The Turn Active Until Close Or Deadline
    [Documentation]    An agent that ignores cancel: after ``POST /cancel`` the turn is still active
    ...    ${STILL_ACTIVE_S} s later on both sessions. ``DELETE`` ends one (``turn_error`` ``session_closed``,
    ...    then ``session_closed``); ``--prompt-deadline-ms ${CANCEL_DEADLINE_MS}`` ends the other
    ...    (``prompt_deadline_exceeded``), and that session takes the next prompt.
    Begin Scenario    agent-ignores-cancel    promptDeadlineMs=${CANCEL_DEADLINE_MS}
    Start Daemon With Mock Agent    prompt_deadline_ms=${CANCEL_DEADLINE_MS}
    ${closed}    Start A Watched Turn That Ignores Cancel
    ${timed}    Start A Watched Turn That Ignores Cancel    until=turn_error
    Cancelled Turns Should Stay Active    ${closed}    ${timed}
    Closing The Session Should End Its Turn    ${closed}
    ${deadline}    Watched Turn Should End With    ${timed}    prompt_deadline_exceeded
    Record Result    ${deadline}    as=deadline
    ${next}    Prompt And Wait    ${timed.sid}    after the deadline    mode=echo    chunks=2
    Turn Should Complete    ${next}    chunks=2
    Record Result    ${next}    as=next
    Daemon Should Still Serve And Record It


*** Keywords ***
Session Creation Should Fail With 500
    [Documentation]    Start the daemon with this mock start-up behaviour; ``POST /session`` must give 500 whose
    ...    ``error`` contains ``message``; then the daemon recovers with a healthy agent. Each case is its own
    ...    scenario, ``init-<mode>``.
    [Arguments]    ${init_mode}    ${message}
    Begin Scenario    init-${init_mode}    initMode=${init_mode}    initTimeoutMs=${INIT_TIMEOUT_MS}
    Start Daemon With Mock Agent    init=${init_mode}    initialize_timeout_ms=${INIT_TIMEOUT_MS}
    ${err}    Open Session Should Fail    500
    ${refusal}    Refusal Should Say    ${err}    ${message}
    Record Result    ${refusal}    as=refusal
    Recover With A Healthy Agent
    Stop All Daemons

No Agent Should Run
    [Documentation]    The daemon has no live mock agent process.
    ${pids}    Get Agent Pids
    Should Be Empty    ${pids}    No agent process should run, but these do: ${pids}

Watch Sessions
    [Documentation]    Open an event stream on each session; returns the subscriptions in that order.
    [Arguments]    @{sessions}
    VAR    @{subs}    @{EMPTY}
    FOR    ${sid}    IN    @{sessions}
        ${sub}    Subscribe To Events    ${sid}    timeout=10
        Append To List    ${subs}    ${sub}
    END
    RETURN    ${subs}

Agent Should Have Been Respawned
    [Documentation]    An agent runs again, and it is not the one that ran before (``before``: its pids then).
    [Arguments]    ${before}
    ${after}    Get Agent Pids
    Should Not Be Empty    ${after}    An agent should run again after the fresh session, but none does.
    Should Not Be Equal    ${before}    ${after}    The agent should have been respawned, but ${after} ran before.
    Log    agent ${before} -> ${after}

Start A Watched Turn That Ignores Cancel
    [Documentation]    Open a session with an event stream (read until ``until`` or its end) and give it a turn
    ...    the agent will not cancel. Returns ``sid``, ``sub`` and ``accepted`` (the prompt's answer).
    [Arguments]    ${until}=${None}
    ${sid}    Open Session
    ${sub}    Subscribe To Events    ${sid}    until=${until}    timeout=15
    ${accepted}    Send Prompt    ${sid}    ignore the cancel    mode=hang-ignore-cancel
    VAR    &{watched}    sid=${sid}    sub=${sub}    accepted=${accepted}
    RETURN    ${watched}

Cancelled Turns Should Stay Active
    [Documentation]    Cancel each watched turn; ${STILL_ACTIVE_S} s later each session still has an active prompt.
    [Arguments]    @{turns}
    FOR    ${watched}    IN    @{turns}
        Cancel Prompt    ${watched.sid}
    END
    Sleep    ${STILL_ACTIVE_S} s    give the agent time to (not) honour the cancel
    FOR    ${watched}    IN    @{turns}
        ${status}    Get Session Status    ${watched.sid}
        Should Be True    ${status}[hasActivePrompt]
        ...    The cancelled turn of ${watched.sid} should still be active, but the session is idle.
    END

Closing The Session Should End Its Turn
    [Documentation]    ``DELETE`` the watched session: its turn ends with ``turn_error`` ``session_closed`` and its
    ...    stream with ``session_closed``. Records the close's round trip and the turn.
    [Arguments]    ${watched}
    ${close_ms}    Close Session    ${watched.sid}
    Record Figure    close    ${close_ms}    unit=ms
    ${turn}    Watched Turn Should End With    ${watched}    session_closed
    Record Result    ${turn}    as=closed
    Stream Should Have Ended With    ${turn.stream}    terminal    session_closed

Watched Turn Should End With
    [Documentation]    Collect the watched session's stream; its turn must have ended with ``turn_error`` of this
    ...    code. Returns the turn (times from the prompt's POST).
    [Arguments]    ${watched}    ${code}
    ${stream}    Collect Events    ${watched.sub}    timeout=10
    ${turn}    Turn From Stream    ${watched.accepted}    ${stream}
    Turn Should End With    ${turn}    error    ${code}
    RETURN    ${turn}
