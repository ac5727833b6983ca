"""Permission requests of the daemon, and the scenarios that mediate them.

The agent asks with ``session/request_permission``; the daemon publishes ``permission_request`` on the
session's SSE stream (with its own ``requestId``) and waits for a client to answer
``POST /session/:id/permission/:requestId`` (``docs/daemon-permissions.md``). The modules, building blocks
first:

* :mod:`.answering` - one request, one client's answer, several clients at the same instant, the resolution;
* :mod:`.request_watch` - the prompt that asks, a background subscription that hands out the requests in order;
* :mod:`.auto_answer` - a background answerer for scenarios whose turns ask permissions;
* :mod:`.round_trips` - N sessions x K permissions, counted on the streams and in the mock agent's report;
* the scenarios: :mod:`.first_responder`, :mod:`.policy_votes`, :mod:`.pending_end` (cancel, deadline, close,
  disconnect, the response timeout), :mod:`.pending_cap`, :mod:`.isolation`; :mod:`.scenario_kit` holds what
  they share.

Each scenario starts from a running daemon with the mock agent (whose report it reads) and returns a result that
carries its figures (``figures()``, ``line()``) and, where the scenario has an invariant, the ways it was broken
(``problems()``). Clocks: the harness's times are its monotonic clock; a figure that spans the harness and the
mock agent compares **wall clocks** of the two processes on one machine, and says so. Threads never log and
never call Robot Framework.
"""
