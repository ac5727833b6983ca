*** Settings ***
Documentation    The ``/acp`` transport: JSON-RPC over WebSocket (and HTTP with SSE) beside REST/SSE. Connections
...              run prompts with streaming updates; the connection cap (``limits.acpConnectionCap``, 64 on 0.24.4)
...              is reached and passed; a permission asked on an ``/acp`` session is answered over REST; the same
...              prompt workload runs over REST/SSE and over ``/acp`` side by side.

Resource         restore.resource

Test Teardown    Stop All Daemons

Test Tags        loadtest


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (restore.json).
${SNAPSHOT_KIND}    restore    # robocop: off=VAR02
${CONNECTIONS}      8
${PROMPTS}          5
${CHUNKS}           20
${PAST_CAP}         2


*** Test Cases ***
WebSocket Connections Run Prompts With Streaming Updates
    [Documentation]    ${CONNECTIONS} WebSocket connections, one session each, released together, each sending
    ...    ${PROMPTS} prompts of ${CHUNKS} chunks: every prompt answered ``end_turn`` with all its chunks.
    Begin Scenario    acp-websockets    connections=${CONNECTIONS}    prompts=${PROMPTS}    chunks=${CHUNKS}
    Start Daemon With Mock Agent    max_sessions=0
    ${run}    Run Acp Turns    ${CONNECTIONS}    ${PROMPTS}    chunks=${CHUNKS}
    Record Result    ${run}
    Should Be Equal As Integers    ${run.failed}    0    ${run.errors}
    IF    ${run.late_updates} > 0
        Note Daemon Finding    the answer of session/prompt came before ${run.late_updates} of its turn's
        ...    session/update notifications (of ${run.updates}); a client that ends the turn at the answer
        ...    misses them: ${run.line()}
    END
    Should Be Equal As Integers    ${run.updates}    ${{ ${CONNECTIONS} * ${PROMPTS} * (${CHUNKS} + 1) }}
    ...    every turn should deliver its ${CHUNKS} chunks and the daemon's echo of the prompt

The Connection Cap Is Reached And Passed
    [Documentation]    WebSocket and HTTP connections are opened up to the reported cap and ${PAST_CAP} past
    ...    it: exactly the cap is accepted; the next ones are refused (WebSocket: JSON-RPC error -32603 and close
    ...    1013; HTTP: 503 with Retry-After); after one connection closes, a new one is accepted.
    [Template]    Connection Cap Holds
    ws    ${None}    ${1013}
    http    ${503}    ${None}

A Permission Asked On An Acp Session Is Answered Over REST
    [Documentation]    A prompt on a WebSocket session asks one permission; the request reaches the connection as
    ...    a JSON-RPC request ``_qwen_perm_*`` with the daemon's ``requestId`` in ``_meta.qwen``; it is answered
    ...    over REST (``POST /session/:id/permission/:requestId``); the agent gets that answer and the turn
    ...    completes over ``/acp``.
    [Tags]    permissions
    Begin Scenario    acp-permission-over-rest
    Start Daemon With Mock Agent
    ${conn}    Open Acp Connection
    ${sid}    Open Acp Session    ${conn}
    ${handle}    Start Acp Prompt    ${conn}    ${sid}    ask once    tool_calls=1    permissions=1
    ${request}    Wait For Acp Permission Request    ${conn}
    Should Start With    ${request.rpc_id}    _qwen_perm_
    Should Not Be Equal    ${request.request_id}    ${None}    the request carries no _meta.qwen.requestId
    ${answer}    Answer Permission Request    ${request.rest}
    Should Be Equal As Integers    ${answer.status}    200    the REST answer was refused: ${answer.error}
    ${outcome}    Wait For Agent Permission Outcome    ${request.rest}
    Should Be Equal    ${outcome.outcome}    selected
    ${turn}    Wait For Acp Prompt    ${handle}
    Record Result    ${turn}
    Should Be Equal    ${turn.stop_reason}    end_turn    ${turn.line()}

The Same Workload Over REST And Acp Side By Side
    [Documentation]    ${CONNECTIONS} sessions at once, ${PROMPTS} turns of ${CHUNKS} chunks each: over REST
    ...    (POST, then the session's SSE stream to ``turn_complete``), then over WebSocket ``/acp``. Records turn
    ...    p50/p99 and events/s of both and their ratios; every turn completes on both.
    Begin Scenario    rest-vs-acp    sessions=${CONNECTIONS}    prompts=${PROMPTS}    chunks=${CHUNKS}
    Start Daemon With Mock Agent    max_sessions=0
    ${side}    Compare Rest And Acp    ${CONNECTIONS}    ${PROMPTS}    chunks=${CHUNKS}
    Record Result    ${side}
    Should Be Equal As Integers    ${side.rest.failed}    0    ${side.rest.errors}
    IF    ${side.acp.late_updates} > 0
        Note Daemon Finding    over /acp ${side.acp.late_updates} of ${side.acp.updates} updates came after their
        ...    prompt's answer
    END
    Should Be Equal As Integers    ${side.acp.failed}    0    ${side.acp.errors}


*** Keywords ***
Connection Cap Holds    # robocop: off=too-many-calls-in-keyword
    [Documentation]    Probe the cap over ``${transport}``; the refusal must be the documented one.
    [Arguments]    ${transport}    ${status}    ${close_code}
    Begin Scenario    acp-connection-cap-${transport}    past=${PAST_CAP}
    Start Daemon With Mock Agent
    ${cap}    Probe Acp Connection Cap    transport=${transport}    past=${PAST_CAP}
    Record Result    ${cap}
    Should Be Equal As Integers    ${cap.reported_cap}    64    /daemon/status reports another cap
    Should Be Equal As Integers    ${cap.accepted}    ${cap.reported_cap}    ${cap.line()}
    Length Should Be    ${cap.refusals}    ${PAST_CAP}    ${cap.line()}
    ${figures}    Evaluate    $cap.figures()
    Should Be Equal    ${figures}[refusalHttpStatus]    ${status}    ${cap.line()}
    Should Be Equal    ${figures}[refusalCloseCode]    ${close_code}    ${cap.line()}
    Should Be Equal As Integers    ${figures}[refusalErrorCode]    -32603    ${cap.line()}
    Should Be True    ${cap.reopened}    ${cap.line()}
