*** Settings ***
Documentation    Permission requests, one scenario per row: ``SESSIONS`` sessions prompted at once, each turn
...              running ``TOOL CALLS`` tool calls of which ``PERMISSIONS`` ask a permission that is answered as
...              ``ANSWER`` says (``allow``, ``reject``, or ``nobody`` until the daemon's ``TIMEOUT MS`` runs out),
...              and what ``EXPECTED`` says must happen.
...
...              To add a row, follow docs/ADDING-SCENARIOS.md.

Resource         ../../resources/scenarios.resource

Test Teardown    Stop All Daemons
Test Template    Run Permission Row

Test Tags        table:permissions


*** Test Cases ***                        SESSIONS    TOOL CALLS    PERMISSIONS    ANSWER    TIMEOUT MS    EXPECTED         # robocop: fmt: off
Four Sessions Allow Two Requests Each     4           8             2              allow     0             completes
Rejected Requests Still End Their Turns   2           2             2              reject    0             completes
Nobody Answers Before The Timeout         1           1             1              nobody    1000          is cancelled
