*** Settings ***
Documentation    Sessions that completed turns come back from a restarted daemon: the replay holds every
...              completed turn once, in order, with the texts the streams showed, and the daemon's ledger names
...              each turn's prompt id as completed; each session's transcript (every page) holds the same turns,
...              in order, with the same texts and prompt ids.

Resource         restore.resource

Test Teardown    Stop All Daemons

Test Tags        loadtest


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (restore.json).
${SNAPSHOT_KIND}      restore    # robocop: off=VAR02
${SESSIONS}           3
${TURNS}              4
${CHUNKS}             5
# Records a transcript page: small, so a session's transcript (2 records a turn) takes several pages.
${TRANSCRIPT_PAGE}    3
${REAL_TURNS}         2


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

The Real Agent's Load And Transcript Hold Every Completed Turn After A Restart
    [Documentation]    The real ``qwen --acp`` child against the fake model provider runs ${REAL_TURNS} turns; after
    ...    a restart the session's load and its transcript (the real agent's own chat record, every page) hold
    ...    every turn with the texts and prompt ids the stream showed: the behaviour the mock's chat record copies.
    ...    Tagged ``real-agent`` instead of ``restore``: its two spawns of the real child take about 10 s, so
    ...    ``--include restore`` keeps its 60 s budget; CI runs it with the other serial suites.
    [Tags]    -restore    real-agent
    Begin Scenario    restore-after-restart-real-agent    sessions=1    turns=${REAL_TURNS}
    ${provider}    Start Fake Provider    reply=ok    chunks=2
    Start Daemon With Real Agent    ${provider.base_url}    max_sessions=0
    ${seen}    Run Remembered Turns    1    ${REAL_TURNS}    timeout=60 s
    Record Result    ${seen}    as=before
    ${restart}    Restart Daemon
    Record Result    ${restart}
    ${check}    Restore And Compare    ${seen}
    Record Result    ${check}    as=after
    Restored Turns Should Match    ${check}
    ${transcripts}    Read Every Transcript    ${seen}
    ${read}    Compare Transcripts    ${seen}    ${transcripts}
    Record Result    ${read}    as=transcript
    Restored Turns Should Match    ${read}
    [Teardown]    Stop Daemons And Providers


*** Keywords ***
Sessions Come Back After A Restart    # robocop: off=too-many-calls-in-keyword
    [Documentation]    ${SESSIONS} sessions run ${TURNS} turns each; the daemon is stopped and started again on the
    ...    same HOME; each session is loaded and compared turn by turn with what its stream showed (prompt ids
    ...    against the ledger, user and agent texts against the replay); each session's transcript is read,
    ...    page by page, and compared the same way (prompt ids against the user messages' ids); a prompt on a
    ...    restored session completes.
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
    ${transcripts}    Read Every Transcript    ${seen}
    ${read}    Compare Transcripts    ${seen}    ${transcripts}
    Record Result    ${read}    as=transcript
    Restored Turns Should Match    ${read}
    ${turn}    Prompt And Wait    ${seen.session_ids}[0]    after the restart
    Turn Should Complete    ${turn}

Read Every Transcript
    [Documentation]    The transcript of each session of ``${seen}``, every page (``${TRANSCRIPT_PAGE}`` records a
    ...    page), in the order of the sessions.
    [Arguments]    ${seen}
    VAR    @{transcripts}    @{EMPTY}
    FOR    ${session_id}    IN    @{seen.session_ids}
        ${transcript}    Read Transcript    ${session_id}    limit=${TRANSCRIPT_PAGE}
        VAR    @{transcripts}    @{transcripts}    ${transcript}
    END
    RETURN    ${transcripts}

Stop Daemons And Providers
    [Documentation]    Teardown of a test with the real agent: every daemon, then every fake provider.
    Stop All Daemons
    Stop All Fake Providers
