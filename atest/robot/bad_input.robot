*** Settings ***
Documentation    The harness's own error handling, case by case. Arguments that can be checked before anything
...              starts are refused without spawning a process; daemons that die at boot, never listen or send
...              malformed frames fail within a bound with the daemon's own words in the error.
...
...              Broken daemons are small fakes in ``atest/fixtures/`` run in place of the real daemon build.

Resource         ../../resources/qwen_serve.resource

Test Teardown    Stop All Daemons


*** Variables ***
${FIXTURES}         ${CURDIR}/../fixtures
${FAKE_DAEMON}      ${FIXTURES}/fake_daemon.cjs
${NOT_A_DAEMON}     ${FIXTURES}/not_a_daemon.js
${BOOT_TIMEOUT}     2
${BOUND_SECONDS}    15


*** Test Cases ***
Unknown Mock Mode
    [Template]    Start Should Be Refused Before Spawning
    *'mode' got value 'bogus' that cannot be converted to 'echo', 'reject'*    mode=bogus

Unknown Mock Init Mode
    [Template]    Start Should Be Refused Before Spawning
    *'init' got value 'sometimes' that cannot be converted to 'normal', 'never'*    init=sometimes

Unknown Agent Of The Deprecated Keyword
    [Template]    Start Should Be Refused Before Spawning
    *agent must be one of mock, real; got 'robot'*    keyword=Start Daemon    agent=robot

Negative Counts And Delays
    [Template]    Start Should Be Refused Before Spawning
    *chunks must be a whole number from 0 to 100000, got -1.*    chunks=-1
    *chunk_delay_ms must be a whole number from 0 to 86400000 ms, got -5.*    chunk_delay_ms=-5
    *init_delay_ms must be a whole number from 0 to 86400000 ms, got -1.*    init_delay_ms=-1
    *max_sessions must be a whole number from 0 to 2147483647, got '-1'.*    max_sessions=-1
    *prompt_deadline_ms must be a whole number from 1 to 2147483647 ms, got '-100'.*    prompt_deadline_ms=-100
    *boot_timeout must be a number above 0 and at most 600 s, got -1*    boot_timeout=-1

Daemon Flags Outside The Daemon's Own Range
    [Documentation]    The daemon itself refuses these at boot (0.24.4); the harness refuses them first.
    [Template]    Start Should Be Refused Before Spawning
    *prompt_deadline_ms must be a whole number from 1 to *, got '0'.*    prompt_deadline_ms=0
    *event_ring_size must be a whole number from 1 to 1000000, got '1000001'.*    event_ring_size=1000001
    *compacted_replay_max_bytes must be a whole number from 1 to 268435456 bytes*    compacted_replay_max_bytes=0

Non-Numeric Counts And Bounds
    [Template]    Start Should Be Refused Before Spawning
    *'chunks' got value 'lots' that cannot be converted to integer*    chunks=lots
    *max_sessions must be a whole number from 0 to 2147483647, got 'many'.*    max_sessions=many
    *'boot_timeout' got value 'soon' that cannot be converted to timedelta or float*    boot_timeout=soon

Unknown Daemon Flag
    [Documentation]    A name that is no flag of the table is refused, naming it and listing the known flags.
    [Template]    Start Should Be Refused Before Spawning
    *Unknown daemon flag 'max_session'; known: max_sessions, max_total_sessions, *    max_session=3
    *Unknown daemon flag 'mock_chunks'; known: max_sessions, *    mock_chunks=3
    *Unknown daemon flag 'chunks'; known: *    keyword=Start Daemon With Real Agent
    ...    provider_url=http://127.0.0.1:9/v1    chunks=3

Switch And Its Companion Flags
    [Template]    Start Should Be Refused Before Spawning
    *rate_limit is a switch and must be True or False, got 'maybe'.*    rate_limit=maybe
    *rate_limit_prompt only works with the daemon's --rate-limit: add rate_limit\=\${True}.*    rate_limit_prompt=5

Extra Arguments That Repeat A Named Flag
    [Template]    Start Should Be Refused Before Spawning
    *extra_args repeats the daemon flag --max-sessions: use the named flag max_sessions\= instead.*
    ...    extra_args=${{ ["--max-sessions", "3"] }}
    *extra_args repeats the daemon flag --rate-limit: use the named flag rate_limit\= instead.*
    ...    extra_args=${{ ["--no-rate-limit"] }}
    *extra_args may not contain --token: use the token argument*    extra_args=${{ ["--token=abc"] }}

Argument Of The Other Agent Given To The Deprecated Keyword
    [Documentation]    `Start Daemon` used to ignore these silently; it refuses them now, naming the argument.
    [Template]    Start Should Be Refused Before Spawning
    *mock_chunks does not apply to agent\=real; use `Start Daemon With Mock Agent`*    keyword=Start Daemon
    ...    agent=real    provider_url=http://127.0.0.1:9/v1    mock_chunks=5
    *provider_url does not apply to agent\=mock; use `Start Daemon With Real Agent`*    keyword=Start Daemon
    ...    provider_url=http://127.0.0.1:9/v1
    *provider_url is required for agent\=real*    keyword=Start Daemon    agent=real

Real Agent Settings
    [Template]    Start Should Be Refused Before Spawning
    *provider_url must be on 127.0.0.1, got 'http://example.invalid/v1'.*    keyword=Start Daemon With Real Agent
    ...    provider_url=http://example.invalid/v1
    *MCP server 'one' needs a 'command'*    keyword=Start Daemon With Real Agent
    ...    provider_url=http://127.0.0.1:9/v1    workspace_mcp_servers=${{ {"one": {"args": []}} }}

Authentication Without A Token
    [Template]    Start Should Be Refused Before Spawning
    *require_auth needs a token*    require_auth=${True}

Daemon Build That Does Not Exist
    [Template]    Start Should Be Refused Before Spawning
    *daemon build '/nonexistent/qwen/cli.js'*does not exist*    daemon_entry=/nonexistent/qwen/cli.js

Daemon Build That Is Not A Script Or Has No Entry
    [Template]    Start Should Be Refused Before Spawning
    *daemon build '*__init__.robot' is not a JavaScript entry script*    daemon_entry=${CURDIR}/__init__.robot
    *daemon build '*robot' is a folder without cli-entry.js, dist/cli.js or cli.js*    daemon_entry=${CURDIR}

Workspace That Is Not A Folder
    [Template]    Start Should Be Refused Before Spawning
    *workspace '/nonexistent/workspace' is not an existing folder*    workspace=/nonexistent/workspace
    *workspace '*bad_input.robot' is not an existing folder*    workspace=${CURDIR}/bad_input.robot

Bad Stream And Prompt Bounds Are Refused Without A Request
    [Documentation]    Subscription and prompt arguments are checked before anything is sent to the daemon.
    Start Daemon With Mock Agent
    ${sid}    Open Session
    Run Keyword And Expect Error    *max_queued must be a whole number from 16 to 2048*, got 5*
    ...    Read Events    ${sid}    max_queued=5
    Run Keyword And Expect Error    *max_events must be a whole number 1 or more*, got 0*
    ...    Read Events    ${sid}    max_events=0
    Run Keyword And Expect Error    *timeout must be a number above 0 and at most 3600 s, got 0*
    ...    Read Events    ${sid}    timeout=0
    VAR    ${ten}    ten    # a variable: a dry run does not convert it
    Run Keyword And Expect Error    *'max_events' got value 'ten' that cannot be converted*
    ...    Read Events    ${sid}    max_events=${ten}
    Run Keyword And Expect Error    *chunks must be a whole number from 0 to 100000, got '-3'.*
    ...    Send Prompt    ${sid}    hello    chunks=-3
    Run Keyword And Expect Error    *mode must be one of echo, reject, *; got 'sideways'.*
    ...    Send Prompt    ${sid}    hello    mode=sideways
    ${status}    Get Session Status    ${sid}
    Should Not Be True    ${status}[hasActivePrompt]    a refused prompt must not reach the daemon

Daemon That Exits At Boot On An Unknown Flag
    [Documentation]    The real daemon rejects the flag and exits 1; the error quotes its last stderr lines.
    Start Daemon Should Fail Within The Bound
    ...    DaemonBootError: The daemon exited with code 1 before it was listening*Unknown argument*bogus-flag*
    ...    extra_args=${{ ["--bogus-flag"] }}

Daemon Build That Is Not A Daemon
    [Documentation]    A script that prints something else and ends: the error says it exited before listening.
    Start Daemon Should Fail Within The Bound
    ...    DaemonBootError: The daemon exited with code 0 before it was listening (command: *not_a_daemon.js serve*
    ...    daemon_entry=${NOT_A_DAEMON}

Daemon That Dies At Boot
    [Documentation]    A fake daemon that prints an error and exits 3: the error carries its words.
    Start Daemon Should Fail Within The Bound
    ...    DaemonBootError: The daemon exited with code 3 before it was listening*simulated boot failure*
    ...    daemon_entry=${FAKE_DAEMON}    extra_args=${{ ["--fake-mode", "exit"] }}

Daemon That Never Prints Its Listening Line
    [Documentation]    A fake daemon that runs but never listens: stopped after the boot timeout, nothing left.
    Start Daemon Should Fail Within The Bound
    ...    DaemonBootError: The daemon printed no listening line within ${BOOT_TIMEOUT} s;*never listening*
    ...    daemon_entry=${FAKE_DAEMON}
    ...    extra_args=${{ ["--fake-mode", "silent"] }}
    ...    boot_timeout=${BOOT_TIMEOUT}

Malformed SSE Frames
    [Documentation]    A fake daemon sends three frames that are not JSON event envelopes, one good frame and
    ...    a truncated last frame: the reader counts the four bad ones as malformed, keeps the good one, ends at
    ...    the end of the body, and the continuity check fails naming them.
    Start Daemon With Mock Agent
    ...    daemon_entry=${FAKE_DAEMON}    extra_args=${{ ["--fake-mode", "garbage-sse"] }}    preheat=${False}
    ${stream}    Read Events    any-session    timeout=${BOUND_SECONDS}
    Should Be Equal As Integers    ${stream.malformed}    4
    Should Be Equal As Integers    ${stream.received}    1
    Should Be Equal    ${stream.end}    eof
    Run Keyword And Expect Error    Event stream not continuous: 4 malformed frames*
    ...    Stream Should Have No Gaps    ${stream}

Prompt To A Closed Session
    [Documentation]    The daemon answers 404 session_not_found; the error names the route, status and code.
    Start Daemon With Mock Agent
    ${sid}    Open Session
    Close Session    ${sid}
    Run Keyword And Expect Error    DaemonHttpError: POST /session/:id/prompt -> 404 session_not_found:*
    ...    Send Prompt    ${sid}    hello
    Run Keyword And Expect Error    DaemonHttpError: POST /session/:id/prompt -> 404 session_not_found:*
    ...    Prompt And Wait    ${sid}    hello    timeout=${BOUND_SECONDS}


*** Keywords ***
Start Should Be Refused Before Spawning
    [Documentation]    The start keyword (`Start Daemon With Mock Agent` unless ``keyword`` names another) with
    ...    these arguments fails with an error matching the pattern, and the harness started no process (its
    ...    child processes are the same before and after).
    [Arguments]    ${error}    ${keyword}=Start Daemon With Mock Agent    &{arguments}
    ${before}    Harness Child Processes
    Run Keyword And Expect Error    ${error}    ${keyword}    &{arguments}
    ${after}    Harness Child Processes
    ${new}    Evaluate    sorted(set($after) - set($before))
    Should Be Empty    ${new}    processes were started for a bad argument: ${new}

Start Daemon Should Fail Within The Bound
    [Documentation]    `Start Daemon With Mock Agent` fails with an error matching the pattern within
    ...    ${BOUND_SECONDS} s, and every process it started is gone afterwards.
    [Arguments]    ${error}    &{arguments}
    ${before}    Harness Child Processes
    ${started}    Get Time    epoch
    Run Keyword And Expect Error    ${error}    Start Daemon With Mock Agent    &{arguments}
    ${took}    Evaluate    time.time() - ${started}    modules=time
    Should Be True    ${took} < ${BOUND_SECONDS}    Start Daemon With Mock Agent took ${took} s to fail
    ${after}    Harness Child Processes
    ${new}    Evaluate    sorted(set($after) - set($before))
    Should Be Empty    ${new}    processes left behind: ${new}

Harness Child Processes
    [Documentation]    Pids and command lines of this Robot process's live descendants (the watchdog excepted).
    ${children}    Evaluate    psutil.Process().children(recursive=True)    modules=psutil
    ${live}    Evaluate    [p for p in $children if p.is_running() and p.status() != "zombie"]
    ${described}    Evaluate    [f"{p.pid} {' '.join(p.cmdline())}" for p in $live]
    ${others}    Evaluate    [d for d in $described if "keywords.daemon.watchdog" not in d]
    RETURN    ${others}
