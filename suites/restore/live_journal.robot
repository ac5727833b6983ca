*** Settings ***
Documentation    The live journal: a client that loads or reconnects while a turn still streams gets the turn so
...              far; with small ``--max-journal-events`` / ``--max-journal-bytes`` the journal keeps only its
...              newest entries and starts with a ``history_truncated`` marker (scope ``live_journal``, reason
...              ``replay_window_exceeded``, stamped with the turn's prompt id: where the 0.24.4 code puts it).

Resource         restore.resource

Test Teardown    Stop All Daemons

Test Tags        loadtest


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (restore.json).
${SNAPSHOT_KIND}     restore    # robocop: off=VAR02
${CHUNKS}            40
${CHUNK_DELAY_MS}    20
${AFTER_UPDATES}     10
${MAX_EVENTS}        3
${MAX_BYTES}         4096
${TOOL_CALLS}        6


*** Test Cases ***
A Load And A Reconnect Mid-Turn Get The Turn So Far
    [Documentation]    A turn of ${CHUNKS} chunks ${CHUNK_DELAY_MS} ms apart; after ${AFTER_UPDATES} session
    ...    updates (the echo and chunks) a ``/load`` (attached to the live session) and a second stream from the
    ...    prompt's ``lastEventId``. The
    ...    journal's text is where the turn's final text starts, stamped with the turn's prompt id, and the
    ...    reconnected stream holds every event of the turn once.
    Begin Scenario    journal-mid-turn    chunks=${CHUNKS}    chunkDelayMs=${CHUNK_DELAY_MS}
    ...    afterUpdates=${AFTER_UPDATES}
    Start Daemon With Mock Agent
    ${sid}    Open Session
    ${mid}    Restore Mid Turn    ${sid}    after_updates=${AFTER_UPDATES}    chunks=${CHUNKS}
    ...    chunk_delay_ms=${CHUNK_DELAY_MS}
    Record Result    ${mid}
    Should Be Equal    ${mid.turn_outcome}    completed
    Should Be True    ${mid.load.attached}    the mid-turn load should attach to the live session
    Should Be True    ${mid.journal_is_prefix}    ${mid.line()}
    Should Be True    len($mid.journal_text) >= (${AFTER_UPDATES} - 1) * len('chunk-0')    ${mid.line()}
    Should Be Equal    ${mid.journal_prompt_ids}    ${{ ($mid.prompt_id,) }}
    Should Be Empty    ${mid.reconnect_problems}    ${mid.line()}
    Should Be Equal    ${mid.marker}    ${None}    a journal within its caps has no marker

Small Journal Event Cap Leaves The Marker First
    [Documentation]    ``max_journal_events=${MAX_EVENTS}``; a turn with ${TOOL_CALLS} tool calls (entries that do
    ...    not merge) is loaded mid-turn.
    Begin Scenario    journal-event-cap    maxJournalEvents=${MAX_EVENTS}    toolCalls=${TOOL_CALLS}
    Start Daemon With Mock Agent    max_journal_events=${MAX_EVENTS}
    ${sid}    Open Session
    ${mid}    Restore Mid Turn    ${sid}    after_updates=12    chunks=4    chunk_delay_ms=10
    ...    tool_calls=${TOOL_CALLS}    tool_delay_ms=60
    Record Result    ${mid}
    Journal Marker Should Be Where Documented    ${mid}
    Should Be Equal As Integers    ${mid.marker}[data][maxEvents]    ${MAX_EVENTS}
    Should Be True    len($mid.load.live_journal) <= ${MAX_EVENTS} + 1    ${mid.line()}

Small Journal Byte Cap Leaves The Marker First
    [Documentation]    ``max_journal_bytes=${MAX_BYTES}``; a turn of 1000-character chunks is loaded mid-turn.
    Begin Scenario    journal-byte-cap    maxJournalBytes=${MAX_BYTES}    chunkSize=${1000}
    Start Daemon With Mock Agent    max_journal_bytes=${MAX_BYTES}
    ${sid}    Open Session
    ${mid}    Restore Mid Turn    ${sid}    after_updates=11    chunks=30    chunk_size=1000
    ...    chunk_delay_ms=${CHUNK_DELAY_MS}
    Record Result    ${mid}
    Journal Marker Should Be Where Documented    ${mid}
    Should Be Equal As Integers    ${mid.marker}[data][maxBytes]    ${MAX_BYTES}
    Should Be True    ${mid.journal_tail_is_turn}    the journal's kept text is not part of the turn: ${mid.line()}
