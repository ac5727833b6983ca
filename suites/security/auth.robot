*** Settings ***
Documentation    A daemon started with ``--require-auth`` refuses requests without the bearer token or with a
...              wrong one (401) and accepts the right one (200), ``/health`` included. The token reaches the
...              daemon only through its environment: it is on no command line of the daemon or its children.
...
...              The token comes from the environment variable ``QWEN_HARNESS_AUTH_TOKEN`` (set by
...              ``atest/test_secrets.py``, which then searches every artifact of this run for it), or is generated
...              per run. It is generated and
...              used with the log level lowered to WARN, because Robot logs assigned values and RequestsLibrary
...              logs request headers at INFO.

Resource         ../../resources/qwen_serve.resource

Suite Setup      Choose The Token
Test Teardown    Stop All Daemons


*** Variables ***
${TOKEN}          %{QWEN_HARNESS_AUTH_TOKEN=}
${WRONG_TOKEN}    not-the-token


*** Test Cases ***
Every Route Needs The Bearer Token
    [Documentation]    No token: 401. Wrong token: 401. Right token: 200. For /health too, because of --require-auth.
    ${daemon}    Start Daemon With Mock Agent    token=${TOKEN}    require_auth=${True}
    Route Should Need The Token    ${daemon}    GET    /health
    Route Should Need The Token    ${daemon}    GET    /health?deep=1
    Route Should Need The Token    ${daemon}    GET    /capabilities
    Route Should Need The Token    ${daemon}    GET    /daemon/status
    Route Should Need The Token    ${daemon}    POST    /session

The Refusal Says Unauthorized And Nothing More
    [Documentation]    A refused request gets the daemon's short JSON body, not a hint about the token.
    ${daemon}    Start Daemon With Mock Agent    token=${TOKEN}    require_auth=${True}
    ${reply}    GET    ${daemon.base_url}/capabilities    expected_status=401
    VAR    ${body}    ${reply.json()}
    Should Be Equal    ${body}[error]    Unauthorized    The refusal should say Unauthorized.
    Length Should Be    ${body}    1    The refusal should say nothing more than its error: ${body}

The Token Is On No Command Line
    [Documentation]    Daemon, launcher and agent run; none of their command lines contains the token.
    ${daemon}    Start Daemon With Mock Agent    token=${TOKEN}    require_auth=${True}
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    hello
    Turn Should Complete    ${turn}
    VAR    ${procs}    ${daemon.tree()}
    Length Should Be    ${procs}    3    The daemon, its launcher and the mock agent should run.
    FOR    ${proc}    IN    @{procs}
        ${command_line}    Catenate    @{proc.cmdline()}
        Should Not Contain    ${command_line}    ${TOKEN}    msg=The token is on a command line.    values=${False}
    END

Nothing Binds Or Connects Outside Loopback
    [Documentation]    Every socket of the daemon, launcher and agent is bound to and connected with loopback,
    ...    while a session has an open event stream: the daemon listens, and the stream is a connected socket.
    Start Daemon With Mock Agent    token=${TOKEN}    require_auth=${True}
    ${sid}    Open Session
    ${sub}    Subscribe To Events    ${sid}
    ${turn}    Prompt And Wait    ${sid}    hello
    Turn Should Complete    ${turn}
    ${sockets}    Tree Should Only Use Loopback
    Should Be True    ${sockets.listening} >= 1    The daemon should listen; ${sockets.line()}.
    Should Be True    ${sockets.connected} >= 1    The open event stream should be connected; ${sockets.line()}.
    Report Figures    ${sockets.line()}
    Collect Events    ${sub}    stop=${True}


*** Keywords ***
Choose The Token
    [Documentation]    Use the token from the environment, or make a random one; its value is never logged.
    ${level}    Set Log Level    WARN
    IF    not $TOKEN
        ${generated}    Evaluate    secrets.token_urlsafe(24)    modules=secrets
        VAR    ${TOKEN}    ${generated}    scope=SUITE    # robocop: off=VAR05
    END
    Set Log Level    ${level}

Route Should Need The Token
    [Documentation]    Call one route of a daemon that requires the token three ways: without, wrong, right.
    ...    A ``POST`` sends a ``thread`` session request as its body.
    [Arguments]    ${daemon}    ${method}    ${route}
    VAR    ${url}    ${daemon.base_url}${route}
    VAR    ${json}    ${None}
    IF    $method == "POST"
        VAR    &{json}    sessionScope=thread
    END
    Run Keyword    ${method}    ${url}    json=${json}    expected_status=401
    VAR    &{wrong}    Authorization=Bearer ${WRONG_TOKEN}
    Run Keyword    ${method}    ${url}    json=${json}    headers=${wrong}    expected_status=401
    ${level}    Set Log Level    WARN
    VAR    &{right}    Authorization=Bearer ${TOKEN}
    Run Keyword    ${method}    ${url}    json=${json}    headers=${right}    expected_status=200
    Set Log Level    ${level}
