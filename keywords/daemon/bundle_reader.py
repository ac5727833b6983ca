"""Reading a daemon build's bundled JavaScript: where its route registrations are and what their paths resolve to.

No JavaScript parser: a bracket walk that skips string, template and regular-expression literals, and the few
binding shapes the bundler writes (declarations, loop variables, function parameters and the fields
destructured from them). :mod:`keywords.daemon.routes` turns what this finds into a build's route list.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

WEBSOCKET = "WS"
"""The method name of a WebSocket upgrade path."""

_REGISTRATION = re.compile(r"app\.(get|post|put|patch|delete|all)\(")
_IDENT = r"[A-Za-z_$][\w$]*"
_MAX_DEPTH = 8
_MAX_SCAN = 200_000  # characters one bracket walk may cover


_INTERESTING = re.compile(r"[\"'`/()\[\]{},]")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def _literal_end(text: str, i: int) -> int:
    """Index just past the string, template or comment starting at ``text[i]`` (``i + 1`` for a lone ``/``)."""
    quote = text[i]
    if quote == "/":
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            return len(text) if end < 0 else end + 2
        if text.startswith("//", i):
            end = text.find("\n", i)
            return len(text) if end < 0 else end
        return i + 1
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == quote:
            return j + 1
        if quote == "`" and text.startswith("${", j):
            j = _group_end(text, j + 1)
            continue
        j += 1
    return len(text)


def _walk(text: str, i: int, max_items: int | None = None) -> tuple[int, list[tuple[int, int]]]:
    """Walk the bracket group opening at ``text[i]``: (index past its end, spans of its top-level items).

    Stops early once ``max_items`` items are complete (the end is then where it stopped).
    """
    stack = [_CLOSING[text[i]]]
    spans: list[tuple[int, int]] = []
    start = j = i + 1
    limit = min(len(text), i + _MAX_SCAN)
    while stack:
        m = _INTERESTING.search(text, j, limit)
        if m is None:
            return limit, spans
        j = m.start()
        c = text[j]
        if c in "\"'`/":
            j = _literal_end(text, j)
            continue
        if c in _CLOSING:
            stack.append(_CLOSING[c])
        elif c == ",":
            if len(stack) == 1:
                spans.append((start, j))
                start = j + 1
                if max_items is not None and len(spans) >= max_items:
                    return j, spans
        elif c == stack[-1]:
            stack.pop()
            if not stack:
                spans.append((start, j))
        j += 1
    return j, spans


def _group_end(text: str, i: int) -> int:
    """Index just past the bracket group (``(``, ``[`` or ``{``) opening at ``text[i]``."""
    return _walk(text, i)[0]


def _items(text: str, i: int, max_items: int | None = None) -> list[tuple[str, int]]:
    """The top-level, comma-separated items (text, start) of the group opening at ``text[i]``."""
    items = []
    for a, b in _walk(text, i, max_items)[1]:
        raw = text[a:b]
        item = _strip(raw)
        if item:
            items.append((item, a + len(raw) - len(raw.lstrip())))
    return items


def _starts_name(text: str, pos: int) -> bool:
    """Whether a name starts at ``pos`` (not inside a longer name, not a property: ``x.name``)."""
    return pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in "_$.")


def _strip(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S).strip()


def _string_value(literal: str) -> str | None:
    """The value of a plain ``"..."``/``'...'`` literal, or of a template without ``${}``."""
    if len(literal) >= 2 and literal[0] == literal[-1] and literal[0] in "\"'`":
        body = literal[1:-1]
        if literal[0] == "`" and "${" in body:
            return None
        return re.sub(r"\\(.)", r"\1", body)
    return None


def _names(params: str) -> list[str]:
    """Parameter names of a parameter list (defaults and rest markers dropped)."""
    names = []
    for part in params.split(","):
        name = part.split("=", 1)[0].strip().lstrip(".").strip()
        names.append(name)
    return names


@dataclass(frozen=True)
class _Binding:
    """Where a name gets its value: ``declaration`` (value at ``end``), ``loop`` (array at ``end``; ``pick``:
    None for the element, an index into it or a field name), ``parameter`` (``pick``-th parameter of
    ``function``) or ``field`` (destructured from ``source``)."""

    kind: str
    start: int
    end: int
    pick: int | str | None = None
    function: str = ""
    source: str = ""


_DECLARATIONS = [re.compile(rf"{kw}\s+({_IDENT})\s*=(?!=)\s*") for kw in ("const", "let", "var")]
_LOOP = re.compile(r"for\s*\(\s*(?:const|let)\s+(\[[^\]]*\]|\{[^}]*\}|[A-Za-z_$][\w$]*)\s+of\s+")
_FUNCTION = re.compile(rf"function\s+({_IDENT})\s*\(([^)]*)\)\s*\{{")
_ARROW = re.compile(r"\)\s*=>")
_ARROW_HEAD = re.compile(rf"({_IDENT})\s*=\s*(?:/\*\s*@__PURE__\s*\*/\s*)?(?:__name\(\s*)?(?:async\s+)?$")
_DESTRUCTURES = [re.compile(rf"{kw}\s*\{{([^}}]*)\}}\s*=\s*({_IDENT})\s*;") for kw in ("const", "let", "var")]


def _arrows(text: str):
    """``(name, parameters, start)`` of every ``name = (params) =>`` (also wrapped in ``__name(...)``)."""
    for m in _ARROW.finditer(text):
        open_at = text.rfind("(", max(0, m.start() - 400), m.start())
        if open_at < 0 or ")" in text[open_at + 1 : m.start()]:
            continue
        head = _ARROW_HEAD.search(text, max(0, open_at - 120), open_at)
        if head is not None and _starts_name(text, head.start()):
            yield head.group(1), text[open_at + 1 : m.start()], head.start()


def _bindings(text: str) -> dict[str, list[_Binding]]:
    """Every declaration, loop variable, parameter and destructured field of a file, by name."""
    found: dict[str, list[_Binding]] = {}

    def add(name: str, binding: _Binding) -> None:
        if re.fullmatch(_IDENT, name):
            found.setdefault(name, []).append(binding)

    for pattern in _DECLARATIONS:
        for m in pattern.finditer(text):
            if _starts_name(text, m.start()):
                add(m.group(1), _Binding("declaration", m.start(), m.end()))
    for m in _LOOP.finditer(text):
        target = m.group(1)
        if target[0] == "[":
            for i, name in enumerate(_names(target[1:-1])):
                add(name, _Binding("loop", m.start(), m.end(), i))
        elif target[0] == "{":
            for name in _names(target[1:-1]):
                add(name, _Binding("loop", m.start(), m.end(), name))
        else:
            add(target, _Binding("loop", m.start(), m.end()))
    headers = [(m.group(1), m.group(2), m.start()) for m in _FUNCTION.finditer(text)]
    for function, params, start in [*headers, *_arrows(text)]:
        for i, name in enumerate(_names(params)):
            add(name, _Binding("parameter", start, start, i, function=function))
    for pattern in _DESTRUCTURES:
        for m in pattern.finditer(text):
            if _starts_name(text, m.start()):
                for name in _names(m.group(1)):
                    add(name, _Binding("field", m.start(), m.end(), source=m.group(2)))
    return found


class JsBundle:
    """The text of a build's JavaScript files, with the resolver of path expressions."""

    def __init__(self, texts: dict[Path, str], root: Path) -> None:
        self.texts = texts
        self.root = root
        self._indexes: dict[Path, dict[str, list[_Binding]]] = {}
        self._newlines: dict[Path, list[int]] = {}

    @cached_property
    def route_files(self) -> list[Path]:
        """The files with at least one ``app.<method>(`` call (where route functions are defined and called)."""
        return [f for f, text in self.texts.items() if _REGISTRATION.search(text)]

    def where(self, file: Path, pos: int) -> str:
        """``chunks/x.js:123``."""
        try:
            name = file.relative_to(self.root).as_posix()
        except ValueError:
            name = file.name
        if file not in self._newlines:
            self._newlines[file] = [m.start() for m in re.finditer("\n", self.texts[file])]
        return f"{name}:{bisect.bisect_left(self._newlines[file], pos) + 1}"

    # -- registrations ----------------------------------------------------------------------------------
    def http_registrations(self):
        """``(METHOD, expression, paths or None, source)`` of every ``app.<method>(path, ...)`` call."""
        for file in self.route_files:
            text = self.texts[file]
            for m in _REGISTRATION.finditer(text):
                if not _starts_name(text, m.start()):
                    continue
                args = _items(text, text.index("(", m.start()), max_items=2)
                if len(args) < 2:  # app.get("setting") reads an Express setting; a route has a handler
                    continue
                expression, at = args[0]
                paths = self.resolve(file, expression, at)
                if paths is not None and not any(p.startswith("/") for p in paths):
                    continue
                yield m.group(1).upper(), expression, paths, self.where(file, m.start())

    def ws_paths(self):
        """``("WS", expression, paths or None, source)`` of the paths the WebSocket upgrade listener accepts.

        The listener compares ``rawPath`` with each path (``rawPath !== path``, ``rawPath === CDP_PATH``),
        matches workspace-qualified shapes with a helper called as ``helper(rawPath, SUFFIX)`` (a prefix
        checked with ``startsWith(PREFIX)``, a selector, the suffix), and takes further paths from
        ``extraWsRoutes: [{ path: "..." }]``.
        """
        for file, text in self.texts.items():
            if "rawPath" not in text or "handleUpgrade" not in text:
                continue
            for m in re.finditer(rf"rawPath\s*[!=]==\s*({_IDENT}|\"[^\"]*\")", text):
                if not _starts_name(text, m.start()) or m.group(1) in ("void", "null", "undefined"):
                    continue
                yield WEBSOCKET, m.group(1), self.resolve(file, m.group(1), m.start(1)), self.where(file, m.start())
            for m in re.finditer(rf"\(\s*rawPath\s*,\s*({_IDENT})\s*\)", text):
                head = re.search(rf"({_IDENT})$", text[max(0, m.start() - 120) : m.start()])
                if head is None or text[max(0, m.start() - len(head.group(1)) - 9) : m.start()].startswith("function"):
                    continue  # not a call, or the helper's own definition
                helper, suffix = head.group(1), m.group(1)
                paths = self._qualified_ws_paths(file, helper, suffix, m.start(1))
                yield WEBSOCKET, f"{helper}(rawPath, {suffix})", paths, self.where(file, m.start())
            for m in re.finditer(r"extraWsRoutes:\s*\[", text):
                body = text[m.end() - 1 : _group_end(text, m.end() - 1)]
                for p in re.finditer(r"(?<![\w$])path:\s*(\"[^\"]*\")", body):
                    yield WEBSOCKET, p.group(1), [_string_value(p.group(1))], self.where(file, m.start() + p.start())

    def _qualified_ws_paths(self, file: Path, helper: str, suffix: str, at: int) -> list[str] | None:
        text = self.texts[file]
        definition = re.search(rf"function\s+{re.escape(helper)}\s*\(", text)
        suffixes = self.resolve(file, suffix, at)
        if definition is None or suffixes is None:
            return None
        body_start = text.find("{", definition.end())
        body = text[body_start : _group_end(text, body_start)]
        prefix = re.search(rf"\.startsWith\(\s*({_IDENT}|\"[^\"]*\")\s*\)", body)
        prefixes = self.resolve(file, prefix.group(1), definition.start()) if prefix else None
        if not prefixes:
            return None
        return [f"{p.rstrip('/')}/:workspace{s}" for p in prefixes for s in suffixes]

    # -- resolving expressions --------------------------------------------------------------------------
    def resolve(self, file: Path, expression: str, pos: int, depth: int = 0) -> list[str] | None:
        """The literal values ``expression`` (at ``pos`` of ``file``) can take, or ``None``."""
        expression = _strip(expression)
        if depth > _MAX_DEPTH or not expression:
            return None
        value = _string_value(expression)
        if value is not None:
            return [value]
        if expression.startswith("`") and expression.endswith("`"):
            return self._template(file, expression, pos, depth)
        if re.fullmatch(_IDENT, expression):
            return self._identifier(file, expression, pos, depth)
        fallback = re.fullmatch(r".*\?\?\s*(\"[^\"]*\"|'[^']*')", expression, flags=re.S)
        if fallback:
            return [_string_value(fallback.group(1)) or ""]
        return None

    def _template(self, file: Path, template: str, pos: int, depth: int) -> list[str] | None:
        parts = re.split(r"\$\{([^{}]*)\}", template[1:-1])
        choices: list[list[str]] = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                choices.append([part])
                continue
            values = self.resolve(file, part, pos, depth + 1)
            if values is None:
                return None
            choices.append(values)
        return ["".join(c) for c in itertools.product(*choices)]

    def _identifier(self, file: Path, name: str, pos: int, depth: int) -> list[str] | None:
        """Values of ``name`` from its nearest binding before ``pos`` (declaration, loop, parameter)."""
        text = self.texts[file]
        index = self.index(file)
        best = max((b for b in index.get(name, ()) if b.start < pos), key=lambda b: b.start, default=None)
        if best is None:
            return self._global(name, depth)
        if best.kind == "declaration":
            value = text[best.end : best.end + 2000]
            if value[:1] in "\"'`":
                return self.resolve(file, value[: _literal_end(value, 0)], best.end, depth + 1)
            statement = re.match(r"[^;\n]*", value).group(0)
            return self.resolve(file, statement, best.end, depth + 1)
        if best.kind == "loop":
            return self._iterable(file, best.end, best.pick, depth)
        if best.kind == "parameter":
            return self._arguments(file, best.function, best.start, best.pick, None, depth)
        # a field destructured from a parameter of the enclosing function
        for header in sorted(index.get(best.source, ()), key=lambda b: b.start, reverse=True):
            if header.kind == "parameter" and header.start < best.start:
                return self._arguments(file, header.function, header.start, header.pick, name, depth)
        return None

    def index(self, file: Path) -> dict[str, list[_Binding]]:
        """Every binding of ``file`` by name (computed once per file)."""
        if file not in self._indexes:
            self._indexes[file] = _bindings(self.texts[file])
        return self._indexes[file]

    def _global(self, name: str, depth: int) -> list[str] | None:
        """A top-level ``var NAME = ...`` of any file (a chunk imports it from another)."""
        top = re.compile(rf"^(?:var|const|let)\s+{re.escape(name)}\s*=", flags=re.M)
        ordered = [*self.route_files, *(f for f in self.texts if f not in self.route_files)]
        for file in ordered:
            text = self.texts[file]
            if name in text:
                m = top.search(text)
                if m is not None:
                    return self._identifier(file, name, m.end(), depth + 1)
        return None

    def _iterable(self, file: Path, at: int, pick: int | str | None, depth: int) -> list[str] | None:
        """Values from the array a ``for ... of`` loop at ``at`` walks (an element, its ``pick``-th item or
        its ``pick`` field)."""
        text = self.texts[file]
        start = at
        if text[start] != "[":
            ident = re.match(_IDENT, text[start:])
            if ident is None:
                return None
            for source, source_text in [(file, text), *self.texts.items()]:
                decl = re.search(
                    rf"^(?:var|const|let)\s+{re.escape(ident.group(0))}\s*=\s*(?:Object\.freeze\()?\[",
                    source_text,
                    flags=re.M,
                )
                if decl is not None:
                    file, text, start = source, source_text, decl.end() - 1
                    break
            else:
                return None
        values: list[str] = []
        for item, item_at in _items(text, start):
            if pick is None:
                found = self.resolve(file, item, item_at, depth + 1)
            elif isinstance(pick, int):
                inner = _items(item, 0) if item.startswith("[") else []
                found = self.resolve(file, inner[pick][0], item_at, depth + 1) if pick < len(inner) else None
            else:
                field_match = re.search(rf"(?<![\w$]){re.escape(pick)}\s*:\s*(\"[^\"]*\"|'[^']*'|`[^`]*`)", item)
                found = self.resolve(file, field_match.group(1), item_at, depth + 1) if field_match else None
            if found is None:
                return None
            values += found
        return values or None

    def _arguments(
        self, file: Path, function: str, defined_at: int, index: int, field_name: str | None, depth: int
    ) -> list[str] | None:
        """Values the ``index``-th argument (or its ``field_name`` field) takes over every call of
        ``function`` (defined at ``defined_at`` of ``file``)."""
        text = self.texts[file]
        fn = re.escape(function)
        call = re.compile(rf"{fn}\s*\(")
        declared = text.startswith("function", defined_at)
        sites: list[tuple[Path, int]] = []
        end = len(text)
        if not declared:  # a local arrow: its calls come after it, up to the next definition of that name
            redefinition = re.compile(rf"{fn}\s*=[^=>]")
            later = next(
                (m for m in redefinition.finditer(text, defined_at + len(function)) if _starts_name(text, m.start())),
                None,
            )
            end = len(text) if later is None else later.start()
        sites += [
            (file, m.end() - 1)
            for m in call.finditer(text, 0 if declared else defined_at, end)
            if _starts_name(text, m.start())
        ]
        if declared:
            for other in self.route_files:
                other_text = self.texts[other]
                if other != file and function + "(" in other_text:
                    sites += [
                        (other, m.end() - 1) for m in call.finditer(other_text) if _starts_name(other_text, m.start())
                    ]
        values: list[str] = []
        for site_file, paren in sites:
            site_text = self.texts[site_file]
            header = site_text[max(0, paren - len(function) - 12) : paren]
            if re.search(rf"function\s+{fn}\s*$", header):
                continue  # the definition itself
            args = _items(site_text, paren)
            if index >= len(args):
                continue
            arg, arg_at = args[index]
            if field_name is None:
                found = self.resolve(site_file, arg, arg_at, depth + 1)
            elif arg.startswith("{"):
                fields = {t.split(":", 1)[0].strip(): (t, a) for t, a in _items(arg, 0)}
                entry = fields.get(field_name)
                if entry is None:
                    continue
                item, item_at = entry
                value = item.split(":", 1)[1] if ":" in item else item
                found = self.resolve(site_file, value, arg_at + item_at, depth + 1)
            else:
                found = None
            if found is None:
                return None
            values += found
        return values or None
