"""Keywords that call every route of a daemon without, with a wrong and with the right bearer token."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Literal

from robot.api import TestSuiteBuilder, logger
from robotlibcore import keyword

from keywords import checks
from keywords.components.component import Component
from keywords.context import RunningDaemon
from keywords.daemon.routes import RouteCoverage, scan_build
from keywords.errors import HarnessConfigError
from keywords.traffic import guarded
from keywords.traffic.guarded import Expectation, GuardResult, RouteCall, RouteCaller, RouteTargets

Auth = Literal["none", "wrong", "right"]
Via = Literal["header", "subprotocol"]
OpenWhen = Literal["never", "without-require-auth", "always"]
Untested = Literal["fail", "warn"]
_ROUTE_NAME = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|WS) /\S*$")


class SecurityKeywords(Component):
    """Call routes with a chosen authentication and compare a table of routes with the build's routes.

    Placeholders in a path are filled per daemon: ``{session}`` with a session the keywords create on first
    use, ``{workspace}`` with the daemon's workspace id, any other ``{name}`` with an id the daemon does not
    know. The right token is the daemon's own (from `Start Daemon`'s ``token``); it never passes through a
    Robot variable here and is blanked out of every body excerpt.
    """

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._callers: dict[str, tuple[RouteCaller, RouteTargets]] = {}

    def _caller(self, daemon: str | None) -> tuple[RunningDaemon, RouteCaller, RouteTargets]:
        running = self.ctx.get(daemon)
        name = running.daemon.name
        if name not in self._callers:
            token = running.daemon.spec.token
            if not token:
                raise HarnessConfigError(
                    f"{name} was started without a token: start it with `Start Daemon    token=...` to check "
                    "its routes with and without the bearer token."
                )
            caller = RouteCaller(running.daemon.base_url, token)
            session = running.client.create_session("thread").session_id
            workspace = running.client.capabilities()["workspaces"][0]["id"]
            self._callers[name] = (caller, RouteTargets(session, workspace, str(uuid.uuid4())))

            def forget() -> None:
                caller.close()
                self._callers.pop(name, None)

            running.daemon.on_stop(forget)
        caller, targets = self._callers[name]
        return running, caller, targets

    @staticmethod
    def _mode(running: RunningDaemon) -> str:
        return "--token --require-auth" if running.daemon.spec.require_auth else "--token"

    @keyword(tags=("security",))
    def call_route(
        self,
        route: str,
        *,
        auth: Auth = "right",
        via: Via = "header",
        body: str | None = None,
        daemon: str | None = None,
    ) -> RouteCall:
        """Call one route of a daemon started with a token, without it, with a wrong one or with the right one.

        The path's placeholders are filled for this daemon (see the library introduction of this group):
        ``{session}`` a live session, ``{workspace}`` the workspace id, any other ``{name}`` an unknown id.

        Args:
            route: Method and path, e.g. ``GET /session/{session}/status`` or ``WS /acp`` (a WebSocket upgrade).
            auth: ``none`` (no token), ``wrong`` (a token that is not the daemon's) or ``right``.
            via: ``header`` (``Authorization: Bearer``) or ``subprotocol`` (``qwen-bearer.<base64url>``, the way
                a browser authenticates a WebSocket; ``WS`` routes only).
            body: Text sent as the JSON body (malformed on purpose if wanted); empty or ``None``: no body.

        Returns:
            A ``RouteCall`` with ``method``, ``path``, ``auth``, ``via``, ``status`` (``int``; for ``WS`` 101
            when accepted, ``None`` when closed without an answer), ``body`` (``str``, at most 300 characters,
            the token blanked out), ``elapsed_ms`` (``float``), ``code`` and ``error`` (``str`` or ``None``: the
            JSON answer's fields), ``figures()`` and ``line()``.

        Example:
            | ${call}= | Call Route | GET /session/{session}/status | auth=none | daemon=${daemon.name} |
            | Route Call Should Get | ${call} | 401 Unauthorized |
            | ${ws}= | Call Route | WS /acp | auth=right | via=subprotocol |
        """
        method, path = guarded.parse_route(route)
        guarded.validate(method, path, auth, via)
        _, caller, targets = self._caller(daemon)
        made = caller.call(method, path, targets, auth=auth, via=via, body=body or None)
        return self.reported(made)

    @keyword(tags=("security",))
    def route_call_should_get(self, call: RouteCall, expected: str) -> None:
        """Fail unless a call got what it must: a status with an optional code or error word, or ``absent``.

        The failure reads in one sentence, e.g. ``GET /session/{session}/status answered 200 without a token;
        expected 401 Unauthorized.``, then the body excerpt.

        Args:
            call: A `Call Route` result.
            expected: ``401 Unauthorized``, ``200``, ``404 session_not_found`` (the JSON answer's ``code`` or
                ``error`` must equal the word) or ``absent`` (not served in this configuration: Express's
                ``Cannot GET`` page, or a WebSocket closed without an answer).

        Example:
            | Route Call Should Get | ${call} | 404 session_not_found |
        """
        guarded.check(call, Expectation.parse(expected))

    @keyword(tags=("security",))
    def route_should_be_guarded(
        self,
        route: str,
        expected: str,
        *,
        body: str | None = None,
        open_when: OpenWhen = "never",
        daemon: str | None = None,
    ) -> GuardResult:
        """Call a route without a token, with a wrong one and with the right one; each must get its answer.

        Without the right token the daemon must refuse with ``401 Unauthorized`` (on a WebSocket path it does
        not serve, it closes before it looks at the token: no answer), unless the route is open by design in
        this daemon's mode (``open_when``); then every call must get what the right token gets. WebSocket
        routes carry the token as the ``qwen-bearer.`` subprotocol.

        Args:
            route: Method and path with placeholders, e.g. ``POST /session/{session}/cancel``.
            expected: What the right token gets: ``200``, ``202``, ``404 session_not_found``, ``101`` (an
                accepted WebSocket), ``absent`` (not served in this configuration).
            body: JSON text sent with each call (empty or ``None``: no body).
            open_when: ``never`` (default), ``without-require-auth`` (open on a daemon started with ``--token``
                but without ``--require-auth``, like ``/health``) or ``always`` (guarded by its own secret).

        Returns:
            A ``GuardResult`` with ``method``, ``path``, ``mode`` (``--token`` or ``--token --require-auth``),
            ``calls`` (the three ``RouteCall`` objects), ``call(auth)``, ``figures()`` and ``line()``.

        Example:
            | ${guard}= | Route Should Be Guarded | GET /session/{session}/status | 200 | daemon=${daemon.name} |
            | Route Should Be Guarded | GET /health | 200 | open_when=without-require-auth |
            | Route Should Be Guarded | WS /acp | 101 |
        """
        method, path = guarded.parse_route(route)
        right = Expectation.parse(expected)
        open_when = checks.choice("open_when", open_when, guarded.OPEN_CHOICES)
        running, caller, targets = self._caller(daemon)
        mode = self._mode(running)
        refused = guarded.refusal(method, right, open_when=open_when, require_auth=running.daemon.spec.require_auth)
        via = "subprotocol" if method == guarded.WEBSOCKET else "header"
        calls = []
        for auth, must in (("none", refused), ("wrong", refused), ("right", right)):
            made = caller.call(method, path, targets, auth=auth, via=via, body=body or None)
            calls.append(made)
            guarded.check(made, must, mode)
        result = GuardResult(method, path, mode, tuple(calls))
        return self.reported(result)

    @keyword(tags=("security",))
    def every_route_should_be_in_the_table(self, table: str = "", *, untested: Untested = "fail") -> RouteCoverage:
        """Compare the routes the daemon build under test registers with a table of routes, and report the gaps.

        The build is the one the library tests (``DAEMON_ENTRY``, ``QWEN_SERVE_ENTRY`` or the pinned release);
        its routes come from its bundle (``keywords/daemon/routes.py``). The table is a ``.robot`` file whose
        test names are routes (``GET /session/{session}/status``, ``WS /acp``): placeholders match any
        parameter. Each route the table lacks is logged as a ``FINDING:`` warning naming it and where it is
        registered, and so is each registration whose path could not be read.

        Args:
            table: The ``.robot`` file (default: the current suite's file).
            untested: ``fail`` (default: a route nobody checked fails the test, with the list in its message)
                or ``warn`` (only the warnings).

        Returns:
            A ``RouteCoverage`` with ``build``, ``served`` (``int``), ``rows`` (``int``), ``untested`` (the
            ``Route`` objects, each with ``method``, ``path``, ``source``), ``unresolved``, ``not_served``
            (rows the build lacks, ``tuple[str, ...]``), ``scan_ms`` (``float``), ``complete`` (``bool``),
            ``findings()``, ``figures()`` and ``line()``.

        Example:
            | ${coverage}= | Every Route Should Be In The Table |
            | Set Test Message | ${coverage.line()} |
        """
        mode = checks.choice("untested", untested, ("fail", "warn"))
        source = Path(table or self.variable("${SUITE SOURCE}", "") or "")
        if not source.is_file():
            raise HarnessConfigError(
                f"table must be a .robot file whose test names are routes, got {str(source) or 'nothing'!r}."
            )
        rows = routes_in_table(source)
        if not rows:
            raise HarnessConfigError(
                f"{source.name} has no test named after a route (like 'GET /health'); nothing to compare."
            )
        started = time.monotonic()
        scan = scan_build(self.ctx.source().entry)
        coverage = RouteCoverage.of(scan, rows, (time.monotonic() - started) * 1000)
        for finding in coverage.findings():
            logger.warn(finding)
        for row in coverage.not_served:
            self.info(f"The build serves no route matching the row {row}.")
        self.info(coverage.line())
        if mode == "fail" and not coverage.complete:
            unread = f" and {len(coverage.unresolved)} registrations could not be read" if coverage.unresolved else ""
            raise AssertionError(
                f"Every route of the build should be in the table, but {len(coverage.untested)} are not{unread}: "
                f"{coverage.line()}"
            )
        return coverage


def routes_in_table(source: Path) -> list[tuple[str, str]]:
    """``(method, path)`` of every test of a ``.robot`` file whose name is a route (``GET /health``)."""
    suite = TestSuiteBuilder(process_curdir=False).build(str(source))
    rows = []
    for test in suite.all_tests:
        if _ROUTE_NAME.match(test.name):
            method, _, path = test.name.partition(" ")
            rows.append((method, path))
    return rows
