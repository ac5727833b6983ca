"""The daemon's HTTP routes as methods (httpx). Non-expected statuses raise :class:`DaemonHttpError`."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from keywords.errors import DaemonHttpError, HarnessConfigError


@dataclass(frozen=True)
class Reply:
    """One HTTP answer.

    Attributes:
        status: HTTP status.
        body: Parsed JSON (or text when the body is not JSON, ``None`` when empty).
        headers: Response headers with lower-case names.
        elapsed_ms: Request to full response, monotonic clock, milliseconds.
    """

    status: int
    body: Any
    headers: dict[str, str]
    elapsed_ms: float

    @property
    def code(self) -> str | None:
        """The daemon's error ``code`` field, if any."""
        return self.body.get("code") if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class SessionInfo:
    """A created or attached session (``POST /session``).

    Attributes:
        session_id: The session's id.
        client_id: The ``clientId`` the daemon gave this client.
        attached: Whether the answer attached to an existing session instead of creating one.
        workspace_cwd: The session's workspace folder.
        elapsed_ms: ``POST /session`` to its answer (monotonic clock, ms); after an agent crash it includes
            the agent's respawn.
    """

    session_id: str
    client_id: str | None
    attached: bool
    workspace_cwd: str | None
    elapsed_ms: float

    def figures(self) -> dict[str, Any]:
        """``createMs`` (the request's round trip) and ``attached``."""
        return {"createMs": round(self.elapsed_ms, 1), "attached": self.attached}

    def line(self) -> str:
        """One line: created or attached, and how long it took."""
        return f"session {'attached' if self.attached else 'created'} in {self.elapsed_ms:.1f} ms"


@dataclass(frozen=True)
class PromptAccepted:
    """The 202 answer to a prompt: the turn runs in the background and reports over SSE.

    Attributes:
        prompt_id: The daemon's id of the prompt.
        last_event_id: The session's last event id when the prompt was accepted (the turn's events follow it).
        event_epoch: The session's event epoch, if the daemon sent one.
        elapsed_ms: POST to the 202 (monotonic clock, ms).
        posted_at: Monotonic time (s) the POST was sent; turn times count from it.
    """

    prompt_id: str
    last_event_id: int
    event_epoch: str | None
    elapsed_ms: float
    posted_at: float = 0.0


class DaemonClient:
    """Synchronous client of one daemon (loopback only).

    Args:
        base_url: ``http://127.0.0.1:<port>``.
        token: Bearer token, sent as ``Authorization: Bearer ...`` (never logged).
        timeout_s: Per-request timeout for short routes.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        if not base_url.startswith("http://127.0.0.1:"):
            raise HarnessConfigError(f"Only loopback daemons (http://127.0.0.1:<port>) are targets, got {base_url!r}.")
        self.base_url = base_url
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
            trust_env=False,
        )

    def close(self) -> None:
        """Close pooled sockets (an idle keep-alive socket delays daemon shutdown by 5 s)."""
        self.http.close()

    # -- generic ----------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        expected: tuple[int, ...] | None = (200,),
        route: str | None = None,
    ) -> Reply:
        """Send one request; raise :class:`DaemonHttpError` when the status is not in ``expected``.

        Args:
            method: HTTP method.
            path: Path with query, e.g. ``/session/abc/prompt``.
            json_body: Object sent as JSON (with ``Content-Type: application/json``).
            headers: Extra headers (``X-Qwen-Client-Id``, ``Last-Event-ID``...).
            expected: Accepted statuses; ``None`` accepts any.
            route: Route template for messages (defaults to ``path``).
        """
        started = time.monotonic()
        content = None
        hdrs = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        response = self.http.request(method, path, content=content, headers=hdrs)
        elapsed = (time.monotonic() - started) * 1000
        reply = Reply(response.status_code, _parse(response), dict(response.headers), elapsed)
        if expected is not None and reply.status not in expected:
            raise DaemonHttpError(method, route or path, reply.status, reply.body, reply.headers, elapsed)
        return reply

    @staticmethod
    def _client_header(client_id: str | None) -> dict[str, str]:
        return {"X-Qwen-Client-Id": client_id} if client_id else {}

    # -- health and status ------------------------------------------------------------------------
    def health(self, deep: bool = False, expected: tuple[int, ...] | None = (200,)) -> Reply:
        """``GET /health`` (``?deep=1`` for the aggregated view)."""
        return self.request("GET", "/health?deep=1" if deep else "/health", expected=expected)

    def capabilities(self) -> dict:
        """``GET /capabilities``."""
        return self.request("GET", "/capabilities").body

    def daemon_status(self, detail: str = "summary") -> dict:
        """``GET /daemon/status?detail=...``."""
        return self.request("GET", f"/daemon/status?detail={detail}", route="/daemon/status").body

    def workspace_mcp(self) -> dict:
        """``GET /workspace/mcp`` (the agent's MCP status)."""
        return self.request("GET", "/workspace/mcp").body

    def acp_status(self) -> dict:
        """``GET /workspace/acp/status``."""
        return self.request("GET", "/workspace/acp/status").body

    def preheat(self, timeout_ms: int | None = None) -> dict:
        """``POST /workspace/acp/preheat``: start the agent child now."""
        query = f"?timeoutMs={timeout_ms}" if timeout_ms else ""
        return self.request("POST", f"/workspace/acp/preheat{query}", json_body={}).body

    # -- sessions ---------------------------------------------------------------------------------
    def create_session(
        self,
        scope: str | None = "thread",
        *,
        cwd: str | None = None,
        session_id: str | None = None,
        client_id: str | None = None,
    ) -> SessionInfo:
        """``POST /session``. ``scope`` ``thread`` always creates; ``single`` attaches to the default one."""
        body: dict[str, Any] = {}
        if scope:
            body["sessionScope"] = scope
        if cwd:
            body["cwd"] = cwd
        if session_id:
            body["sessionId"] = session_id
        reply = self.request("POST", "/session", json_body=body, headers=self._client_header(client_id))
        b = reply.body
        return SessionInfo(
            b["sessionId"], b.get("clientId"), bool(b.get("attached")), b.get("workspaceCwd"), reply.elapsed_ms
        )

    def prompt(
        self,
        session_id: str,
        text: str,
        *,
        client_id: str | None = None,
        deadline_ms: int | None = None,
    ) -> PromptAccepted:
        """``POST /session/:id/prompt`` with one text block; the daemon answers 202 at once."""
        body: dict[str, Any] = {"prompt": [{"type": "text", "text": text}]}
        if deadline_ms is not None:
            body["deadlineMs"] = deadline_ms
        posted_at = time.monotonic()
        reply = self.request(
            "POST",
            f"/session/{session_id}/prompt",
            json_body=body,
            headers=self._client_header(client_id),
            expected=(200, 202),
            route="/session/:id/prompt",
        )
        b = reply.body
        return PromptAccepted(
            b.get("promptId", ""), int(b.get("lastEventId", 0)), b.get("eventEpoch"), reply.elapsed_ms, posted_at
        )

    def _session_post(
        self, session_id: str, action: str, client_id: str | None, expected: tuple[int, ...] | None
    ) -> Reply:
        """``POST /session/:id/<action>`` with an empty JSON body, as ``client_id`` when given."""
        return self.request(
            "POST",
            f"/session/{session_id}/{action}",
            json_body={},
            headers=self._client_header(client_id),
            expected=expected,
            route=f"/session/:id/{action}",
        )

    def cancel(self, session_id: str, client_id: str | None = None) -> Reply:
        """``POST /session/:id/cancel`` (204)."""
        return self._session_post(session_id, "cancel", client_id, (204,))

    def close_session(
        self, session_id: str, client_id: str | None = None, expected: tuple[int, ...] | None = (204,)
    ) -> Reply:
        """``DELETE /session/:id`` (204; 404 when already gone)."""
        return self.request(
            "DELETE",
            f"/session/{session_id}",
            headers=self._client_header(client_id),
            expected=expected,
            route="/session/:id",
        )

    def close_sessions(self, session_ids: Iterable[str], client_id: str | None = None) -> None:
        """Close each session, as clean-up: one already gone, or a close that fails (a daemon that died), is
        passed over and does not keep the others open."""
        for session_id in session_ids:
            with contextlib.suppress(Exception):
                self.close_session(session_id, client_id, expected=None)

    def detach(self, session_id: str, client_id: str | None = None) -> Reply:
        """``POST /session/:id/detach`` (204)."""
        return self._session_post(session_id, "detach", client_id, (204,))

    def heartbeat(self, session_id: str, client_id: str | None = None) -> dict:
        """``POST /session/:id/heartbeat``."""
        return self._session_post(session_id, "heartbeat", client_id, (200,)).body

    def session_status(self, session_id: str, expected: tuple[int, ...] | None = (200,)) -> Reply:
        """``GET /session/:id/status``."""
        return self.request("GET", f"/session/{session_id}/status", expected=expected, route="/session/:id/status")

    def pending_prompts(self, session_id: str) -> list[dict]:
        """``GET /session/:id/pending-prompts``."""
        return self.request(
            "GET", f"/session/{session_id}/pending-prompts", route="/session/:id/pending-prompts"
        ).body.get("pendingPrompts", [])


def _parse(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
