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
${REALISTIC_TURNS}      3


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

A Request Answered Step By Step
    [Documentation]    The building blocks on one request: the watch hands out the request with the tool call the
    ...    agent asked about, the prompt's client rejects it (200), the stream shows it resolved with that
    ...    client as the voter, the agent receives the reject and fails only that tool call (the turn goes
    ...    on to ``end_turn``), and two late answers at one instant both get 404 and one
    ...    ``permission_already_resolved`` each.
    Begin Scenario    step-by-step
    Start Daemon With Mock Agent
    ${info}    Open Session With Info
    ${watch}    Watch Permission Requests    ${info.session_id}
    ${accepted}    Send Prompt    ${info.session_id}    ask once    client_id=${info.client_id}
    ...    tool_calls=2    permissions=1    permission_at=2
    ${request}    Wait For Permission Request    ${watch}    timeout=10 s
    Should Be Equal    ${request.originator_client_id}    ${info.client_id}
    ${answer}    Answer Permission Request    ${request}    reject    client_id=${info.client_id}
    Should Be Equal As Integers    ${answer.status}    200
    ${resolution}    Wait For Permission Resolution    ${watch}    ${request}
    Should Be Equal    ${resolution.voter_client_id}    ${info.client_id}
    Should Be Equal    ${resolution.option_id}    reject_once
    ${got}    Wait For Agent Permission Outcome    ${request}
    Should Be Equal    ${got.tool_call_id}    ${request.tool_call_id}
    Should Be Equal    ${got.action}    reject
    ${turn}    Wait For Turn End    ${info.session_id}    ${accepted}
    Turn Should Complete    ${turn}
    ${late}    Answer Permission Request Together    ${request}    ${info.client_id}    NONE
    Should Be Equal As Integers    ${late[0].status}    404
    Should Be Equal As Integers    ${late[1].status}    404
    ${refused}    Wait For Permission Resolution    ${watch}    ${request}    refusals=2
    Should Be Equal As Integers    ${refused.already_resolved}    2
    ${counts}    Get Agent Permission Counts    ${info.session_id}
    Record Result    ${counts}
    Should Be Equal As Integers    ${counts.outcomes}    1    the agent got the late answers too

Realistic Turns Run With The Auto Answerer
    [Documentation]    Turns that look like coding turns (plan, chunks, tool calls with output, usage) and ask
    ...    permissions before two of their tool calls complete while a background answerer allows each request
    ...    as soon as it is read: ${REALISTIC_TURNS} turns, every request answered once, the agent received
    ...    each answer.
    Begin Scenario    auto-answer-realistic-turns    turns=${REALISTIC_TURNS}
    Start Daemon With Mock Agent
    ${sid}    Open Session
    ${auto}    Start Permission Auto Answer    ${sid}
    FOR    ${i}    IN RANGE    ${REALISTIC_TURNS}
        ${turn}    Prompt And Wait    ${sid}    realistic turn ${i}    chunks=4    tool_calls=6
        ...    tool_output_bytes=2048    plan_entries=3    usage=on    permissions=2    permission_at=3
        Turn Should Complete    ${turn}
    END
    ${done}    Stop Permission Auto Answer    ${auto}
    Record Result    ${done}
    ${counts}    Get Agent Permission Counts    ${sid}
    Record Result    ${counts}    as=agent
    Should Be Equal As Integers    ${done.answered}    ${{2 * int($REALISTIC_TURNS)}}
    Should Be Equal As Integers    ${counts.outcomes}    ${done.answered}
    Should Be Equal As Integers    ${counts.answered_twice}    0
