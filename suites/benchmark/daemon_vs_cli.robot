*** Settings ***
Documentation     Upstream's daemon-versus-CLI benchmark, C1–C12, side by side.
...
...               The CLI side runs ``node cli-entry.js -p <prompt> --output-format text`` (a registered child
...               with a private HOME); the daemon side runs ``qwen serve`` with its real agent child. Both
...               talk to the same fake provider. Upstream's C7 was only the "model phase skipped"
...               placeholder: here the model phase (C5, C6) always runs, so there is no C7.

Resource          ../../resources/benchmark.resource

Suite Setup       Benchmark Suite Setup
Suite Teardown    Stop Benchmark Provider
Test Teardown     Stop All Daemons


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (daemon-vs-cli-benchmark.json).
${SNAPSHOT_KIND}        daemon-vs-cli-benchmark    # robocop: off=VAR02
${CLI_COLD}             ${None}
${DAEMON_BOOT}          ${None}
${PROMPT_CLI}           ${None}
${PROMPT_DAEMON}        ${None}
${C6_FIRST_TOKEN_MS}    250
@{SESSION_COUNTS}       1    5    10


*** Test Cases ***
C1 CLI Cold Start
    [Documentation]    The one-shot CLI, started cold each time: wall time and peak RSS per run after a
    ...    warm-up, and the startup profiler's phases (``QWEN_CODE_PROFILE_STARTUP=1``) when it writes them.
    ...    Upstream's sample is the profiler's full start-up when written, else the wall time (spawn to
    ...    ``wait4``, monotonic clock).
    Begin Benchmark Scenario    C1 CLI cold start
    ${cli}    Run One Shot CLI    ${PROVIDER.base_url}    prompt=${CLI_PROMPT}    iterations=${ITERATIONS}
    ...    warmup=${CLI_WARMUP_RUNS}    profile_startup=${True}
    VAR    ${CLI_COLD}    ${cli}    scope=SUITE    # robocop: off=VAR05
    Record Result    ${cli}
    Figure Should Be At Most    CLI cold start p99 (${cli.cold_start_basis})    ${cli.cold_start.p99}
    ...    ${CLI_COLD_START_P99_MAX_MS}

C2 Daemon Boot To First Session
    [Documentation]    Spawn to the first ``POST /session`` answer, daemon not preheated, so the agent child's
    ...    start is inside the figure; a fresh HOME and workspace each iteration.
    Begin Benchmark Scenario    C2 daemon boot to first session
    ${boot}    Measure Daemon Boot To First Session    ${PROVIDER.base_url}    iterations=${ITERATIONS}
    ...    boot_timeout=${BOOT_TIMEOUT_S}
    VAR    ${DAEMON_BOOT}    ${boot}    scope=SUITE    # robocop: off=VAR05
    Record Result    ${boot}
    Figure Should Be At Most    daemon boot p99    ${boot.latency.p99}    ${DAEMON_BOOT_P99_MAX_MS}

C3 Warm Thread Session Creation
    [Documentation]    With the agent child up, each new ``thread`` session costs only the daemon's and the
    ...    child's bookkeeping; compared with what the CLI pays to start cold. Client-side ``POST /session``
    ...    request to answer, monotonic clock, sequential, daemon preheated.
    Begin Benchmark Scenario    C3 warm session creation
    Start Benchmark Daemon    max_sessions=0
    Open Session    scope=single
    ${warm}    Time Session Creations    ${ITERATIONS}
    Record Result    ${warm}
    ${versus}    Compare With CLI    ${warm}    ${CLI_COLD}
    Record Result    ${versus}
    Should Be Equal As Integers    ${warm.success_count}    ${ITERATIONS}
    ...    Expected all ${ITERATIONS} warm creations to succeed: ${warm.line()}
    Figure Should Be At Most    warm session create p99    ${warm.latency.p99}    ${SESSION_CREATE_P99_MAX_MS}

C4 Process Tree RSS As Sessions Are Added
    [Documentation]    Whole-tree RSS (psutil RSS of the daemon, the agent child and its MCP servers, 1 s after
    ...    the sessions opened) at each count of ``SESSION_COUNTS``, with the growth per session; the agent
    ...    child starts ``MCP_SERVERS`` idle MCP servers from the user settings. The CLI's figure is the peak
    ...    single-process RSS (VmHWM) of C1's runs, median.
    Begin Benchmark Scenario    C4 memory baseline    mcpServers=${MCP_SERVERS}
    ${servers}    Idle MCP Servers    ${MCP_SERVERS}
    Start Benchmark Daemon    max_sessions=0    mcp_servers=${servers}
    ${rss}    Measure Tree RSS At Session Counts    @{SESSION_COUNTS}
    Record Result    ${rss}
    ${versus}    Compare With CLI    ${rss}    ${CLI_COLD}
    Record Result    ${versus}
    Should Be Equal As Integers    ${rss.last.mcp_processes}    ${MCP_SERVERS}
    ...    Expected one process per declared MCP server in the tree, but ${rss.last.mcp_processes} run.
    Figure Should Be At Most    daemon tree RSS at the fewest sessions    ${rss.first.total}
    ...    ${DAEMON_BASELINE_TREE_RSS_MAX_MB}    unit=MB

C5 Single Prompt Latency, CLI Versus Daemon
    [Documentation]    The same prompt to the same fake provider: a whole one-shot CLI run (spawn to exit,
    ...    ``wait4``) against one prompt on a warm daemon session (``POST /session/:id/prompt`` to
    ...    ``turn_complete`` on SSE); one warm-up each, excluded; monotonic clock.
    Begin Benchmark Scenario    C5 single prompt latency
    ${cli}    Run One Shot CLI    ${PROVIDER.base_url}    prompt=${PROMPT_TEXT}    iterations=${ITERATIONS}
    ...    warmup=1
    Record Result    ${cli}    as=cli
    Start Benchmark Daemon
    ${sid}    Open Session    scope=single
    ${daemon}    Time Prompts    ${sid}    ${PROMPT_TEXT}    iterations=${ITERATIONS}    warmup=1
    VAR    ${PROMPT_CLI}    ${cli}    scope=SUITE    # robocop: off=VAR05
    VAR    ${PROMPT_DAEMON}    ${daemon}    scope=SUITE    # robocop: off=VAR05
    Record Result    ${daemon}    as=daemon
    ${versus}    Compare With CLI    ${daemon}    ${cli}
    Record Result    ${versus}
    Should Be Empty    ${daemon.failed}    Expected every prompt to complete, but these did not: ${daemon.failed}
    Figure Should Be At Most    CLI prompt p99    ${cli.wall.p99}    ${PROMPT_P99_MAX_MS}
    Figure Should Be At Most    daemon prompt p99    ${daemon.latency.p99}    ${PROMPT_P99_MAX_MS}

C6 Concurrent Prompts Across Sessions
    [Documentation]    One prompt on each of ``CONCURRENT_SESSIONS`` sessions, all released by a barrier; each
    ...    POST to its turn's end on SSE. The daemon has one agent child per workspace; the provider's request
    ...    log shows whether the model calls overlapped or queued (queue wait: POST to that prompt's first
    ...    request at the provider). The provider waits ``C6_FIRST_TOKEN_MS`` before answering so queueing is
    ...    visible.
    Begin Benchmark Scenario    C6 concurrent prompts    providerFirstTokenMs=${C6_FIRST_TOKEN_MS}
    Start Benchmark Daemon
    ${sids}    Open Thread Sessions    ${CONCURRENT_SESSIONS}
    Set Provider Behaviour    ${PROVIDER}    first_token_ms=${C6_FIRST_TOKEN_MS}
    TRY
        ${conc}    Time Concurrent Prompts    ${sids}    provider=${PROVIDER}
    FINALLY
        Set Provider Behaviour    ${PROVIDER}    first_token_ms=0
    END
    Record Result    ${conc}
    Should Be Empty    ${conc.failed}    Expected every prompt to complete, but these did not: ${conc.failed}
    Figure Should Be At Most    concurrent prompts wall clock per prompt    ${conc.wall_ms_per_prompt}
    ...    ${CONCURRENT_WALL_MAX_MS_PER_PROMPT}

C8 Burst Of Simultaneous Session Creations
    [Documentation]    ``CONCURRENT_SESSIONS`` ``thread`` sessions requested at the same moment on a warm daemon:
    ...    threads released by a barrier, each ``POST /session`` timed client-side.
    Begin Benchmark Scenario    C8 concurrent burst
    Start Benchmark Daemon    max_sessions=0
    Open Session    scope=single
    ${burst}    Time Session Creations    ${CONCURRENT_SESSIONS}    concurrent=${True}
    Record Result    ${burst}
    Should Be Equal As Integers    ${burst.success_count}    ${CONCURRENT_SESSIONS}
    ...    Expected all ${CONCURRENT_SESSIONS} sessions of the burst created: ${burst.line()}
    Figure Should Be At Most    burst create p99    ${burst.latency.p99}    ${BURST_P99_MAX_MS}

C9 Sustained Create And Close Throughput
    [Documentation]    Create+close operations per second (sequential ``POST /session`` (thread) + ``DELETE``
    ...    per op) for ``THROUGHPUT_WINDOW_S``, first with ``THROUGHPUT_ANCHORS`` sessions held open
    ...    (anchored), then with none (unanchored). Agent child spawns are counted from the process tree,
    ...    polled every 50 ms: on 0.24.4 the child stays up after the last session closes, so "unanchored" is
    ...    labelled by what really happened.
    Begin Benchmark Scenario    C9 sustained throughput    anchors=${THROUGHPUT_ANCHORS}
    Start Benchmark Daemon    max_sessions=0
    ${anchored}    Measure Create Close Throughput    ${THROUGHPUT_WINDOW_S}    anchors=${THROUGHPUT_ANCHORS}
    ${unanchored}    Measure Create Close Throughput    ${THROUGHPUT_WINDOW_S}    anchors=0
    Record Result    ${anchored}    as=anchored
    Record Result    ${unanchored}    as=unanchored
    Figure Should Be At Least    anchored operations    ${anchored.ops}    1
    Figure Should Be At Least    unanchored operations    ${unanchored.ops}    1

C10 Session Churn With RSS Drift
    [Documentation]    ``CHURN_ROUNDS`` create+close rounds with ``CHURN_ANCHORS`` sessions held; the tree's RSS
    ...    (psutil, 0.5 s before and after the rounds) must not drift by ``CHURN_DRIFT_MAX_MB`` or more
    ...    (smaller drift is normal V8 heap behaviour).
    Begin Benchmark Scenario    C10 session churn    anchors=${CHURN_ANCHORS}
    Start Benchmark Daemon    max_sessions=0
    ${churn}    Measure Session Churn    ${CHURN_ROUNDS}    anchors=${CHURN_ANCHORS}
    Record Result    ${churn}
    Should Be Equal As Integers    ${churn.failures}    0    Expected no failed round: ${churn.line()}
    Figure Should Be At Most    |RSS drift|    ${churn.drift_size_mb}    ${CHURN_DRIFT_MAX_MB}    unit=MB

C11 Session Limit Saturation And Recovery
    [Documentation]    With ``--max-sessions`` ``SESSION_LIMIT``, the next session is refused with 503
    ...    ``session_limit_exceeded``; closing one session makes room again.
    Begin Benchmark Scenario    C11 session limit saturation    limit=${SESSION_LIMIT}
    Start Benchmark Daemon    max_sessions=${SESSION_LIMIT}
    ${limit}    Saturate The Session Limit    ${SESSION_LIMIT}
    Record Result    ${limit}
    Should Be Equal As Integers    ${limit.opened}    ${SESSION_LIMIT}
    ...    Expected all ${SESSION_LIMIT} sessions under the limit to open: ${limit.open_failures}
    Should Be Equal As Integers    ${limit.refusal_status}    503
    ...    Expected the session over the limit refused with 503: ${limit.line()}
    Should Be Equal    ${limit.refusal_code}    session_limit_exceeded
    ...    Expected the refusal's code session_limit_exceeded: ${limit.line()}
    Should Be True    ${limit.recovered}    Expected a session to open after one was closed: ${limit.line()}

C12 SSE Connection Flood
    [Documentation]    Twice ``CONCURRENT_SESSIONS`` streams opened at once on one session with
    ...    ``Last-Event-ID: 0`` (the daemon sends ``replay_complete`` only to a reconnect); a stream counts when
    ...    its ``replay_complete`` frame arrives. All see it and the daemon stays healthy.
    Begin Benchmark Scenario    C12 SSE connection flood    streams=${SSE_FLOOD_STREAMS}
    Start Benchmark Daemon
    ${sid}    Open Session    scope=single
    ${flood}    Open SSE Flood    ${sid}    count=${SSE_FLOOD_STREAMS}    timeout=${SSE_FLOOD_TIMEOUT_S}
    Record Result    ${flood}
    Should Be True    ${flood.healthy_after}    Expected the daemon healthy after the flood, but it was not.
    Should Be Equal As Integers    ${flood.connected}    ${SSE_FLOOD_STREAMS}
    ...    Expected every stream to see replay_complete: statuses ${flood.statuses}

Daemon And CLI Side By Side
    [Documentation]    The figures of C1–C5 with their ratios, and the resource profile of each side
    ...    (CLI: one ``-p`` run; daemon: boot + first session + stop), replacing upstream's
    ...    ``/usr/bin/time`` table.
    Begin Benchmark Scenario    Daemon and CLI side by side
    ${side}    Daemon Versus CLI Figures    ${CLI_COLD}    ${DAEMON_BOOT}    ${PROMPT_CLI}    ${PROMPT_DAEMON}
    Record Result    ${side}
    Plot Daemon Versus CLI    ${side}
