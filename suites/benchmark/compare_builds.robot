*** Settings ***
Documentation     "Did my branch get slower?": the same measurements against two daemon builds in one
...               invocation, interleaved A B B A so machine drift cancels, each metric reported as a ratio
...               B/A with its spread.
...
...               Select it with ``--include compare``. Build A is the library's build (the pinned release
...               unless ``DAEMON_ENTRY`` says otherwise); build B is ``COMPARE_B_ENTRY``. Left empty, B is the
...               pinned release again, given by its cached path as a local build: that proves the mechanism,
...               and every ratio should be close to 1.

Resource          ../../resources/benchmark.resource

Suite Setup       Benchmark Suite Setup
Suite Teardown    Stop Benchmark Provider
Test Teardown     Stop All Daemons

Test Tags         compare


*** Variables ***
# Read by Begin Scenario: the snapshot this suite records into (build-comparison.json).
${SNAPSHOT_KIND}             build-comparison    # robocop: off=VAR02
${COMPARE_A_ENTRY}           ${EMPTY}
${COMPARE_B_ENTRY}           ${EMPTY}
${COMPARE_ROUNDS}            1
${COMPARE_CREATES}           5
${COMPARE_PROMPTS}           3
# Same build on both sides: a ratio outside 1/x .. x means the mechanism (not the daemon) is broken.
${SAME_BUILD_RATIO_BOUND}    3


*** Test Cases ***
Compare Two Daemon Builds Interleaved A B B A
    [Documentation]    Each run: boot to the first session (not preheated), warm creations, prompt latency and
    ...    tree RSS at the end; the ratio B/A is the geometric mean of adjacent-run ratios. Every metric must
    ...    rest on every adjacent pair; with the same build on both sides, the tree RSS ratio must be near 1.
    Begin Scenario    A/B build comparison    rounds=${COMPARE_ROUNDS}    creates=${COMPARE_CREATES}
    ...    prompts=${COMPARE_PROMPTS}
    ${b_entry}    Build B Entry
    ${cmp}    Compare Daemon Builds    ${PROVIDER.base_url}    a_entry=${COMPARE_A_ENTRY}    b_entry=${b_entry}
    ...    rounds=${COMPARE_ROUNDS}    creates=${COMPARE_CREATES}    prompts=${COMPARE_PROMPTS}
    ...    boot_timeout=${BOOT_TIMEOUT_S}
    Log    ${cmp.markdown()}
    Record Result    ${cmp}
    Every Build Metric Should Rest On Every Pair    ${cmp}
    IF    ${cmp.same_build}
        Build Ratio Should Be Near One    ${cmp}    treeRssMB    bound=${SAME_BUILD_RATIO_BOUND}
    END


*** Keywords ***
Build B Entry
    [Documentation]    ``COMPARE_B_ENTRY``, or the pinned release's cached ``cli-entry.js`` given as a local path.
    IF    $COMPARE_B_ENTRY    RETURN    ${COMPARE_B_ENTRY}
    ${entry}    Pinned Release Entry
    RETURN    ${entry}
