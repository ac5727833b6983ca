*** Settings ***
Documentation    The interactive daemon under load: permission requests and their mediation.
...
...              The mock agent asks ``session/request_permission`` at chosen tool calls and acts on the answer;
...              the daemon publishes ``permission_request`` on the session's stream and waits for a client's
...              ``POST /session/:id/permission/:requestId``. Each test starts its own daemon with the mock agent
...              and counts both sides: what the streams showed and what the agent's report
...              (``<daemon HOME>/mock-acp/report.ndjson``) says it sent and received. Figures go to
...              ``results/permissions.json`` / ``.md`` and to each test's message.
...
...              Harness times are its monotonic clock; a figure that spans the harness and the agent (answer
...              sent -> agent received) compares the wall clocks of the two processes on one machine. The
...              agent's own round trip (request sent -> outcome received) is the agent's monotonic clock.
...
...              A daemon behaviour that breaks an upstream promise is a *known daemon finding*, not a harness
...              error: the test is marked SKIP with a message starting ``FINDING:`` (the isolation test, upstream
...              issue 11795). Run with ``robot --include permissions suites/``.

Test Tags        loadtest    permissions
