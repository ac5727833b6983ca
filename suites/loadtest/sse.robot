*** Settings ***
Documentation    Upstream scenarios 2 and 3 over the session event stream (SSE).
...
...              Slow-consumer eviction: the kernel absorbs about 4 MB per socket before the daemon's
...              per-subscriber queue even starts to grow, so a slow reader with default buffers is only
...              evicted after megabytes (upstream took 61 s). Here the reader stalls with a receive buffer
...              made small before it connects and a queue cap of 16, so eviction comes within a fraction of
...              a second, every run. On this daemon the evicted reader rarely gets the ``client_evicted``
...              frame: the daemon destroys the socket behind a full kernel buffer, so the reader sees its
...              stream cut, and the daemon's own log names the evicted subscriber, the reason and the last
...              event id queued for it (``droppedAfter``).
...
...              Last-Event-ID reconnect: upstream only checked that something arrived after a reconnect,
...              with no load. Here other sessions are busy while the reconnect happens, and the stream must
...              hold exactly the events after the cursor, replay and live alike.

Resource         ../../resources/loadtest.resource

Test Teardown    Stop All Daemons


*** Variables ***
${STALLED_MAX_QUEUED}     16
${STALLED_RECV_BUFFER}    4096
${FLOOD_CHUNKS}           200
${FLOOD_CHUNK_SIZE}       1024
${EVICTION_TIMEOUT_S}     10
${EVICTION_BOUND_MS}      5000
${SEED_CHUNKS}            20
${READ_FIRST}             5
${MORE_CHUNKS}            100
${MORE_CHUNK_DELAY_MS}    2
${LOAD_SESSIONS}          4
${LOAD_CHUNKS}            200
${RECONNECT_TIMEOUT_S}    20


*** Test Cases ***
A Stalled Slow Consumer Is Evicted While A Healthy Subscriber Gets Everything
    [Documentation]    Two subscribers on one session: a healthy one and a stalled one (queue cap
    ...    ${STALLED_MAX_QUEUED}, receive buffer ${STALLED_RECV_BUFFER} bytes). One prompt floods
    ...    ${FLOOD_CHUNKS} chunks of ${FLOOD_CHUNK_SIZE} characters. The daemon must evict the stalled
    ...    subscriber for ``queue_overflow`` (its log says so for that subscriber's stream), the stalled
    ...    reader must see its stream cut before any terminal frame, and the healthy subscriber must receive
    ...    every event of the prompt with no gap.
    Begin Scenario    sse-slow-consumer-eviction    floodChunks=${FLOOD_CHUNKS}    maxQueued=${STALLED_MAX_QUEUED}
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${healthy}    ${stalled}    Subscribe A Healthy And A Stalled Reader    ${sid}
    ${accepted}    Send Prompt    ${sid}    flood    chunks=${FLOOD_CHUNKS}    chunk_size=${FLOOD_CHUNK_SIZE}
    ${evicted}    Wait For Eviction In Daemon Log    ${sid}    stream_id=${stalled.result.stream_id}
    ...    timeout=${EVICTION_TIMEOUT_S}    after=${accepted}
    ${cut}    Release And Collect The Stalled Reader    ${stalled}
    ${all}    Collect Events    ${healthy}    timeout=${EVICTION_TIMEOUT_S}
    Record Result    ${evicted}
    Record Result    ${cut}    as=stalled
    Record Result    ${all}    as=healthy
    The Daemon Should Have Evicted The Stalled Reader    ${evicted}    ${cut}
    The Healthy Subscriber Should Have Got The Whole Turn    ${all}    ${accepted}
    Figure Should Be At Most    eviction time    ${evicted.ms_after_prompt}    ${EVICTION_BOUND_MS}
    Plot Stream Event Rate    ${all}    healthy subscriber: events per second of the ${FLOOD_CHUNKS}-chunk flood

Reconnect With Last-Event-ID Under Concurrent Load Continues Exactly After The Cursor
    [Documentation]    Seed a session with one turn, read its first ${READ_FIRST} events, then start
    ...    ${LOAD_SESSIONS} busy sessions and a second, streaming prompt on the session, and reconnect with
    ...    the last id seen. The stream must hold exactly the events after the cursor up to the end of the
    ...    second turn, with no gap or duplicate, and with ``replay_complete`` between replay and live; the
    ...    busy sessions must complete turns while the reconnected stream is read.
    Begin Scenario    last-event-id-reconnect    loadSessions=${LOAD_SESSIONS}    readFirst=${READ_FIRST}
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${part}    Seed A Session And Read Its First Events    ${sid}
    ${load}    Start Background Load    sessions=${LOAD_SESSIONS}    chunks=${LOAD_CHUNKS}
    Wait Until Background Load Is Busy    ${load}
    ${more}    Send Prompt    ${sid}    generate-more    chunks=${MORE_CHUNKS}
    ...    chunk_delay_ms=${MORE_CHUNK_DELAY_MS}
    ${again}    Reconnect While The Load Runs    ${sid}    ${part.last_id}    ${more}    ${load}
    ${done}    Stop Background Load    ${load}
    Record Result    ${part}    as=firstRead
    Record Result    ${again}    as=reconnect
    Record Result    ${done}
    The Reconnected Stream Should Hold Exactly The Events After    ${again}    ${part.last_id}    ${more}
    Should Be Empty    ${done.failures}    Background load failed: ${done.failures}
    Plot Stream Event Rate    ${again}    reconnected stream: events per second (replay, then live)


*** Keywords ***
Subscribe A Healthy And A Stalled Reader
    [Documentation]    Open two subscriptions on ``${sid}``: a healthy one that reads until the turn ends, and a
    ...    stalled one (queue cap ``${STALLED_MAX_QUEUED}``, receive buffer ``${STALLED_RECV_BUFFER}`` bytes)
    ...    that reads nothing for ``${EVICTION_TIMEOUT_S}`` s. Returns both.
    [Arguments]    ${sid}
    ${healthy}    Subscribe To Events    ${sid}    until=turn_complete,turn_error    timeout=${EVICTION_TIMEOUT_S}
    ${stalled}    Subscribe To Events    ${sid}    max_queued=${STALLED_MAX_QUEUED}
    ...    recv_buffer=${STALLED_RECV_BUFFER}    stall=${EVICTION_TIMEOUT_S}    timeout=${EVICTION_TIMEOUT_S}
    RETURN    ${healthy}    ${stalled}

Release And Collect The Stalled Reader
    [Documentation]    End the stalled reader's stall and collect what it got until its stream ended.
    [Arguments]    ${stalled}
    Release Stalled Reader    ${stalled}
    ${cut}    Collect Events    ${stalled}    timeout=${EVICTION_TIMEOUT_S}
    RETURN    ${cut}

The Daemon Should Have Evicted The Stalled Reader
    [Documentation]    The daemon's log names the eviction for ``queue_overflow`` at the queue cap, and the
    ...    stalled reader got nothing after the drop point and saw its stream cut before any terminal frame.
    [Arguments]    ${evicted}    ${cut}
    Should Be Equal    ${evicted.reason}    queue_overflow
    Should Be Equal As Integers    ${evicted.max_queued}    ${STALLED_MAX_QUEUED}
    Should Be True    $cut.last_id is None or $cut.last_id <= $evicted.dropped_after
    ...    The stalled reader got id ${cut.last_id}, after the drop point ${evicted.dropped_after}
    Stream Should Have Been Cut Before Any Terminal Frame    ${cut}

The Healthy Subscriber Should Have Got The Whole Turn
    [Documentation]    The healthy subscriber's stream holds every event of the flood's turn once, in order, and
    ...    stopped at its end.
    [Arguments]    ${stream}    ${accepted}
    Stream Should Hold Exactly The Turn    ${stream}    ${accepted}    chunks=${FLOOD_CHUNKS}
    Stream Should Have Ended With    ${stream}    until_type

Seed A Session And Read Its First Events
    [Documentation]    Run one turn of ``${SEED_CHUNKS}`` chunks on ``${sid}``, then read its first
    ...    ``${READ_FIRST}`` events from the start of the ring. Returns that stream (its last id is the cursor).
    [Arguments]    ${sid}
    ${seed}    Prompt And Wait    ${sid}    seed-events    chunks=${SEED_CHUNKS}
    Turn Should Complete    ${seed}    chunks=${SEED_CHUNKS}
    ${part}    Read Events    ${sid}    last_event_id=0    max_events=${READ_FIRST}
    Should Be Equal As Integers    ${part.last_id}    ${READ_FIRST}
    RETURN    ${part}

Reconnect While The Load Runs
    [Documentation]    Reconnect to ``${sid}`` after ``${cursor}`` and read until the turn of ``${more}`` ends,
    ...    while the background load runs; record the load's completed turns before and after the read and
    ...    require the load to have completed turns meanwhile. Returns the reconnected stream.
    [Arguments]    ${sid}    ${cursor}    ${more}    ${load}
    VAR    ${before}    ${load.turns}
    ${again}    Read Events    ${sid}    last_event_id=${cursor}    until_turn_end=${more.prompt_id}
    ...    timeout=${RECONNECT_TIMEOUT_S}
    VAR    ${after}    ${load.turns}
    Record Figure    loadTurnsBeforeReconnect    ${before}
    Record Figure    loadTurnsAfterReconnect    ${after}
    Should Be True    ${after} > ${before}    The background load completed no turn while the stream was read
    RETURN    ${again}

The Reconnected Stream Should Hold Exactly The Events After
    [Documentation]    The reconnected stream continues exactly after ``${cursor}`` (replay, ``replay_complete``,
    ...    then live, no gap or duplicate), holds the whole turn of ``${more}`` and stopped at its end.
    [Arguments]    ${stream}    ${cursor}    ${more}
    Stream Should Continue Exactly After    ${stream}    ${cursor}
    Stream Should Hold Exactly The Turn    ${stream}    ${more}    chunks=${MORE_CHUNKS}
    Stream Should Have Ended With    ${stream}    turn_end
