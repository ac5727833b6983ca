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
${DEADLINE_MS}       ${8000}
${STREAM_IDLE_MS}    ${2000}
${TURN_TIMEOUT_S}    30
@{FAULTS}            http500    http429    stall


*** Test Cases ***
Provider Faults End The Turn And Leave The Session And Daemon Usable
    [Documentation]    One warm prompt, then each fault of ``FAULTS`` in turn on the same session (see the
    ...    suite's documentation); the agent's tree talks to nothing but 127.0.0.1 throughout.
    Begin Scenario    provider-faults    deadlineMs=${DEADLINE_MS}    streamIdleMs=${STREAM_IDLE_MS}
    ${provider}    Start Daemon For Provider Faults
    ${sid}    Open Session
    ${warm}    Prompt And Wait    ${sid}    reply with ok    timeout=${TURN_TIMEOUT_S}
    Turn Should Complete    ${warm}
    ${faults}    Run Provider Faults    ${provider}    ${sid}    @{FAULTS}    timeout=${TURN_TIMEOUT_S}
    Record Result    ${faults}
    Tree Should Only Use Loopback
    Every Provider Fault Should End Its Turn And Leave The Session Usable    ${faults}


*** Keywords ***
Start Daemon For Provider Faults
    [Documentation]    The daemon with ``--prompt-deadline-ms`` ``DEADLINE_MS`` and its real agent child with
    ...    one retry, short back-offs and a ``STREAM_IDLE_MS`` stream-idle timeout. Returns the provider.
    VAR    &{generation}    maxRetries=${1}    retryInitialDelayMs=${100}    retryMaxDelayMs=${500}
    ...    streamIdleTimeoutMs=${STREAM_IDLE_MS}
    ${provider}    Start Real Agent Daemon    prompt_deadline_ms=${DEADLINE_MS}    generation_config=${generation}
    RETURN    ${provider}
