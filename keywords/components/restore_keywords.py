"""Keywords that get sessions back: load, resume, transcripts, and the restore scenarios."""

from __future__ import annotations

from typing import Any, Literal

from robotlibcore import keyword

from keywords import checks
from keywords.checks import Duration
from keywords.components.daemon_component import DaemonComponent
from keywords.context import RunningDaemon
from keywords.errors import HarnessConfigError
from keywords.fakes import mock_control, mock_report
from keywords.traffic.client import DaemonClient
from keywords.traffic.restore import (
    concurrent_restores,
    crash_durability,
    mid_turn,
    restore_call,
    seen_turns,
    transcript,
    turn_check,
)
from keywords.traffic.restore.concurrent_restores import ConcurrentRestores
from keywords.traffic.restore.crash_durability import CrashDurability
from keywords.traffic.restore.mid_turn import MidTurnRestore
from keywords.traffic.restore.restore_call import RestoreResult
from keywords.traffic.restore.seen_turns import SeenTurns
from keywords.traffic.restore.transcript import Transcript
from keywords.traffic.restore.turn_check import RestoreCheck, TranscriptCheck
from mock_acp.report import read_report

ReplayMode = Literal["full", "summary"]
Action = Literal["load", "resume"]
AGENT_RESTORE_EVENTS = ("session_load", "session_resume")


class RestoreKeywords(DaemonComponent):
    """Load and resume sessions, read transcripts, and run the restore scenarios (restart, crash, journal)."""

    # -- one restore ---------------------------------------------------------------------------------------
    @keyword(tags=("session", "restore"))
    def load_session(
        self,
        session_id: str,
        *,
        client_id: str | None = None,
        history_page_size: int | None = None,
        live_replay_mode: ReplayMode | None = None,
        compacted_replay_mode: ReplayMode | None = None,
        daemon: str | None = None,
    ) -> RestoreResult:
        """``POST /session/:id/load``: get a session back with its history; an error answer is returned, not raised.

        A live session is attached to (its history from the daemon's event ring, with prompt ids); one that is
        not live (closed, or unknown after a restart) is restored by the agent, which replays it.

        Args:
            session_id: The session.
            client_id: ``X-Qwen-Client-Id`` to send.
            history_page_size: ``historyPageSize`` (1 to 500 transcript records a page).
            live_replay_mode: ``liveReplayMode``: ``full`` or ``summary``.
            compacted_replay_mode: ``compactedReplayMode``: ``full`` or ``summary``.

        Returns:
            ``RestoreResult``: ``action``, ``session_id``, ``status`` (int), ``code`` and ``error`` (str or None),
            ``attached`` (bool or None), ``client_id``, ``has_active_prompt``, ``last_event_id``, ``event_epoch``,
            ``compacted_replay``, ``live_journal`` and ``prompt_terminals`` (lists of dicts), ``body_keys``,
            ``sent_mono`` (float s), ``elapsed_ms`` (float), ``ok`` (bool), ``replay`` (list), ``turns`` (list of
            ``ReplayTurn``: ``user_text``, ``agent_text``, ``updates``, ``kinds``, ``prompt_ids``, ``ended``);
            ``figures()`` and ``line()`` for `Record Result`.

        Example:
            | ${load}= | Load Session | ${sid} |
            | Should Be Equal As Integers | ${load.status} | 200 |
            | Length Should Be | ${load.turns} | 3 |
        """
        body = restore_call.restore_body(
            history_page_size=history_page_size,
            live_replay_mode=live_replay_mode,
            compacted_replay_mode=compacted_replay_mode,
        )
        result = restore_call.restore(self.ctx.get(daemon).client, session_id, "load", client_id=client_id, body=body)
        return self.reported(result)

    @keyword(tags=("session", "restore"))
    def resume_session(
        self, session_id: str, *, client_id: str | None = None, daemon: str | None = None
    ) -> RestoreResult:
        """``POST /session/:id/resume``: get a session back without its history; an error answer is returned.

        Args:
            session_id: The session.
            client_id: ``X-Qwen-Client-Id`` to send.

        Returns:
            ``RestoreResult`` as `Load Session` returns it (no replay: ``compacted_replay`` and ``live_journal``
            are empty).

        Example:
            | ${resume}= | Resume Session | ${sid} |
            | Should Be True | ${resume.ok} |
        """
        result = restore_call.restore(self.ctx.get(daemon).client, session_id, "resume", client_id=client_id)
        return self.reported(result)

    @keyword(tags=("session", "restore"))
    def read_transcript(
        self, session_id: str, *, limit: int = 100, max_pages: int = 1000, daemon: str | None = None
    ) -> Transcript:
        """Read every page of ``GET /session/:id/transcript``, cursor by cursor; an error answer is returned.

        Args:
            session_id: The session.
            limit: Events a page (1 to 500; the daemon's default is 100).
            max_pages: At most this many pages (1 to 10000).

        The daemon answers from the agent's chat record of the session (``<HOME>/.qwen/projects/<workspace>/chats/
        <sessionId>.jsonl``, which the real agent and the mock write from the session's first turn on): it checks
        the file, then asks the agent for each page (``limit`` records a page).

        Returns:
            ``Transcript``: ``session_id``, ``status`` (int; 404 ``session_not_found`` when the daemon finds no
            chat record of the session), ``code`` and ``error`` (str or None), ``pages`` (int), ``page_sizes``
            (tuple of int: events a page), ``events`` (list of dicts), ``complete`` (bool: the last page said no
            more), ``page_ms`` (tuple of float), ``turns`` (list of ``ReplayTurn``: ``user_text``,
            ``agent_text``, ``updates``, ``kinds``, ``prompt_ids``, ``ended``); ``figures()`` and ``line()``.

        Example:
            | ${transcript}= | Read Transcript | ${sid} | limit=50 |
            | Should Be True | ${transcript.complete} |
        """
        result = transcript.read_transcript(self.ctx.get(daemon).client, session_id, limit=limit, max_pages=max_pages)
        return self.reported(result)

    # -- turns before, compared after ----------------------------------------------------------------------
    @keyword(tags=("restore", "load"))
    def run_remembered_turns(
        self, sessions: int, turns: int, *, timeout: Duration = 30.0, daemon: str | None = None, **mock_settings: Any
    ) -> SeenTurns:
        """Open ``sessions`` sessions and run ``turns`` turns in each (the sessions at once), keeping what each
        stream showed: prompt ids, the texts sent, the agent's texts.

        Args:
            sessions: Sessions to open (1 to 200).
            turns: Turns each session runs one after another (1 to 1000).
            timeout: Bound on each turn.
            mock_settings: The mock's settings for these prompts (``chunks=5``, ``chunk_delay_ms=10``...).

        Returns:
            ``SeenTurns``: ``session_ids`` (tuple), ``turns`` (tuple of ``SeenTurn``: ``session_id``,
            ``prompt_id``, ``prompt_text``, ``agent_text``, ``outcome``, ``turn_ms``, ``completed``), ``wall_ms``
            (float); ``figures()`` and ``line()``.

        Example:
            | ${seen}= | Run Remembered Turns | 3 | 4 | chunks=5 |
            | Record Result | ${seen} | as=before |
        """
        client = self.ctx.get(daemon).client
        count = checks.whole_number("sessions", sessions, low=1, high=seen_turns.MAX_SESSIONS)
        checks.whole_number("turns", turns, low=1, high=seen_turns.MAX_TURNS)
        directive = mock_control.directive(**mock_settings)
        timeout_s = checks.seconds("timeout", timeout, high=3600)
        session_ids = [client.create_session().session_id for _ in range(count)]
        seen = seen_turns.run_seen_turns(client, session_ids, turns, directive=directive, timeout_s=timeout_s)
        return self.reported(seen)

    @keyword(tags=("restore",))
    def restore_and_compare(
        self, seen: SeenTurns, action: Action = "load", *, daemon: str | None = None
    ) -> RestoreCheck:
        """Restore every session of ``seen`` one after another and compare each with what its stream showed.

        Every completed turn must come back once, in order, with the same user text and agent text; where the
        answer carries prompt ids (a live session's replay, or the daemon's ledger after an agent restore) the
        turn's prompt id must be there as completed.

        Args:
            seen: From `Run Remembered Turns`.
            action: ``load`` (with the replay) or ``resume`` (without: then only the ledger is compared).

        Returns:
            ``RestoreCheck``: ``action``, ``results`` (one ``RestoreResult`` a session), ``comparisons`` (one
            ``TurnComparison`` a session: ``expected``, ``matched``, ``lost``, ``problems``, ``replay_turns``,
            ``ledger_checked``, ``in_flight``: all listed below), ``expected`` and ``matched`` (int),
            ``problems`` (list of str); ``figures()`` and ``line()``.

        Example:
            | ${check}= | Restore And Compare | ${seen} |
            | Restored Turns Should Match | ${check} |
        """
        action = checks.choice("action", action, restore_call.ACTIONS)
        client = self.ctx.get(daemon).client
        results = seen_turns.restore_sessions(client, seen.session_ids, action)
        check = turn_check.check_restores(seen.turns, results, action)
        return self.reported(check)

    @keyword(tags=("restore", "transcript"))
    def compare_transcripts(self, seen: SeenTurns, transcripts: list[Transcript]) -> TranscriptCheck:
        """Compare each session's transcript with what its stream showed, turn by turn.

        Every completed turn must be in its session's transcript once, in order, with the same user text, the
        same agent text and its prompt id on the user's message (the agent records the daemon's prompt id).

        Args:
            seen: From `Run Remembered Turns`.
            transcripts: From `Read Transcript`, one per session of ``seen`` (any order; a session without one
                is not compared).

        Returns:
            ``TranscriptCheck``: ``transcripts`` (tuple of ``Transcript``), ``comparisons`` (one
            ``TurnComparison`` a session: ``session_id``, ``expected``, ``matched``, ``lost``, ``problems``,
            ``replay_turns`` (turns in the transcript), ``ledger_checked`` (False), ``in_flight``,
            ``in_flight_completed``, ``in_flight_replayed``), ``expected`` and ``matched`` (int), ``problems``
            (list of str: mismatches, and transcripts not read to their end), ``where`` (str);
            ``figures()`` and ``line()``.

        Example:
            | ${transcript}= | Read Transcript | ${sid} | limit=3 |
            | ${check}= | Compare Transcripts | ${seen} | ${{[$transcript]}} |
            | Restored Turns Should Match | ${check} |
        """
        if not isinstance(transcripts, (list, tuple)) or not all(isinstance(t, Transcript) for t in transcripts):
            raise HarnessConfigError(
                f"transcripts must be a list of what Read Transcript returned, got {type(transcripts).__name__}."
            )
        check = turn_check.check_transcripts(seen.turns, transcripts)
        return self.reported(check)

    @keyword(tags=("restore", "assertion"))
    def restored_turns_should_match(self, check: RestoreCheck | TranscriptCheck) -> None:
        """Fail unless every session was restored (or its transcript read) and every completed turn came back
        intact.

        Args:
            check: From `Restore And Compare`, `Compare Transcripts` (or the ``check`` of `Run Crash Durability`).

        Example:
            | Restored Turns Should Match | ${check} |
        """
        problems = check.problems
        if problems:
            shown = "\n- ".join(problems[:20])
            raise AssertionError(
                f"Every turn completed before should come back {check.where}, but "
                f"{check.expected - check.matched} of {check.expected} did not: {problems[0]}\n- {shown}"
            )

    # -- the scenarios -------------------------------------------------------------------------------------
    @keyword(tags=("restore", "load"))
    def run_crash_durability(
        self,
        sessions: int,
        *,
        kill_after: Duration = 1.5,
        timeout: Duration = 30.0,
        children_grace: Duration = 5.0,
        daemon: str | None = None,
        **mock_settings: Any,
    ) -> CrashDurability:
        """Keep ``sessions`` sessions busy with one turn after another, SIGKILL the daemon after ``kill_after``,
        restart it on the same HOME, load every session and compare with what the streams showed.

        Args:
            sessions: Sessions under load (1 to 200), opened here.
            kill_after: The chosen moment: time from the first prompt to the SIGKILL.
            timeout: Bound on each turn and on each worker after the kill.
            children_grace: How long the killed daemon's agent children get to end on their own.
            mock_settings: The mock's settings for the prompts; make a turn last (``chunks=10 chunk_delay_ms=20``)
                so sessions are mid-turn at the kill.

        Returns:
            ``CrashDurability``: ``kill`` (``KillOutcome``), ``kill_after_ms``, ``restart_boot_ms`` (float),
            ``turns`` (tuple of ``SeenTurn``), ``unconfirmed`` (int prompts whose POST got no answer), ``check``
            (``RestoreCheck``), ``completed_before``, ``recovered``, ``lost`` and ``in_flight`` (int);
            ``figures()`` and ``line()``.

        Example:
            | ${crash}= | Run Crash Durability | 4 | kill_after=1.5 s | chunks=10 | chunk_delay_ms=20 |
            | Record Result | ${crash} |
        """
        running = self.ctx.get(daemon)
        count = checks.whole_number("sessions", sessions, low=1, high=seen_turns.MAX_SESSIONS)
        kill_after_s = checks.seconds("kill_after", kill_after, high=600)
        timeout_s = checks.seconds("timeout", timeout, high=3600)
        grace_s = checks.seconds("children_grace", children_grace, high=60, allow_zero=True)
        directive = mock_control.directive(**mock_settings)
        client = running.client
        session_ids = [client.create_session().session_id for _ in range(count)]

        def restart() -> tuple[DaemonClient, float | None]:
            result = self._daemons.restart_running(running)
            return running.client, result.boot_ms

        for sub in running.subscriptions:
            sub.stop()
        result = crash_durability.run_crash_durability(
            client,
            session_ids,
            kill=self._daemons.kill_for(running, grace_s),
            restart=restart,
            kill_after_s=kill_after_s,
            directive=directive,
            timeout_s=timeout_s,
        )
        self.info(f"{result.kill.line()}; {result.line()}")
        return result

    @keyword(tags=("restore", "load"))
    def restore_session_together(
        self, session_id: str, clients: int, action: Action = "load", *, daemon: str | None = None
    ) -> ConcurrentRestores:
        """``clients`` restores of one session at the same instant; the mock agent's report says how many reached
        the agent.

        For the coalescing to show, the session must not be live (close it, or restart the daemon, first), and
        the agent's restore must take a while (`Start Daemon With Mock Agent` with ``load_delay_ms``).

        Args:
            session_id: The session.
            clients: Restores at once (1 to 1000), each as its own client.
            action: ``load`` or ``resume``.

        Returns:
            ``ConcurrentRestores``: ``session_id``, ``results`` (tuple of ``RestoreResult``), ``agent_restores``
            (int: ``session/load``/``session/resume`` the agent received for the session during the burst),
            ``replays`` (list), ``distinct_replays`` (int); ``figures()`` and ``line()``.

        Example:
            | ${together}= | Restore Session Together | ${sid} | 8 |
            | Should Be Equal As Integers | ${together.agent_restores} | 1 |
        """
        running = self.ctx.get(daemon)
        action = checks.choice("action", action, restore_call.ACTIONS)
        before = self._agent_restores(running, session_id)
        results = concurrent_restores.restore_together(running.client, session_id, clients, action)
        agent = self._agent_restores(running, session_id)
        together = ConcurrentRestores(session_id, results, None if agent is None or before is None else agent - before)
        return self.reported(together)

    @keyword(tags=("restore", "events"))
    def restore_mid_turn(
        self,
        session_id: str,
        text: str = "mid-turn restore",
        *,
        after_updates: int = 5,
        timeout: Duration = 30.0,
        daemon: str | None = None,
        **mock_settings: Any,
    ) -> MidTurnRestore:
        """Start a streaming turn; after ``after_updates`` of its session updates (the daemon's echo of the prompt
        included), load the session and reconnect a second stream from the prompt's ``lastEventId``; read both to
        the turn's end.

        Args:
            session_id: The session (live).
            text: The prompt's text.
            after_updates: Session updates of the turn the first stream must have read before the load and the
                reconnect (the echo, the chunks, tool call updates...).
            timeout: Bound on the turn and on each stream.
            mock_settings: The mock's settings for the turn; it must still stream at the load
                (``chunks=40 chunk_delay_ms=20``).

        Returns:
            ``MidTurnRestore``: ``prompt_id``, ``updates_before`` (int), ``load`` (``RestoreResult``),
            ``journal_text``, ``final_text`` (str), ``journal_prompt_ids`` (tuple), ``journal_is_prefix`` and
            ``journal_tail_is_turn`` (bool), ``reconnect_problems`` (tuple of str), ``reconnect_received`` (int),
            ``marker`` (dict or None: the journal's ``history_truncated``), ``marker_index`` (int or None),
            ``turn_outcome`` (str); ``figures()`` and ``line()``.

        Example:
            | ${mid}= | Restore Mid Turn | ${sid} | after_updates=11 | chunks=40 | chunk_delay_ms=20 |
            | Should Be True | ${mid.journal_is_prefix} |
        """
        result = mid_turn.restore_mid_turn(
            self.ctx.get(daemon).client,
            session_id,
            mock_control.with_directive(text, **mock_settings),
            after_updates=after_updates,
            timeout_s=checks.seconds("timeout", timeout, high=3600),
        )
        return self.reported(result)

    @keyword(tags=("restore", "assertion"))
    def journal_marker_should_be_where_documented(self, result: MidTurnRestore) -> None:
        """Fail unless the mid-turn load's ``liveJournal`` starts with the ``history_truncated`` marker the daemon's
        code writes: scope ``live_journal``, reason ``replay_window_exceeded``, counting the dropped events,
        stamped with the turn's prompt id.

        Args:
            result: From `Restore Mid Turn`, on a daemon started with small ``max_journal_events`` or
                ``max_journal_bytes``.

        Example:
            | Journal Marker Should Be Where Documented | ${mid} |
        """
        problems = mid_turn.marker_problems(result)
        if problems:
            raise AssertionError(
                "The journal of a turn over its caps should start with a history_truncated marker, but "
                + "; ".join(problems)
                + f" (journal: {[e.get('type') for e in result.load.live_journal][:10]})."
            )

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def _agent_restores(running: RunningDaemon, session_id: str) -> int | None:
        """``session_load``/``session_resume`` events of the mock's report for one session (None: the real agent).

        The mock writes the event before its answer, so a restore that was answered is in the report.
        """
        if running.control_file is None:
            return None
        path = mock_report.report_path(running.daemon.home)
        if not path.is_file():
            return 0
        events = read_report(str(path))
        return sum(1 for e in events if e.get("event") in AGENT_RESTORE_EVENTS and e.get("sessionId") == session_id)
