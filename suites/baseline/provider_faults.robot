*** Settings ***
Documentation    B8 (real agent child): the model provider fails; the turn must end and the session and the
...              daemon must stay usable.
...
...              The fake provider answers the child's chat-completion requests with HTTP 500, with HTTP 429
...              (``Retry-After: 1``), or stalls after the first stream frame. The child retries (it ignores
...              ``maxRetries`` for 5xx and backs off for a long time), so the daemon runs with
...              ``--prompt-deadline-ms`` ${DEADLINE_MS} and the child with a short stream-idle timeout: each
...              faulty turn must end with ``turn_error`` (the child's own error, or the daemon's
...              ``prompt_deadline_exceeded``), then, with the provider healthy again, the same session must
...              complete a prompt and the daemon must answer ``/health``. One daemon serves all three faults.

Resource         ../../resources/baseline.resource

Test Teardown    Stop Baseline Fixtures


*** Variables ***
${DEADLINE_MS}       8000
${STREAM_IDLE_MS}    2000
${TURN_TIMEOUT_S}    30
@{FAULTS}            http500    http429    stall


*** Test Cases ***
Provider Faults End The Turn And Leave The Session And Daemon Usable
    Begin Baseline Scenario    provider-faults
    VAR    &{generation}    maxRetries=${1}    retryInitialDelayMs=${100}    retryMaxDelayMs=${500}
    ...    streamIdleTimeoutMs=${{int($STREAM_IDLE_MS)}}
    ${provider}    Start Real Agent Daemon
    ...    prompt_deadline_ms=${{int($DEADLINE_MS)}}
    ...    generation_config=${generation}
    ${sid}    Open Session
    ${warm}    Prompt And Wait    ${sid}    reply with ok    timeout=${TURN_TIMEOUT_S}
    Turn Should Complete    ${warm}
    VAR    &{results}    &{EMPTY}
    VAR    @{lines}    @{EMPTY}
    FOR    ${fault}    IN    @{FAULTS}
        Set Provider Behaviour    ${provider}    fault=${fault}
        ${before}    Evaluate    $provider.request_count
        ${turn}    Prompt And Wait    ${sid}    fault ${fault}    timeout=${TURN_TIMEOUT_S}
        ${requests}    Evaluate    $provider.request_count - $before
        Set Provider Behaviour    ${provider}    fault=none
        ${after}    Prompt And Wait    ${sid}    after ${fault}    timeout=${TURN_TIMEOUT_S}
        Daemon Should Be Healthy
        VAR    &{record}    outcome=${turn.outcome}    code=${turn.error_code}
        ...    turnMs=${{round($turn.turn_ms or 0)}}    providerRequests=${requests}    next=${after.outcome}
        Set To Dictionary    ${results}    ${fault}=${record}
        VAR    ${seconds}    ${{round(($turn.turn_ms or 0) / 1000, 1)}}
        VAR    ${entry}
        ...    ${fault}: ${turn.outcome} ${turn.error_code} in ${seconds} s after ${requests} request(s),
        ...    next ${after.outcome}
        ...    separator=${SPACE}
        Append To List    ${lines}    ${entry}
    END
    Tree Should Only Use Loopback
    Record Baseline Figures    provider-faults    ${{' · '.join($lines)}}    faults=${results}
    ...    deadlineMs=${{int($DEADLINE_MS)}}
    FOR    ${fault}    IN    @{FAULTS}
        Should Be Equal    ${results}[${fault}][outcome]    error
        ...    The ${fault} turn ended ${results}[${fault}][outcome], expected turn_error.
        Should Be Equal    ${results}[${fault}][next]    completed
        ...    The prompt after the ${fault} turn did not complete: ${results}[${fault}][next].
    END
