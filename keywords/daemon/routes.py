"""The routes a daemon build serves, read from its bundled JavaScript by pattern.

The daemon registers its HTTP routes as Express calls (``app.get("/health", ...)``, ``app.post(path, ...)``)
in the chunks next to its entry script, and its WebSocket paths in one ``upgrade`` listener that compares
``rawPath`` with them. :func:`scan_build` finds every such registration and resolves its path expression to
the literal paths it stands for, following the few shapes the bundler writes:

* a string literal, or a template literal whose ``${name}`` parts are resolved in turn;
* a ``const name = "..."`` (also ``opts.path ?? "/acp"``: the literal fallback);
* a loop variable: ``for (const x of ["a", "b"])``, ``for (const [x, y] of [["a", ...], ...])`` and
  ``for (const { x } of LIST)``;
* a function parameter (``function f(app, base)``, ``const f = __name((base) => ...)``) or a field destructured
  from one (``const { prefix } = deps``): every call of that function gives its argument.

A registration whose path cannot be resolved this way is kept as *unresolved* (file, line, expression), so a
caller can report it instead of silently missing a route. When a build has no registration at all the scan
fails: the layout of the bundle changed and this module (or the reader) needs updating. The reading itself
(brackets, literals, bindings of the bundled JavaScript) is :mod:`keywords.daemon.bundle_reader`.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from keywords.daemon.bundle_reader import WEBSOCKET, JsBundle
from keywords.errors import HarnessError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM_SEGMENT = re.compile(r"^(?::[\w$]+\??|\{[^/{}]*\})$")
_MAX_FILE_BYTES = 64 * 1024 * 1024


class RouteScanError(HarnessError):
    """The bundle of a daemon build holds no route registration the patterns recognise."""


@dataclass(frozen=True, order=True)
class Route:
    """One route a build serves.

    Attributes:
        method: ``GET``, ``POST``, ``PUT``, ``PATCH``, ``DELETE``, ``ALL`` or ``WS`` (a WebSocket upgrade path).
        path: Express form, parameters as ``:name`` (``/session/:id/events``).
        source: Where it is registered (``chunks/server-X.js:123``); not part of equality.
    """

    method: str
    path: str
    source: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[str, str]:
        """``(method, path)`` with every parameter segment as ``{}``: how routes and table rows are matched."""
        return route_key(self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Unresolved:
    """A registration whose path expression the patterns could not turn into literal paths.

    Attributes:
        method: HTTP method (or ``WS``).
        expression: The path expression as written in the bundle.
        source: ``file:line`` of the registration.
    """

    method: str
    expression: str
    source: str

    def __str__(self) -> str:
        return f"{self.method} {self.expression} ({self.source})"


@dataclass(frozen=True)
class RouteScan:
    """What :func:`scan_build` found in one build.

    Attributes:
        build: The folder that was scanned (the entry script's folder).
        files: Number of JavaScript files read.
        routes: Every resolved route, sorted, one per (method, path).
        unresolved: Registrations whose path could not be resolved.
    """

    build: str
    files: int
    routes: tuple[Route, ...]
    unresolved: tuple[Unresolved, ...]

    @cached_property
    def keys(self) -> set[tuple[str, str]]:
        """The matching keys of every route (see :func:`route_key`)."""
        return {r.key for r in self.routes}

    def untested(self, covered: Iterable[tuple[str, str]]) -> list[Route]:
        """The routes no entry of ``covered`` (``(method, path)`` pairs, placeholders allowed) matches."""
        keys = {route_key(m, p) for m, p in covered}
        return [r for r in self.routes if r.key not in keys]

    def unknown(self, covered: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The entries of ``covered`` that match no route of this build (rows for routes it does not have)."""
        return [(m, p) for m, p in covered if route_key(m, p) not in self.keys]


@dataclass(frozen=True)
class RouteCoverage:
    """A table of routes compared with the routes a build serves.

    Attributes:
        build: The folder that was scanned.
        served: Number of routes the build registers (HTTP and WebSocket).
        rows: Number of table rows that name a route.
        untested: The routes of the build no row matches, sorted.
        unresolved: Registrations whose path could not be resolved (their routes are untested too).
        not_served: Rows that match no route of the build (``METHOD path`` as written).
        scan_ms: Time to read and scan the build, monotonic clock, ms.
    """

    build: str
    served: int
    rows: int
    untested: tuple[Route, ...]
    unresolved: tuple[Unresolved, ...]
    not_served: tuple[str, ...]
    scan_ms: float

    @classmethod
    def of(cls, scan: RouteScan, rows: Iterable[tuple[str, str]], scan_ms: float) -> RouteCoverage:
        """Compare ``rows`` (``(method, path)`` pairs, placeholders allowed) with ``scan``."""
        table = list(rows)
        return cls(
            scan.build,
            len(scan.routes),
            len(table),
            tuple(scan.untested(table)),
            scan.unresolved,
            tuple(f"{m} {p}" for m, p in scan.unknown(table)),
            scan_ms,
        )

    @property
    def complete(self) -> bool:
        """Whether every route of the build is in the table (and every registration was resolved)."""
        return not self.untested and not self.unresolved

    def findings(self) -> list[str]:
        """One ``FINDING:`` line per untested route and per unresolved registration."""
        lines = [
            f"FINDING: untested route {r} (registered at {r.source}): no row of the table checks its bearer guard."
            for r in self.untested
        ]
        lines += [
            f"FINDING: a route registration could not be read: {u}; its routes are untested "
            "(update keywords/daemon/routes.py)."
            for u in self.unresolved
        ]
        return lines

    def figures(self) -> dict[str, Any]:
        """``servedRoutes``, ``tableRoutes``, ``untestedRoutes``, ``unresolvedRegistrations``,
        ``rowsNotServed`` and ``scanMs``."""
        return {
            "servedRoutes": self.served,
            "tableRoutes": self.rows,
            "untestedRoutes": len(self.untested),
            "unresolvedRegistrations": len(self.unresolved),
            "rowsNotServed": len(self.not_served),
            "scanMs": round(self.scan_ms, 1),
        }

    def line(self) -> str:
        """``426 routes served, 426 rows, 0 untested`` followed by the untested routes, if any."""
        text = f"{self.served} routes served, {self.rows} rows, {len(self.untested)} untested"
        if self.unresolved:
            text += f", {len(self.unresolved)} registrations unreadable"
        if self.untested:
            text += ": " + ", ".join(str(r) for r in self.untested)
        if self.unresolved:
            text += "; unreadable: " + ", ".join(str(u) for u in self.unresolved)
        return text


def route_key(method: str, path: str) -> tuple[str, str]:
    """``(METHOD, path)`` for matching: query dropped, a trailing ``/`` dropped, each parameter segment
    (``:id``, ``{session}``) written ``{}``.

    ``route_key("get", "/session/{session}/events?x=1")`` and ``route_key("GET", "/session/:id/events")`` are
    both ``("GET", "/session/{}/events")``.
    """
    bare = path.split("?", 1)[0].rstrip("/") or "/"
    segments = ["{}" if _PARAM_SEGMENT.match(s) else s for s in bare.split("/")]
    return method.strip().upper(), "/".join(segments)


def bundle_files(entry: Path) -> list[Path]:
    """The JavaScript files of a build: the entry script's folder and its ``chunks/`` folder."""
    folder = entry.parent
    files = sorted(folder.glob("*.js")) + sorted((folder / "chunks").glob("*.js"))
    return [f for f in files if f.is_file() and f.stat().st_size <= _MAX_FILE_BYTES]


def scan_build(entry: str | Path) -> RouteScan:
    """Every route the build whose entry script is ``entry`` registers (HTTP and WebSocket).

    Args:
        entry: The build's entry script (``.../node_modules/@qwen-code/qwen-code/cli-entry.js`` or a local
            ``dist/cli.js``); its folder and ``chunks/`` are read.

    Raises:
        RouteScanError: no route registration was found (the bundle layout changed).
    """
    entry = Path(entry)
    files = bundle_files(entry)
    bundle = JsBundle({f: f.read_text(errors="replace") for f in files}, entry.parent)
    routes: dict[tuple[str, str], Route] = {}
    unresolved: list[Unresolved] = []
    for method, expression, paths, source in itertools.chain(bundle.http_registrations(), bundle.ws_paths()):
        if paths is None:
            unresolved.append(Unresolved(method, expression, source))
            continue
        for path in paths:
            if path.startswith("/"):
                routes.setdefault((method, path), Route(method, path, source))
    if not any(r.method != WEBSOCKET for r in routes.values()) and not unresolved:
        raise RouteScanError(
            f"no route registrations found in {entry.parent} ({len(files)} JavaScript files read): the bundle "
            "layout changed; update keywords/daemon/routes.py."
        )
    return RouteScan(str(entry.parent), len(files), tuple(sorted(routes.values())), tuple(unresolved))
