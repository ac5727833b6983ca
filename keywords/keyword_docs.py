"""``python -m keywords.keyword_docs [OUT]``: write the keyword documentation (Libdoc HTML) with repo-relative sources.

Libdoc records the absolute path of every keyword's source file; this writes the spec, makes those paths
relative to the harness checkout, and renders the HTML from the rewritten spec, so the page names no folder
of any particular machine. Default output: ``docs/keywords.html`` (not committed; ``./harness docs`` writes it).

:func:`with_returned_fields` completes a keyword's ``Returns:`` section with a table of every field of the object
it returns (and of the objects those fields hold), each with its type and meaning, taken from the dataclass
itself and the ``Attributes:`` of its docstring, so the documentation can neither cut a field off nor drift
from the code. The library serves keyword documentation through it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sys
import tempfile
import types
import typing
from collections.abc import Callable
from pathlib import Path

from robot.libdoc import libdoc

ROOT = Path(__file__).resolve().parent.parent
FIELDS_HEADING = "Fields of"
MAX_NESTED = 6


def returned_classes(function: Callable) -> list[type]:
    """The dataclasses a keyword returns (its return annotation, unwrapped from lists and unions), and the
    dataclasses their fields hold, one level down; each once, the returned ones first."""
    try:
        hint = typing.get_type_hints(function).get("return")
    except Exception:  # an annotation that cannot be resolved documents nothing extra
        return []
    top = _dataclasses_in(hint)
    nested = [cls for outer in top for f in _fields(outer) for cls in _dataclasses_in(f[1])]
    out: list[type] = []
    for cls in [*top, *nested[:MAX_NESTED]]:
        if cls not in out:
            out.append(cls)
    return out


def _dataclasses_in(hint: object) -> list[type]:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return [hint]
    found: list[type] = []
    for arg in typing.get_args(hint):
        found += [c for c in _dataclasses_in(arg) if c not in found]
    return found


def _fields(cls: type) -> list[tuple[str, object]]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        hints = {}
    return [(f.name, hints.get(f.name, f.type)) for f in dataclasses.fields(cls) if not f.name.startswith("_")]


def type_name(hint: object) -> str:
    """A type as a reader writes it: ``int``, ``float | None``, ``list[FlowRecord]``, ``dict[str, int]``."""
    if hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(hint))
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{args}]" if args else name
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def attribute_docs(cls: type) -> dict[str, str]:
    """``name -> text`` of the ``Attributes:`` sections of a class and its bases (continuation lines joined).

    A field a base class declares is documented in the base's docstring; the class's own line wins.
    """
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is not object:
            out.update(_own_attribute_docs(klass))
    return out


def _own_attribute_docs(cls: type) -> dict[str, str]:
    doc = cls.__dict__.get("__doc__") or ""
    match = re.search(r"^Attributes:\s*$(.*?)(?=^\S|\Z)", inspect.cleandoc(doc), re.M | re.S)
    if not match:
        return {}
    out: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        item = re.match(r"^    (\w+):\s*(.*)$", line)
        if item:
            current = item.group(1)
            out[current] = item.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out


def _properties(cls: type) -> list[tuple[str, str, str]]:
    """Public properties: name, type, the first sentence of their docstring."""
    out = []
    for name, member in inspect.getmembers(cls, lambda m: isinstance(m, property)):
        if name.startswith("_"):
            continue
        hint = typing.get_type_hints(member.fget).get("return", "") if member.fget else ""
        out.append((name, type_name(hint) if hint != "" else "", _first_sentence(inspect.getdoc(member) or "")))
    return out


def _first_sentence(text: str) -> str:
    return " ".join(text.split("\n\n", 1)[0].split())


def _cell(text: str) -> str:
    """A table cell: Sphinx roles (``:class:`a.b.C```) as code (````C````), pipes escaped, ``-`` when empty."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`", r"``\1``", text)
    return text.replace("|", "\\|") or "-"


def fields_table(cls: type) -> list[str]:
    """Robot documentation rows: a heading, then ``| field | type | meaning |`` for each field and property."""
    docs = attribute_docs(cls)
    rows = [f"{FIELDS_HEADING} ``{cls.__name__}``:", "| =Field= | =Type= | =Meaning= |"]
    for name, hint in _fields(cls):
        rows.append(f"| ``{name}`` | ``{_cell(type_name(hint))}`` | {_cell(docs.get(name, ''))} |")
    for name, hint, text in _properties(cls):
        rows.append(f"| ``{name}`` | ``{_cell(hint)}`` | {_cell(text)} (a property) |")
    return rows


def with_returned_fields(doc: str, function: Callable) -> str:
    """``doc`` with a table of the fields of each dataclass ``function`` returns, at the end of its ``Returns:``
    section (one is added when the docstring has none)."""
    classes = returned_classes(function)
    if not classes:
        return doc
    lines = doc.splitlines()
    indent = "    "
    tables: list[str] = []
    for cls in classes:
        tables += ["", *(indent + row for row in fields_table(cls))]
    start = next((i for i, line in enumerate(lines) if line.strip() == "Returns:"), None)
    if start is None:
        example = next((i for i, line in enumerate(lines) if re.match(r"^\s*Examples?:\s*$", line)), len(lines))
        block = ["Returns:", f"{indent}``{classes[0].__name__}``.", *tables, ""]
        return "\n".join(lines[:example] + block + lines[example:])
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(" ")):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[:end] + tables + lines[end:])


def _relative(value: object) -> object:
    if isinstance(value, dict):
        return {k: (_relative_path(v) if k == "source" else _relative(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v) for v in value]
    return value


def _relative_path(source: object) -> object:
    if isinstance(source, str) and source.startswith(str(ROOT)):
        return Path(source).relative_to(ROOT).as_posix()
    return source


def build(out: Path) -> Path:
    """Write the HTML documentation of ``keywords.QwenServe`` to ``out``; returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "QwenServe.json"
        libdoc("keywords.QwenServe", str(spec), format="JSON", quiet=True)
        spec.write_text(json.dumps(_relative(json.loads(spec.read_text(encoding="utf-8")))), encoding="utf-8")
        libdoc(str(spec), str(out), format="HTML", quiet=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = build(Path(args[0]) if args else ROOT / "docs" / "keywords.html")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
