*** Settings ***
Documentation    Nothing lost across restarts, and the second transport.
...
...              Getting a session back (``POST /session/:id/load`` and ``/resume``, ``GET /session/:id/transcript``)
...              after a restart of the daemon on the same HOME, after a SIGKILL mid-turn under load, by many
...              clients at once, and mid-turn (the live journal and its ``history_truncated`` marker); and the
...              ``/acp`` transport (JSON-RPC over WebSocket and HTTP) beside REST/SSE. The daemon keeps no history
...              itself: the agent (our mock, which persists its sessions under the daemon's HOME) replays it, and
...              the daemon's own ledger of prompt states names the prompts (``docs/daemon-restore.md``).
...
...              Each test starts its own daemon; figures go to ``results/restore.json`` / ``.md`` and to each
...              test's message. A daemon behaviour that breaks an upstream promise is a *known daemon finding*:
...              the test records its figures, then is marked SKIP with a ``FINDING:`` line. Run with
...              ``robot --include restore suites/``.

Test Tags        restore
