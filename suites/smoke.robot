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
    ${daemon}    Start Daemon With Mock Agent    chunks=${CHUNKS}
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

A Running Daemon's Status, Log, Memory And Agent
    [Documentation]    What the daemon says of itself matches what the harness sees: ``/daemon/status`` names
    ...    the pid the harness started, its stderr has its start-up lines, its RSS is that of a Node process,
    ...    and one agent child serves a session.
    ${daemon}    Start Daemon With Mock Agent
    ${status}    Get Daemon Status
    Should Be Equal As Integers    ${status}[daemon][pid]    ${daemon.pid}
    ${full}    Get Daemon Status    full
    Should Be Equal As Integers    ${full}[daemon][pid]    ${daemon.pid}
    ${tail}    Get Daemon Stderr    lines=200
    Should Contain    ${tail}    qwen serve: bound to workspace
    ${rss}    Get Daemon Rss
    Should Be True    20 < ${rss} < 2000    the daemon's RSS is ${rss} MB
    Open Session
    ${agents}    Count Agent Children
    Should Be Equal As Integers    ${agents}    1    one agent child serves the session

The Mock Changes Its Behaviour At Run Time, For Every Session Or For One
    [Documentation]    `Set Mock Behaviour` without a session changes every next prompt; with one, only that
    ...    session's; the daemon keeps running.
    Start Daemon With Mock Agent
    ${one}    Open Session
    ${other}    Open Session
    Set Mock Behaviour    chunks=2
    ${control}    Set Mock Behaviour    session_id=${one}    chunks=4
    Should Be Equal As Integers    ${control}[sessions][${one}][chunks]    4
    ${turn}    Prompt And Wait    ${one}    four please
    Turn Should Complete    ${turn}    chunks=4
    ${turn}    Prompt And Wait    ${other}    two please
    Turn Should Complete    ${turn}    chunks=2

Two Daemons: Switch Between Them, Then Stop Everything
    [Documentation]    The last daemon started is the current one; `Switch Daemon` makes the other one current;
    ...    `Stop Everything` stops both and leaves no process.
    ${first}    Start Daemon With Mock Agent
    ${second}    Start Daemon With Mock Agent
    ${status}    Get Daemon Status
    Should Be Equal As Integers    ${status}[daemon][pid]    ${second.pid}
    Switch Daemon    ${first.name}
    ${status}    Get Daemon Status
    Should Be Equal As Integers    ${status}[daemon][pid]    ${first.pid}
    Stop Everything
    Daemon Processes Should Be Gone    ${first}
    Daemon Processes Should Be Gone    ${second}
