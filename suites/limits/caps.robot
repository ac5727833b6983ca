*** Settings ***
Documentation    Caps: pending prompts per session, SSE subscribers per session, TCP connections, the rate
...              limiter and sessions per workspace. Each cap is hit on purpose, the refusal is checked
...              (status, code, headers), and the daemon must serve normally afterwards.

Resource         ../../resources/limits.resource

Test Teardown    Stop All Daemons

Test Tags        caps


*** Variables ***
${PENDING_CAP}         5
${SUBSCRIBER_CAP}      64
${CONNECTION_CAP}      8
${FLOOD_SIZE}          16
${RECOVERY_BOUND_S}    5
${RATE_PROMPT}         2
${RATE_READ}           3
${RATE_MUTATION}       4
${RATE_WINDOW_MS}      20000
${SESSION_CAP}         3
&{RATE_FLAGS}          rate_limit=${True}    rate_limit_prompt=${RATE_PROMPT}    rate_limit_read=${RATE_READ}
...                    rate_limit_mutation=${RATE_MUTATION}    rate_limit_window_ms=${RATE_WINDOW_MS}
${BOB_CLIENT_ID}       limits-bob
&{BOB_ID}              X-Qwen-Client-Id=${BOB_CLIENT_ID}


*** Test Cases ***
Pending Prompt Queue Full Gives 503 With Retry-After
    [Documentation]    With a hung turn on a session, prompts queue up to the cap (running + queued); the next
    ...    one gets 503 ``prompt_queue_full`` with ``Retry-After: 5``, naming the cap and the prompts pending.
    ...    Each prompt queued behind the hung turn shows ``pending_prompt_added`` and, once the hung turn is
    ...    cancelled, ``pending_prompt_started``; every accepted prompt's turn completes.
    Begin Scenario    pending-prompt-queue-full    pendingCap=${PENDING_CAP}
    Start Daemon With Mock Agent    max_pending_prompts=${PENDING_CAP}
    ${sid}    Open Session
    ${sub}    Subscribe To Events    ${sid}    timeout=20
    ${stuck}    ${queued}    Fill The Prompt Queue Behind A Hung Turn    ${sid}
    ${err}    Send Prompt Should Fail    ${sid}    503    prompt_queue_full
    ${refusal}    Refusal Should Carry Retry After    ${err}    seconds=5
    Record Result    ${refusal}    as=refusal
    Should Be Equal As Integers    ${refusal.limit}    ${PENDING_CAP}    The refusal should name the cap.
    Should Be Equal As Integers    ${refusal.pending_count}    ${PENDING_CAP}    The queue should be full.
    ${last}    Cancel The Hung Turn And Prompt Again    ${sid}    ${stuck}
    ${stream}    Collect Events    ${sub}    stop=${True}
    The Stream Should Show Each Prompt Queued And Completed    ${stream}    ${stuck}    ${queued}    ${last}
    Daemon Should Still Serve And Record It

The Subscriber Over The Cap Is Refused And Those At The Cap Keep Working
    [Documentation]    One session takes ${SUBSCRIBER_CAP} SSE subscribers; the next gets 429
    ...    ``subscriber_limit_exceeded`` with ``Retry-After``. Every one of the first ${SUBSCRIBER_CAP} then
    ...    receives the next turn to its ``turn_complete``.
    Begin Scenario    subscriber-cap    subscriberCap=${SUBSCRIBER_CAP}
    Start Daemon With Mock Agent
    ${sid}    Open Session
    ${subs}    Open Event Streams    ${sid}    ${SUBSCRIBER_CAP}    until=turn_complete    timeout=20
    ${over}    Send Request On A New Connection    /session/${sid}/events    expected_status=429
    ...    code=subscriber_limit_exceeded
    ${refusal}    Refusal Should Carry Retry After    ${over}
    Record Result    ${refusal}    as=overCap
    ${accepted}    Send Prompt    ${sid}    for everyone    chunks=3
    ${all}    Collect Event Streams    ${subs}    timeout=15
    ${delivery}    Every Stream Should Receive    ${all}    turn_complete    after=${accepted}
    Record Result    ${delivery}
    Daemon Should Still Serve And Record It

Connections Over The Cap Are Reset At Accept And Service Resumes
    [Documentation]    With ``--max-connections ${CONNECTION_CAP}``, a flood of ${FLOOD_SIZE} keep-alive
    ...    connections: at most ${CONNECTION_CAP} are served (the library's own pooled socket may hold one
    ...    slot), the rest are reset at accept. Once the flood closes, a fresh connection is served within
    ...    ${RECOVERY_BOUND_S} s.
    Begin Scenario    connection-cap    connectionCap=${CONNECTION_CAP}    flood=${FLOOD_SIZE}
    Start Daemon With Mock Agent    max_connections=${CONNECTION_CAP}
    ${flood}    Open Connection Flood    ${FLOOD_SIZE}
    Record Result    ${flood}
    Connection Flood Should Respect The Cap    ${flood}    ${CONNECTION_CAP}
    Close Connection Flood    ${flood}
    ${recovery}    Wait Until Daemon Accepts Connections    timeout=${RECOVERY_BOUND_S}
    Record Result    ${recovery}    as=reconnect
    Daemon Should Still Serve And Record It

Rate Limit Answers 429 With Headers And Exempts Health And SSE
    [Documentation]    With ``--rate-limit`` and small tiers (prompt ${RATE_PROMPT}, read ${RATE_READ}, mutation
    ...    ${RATE_MUTATION} per ${RATE_WINDOW_MS} ms): over-limit requests get 429 ``rate_limit_exceeded``
    ...    with ``Retry-After`` and ``X-RateLimit-*``; ``/health`` and SSE are exempt. All requests without a
    ...    client id share one "anonymous" bucket, whatever socket they come on; a client id gets its own. The
    ...    daemon counts each refusal it sent.
    Begin Scenario    rate-limit    promptLimit=${RATE_PROMPT}    readLimit=${RATE_READ}
    ...    mutationLimit=${RATE_MUTATION}    windowMs=${RATE_WINDOW_MS}
    Start Daemon With Mock Agent    &{RATE_FLAGS}
    ${shared}    Anonymous Requests Should Share One Read Budget
    Record Result    ${shared}    as=read
    ${own}    Send Request On A New Connection    /capabilities    headers=${BOB_ID}
    Health And Event Streams Should Be Exempt
    ${over}    A Client Over Its Prompt Budget Should Be Refused
    Record Result    ${over}    as=prompt
    ${rejected}    Get Rate Limit Rejections    client_id=${BOB_CLIENT_ID}
    Record Result    ${rejected}
    Should Be Equal As Integers    ${rejected.read}    1    The daemon should count the one read it refused.
    Should Be Equal As Integers    ${rejected.prompt}    1    The daemon should count the one prompt it refused.
    Daemon Should Still Serve And Record It    client_id=limits-dave
    IF    not ${own.has_rate_limit_headers}
        Flag Finding    X-RateLimit-* headers appear only on 429 answers, not on allowed requests (clients
        ...    cannot pace themselves).
    END

Session Cap Gives 503 And Attach Works At The Cap Only To An Existing Shared Session
    [Documentation]    With ``--max-sessions ${SESSION_CAP}``: the next ``thread`` create gets 503
    ...    ``session_limit_exceeded`` with ``Retry-After: 5``; a ``single`` (default-scope) request also gets
    ...    503 while no shared session exists; once the shared session is one of the ${SESSION_CAP}, a
    ...    ``single`` request attaches to it (200, ``attached``) even at the cap.
    Begin Scenario    session-cap    sessionCap=${SESSION_CAP}
    Start Daemon With Mock Agent    max_sessions=${SESSION_CAP}
    ${first}    Open Sessions Up To The Cap
    ${err}    Open Session Should Fail    503    session_limit_exceeded
    ${refusal}    Refusal Should Carry Retry After    ${err}    seconds=5
    Record Result    ${refusal}    as=create
    Should Be Equal As Integers    ${refusal.limit}    ${SESSION_CAP}    The refusal should name the cap.
    ${err}    Open Session Should Fail    503    session_limit_exceeded    scope=single
    ${single}    Refusal Should Carry Retry After    ${err}    seconds=5
    Record Result    ${single}    as=single
    Close Session    ${first}
    ${attach}    A Single Scope Request Should Attach At The Cap
    Record Figure    attach    ${attach.elapsed_ms}    unit=ms
    Close Session    ${attach.session_id}
    Daemon Should Still Serve And Record It


*** Keywords ***
Fill The Prompt Queue Behind A Hung Turn
    [Documentation]    A turn that never ends, then prompts queued behind it until the session holds the cap
    ...    (running + queued). Returns the hung prompt's answer and the list of the queued ones.
    [Arguments]    ${sid}
    ${stuck}    Send Prompt    ${sid}    stuck    mode=hang
    VAR    @{queued}    @{EMPTY}
    FOR    ${i}    IN RANGE    1    ${PENDING_CAP}
        ${accepted}    Send Prompt    ${sid}    queued ${i}    mode=echo    chunks=1
        Append To List    ${queued}    ${accepted}
    END
    RETURN    ${stuck}    ${queued}

Cancel The Hung Turn And Prompt Again
    [Documentation]    Cancel the hung turn (it ends ``cancelled``), then a new prompt queues behind the freed
    ...    ones and completes. Returns the new prompt's answer.
    [Arguments]    ${sid}    ${stuck}
    Cancel Prompt    ${sid}
    ${cancelled}    Wait For Turn End    ${sid}    ${stuck}    timeout=10
    Turn Should Complete    ${cancelled}    stop_reason=cancelled
    ${last}    Send Prompt    ${sid}    after the cancel    mode=echo    chunks=1
    ${turn}    Wait For Turn End    ${sid}    ${last}    timeout=10
    Turn Should Complete    ${turn}    chunks=1
    RETURN    ${last}

The Stream Should Show Each Prompt Queued And Completed
    [Documentation]    Each prompt queued behind the hung turn has its ``pending_prompt_added`` and
    ...    ``pending_prompt_started`` on the stream, and every accepted prompt (the hung one, the queued ones
    ...    and the one sent after the cancel, which queues only if the others have not drained yet) its
    ...    ``turn_complete``; records the three.
    [Arguments]    ${stream}    ${stuck}    ${queued}    ${last}
    ${added}    Stream Should Have A Frame For Each Prompt    ${stream}    pending_prompt_added    ${queued}
    Record Result    ${added}    as=pendingPromptAdded
    ${started}    Stream Should Have A Frame For Each Prompt    ${stream}    pending_prompt_started    ${queued}
    Record Result    ${started}    as=pendingPromptStarted
    VAR    @{accepted}    ${stuck}    @{queued}    ${last}
    ${completed}    Stream Should Have A Frame For Each Prompt    ${stream}    turn_complete    ${accepted}
    Record Result    ${completed}    as=turnComplete

Anonymous Requests Should Share One Read Budget
    [Documentation]    Spend the read budget with requests without a client id, each on a connection of its own;
    ...    one more anonymous read, on yet another connection, gets the complete 429. Returns that refusal.
    FOR    ${_}    IN RANGE    ${RATE_READ}
        Send Request On A New Connection    /capabilities
    END
    ${shared}    Send Request On A New Connection    /capabilities    expected_status=429    code=rate_limit_exceeded
    Rate Limit Refusal Should Be Complete    ${shared}    read    ${RATE_READ}
    RETURN    ${shared}

Rate Limit Refusal Should Be Complete
    [Documentation]    A 429 ``rate_limit_exceeded`` of this tier with ``Retry-After`` and the ``X-RateLimit-*``
    ...    headers (limit as configured, none remaining, a reset time).
    [Arguments]    ${refusal}    ${tier}    ${limit}
    Refusal Should Carry Retry After    ${refusal}
    Should Be Equal    ${refusal.tier}    ${tier}    The refusal should name the ${tier} tier.
    Should Be Equal As Integers    ${refusal.rate_limit_limit}    ${limit}    X-RateLimit-Limit should be the tier.
    Should Be Equal As Integers    ${refusal.rate_limit_remaining}    0    X-RateLimit-Remaining should be 0.
    Should Not Be Equal    ${refusal.rate_limit_reset}    ${None}
    ...    X-RateLimit-Reset should be a whole number; the headers were ${refusal.headers}.

Health And Event Streams Should Be Exempt
    [Documentation]    With the anonymous budget spent, ``/health`` still answers 200, three times, and an
    ...    anonymous event stream is answered with 200.
    FOR    ${_}    IN RANGE    3
        Send Request On A New Connection    /health
    END
    ${sid}    Open Session    client_id=limits-erin
    ${sub}    Subscribe To Events    ${sid}    timeout=20
    Should Be Equal As Integers    ${sub.result.status}    200    The event stream should be exempt.
    Collect Events    ${sub}    stop=${True}

A Client Over Its Prompt Budget Should Be Refused
    [Documentation]    A client spends its prompt budget on its own session; its next prompt gets 429
    ...    ``rate_limit_exceeded`` of the prompt tier with ``Retry-After``. Returns that refusal.
    ${info}    Open Session With Info    client_id=limits-carol
    FOR    ${i}    IN RANGE    ${RATE_PROMPT}
        Send Prompt    ${info.session_id}    allowed ${i}    client_id=${info.client_id}
    END
    ${err}    Send Prompt Should Fail    ${info.session_id}    429    rate_limit_exceeded
    ...    client_id=${info.client_id}
    ${over}    Refusal Should Carry Retry After    ${err}
    Should Be Equal    ${over.tier}    prompt    The refusal should name the prompt tier.
    RETURN    ${over}

Open Sessions Up To The Cap
    [Documentation]    Open ``thread`` sessions until the workspace holds the cap; returns the first one.
    ${first}    Open Session
    FOR    ${_}    IN RANGE    1    ${SESSION_CAP}
        Open Session
    END
    RETURN    ${first}

A Single Scope Request Should Attach At The Cap
    [Documentation]    With one place free, a ``single`` request creates the shared session (not attached);
    ...    at the cap again, a ``thread`` create is refused but a ``single`` request attaches to that shared
    ...    session. Returns the attach (``SessionInfo``).
    ${shared}    Open Session With Info    scope=single
    Should Not Be True    ${shared.attached}    The first single request should create the shared session.
    Open Session Should Fail    503    session_limit_exceeded
    ${attach}    Open Session With Info    scope=single
    Should Be True    ${attach.attached}    The single request at the cap should attach.
    Should Be Equal    ${attach.session_id}    ${shared.session_id}    It should attach to the shared session.
    RETURN    ${attach}
