*** Settings ***
Documentation    The history check as a keyword: atest/test_history_runs.py runs this against a history whose
...              latest run was made against a slower daemon build (the check must fail, naming the figure),
...              with ``--variable HISTORY_DB:NONE`` so that this run is not recorded itself.

Library          keywords.QwenServe


*** Variables ***
${DB}    ${EMPTY}


*** Test Cases ***
The Check Fails On The Slower Build's Run
    ${message}    Run Keyword And Expect Error    The latest run #11 is a change point for the worse*
    ...    History Should Show No Regression    ${DB}
    Should Contain    ${message}    smoke · prompt-round-trip · turnP50
    Should Contain    ${message}    after run #10 (0.24.4 — release 0.24.4 (npm, pinned))
