"""Keywords for sessions and prompt turns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from robotlibcore import keyword

from keywords.checks import choice, seconds, whole_number
from keywords.components.component import Component, Option, option_values, takes_options
from keywords.errors import DaemonHttpError
from keywords.fakes import mock_control
from keywords.traffic.client import PromptAccepted, SessionInfo
from keywords.traffic.stream_result import StreamResult
from keywords.traffic.turns import OUTCOMES, TurnResult, classify, follow_turn, follow_turn_until_chunks

SCOPES = ("thread", "single")
Scope = Literal[SCOPES]
SESSION_OPTIONS: dict[str, Option] = {  # how `Open Session` and `Open Session With Info` create a session
    "scope": Option(
        Scope, "thread", "``thread`` (always a new session) or ``single`` (the workspace's shared session)."
    ),
    "client_id": Option(
        str | None,
        None,
        "``X-Qwen-Client-Id`` to send (the daemon reuses it only if it is already registered on\n"
        "the attached session; otherwise it mints a new one).",
    ),
    "session_id": Option(str | None, None, "Ask for this session id (a UUID; forces a new session)."),
    "cwd": Option(
        str | None, None, "Absolute workspace path to send (default: none sent, the daemon's own workspace)."
    ),
}
Outcome = Literal[OUTCOMES]
StatusDetail = Literal["summary", "full"]
StopReason = Literal["end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled"]
MAX_TURN_S = 3600.0


class SessionKeywords(Component):
    """Create sessions, prompt them, follow turns, cancel and close."""

    # -- health and status ----------------------------------------------------------------------
    @keyword(tags=("status",))
    def daemon_should_be_healthy(self, *, deep: bool = False, daemon: str | None = None) -> dict:
        """Fail unless ``GET /health`` (or ``/health?deep=1``) answers 200 with status ``ok``.

        Args:
            deep: Ask ``/health?deep=1`` (the daemon then reports its sessions and pending work too).

        Returns:
            The health body.

        Example:
            | Daemon Should Be Healthy |
            | ${health}= | Daemon Should Be Healthy | deep=${True} |
        """
        reply = self.ctx.get(daemon).client.health(deep=deep, expected=None)
        if reply.status != 200 or not isinstance(reply.body, dict) or reply.body.get("status") != "ok":
            raise AssertionError(
                f"GET /health{'?deep=1' if deep else ''} should answer 200 with status ok, "
                f"but answered {reply.status}: {reply.body}"
            )
        return reply.body

    @keyword(tags=("status",))
    def get_capabilities(self, *, daemon: str | None = None) -> dict:
        """``GET /capabilities``: version, features and limits of the daemon.

        Returns:
            The daemon's capabilities body as a dictionary, as the daemon sends it (0.24.4): ``v``,
            ``protocolVersions`` (``current``, ``supported``), ``qwenCodeVersion``, ``features`` (list of
            feature names), ``sessionLiveStatePollIntervalMs``, ``modelServices``, ``workspaceCwd``,
            ``transports``, ``policy`` (``permission``), ``limits`` (``maxRegisteredWorkspaces``,
            ``maxChannelControlWorkspaces``, ``maxPendingPromptsPerSession``, ``sessionRestoreTimeoutMs``,
            ``maxWorkspaceFileUploadBytes``, ``maxSessionsPerWorkspace`` (``None`` when unlimited),
            ``maxTotalSessions``), ``workspaces`` (each ``id``, ``cwd``, ``primary``, ``trusted``,
            ``workflowsEnabled``, ``removable``) and ``supportedLanguages``; a newer build may add keys.

        Example:
            | ${caps}= | Get Capabilities |
            | Should Be Equal | ${caps}[qwenCodeVersion] | 0.24.4 |
        """
        return self.ctx.get(daemon).client.capabilities()

    @keyword(tags=("status",))
    def get_daemon_status(self, detail: StatusDetail = "summary", *, daemon: str | None = None) -> dict:
        """``GET /daemon/status``: the daemon's own view of itself (startup, limits, runtime figures).

        Args:
            detail: ``summary`` or ``full`` (the daemon refuses any other value with 400 ``invalid_detail``).

        Returns:
            The daemon's status body as a dictionary, as the daemon sends it (0.24.4): ``v``, ``detail``,
            ``generatedAt``, ``status``, ``issues`` (list), ``daemon`` (``pid``, ``uptimeMs``, ``mode``,
            ``workspaceCwd``, ``startup``, ``qwenCodeVersion``, ``daemonId``, ``runId``, ``logMode``,
            ``logHealth``), ``security``, ``limits`` (one key per cap and timer of the daemon's flags),
            ``capabilities`` (as `Get Capabilities`) and ``runtime`` (``sessions``, ``permissions``,
            ``channel``, ``channelWorker``, ``transport``, ``rateLimit``, ``perf``, ``metrics``, ``activity``,
            ``memory``, ``process``); the keys inside them are the daemon's and a newer build may add some.

        Example:
            | ${status}= | Get Daemon Status |
            | Should Be Equal | ${status}[status] | ok |
            | ${full}= | Get Daemon Status | detail=full |
        """
        return self.ctx.get(daemon).client.daemon_status(choice("detail", detail, ("summary", "full")))

    @keyword(tags=("status",))
    def get_workspace_mcp_status(self, *, daemon: str | None = None) -> dict:
        """``GET /workspace/mcp``: the agent's MCP servers as the daemon reports them.

        Fails with the daemon's error when the route does not answer 200 (it answers 500 when the agent does
        not implement the MCP status method).

        Returns:
            The body as a dictionary: the agent's answer plus the daemon's ``runtimeEpoch`` and ``source``
            (``live``, or ``cache`` when the agent is gone).

        Example:
            | ${mcp}= | Get Workspace MCP Status |
        """
        return self.ctx.get(daemon).client.workspace_mcp()

    # -- sessions -------------------------------------------------------------------------------
    @keyword(tags=("session",))
    @takes_options(SESSION_OPTIONS, before="daemon")
    def open_session(self, *, daemon: str | None = None, **options: Any) -> str:
        """Create a session (``POST /session`` with JSON content type) and return its id.

        Args:
            {options}

        Example:
            | ${sid}= | Open Session |
            | ${shared}= | Open Session | scope=single |
        """
        return self.open_session_with_info(daemon=daemon, **options).session_id

    @keyword(tags=("session",))
    @takes_options(SESSION_OPTIONS, before="daemon")
    def open_session_with_info(self, *, daemon: str | None = None, **options: Any) -> SessionInfo:
        """Like `Open Session`, but return all the daemon said.

        Args:
            {options}

        Returns:
            ``SessionInfo`` with ``session_id``, ``client_id``, ``attached``, ``workspace_cwd``, ``elapsed_ms``.

        Example:
            | ${first}= | Open Session With Info | scope=single |
            | Should Not Be True | ${first.attached} |
            | ${info}= | Open Session With Info | scope=single |
            | Should Be True | ${info.attached} |
        """
        given = option_values(SESSION_OPTIONS, options)
        scope = choice("scope", given.pop("scope"), SCOPES)
        return self.ctx.get(daemon).client.create_session(scope, **given)

    @keyword(tags=("session",))
    def open_session_should_fail(
        self, status: int, code: str | None = None, *, scope: Scope = "thread", daemon: str | None = None
    ) -> DaemonHttpError:
        """Try to create a session and fail unless the daemon refuses with ``status`` (and ``code``).

        Args:
            status: Expected HTTP status, e.g. ``503``.
            code: Expected ``code`` of the error body, e.g. ``session_limit_exceeded``; not checked when empty.
            scope: ``thread`` or ``single``, as for `Open Session`.

        Returns:
            The refusal (``status``, ``code``, ``body``, ``headers``).

        Example:
            | Start Daemon With Mock Agent | max_sessions=1 |
            | Open Session |
            | ${err}= | Open Session Should Fail | 503 | session_limit_exceeded |
            | Should Be Equal | ${err.headers}[retry-after] | 5 |
        """
        scope = choice("scope", scope, SCOPES)
        try:
            info = self.ctx.get(daemon).client.create_session(scope)
        except DaemonHttpError as err:
            _check_refusal(err, status, code)
            return err
        raise AssertionError(f"POST /session should be refused with {status}, but created session {info.session_id}.")

    @keyword(tags=("session",))
    def close_session(self, session_id: str, *, client_id: str | None = None, daemon: str | None = None) -> float:
        """Close a session (``DELETE /session/:id``) and fail unless the daemon answers 204.

        Args:
            session_id: The session to close.
            client_id: ``X-Qwen-Client-Id`` to send (one registered on the session); none by default.

        Returns:
            The request's round trip in milliseconds (monotonic clock).

        Example:
            | Close Session | ${sid} |
            | ${close_ms}= | Close Session | ${sid} | client_id=${info.client_id} |
        """
        return self.ctx.get(daemon).client.close_session(session_id, client_id).elapsed_ms

    @keyword(tags=("session",))
    def session_should_be_gone(self, session_id: str, *, daemon: str | None = None) -> None:
        """Fail unless ``GET /session/:id/status`` answers 404 (the session is unknown to the daemon).

        Args:
            session_id: The session that must be gone.

        Example:
            | Close Session | ${sid} |
            | Session Should Be Gone | ${sid} |
        """
        reply = self.ctx.get(daemon).client.session_status(session_id, expected=None)
        if reply.status != 404:
            raise AssertionError(
                f"Session {session_id} should be unknown (404), but its status still answers {reply.status}: "
                f"{reply.body}"
            )

    @keyword(tags=("session",))
    def get_session_status(self, session_id: str, *, daemon: str | None = None) -> dict:
        """``GET /session/:id/status``; fails with the daemon's error unless it answers 200.

        Args:
            session_id: The session to ask about.

        Returns:
            The session's status body as a dictionary, as the daemon sends it (0.24.4): ``sessionId``,
            ``workspaceCwd``, ``createdAt``, ``updatedAt`` (when set), ``clientCount``, ``hasActivePrompt``,
            ``activeWorkState``, ``isWaitingForPermission``, ``isWaitingForUserQuestion``,
            ``pendingInteractionCount``, ``hasTurnError``, ``turnError`` (``message``, ``code``; when set) and
            ``pendingInteractions`` (list); a newer build may add keys.

        Example:
            | ${st}= | Get Session Status | ${sid} |
            | Should Not Be True | ${st}[hasActivePrompt] |
        """
        return self.ctx.get(daemon).client.session_status(session_id).body

    @keyword(tags=("session",))
    def cancel_prompt(self, session_id: str, *, client_id: str | None = None, daemon: str | None = None) -> None:
        """Cancel the session's running prompt (``POST /session/:id/cancel``); fail unless it answers 204.

        Args:
            session_id: The session whose prompt to cancel.
            client_id: ``X-Qwen-Client-Id`` to send (one registered on the session); none by default.

        Example:
            | Cancel Prompt | ${sid} |
        """
        self.ctx.get(daemon).client.cancel(session_id, client_id)

    # -- prompts --------------------------------------------------------------------------------
    @keyword(tags=("prompt",))
    def send_prompt(
        self,
        session_id: str,
        text: str = "hello",
        *,
        client_id: str | None = None,
        deadline_ms: int | None = None,
        daemon: str | None = None,
        **mock_settings: Any,
    ) -> PromptAccepted:
        """Send a prompt and return the daemon's 202 answer without waiting for the turn.

        Mock settings given as named arguments (``mode=hang``, ``chunks=5``, ``chunk_size``,
        ``chunk_delay_ms``, ``end_delay_ms``, ``error_code``: the mock's own setting table) apply to this prompt
        only. They are checked against that table before anything is sent: an unknown name or a bad value
        fails naming the setting.

        Args:
            session_id: The session to prompt.
            text: The prompt text (one text block).
            client_id: ``X-Qwen-Client-Id`` to send (one registered on the session); none by default.
            deadline_ms: ``deadlineMs`` of the request body, in milliseconds; the daemon only honours it when
                it runs with ``--prompt-deadline-ms`` (the smaller value wins).
            mock_settings: Mock agent settings for this prompt only (validated before sending), sent as a
                ``[[mock ...]]`` directive in front of ``text``.

        Returns:
            ``PromptAccepted`` with ``prompt_id``, ``last_event_id``, ``event_epoch``, ``elapsed_ms``.

        Example:
            | ${accepted}= | Send Prompt | ${sid} | hello | mode=hang |
        """
        text = mock_control.directive(**mock_settings) + text
        if deadline_ms is not None:
            deadline_ms = whole_number("deadline_ms", deadline_ms, low=1, unit="ms")
        return self.ctx.get(daemon).client.prompt(session_id, text, client_id=client_id, deadline_ms=deadline_ms)

    @keyword(tags=("prompt",))
    def send_prompt_should_fail(
        self,
        session_id: str,
        status: int,
        code: str | None = None,
        *,
        text: str = "hello",
        client_id: str | None = None,
        daemon: str | None = None,
    ) -> DaemonHttpError:
        """Send a prompt and fail unless the daemon refuses it with ``status`` (and ``code``).

        Args:
            session_id: The session to prompt.
            status: Expected HTTP status, e.g. ``404``.
            code: Expected ``code`` of the error body, e.g. ``session_not_found``; not checked when empty.
            text: The prompt text.
            client_id: ``X-Qwen-Client-Id`` to send; none by default.

        Returns:
            The refusal (``DaemonHttpError``: ``status``, ``code``, ``body``, ``headers``).

        Example:
            | Close Session | ${sid} |
            | Send Prompt Should Fail | ${sid} | 404 | session_not_found |
        """
        try:
            accepted = self.ctx.get(daemon).client.prompt(session_id, text, client_id=client_id)
        except DaemonHttpError as err:
            _check_refusal(err, status, code)
            return err
        raise AssertionError(
            f"The prompt should be refused with {status}, but was accepted (prompt {accepted.prompt_id})."
        )

    @keyword(tags=("prompt",))
    def wait_for_turn_end(
        self,
        session_id: str,
        accepted: PromptAccepted,
        *,
        timeout: timedelta | float = 30.0,
        daemon: str | None = None,
    ) -> TurnResult:
        """Follow an accepted prompt's events until its turn ends, without a race.

        The session's stream is opened with ``Last-Event-ID`` = the 202's ``lastEventId``, so events the turn
        sent before the stream opened are replayed.

        Args:
            session_id: The prompted session.
            accepted: The prompt's 202 answer (`Send Prompt`).
            timeout: How long to wait for the end of the turn (Robot time string or seconds); then the outcome
                is ``timeout``.

        Returns:
            ``TurnResult``: ``prompt_id``, ``outcome`` (completed, error, session_died, session_closed, timeout,
            stream_cut, stream_refused, running), ``stop_reason``, ``error_code``, ``error_message``, ``cancelled``,
            ``cancel_reason``, ``chunks``, ``session_updates``, ``text``, ``post_ms``, ``first_chunk_ms``,
            ``turn_ms``, ``last_event_id``, ``types``, ``stream`` (the ``StreamResult``), ``figures()``,
            ``line()``.

        Example:
            | ${turn}= | Wait For Turn End | ${sid} | ${accepted} |
        """
        timeout_s = seconds("timeout", timeout, high=MAX_TURN_S)
        return follow_turn(self.ctx.get(daemon).client, session_id, accepted, timeout_s=timeout_s)

    @keyword(tags=("prompt",))
    def wait_for_turn_chunks(
        self,
        session_id: str,
        accepted: PromptAccepted,
        chunks: int,
        *,
        timeout: timedelta | float = 30.0,
        daemon: str | None = None,
    ) -> TurnResult:
        """Follow an accepted prompt's events until its first ``chunks`` agent chunks arrived, without waiting
        for the turn's end (a turn that hangs after its chunks, for example).

        The read stops at this prompt's ``chunks``-th agent chunk (the daemon's echo of the prompt and other
        updates are not counted), at the turn's end, or at ``timeout``. The turn then usually has not
        ended yet: its ``outcome`` is ``running`` (``timeout`` when the chunks did not come in time) and its
        ``chunks`` says how many arrived.

        Args:
            session_id: The prompted session.
            accepted: The prompt's 202 answer (`Send Prompt`).
            chunks: The agent chunks to wait for, 1 or more.
            timeout: How long to wait (Robot time string or seconds).

        Returns:
            ``TurnResult`` as for `Wait For Turn End`, of the part of the turn read so far.

        Example:
            | ${accepted}= | Send Prompt | ${sid} | hang | mode=hang | chunks=3 |
            | ${started}= | Wait For Turn Chunks | ${sid} | ${accepted} | 3 |
            | Should Be Equal As Integers | ${started.chunks} | 3 |
        """
        chunks = whole_number("chunks", chunks, low=1)
        timeout_s = seconds("timeout", timeout, high=MAX_TURN_S)
        client = self.ctx.get(daemon).client
        return follow_turn_until_chunks(client, session_id, accepted, chunks, timeout_s=timeout_s)

    @keyword(tags=("prompt",))
    def turn_from_stream(self, accepted: PromptAccepted, stream: StreamResult) -> TurnResult:
        """Read the turn of an accepted prompt out of a stream subscribed before the prompt was sent.

        Use it when the session may be gone before `Wait For Turn End` could open its stream (an agent
        crash tears the session down within milliseconds).

        Args:
            accepted: The prompt's 202 answer (`Send Prompt`).
            stream: Frames of the session read from before the prompt (`Collect Events`).

        Returns:
            ``TurnResult`` as for `Wait For Turn End`; turn times count from the prompt's POST.

        An agent crash ends the prompting session's turn with ``turn_error`` "agent channel closed" (``outcome``
        ``error``, ``happened`` ``sessionDied``), and then the stream with ``session_died``.

        Example:
            | ${watch}= | Subscribe To Events | ${sid} | until=session_died |
            | ${accepted}= | Send Prompt | ${sid} | crash | mode=crash-on-prompt |
            | ${seen}= | Collect Events | ${watch} |
            | ${turn}= | Turn From Stream | ${accepted} | ${seen} |
            | Turn Should End With | ${turn} | error |
            | Should Be Equal | ${turn.happened} | sessionDied |
        """
        offset_ms = (stream.started_at - accepted.posted_at) * 1000 if stream.started_at else 0.0
        return classify(accepted, stream, offset_ms=offset_ms)

    @keyword(tags=("prompt",))
    def prompt_and_wait(
        self,
        session_id: str,
        text: str = "hello",
        *,
        timeout: timedelta | float = 30.0,
        client_id: str | None = None,
        deadline_ms: int | None = None,
        daemon: str | None = None,
        **mock_settings: Any,
    ) -> TurnResult:
        """Send a prompt and follow it to the end of its turn (see `Send Prompt`, `Wait For Turn End`).

        Args:
            session_id: The session to prompt.
            text: The prompt text.
            timeout: How long to wait for the end of the turn (Robot time string or seconds).
            client_id: ``X-Qwen-Client-Id`` to send; none by default.
            deadline_ms: ``deadlineMs`` of the request body in milliseconds (see `Send Prompt`).
            mock_settings: Mock agent settings for this prompt only, checked as for `Send Prompt`.

        Returns:
            ``TurnResult`` as for `Wait For Turn End` (``outcome``, ``stop_reason``, ``error_code``,
            ``chunks``, ``text``, ``turn_ms``, ``figures()``, ``line()``).

        Example:
            | ${turn}= | Prompt And Wait | ${sid} | hello | chunks=5 |
            | Turn Should Complete | ${turn} | chunks=5 |
        """
        timeout_s = seconds("timeout", timeout, high=MAX_TURN_S)
        accepted = self.send_prompt(
            session_id, text, client_id=client_id, deadline_ms=deadline_ms, daemon=daemon, **mock_settings
        )
        return self.wait_for_turn_end(session_id, accepted, timeout=timeout_s, daemon=daemon)


def _check_refusal(err: DaemonHttpError, status: int, code: str | None) -> None:
    if err.status != int(status) or (code is not None and err.code != code):
        want = f"{status} {code or ''}".strip()
        raise AssertionError(f"Expected {want}, got: {err}") from err
