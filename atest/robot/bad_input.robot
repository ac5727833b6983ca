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
    [Template]    Start Daemon Should Be Refused Before Spawning
    *mock setting 'mode' must be one of echo, *got 'bogus'*    mock_mode=bogus

Unknown Mock Init Mode
    [Template]    Start Daemon Should Be Refused Before Spawning
    *Unknown mock_init 'sometimes'; known: normal, *    mock_init=sometimes

Unknown Agent
    [Template]    Start Daemon Should Be Refused Before Spawning
    *agent must be 'mock' or 'real', got 'robot'*    agent=robot

Negative Counts And Delays
    [Template]    Start Daemon Should Be Refused Before Spawning
    *mock setting 'chunks' must be an integer from 0 to 100000, got -1*    mock_chunks=-1
    *mock setting 'chunk_delay_ms' must be an integer from 0 *, got -5*    mock_chunk_delay_ms=-5
    *mock_init_delay_ms must be 0 or more, got -1*    mock_init_delay_ms=-1
    *Daemon option max_sessions must be a whole number >\= 0, got -1*    max_sessions=-1
    *Daemon option prompt_deadline_ms must be a whole number >\= 0, got -100*    prompt_deadline_ms=-100
    *boot_timeout must be between 0 and 600 seconds, got -1*    boot_timeout=-1

Non-Numeric Counts And Bounds
    [Template]    Start Daemon Should Be Refused Before Spawning
    *'mock_chunks' got value 'lots' that cannot be converted to integer*    mock_chunks=lots
    *'max_sessions' got value 'many' that cannot be converted to integer or None*    max_sessions=many
    *'boot_timeout' got value 'soon' that cannot be converted to float*    boot_timeout=soon

Authentication Without A Token
    [Template]    Start Daemon Should Be Refused Before Spawning
    *require_auth needs a token*    require_auth=${True}

Daemon Build That Does Not Exist
    [Template]    Start Daemon Should Be Refused Before Spawning
    *daemon build '/nonexistent/qwen/cli.js'*does not exist*    daemon_entry=/nonexistent/qwen/cli.js

Daemon Build That Is Not A Script Or Has No Entry
    [Template]    Start Daemon Should Be Refused Before Spawning
    *daemon build '*__init__.robot' is not a JavaScript entry script*    daemon_entry=${CURDIR}/__init__.robot
    *daemon build '*robot' is a folder without cli-entry.js, dist/cli.js or cli.js*    daemon_entry=${CURDIR}

Workspace That Is Not A Folder
    [Template]    Start Daemon Should Be Refused Before Spawning
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
    Run Keyword And Expect Error    *mock setting 'chunks' must be an integer from 0 to 100000, got -3*
    ...    Send Prompt    ${sid}    hello    chunks=-3
    Run Keyword And Expect Error    *mock setting 'mode' must be one of *got 'sideways'*
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
    Start Daemon
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
Start Daemon Should Be Refused Before Spawning
    [Documentation]    `Start Daemon` with these arguments fails with an error matching the pattern, and the
    ...    harness started no process (its child processes are the same before and after).
    [Arguments]    ${error}    &{arguments}
    ${before}    Harness Child Processes
    Run Keyword And Expect Error    ${error}    Start Daemon    &{arguments}
    ${after}    Harness Child Processes
    ${new}    Evaluate    sorted(set($after) - set($before))
    Should Be Empty    ${new}    processes were started for a bad argument: ${new}

Start Daemon Should Fail Within The Bound
    [Documentation]    `Start Daemon` fails with an error matching the pattern within ${BOUND_SECONDS} s, and
    ...    every process it started is gone afterwards.
    [Arguments]    ${error}    &{arguments}
    ${before}    Harness Child Processes
    ${started}    Get Time    epoch
    Run Keyword And Expect Error    ${error}    Start Daemon    &{arguments}
    ${took}    Evaluate    time.time() - ${started}    modules=time
    Should Be True    ${took} < ${BOUND_SECONDS}    Start Daemon took ${took} s to fail
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
