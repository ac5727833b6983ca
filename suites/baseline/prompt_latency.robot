*** Settings ***
Documentation    B7 (real agent child): prompt latency over ${PROMPT_ITERATIONS} prompts, always measured.
...
...              Upstream skipped this without model credentials. Here the real child talks to the fake
...              provider (reply streamed in ${PROVIDER_CHUNKS} chunks, no artificial delay), so the figures are
...              the daemon's and the agent child's own costs. Per prompt, from the POST: time until the
...              provider received the chat-completion request, time to the first ``agent_message_chunk``,
...              and time to the end of the turn; p50 / p90 / p99 (HdrHistogram). Upstream's bound:
...              p99 of the whole turn under ${PROMPT_P99_MAX_MS} ms.

Resource         ../../resources/baseline.resource

Test Teardown    Stop Baseline Fixtures


*** Variables ***
${PROMPT_ITERATIONS}    20
${PROMPT_P99_MAX_MS}    60000
${TURN_TIMEOUT_S}       60


*** Test Cases ***
Prompt Latency With The Real Agent Child
    [Documentation]    ``PROMPT_ITERATIONS`` prompts one after another on one session: every turn completes and
    ...    streams a chunk, and the p99 of the whole turn stays under ``PROMPT_P99_MAX_MS``.
    Begin Scenario    prompt-latency    iterations=${PROMPT_ITERATIONS}    providerChunks=${PROVIDER_CHUNKS}
    ${provider}    Start Real Agent Daemon
    ${sid}    Open Session    scope=single
    ${lat}    Measure Prompt Latency    ${sid}    ${PROMPT_ITERATIONS}    provider=${provider}
    ...    timeout=${TURN_TIMEOUT_S}
    Record Result    ${lat}
    Should Be Empty    ${lat.failed}    Expected every turn to complete, but these did not: ${lat.failed}
    Should Be Equal As Integers    ${lat.first_chunk.count}    ${PROMPT_ITERATIONS}
    ...    Every turn must stream at least one agent_message_chunk.
    Figure Should Be At Most    turn p99    ${lat.latency.p99}    ${PROMPT_P99_MAX_MS}
    Plot Prompt Latencies    ${lat}
