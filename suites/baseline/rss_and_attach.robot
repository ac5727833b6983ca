*** Settings ***
Documentation    B1 and B2 (real agent child): daemon memory as sessions are added, and attach latency.
...
...              B1: upstream measured the daemon's peak RSS at 1, 5 and 10 sessions, but with the default
...              ``single`` scope, so 5 and 10 "sessions" were attaches to one session. Both are measured
...              here: as upstream did, and with distinct ``thread`` sessions. One daemon per scope; its RSS
...              is sampled for ${RSS_SAMPLE_S} s at each session count (daemon alone, as upstream, and the
...              whole tree with the agent child). Growth per session is (peak at 10 - peak at 1) / 9.
...
...              B2: after a first session warmed the agent channel, the 2nd and 5th same-workspace
...              ``POST /session`` (default scope: attaches) must each answer within ${ATTACH_MAX_MS} ms.

Resource         ../../resources/baseline.resource

Test Teardown    Stop Baseline Fixtures


*** Variables ***
${RSS_SAMPLE_S}              3
${RSS_INTERVAL_MS}           100
${RSS_MAX_DROPPED}           0.2
${RSS_1_SESSION_MAX_MB}      500
${RSS_10_SESSIONS_MAX_MB}    5000
${ATTACH_MAX_MS}             1000


*** Test Cases ***
Peak RSS At 1, 5 And 10 Attaches To One Session (Upstream's Measure)
    [Template]    Peak RSS At 1, 5 And 10 Sessions Should Stay Within Bounds
    single

Peak RSS At 1, 5 And 10 Distinct Thread Sessions
    [Template]    Peak RSS At 1, 5 And 10 Sessions Should Stay Within Bounds
    thread

The 2nd And 5th Same-Workspace Attach Answer Within A Second
    Begin Baseline Scenario    attach-latency
    Start Real Agent Daemon
    ${first}    Open Session With Info    scope=single
    ${second}    Open Session With Info    scope=single
    Open Session With Info    scope=single
    Open Session With Info    scope=single
    ${fifth}    Open Session With Info    scope=single
    VAR    ${line}
    ...    attach #2 ${{round($second.elapsed_ms, 1)}} ms
    ...    · #5 ${{round($fifth.elapsed_ms, 1)}} ms (first create ${{round($first.elapsed_ms)}} ms)
    ...    separator=${SPACE}
    Record Baseline Figures    attach-latency    ${line}
    ...    session2Ms=${{round($second.elapsed_ms, 1)}}
    ...    session5Ms=${{round($fifth.elapsed_ms, 1)}}
    ...    firstCreateMs=${{round($first.elapsed_ms, 1)}}
    ...    thresholdMs=${{int($ATTACH_MAX_MS)}}
    Should Be True    ${second.attached} and ${fifth.attached}    Default-scope creates must attach.
    Should Be Equal    ${second.session_id}    ${first.session_id}
    Figure Should Be At Most    2nd attach    ${second.elapsed_ms}    ${ATTACH_MAX_MS}
    Figure Should Be At Most    5th attach    ${fifth.elapsed_ms}    ${ATTACH_MAX_MS}


*** Keywords ***
Peak RSS At 1, 5 And 10 Sessions Should Stay Within Bounds    # robocop: off=too-many-calls-in-keyword
    [Documentation]    One daemon with the real agent; sessions of ``${scope}`` are opened up to 1, 5 and
    ...    10 and the tree is sampled at each count.
    [Arguments]    ${scope}
    Begin Baseline Scenario    rss-scaling-${scope}
    Start Real Agent Daemon
    ${rss}    ${windows}    Sample At 1, 5 And 10 Sessions    ${scope}
    ${tree}    Get Process Tree
    ${profile}    Get Resource Profile
    VAR    ${line}
    ...    ${scope}: peak ${rss}[session1MB] MB at 1 · ${rss}[session5MB] MB at 5 · ${rss}[session10MB] MB at 10
    ...    · ${{'%+.1f' % $rss['growthPerSessionMB']}} MB/session · tree ${rss}[treeSession10MB] MB at 10
    ...    (agent child ${{round($tree.agents_rss_mb, 1)}} MB)
    ...    separator=${SPACE}
    Record Baseline Figures    rss-scaling-${scope}    ${line}    sessionScope=${scope}    &{rss}
    ...    agentChildren=${tree.agent_count}    agentsRssMB=${tree.agents_rss_mb}
    ...    resourceProfile=${{dataclasses.asdict($profile)}}
    Figure Should Be At Most    peak RSS at 1 session    ${rss}[session1MB]    ${RSS_1_SESSION_MAX_MB}    unit=MB
    Figure Should Be At Most    peak RSS at 10 sessions    ${rss}[session10MB]    ${RSS_10_SESSIONS_MAX_MB}
    ...    unit=MB
    Should Be Equal As Integers    ${tree.agent_count}    1    One agent child serves every session.
    Plot RSS At Session Counts    ${windows}    ${scope} scope: RSS while 1, 5 and 10 sessions are open

Sample At 1, 5 And 10 Sessions
    [Documentation]    Open ``${scope}`` sessions up to 1, 5 and 10 and sample the tree at each count.
    ...    Returns upstream's ``rssScaling`` figures (``session1MB``... ``growthPerSessionMB``,
    ...    ``sampleCount``, ``droppedSampleCount``) plus the whole tree's peaks, and the sampling windows
    ...    for `Plot RSS At Session Counts` (``[start s, session count, samples]`` each).
    [Arguments]    ${scope}
    VAR    @{windows}    @{EMPTY}
    VAR    ${opened}    ${0}
    FOR    ${count}    IN    1    5    10
        Open Sessions Until    ${opened}    ${count}    scope=${scope}
        VAR    ${opened}    ${{int($count)}}
        ${window}    Sample RSS Window    ${opened}    ${RSS_SAMPLE_S}    ${RSS_INTERVAL_MS}    ${RSS_MAX_DROPPED}
        Append To List    ${windows}    ${window}
    END
    VAR    ${all}    ${{[samples for _, _, samples in $windows]}}
    VAR    ${expression}    {
    ...    'session1MB': round($all[0].peak_daemon_mb, 1), 'session5MB': round($all[1].peak_daemon_mb, 1),
    ...    'session10MB': round($all[2].peak_daemon_mb, 1),
    ...    'growthPerSessionMB': round(($all[2].peak_daemon_mb - $all[0].peak_daemon_mb) / 9, 1),
    ...    'sampleCount': sum(s.sample_count for s in $all), 'droppedSampleCount': sum(s.dropped for s in $all),
    ...    'treeSession1MB': round($all[0].peak_tree_mb, 1), 'treeSession5MB': round($all[1].peak_tree_mb, 1),
    ...    'treeSession10MB': round($all[2].peak_tree_mb, 1)}
    ...    separator=${SPACE}
    ${figures}    Evaluate    ${expression}
    RETURN    ${figures}    ${windows}
