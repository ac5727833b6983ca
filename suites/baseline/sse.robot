*** Settings ***
Documentation    B5 and B6 (mock agent): SSE backpressure and replay through HTTP on the real daemon.
...
...              Upstream checked both in-process on the event bus with hard-coded constants. Here they go
...              through the daemon's HTTP stream, with the mock agent (these tests are about the daemon's
...              SSE path; the mock streams thousands of chunks fast), and the figures are measured.
...
...              B5: a healthy subscriber and a stalled one (``maxQueued`` ${STALLED_MAX_QUEUED}, receive
...              buffer ${STALLED_RECV_BUFFER} bytes) on one session; one prompt floods ${FLOOD_CHUNKS} chunks of
...              ${FLOOD_CHUNK_SIZE} characters. The daemon must evict the stalled one for ``queue_overflow``
...              (its log says so for that stream), and the healthy one must get every event with no gap.
...
...              B6: with ``--event-ring-size`` ${RING_SIZE}, a reconnect with ``Last-Event-ID`` inside the
...              ring gets exactly the events after it; after the ring has wrapped, a reconnect behind it gets
...              ``state_resync_required`` (``ring_evicted``) and then exactly the ${RING_SIZE} events the ring
...              still holds.

Resource         ../../resources/baseline.resource

Test Teardown    Stop Baseline Fixtures


*** Variables ***
${STALLED_MAX_QUEUED}     16
${STALLED_RECV_BUFFER}    4096
${FLOOD_CHUNKS}           2000
${FLOOD_CHUNK_SIZE}       1000
${EVICTION_TIMEOUT_S}     20
${RING_SIZE}              100
${RING_CHUNKS}            40
${RING_CURSOR}            10
${RING_PROMPTS}           4


*** Test Cases ***
A Subscriber Over Its Queue Cap Is Evicted And A Healthy One Is Not
    Begin Baseline Scenario    sse-backpressure
    Start Daemon With Mock Agent
    ${sid}    Open Session
    ${healthy}    Subscribe To Events    ${sid}    until=turn_complete,turn_error    timeout=${EVICTION_TIMEOUT_S}
    ...    keep_events=${False}
    ${stalled}    Subscribe To Events    ${sid}    max_queued=${{int($STALLED_MAX_QUEUED)}}
    ...    recv_buffer=${STALLED_RECV_BUFFER}    stall=${EVICTION_TIMEOUT_S}    timeout=${EVICTION_TIMEOUT_S}
    ${accepted}    Send Prompt    ${sid}    flood    chunks=${{int($FLOOD_CHUNKS)}}    chunk_size=${FLOOD_CHUNK_SIZE}
    ${evicted}    Wait For Eviction In Daemon Log    ${sid}    stream_id=${stalled.result.stream_id}
    ...    timeout=${EVICTION_TIMEOUT_S}    after=${accepted}
    Release Stalled Reader    ${stalled}
    ${cut}    Collect Events    ${stalled}    timeout=${EVICTION_TIMEOUT_S}
    ${all}    Collect Events    ${healthy}    timeout=${EVICTION_TIMEOUT_S}
    ${healthy_evictions}    Get Daemon Log Lines    SSE client evicted.*${all.stream_id}
    VAR    ${line}
    ...    evicted (${evicted.reason}) at queue ${evicted.queue_size}/${STALLED_MAX_QUEUED}
    ...    ${evicted.ms_after_prompt} ms after the prompt · stalled reader got ${cut.received} frames
    ...    · healthy got ${all.received}, not evicted
    ...    separator=${SPACE}
    Record Baseline Figures    sse-backpressure    ${line}
    ...    maxQueued=${{int($STALLED_MAX_QUEUED)}}
    ...    evictionAtOverflow=${{$evicted.reason == 'queue_overflow'}}
    ...    evictionReason=${evicted.reason}
    ...    queueSizeAtEviction=${evicted.queue_size}
    ...    droppedAfter=${evicted.dropped_after}
    ...    evictionMs=${evicted.ms_after_prompt}
    ...    stalledReceived=${cut.received}
    ...    healthyReceived=${all.received}
    ...    healthyEvicted=${{len($healthy_evictions) > 0}}
    ...    floodChunks=${{int($FLOOD_CHUNKS)}}
    Should Be Equal    ${evicted.reason}    queue_overflow
    Stream Should Have Been Cut Before Any Terminal Frame    ${cut}
    Should Be Empty    ${healthy_evictions}    The healthy subscriber was evicted too.
    Stream Should Hold Exactly The Turn    ${all}    ${accepted}    chunks=${FLOOD_CHUNKS}

Replay Honours Last-Event-ID Up To The Ring Size
    Begin Baseline Scenario    sse-replay
    Start Daemon With Mock Agent    event_ring_size=${{int($RING_SIZE)}}
    ${sid}    Open Session
    ${first}    Prompt And Wait    ${sid}    fill    chunks=${RING_CHUNKS}
    Turn Should Complete    ${first}    chunks=${RING_CHUNKS}
    ${inside}    Read Events    ${sid}    last_event_id=${RING_CURSOR}    until=replay_complete
    Stream Should Continue Exactly After    ${inside}    ${RING_CURSOR}    ${first.last_event_id}
    Should Be Equal    ${inside.resync}    ${None}    A cursor inside the ring must not ask for a resync.
    FOR    ${i}    IN RANGE    ${RING_PROMPTS}
        ${turn}    Prompt And Wait    ${sid}    wrap ${i}    chunks=${RING_CHUNKS}
        Turn Should Complete    ${turn}    chunks=${RING_CHUNKS}
    END
    VAR    ${last}    ${turn.last_event_id}
    ${behind}    Read Events    ${sid}    last_event_id=${RING_CURSOR}    until=replay_complete
    ${kept}    Evaluate    len($behind.ids)
    Should Be True    $behind.resync is not None    No state_resync_required behind the ring.
    VAR    ${line}
    ...    ring ${RING_SIZE}: cursor ${RING_CURSOR} inside → ${inside.received} frames,
    ...    ids ${inside.ids}[0]..${inside.last_id} · cursor behind after ${last} events →
    ...    ${behind.resync}[reason], then ids ${behind.ids}[0]..${behind.last_id} (${kept})
    ...    separator=${SPACE}
    Record Baseline Figures    sse-replay    ${line}
    ...    ringSize=${{int($RING_SIZE)}}
    ...    replayUpToRing=${{$inside.no_gaps and $inside.ids[0] == int($RING_CURSOR) + 1}}
    ...    lastEventId=${last}
    ...    resync=${behind.resync}
    ...    replayedAfterResync=${kept}
    ...    firstIdAfterResync=${behind.ids}[0]
    Should Be Equal    ${behind.resync}[reason]    ring_evicted
    Should Be Equal As Integers    ${kept}    ${RING_SIZE}
    Should Be Equal As Integers    ${behind.ids}[0]    ${{int($last) - int($RING_SIZE) + 1}}
    Should Be Equal As Integers    ${behind.last_id}    ${last}
    Stream Should Have No Gaps    ${behind}
