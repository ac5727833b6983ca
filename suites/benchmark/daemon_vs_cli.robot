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
${CLI_COLD}             ${None}
${DAEMON_BOOT}          ${None}
${PROMPT_CLI}           ${None}
${PROMPT_DAEMON}        ${None}
${C6_FIRST_TOKEN_MS}    250
${C4_METHOD}            psutil RSS of every process of the tree (daemon, agent child, its MCP servers) 1 s after
...                     the sessions opened; CLI: peak single-process RSS (VmHWM) of C1's runs, median
${C5_METHOD}            CLI: spawn to exit (wait4), one warm-up excluded; daemon: POST /session/:id/prompt to
...                     turn_complete on SSE, one warm-up excluded; monotonic clock
${C6_METHOD}            all prompts released by a barrier; each POST to its turn's end on SSE; queue wait = POST
...                     to that prompt's first request at the fake provider
${C9_METHOD}            sequential POST /session (thread) + DELETE per op until the window ends; agent spawns from
...                     the daemon's process tree (its agent children) polled every 50 ms


*** Test Cases ***
C1 CLI Cold Start
    [Documentation]    The one-shot CLI, started cold each time: wall time and peak RSS per run after a
    ...    warm-up, and the startup profiler's phases (``QWEN_CODE_PROFILE_STARTUP=1``) when it writes them.
    ${cli}    Run One Shot CLI    ${PROVIDER.base_url}    prompt=${CLI_PROMPT}    iterations=${ITERATIONS}
    ...    warmup=${CLI_WARMUP_RUNS}    profile_startup=${True}
    VAR    ${CLI_COLD}    ${cli}    scope=SUITE    # robocop: off=VAR05
    ${config}    Benchmark Config
    # Upstream's sample: the profiler's full start-up when written, else wall time.
    ${cold}    Set Variable If    $cli.full_startup    ${cli.full_startup}    ${cli.wall}
    ${basis}    Set Variable If    $cli.full_startup    profiler fullStartupMs    wall time (no profile written)
    Record Scenario    C1 CLI cold start    kind=${KIND}    config=${config}    cli=${cli.to_dict()}
    ...    coldStartMs=${cold}    coldStartBasis=${basis}
    ${phases}    Set Variable If    $cli.phases
    ...    phases: module load ${cli.phases.module_load_ms} ms · settings ${cli.phases.settings_ms} ms
    ...    · config init ${cli.phases.config_init_ms} ms · MCP settled ${cli.phases.mcp_settled_ms} ms
    ...    ${cli.phases_note}
    VAR    ${figures}    C1 CLI wall ${cli.wall.line()}
    ...    · cold start (${basis}) p50 ${{round($cold.p50)}} ms
    ...    · peak RSS p50 ${{round($cli.peak_rss_mb.p50)}} MB
    ...    · ${phases}
    Report Figures    ${figures}
    Figure Should Be At Most    CLI cold start p99 (${basis})    ${cold.p99}    ${CLI_COLD_START_P99_MAX_MS}

C2 Daemon Boot To First Session
    [Documentation]    Spawn to the first ``POST /session`` answer, daemon not preheated, so the agent child's
    ...    start is inside the figure; a fresh HOME and workspace each iteration.
    ${boot}    Measure Daemon Boot To First Session    ${PROVIDER.base_url}    iterations=${ITERATIONS}
    ...    boot_timeout=${BOOT_TIMEOUT_S}
    VAR    ${DAEMON_BOOT}    ${boot}    scope=SUITE    # robocop: off=VAR05
    ${config}    Benchmark Config
    Record Scenario    C2 daemon boot to first session    kind=${KIND}    config=${config}
    ...    daemon=${boot.to_dict()}
    Report Figures
    ...    C2 boot to first session ${boot.latency.line()} · listening after p50 ${{round($boot.listen.p50)}} ms
    Figure Should Be At Most    daemon boot p99    ${boot.latency.p99}    ${DAEMON_BOOT_P99_MAX_MS}

C3 Warm Thread Session Creation
    [Documentation]    With the agent child up, each new ``thread`` session costs only the daemon's and the
    ...    child's bookkeeping; compared with what the CLI pays to start cold.
    Start Benchmark Daemon    max_sessions=0
    Open Session    scope=single
    ${warm}    Time Session Creations    ${ITERATIONS}
    Should Be Equal As Integers    ${warm.success_count}    ${ITERATIONS}    ${warm.failures}
    ${cli_p50}    Evaluate    $CLI_COLD.wall.p50 if $CLI_COLD else None
    ${ratio}    Ratio    ${cli_p50}    ${warm.latency.p50}
    ${config}    Benchmark Config
    Record Scenario    C3 warm session creation    kind=${KIND}    config=${config}    latency=${warm.latency}
    ...    cliColdStartWallP50Ms=${cli_p50}    cliOverDaemonP50=${ratio}
    ...    method=client-side POST /session request to answer, monotonic clock, sequential, daemon preheated
    Report Figures    C3 warm thread create ${warm.latency.line()} · CLI cold start p50 / warm create p50 = ${ratio}
    Figure Should Be At Most    warm session create p99    ${warm.latency.p99}    ${SESSION_CREATE_P99_MAX_MS}

C4 Process Tree RSS At 1, 5 And 10 Sessions
    [Documentation]    Whole-tree RSS (daemon, agent child, MCP servers) at 1, 5 and 10 open sessions, with the
    ...    growth per session; the agent child starts ${MCP_SERVERS} idle MCP servers from the user settings.
    ${servers}    Idle MCP Servers    ${MCP_SERVERS}
    Start Benchmark Daemon    max_sessions=0    mcp_servers=${servers}
    Open Session    scope=single
    ${rss1}    Measure Tree RSS    sessions=1
    FOR    ${_}    IN RANGE    4
        Open Session
    END
    ${rss5}    Measure Tree RSS    sessions=5
    FOR    ${_}    IN RANGE    5
        Open Session
    END
    ${rss10}    Measure Tree RSS    sessions=10
    ${growth}    Evaluate    round(($rss10.total - $rss1.total) / 9, 1)
    ${cli_rss}    Evaluate    $CLI_COLD.peak_rss_mb.p50 if $CLI_COLD else None
    ${ratio}    Ratio    ${rss1.total}    ${cli_rss}
    ${config}    Benchmark Config
    Record Scenario    C4 memory baseline    kind=${KIND}    config=${config}    daemon1Session=${rss1.to_dict()}
    ...    daemon5Sessions=${rss5.to_dict()}    daemon10Sessions=${rss10.to_dict()}    growthPerSessionMB=${growth}
    ...    cliPeakRssMB=${cli_rss}    daemonTreeOverCliPeak=${ratio}    mcpServers=${{int($MCP_SERVERS)}}
    ...    method=${C4_METHOD}
    VAR    ${figures}    C4 1 session ${rss1.line()}
    ...    · 5 ${rss5.line()}
    ...    · 10 ${rss10.line()}
    ...    · growth ${growth} MB/session
    ...    · CLI peak ${cli_rss} MB
    Report Figures    ${figures}
    Should Be Equal As Integers    ${rss10.descendants}    ${{int($MCP_SERVERS)}}    MCP servers in the tree
    Figure Should Be At Most    daemon tree RSS at 1 session    ${rss1.total}    ${DAEMON_BASELINE_TREE_RSS_MAX_MB}
    ...    unit=MB

C5 Single Prompt Latency, CLI Versus Daemon
    [Documentation]    The same prompt to the same fake provider: a whole one-shot CLI run against one
    ...    prompt on a warm daemon session (POST to the end of the turn).
    ${cli}    Run One Shot CLI    ${PROVIDER.base_url}    prompt=${PROMPT_TEXT}    iterations=${ITERATIONS}
    ...    warmup=1
    Start Benchmark Daemon
    ${sid}    Open Session    scope=single
    ${daemon}    Time Prompts    ${sid}    ${PROMPT_TEXT}    iterations=${ITERATIONS}    warmup=1
    Should Be Empty    ${daemon.failed}    Prompts that did not complete: ${daemon.failed}
    VAR    ${PROMPT_CLI}    ${cli}    scope=SUITE    # robocop: off=VAR05
    VAR    ${PROMPT_DAEMON}    ${daemon}    scope=SUITE    # robocop: off=VAR05
    ${ratio}    Ratio    ${cli.wall.p50}    ${daemon.latency.p50}
    ${config}    Benchmark Config
    Record Scenario    C5 single prompt latency    kind=${KIND}    config=${config}    cli=${cli.wall}
    ...    daemon=${daemon.latency}    cliOverDaemonP50=${ratio}
    ...    method=${C5_METHOD}
    Report Figures    C5 prompt CLI ${cli.wall.line()} · daemon ${daemon.latency.line()} · CLI/daemon p50 ${ratio}
    Figure Should Be At Most    CLI prompt p99    ${cli.wall.p99}    ${PROMPT_P99_MAX_MS}
    Figure Should Be At Most    daemon prompt p99    ${daemon.latency.p99}    ${PROMPT_P99_MAX_MS}

C6 Concurrent Prompts Across Sessions
    [Documentation]    One prompt on each of ${CONCURRENT_SESSIONS} sessions at once. The daemon has one agent
    ...    child per workspace; the provider's request log shows whether the model calls overlapped or
    ...    queued. The provider waits ${C6_FIRST_TOKEN_MS} ms before answering so queueing is visible.
    Start Benchmark Daemon
    VAR    @{sids}    @{EMPTY}
    FOR    ${_}    IN RANGE    ${CONCURRENT_SESSIONS}
        ${sid}    Open Session
        Append To List    ${sids}    ${sid}
    END
    Set Provider Behaviour    ${PROVIDER}    first_token_ms=${C6_FIRST_TOKEN_MS}
    TRY
        ${conc}    Time Concurrent Prompts    ${sids}    provider=${PROVIDER}
    FINALLY
        Set Provider Behaviour    ${PROVIDER}    first_token_ms=0
    END
    Should Be Empty    ${conc.failed}    Prompts that did not complete: ${conc.failed}
    ${rate}    Evaluate    round(len($sids) / ($conc.wall_ms / 1000), 2)
    ${queueing}    Set Variable If    ${conc.provider_max_in_flight} <= 1
    ...    serialised: the model calls ran one at a time
    ...    overlapped: up to ${conc.provider_max_in_flight} model calls at once
    ${config}    Benchmark Config
    Record Scenario
    ...    C6 concurrent prompts
    ...    kind=${KIND}
    ...    config=${config}
    ...    sessionCount=${{len($sids)}}
    ...    wallClockMs=${conc.wall_ms}
    ...    promptsPerSec=${rate}
    ...    perPromptLatency=${conc.latency}
    ...    successCount=${{len($sids) - $conc.failures}}
    ...    failureCount=${conc.failures}
    ...    providerRequests=${conc.provider_requests}
    ...    providerMaxInFlight=${conc.provider_max_in_flight}
    ...    queueWaitMs=${conc.provider_arrival}
    ...    queueing=${queueing}
    ...    providerFirstTokenMs=${{int($C6_FIRST_TOKEN_MS)}}
    ...    method=${C6_METHOD}
    VAR    ${figures}    C6 ${CONCURRENT_SESSIONS} prompts at once: wall ${conc.wall_ms} ms
    ...    · ${conc.latency.line()}
    ...    · ${queueing}
    Report Figures    ${figures}
    ${bound}    Evaluate    int($CONCURRENT_SESSIONS) * 120000
    Figure Should Be At Most    concurrent prompts wall clock    ${conc.wall_ms}    ${bound}

C8 Burst Of Simultaneous Session Creations
    [Documentation]    ${CONCURRENT_SESSIONS} ``thread`` sessions requested at the same moment on a warm daemon.
    Start Benchmark Daemon    max_sessions=0
    Open Session    scope=single
    ${burst}    Time Session Creations    ${CONCURRENT_SESSIONS}    concurrent=${True}
    ${config}    Benchmark Config
    Record Scenario    C8 concurrent burst    kind=${KIND}    config=${config}    latency=${burst.latency}
    ...    successRate=${{$burst.success_count / int($CONCURRENT_SESSIONS)}}    concurrency=${burst.concurrency}
    ...    wallMs=${burst.wall_ms}    method=threads released by a barrier; each POST /session timed client-side
    Report Figures    C8 burst of ${CONCURRENT_SESSIONS}: ${burst.latency.line()} · ${burst.success_count} created
    Should Be Equal As Integers    ${burst.success_count}    ${CONCURRENT_SESSIONS}    ${burst.failures}
    Figure Should Be At Most    burst create p99    ${burst.latency.p99}    ${BURST_P99_MAX_MS}

C9 Sustained Create And Close Throughput
    [Documentation]    Create+close operations per second for ${THROUGHPUT_WINDOW_S} s, first with
    ...    ${THROUGHPUT_ANCHORS} sessions held open (anchored), then with none (unanchored). Agent child
    ...    spawns are counted from the process tree: on 0.24.4 the child stays up after the last session
    ...    closes, so "unanchored" is labelled by what really happened.
    Start Benchmark Daemon    max_sessions=0
    ${anchored}    Measure Create Close Throughput    ${THROUGHPUT_WINDOW_S}    anchors=${THROUGHPUT_ANCHORS}
    ${unanchored}    Measure Create Close Throughput    ${THROUGHPUT_WINDOW_S}    anchors=0
    ${config}    Benchmark Config
    Record Scenario    C9 sustained throughput    kind=${KIND}    config=${config}    anchored=${anchored.to_dict()}
    ...    unanchored=${unanchored.to_dict()}    windowSeconds=${{float($THROUGHPUT_WINDOW_S)}}
    ...    method=${C9_METHOD}
    VAR    ${figures}    C9 ${anchored.line()}
    ...    · ${unanchored.line()}
    Report Figures    ${figures}
    Should Be True    ${anchored.ops} > 0    no anchored operation completed
    Should Be True    ${unanchored.ops} > 0    no unanchored operation completed

C10 Session Churn With RSS Drift
    [Documentation]    ${CHURN_ROUNDS} create+close rounds with ${CHURN_ANCHORS} sessions held; the tree's RSS
    ...    must not drift by ${CHURN_DRIFT_MAX_MB} MB or more (smaller drift is normal V8 heap behaviour).
    Start Benchmark Daemon    max_sessions=0
    ${churn}    Measure Session Churn    ${CHURN_ROUNDS}    anchors=${CHURN_ANCHORS}
    ${config}    Benchmark Config
    Record Scenario    C10 session churn    kind=${KIND}    config=${config}    latency=${churn.latency}
    ...    rounds=${churn.rounds}    failures=${churn.failures}    failureTexts=${{$churn.figures()['failureTexts']}}
    ...    rssBefore=${churn.before.to_dict()}
    ...    rssAfter=${churn.after.to_dict()}
    ...    rssDriftMB=${churn.drift_mb}    method=tree RSS (psutil) 0.5 s before and after the rounds
    Report Figures    C10 ${churn.line()}
    Should Be Equal As Integers    ${churn.failures}    0    Failed rounds: ${{$churn.figures()['failureTexts']}}
    Figure Should Be At Most    |RSS drift|    ${{abs($churn.drift_mb)}}    ${CHURN_DRIFT_MAX_MB}    unit=MB

C11 Session Limit Saturation And Recovery
    [Documentation]    With ``--max-sessions ${SESSION_LIMIT}``, the next session is refused with 503
    ...    ``session_limit_exceeded``; closing one session makes room again.
    Start Benchmark Daemon    max_sessions=${SESSION_LIMIT}
    VAR    @{sids}    @{EMPTY}
    FOR    ${_}    IN RANGE    ${SESSION_LIMIT}
        ${sid}    Open Session
        Append To List    ${sids}    ${sid}
    END
    ${refusal}    Open Session Should Fail    503    session_limit_exceeded
    Close Session    ${sids}[0]
    ${again}    Open Session
    ${config}    Benchmark Config
    Record Scenario    C11 session limit saturation    kind=${KIND}    config=${config}    limitEnforced=${True}
    ...    errorCode=${refusal.code}    recoverySucceeded=${True}    limit=${{int($SESSION_LIMIT)}}
    VAR    ${figures}    C11 session ${{int($SESSION_LIMIT) + 1}} refused ${refusal.status} ${refusal.code};
    ...    recovered after one close
    Report Figures    ${figures}
    Should Not Be Empty    ${again}

C12 SSE Connection Flood
    [Documentation]    ${CONCURRENT_SESSIONS} x 2 streams opened at once on one session with
    ...    ``Last-Event-ID: 0`` (the daemon sends ``replay_complete`` only to a reconnect); all see it and the
    ...    daemon stays healthy.
    Start Benchmark Daemon
    ${sid}    Open Session    scope=single
    ${n}    Evaluate    int($CONCURRENT_SESSIONS) * 2
    ${flood}    Open SSE Flood    ${sid}    count=${n}    timeout=${SSE_FLOOD_TIMEOUT_S}
    ${config}    Benchmark Config
    Record Scenario
    ...    C12 SSE connection flood
    ...    kind=${KIND}
    ...    config=${config}
    ...    connectionsOpened=${flood.opened}
    ...    connected=${flood.connected}
    ...    allConnected=${flood.all_connected}
    ...    daemonHealthyAfter=${flood.healthy_after}
    ...    timeToReplayCompleteMs=${flood.time_to_replay_complete}
    ...    method=all streams started together; a stream counts when its replay_complete frame arrives
    VAR    ${figures}    C12 ${flood.connected}/${flood.opened} streams saw replay_complete
    ...    (${flood.time_to_replay_complete.line()})
    ...    · healthy after ${flood.healthy_after}
    Report Figures    ${figures}
    Should Be True    ${flood.healthy_after}    daemon not healthy after the flood
    Should Be Equal As Integers    ${flood.connected}    ${n}    statuses ${flood.statuses}

Daemon And CLI Side By Side
    [Documentation]    The figures of C1–C5 with their ratios, and the resource profile of each side
    ...    (CLI: one ``-p`` run; daemon: boot + first session + stop), replacing upstream's
    ...    ``/usr/bin/time`` table.
    ${side}    Daemon Versus CLI Figures    ${CLI_COLD}    ${DAEMON_BOOT}    ${PROMPT_CLI}    ${PROMPT_DAEMON}
    ${config}    Benchmark Config
    Record Scenario    Daemon and CLI side by side    kind=${KIND}    config=${config}    &{side}
    Report Figures    start to first usable ${side}[startToFirstUsableP50] · prompt p50 ${side}[promptLatencyP50]
    Plot Daemon Versus CLI    ${side}
