*** Comments ***
# robocop: off=line-too-long


*** Settings ***
Documentation    Limits, one scenario per row: a daemon started with ``FLAG`` set to ``VALUE`` (every other
...              flag at its default) gets ``LOAD``, and what ``EXPECTED`` says must happen: a refusal with its
...              status and code, an error with its code, an evicted stream, or everything working.
...
...              A row is one line under the header, so the file allows lines longer than 120 characters.
...              To add a row, follow docs/ADDING-SCENARIOS.md.

Resource         ../../resources/scenarios.resource

Test Teardown    Stop All Daemons
Test Template    Run Limit Row

Test Tags        table:limits


*** Test Cases ***                        FLAG                                VALUE    LOAD                 EXPECTED                                       # robocop: fmt: off
Over The Session Cap                      --max-sessions                      3        5 sessions at once   refused 503 session_limit_exceeded
Within The Session Cap                    --max-sessions                      5        5 sessions at once   completes
Over The Pending Prompt Cap               --max-pending-prompts-per-session   2        4 prompts at once    refused 503 prompt_queue_full
A Deadline Ends A Hanging Prompt          --prompt-deadline-ms                1000     a hanging prompt     ends with an error prompt_deadline_exceeded
An Idle Stream Is Evicted                 --writer-idle-timeout-ms            2000     an idle stream       stream evicted writer_idle_timeout
