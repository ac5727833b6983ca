"""The routes of a daemon build read from its bundle, and calling a route with a chosen authentication.

The bundle tests use small hand-written JavaScript files in the shapes the bundler writes (no daemon); the
caller tests run against a loopback HTTP + WebSocket server in this process that checks the bearer token the
way the daemon does.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from websockets.sync.server import serve

from keywords.components.security_keywords import routes_in_table
from keywords.daemon.provision import release_source
from keywords.daemon.routes import WEBSOCKET, Route, RouteCoverage, RouteScanError, route_key, scan_build
from keywords.errors import HarnessConfigError, HarnessError
from keywords.traffic import guarded
from keywords.traffic.guarded import (
    ABSENT,
    UNAUTHORIZED,
    Expectation,
    GuardResult,
    RouteCall,
    RouteCaller,
    RouteTargets,
    parse_route,
    refusal,
)

ROOT = Path(__file__).parent.parent


def bundle(tmp_path: Path, **chunks: str) -> Path:
    """A build folder: an entry script and ``chunks/<name>.js`` files; returns the entry."""
    (tmp_path / "chunks").mkdir()
    entry = tmp_path / "cli-entry.js"
    entry.write_text('import("./chunks/server.js");\n')
    for name, text in chunks.items():
        (tmp_path / "chunks" / f"{name}.js").write_text(text)
    return entry


def served(entry: Path) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in scan_build(entry).routes}


# -- matching routes and rows ----------------------------------------------------------------------------


def test_route_key_matches_placeholders_params_queries_and_trailing_slashes():
    assert route_key("get", "/session/{session}/events?x=1") == ("GET", "/session/{}/events")
    assert route_key("GET", "/session/:id/events/") == ("GET", "/session/{}/events")
    assert route_key("WS", "/workspaces/:workspace/acp") == route_key("ws", "/workspaces/{workspace}/acp")
    assert route_key("GET", "/health?deep=1") == ("GET", "/health")
    assert route_key("GET", "/") == ("GET", "/")
    assert route_key("POST", "/session") != route_key("GET", "/session")
    assert route_key("GET", "/a/b") != route_key("GET", "/a/{b}")


# -- reading a bundle ---------------------------------------------------------------------------------------


def test_literal_registrations_on_one_or_several_lines_are_found(tmp_path):
    entry = bundle(
        tmp_path,
        server="""
function registerThings(app, deps) {
  app.get("/health", (req, res) => res.json({}));
  app.post(
    "/session/:id/prompt",
    mutate(),
    async (req, res) => {
      res.status(202).end();
    }
  );
  app.delete('/session/:id', handler);
  app.use("/capabilities", (_req, _res, next) => next());
  const mode = app.get("trust proxy fn");
  other.get("/not/a/route", handler);
  myapp.get("/not/either", handler);
}
""",
    )
    assert served(entry) == {("GET", "/health"), ("POST", "/session/:id/prompt"), ("DELETE", "/session/:id")}


def test_constants_templates_and_fallbacks_are_resolved(tmp_path):
    entry = bundle(
        tmp_path,
        server="""
var PREFIX = "/workspaces/";
function registerAcp(app, opts) {
  const path24 = opts.path ?? "/acp";
  const pluralAcpPath = "/workspaces/:workspace/acp";
  app.post(path24, (req, res) => handle(req, res));
  app.get(pluralAcpPath, (req, res) => handle(req, res));
  const sub = "status";
  app.get(`${path24}/${sub}`, (req, res) => handle(req, res));
}
""",
    )
    assert served(entry) == {("POST", "/acp"), ("GET", "/workspaces/:workspace/acp"), ("GET", "/acp/status")}


def test_loop_variables_give_one_route_per_element(tmp_path):
    entry = bundle(
        tmp_path,
        server="""
import { ASSETS } from "./assets.js";
function registerLoops(app, deps) {
  for (const action of ["load", "resume"]) {
    app.post(`/standalone/sessions/:id/${action}`, deps.mutate(), handler);
  }
  for (const [routeAction, bridgeAction] of [
    ["approve", "approve"],
    ["clear-auth", "clearAuth"]
  ]) {
    app.post(`/workspace/mcp/:server/${routeAction}`, handler);
  }
  for (const {
    route,
    contentType
  } of ASSETS) {
    app.get(route, (_req, res) => res.sendFile(route));
  }
}
""",
        assets="""
var ASSETS = [
  { route: "/manifest.webmanifest", contentType: "application/manifest+json" },
  { route: "/sw.js", contentType: "text/javascript" }
];
export { ASSETS };
""",
    )
    assert served(entry) == {
        ("POST", "/standalone/sessions/:id/load"),
        ("POST", "/standalone/sessions/:id/resume"),
        ("POST", "/workspace/mcp/:server/approve"),
        ("POST", "/workspace/mcp/:server/clear-auth"),
        ("GET", "/manifest.webmanifest"),
        ("GET", "/sw.js"),
    }


def test_parameters_are_resolved_from_every_call_also_in_other_files(tmp_path):
    entry = bundle(
        tmp_path,
        server="""
import { registerCrud } from "./crud.js";
function registerFor(app, base, resolveRuntime, deps) {
  app.post(`${base}/runtime/ensure`, handler);
  app.get(
    `${base}/runtime/status`,
    handler
  );
}
function registerAll(app, deps) {
  registerFor(
    app,
    "/workspace",
    (_req, res) => null,
    deps
  );
  registerFor(app, "/workspaces/:workspace", (req, res) => resolve(req, res), deps);
  const register = /* @__PURE__ */ __name((prefix, resolveRuntime) => {
    app.get(`${prefix}/channels`, handler);
  }, "register");
  register("/workspace", primary);
  register("/workspaces/:workspace", qualified);
  const registerBatch = /* @__PURE__ */ __name((action) => {
    app.post(`/sessions/${action}`, handler);
  }, "registerBatch");
  registerBatch("archive");
  registerBatch("delete");
  registerCrud(app, { prefix: "", mutate, resolveTarget: (_req, res) => ({ a: 1, b: [2, 3] }) });
  registerCrud(app, {
    resolveTarget: (req, res) => null,
    prefix: "/workspaces/:workspace"
  });
}
""",
        crud="""
function registerCrud(app, deps) {
  const {
    prefix,
    resolveTarget,
    mutate
  } = deps;
  const base = `${prefix}/scheduled-tasks`;
  app.get(base, handler);
  app.delete(`${base}/:id`, mutate(), handler);
}
export { registerCrud };
""",
    )
    assert served(entry) == {
        ("POST", "/workspace/runtime/ensure"),
        ("GET", "/workspace/runtime/status"),
        ("POST", "/workspaces/:workspace/runtime/ensure"),
        ("GET", "/workspaces/:workspace/runtime/status"),
        ("GET", "/workspace/channels"),
        ("GET", "/workspaces/:workspace/channels"),
        ("POST", "/sessions/archive"),
        ("POST", "/sessions/delete"),
        ("GET", "/scheduled-tasks"),
        ("DELETE", "/scheduled-tasks/:id"),
        ("GET", "/workspaces/:workspace/scheduled-tasks"),
        ("DELETE", "/workspaces/:workspace/scheduled-tasks/:id"),
    }


def test_websocket_paths_of_the_upgrade_listener_are_found(tmp_path):
    entry = bundle(
        tmp_path,
        server="""
var CDP_PATH = "/cdp";
var PLURAL_WS_PREFIX = "/workspaces/";
var PLURAL_ACP_WS_SUFFIX = "/acp";
function pluralSelector(rawPath, suffix) {
  if (!rawPath.startsWith(PLURAL_WS_PREFIX) || !rawPath.endsWith(suffix)) return null;
  return rawPath.slice(PLURAL_WS_PREFIX.length, rawPath.length - suffix.length);
}
function setup(opts, httpServer) {
  const path24 = opts.path ?? "/acp";
  app.get(path24, handler);
  const listener = (req, socket, head) => {
    const rawPath = pathname(req.url);
    const isCdp = opts.cdp === true && rawPath === CDP_PATH;
    const extra = opts.extraWsRoutes?.find((route) => route.path === rawPath);
    const plural = pluralSelector(rawPath, PLURAL_ACP_WS_SUFFIX);
    if (rawPath !== path24 && !isCdp && !extra && plural === null) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws));
  };
  httpServer.on("upgrade", listener);
}
createThing({
  extraWsRoutes: [
    ...live ? [{ path: "/live/web", onConnection: (ws) => ws.close() }] : [],
    { path: "/voice/stream", onConnection: (ws) => ws.close() }
  ]
});
""",
    )
    ws = {path for method, path in served(entry) if method == WEBSOCKET}
    assert ws == {"/acp", "/cdp", "/workspaces/:workspace/acp", "/live/web", "/voice/stream"}


def test_a_path_the_patterns_cannot_read_is_reported_not_dropped(tmp_path):
    entry = bundle(
        tmp_path,
        server="""
function registerOdd(app, deps) {
  app.get("/known", handler);
  app.get(deps.paths.computed(), handler);
}
""",
    )
    scan = scan_build(entry)
    assert [(r.method, r.path) for r in scan.routes] == [("GET", "/known")]
    assert len(scan.unresolved) == 1
    odd = scan.unresolved[0]
    assert odd.method == "GET" and "computed" in odd.expression and odd.source == "chunks/server.js:4"
    coverage = RouteCoverage.of(scan, [("GET", "/known")], 1.0)
    assert not coverage.complete
    assert any("could not be read" in f and "chunks/server.js:4" in f for f in coverage.findings())


def test_a_bundle_without_registrations_fails_clearly(tmp_path):
    entry = bundle(tmp_path, other="function f() { return client.get('/x'); }\n")
    with pytest.raises(RouteScanError) as caught:
        scan_build(entry)
    assert isinstance(caught.value, HarnessError)
    message = str(caught.value)
    assert message.startswith(f"no route registrations found in {tmp_path}")
    assert "the bundle layout changed; update keywords/daemon/routes.py" in message


def test_sources_name_file_and_line(tmp_path):
    entry = bundle(tmp_path, server='\n\n  app.get("/health", handler);\n')
    (route,) = scan_build(entry).routes
    assert route == Route("GET", "/health") and route.source == "chunks/server.js:3"


# -- the table against the build --------------------------------------------------------------------------


def test_coverage_names_every_untested_route_and_every_row_the_build_lacks(tmp_path):
    entry = bundle(
        tmp_path,
        server='app.get("/health", h);\napp.post("/session/:id/cancel", h);\napp.get("/session/:id/events", h);\n',
    )
    scan = scan_build(entry)
    rows = [("GET", "/health?deep=1"), ("POST", "/session/{session}/cancel"), ("GET", "/gone")]
    coverage = RouteCoverage.of(scan, rows, 12.34)
    assert [str(r) for r in coverage.untested] == ["GET /session/:id/events"]
    assert coverage.not_served == ("GET /gone",)
    assert not coverage.complete
    assert coverage.findings() == [
        "FINDING: untested route GET /session/:id/events (registered at chunks/server.js:3): no row of the "
        "table checks its bearer guard."
    ]
    assert coverage.line() == "3 routes served, 3 rows, 1 untested: GET /session/:id/events"
    assert coverage.figures() == {
        "servedRoutes": 3,
        "tableRoutes": 3,
        "untestedRoutes": 1,
        "unresolvedRegistrations": 0,
        "rowsNotServed": 1,
        "scanMs": 12.3,
    }
    full = RouteCoverage.of(scan, [*rows, ("GET", "/session/{session}/events")], 1.0)
    assert full.complete and full.untested == () and full.findings() == []


def test_the_table_is_read_from_the_test_names_of_a_suite(tmp_path):
    suite = tmp_path / "table.robot"
    suite.write_text(
        "*** Test Cases ***\n"
        "The Table Has A Row For Every Route\n    No Operation\n"
        "GET /health?deep=1\n    No Operation\n"
        "WS /acp\n    No Operation\n"
        "POST /session/{session}/cancel\n    No Operation\n"
    )
    assert routes_in_table(suite) == [("GET", "/health?deep=1"), ("WS", "/acp"), ("POST", "/session/{session}/cancel")]


def pinned_entry() -> Path:
    try:
        return Path(release_source(install=False).entry)
    except HarnessError as exc:  # the release is installed by ./harness setup
        pytest.skip(f"the pinned daemon release is not installed: {exc}")


def test_the_pinned_release_is_read_completely_and_the_suite_has_a_row_for_each_of_its_routes():
    scan = scan_build(pinned_entry())
    assert scan.unresolved == ()
    keys = scan.keys
    for method, path in [
        ("GET", "/health"),
        ("POST", "/session"),
        ("GET", "/session/:id/events"),
        ("POST", "/acp"),
        ("WS", "/acp"),
        ("WS", "/workspaces/:workspace/acp"),
        ("POST", "/channels/:channelName/webhooks/:source"),
        ("GET", "/workspaces/:workspace/scheduled-tasks"),
        ("POST", "/workspace/extensions/:name/enable"),
    ]:
        assert route_key(method, path) in keys, (method, path)
    coverage = RouteCoverage.of(scan, routes_in_table(ROOT / "suites" / "security" / "routes.robot"), 0.0)
    assert coverage.complete, coverage.line()
    assert coverage.not_served == ()


# -- expectations -------------------------------------------------------------------------------------------


def call(status, body="", *, method="GET", auth="none", via="header", code=None, error=None) -> RouteCall:
    return RouteCall(method, "/session/{session}/status", auth, via, status, body, 1.25, code, error)


def test_expectations_are_read_from_the_table_words():
    assert Expectation.parse("200") == Expectation("200", 200, None, False)
    assert Expectation.parse(" 404 session_not_found ") == Expectation(
        "404 session_not_found", 404, "session_not_found", False
    )
    assert Expectation.parse("500 Method not found").detail == "Method not found"
    assert Expectation.parse("absent").absent
    for bad in ("ok", "99", "600 x", "", "2OO"):
        with pytest.raises(HarnessConfigError, match=r"^expected must be a (status|whole number) from 100 to 599"):
            Expectation.parse(bad)


def test_an_expectation_checks_status_and_the_code_or_error_word():
    unauthorized = Expectation.parse("401 Unauthorized")
    assert unauthorized.met_by(call(401, '{"error":"Unauthorized"}', error="Unauthorized"))
    assert not unauthorized.met_by(call(401, '{"error":"Invalid webhook secret"}', error="Invalid webhook secret"))
    assert not unauthorized.met_by(call(200, "{}"))
    missing = Expectation.parse("404 session_not_found")
    assert missing.met_by(call(404, "{}", code="session_not_found", error="No session"))
    assert not missing.met_by(call(404, "<pre>Cannot GET /x</pre>"))
    assert Expectation.parse("401 Unauthorized").met_by(call(401, "Unauthorized", method="WS"))


def test_absent_means_the_express_404_page_or_a_websocket_closed_without_answer():
    assert ABSENT.met_by(call(404, "<!DOCTYPE html><pre>Cannot GET /sw.js</pre>"))
    assert not ABSENT.met_by(call(404, '{"error":"No session"}', code="session_not_found"))
    assert not ABSENT.met_by(call(401, '{"error":"Unauthorized"}', error="Unauthorized"))
    assert ABSENT.met_by(call(None, method="WS"))
    assert not ABSENT.met_by(call(101, method="WS"))


def test_the_failure_reads_as_one_plain_sentence():
    got = call(200, '{"sessionId":"s"}')
    with pytest.raises(AssertionError) as caught:
        guarded.check(got, UNAUTHORIZED, "--token --require-auth")
    first, second = str(caught.value).split("\n")
    assert first == "GET /session/{session}/status answered 200 without a token; expected 401 Unauthorized."
    assert second == 'Daemon: --token --require-auth. Body: {"sessionId":"s"}'
    with pytest.raises(AssertionError, match=r"answered no answer \(connection closed\) with the right subprotocol"):
        guarded.check(call(None, method="WS", auth="right", via="subprotocol"), Expectation.parse("101"))
    guarded.check(call(401, "{}", error="Unauthorized"), UNAUTHORIZED)  # passes silently


def test_routes_open_by_design_must_answer_without_the_token_as_with_it():
    ok = Expectation.parse("200")
    assert refusal("GET", ok, open_when="never", require_auth=False) == UNAUTHORIZED
    assert refusal("GET", ok, open_when="without-require-auth", require_auth=False) == ok
    assert refusal("GET", ok, open_when="without-require-auth", require_auth=True) == UNAUTHORIZED
    webhook = Expectation.parse("401 Invalid webhook secret")
    assert refusal("POST", webhook, open_when="always", require_auth=True) == webhook
    assert refusal("WS", ABSENT, open_when="never", require_auth=True) == ABSENT
    assert refusal("GET", ABSENT, open_when="never", require_auth=True) == UNAUTHORIZED


def test_routes_and_arguments_are_checked_before_anything_is_sent():
    assert parse_route("get /health") == ("GET", "/health")
    assert parse_route("WS /acp") == ("WS", "/acp")
    for bad in ("/health", "GET", "FETCH /x", "GET health"):
        with pytest.raises(HarnessConfigError):
            parse_route(bad)
    with pytest.raises(HarnessConfigError, match="auth must be one of none, wrong, right; got 'maybe'"):
        guarded.validate("GET", "/x", "maybe", "header")
    with pytest.raises(HarnessConfigError, match="via=subprotocol needs method WS"):
        guarded.validate("GET", "/x", "right", "subprotocol")
    with pytest.raises(HarnessConfigError, match="Only loopback daemons"):
        RouteCaller("http://10.0.0.1:80", "t")


def test_placeholders_are_filled_per_daemon():
    targets = RouteTargets("sess-1", "ws 1", "nobody")
    assert targets.fill("/session/{session}/x/{requestId}") == "/session/sess-1/x/nobody"
    assert targets.fill("/workspaces/{workspace}/acp?x={server}") == "/workspaces/ws%201/acp?x=nobody"
    assert targets.fill("/health") == "/health"


def test_a_guard_result_reports_its_three_calls():
    calls = (
        call(401, error="Unauthorized", auth="none"),
        call(401, error="Unauthorized", auth="wrong"),
        call(200, auth="right"),
    )
    result = GuardResult("GET", "/session/{session}/status", "--token", calls)
    assert result.figures() == {
        "noTokenStatus": 401,
        "wrongTokenStatus": 401,
        "rightTokenStatus": 200,
        "rightTokenMs": 1.25,
    }
    assert result.line() == (
        "GET /session/{session}/status (--token): no token 401 Unauthorized, wrong token 401 Unauthorized, "
        "right token 200 in 1.2 ms"
    )
    assert call(None, method="WS").figures() == {"status": None, "answered": False, "elapsedMs": 1.25}


# -- calling a loopback server that checks the token like the daemon --------------------------------------

TOKEN = "s3cret-token-for-tests"


class _Daemonish(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: dict | str, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.path == "/open":
            return self._answer(200, {"status": "ok"})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, {"error": "Unauthorized"})
        if self.path == "/echo":
            return self._answer(200, {"youSent": self.headers.get("Authorization"), "body": body})
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"retry: 3000\n\n")
            self.wfile.flush()
            threading.Event().wait(3)  # a stream that stays open: the caller must not wait for its end
            return None
        return self._answer(404, f"<pre>Cannot {self.command} {self.path}</pre>", "text/html")

    do_GET = do_POST = do_DELETE = _route


@pytest.fixture(scope="module")
def http_base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Daemonish)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def ws_base():
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    def check(connection, request):
        if request.path not in ("/acp",):
            return Response(404, "Not Found", Headers(), b"")
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        wanted = "qwen-bearer." + base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("=")
        header = request.headers.get("Authorization", "")
        if wanted not in [p.strip() for p in offered.split(",")] and header != f"Bearer {TOKEN}":
            return Response(401, "Unauthorized", Headers(), b"")
        return None

    server = serve(lambda ws: ws.close(), "127.0.0.1", 0, process_request=check, select_subprotocol=lambda c, p: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    server.shutdown()


TARGETS = RouteTargets("s1", "w1", "u1")


def test_the_caller_sends_no_wrong_or_right_token_and_reads_json_fields(http_base):
    caller = RouteCaller(http_base, TOKEN, timeout_s=5)
    try:
        none = caller.call("GET", "/echo", TARGETS, auth="none")
        wrong = caller.call("GET", "/echo", TARGETS, auth="wrong")
        right = caller.call("POST", "/echo", TARGETS, auth="right", body='{"a":1}')
        open_route = caller.call("GET", "/open", TARGETS, auth="none")
        missing = caller.call("GET", "/nothing", TARGETS, auth="right")
    finally:
        caller.close()
    assert (none.status, none.error, wrong.status, wrong.error) == (401, "Unauthorized", 401, "Unauthorized")
    assert right.status == 200 and '"body": "{\\"a\\":1}"' in right.body
    assert open_route.status == 200 and open_route.auth == "none"
    assert ABSENT.met_by(missing) and missing.answer() == "404 (Express 'Cannot' page: no such route)"
    assert right.elapsed_ms > 0


def test_the_token_is_blanked_out_of_every_body_excerpt(http_base):
    caller = RouteCaller(http_base, TOKEN, timeout_s=5)
    try:
        echoed = caller.call("GET", "/echo", TARGETS, auth="right")
    finally:
        caller.close()
    assert echoed.status == 200
    assert TOKEN not in echoed.body and "Bearer ***" in echoed.body
    assert TOKEN not in repr(echoed)


def test_an_event_stream_is_read_up_to_its_first_chunk_not_to_its_end(http_base):
    caller = RouteCaller(http_base, TOKEN, timeout_s=5)
    try:
        stream = caller.call("GET", "/events", TARGETS, auth="right")
    finally:
        caller.close()
    assert stream.status == 200 and stream.body == "retry: 3000"
    assert stream.elapsed_ms < 2500  # the server keeps the stream open for 3 s


def test_a_websocket_upgrade_carries_the_token_as_the_bearer_subprotocol(ws_base):
    caller = RouteCaller(ws_base, TOKEN, timeout_s=5)
    try:
        none = caller.call("WS", "/acp", TARGETS, auth="none", via="subprotocol")
        wrong = caller.call("WS", "/acp", TARGETS, auth="wrong", via="subprotocol")
        right = caller.call("WS", "/acp", TARGETS, auth="right", via="subprotocol")
        header = caller.call("WS", "/acp", TARGETS, auth="right", via="header")
    finally:
        caller.close()
    assert (none.status, wrong.status, right.status, header.status) == (401, 401, 101, 101)
    assert UNAUTHORIZED.met_by(none) and UNAUTHORIZED.met_by(wrong)
    assert right.line().startswith("WS /acp with the right subprotocol token: 101 in ")


def test_a_websocket_closed_without_an_answer_has_no_status(tmp_path):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def drop():
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.close()

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    caller = RouteCaller(f"http://127.0.0.1:{listener.getsockname()[1]}", TOKEN, timeout_s=5)
    try:
        dropped = caller.call("WS", "/cdp", TARGETS, auth="right", via="subprotocol")
    finally:
        caller.close()
        listener.close()
    thread.join(5)
    assert dropped.status is None and ABSENT.met_by(dropped)
