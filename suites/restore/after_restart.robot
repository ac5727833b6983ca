*** Settings ***
Documentation    Sessions that completed turns come back from a restarted daemon: the replay holds every
...              completed turn once, in order, with the texts the streams showed, and the daemon's ledger names
...              each turn's prompt id as completed.

Resource         restore.resource

Test Teardown    Stop All Daemons

Test Tags        loadtest


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (restore.json).
${SNAPSHOT_KIND}    restore    # robocop: off=VAR02
${SESSIONS}         3
${TURNS}            4
${CHUNKS}           5


*** Test Cases ***
Streamed Replay After A Restart Holds Every Completed Turn
    [Documentation]    The mock replays a session as session updates before answering ``session/load``.
    [Template]    Sessions Come Back After A Restart
    stream

Bulk Replay After A Restart Holds Every Completed Turn
    [Documentation]    The mock replays a session in its answer (the daemon asks for bulk replay on ``/load``).
    [Template]    Sessions Come Back After A Restart
    bulk

A Resumed Session Takes New Prompts After A Restart
    [Documentation]    ``/resume`` restores a session without its history (no replay, no ledger in the answer);
    ...    a prompt on it then completes, and a later ``/load`` attaches to the now live session.
    Begin Scenario    resume-after-restart    turns=${TURNS}
    Start Daemon With Mock Agent    max_sessions=0
    ${seen}    Run Remembered Turns    1    ${TURNS}    chunks=${CHUNKS}
    Restart Daemon
    ${resume}    Resume Session    ${seen.session_ids}[0]
    Record Result    ${resume}
    Should Be Equal As Integers    ${resume.status}    200    the resume failed: ${resume.line()}
    Should Be Empty    ${resume.replay}    a resume replays nothing
    ${turn}    Prompt And Wait    ${seen.session_ids}[0]    after the resume
    Turn Should Complete    ${turn}
    ${load}    Load Session    ${seen.session_ids}[0]
    Should Be True    ${load.attached}    the load after the resume should attach to the live session


*** Keywords ***
Sessions Come Back After A Restart    # robocop: off=too-many-calls-in-keyword
    [Documentation]    ${SESSIONS} sessions run ${TURNS} turns each; the daemon is stopped and started again on the
    ...    same HOME; each session is loaded and compared turn by turn with what its stream showed (prompt ids
    ...    against the ledger, user and agent texts against the replay); the transcript route is read too
    ...    (the mock keeps no transcript the daemon can page: its status is recorded); a prompt on a restored
    ...    session completes.
    [Arguments]    ${replay}
    Begin Scenario    restore-after-restart-${replay}    sessions=${SESSIONS}    turns=${TURNS}    chunks=${CHUNKS}
    ...    replay=${replay}
    Start Daemon With Mock Agent    load_replay=${replay}    max_sessions=0
    ${seen}    Run Remembered Turns    ${SESSIONS}    ${TURNS}    chunks=${CHUNKS}
    Record Result    ${seen}    as=before
    ${restart}    Restart Daemon
    Record Result    ${restart}
    ${check}    Restore And Compare    ${seen}
    Record Result    ${check}    as=after
    Restored Turns Should Match    ${check}
    ${transcript}    Read Transcript    ${seen.session_ids}[0]
    Record Result    ${transcript}    as=transcript
    ${turn}    Prompt And Wait    ${seen.session_ids}[0]    after the restart
    Turn Should Complete    ${turn}
