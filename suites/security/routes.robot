*** Comments ***
# robocop: off=too-many-test-cases,file-too-long,not-allowed-char-in-name


*** Settings ***
Documentation     Every route of the daemon, tried without a token, with a wrong token and with the right one, on a
...               daemon started with ``--token`` and on one started with ``--token --require-auth`` (both with the
...               token in ``QWEN_SERVER_TOKEN``, never on the command line). Without the right token a route must
...               answer ``401 {"error":"Unauthorized"}``; with it, the answer in the row, which shows the request got
...               past the bearer check: the route's normal status, or the 4xx it documents for an unknown id or an
...               incomplete body.
...
...               *One row per route.* The test's name is the route: the method (``WS`` for a WebSocket upgrade,
...               whose token travels as the ``qwen-bearer.<base64url>`` subprotocol) and the path. Placeholders are
...               filled per daemon: ``{session}`` with a live session, ``{workspace}`` with the workspace id, any
...               other (``{unknownSession}``, ``{requestId}``, ``{server}``...) with an id the daemon does not know.
...               Columns: what the right token gets (``200``; ``404 session_not_found``, where the word is the JSON
...               answer's ``code`` or ``error``; ``absent`` for a route this configuration does not serve: Express's
...               ``Cannot GET`` page, or a WebSocket closed without an answer), then the JSON body, if any, and
...               ``open_when`` for a route open by design: ``without-require-auth`` (``/health`` of a loopback daemon
...               without ``--require-auth``) or ``always`` (a channel webhook, guarded by its own secret). An open
...               route is checked to be open, not skipped.
...
...               A body of ``{`` is malformed on purpose: on routes that would act on the machine or the network
...               (git pull and push, reload, open, the native directory picker, the PR backfill) the JSON parser,
...               which runs after the bearer check, refuses it with ``400 Invalid JSON in request body`` before the
...               handler runs. ``500 Method not found`` is the daemon passing on the mock agent's JSON-RPC -32601
...               for an ACP method the mock does not implement: the request reached the agent, so it was past the
...               bearer check.
...
...               *The routes the table does not know.* The first test reads the routes the build under test
...               registers from its bundle (``keywords/daemon/routes.py``; ``DAEMON_ENTRY`` selects the build) and
...               fails, with a ``FINDING:`` warning for each, when a route has no row: a new route nobody checked is
...               what this suite exists to catch. Add a row for it (``robot --test "POST /new/route" ...`` runs one).
...
...               Both daemons start once for the whole table (about 13 s per auth mode on 2 cores), so the suite is
...               tagged ``loadtest`` too and runs in the pre-merge check.

Resource          ../../resources/security.resource

Suite Setup       Start The Daemons That Require The Token
Suite Teardown    Stop All Daemons
Test Template     Route Should Be Guarded In Both Modes

Test Tags         routes    loadtest


*** Test Cases ***    RIGHT TOKEN GETS    BODY    OPEN WHEN
# One test per route, named after it (paths have dots and query marks): the table is long by design.
The Table Has A Row For Every Route Of The Build
    [Documentation]    Every (method, path) the build registers matches a row of this table.
    [Template]    NONE
    ${coverage}    Every Route Should Be In The Table
    Set Test Message    ${coverage.line()}

# Health, capabilities and the daemon
GET /brand    200
GET /capabilities    200
GET /daemon/status    200
GET /goals    200
GET /health    200    open_when=without-require-auth
GET /health?deep=1    200    open_when=without-require-auth
POST /language    400 invalid_language    {}
GET /usage/dashboard    200

# Sessions: create, list, archive, delete
POST /session    200    {"sessionScope":"thread"}
POST /sessions/archive    400 invalid_request    {}
POST /sessions/backfill-prs    400 Invalid JSON in request body    {
POST /sessions/catalog    400 invalid_session_catalog_request    {}
POST /sessions/delete    400 invalid_request    {}
POST /sessions/unarchive    400 invalid_request    {}

# One session (the live session, or an unknown id where the route would end it)
POST /session/{session}/a2ui-action    400    {}
GET /session/{session}/agent-trace    500 Method not found
GET /session/{session}/agents    500 Method not found
POST /session/{session}/approval-mode    400 invalid_approval_mode    {}
GET /session/{session}/artifacts    200
POST /session/{session}/artifacts    403 client_id_required    {}
DELETE /session/{session}/artifacts/{artifactId}    403 client_id_required
GET /session/{session}/artifacts/{artifactId}/content    404 artifact_snapshot_unavailable
GET /session/{session}/attachments    200
POST /session/{session}/attachments    400    {}
GET /session/{session}/attachments/{attachmentId}    404
DELETE /session/{session}/attachments/{attachmentId}    200
POST /session/{session}/branch    500 Method not found    {}
POST /session/{session}/btw    400    {}
POST /session/{session}/cancel    204    {}
POST /session/{session}/cd    400 invalid_path    {}
POST /session/{session}/config-option    400    {}
GET /session/{session}/context    500 Method not found
GET /session/{session}/context-usage    500 Method not found
POST /session/{session}/continue    500 Method not found    {}
GET /session/{session}/events    200
GET /session/{session}/export    404 session_not_found
POST /session/{session}/fork    400 missing_directive    {}
POST /session/{session}/generate    400 invalid_prompt    {}
GET /session/{session}/goal    500 Method not found
POST /session/{session}/goal    400 invalid_goal_control_request    {}
POST /session/{session}/goal/clear    500 Method not found    {}
POST /session/{session}/heartbeat    200    {}
GET /session/{session}/hooks    500 Method not found
POST /session/{session}/language    400 invalid_language    {}
POST /session/{session}/load    200    {}
GET /session/{session}/lsp    500 Method not found
PATCH /session/{session}/metadata    200    {}
POST /session/{session}/mid-turn-message    400    {}
GET /session/{session}/mid-turn-messages    200
DELETE /session/{session}/mid-turn-messages/{messageId}    200
POST /session/{session}/model    400    {}
PATCH /session/{session}/organization    200    {}
GET /session/{session}/pending-prompts    200
DELETE /session/{session}/pending-prompts/{promptId}    200
POST /session/{session}/permission/{requestId}    400    {}
POST /session/{session}/prompt    202    {"prompt":[{"type":"text","text":"hello"}]}
POST /session/{session}/recap    500 Method not found    {}
GET /session/{session}/resources    500 Method not found
POST /session/{session}/resume    200    {}
POST /session/{session}/rewind    400 missing_prompt_id    {}
GET /session/{session}/rewind/snapshots    500 Method not found
GET /session/{session}/saved-workflows/{name}    500 Method not found
POST /session/{session}/shell    403 session_shell_disabled    {}
POST /session/{session}/side-task    500 Method not found    {}
GET /session/{session}/sources    500 Method not found
POST /session/{session}/sources    403 client_id_required    {}
DELETE /session/{session}/sources/{sourceId}    403 client_id_required
GET /session/{session}/stats    500 Method not found
GET /session/{session}/status    200
GET /session/{session}/subagents/{subagentRef}    500 Method not found
POST /session/{session}/subagents/{subagentRef}/cancel    500 Method not found    {}
GET /session/{session}/supported-commands    500 Method not found
GET /session/{session}/tasks    500 Method not found
POST /session/{session}/tasks/{taskId}/cancel    400    {}
POST /session/{session}/tasks/{taskId}/workflow-action    400    {}
# From here on {session} has a chat record (the mock writes it from the prompt of POST /session/{session}/prompt)
GET /session/{session}/transcript    200
GET /session/{session}/turn-index    500 Method not found
GET /session/{session}/turns/current    200
GET /session/{session}/turns/{promptId}    500 Method not found
POST /session/{session}/worktree-reset    409 worktree_reset_unsupported    {}
POST /session/{unknownSession}/detach    204    {}
DELETE /session/{unknownSession}    404 session_not_found

# Sessions outside the daemon's runtime
GET /standalone/session-options    200
GET /standalone/sessions    200
POST /standalone/sessions    400 invalid_request    {}
POST /standalone/sessions/archive    400 invalid_request    {}
POST /standalone/sessions/delete    400 invalid_request    {}
POST /standalone/sessions/unarchive    400 invalid_request    {}
GET /standalone/sessions/{unknownSession}    404 standalone_session_not_found
GET /standalone/sessions/{unknownSession}/export    404 standalone_session_not_found
POST /standalone/sessions/{unknownSession}/load    404 standalone_session_not_found    {}
PATCH /standalone/sessions/{unknownSession}/metadata    400 invalid_request    {}
POST /standalone/sessions/{unknownSession}/repair-directory    404 standalone_session_not_found    {}
POST /standalone/sessions/{unknownSession}/resume    404 standalone_session_not_found    {}

# Permissions
POST /permission/{requestId}    400    {}

# The ACP transport over HTTP and WebSocket, and the voice stream (a WebSocket path)
GET /acp    406
POST /acp    200    {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}
DELETE /acp    400
WS /acp    101
WS /voice/stream    101
GET /workspaces/{workspace}/acp    406
POST /workspaces/{workspace}/acp    200    {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}
DELETE /workspaces/{workspace}/acp    400
WS /workspaces/{workspace}/acp    101
WS /workspaces/{workspace}/voice/stream    101

# Files of the workspace
GET /file    400
GET /file/bytes    400
POST /file/edit    400    {}
POST /file/upload    415    {}
POST /file/write    400    {}
GET /glob    400
GET /list    400
GET /stat    400

# Extensions
GET /extensions    200
PUT /extensions/activation    400 invalid_extension_names    {}
POST /extensions/check-updates    202    {}
POST /extensions/install    400    {}
GET /extensions/operations/{operationId}    404 extension_operation_not_found
DELETE /extensions/{extensionId}    400 invalid_extension_id
PUT /extensions/{extensionId}/activation    400 invalid_extension_id    {}
POST /extensions/{extensionId}/update    400 invalid_extension_id    {}

# Scheduled tasks
GET /scheduled-tasks    200
POST /scheduled-tasks    400 invalid_cron    {}
PATCH /scheduled-tasks/{taskId}    400 empty_patch    {}
DELETE /scheduled-tasks/{taskId}    404 task_not_found
POST /scheduled-tasks/{taskId}/run    404 task_not_found    {}

# Channels: a webhook is guarded by its own secret, not by the bearer token
POST /channels/{channelName}/webhooks/{source}    401 Invalid webhook secret    {}    open_when=always

# Not served by the harness's daemons: the Web Shell (--no-web), Live Voice and the CDP tunnel (off)
GET /    absent
WS /cdp    absent
WS /live/host    absent
POST /live/mute    absent
POST /live/new    absent
GET /live/setup    absent
POST /live/setup    absent
POST /live/setup/install    absent
POST /live/setup/launch    absent
POST /live/shortcut    absent
POST /live/start    absent
GET /live/status    absent
POST /live/stop    absent
WS /live/web    absent
GET /manifest.webmanifest    absent
GET /mcp-app-sandbox    absent
GET /session/{session}    absent
GET /sw.js    absent
POST /web-shell/pairing    absent
POST /web-shell/pairing/exchange    absent

# The workspace
POST /workspace-directory-picker    400 Invalid JSON in request body    {
GET /workspace-path-suggestions    400 invalid_prefix
GET /workspace-registrations    200
DELETE /workspace-registrations/{registrationId}    404 workspace_registration_not_found
POST /workspace/acp/preheat    200    {}
GET /workspace/acp/status    200
GET /workspace/agents    200
POST /workspace/agents    400 invalid_scope    {}
POST /workspace/agents/generate    400 invalid_description    {}
GET /workspace/agents/{agentType}    404 agent_not_found
POST /workspace/agents/{agentType}    404 agent_not_found    {}
DELETE /workspace/agents/{agentType}    404 agent_not_found
POST /workspace/auth/device-flow    400 invalid_request    {}
GET /workspace/auth/device-flow/{flowId}    404 device_flow_not_found
DELETE /workspace/auth/device-flow/{flowId}    404 device_flow_not_found
POST /workspace/auth/provider    400 invalid_request    {}
GET /workspace/auth/providers    200
GET /workspace/auth/status    200
GET /workspace/channel    200
PUT /workspace/channel    400 invalid_channel_selection    {}
DELETE /workspace/channel    200
GET /workspace/channel-types    200
GET /workspace/channel/observed-contacts    200
POST /workspace/channel/reload    409 channel_worker_not_enabled    {}
GET /workspace/channels    200
PUT /workspace/channels/{name}    400 invalid_channel_management_request    {}
DELETE /workspace/channels/{name}    400 invalid_channel_management_request
GET /workspace/channels/{name}/pairing-approvals    404 channel_instance_not_found
DELETE /workspace/channels/{name}/pairing-approvals    400 invalid_channel_pairing_subject
GET /workspace/channels/{name}/pairing-requests    404 channel_instance_not_found
POST /workspace/channels/{name}/pairing-requests/approve    400 invalid_channel_pairing_code    {}
POST /workspace/channels/{name}/restart    404 channel_instance_not_found    {}
POST /workspace/channels/{name}/start    404 channel_instance_not_found    {}
PUT /workspace/channels/{name}/startup    400 invalid_channel_management_request    {}
POST /workspace/channels/{name}/stop    404 channel_instance_not_found    {}
GET /workspace/config/mcp/servers    200
PUT /workspace/config/mcp/servers/{name}    400 invalid_scope    {}
DELETE /workspace/config/mcp/servers/{name}    400 invalid_scope
POST /workspace/config/mcp/{server}/disable    200    {}
POST /workspace/config/mcp/{server}/enable    200    {}
GET /workspace/config/skills    200
POST /workspace/config/skills/install    400 invalid_skill_name    {}
DELETE /workspace/config/skills/{name}    400 invalid_skill_scope
GET /workspace/env    200
GET /workspace/extensions    200
POST /workspace/extensions/check-updates    200    {}
POST /workspace/extensions/install    400    {}
POST /workspace/extensions/install-archive    400    {}
GET /workspace/extensions/operations    200
GET /workspace/extensions/operations/{operationId}    404 extension_operation_not_found
POST /workspace/extensions/operations/{operationId}/interactions/{interactionId}    404    {}
POST /workspace/extensions/refresh    200    {}
DELETE /workspace/extensions/{name}    202
POST /workspace/extensions/{name}/disable    400    {}
POST /workspace/extensions/{name}/enable    400    {}
POST /workspace/extensions/{name}/update    202    {}
POST /workspace/generate    400 invalid_prompt    {}
GET /workspace/git    200
POST /workspace/git/branch    400 invalid_branch_name    {}
GET /workspace/git/branches    404 not_a_git_repository
POST /workspace/git/checkout    400 missing_ref    {}
POST /workspace/git/commit    400 missing_message    {}
GET /workspace/git/diff    200
GET /workspace/git/diff/file    400
GET /workspace/git/log    200
GET /workspace/git/log/commit    400
POST /workspace/git/pull    400 Invalid JSON in request body    {
POST /workspace/git/push    400 Invalid JSON in request body    {
GET /workspace/hooks    500 Method not found
# An invalid flag: the handler refuses it before it writes anything.
POST /workspace/init    400 invalid_force_flag    {"force":"yes"}
GET /workspace/local-control    200
POST /workspace/local-control/disable    200    {}
POST /workspace/local-control/enable    409 local_control_web_shell_unavailable    {}
GET /workspace/mcp    200
POST /workspace/mcp/initialize    500 Method not found    {}
POST /workspace/mcp/reload    500 Method not found    {}
POST /workspace/mcp/servers    400 invalid_server_name    {}
DELETE /workspace/mcp/servers/{name}    400 missing_client_id
POST /workspace/mcp/{server}/approve    500 Method not found    {}
POST /workspace/mcp/{server}/authenticate    500 Method not found    {}
POST /workspace/mcp/{server}/clear-auth    500 Method not found    {}
POST /workspace/mcp/{server}/disable    500 Method not found    {}
POST /workspace/mcp/{server}/enable    500 Method not found    {}
GET /workspace/mcp/{server}/resources    500 Method not found
POST /workspace/mcp/{server}/restart    500 Method not found    {}
GET /workspace/mcp/{server}/tools    500 Method not found
GET /workspace/memory    200
POST /workspace/memory    400 invalid_scope    {}
POST /workspace/memory/dream    500 dream_failed    {}
GET /workspace/memory/dream/{taskId}    404 dream_task_not_found
POST /workspace/memory/forget    400 invalid_query    {}
GET /workspace/memory/forget/{taskId}    404 forget_task_not_found
POST /workspace/memory/remember    400 invalid_content    {}
GET /workspace/memory/remember/{taskId}    404 remember_task_not_found
GET /workspace/models    200
PATCH /workspace/models    400    {}
DELETE /workspace/models    400 invalid_auth_type
POST /workspace/notify    400 channel_delivery_invalid    {}
GET /workspace/permissions    200
POST /workspace/permissions    400 invalid_scope    {}
GET /workspace/preflight    200
GET /workspace/providers    200
POST /workspace/reload    400 Invalid JSON in request body    {
POST /workspace/runtime/ensure    200    {}
GET /workspace/runtime/mcp    200
POST /workspace/runtime/mcp/reload    500 Method not found    {}
POST /workspace/runtime/mcp/{server}/approve    500 Method not found    {}
POST /workspace/runtime/mcp/{server}/authenticate    500 Method not found    {}
POST /workspace/runtime/mcp/{server}/clear-auth    500 Method not found    {}
GET /workspace/runtime/mcp/{server}/resources    500 Method not found
POST /workspace/runtime/mcp/{server}/restart    500 Method not found    {}
GET /workspace/runtime/mcp/{server}/tools    500 Method not found
GET /workspace/runtime/skills    200
GET /workspace/runtime/status    200
GET /workspace/settings    200
POST /workspace/settings    400 invalid_scope    {}
POST /workspace/setup-github    400 github_setup_consent_required    {}
GET /workspace/skills    200
POST /workspace/skills/enable    400 invalid_skill_names    {}
POST /workspace/skills/install    400 invalid_skill_name    {}
DELETE /workspace/skills/{name}    400 invalid_skill_scope
POST /workspace/skills/{name}/enable    400 invalid_enabled_flag    {}
GET /workspace/tools    500 Method not found
POST /workspace/tools/{name}/enable    400 invalid_enabled_flag    {}
GET /workspace/trust    200
POST /workspace/trust/request    400 invalid_desired_state    {}
GET /workspace/voice    200
POST /workspace/voice    400 invalid_voice_update    {}
POST /workspace/voice/transcribe    415 unsupported_voice_content_type    {}
GET /workspace/{workspace}/session-groups    200
POST /workspace/{workspace}/session-groups    400 invalid_group_name    {}
PATCH /workspace/{workspace}/session-groups/{groupId}    404 group_not_found    {}
DELETE /workspace/{workspace}/session-groups/{groupId}    200
GET /workspace/{workspace}/session-info    200
GET /workspace/{workspace}/sessions    200
GET /workspace/{workspace}/sessions/search    400 invalid_search_query

# Workspaces by id, registrations and remote workspaces
GET /remote-workspace-path-suggestions    400 invalid_daemon
POST /remote-workspaces    400 invalid_daemon    {}
POST /workspaces    400 invalid_path    {}
GET /workspaces/runtime-stop-options    200
GET /workspaces/{unknownWorkspace}/github/prs    400 workspace_mismatch
POST /workspaces/{unknownWorkspace}/github/prs/create    400 workspace_mismatch    {}
PATCH /workspaces/{workspace}    400 empty_patch    {}
DELETE /workspaces/{workspace}    409 primary_workspace_removal_forbidden
GET /workspaces/{workspace}/agents    200
POST /workspaces/{workspace}/agents    422 invalid_config    {}
GET /workspaces/{workspace}/agents/{agentType}    404 agent_not_found
POST /workspaces/{workspace}/agents/{agentType}    404 agent_not_found    {}
DELETE /workspaces/{workspace}/agents/{agentType}    404 agent_not_found
GET /workspaces/{workspace}/channel-types    200
GET /workspaces/{workspace}/channel/observed-contacts    200
GET /workspaces/{workspace}/channels    200
PUT /workspaces/{workspace}/channels/{name}    400 invalid_channel_management_request    {}
DELETE /workspaces/{workspace}/channels/{name}    400 invalid_channel_management_request
GET /workspaces/{workspace}/channels/{name}/pairing-approvals    404 channel_instance_not_found
DELETE /workspaces/{workspace}/channels/{name}/pairing-approvals    400 invalid_channel_pairing_subject
GET /workspaces/{workspace}/channels/{name}/pairing-requests    404 channel_instance_not_found
POST /workspaces/{workspace}/channels/{name}/pairing-requests/approve    400 invalid_channel_pairing_code    {}
POST /workspaces/{workspace}/channels/{name}/restart    404 channel_instance_not_found    {}
POST /workspaces/{workspace}/channels/{name}/start    404 channel_instance_not_found    {}
PUT /workspaces/{workspace}/channels/{name}/startup    400 invalid_channel_management_request    {}
POST /workspaces/{workspace}/channels/{name}/stop    404 channel_instance_not_found    {}
GET /workspaces/{workspace}/config/mcp/servers    200
PUT /workspaces/{workspace}/config/mcp/servers/{name}    400 invalid_scope    {}
DELETE /workspaces/{workspace}/config/mcp/servers/{name}    400 invalid_scope
POST /workspaces/{workspace}/config/mcp/{server}/disable    200    {}
POST /workspaces/{workspace}/config/mcp/{server}/enable    200    {}
GET /workspaces/{workspace}/config/skills    200
POST /workspaces/{workspace}/config/skills/install    400 invalid_skill_name    {}
DELETE /workspaces/{workspace}/config/skills/{name}    400 invalid_skill_scope
POST /workspaces/{workspace}/config/skills/{name}/enable    400 invalid_enabled_flag    {}
GET /workspaces/{workspace}/env    200
GET /workspaces/{workspace}/extensions    200
PUT /workspaces/{workspace}/extensions/activation    400 invalid_extension_names    {}
POST /workspaces/{workspace}/extensions/refresh    202    {}
PUT /workspaces/{workspace}/extensions/{extensionId}/activation    400 invalid_extension_id    {}
DELETE /workspaces/{workspace}/extensions/{extensionId}/activation    400 invalid_extension_id
GET /workspaces/{workspace}/extensions/{extensionId}/state    400 invalid_extension_id
PUT /workspaces/{workspace}/extensions/{extensionId}/state    400 invalid_extension_id    {}
GET /workspaces/{workspace}/file    400
GET /workspaces/{workspace}/file/bytes    400
POST /workspaces/{workspace}/file/edit    400    {}
POST /workspaces/{workspace}/file/upload    415    {}
POST /workspaces/{workspace}/file/write    400    {}
GET /workspaces/{workspace}/git    200
POST /workspaces/{workspace}/git/branch    400 invalid_branch_name    {}
GET /workspaces/{workspace}/git/branches    404 not_a_git_repository
POST /workspaces/{workspace}/git/checkout    400 missing_ref    {}
POST /workspaces/{workspace}/git/commit    400 missing_message    {}
GET /workspaces/{workspace}/git/diff    200
GET /workspaces/{workspace}/git/diff/file    400
GET /workspaces/{workspace}/git/log    200
GET /workspaces/{workspace}/git/log/commit    400
POST /workspaces/{workspace}/git/pull    400 Invalid JSON in request body    {
POST /workspaces/{workspace}/git/push    400 Invalid JSON in request body    {
POST /workspaces/{workspace}/git/remote    400 invalid_remote_name    {}
POST /workspaces/{workspace}/git/remote/remove    400 invalid_remote_name    {}
GET /workspaces/{workspace}/git/remotes    404 not_a_git_repository
GET /workspaces/{workspace}/github/default-branch    200
GET /workspaces/{workspace}/glob    400
GET /workspaces/{workspace}/hooks    500 Method not found
POST /workspaces/{workspace}/init    400 invalid_force_flag    {"force":"yes"}
GET /workspaces/{workspace}/list    400
GET /workspaces/{workspace}/mcp    200
POST /workspaces/{workspace}/mcp/initialize    500 Method not found    {}
POST /workspaces/{workspace}/mcp/reload    500 Method not found    {}
POST /workspaces/{workspace}/mcp/servers    400 invalid_server_name    {}
DELETE /workspaces/{workspace}/mcp/servers/{name}    400 missing_client_id
POST /workspaces/{workspace}/mcp/{server}/approve    500 Method not found    {}
POST /workspaces/{workspace}/mcp/{server}/authenticate    500 Method not found    {}
POST /workspaces/{workspace}/mcp/{server}/clear-auth    500 Method not found    {}
POST /workspaces/{workspace}/mcp/{server}/disable    500 Method not found    {}
POST /workspaces/{workspace}/mcp/{server}/enable    500 Method not found    {}
GET /workspaces/{workspace}/mcp/{server}/resources    500 Method not found
POST /workspaces/{workspace}/mcp/{server}/restart    500 Method not found    {}
GET /workspaces/{workspace}/mcp/{server}/tools    500 Method not found
GET /workspaces/{workspace}/memory    200
POST /workspaces/{workspace}/memory    400    {}
POST /workspaces/{workspace}/memory/dream    500 dream_failed    {}
GET /workspaces/{workspace}/memory/dream/{taskId}    404 dream_task_not_found
POST /workspaces/{workspace}/memory/forget    400 invalid_query    {}
GET /workspaces/{workspace}/memory/forget/{taskId}    404 forget_task_not_found
POST /workspaces/{workspace}/memory/remember    400 invalid_content    {}
GET /workspaces/{workspace}/memory/remember/{taskId}    404 remember_task_not_found
POST /workspaces/{workspace}/notify    400 channel_delivery_invalid    {}
POST /workspaces/{workspace}/open    400 Invalid JSON in request body    {
GET /workspaces/{workspace}/permissions    200
POST /workspaces/{workspace}/permissions    400    {}
GET /workspaces/{workspace}/preflight    200
GET /workspaces/{workspace}/providers    200
POST /workspaces/{workspace}/reload    400 Invalid JSON in request body    {
POST /workspaces/{workspace}/runtime/ensure    200    {}
GET /workspaces/{workspace}/runtime/mcp    200
POST /workspaces/{workspace}/runtime/mcp/reload    500 Method not found    {}
POST /workspaces/{workspace}/runtime/mcp/{server}/approve    500 Method not found    {}
POST /workspaces/{workspace}/runtime/mcp/{server}/authenticate    500 Method not found    {}
POST /workspaces/{workspace}/runtime/mcp/{server}/clear-auth    500 Method not found    {}
GET /workspaces/{workspace}/runtime/mcp/{server}/resources    500 Method not found
POST /workspaces/{workspace}/runtime/mcp/{server}/restart    500 Method not found    {}
GET /workspaces/{workspace}/runtime/mcp/{server}/tools    500 Method not found
GET /workspaces/{workspace}/runtime/skills    200
GET /workspaces/{workspace}/runtime/status    200
POST /workspaces/{workspace}/runtime/stop    400 invalid_runtime_stop_confirmation    {}
GET /workspaces/{workspace}/scheduled-tasks    200
POST /workspaces/{workspace}/scheduled-tasks    400 invalid_cron    {}
PATCH /workspaces/{workspace}/scheduled-tasks/{taskId}    400 empty_patch    {}
DELETE /workspaces/{workspace}/scheduled-tasks/{taskId}    404 task_not_found
POST /workspaces/{workspace}/scheduled-tasks/{taskId}/run    404 task_not_found    {}
GET /workspaces/{workspace}/session-groups    200
POST /workspaces/{workspace}/session-groups    400 invalid_group_name    {}
PATCH /workspaces/{workspace}/session-groups/{groupId}    404 group_not_found    {}
DELETE /workspaces/{workspace}/session-groups/{groupId}    200
GET /workspaces/{workspace}/session-info    200
GET /workspaces/{workspace}/session/{session}/archive/export    409 session_not_archived
GET /workspaces/{workspace}/session/{session}/export    200
PATCH /workspaces/{workspace}/session/{session}/metadata    400 invalid_metadata    {}
PATCH /workspaces/{workspace}/session/{session}/organization    200    {}
GET /workspaces/{workspace}/session/{session}/transcript    200
GET /workspaces/{workspace}/session/{session}/turn-index    200
GET /workspaces/{workspace}/sessions    200
POST /workspaces/{workspace}/sessions/archive    400 invalid_request    {}
POST /workspaces/{workspace}/sessions/delete    400 invalid_request    {}
GET /workspaces/{workspace}/sessions/live-state    200
GET /workspaces/{workspace}/sessions/search    400 invalid_search_query
POST /workspaces/{workspace}/sessions/unarchive    400 invalid_request    {}
GET /workspaces/{workspace}/settings    200
POST /workspaces/{workspace}/settings    400 invalid_scope    {}
GET /workspaces/{workspace}/skills    200
POST /workspaces/{workspace}/skills/enable    400 invalid_skill_names    {}
POST /workspaces/{workspace}/skills/install    400 invalid_skill_name    {}
DELETE /workspaces/{workspace}/skills/{name}    400 invalid_skill_scope
POST /workspaces/{workspace}/skills/{name}/enable    400 invalid_enabled_flag    {}
GET /workspaces/{workspace}/stat    400
GET /workspaces/{workspace}/tools    500 Method not found
POST /workspaces/{workspace}/tools/{name}/enable    400 invalid_enabled_flag    {}
GET /workspaces/{workspace}/trust    200
POST /workspaces/{workspace}/trust/request    400 invalid_desired_state    {}
GET /workspaces/{workspace}/voice    200
POST /workspaces/{workspace}/voice    400 invalid_voice_update    {}
POST /workspaces/{workspace}/voice/transcribe    415 unsupported_voice_content_type    {}
