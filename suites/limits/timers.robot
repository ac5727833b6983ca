*** Settings ***
Documentation    Timers: the writer-idle eviction of SSE streams, the idle-session reaper and the server-side
...              prompt deadline, each with short values so the whole file runs in seconds.

Resource         ../../resources/limits.resource

Test Teardown    Stop All Daemons

Test Tags        timers


*** Variables ***
${WRITER_IDLE_MS}        2000
${STALL_S}               4
${FLOOD_CHUNKS}          3500
${FLOOD_CHUNK_SIZE}      1000
${IDLE_TIMEOUT_MS}       2000
${REAP_INTERVAL_MS}      1000
${REAP_BOUND_S}          8
${DEADLINE_MS}           1500
${DEADLINE_MARGIN_MS}    1000


*** Test Cases ***
Writer Idle Timeout Evicts A Stalled Stream And A Healthy Idle One
    [Documentation]    With ``--writer-idle-timeout-ms ${WRITER_IDLE_MS}``: a reader that stops reading while a
    ...    turn floods its stream is evicted with ``client_evicted`` ``writer_idle_timeout`` (after the
    ...    backlog it had not read, ids without gaps); a healthy stream on an idle session is evicted the
    ...    same way after about ${WRITER_IDLE_MS} ms, because heartbeats only go out every 15 s (a finding).
    Start Daemon With Mock Agent    writer_idle_timeout_ms=${WRITER_IDLE_MS}
    ${quiet}    Open Session
    ${busy}    Open Session
    ${idle_sub}    Subscribe To Events    ${quiet}    timeout=10
    ${stalled_sub}    Subscribe To Events    ${busy}    timeout=20    stall=${STALL_S}    max_queued=2048
    Send Prompt    ${busy}    flood    chunks=${FLOOD_CHUNKS}    chunk_size=${FLOOD_CHUNK_SIZE}
    ${idle}    Collect Events    ${idle_sub}    timeout=10
    ${stalled}    Collect Events    ${stalled_sub}    timeout=20
    Stream Should Have Ended With    ${idle}    terminal    client_evicted
    Should Be Equal    ${idle.eviction_reason}    writer_idle_timeout
    Stream Should Have Ended With    ${stalled}    terminal    client_evicted
    Should Be Equal    ${stalled.eviction_reason}    writer_idle_timeout
    Stream Should Have No Gaps    ${stalled}
    ${closes}    Get Daemon Log Lines    closeReason=writer_idle_timeout
    Length Should Be    ${closes}    2
    ${backlog}    Evaluate    max(int(n) for l in $closes for n in re.findall(r'backpressureCount=(\\d+)', l))
    ...    modules=re
    ${serve_ms}    Daemon Should Still Serve
    VAR    ${idle_ms}    ${{round($idle.elapsed_ms)}}
    VAR    ${stall_end_ms}    ${{round($stalled.elapsed_ms)}}
    Record Figures
    ...    timeout ${WRITER_IDLE_MS} ms: idle stream evicted after ${idle_ms} ms
    ...    (idleForMs ${idle.terminal_data}[idleForMs])
    ...    stalled stream (${STALL_S} s stall) got ${stalled.received} frames then the eviction at ${stall_end_ms} ms
    ...    (idleForMs ${stalled.terminal_data}[idleForMs], daemon backpressureCount ${backlog})
    ...    fresh turn ${serve_ms} ms
    Flag Finding
    ...    a healthy idle SSE stream is evicted after ${idle_ms} ms: with --writer-idle-timeout-ms below the 15 s
    ...    heartbeat interval every quiet stream is cut.
    IF    ${stalled.elapsed_ms} > ${STALL_S} * 1000
        Flag Finding
        ...    the stalled stream was detected idle (idleForMs ${stalled.terminal_data}[idleForMs]) but its socket
        ...    was held until the reader resumed (${stall_end_ms} ms): a reader that never resumes is never
        ...    disconnected by this timer.
    END

Idle Reaper Closes A Session Without Subscriber And Keeps One With A Subscriber
    [Documentation]    With ``--session-idle-timeout-ms ${IDLE_TIMEOUT_MS}`` and ``--session-reap-interval-ms
    ...    ${REAP_INTERVAL_MS}``: a session nobody subscribes to is closed with reason ``idle_timeout``
    ...    (gone with 404 within ${REAP_BOUND_S} s); a session with an open SSE stream outlives it.
    Start Daemon With Mock Agent    session_idle_timeout_ms=${IDLE_TIMEOUT_MS}
    ...    session_reap_interval_ms=${REAP_INTERVAL_MS}
    ${lonely}    Open Session
    ${t0}    Start Clock
    ${watched}    Open Session
    ${sub}    Subscribe To Events    ${watched}    timeout=20
    Wait Until Keyword Succeeds    ${REAP_BOUND_S} s    100 ms    Session Should Be Gone    ${lonely}
    ${reaped_ms}    Milliseconds Since    ${t0}
    Wait For Daemon Stderr Line    closing session "${lonely}" \\(reason: idle_timeout\\)
    Sleep    ${{int($IDLE_TIMEOUT_MS) / 1000 + 1}} s    let the kept session pass the threshold once more
    ${kept}    Get Session Status    ${watched}
    Should Be Equal    ${kept}[sessionId]    ${watched}
    ${stream}    Collect Events    ${sub}    stop=${True}
    Should Be Equal    ${stream.terminal}    ${None}    the watched session's stream ended: ${stream.summary()}
    ${serve_ms}    Daemon Should Still Serve
    Record Figures
    ...    idle ${IDLE_TIMEOUT_MS} ms, scan every ${REAP_INTERVAL_MS} ms: unwatched session reaped after ${reaped_ms} ms
    ...    watched session alive after ${{round($stream.elapsed_ms)}} ms; fresh turn ${serve_ms} ms

Prompt Deadline Ends A Hung Turn Within A Measured Margin
    [Documentation]    With ``--prompt-deadline-ms ${DEADLINE_MS}``, a turn the agent never finishes ends with
    ...    ``turn_error`` ``prompt_deadline_exceeded`` no earlier than the
    ...    deadline and within ${DEADLINE_MARGIN_MS} ms after it; the session takes the next prompt.
    Start Daemon With Mock Agent    prompt_deadline_ms=${DEADLINE_MS}
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    never answered    timeout=10    mode=hang
    Turn Should End With    ${turn}    error    prompt_deadline_exceeded
    Should Be True    ${DEADLINE_MS} <= ${turn.turn_ms} <= ${DEADLINE_MS} + ${DEADLINE_MARGIN_MS}
    ...    the turn ended after ${turn.turn_ms} ms
    ${status}    Get Session Status    ${sid}
    Should Be Equal    ${status}[turnError][code]    prompt_deadline_exceeded
    ${next}    Prompt And Wait    ${sid}    after the deadline    mode=echo    chunks=2
    Turn Should Complete    ${next}    chunks=2
    ${serve_ms}    Daemon Should Still Serve
    Record Figures
    ...    deadline ${DEADLINE_MS} ms: turn_error after ${{round($turn.turn_ms, 1)}} ms
    ...    overshoot ${{round($turn.turn_ms - int($DEADLINE_MS), 1)}} ms, message "${turn.error_message}"
    ...    next prompt on the same session ${{round($next.turn_ms, 1)}} ms; fresh turn ${serve_ms} ms
