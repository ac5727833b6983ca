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
    Begin Scenario    sse-slow-consumer-eviction
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${healthy}    Subscribe To Events    ${sid}    until=turn_complete,turn_error
    ...    timeout=${EVICTION_TIMEOUT_S}
    ${stalled}    Subscribe To Events    ${sid}    max_queued=${STALLED_MAX_QUEUED}
    ...    recv_buffer=${STALLED_RECV_BUFFER}    stall=${EVICTION_TIMEOUT_S}    timeout=${EVICTION_TIMEOUT_S}
    ${accepted}    Send Prompt    ${sid}    flood    chunks=${FLOOD_CHUNKS}    chunk_size=${FLOOD_CHUNK_SIZE}
    ${evicted}    Wait For Eviction In Daemon Log    ${sid}    stream_id=${stalled.result.stream_id}
    ...    timeout=${EVICTION_TIMEOUT_S}    after=${accepted}
    Release Stalled Reader    ${stalled}
    ${cut}    Collect Events    ${stalled}    timeout=${EVICTION_TIMEOUT_S}
    ${all}    Collect Events    ${healthy}    timeout=${EVICTION_TIMEOUT_S}
    VAR    ${figures}
    ...    ${evicted.line()} · stalled reader got ${cut.received} frames, ended ${cut.end}
    ...    · healthy got ${all.received}
    ...    separator=${SPACE}
    Record Loadtest Figures
    ...    sse-slow-consumer-eviction
    ...    ${figures}
    ...    evictedFrame=${cut.evicted}
    ...    cutBeforeTerminal=${cut.cut_before_terminal}
    ...    received=${cut.received}
    ...    stalledEnd=${cut.end}
    ...    healthyReceived=${all.received}
    ...    healthyGaps=${{len($all.gaps) + len($all.duplicates)}}
    ...    &{evicted.figures()}
    Should Be Equal    ${evicted.reason}    queue_overflow
    Should Be Equal As Integers    ${evicted.max_queued}    ${STALLED_MAX_QUEUED}
    Should Be True    $cut.last_id is None or $cut.last_id <= $evicted.dropped_after
    ...    The stalled reader got id ${cut.last_id}, after the drop point ${evicted.dropped_after}
    Stream Should Have Been Cut Before Any Terminal Frame    ${cut}
    Stream Should Hold Exactly The Turn    ${all}    ${accepted}    chunks=${FLOOD_CHUNKS}
    Stream Should Have Ended With    ${all}    until_type
    Figure Should Be At Most    eviction time    ${evicted.ms_after_prompt}    ${EVICTION_BOUND_MS}
    Plot Stream Event Rate    ${all}    healthy subscriber: events per second of the ${FLOOD_CHUNKS}-chunk flood

Reconnect With Last-Event-ID Under Concurrent Load Continues Exactly After The Cursor
    [Documentation]    Seed a session with one turn, read its first ${READ_FIRST} events, then start
    ...    ${LOAD_SESSIONS} busy sessions and a second, streaming prompt on the session, and reconnect with
    ...    the last id seen. The stream must hold exactly the events after the cursor up to the end of the
    ...    second turn, with no gap or duplicate, and with ``replay_complete`` between replay and live.
    Begin Scenario    last-event-id-reconnect
    Start Daemon With Warm-Up Session
    ${sid}    Open Session
    ${seed}    Prompt And Wait    ${sid}    seed-events    chunks=${SEED_CHUNKS}
    Turn Should Complete    ${seed}    chunks=${SEED_CHUNKS}
    ${part}    Read Events    ${sid}    last_event_id=0    max_events=${READ_FIRST}
    Should Be Equal As Integers    ${part.last_id}    ${READ_FIRST}
    ${load}    Start Background Load    sessions=${LOAD_SESSIONS}    chunks=${LOAD_CHUNKS}
    Wait Until Background Load Is Busy    ${load}
    VAR    ${turns_before}    ${load.turns}
    ${more}    Send Prompt    ${sid}    generate-more    chunks=${MORE_CHUNKS}
    ...    chunk_delay_ms=${MORE_CHUNK_DELAY_MS}
    ${again}    Read Events    ${sid}    last_event_id=${part.last_id}    until_turn_end=${more.prompt_id}
    ...    timeout=${RECONNECT_TIMEOUT_S}
    ${turns_during}    Evaluate    ${load.turns} - ${turns_before}
    ${done}    Stop Background Load    ${load}
    VAR    ${figures}
    ...    reconnect after id ${part.last_id}: ${again.replayed_count} replayed; ${again.line()}
    ...    · ${done.line()}
    ...    separator=${SPACE}
    Record Loadtest Figures
    ...    last-event-id-reconnect
    ...    ${figures}
    ...    reconnectReceived=${again.received}
    ...    cursor=${part.last_id}
    ...    replayedCount=${again.replayed_count}
    ...    firstId=${again.figures()}[firstId]
    ...    lastId=${again.last_id}
    ...    gaps=${{len($again.gaps)}}
    ...    duplicates=${{len($again.duplicates)}}
    ...    loadSessions=${LOAD_SESSIONS}
    ...    loadTurnsDuringReconnect=${turns_during}
    ...    loadFailures=${{len($done.failures)}}
    Stream Should Continue Exactly After    ${again}    ${part.last_id}
    Stream Should Hold Exactly The Turn    ${again}    ${more}    chunks=${MORE_CHUNKS}
    Stream Should Have Ended With    ${again}    turn_end
    Should Be Empty    ${done.failures}    Background load failed: ${done.failures}
    Plot Stream Event Rate    ${again}    reconnected stream: events per second (replay, then live)
