"""Keywords of the second transport: ACP (JSON-RPC) at ``/acp`` over a WebSocket or HTTP."""

from __future__ import annotations

from typing import Any, Literal

from robotlibcore import keyword

from keywords import checks
from keywords.checks import Duration
from keywords.components.component import Component
from keywords.fakes import mock_control
from keywords.traffic.acp import cap_probe, transport_runs
from keywords.traffic.acp.acp_connection import AcpConnection, AcpPromptHandle
from keywords.traffic.acp.cap_probe import CapProbe
from keywords.traffic.acp.messages import CONNECTION_CAP, AcpPermissionRequest, AcpTurn
from keywords.traffic.acp.transport_runs import TransportComparison, TransportRun

Transport = Literal["ws", "http"]


class AcpKeywords(Component):
    """Open ``/acp`` connections, run prompts over them, probe their cap, compare them with REST/SSE."""

    @keyword(tags=("acp",))
    def open_acp_connection(
        self, *, transport: Transport = "ws", timeout: Duration = 30.0, daemon: str | None = None
    ) -> AcpConnection:
        """Open one ``/acp`` connection and send ``initialize``; it is closed when its daemon stops.

        Args:
            transport: ``ws`` (a WebSocket) or ``http`` (POSTs and SSE streams).
            timeout: Bound on each request's answer.

        Returns:
            ``AcpConnection``: ``connection_id`` (str), ``transport``, ``initialize_result`` (dict),
            ``connect_ms`` (float), ``requests`` (permission requests received), ``frames`` (int received),
            ``closed_by_daemon`` (close code and reason, or None).

        Example:
            | ${conn}= | Open Acp Connection |
            | ${http}= | Open Acp Connection | transport=http |
        """
        running = self.ctx.get(daemon)
        conn = AcpConnection(
            running.daemon.base_url,
            transport=transport,
            token=running.daemon.spec.token,
            timeout_s=checks.seconds("timeout", timeout, high=3600),
        )
        conn.connect()
        running.daemon.on_stop(conn.close)
        self.info(f"/acp {transport} connection {conn.connection_id} in {conn.connect_ms:.1f} ms")
        return conn

    @keyword(tags=("acp",))
    def close_acp_connection(self, connection: AcpConnection) -> None:
        """Close an ``/acp`` connection (the WebSocket, or ``DELETE /acp`` and its streams) and join its readers;
        closing twice is fine, and its daemon's stop closes it too.

        Args:
            connection: From `Open Acp Connection`.

        Example:
            | ${conn}= | Open Acp Connection | transport=http |
            | Close Acp Connection | ${conn} |
        """
        connection.close()

    @keyword(tags=("acp", "session"))
    def open_acp_session(self, connection: AcpConnection, *, daemon: str | None = None) -> str:
        """``session/new`` over an ``/acp`` connection in the daemon's workspace; return the session id.

        Args:
            connection: From `Open Acp Connection`.

        Returns:
            The session id (the same id the REST routes take).

        Example:
            | ${sid}= | Open Acp Session | ${conn} |
        """
        return connection.new_session(str(self.ctx.get(daemon).daemon.workspace))

    @keyword(tags=("acp", "prompt"))
    def send_acp_prompt(
        self, connection: AcpConnection, session_id: str, text: str = "hello", **mock_settings: Any
    ) -> AcpTurn:
        """``session/prompt`` over ``/acp``; wait for its answer and return it with the updates the session got.

        Args:
            connection: From `Open Acp Connection`.
            session_id: A session of that connection.
            text: The prompt's text.
            mock_settings: The mock's settings for this prompt (``chunks=5``...), sent as its directive.

        Returns:
            ``AcpTurn``: ``session_id``, ``stop_reason`` (str or None), ``error`` (str or None), ``updates`` and
            ``chunks`` (int), ``text`` (str), ``notify_kinds`` (tuple of str), ``first_update_ms`` and
            ``turn_ms`` (float or None), ``completed`` (bool); ``figures()`` and ``line()``.

        Example:
            | ${turn}= | Send Acp Prompt | ${conn} | ${sid} | hello | chunks=5 |
            | Should Be Equal As Integers | ${turn.chunks} | 5 |
        """
        turn = connection.prompt(session_id, mock_control.with_directive(text, **mock_settings))
        return self.reported(turn)

    @keyword(tags=("acp", "prompt"))
    def start_acp_prompt(
        self, connection: AcpConnection, session_id: str, text: str = "hello", **mock_settings: Any
    ) -> AcpPromptHandle:
        """Send a ``session/prompt`` over ``/acp`` from a background thread (its turn may wait for a permission).

        Args:
            connection: From `Open Acp Connection`.
            session_id: A session of that connection.
            text: The prompt's text.
            mock_settings: The mock's settings for this prompt (``tool_calls=1 permissions=1``...).

        Returns:
            A handle for `Wait For Acp Prompt`.

        Example:
            | ${handle}= | Start Acp Prompt | ${conn} | ${sid} | ask | tool_calls=1 | permissions=1 |
        """
        return AcpPromptHandle(connection, session_id, mock_control.with_directive(text, **mock_settings))

    @keyword(tags=("acp", "prompt"))
    def wait_for_acp_prompt(self, handle: AcpPromptHandle, *, timeout: Duration = 30.0) -> AcpTurn:
        """Wait for a prompt started with `Start Acp Prompt`; fail when it is not answered in time.

        Args:
            handle: From `Start Acp Prompt`.
            timeout: How long to wait.

        Returns:
            Its ``AcpTurn`` (fields as for `Send Acp Prompt`).

        Example:
            | ${turn}= | Wait For Acp Prompt | ${handle} |
        """
        wait_s = checks.seconds("timeout", timeout, high=3600)
        turn = handle.wait(wait_s)
        if turn is None:
            raise AssertionError(f"The /acp prompt should have been answered within {wait_s:g} s, but it was not.")
        return self.reported(turn)

    @keyword(tags=("acp", "permissions"))
    def wait_for_acp_permission_request(
        self, connection: AcpConnection, *, timeout: Duration = 10.0
    ) -> AcpPermissionRequest:
        """The next ``session/request_permission`` the daemon sent to an ``/acp`` connection; fail when none came.

        Args:
            connection: From `Open Acp Connection`.
            timeout: How long to wait.

        Returns:
            ``AcpPermissionRequest``: ``rpc_id`` (``_qwen_perm_<connection>_<n>``), ``session_id``, ``request_id``
            (``_meta.qwen.requestId``, or None), ``tool_call_id``, ``options`` (tuple of (optionId, kind)),
            ``seen_mono`` (float s), and ``rest``: the same request for `Answer Permission Request`.

        Example:
            | ${request}= | Wait For Acp Permission Request | ${conn} |
            | ${answer}= | Answer Permission Request | ${request.rest} |
        """
        wait_s = checks.seconds("timeout", timeout, high=600)
        request = connection.wait_for_request(wait_s)
        if request is None:
            raise AssertionError(
                f"The /acp connection should have received a session/request_permission within {wait_s:g} s, but "
                f"it received none ({connection.frames} frames in all)."
            )
        self.info(f"/acp permission request {request.rpc_id} (requestId {request.request_id})")
        return request

    # -- workloads -----------------------------------------------------------------------------------------
    @keyword(tags=("acp", "load"))
    def run_acp_turns(
        self,
        connections: int,
        prompts: int,
        *,
        transport: Transport = "ws",
        timeout: Duration = 30.0,
        daemon: str | None = None,
        **mock_settings: Any,
    ) -> TransportRun:
        """``connections`` ``/acp`` connections, one session each, released together, each sending ``prompts``
        prompts one after another with streaming updates.

        Args:
            connections: Connections (1 to 1000; the daemon accepts 64).
            prompts: Prompts per connection (1 to 10000).
            transport: ``ws`` or ``http``.
            timeout: Bound on each prompt's answer.
            mock_settings: The mock's settings for the prompts (``chunks=20``...).

        Returns:
            ``TransportRun``: ``transport``, ``sessions``, ``prompts`` (int), ``turn_ms`` (tuple of float),
            ``failed`` and ``updates`` (int), ``wall_ms`` (float), ``connect_ms`` (tuple), ``errors`` (tuple of
            str), ``events_per_s`` (float); ``figures()`` and ``line()``.

        Example:
            | ${run}= | Run Acp Turns | 8 | 5 | chunks=20 |
            | Should Be Equal As Integers | ${run.failed} | 0 |
        """
        running = self.ctx.get(daemon)
        run = transport_runs.run_acp_turns(
            running.daemon.base_url,
            str(running.daemon.workspace),
            connections,
            prompts,
            mock_control.with_directive("acp turn", **mock_settings),
            transport=transport,
            token=running.daemon.spec.token,
            timeout_s=checks.seconds("timeout", timeout, high=3600),
        )
        return self.reported(run)

    @keyword(tags=("acp", "load"))
    def compare_rest_and_acp(
        self,
        sessions: int,
        prompts: int,
        *,
        transport: Transport = "ws",
        timeout: Duration = 30.0,
        daemon: str | None = None,
        **mock_settings: Any,
    ) -> TransportComparison:
        """The same prompt workload over REST/SSE, then over ``/acp``: ``sessions`` sessions at once, ``prompts``
        turns each; turn times and events per second side by side.

        REST: each turn is a ``POST /session/:id/prompt`` followed on the session's SSE stream to its
        ``turn_complete``; ``/acp``: a ``session/prompt`` request to its answer, the updates on the connection.

        Args:
            sessions: Sessions (and ``/acp`` connections) at once (1 to 64).
            prompts: Turns each (1 to 10000).
            transport: The ``/acp`` transport: ``ws`` or ``http``.
            timeout: Bound on each turn.
            mock_settings: The mock's settings for every prompt of both runs (``chunks=20``...).

        Returns:
            ``TransportComparison``: ``rest`` and ``acp`` (``TransportRun`` each, fields as for `Run Acp Turns`),
            ``ratio(what)`` (``p50``, ``p99``, ``eventsPerSec``: /acp over REST); ``figures()`` and ``line()``.

        Example:
            | ${side}= | Compare Rest And Acp | 8 | 5 | chunks=20 |
            | Record Result | ${side} |
        """
        running = self.ctx.get(daemon)
        count = checks.whole_number("sessions", sessions, low=1, high=CONNECTION_CAP)
        timeout_s = checks.seconds("timeout", timeout, high=3600)
        text = mock_control.with_directive("side by side", **mock_settings)
        rest = transport_runs.run_rest_turns(running.client, count, prompts, text, timeout_s=timeout_s)
        over_acp = transport_runs.run_acp_turns(
            running.daemon.base_url,
            str(running.daemon.workspace),
            count,
            prompts,
            text,
            transport=transport,
            token=running.daemon.spec.token,
            timeout_s=timeout_s,
        )
        result = TransportComparison(rest, over_acp)
        return self.reported(result)

    @keyword(tags=("acp", "limits"))
    def probe_acp_connection_cap(
        self, *, transport: Transport = "ws", past: int = 2, daemon: str | None = None
    ) -> CapProbe:
        """Open ``/acp`` connections up to the daemon's cap (``limits.acpConnectionCap`` of ``/daemon/status``)
        and ``past`` more, then close one and open one again; everything is closed at the end.

        Args:
            transport: ``ws`` or ``http``.
            past: Connections to try past the first refusal (1 to 100).

        Returns:
            ``CapProbe``: ``transport``, ``reported_cap`` (int or None), ``accepted`` (int), ``refusals`` (tuple
            of refusals: ``http_status``, ``error_code``, ``error_message``, ``close_code``, ``close_reason``,
            ``retry_after``), ``reopened`` (bool or None), ``connect_ms`` (tuple); ``figures()`` and ``line()``.

        Example:
            | ${cap}= | Probe Acp Connection Cap |
            | Should Be Equal As Integers | ${cap.accepted} | ${cap.reported_cap} |
        """
        running = self.ctx.get(daemon)
        status = running.client.daemon_status()
        reported = (status.get("limits") or {}).get("acpConnectionCap")
        probe = cap_probe.probe_connection_cap(
            running.daemon.base_url,
            transport=transport,
            past=past,
            reported_cap=reported if isinstance(reported, int) else None,
            token=running.daemon.spec.token,
        )
        return self.reported(probe)
