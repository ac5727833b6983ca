*** Settings ***
Documentation    A bad row fails only itself, and its message names the column and the value. Each row
...              here is a deliberately bad scenario row and (a pattern of) the message it must fail with;
...              nothing is started for a bad row, because the columns are checked first.

Resource         ../../resources/scenarios.resource

Test Teardown    Stop All Daemons
Test Template    Row Should Fail With


*** Test Cases ***             MESSAGE                              BURST  PROMPTS  CHUNKS  DELAY MS  MODE   P99 BOUND  # robocop: fmt: off
A Word Where A Number Belongs  Column "burst"*whole*"ten".          ten    1        3       0         echo   2000
A Negative Count               Column "chunks per prompt"*"-3".     1      1        -3      0         echo   2000
Zero Prompts                   Column "prompts per session"*"0".    1      0        3       0         echo   2000
A Burst Too Large To Run       Column "burst"*1000 or less*"5000".  5000   1        3       0         echo   2000
A Fraction Of A Session        Column "burst"*whole*"2.5".          2.5    1        3       0         echo   2000
A Word For The Delay           Column "mock delay ms"*"slow".       1      1        3       slow      echo   2000
An Unknown Mode                Column "mode" has "shout"*           1      1        3       0         shout  2000
A Bound That Is Not A Number   Column "p99 bound ms"*"fast".        1      1        3       0         echo   fast


*** Keywords ***
Row Should Fail With
    [Documentation]    Run a scenario row that must fail, and check its failure message (``*`` matches anything).
    [Arguments]    ${expected}    @{columns}
    Run Keyword And Expect Error    ${expected}    Run Scenario Row    @{columns}
