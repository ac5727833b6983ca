*** Settings ***
Documentation    Smoke test: the real daemon with the mock agent answers prompts end to end, and stopping it
...              leaves no process behind. The round trip's figures go to the test message and to
...              ``smoke.json``/``.md`` in the output folder.

Resource         ../resources/qwen_serve.resource

Test Teardown    Stop All Daemons

Test Tags        smoke


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (smoke.json).
${SNAPSHOT_KIND}    smoke    # robocop: off=VAR02
${PROMPTS}          3
${CHUNKS}           3


*** Test Cases ***
Prompts Round Trip With The Mock Agent
    [Documentation]    Start, create a session, send ${PROMPTS} prompts and see each one's chunks, close, stop;
    ...    nothing is left. Records the turn times and the stop time.
    Begin Scenario    prompt-round-trip    prompts=${PROMPTS}    chunks=${CHUNKS}
    ${daemon}    Start Daemon With Mock Agent    mock_chunks=${CHUNKS}
    Daemon Should Be Healthy
    ${caps}    Get Capabilities
    Should Not Be Empty    ${caps}[qwenCodeVersion]
    ${sid}    Open Session
    VAR    @{turn_ms}    @{EMPTY}
    FOR    ${i}    IN RANGE    ${PROMPTS}
        ${turn}    Prompt And Wait    ${sid}    hello smoke ${i}
        Turn Should Complete    ${turn}    stop_reason=end_turn    chunks=${CHUNKS}
        VAR    @{turn_ms}    @{turn_ms}    ${turn.turn_ms}
    END
    ${turns}    Summarize Latencies    ${turn_ms}    name=turn
    Record Result    ${turns}    as=turn
    Close Session    ${sid}
    Session Should Be Gone    ${sid}
    ${stop}    Stop Daemon
    Record Figure    stop    ${stop.stop_ms}    unit=ms
    Should Be Equal As Integers    ${stop.exit_code}    0
    Daemon Processes Should Be Gone    ${daemon}

Health And Errors Over Plain HTTP
    [Documentation]    The daemon's health route and a refusal, read with RequestsLibrary.
    ${daemon}    Start Daemon With Mock Agent
    ${health}    GET    ${daemon.base_url}/health    expected_status=200
    Should Be Equal    ${health.json()}[status]    ok
    ${missing}    GET    ${daemon.base_url}/session/not-a-session/status    expected_status=404
    Should Be Equal    ${missing.json()}[code]    session_not_found
