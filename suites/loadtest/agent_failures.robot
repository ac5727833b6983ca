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
    Begin Scenario    agent-reject    errorCode=${REJECT_CODE}
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    reject-me    mode=reject    error_code=${REJECT_CODE}
    ${status}    Get Session Status    ${sid}
    ${next}    Prompt And Wait    ${sid}    after-reject
    Record Result    ${turn}    as=rejected
    Record Result    ${next}    as=next
    Turn Should End With    ${turn}    error    ${REJECT_CODE}
    Should Be True    ${turn.cancelled}    prompt_cancelled should come before the turn_error
    Should Be True    ${status}[hasTurnError]    the session's status should report the turn error
    Turn Should Complete    ${next}    chunks=3

Cancel Ends A Hung Turn With Cancelled
    [Documentation]    The agent streams ${HANG_CHUNKS} chunks and then waits forever; once the chunks are
    ...    seen, a cancel must end the turn with ``turn_complete`` ``cancelled``, and the session stays usable.
    Begin Scenario    agent-hang-cancel    chunks=${HANG_CHUNKS}
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${accepted}    Send Prompt    ${sid}    hang    mode=hang    chunks=${HANG_CHUNKS}
    ${started}    Wait For Turn Chunks    ${sid}    ${accepted}    ${HANG_CHUNKS}    timeout=${TURN_TIMEOUT_S}
    Cancel Prompt    ${sid}
    ${turn}    Wait For Turn End    ${sid}    ${accepted}    timeout=${TURN_TIMEOUT_S}
    ${next}    Prompt And Wait    ${sid}    after-cancel
    Record Result    ${started}    as=beforeCancel
    Record Result    ${turn}    as=cancelled
    Record Result    ${next}    as=next
    Should Be Equal As Integers    ${started.chunks}    ${HANG_CHUNKS}    the chunks before the cancel
    Turn Should Complete    ${turn}    stop_reason=cancelled
    Turn Should Complete    ${next}    chunks=3

The Server Prompt Deadline Ends A Hung Turn
    [Documentation]    With ``--prompt-deadline-ms ${DEADLINE_MS}`` a hung turn ends with ``turn_error``
    ...    ``prompt_deadline_exceeded`` no earlier than the deadline and within ${DEADLINE_SLACK_MS} ms after
    ...    it; the session stays usable.
    Begin Scenario    agent-hang-deadline    deadlineMs=${DEADLINE_MS}
    Start Daemon With Warm-Up Session    prompt_deadline_ms=${DEADLINE_MS}
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    hang    mode=hang    timeout=${TURN_TIMEOUT_S}
    ${next}    Prompt And Wait    ${sid}    after-deadline
    Record Result    ${turn}    as=deadline
    Record Result    ${next}    as=next
    Turn Should End With    ${turn}    error    prompt_deadline_exceeded
    Turn Should End After    ${turn}    ${DEADLINE_MS}    within_ms=${DEADLINE_SLACK_MS}
    Turn Should Complete    ${next}    chunks=3
