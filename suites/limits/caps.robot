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
&{BOB_ID}              X-Qwen-Client-Id=limits-bob


*** Test Cases ***
Pending Prompt Queue Full Gives 503 With Retry-After
    [Documentation]    With a hung turn on a session, prompts queue up to the cap (running + queued); the next
    ...    one gets 503 ``prompt_queue_full`` with ``Retry-After``. Queued prompts show
    ...    ``pending_prompt_added`` and, once the hung turn is cancelled, ``pending_prompt_started``.
    Start Daemon With Mock Agent    max_pending_prompts=${PENDING_CAP}
    ${sid}    Open Session
    ${sub}    Subscribe To Events    ${sid}    timeout=20
    ${stuck}    Send Prompt    ${sid}    stuck    mode=hang
    ${queued}    Evaluate    int($PENDING_CAP) - 1
    FOR    ${i}    IN RANGE    ${queued}
        Send Prompt    ${sid}    queued ${i}    mode=echo    chunks=1
    END
    ${t0}    Start Clock
    ${err}    Send Prompt Should Fail    ${sid}    503    prompt_queue_full
    ${refusal_ms}    Milliseconds Since    ${t0}
    Refusal Should Carry Retry After    ${err}    503    prompt_queue_full    expected=5
    Should Be Equal As Integers    ${err.body}[limit]    ${PENDING_CAP}
    Should Be Equal As Integers    ${err.body}[pendingCount]    ${PENDING_CAP}
    Cancel Prompt    ${sid}
    ${cancelled}    Wait For Turn End    ${sid}    ${stuck}    timeout=10
    Turn Should Complete    ${cancelled}    stop_reason=cancelled
    ${last}    Send Prompt    ${sid}    after the cancel    mode=echo    chunks=1
    ${turn}    Wait For Turn End    ${sid}    ${last}    timeout=10
    Turn Should Complete    ${turn}    chunks=1
    ${stream}    Collect Events    ${sub}    stop=${True}
    ${added}    Count Events    ${stream}    pending_prompt_added
    ${started}    Count Events    ${stream}    pending_prompt_started
    ${completed}    Count Events    ${stream}    turn_complete
    Should Be True    ${added} >= ${queued}    only ${added} pending_prompt_added for ${queued} queued prompts
    Should Be True    ${started} >= ${queued}    only ${started} pending_prompt_started for ${queued} queued prompts
    Should Be Equal As Integers    ${completed}    ${{int($PENDING_CAP) + 1}}
    ${serve_ms}    Daemon Should Still Serve
    Record Figures
    ...    cap ${PENDING_CAP}: prompt #${{int($PENDING_CAP) + 1}} -> 503 in ${refusal_ms} ms
    ...    Retry-After ${err.headers}[retry-after]
    ...    pending_prompt_added ${added}, started ${started}; turn after cancel ${{round($turn.turn_ms, 1)}} ms
    ...    fresh turn ${serve_ms} ms

The 65th Subscriber On One Session Is Refused And The First 64 Keep Working
    [Documentation]    One session takes ${SUBSCRIBER_CAP} SSE subscribers; the next gets 429
    ...    ``subscriber_limit_exceeded`` with ``Retry-After``. Every one of the first ${SUBSCRIBER_CAP} then
    ...    receives the next turn to its ``turn_complete``.
    ${daemon}    Start Daemon With Mock Agent
    ${sid}    Open Session
    ${t0}    Start Clock
    ${subs}    Open Event Streams    ${sid}    ${SUBSCRIBER_CAP}    until=turn_complete    timeout=20
    ${open_ms}    Milliseconds Since    ${t0}
    Create Session    probe    ${daemon.base_url}    max_retries=0
    ${over}    GET On Session    probe    /session/${sid}/events    expected_status=429    timeout=5
    Should Be Equal    ${over.json()}[code]    subscriber_limit_exceeded
    Should Match Regexp    ${over.headers}[Retry-After]    ^\\d+$
    ${t1}    Start Clock
    Send Prompt    ${sid}    for everyone    chunks=3
    ${all}    Collect Event Streams    ${subs}    timeout=15
    ${fanout_ms}    Milliseconds Since    ${t1}
    Should Be Equal As Integers    ${all.count_with('turn_complete')}    ${SUBSCRIBER_CAP}    ${all.summary()}
    Should Be Equal As Integers    ${all.ends}[until_type]    ${SUBSCRIBER_CAP}    ${all.summary()}
    ${serve_ms}    Daemon Should Still Serve
    Record Figures
    ...    ${SUBSCRIBER_CAP} streams open in ${open_ms} ms
    ...    stream #${{int($SUBSCRIBER_CAP) + 1}} -> 429 ${over.json()}[code] Retry-After ${over.headers}[Retry-After]
    ...    turn seen by all ${SUBSCRIBER_CAP} in ${fanout_ms} ms; fresh turn ${serve_ms} ms

Connections Over The Cap Are Reset At Accept And Service Resumes
    [Documentation]    With ``--max-connections ${CONNECTION_CAP}``, a flood of ${FLOOD_SIZE} keep-alive
    ...    connections: at most ${CONNECTION_CAP} are served (the library's own pooled socket may hold one
    ...    slot), the rest are reset at accept. Once the flood closes, a fresh connection is served within
    ...    ${RECOVERY_BOUND_S} s.
    Start Daemon With Mock Agent    max_connections=${CONNECTION_CAP}
    ${flood}    Open Connection Flood    ${FLOOD_SIZE}
    Should Be True    0 < ${flood.served} <= ${CONNECTION_CAP}    ${flood.summary()}
    Should Be True    ${flood.rejected} >= ${FLOOD_SIZE} - ${CONNECTION_CAP}    ${flood.summary()}
    Should Be Equal As Integers    ${{$flood.served + $flood.rejected}}    ${FLOOD_SIZE}    ${flood.summary()}
    Close Connection Flood    ${flood}
    ${recovery}    Wait Until Daemon Accepts Connections    timeout=${RECOVERY_BOUND_S}
    ${serve_ms}    Daemon Should Still Serve
    Record Figures
    ...    cap ${CONNECTION_CAP}, flood ${FLOOD_SIZE}: served ${flood.served}
    ...    rejected ${flood.rejected} ${flood.outcomes}
    ...    (first at #${flood.first_rejected}) in ${{round($flood.elapsed_ms, 1)}} ms
    ...    served again after ${{round($recovery.elapsed_ms, 1)}} ms (${recovery.attempts} tries)
    ...    fresh turn ${serve_ms} ms

Rate Limit Answers 429 With Headers And Exempts Health And SSE
    [Documentation]    With ``--rate-limit`` and small tiers (prompt ${RATE_PROMPT}, read ${RATE_READ}, mutation
    ...    ${RATE_MUTATION} per ${RATE_WINDOW_MS} ms): over-limit requests get 429 ``rate_limit_exceeded``
    ...    with ``Retry-After`` and ``X-RateLimit-*``; ``/health`` and SSE are exempt; two clients without a
    ...    client id share one bucket, a client id gets its own.
    ${daemon}    Start Daemon With Mock Agent    &{RATE_FLAGS}
    Create Session    alice    ${daemon.base_url}    max_retries=0
    Create Session    bob    ${daemon.base_url}    max_retries=0
    FOR    ${i}    IN RANGE    ${RATE_READ}
        GET On Session    alice    /capabilities    expected_status=200
    END
    ${shared}    GET On Session    bob    /capabilities    expected_status=429
    Rate Limit Refusal Should Be Complete    ${shared}    read    ${RATE_READ}
    ${own}    GET On Session    bob    /capabilities    headers=${BOB_ID}    expected_status=200
    FOR    ${i}    IN RANGE    3
        GET On Session    alice    /health    expected_status=200
    END
    ${info}    Open Session With Info    client_id=limits-carol
    ${sub}    Subscribe To Events    ${info.session_id}    timeout=20
    Should Be Equal As Integers    ${sub.result.status}    200
    FOR    ${i}    IN RANGE    ${RATE_PROMPT}
        Send Prompt    ${info.session_id}    allowed ${i}    client_id=${info.client_id}
    END
    ${over}    Send Prompt Should Fail    ${info.session_id}    429    rate_limit_exceeded
    ...    client_id=${info.client_id}
    Should Be Equal    ${over.body}[tier]    prompt
    Refusal Should Carry Retry After    ${over}    429    rate_limit_exceeded
    Collect Events    ${sub}    stop=${True}
    ${status}    GET On Session    bob    /daemon/status    headers=${BOB_ID}    expected_status=200
    Delete All Sessions
    ${serve_ms}    Daemon Should Still Serve    client_id=limits-dave
    Record Figures
    ...    read tier ${RATE_READ}: 4th anonymous read (other socket) -> 429 Retry-After ${shared.headers}[Retry-After]
    ...    X-RateLimit-Limit ${shared.headers}[X-RateLimit-Limit] Remaining ${shared.headers}[X-RateLimit-Remaining]
    ...    X-Qwen-Client-Id read -> ${own.status_code}
    ...    prompt tier ${RATE_PROMPT}: 3rd -> 429 retryAfterMs ${over.body}[retryAfterMs]; health x3 and SSE 200
    ...    rejected since start ${status.json()}[runtime][rateLimit][rejectedSinceStart]; fresh turn ${serve_ms} ms
    Record Figures
    ...    \nNOTE: all requests without X-Qwen-Client-Id share one "anonymous" bucket (two sockets, one budget).
    IF    'X-RateLimit-Limit' not in $own.headers
        Flag Finding
        ...    X-RateLimit-* headers appear only on 429 answers, not on allowed requests (clients cannot pace
        ...    themselves).
    END

Session Cap Gives 503 And Attach Works At The Cap Only To An Existing Shared Session
    [Documentation]    With ``--max-sessions ${SESSION_CAP}``: the next ``thread`` create gets 503
    ...    ``session_limit_exceeded`` with ``Retry-After: 5``; a ``single`` (default-scope) request also gets
    ...    503 while no shared session exists; once the shared session is one of the ${SESSION_CAP}, a
    ...    ``single`` request attaches to it (200, ``attached``) even at the cap.
    Start Daemon With Mock Agent    max_sessions=${SESSION_CAP}
    ${first}    Open Session
    FOR    ${_}    IN RANGE    ${{int($SESSION_CAP) - 1}}
        Open Session
    END
    ${t0}    Start Clock
    ${err}    Open Session Should Fail    503    session_limit_exceeded
    ${refusal_ms}    Milliseconds Since    ${t0}
    Refusal Should Carry Retry After    ${err}    503    session_limit_exceeded    expected=5
    Should Be Equal As Integers    ${err.body}[limit]    ${SESSION_CAP}
    Open Session Should Fail    503    session_limit_exceeded    scope=single
    Close Session    ${first}
    ${shared}    Open Session With Info    scope=single
    Should Not Be True    ${shared.attached}
    Open Session Should Fail    503    session_limit_exceeded
    ${attach}    Open Session With Info    scope=single
    Should Be True    ${attach.attached}
    Should Be Equal    ${attach.session_id}    ${shared.session_id}
    Close Session    ${shared.session_id}
    ${serve_ms}    Daemon Should Still Serve
    Record Figures
    ...    cap ${SESSION_CAP}: create #${{int($SESSION_CAP) + 1}} -> 503 in ${refusal_ms} ms
    ...    Retry-After ${err.headers}[retry-after]
    ...    single with no shared session -> 503
    ...    single attach at the cap -> 200 attached in ${{round($attach.elapsed_ms, 1)}} ms
    ...    fresh turn ${serve_ms} ms


*** Keywords ***
Rate Limit Refusal Should Be Complete
    [Documentation]    A 429 ``rate_limit_exceeded`` of this tier with ``Retry-After`` and the ``X-RateLimit-*``
    ...    headers (limit as configured, none remaining, a reset time).
    [Arguments]    ${response}    ${tier}    ${limit}
    Should Be Equal    ${response.json()}[code]    rate_limit_exceeded
    Should Be Equal    ${response.json()}[tier]    ${tier}
    Should Match Regexp    ${response.headers}[Retry-After]    ^\\d+$
    Should Be Equal As Integers    ${response.headers}[X-RateLimit-Limit]    ${limit}
    Should Be Equal As Integers    ${response.headers}[X-RateLimit-Remaining]    0
    Should Match Regexp    ${response.headers}[X-RateLimit-Reset]    ^\\d+$
