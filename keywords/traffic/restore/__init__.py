"""Getting a session back: ``POST /session/:id/load`` and ``/resume``, the transcript's pages, what they hold, and
the restore scenarios.

What the daemon does (``docs/daemon-restore.md``, measured on 0.24.4): a live session is attached to
(``attached: true``) and its history comes from the daemon's own event ring (``compactedReplay``, with the
daemon's prompt ids); a session that is not live (closed, or unknown after a restart) is restored by the agent,
which replays its history, and the answer then carries the daemon's ledger of earlier prompts
(``promptTerminals``: each prompt id with its terminal state). The replay is in ``compactedReplay`` (bulk replay)
or ``liveJournal`` (streamed replay, and the turn in flight of a live session); a journal over its caps starts
with a ``history_truncated`` marker. ``GET /session/:id/transcript`` pages through the agent's chat record of
the session (``<HOME>/.qwen/projects/<workspace>/chats/<sessionId>.jsonl``, written by the real agent and the
mock from the first turn on): the daemon checks the file (404 ``session_not_found`` without one), then asks the
agent for each page.

The modules: :mod:`.restore_call` (one ``/load`` or ``/resume``), :mod:`.replayed_turns` (the turns in a
replay), :mod:`.turn_check` (what the streams showed, compared turn by turn with a replay or a transcript),
:mod:`.transcript` (every page of a transcript); the scenarios :mod:`.seen_turns`, :mod:`.crash_durability`,
:mod:`.concurrent_restores` and :mod:`.mid_turn` (the live journal). What needs the daemon's process (a SIGKILL,
a restart on the same HOME) comes in as a callable, so nothing here knows processes.

Nothing here imports Robot Framework; nothing here logs.
"""
