*** Settings ***
Documentation    Smoke test: the real daemon with the mock agent answers one prompt end to end,
...              and stopping it leaves no process behind.

Resource         ../resources/qwen_serve.resource

Test Teardown    Stop All Daemons

Test Tags        smoke


*** Test Cases ***
One Prompt Round Trip With The Mock Agent
    [Documentation]    Start, create a session, prompt, see the chunks, close, stop; nothing is left.
    ${daemon}    Start Daemon With Mock Agent    mock_chunks=3
    Daemon Should Be Healthy
    ${caps}    Get Capabilities
    Should Not Be Empty    ${caps}[qwenCodeVersion]
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    hello smoke
    Turn Should Complete    ${turn}    stop_reason=end_turn    chunks=3
    Close Session    ${sid}
    Session Should Be Gone    ${sid}
    ${stop}    Stop Daemon
    Should Be Equal As Integers    ${stop.exit_code}    0
    Daemon Processes Should Be Gone    ${daemon}

Health And Errors Over Plain HTTP
    [Documentation]    The daemon's health route and a refusal, read with RequestsLibrary.
    ${daemon}    Start Daemon With Mock Agent
    ${health}    GET    ${daemon.base_url}/health    expected_status=200
    Should Be Equal    ${health.json()}[status]    ok
    ${missing}    GET    ${daemon.base_url}/session/not-a-session/status    expected_status=404
    Should Be Equal    ${missing.json()}[code]    session_not_found
