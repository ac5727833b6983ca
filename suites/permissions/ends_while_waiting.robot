*** Settings ***
Documentation    A pending permission request when its turn ends: turn cancel, the server's prompt deadline,
...              session close, and the only subscriber disconnecting, one row each. Each row records what the
...              agent received, what the stream showed after the request, how the turn ended, whether the
...              session serves the next prompt, and how long each took (measured on 0.24.4, see
...              ``docs/daemon-permissions.md`` §4).

Resource         ../../resources/permissions.resource

Test Teardown    Stop All Daemons
Test Template    Pending Request Ends This Way


*** Variables ***
${DEADLINE_MS}       1500
${SETTLE}            1 s
${END_BOUND_MS}      5000
${DAEMON_CANCEL}     cancelled (session_closed)
${DEADLINE_ERROR}    turn_error prompt_deadline_exceeded
${SERVES}            turn_complete end_turn
${GONE}              refused 404 session_not_found


*** Test Cases ***    HOW    DEADLINE MS    AGENT RECEIVES    TURN ENDS    NEXT PROMPT
Turn Cancel While Pending    cancel    ${NONE}    ${DAEMON_CANCEL}    turn_complete cancelled    ${SERVES}
Prompt Deadline While Pending    deadline    ${DEADLINE_MS}    ${DAEMON_CANCEL}    ${DEADLINE_ERROR}    ${SERVES}
Session Close While Pending    close    ${NONE}    ${DAEMON_CANCEL}    turn_error session_closed    ${GONE}
Only Subscriber Disconnects While Pending    disconnect    ${NONE}    nothing    turn_complete end_turn    ${SERVES}


*** Keywords ***
Pending Request Ends This Way    # robocop: off=too-many-calls-in-keyword
    [Documentation]    Start a daemon (with ``--prompt-deadline-ms`` when ``${deadline_ms}`` is given), end a turn
    ...    while its permission request is pending ``${how}``, record it, then check what the agent received
    ...    (``${agent}`` is contained in its record), how the turn ended and how the next prompt went. After a
    ...    disconnect the request must still be pending, replayed to a new subscriber and answerable (200);
    ...    after the other ends a late answer gets 404.
    [Arguments]    ${how}    ${deadline_ms}    ${agent}    ${turn_end}    ${next_prompt}
    Begin Scenario    pending-end-${how}    how=${how}    deadlineMs=${deadline_ms}
    Start Daemon With Mock Agent    prompt_deadline_ms=${deadline_ms}
    ${end}    End Turn While Permission Pending    ${how}    settle=${SETTLE}
    Record Result    ${end}
    Should Contain    ${end.agent_received}    ${agent}    the agent received ${end.agent_received}
    Should Be Equal    ${end.turn_end}    ${turn_end}    the turn ended ${end.turn_end} (stream ${end.stream})
    Should Be Equal    ${end.next_prompt}    ${next_prompt}
    IF    $how == 'disconnect'
        Should Be True    ${end.still_pending}    the request was not pending any more after the disconnect
        Should Be True    ${end.replayed}    a new subscriber's replay did not show the request
        Should Be Equal As Integers    ${end.late_answer}    200
    ELSE
        Should Be Equal As Integers    ${end.late_answer}    404
    END
    Figure Should Be At Most    ${how}: end to turn end    ${end.end_ms}    ${END_BOUND_MS}
