*** Settings ***
Documentation    The performance gate: did this change make the daemon slower, bigger or leakier?
...
...              The candidate build (``DAEMON_ENTRY``) and a reference build (``REFERENCE_ENTRY``; empty: the
...              pinned release) run interleaved, A B B A per block after one unrecorded warm-up run of each,
...              one fresh daemon per run, with the mock agent so that what is measured is the daemon's own
...              cost. For every gated metric the candidate/reference ratio (or, for memory retained per
...              session and the delivery tail, the difference) is estimated from the adjacent run pairs with
...              its confidence interval, and the gate fails when the candidate is worse than the metric's
...              tolerance with that confidence. Tolerances: ``resources/perf-gate.json`` (or
...              ``GATE_TOLERANCES``). When the candidate is the reference, this test is the gate's
...              false-alarm check and must pass.

Resource         ../../resources/qwen_serve.resource

Test Teardown    Stop All Daemons

Test Tags        gate


*** Variables ***
${REFERENCE_ENTRY}     ${EMPTY}
${GATE_TOLERANCES}     ${EMPTY}
${GATE_BLOCKS}         3
${GATE_WARMUP}         1
${GATE_CREATES}        20
${GATE_PROMPTS}        30
${GATE_SUBSCRIBERS}    8
${GATE_CHURN}          120


*** Test Cases ***
The Candidate Build Is Not Slower, Bigger Or Leakier Than The Reference
    [Documentation]    Boot, first session, warm session creation, prompt accepted, first event and turn
    ...    end, replay fan-out and live delivery to several subscribers, idle RSS, memory retained per
    ...    session, and the daemon's event-loop figures: none may be worse than its tolerance with
    ...    confidence. The log holds the table of every metric with its ratio, interval, tolerance and the
    ...    smallest change the run could detect.
    ${gate}    Run Performance Gate    reference=${REFERENCE_ENTRY}    candidate=${DAEMON_ENTRY}
    ...    tolerances=${GATE_TOLERANCES}    blocks=${GATE_BLOCKS}    warmup=${GATE_WARMUP}
    ...    creates=${GATE_CREATES}    prompts=${GATE_PROMPTS}    subscribers=${GATE_SUBSCRIBERS}
    ...    churn=${GATE_CHURN}
    Report Figures    ${gate.line()}
    Performance Gate Should Pass    ${gate}
