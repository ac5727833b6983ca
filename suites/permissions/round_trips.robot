*** Settings ***
Documentation    Round trips under load and the first responder: every request resolved exactly once, nothing
...              lost, the streams and the mock agent's report agreeing on every count.

Resource         ../../resources/permissions.resource

Test Teardown    Stop All Daemons


*** Variables ***
${SESSIONS}             8
${PERMISSIONS}          3
${ROUND_TRIP_P99_MS}    5000
${ROUNDS}               20
${CLIENTS}              3


*** Test Cases ***
Round Trip Under Load
    [Documentation]    ${SESSIONS} sessions prompted at once, each turn asking ${PERMISSIONS} permissions that its
    ...    client answers as soon as it reads the request: every request reaches the stream, is accepted and
    ...    resolved exactly once (no ``permission_already_resolved``), reaches the agent exactly once, and every
    ...    turn ends ``turn_complete`` ``end_turn``. Records request -> resolved (harness clock) and request ->
    ...    agent received (the agent's clock) p50/p99; the p99 bound is only a sanity net.
    Begin Scenario    round-trip-under-load    sessions=${SESSIONS}    permissions=${PERMISSIONS}
    Start Daemon With Mock Agent    max_sessions=0
    ${trips}    Run Permission Round Trips    ${SESSIONS}    ${PERMISSIONS}
    Record Result    ${trips}
    Permission Scenario Should Hold    ${trips}
    Figure Should Be At Most    request to resolved p99    ${trips.request_to_resolved.p99}    ${ROUND_TRIP_P99_MS}
    Figure Should Be At Most    request to agent received p99    ${trips.request_to_agent.p99}
    ...    ${ROUND_TRIP_P99_MS}

First Responder Among Clients Answering At Once
    [Documentation]    ${CLIENTS} clients attached to one session answer each of ${ROUNDS} requests at the same
    ...    instant (one barrier): exactly one answer is accepted and ``permission_resolved`` names its client as
    ...    the voter, the others get the daemon's documented refusal (404 and one
    ...    ``permission_already_resolved`` each), and the agent receives exactly one outcome per request.
    ...    Records the winner distribution and the spread of the answers' send times.
    Begin Scenario    first-responder    rounds=${ROUNDS}    clients=${CLIENTS}
    Start Daemon With Mock Agent
    ${races}    Run First Responder Races    ${ROUNDS}    ${CLIENTS}
    Record Result    ${races}
    Should Be Equal    ${races.policy}    first-responder
    Permission Scenario Should Hold    ${races}
    ${won}    Evaluate    sum($races.wins().values())
    Should Be Equal As Integers    ${won}    ${ROUNDS}    every round has one winner
