"""``python -m keywords.keyword_docs [OUT]``: write the keyword documentation (Libdoc HTML) with repo-relative sources.

Libdoc records the absolute path of every keyword's source file; this writes the spec, makes those paths
relative to the harness checkout, and renders the HTML from the rewritten spec, so the page names no folder
of any particular machine. Default output: ``docs/keywords.html`` (not committed; ``./harness docs`` writes it).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from robot.libdoc import libdoc

ROOT = Path(__file__).resolve().parent.parent


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
