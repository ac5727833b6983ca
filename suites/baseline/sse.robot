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
    [Documentation]    The stalled subscriber is evicted for ``queue_overflow`` and cut before any terminal frame;
    ...    the healthy one is not evicted and gets the whole turn, every event once.
    Begin Scenario    sse-backpressure    maxQueued=${STALLED_MAX_QUEUED}    floodChunks=${FLOOD_CHUNKS}
    ...    chunkSize=${FLOOD_CHUNK_SIZE}
    Start Daemon With Mock Agent
    ${sid}    Open Session
    ${healthy}    ${stalled}    Subscribe A Healthy And A Stalled Reader    ${sid}
    ${accepted}    Send Prompt    ${sid}    flood    chunks=${FLOOD_CHUNKS}    chunk_size=${FLOOD_CHUNK_SIZE}
    ${flood}    Read The Flood After The Stalled Reader's Eviction    ${sid}    ${accepted}    ${healthy}    ${stalled}
    Record Result    ${flood}
    Should Be Equal    ${flood.evicted.reason}    queue_overflow
    ...    The stalled subscriber should be evicted for queue_overflow, but was for ${flood.evicted.reason}.
    Stream Should Have Been Cut Before Any Terminal Frame    ${flood.stalled}
    Should Be Empty    ${flood.healthy_evictions}    The healthy subscriber was evicted too.
    Stream Should Hold Exactly The Turn    ${flood.healthy}    ${accepted}    chunks=${FLOOD_CHUNKS}

Replay Honours Last-Event-ID Up To The Ring Size
    [Documentation]    A reconnect inside the ring gets exactly the events after its cursor; once the ring has
    ...    wrapped, the same reconnect gets ``state_resync_required`` and then exactly the ring's events.
    Begin Scenario    sse-replay    ringSize=${RING_SIZE}    ringChunks=${RING_CHUNKS}    cursor=${RING_CURSOR}
    Start Daemon With Mock Agent    event_ring_size=${RING_SIZE}
    ${sid}    Open Session
    ${first}    Prompt And Wait    ${sid}    fill    chunks=${RING_CHUNKS}
    Turn Should Complete    ${first}    chunks=${RING_CHUNKS}
    ${inside}    Read Events    ${sid}    last_event_id=${RING_CURSOR}    until=replay_complete
    Stream Should Continue Exactly After    ${inside}    ${RING_CURSOR}    ${first.last_event_id}
    ${last}    Prompt Until The Ring Has Wrapped    ${sid}
    ${behind}    Read Events    ${sid}    last_event_id=${RING_CURSOR}    until=replay_complete
    ${replay}    Summarize Ring Replay    ${inside}    ${behind}    ring_size=${RING_SIZE}    cursor=${RING_CURSOR}
    ...    last_event_id=${last}
    Record Result    ${replay}
    Replay Behind The Ring Should Hold The Last Ring Of Events    ${replay}


*** Keywords ***
Subscribe A Healthy And A Stalled Reader
    [Documentation]    Two subscribers of the session: a healthy one that reads to the turn's end (keeping only
    ...    ids and counts), and a stalled one with a small queue cap and receive buffer that reads nothing for
    ...    ``EVICTION_TIMEOUT_S``. Returns both subscriptions.
    [Arguments]    ${sid}
    ${healthy}    Subscribe To Events    ${sid}    until=turn_complete,turn_error    timeout=${EVICTION_TIMEOUT_S}
    ...    keep_events=${False}
    ${stalled}    Subscribe To Events    ${sid}    max_queued=${STALLED_MAX_QUEUED}
    ...    recv_buffer=${STALLED_RECV_BUFFER}    stall=${EVICTION_TIMEOUT_S}    timeout=${EVICTION_TIMEOUT_S}
    RETURN    ${healthy}    ${stalled}

Read The Flood After The Stalled Reader's Eviction
    [Documentation]    Wait until the daemon's log evicts the stalled subscriber, release it, collect both
    ...    streams and look for an eviction of the healthy one. Returns the backpressure result.
    [Arguments]    ${sid}    ${accepted}    ${healthy}    ${stalled}
    ${evicted}    Wait For Eviction In Daemon Log    ${sid}    stream_id=${stalled.result.stream_id}
    ...    timeout=${EVICTION_TIMEOUT_S}    after=${accepted}
    Release Stalled Reader    ${stalled}
    ${cut}    Collect Events    ${stalled}    timeout=${EVICTION_TIMEOUT_S}
    ${all}    Collect Events    ${healthy}    timeout=${EVICTION_TIMEOUT_S}
    ${healthy_evictions}    Get Daemon Log Lines    SSE client evicted.*${all.stream_id}
    ${flood}    Summarize SSE Backpressure    ${evicted}    ${accepted}    ${cut}    ${all}    ${healthy_evictions}
    RETURN    ${flood}

Prompt Until The Ring Has Wrapped
    [Documentation]    ``RING_PROMPTS`` more turns of ``RING_CHUNKS`` chunks, each complete, so the ring has
    ...    wrapped past the cursor. Returns the session's last event id.
    [Arguments]    ${sid}
    FOR    ${i}    IN RANGE    ${RING_PROMPTS}
        ${turn}    Prompt And Wait    ${sid}    wrap ${i}    chunks=${RING_CHUNKS}
        Turn Should Complete    ${turn}    chunks=${RING_CHUNKS}
    END
    RETURN    ${turn.last_event_id}
