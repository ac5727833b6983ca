*** Settings ***
Documentation    B3 and B4 (real agent child): MCP server processes as sessions grow, and the daemon's own
...              MCP accounting against the process tree.
...
...              Two idle stdio MCP servers (``mock_acp/idle_mcp.py``) are declared in the user settings of the
...              daemon's HOME; 0.24.4 starts those, pooled per workspace. Upstream's bounds (at least 2 at one
...              session, at most 2 × 5 × 2 = 20 at five) are kept, and the current behaviour is asserted
...              exactly: as many MCP processes as servers at every session count, so a return of per-session
...              amplification fails here. Servers declared in the workspace settings without an approval
...              record must be listed as pending and get no process.

Resource         ../../resources/baseline.resource

Test Teardown    Stop Baseline Fixtures


*** Variables ***
${MCP_SERVERS}        2
@{SESSION_COUNTS}     1    3    5
${PENDING_SERVER}     workspace-idle1
${MCP_WAIT}           20 s
${MCP_SETTLE}         1 s
${MCP_AT_1_MIN}       2
${MCP_AT_MOST_MAX}    20


*** Test Cases ***
MCP Processes Stay One Per Server As Sessions Are Added
    [Documentation]    Sessions are opened up to each count of ``SESSION_COUNTS``; at each count the tree must
    ...    run one process per declared server, and the workspace server awaiting approval none.
    Begin Scenario    mcp-amplification    mcpServers=${MCP_SERVERS}
    ${servers}    Idle MCP Servers    ${MCP_SERVERS}
    ${pending}    Idle MCP Servers    1    prefix=workspace-idle
    Start Real Agent Daemon    mcp_servers=${servers}    workspace_mcp_servers=${pending}
    ${mcp}    Count MCP Processes At Session Counts    @{SESSION_COUNTS}    servers=${MCP_SERVERS}
    ...    pending_server=${PENDING_SERVER}    pending_pattern=workspace-idle    timeout=${MCP_WAIT}
    ...    settle=${MCP_SETTLE}
    Record Result    ${mcp}
    Figure Should Be At Least    MCP processes at the fewest sessions    ${mcp.at_fewest}    ${MCP_AT_1_MIN}
    Figure Should Be At Most    MCP processes at the most sessions    ${mcp.at_most}    ${MCP_AT_MOST_MAX}
    ...    unit=${EMPTY}
    MCP Processes Should Be One Per Server    ${mcp}
    Should Be Equal    ${mcp.pending_state}    pending
    ...    The workspace server awaiting approval should be listed as pending, but is ${mcp.pending_state}.
    Should Be Equal As Integers    ${mcp.pending_processes}    0
    ...    The workspace server awaiting approval should not be started, but ${mcp.pending_processes} run.

The Daemon's MCP Accounting Matches The Process Tree
    [Documentation]    ``GET /workspace/mcp`` accounts as many MCP entries as MCP processes run, every
    ...    declared server is connected, and no more clients than processes are counted.
    Begin Scenario    mcp-accounting    mcpServers=${MCP_SERVERS}
    ${servers}    Idle MCP Servers    ${MCP_SERVERS}
    Start Real Agent Daemon    mcp_servers=${servers}
    Open Session
    ${mcp}    Read MCP Accounting    servers=${MCP_SERVERS}    timeout=${MCP_WAIT}    settle=${MCP_SETTLE}
    Record Result    ${mcp}
    Should Be Equal As Integers    ${mcp.entry_count_sum}    ${mcp.observed}
    ...    The daemon accounts ${mcp.entry_count_sum} MCP entries but ${mcp.observed} MCP processes run.
    Should Be Equal As Integers    ${mcp.connected}    ${MCP_SERVERS}
    ...    Expected all ${MCP_SERVERS} MCP servers connected, but ${mcp.connected} are.
    Should Be True    ${mcp.client_count} <= ${mcp.observed}
    ...    The daemon counts ${mcp.client_count} MCP clients, more than the ${mcp.observed} MCP processes.
