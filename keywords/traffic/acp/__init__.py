"""The daemon's second transport: ACP (JSON-RPC 2.0) at ``/acp``, over a WebSocket or over HTTP with SSE.

What the 0.24.4 bundle does (``packages/cli/src/serve/acp-http``; measured where the suites say so):

* **WebSocket** (``ws://127.0.0.1:<port>/acp``): the first message must be ``initialize``; its answer carries
  ``agentCapabilities._meta.qwen.connectionId``. Everything else of the connection (answers, the sessions'
  ``session/update`` notifications, ``_qwen/notify`` frames for the other bus events, the daemon's requests)
  arrives on the same socket. The bearer token goes in the ``Authorization`` header (a browser offers it as
  the subprotocol ``qwen-bearer.<base64url>``).
* **HTTP**: ``POST /acp`` with ``initialize`` answers 200 with the result and the header ``Acp-Connection-Id``;
  every later message is a ``POST /acp`` carrying that header (answered 202, the result comes on a stream);
  ``GET /acp`` with ``Accept: text/event-stream`` is the connection's stream, and with ``Acp-Session-Id`` too,
  the stream of one session the connection owns. ``DELETE /acp`` ends the connection.
* **Cap**: 64 live connections (``limits.acpConnectionCap``). Past it a WebSocket ``initialize`` gets the error
  ``-32603 "Too many connections"`` and the close code 1013; an HTTP one gets 503 with ``Retry-After: 5``.
* **Permissions**: a permission request reaches the connection as a JSON-RPC *request*
  ``session/request_permission`` with the id ``_qwen_perm_<connection>_<n>`` and the daemon's request id in
  ``_meta.qwen.requestId``, so the same request can be answered over REST.

:class:`AcpConnection` is one connection, with a reader thread that files every frame; :func:`run_acp_turns`

The modules: :mod:`.messages` (the protocol's constants, the refusals and errors, what a connection hands out),
:mod:`.acp_connection` (one connection with a reader thread that files every frame), :mod:`.transport_runs`
(the same prompt workload over REST/SSE and over ``/acp``) and :mod:`.cap_probe` (the connection cap). The
framing is the ``websockets`` library's (sync client) and ``sseclient-py``'s; nothing here writes WebSocket
frames by hand.

Nothing here imports Robot Framework; the reader threads never log.
"""
