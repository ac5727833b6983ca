*** Settings ***
Documentation    Beyond upstream: turns that fail or never end on the agent's side.
...
...              A JSON-RPC error from the agent surfaces as ``turn_error`` with the agent's code and the
...              session stays usable. A hung turn ends with ``turn_complete`` ``cancelled`` on a cancel,
...              and with ``turn_error`` ``prompt_deadline_exceeded`` when the daemon's prompt deadline
...              passes; the session stays usable in both cases.

Resource         ../../resources/loadtest.resource

Test Teardown    Stop All Daemons


*** Variables ***
${REJECT_CODE}          -32042
${HANG_CHUNKS}          3
${DEADLINE_MS}          1000
${DEADLINE_SLACK_MS}    2000
${TURN_TIMEOUT_S}       15


*** Test Cases ***
An Agent JSON-RPC Error Surfaces As A Turn Error And The Session Stays Usable
    [Documentation]    The agent answers the prompt with JSON-RPC error ${REJECT_CODE}; the next prompt works.
    Begin Scenario    agent-reject
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    reject-me    mode=reject    error_code=${REJECT_CODE}
    ${status}    Get Session Status    ${sid}
    ${next}    Prompt And Wait    ${sid}    after-reject
    Record Loadtest Figures    agent-reject
    ...    rejected turn: ${turn.summary()} · next turn: ${next.summary()}
    ...    errorCode=${turn.error_code}    turnErrorMs=${turn.turn_ms}    nextTurn=${next.outcome}
    Turn Should End With    ${turn}    error    ${REJECT_CODE}
    Should Be True    ${turn.cancelled}    prompt_cancelled should come before the turn_error
    Should Be True    ${status}[hasTurnError]
    Turn Should Complete    ${next}    chunks=3

Cancel Ends A Hung Turn With Cancelled
    [Documentation]    The agent streams ${HANG_CHUNKS} chunks and then waits forever; once the chunks are
    ...    seen, a cancel must end the turn with ``turn_complete`` ``cancelled``, and the session stays usable.
    Begin Scenario    agent-hang-cancel
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${accepted}    Send Prompt    ${sid}    hang    mode=hang    chunks=${HANG_CHUNKS}
    ${started}    Read Events    ${sid}    last_event_id=${accepted.last_event_id}
    ...    max_events=${{int($HANG_CHUNKS) + 1}}    timeout=${TURN_TIMEOUT_S}
    Cancel Prompt    ${sid}
    ${turn}    Wait For Turn End    ${sid}    ${accepted}    timeout=${TURN_TIMEOUT_S}
    ${next}    Prompt And Wait    ${sid}    after-cancel
    Record Loadtest Figures    agent-hang-cancel
    ...    cancelled turn: ${turn.summary()} · next turn: ${next.summary()}
    ...    stopReason=${turn.stop_reason}    turnMs=${turn.turn_ms}    framesBeforeCancel=${started.received}
    ...    nextTurn=${next.outcome}
    Should Be Equal As Integers    ${started.received}    ${{int($HANG_CHUNKS) + 1}}
    Turn Should Complete    ${turn}    stop_reason=cancelled
    Turn Should Complete    ${next}    chunks=3

The Server Prompt Deadline Ends A Hung Turn
    [Documentation]    With ``--prompt-deadline-ms ${DEADLINE_MS}`` a hung turn ends with ``turn_error``
    ...    ``prompt_deadline_exceeded`` no earlier than the deadline and within ${DEADLINE_SLACK_MS} ms after
    ...    it; the session stays usable.
    Begin Scenario    agent-hang-deadline
    Start Daemon With Warm-Up Session    prompt_deadline_ms=${DEADLINE_MS}
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    hang    mode=hang    timeout=${TURN_TIMEOUT_S}
    ${next}    Prompt And Wait    ${sid}    after-deadline
    Record Loadtest Figures    agent-hang-deadline
    ...    deadline turn: ${turn.summary()} · next turn: ${next.summary()}
    ...    deadlineMs=${DEADLINE_MS}    errorCode=${turn.error_code}    turnMs=${turn.turn_ms}
    ...    nextTurn=${next.outcome}
    Turn Should End With    ${turn}    error    prompt_deadline_exceeded
    Should Be True    ${turn.turn_ms} >= ${DEADLINE_MS}
    Figure Should Be At Most
    ...    deadline turn end
    ...    ${turn.turn_ms}
    ...    ${{int($DEADLINE_MS) + int($DEADLINE_SLACK_MS)}}
    Turn Should Complete    ${next}    chunks=3
