*** Settings ***
Documentation    Isolation of sessions from another session's unanswered permission request (upstream #11795,
...              P1: "one unanswered permission blocks every session on the agent connection").
...
...              Sessions B.. run prompts at a fixed rate (open model: each arrival at its scheduled time), each
...              prompt asking one permission that a background answerer allows at once. The load runs in phases
...              alone and while session A's request stays unanswered, A B B A per block after one unrecorded
...              warm-up, and the median service time of each phase is compared pairwise (the paired ratio of
...              ``keywords/measure/paired_ratio.py``, Student-t interval). All in one run, one daemon, one agent.
...
...              Verdicts: ``isolated`` (passes), ``blocked`` (the pending phases left turns unfinished that the
...              alone phases finished) and ``slower`` (the ratio's whole interval lies above 1 + tolerance). The
...              last two are the daemon failing #11795's promise: the test records its figures, then is marked
...              SKIP with a ``FINDING:`` line naming #11795 (a known daemon finding, not a harness error; a
...              harness error still fails the test). ``not measured`` fails.

Resource         ../../resources/permissions.resource

Test Teardown    Stop All Daemons


*** Variables ***
${OTHER_SESSIONS}    4
${RATE}              10
${PHASE}             1.2 s
${BLOCKS}            2
${TOLERANCE}         0.5


*** Test Cases ***
Other Sessions Keep Their Pace While One Request Stays Unanswered
    [Documentation]    ${OTHER_SESSIONS} sessions at ${RATE} prompts/s in ${BLOCKS} A B B A blocks of ${PHASE}
    ...    phases; session A's request must really be pending in every pending phase, and every turn of the
    ...    other sessions must complete.
    Begin Scenario    isolation-11795    otherSessions=${OTHER_SESSIONS}    rate=${RATE}    blocks=${BLOCKS}
    ...    tolerance=${TOLERANCE}
    Start Daemon With Mock Agent    max_sessions=0
    ${iso}    Run Permission Isolation    ${OTHER_SESSIONS}    ${RATE}    phase=${PHASE}    blocks=${BLOCKS}
    ...    tolerance=${TOLERANCE}
    Record Result    ${iso}
    ${figures}    Evaluate    $iso.figures()
    Should Be True    ${figures}[pendingHeld]    session A's request was not pending through every pending phase
    IF    $iso.verdict in ('blocked', 'slower')
        Skip As Known Daemon Finding    \#11795
        ...    while one request stayed unanswered the other sessions were ${iso.verdict}: ${iso.line()}
    END
    Should Be Equal    ${iso.verdict}    isolated    the comparison measured nothing: ${iso.line()}
    Should Be Equal As Integers    ${figures}[completed]    ${figures}[sent]
    ...    ${figures}[unfinished] turns unfinished, ${figures}[errors] errors
