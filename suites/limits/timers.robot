*** Settings ***
Documentation    Timers: the writer-idle eviction of SSE streams, the idle-session reaper and the server-side
...              prompt deadline, each with short values so the whole file runs in seconds.

Resource         ../../resources/limits.resource

Test Teardown    Stop All Daemons

Test Tags        timers


*** Variables ***
${WRITER_IDLE_MS}        2000
${STALL_MS}              4000
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
    ...    The daemon's log records both closes and the backpressure the stalled one met.
    Begin Scenario    writer-idle-timeout    writerIdleTimeoutMs=${WRITER_IDLE_MS}    stallMs=${STALL_MS}
    ...    floodChunks=${FLOOD_CHUNKS}    floodChunkSize=${FLOOD_CHUNK_SIZE}
    Start Daemon With Mock Agent    writer_idle_timeout_ms=${WRITER_IDLE_MS}
    ${idle}    ${stalled}    Watch An Idle Session And Stall A Reader Behind A Flood
    ${idle_eviction}    Stream Should Have Been Evicted    ${idle}    writer_idle_timeout
    Record Result    ${idle_eviction}    as=idle
    ${stalled_eviction}    Stream Should Have Been Evicted    ${stalled}    writer_idle_timeout
    Record Result    ${stalled_eviction}    as=stalled
    Stream Should Have No Gaps    ${stalled}
    ${closes}    Get Stream Closes From Daemon Log    reason=writer_idle_timeout
    Record Result    ${closes}
    Should Be Equal As Integers    ${closes.count}    2    The daemon should log both writer-idle closes.
    Daemon Should Still Serve And Record It
    Flag Finding    a healthy idle SSE stream is ${idle_eviction.line()}: with --writer-idle-timeout-ms below
    ...    the 15 s heartbeat interval every quiet stream is cut.
    IF    ${stalled_eviction.evicted_at_ms} > ${STALL_MS}
        Flag Finding    the stalled stream was detected idle but its socket was held until the reader resumed
        ...    (${stalled_eviction.line()}): a reader that never resumes is never disconnected by this timer.
    END

Idle Reaper Closes A Session Without Subscriber And Keeps One With A Subscriber
    [Documentation]    With ``--session-idle-timeout-ms ${IDLE_TIMEOUT_MS}`` and ``--session-reap-interval-ms
    ...    ${REAP_INTERVAL_MS}``: a session nobody subscribes to is closed with reason ``idle_timeout``
    ...    within ${REAP_BOUND_S} s (and is gone: 404); an older session with an open SSE stream outlives it.
    Begin Scenario    idle-session-reaper    idleTimeoutMs=${IDLE_TIMEOUT_MS}
    ...    reapIntervalMs=${REAP_INTERVAL_MS}
    Start Daemon With Mock Agent    session_idle_timeout_ms=${IDLE_TIMEOUT_MS}
    ...    session_reap_interval_ms=${REAP_INTERVAL_MS}
    ${watched}    Open Session
    ${sub}    Subscribe To Events    ${watched}    timeout=20
    ${lonely}    Open Session
    ${reaping}    Wait For Session To Be Reaped    ${lonely}    timeout=${REAP_BOUND_S} s
    Record Result    ${reaping}
    Wait Until Keyword Succeeds    2 s    100 ms    Session Should Be Gone    ${lonely}
    Sleep    ${IDLE_TIMEOUT_MS} ms 1 s    let the kept session pass the threshold once more
    Get Session Status    ${watched}
    ${stream}    Collect Events    ${sub}    stop=${True}
    Record Result    ${stream}    as=watched
    Should Be Equal    ${stream.terminal}    ${None}
    ...    The watched session's stream should still be open, but it ended: ${stream.summary()}
    Daemon Should Still Serve And Record It

Prompt Deadline Ends A Hung Turn Within A Measured Margin
    [Documentation]    With ``--prompt-deadline-ms ${DEADLINE_MS}``, a turn the agent never finishes ends with
    ...    ``turn_error`` ``prompt_deadline_exceeded`` no earlier than the
    ...    deadline and within ${DEADLINE_MARGIN_MS} ms after it; the session takes the next prompt.
    Begin Scenario    prompt-deadline    deadlineMs=${DEADLINE_MS}    marginMs=${DEADLINE_MARGIN_MS}
    Start Daemon With Mock Agent    prompt_deadline_ms=${DEADLINE_MS}
    ${sid}    Open Session
    ${turn}    Prompt And Wait    ${sid}    never answered    timeout=10    mode=hang
    Turn Should End With    ${turn}    error    prompt_deadline_exceeded
    ${deadline}    Timer Should Have Fired On Time    prompt deadline    ${turn.turn_ms}    ${DEADLINE_MS} ms
    ...    margin=${DEADLINE_MARGIN_MS} ms
    Record Result    ${deadline}    as=deadline
    Log    the deadline's message: ${turn.error_message}
    ${status}    Get Session Status    ${sid}
    Should Be Equal    ${status}[turnError][code]    prompt_deadline_exceeded
    ...    The session's status should show the deadline as its turn error.
    ${next}    Prompt And Wait    ${sid}    after the deadline    mode=echo    chunks=2
    Turn Should Complete    ${next}    chunks=2
    Record Result    ${next}    as=next
    Daemon Should Still Serve And Record It


*** Keywords ***
Watch An Idle Session And Stall A Reader Behind A Flood
    [Documentation]    Two sessions, each with a stream: one session stays quiet; on the other a reader stalls
    ...    for ${STALL_MS} ms while a turn floods its stream. Returns both streams once they ended.
    ${quiet}    Open Session
    ${busy}    Open Session
    ${idle_sub}    Subscribe To Events    ${quiet}    timeout=10
    ${stalled_sub}    Subscribe To Events    ${busy}    timeout=20    stall=${STALL_MS} ms    max_queued=2048
    Send Prompt    ${busy}    flood    chunks=${FLOOD_CHUNKS}    chunk_size=${FLOOD_CHUNK_SIZE}
    ${idle}    Collect Events    ${idle_sub}    timeout=10
    ${stalled}    Collect Events    ${stalled_sub}    timeout=20
    RETURN    ${idle}    ${stalled}
