*** Settings ***
Documentation    One scenario per permission policy the daemon implements (``policy.permissionStrategy`` in the
...              user settings of its HOME): three clients attached to one session vote ``select`` on one
...              request one after another, voters 2 and 3 first and voter 1 (who sent the prompt) last. The
...              statuses and frames of the votes and who resolved it are what 0.24.4 does
...              (``first-responder``: the first vote wins; ``designated``: only the prompt's sender decides, the
...              others get 403 ``permission_forbidden``; ``consensus``: 2 of 3 voters; ``local-only``: any
...              loopback voter, so here like ``first-responder`` - a remote voter cannot be tested, only
...              127.0.0.1 is a target). Each policy goes into the report's metadata.

Resource         ../../resources/permissions.resource

Test Teardown    Stop All Daemons
Test Template    Votes Under A Policy


*** Variables ***
${RESOLVED}            permission_resolved
${LATE}                permission_already_resolved
${FIRST_WINS}          ${RESOLVED},${LATE},${LATE}
${ORIGINATOR_WINS}     permission_forbidden,permission_forbidden,${RESOLVED}
${SECOND_VOTE_WINS}    permission_partial_vote,${RESOLVED},${LATE}


*** Test Cases ***    POLICY    STATUSES    RESOLVED BY    EVENTS
First Responder Policy    first-responder    200,404,404    2    ${FIRST_WINS}
Designated Policy    designated    403,403,200    1    ${ORIGINATOR_WINS}
Consensus Policy    consensus    200,200,404    3    ${SECOND_VOTE_WINS}
Local Only Policy    local-only    200,404,404    2    ${FIRST_WINS}


*** Keywords ***
Votes Under A Policy
    [Documentation]    Start the daemon with ``${policy}``, cast the three votes, record them, and check their
    ...    statuses, their frames, who resolved the request, that the agent received exactly one outcome and
    ...    that the turn completed.
    [Arguments]    ${policy}    ${statuses}    ${resolved_by}    ${events}
    Begin Scenario    policy-${policy}    policy=${policy}    voters=${3}
    Start Daemon With Permission Policy    ${policy}
    ${votes}    Run Permission Votes    3
    Record Result    ${votes}
    Should Be Equal    ${votes.status_policy}    ${policy}
    Should Be Equal    ${votes.statuses}    ${statuses}    ${votes.line()}
    Should Be Equal    ${votes.events}    ${events}    ${votes.line()}
    Should Be Equal As Integers    ${votes.resolved_by}    ${resolved_by}
    Should Be Equal As Integers    ${votes.agent_outcomes}    1
    Should Be Equal    ${votes.turn_end}    turn_complete end_turn
