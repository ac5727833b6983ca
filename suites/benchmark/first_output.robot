*** Settings ***
Documentation     Upstream's first-output benchmark: how long a fresh daemon process takes from its spawn to its
...               first model output, stage by stage, for a control and a candidate build run in AB/BA pairs.
...
...               Each run is one fresh daemon with its real agent child against the suite's fake provider
...               (a fixed ${PROVIDER_DELAY_MS} ms before its first token): spawn, listening line, session, event
...               stream, a dwell of 0, 100 or 500 ms, prompt, 202, user echo, provider request, provider
...               answer, first model output, first answer text, ``turn_complete``; 14 stage timings per run.
...               Per stage candidate - control is a paired difference with its interval against upstream's
...               10 ms threshold, and upstream's AB-versus-BA order check is reported with it. A stage is
...               called regressed (or improved) only when the exact sign test agrees: more pairs beyond the
...               threshold than chance allows, which takes at least 10 pairs; with fewer, every stage is
...               measured and shown with its interval, without a verdict.
...
...               Select it with ``--include first-output``; it is not part of the pre-merge run. Without
...               ``FIRST_OUTPUT_CANDIDATE`` the candidate is the library's build (``DAEMON_ENTRY``, else the
...               pinned release), and with the pinned release on both sides every row is a control-vs-control
...               check of the benchmark: a row fails when it calls a stage regressed, or when a run did not
...               measure a stage it must measure. Upstream's sample sizes:
...               ``--variable PAIRS_AT_0_MS:30 --variable PAIRS_AT_100_MS:30 --variable PAIRS_AT_500_MS:10``.

Resource          ../../resources/qwen_serve.resource

Suite Setup       Start First Output Provider
Suite Teardown    Stop Everything
Test Teardown     Stop All Daemons
Test Template     First Output Benchmark At Dwell

Test Tags         benchmark    first-output


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into.
${SNAPSHOT_KIND}             daemon-vs-cli-benchmark    # robocop: off=VAR02
${FIRST_OUTPUT_CONTROL}      ${EMPTY}
${FIRST_OUTPUT_CANDIDATE}    ${EMPTY}
# Recorded pairs per dwell: 10, the fewest that can give a verdict (a row takes about 80 s on a 2-core machine).
${PAIRS_AT_0_MS}             10
${PAIRS_AT_100_MS}           10
${PAIRS_AT_500_MS}           10
${WARMUP_PAIRS}              1
${PROVIDER_DELAY_MS}         50
${EXPECTED_ANSWER}           benchmark response complete
${RUN_TIMEOUT}               60 s


*** Test Cases ***                         DWELL MS    PAIRS    # robocop: fmt: off
Prompt As Soon As The Stream Is Open       0           ${PAIRS_AT_0_MS}
Prompt 100 ms After The Stream Opened      100         ${PAIRS_AT_100_MS}
Prompt 500 ms After The Stream Opened      500         ${PAIRS_AT_500_MS}


*** Keywords ***
First Output Benchmark At Dwell
    [Documentation]    Run the benchmark for one dwell, record every run's stages and the per-stage verdicts,
    ...    then fail on a regressed stage or a stage a run did not measure.
    [Arguments]    ${dwell_ms}    ${pairs}
    Begin Scenario    first-output-dwell-${dwell_ms}    dwellMs=${dwell_ms}    pairs=${pairs}
    ...    warmupPairs=${WARMUP_PAIRS}    providerDelayMs=${PROVIDER_DELAY_MS}
    ${result}    Run First Output Benchmark    ${PROVIDER}    ${dwell_ms}    pairs=${pairs}    warmup=${WARMUP_PAIRS}
    ...    control=${FIRST_OUTPUT_CONTROL}    candidate=${FIRST_OUTPUT_CANDIDATE}    timeout=${RUN_TIMEOUT}
    Record Result    ${result}
    First Output Benchmark Should Pass    ${result}

Start First Output Provider
    [Documentation]    The fake provider every run talks to: one fixed answer after a fixed time to first token.
    ${provider}    Start Fake Provider    reply=${EXPECTED_ANSWER}    first_token_ms=${PROVIDER_DELAY_MS}
    VAR    ${PROVIDER}    ${provider}    scope=SUITE    # robocop: off=VAR05
