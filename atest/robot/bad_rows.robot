*** Comments ***
# robocop: off=line-too-long


*** Settings ***
Documentation    A bad row fails only itself, before anything starts, and its message names the column as the
...              table's header spells it, the value written and what is allowed. Each row here is a deliberately
...              bad row of one of the scenario tables and (a pattern of) the message it must fail with.

Resource         ../../resources/scenarios.resource

Test Teardown    Stop All Daemons
Test Template    Row Should Fail Before Anything Starts


*** Test Cases ***                 TABLE          MESSAGE                                                                    CELLS    # robocop: fmt: off
A Word Where A Number Belongs      Burst          Column "BURST" must be a whole number from 1 to 1000, got 'ten'.           ten    1    3    0    echo    every prompt    2000    completes
A Negative Count                   Burst          Column "CHUNKS" must be a whole number from 0 to 100000, got '-3'.         1    1    -3    0    echo    every prompt    2000    completes
Zero Prompts                       Burst          Column "PROMPTS" must be a whole number from 1 to 1000, got '0'.           1    0    3    0    echo    every prompt    2000    completes
A Burst Too Large To Run           Burst          Column "BURST" must be a whole number from 1 to 1000, got '5000'.          5000    1    3    0    echo    every prompt    2000    completes
A Fraction Of A Session            Burst          Column "BURST" must be a whole number from 1 to 1000, got '2.5'.           2.5    1    3    0    echo    every prompt    2000    completes
A Word For The Delay               Burst          Column "DELAY MS" must be a whole number from 0 to 86400000, got 'slow'.   1    1    3    slow    echo    every prompt    2000    completes
An Unknown Mode                    Burst          Column "MODE" must be one of echo, reject, *; got 'shout'.                 1    1    3    0    shout    every prompt    2000    completes
An Unknown Prompt Choice           Burst          Column "MODE ON" must be one of every prompt, first prompt, prompt <N>, every <N>th prompt; got 'some prompts'.    1    1    3    0    reject    some prompts    2000    completes
A Bound That Is Not A Number       Burst          Column "P99 BOUND MS" must be a number above 0, or "-" where it does not apply, got 'fast'.    1    1    3    0    echo    every prompt    fast    completes
An Unknown Outcome                 Burst          EQUALS:Column "EXPECTED" must be one of completes, ends with an error [code], session dies, never ends; got 'explodes'.    1    1    3    0    echo    every prompt    2000    explodes
A Failure The Mode Cannot Cause    Burst          Column "EXPECTED" says "session dies", but column "MODE" is "echo"*    1    1    3    0    echo    every prompt    2000    session dies
A Missing Cell                     Burst          The row has 7 cells, but the bursts table has 8 columns (BURST, PROMPTS, *): separate the cells with at least two spaces*    1    1    3    0    echo    every prompt    completes
A Sessions Workload With Chunks    Sustained Load    Column "CHUNKS" must be "-" when WORKLOAD is "sessions"*, got "3".    sessions    5    5    -    3    -    -    2000    0    5    0
A Rate Of Zero                     Sustained Load    Column "RATE" must be a number above 0 and at most 5000 per second, got '0'.    prompts    0    5    5    3    0    0    2000    0    5    0
An Unknown Workload                Sustained Load    Column "WORKLOAD" must be one of prompts, sessions; got 'chats'.    chats    5    5    5    3    0    0    2000    0    5    0
More Permissions Than Tools        Sustained Load    Column "PERMISSIONS" (2) cannot be more than column "TOOL CALLS" (1): each permission is asked by one tool call.    prompts    5    5    5    3    1    2    2000    0    5    0
An Unknown Flag                    Limit          Column "FLAG" must be one of --max-sessions, *; got '--max-fun'.           --max-fun    3    5 sessions at once    completes
A Flag Value Out Of Range          Limit          Column "VALUE" must be a whole number from 1 to 2^31-1 ms for --prompt-deadline-ms, got "0".    --prompt-deadline-ms    0    a hanging prompt    ends with an error
An Unknown Load                    Limit          Column "LOAD" must be one of <N> sessions at once, <N> prompts at once, a hanging prompt, an idle stream; got 'a storm'.    --max-sessions    3    a storm    completes
An Outcome The Load Cannot Have    Limit          EQUALS:Column "EXPECTED" says "stream evicted", which cannot happen to "5 sessions at once": use one of completes, refused <status> [code].    --max-sessions    3    5 sessions at once    stream evicted
A Refusal Without A Status         Limit          STARTS:Column "EXPECTED" must be one of completes, refused <status> [code], ends with an error [code], never ends, stream evicted [reason], is cancelled; got 'refused session_limit_exceeded'.    --max-sessions    3    5 sessions at once    refused session_limit_exceeded
Nobody Answers Without A Timeout   Permission     Column "TIMEOUT MS" must be 1 or more when ANSWER is "nobody": 0 makes the daemon wait for ever.    1    1    1    nobody    0    is cancelled
An Unknown Answer                  Permission     Column "ANSWER" must be one of allow, reject, nobody; got 'maybe'.      1    1    1    maybe    0    completes
More Permissions Than Tool Calls   Permission     Column "PERMISSIONS" (3) cannot be more than column "TOOL CALLS" (2): each permission is asked by one tool call.    1    2    3    allow    0    completes


*** Keywords ***
Row Should Fail Before Anything Starts
    [Documentation]    Run a bad row of a table (``Run <table> Row``) and check its failure message (a glob
    ...    pattern: ``*`` matches anything; ``EQUALS:`` and ``STARTS:`` compare the text as it is), then that no
    ...    daemon was started for it.
    [Arguments]    ${table}    ${expected}    @{cells}
    Run Keyword And Expect Error    ${expected}    Run ${table} Row    @{cells}
    Run Keyword And Expect Error    *No running daemon is current*    Get Daemon Status
