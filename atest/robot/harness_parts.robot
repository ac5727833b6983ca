*** Settings ***
Documentation    Parts of the harness that need no daemon: the fake model provider records each request it
...              answers, and a baseline comparison finds a regression that is there and none where there is none.

Resource         ../../resources/qwen_serve.resource

Test Teardown    Stop Everything


*** Variables ***
${V1_SNAPSHOT}    ${CURDIR}/../../utest/data/v1/loadtest-report.json


*** Test Cases ***
The Fake Provider Records What It Was Asked
    [Documentation]    One chat-completion request reaches the provider; `Get Provider Requests` returns it with
    ...    the model and the user's text, and a request to another path is not counted as a chat completion.
    ${provider}    Start Fake Provider    reply=pong
    VAR    &{message}    role=user    content=ping from the test
    VAR    @{messages}    ${message}
    VAR    &{body}    model=fake-model    stream=${False}    messages=${messages}
    ${reply}    POST    ${provider.base_url}/chat/completions    json=${body}    expected_status=200
    Should Contain    ${reply.text}    pong
    GET    ${provider.base_url}/models    expected_status=any
    ${requests}    Get Provider Requests    ${provider}
    Length Should Be    ${requests}    1
    Should Be Equal    ${requests[0].last_user_text}    ping from the test
    Should Be Equal    ${requests[0].model}    fake-model
    Should Not Be True    ${requests[0].stream}

A Baseline Comparison Finds A Slower Run And Passes An Equal One
    [Documentation]    The same snapshot compared with itself has no regression; a copy whose lifecycle
    ...    latencies are three times slower has regressions, and `Comparison Should Have No Regressions`
    ...    fails naming them.
    ${same}    Compare With Baseline    ${V1_SNAPSHOT}    ${V1_SNAPSHOT}
    Comparison Should Have No Regressions    ${same}
    ${slower}    Write Slower Copy Of Snapshot    ${V1_SNAPSHOT}    rapid-lifecycle    factor=3
    ${cmp}    Compare With Baseline    ${V1_SNAPSHOT}    ${slower}
    Should Not Be Empty    ${cmp.regressions}
    Run Keyword And Expect Error    *rapid-lifecycle*    Comparison Should Have No Regressions    ${cmp}


*** Keywords ***
Write Slower Copy Of Snapshot
    [Documentation]    A copy of a snapshot (same file name, so the same kind) in the output folder whose
    ...    latency percentiles of one scenario are multiplied by ``factor``; returns its path.
    [Arguments]    ${snapshot}    ${scenario}    ${factor}
    ${doc}    Evaluate    json.loads(pathlib.Path($snapshot).read_text())    modules=json,pathlib
    FOR    ${item}    IN    @{doc}[scenarios]
        IF    $item['name'] == $scenario
            FOR    ${key}    IN    p50    p90    p99    max
                Set To Dictionary    ${item}[metrics]    ${key}=${{$item['metrics'][$key] * float($factor)}}
            END
        END
    END
    ${folder}    Evaluate    pathlib.Path($OUTPUT_DIR) / 'slower-snapshot'    modules=pathlib
    Evaluate    $folder.mkdir(exist_ok=True)
    ${path}    Evaluate    str($folder / pathlib.Path($snapshot).name)    modules=pathlib
    Evaluate    pathlib.Path($path).write_text(json.dumps($doc))    modules=json,pathlib
    RETURN    ${path}
