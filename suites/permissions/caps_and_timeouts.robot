*** Settings ***
Documentation    The per-session cap on pending permission requests and the response timeout
...              (``--permission-response-timeout-ms``), with what each gives and its timings.

Resource         ../../resources/permissions.resource

Test Teardown    Stop All Daemons


*** Variables ***
${PENDING_CAP}            64
${CAP_REQUESTS}           70
${RESPONSE_TIMEOUT_MS}    1000
${TIMEOUT_MARGIN_MS}      1500


*** Test Cases ***
Pending Requests Up To And Past The Per-Session Cap
    [Documentation]    One turn sends ${CAP_REQUESTS} requests at once: the daemon publishes ${PENDING_CAP}
    ...    (its per-session cap on 0.24.4), answers the rest ``cancelled`` at once without any event, and
    ...    resolves every published request we answer; the agent receives one outcome per request and ends the
    ...    turn ``cancelled`` (it acts on the answers in order).
    Begin Scenario    pending-cap    requests=${CAP_REQUESTS}    expectedCap=${PENDING_CAP}
    Start Daemon With Mock Agent
    ${cap}    Run Permission Cap    ${CAP_REQUESTS}
    Record Result    ${cap}
    Should Be Equal As Integers    ${cap.sent}    ${CAP_REQUESTS}
    Should Be Equal As Integers    ${cap.published}    ${PENDING_CAP}
    Should Be Equal As Integers    ${cap.pending_peak}    ${PENDING_CAP}
    Should Be Equal As Integers    ${cap.cancelled_by_daemon}    ${{int($CAP_REQUESTS) - int($PENDING_CAP)}}
    Should Be Equal As Integers    ${cap.answered}    ${PENDING_CAP}
    Should Be Equal As Integers    ${cap.resolved_events}    ${PENDING_CAP}
    Should Be Equal As Integers    ${cap.agent_outcomes}    ${CAP_REQUESTS}
    Should Be Equal    ${cap.turn_end}    turn_complete cancelled

Unanswered Request Expires After The Response Timeout
    [Documentation]    With ``--permission-response-timeout-ms ${RESPONSE_TIMEOUT_MS}`` an unanswered request is
    ...    resolved ``cancelled`` by the daemon (no voter) no earlier than the timeout (daemon clock) and within
    ...    ${TIMEOUT_MARGIN_MS} ms after it (harness clock); the agent receives ``cancelled`` with reason
    ...    ``timeout``, a late answer gets 404, and the session serves the next prompt.
    Begin Scenario    response-timeout    responseTimeoutMs=${RESPONSE_TIMEOUT_MS}
    Start Daemon With Mock Agent    permission_response_timeout_ms=${RESPONSE_TIMEOUT_MS}
    ${expiry}    Leave Permission Unanswered    timeout=10 s
    Record Result    ${expiry}
    Should Be Equal    ${expiry.outcome}    cancelled
    Should Be Equal    ${expiry.voter_client_id}    ${NONE}
    Should Be Equal    ${expiry.agent_received}    cancelled (timeout)
    Should Be True    ${expiry.server_after_ms} >= ${RESPONSE_TIMEOUT_MS}
    ...    the daemon resolved it after ${expiry.server_after_ms} ms by its own clock
    Figure Should Be At Most    request to expiry    ${expiry.resolved_after_ms}
    ...    ${{int($RESPONSE_TIMEOUT_MS) + int($TIMEOUT_MARGIN_MS)}}
    Should Be Equal As Integers    ${expiry.late_answer}    404
    Should Be Equal    ${expiry.turn_end}    turn_complete cancelled
    Should Be Equal    ${expiry.next_prompt}    turn_complete end_turn
