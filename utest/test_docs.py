"""Every public keyword is documented: a docstring with an ``Example:`` section, its arguments and what it returns.

The rule (checked on the library as libdoc sees it):

- the documentation is not empty and has an ``Example:`` section with at least one Robot table row (``| ... |``);
- every argument is documented: in the ``Args:`` section (Robot Framework 7.5 moves it out of the text and shows
  it next to the argument in libdoc) or named in the text; ``daemon`` is exempt, as the library introduction
  documents it once for all keywords;
- a keyword whose return annotation is not ``None`` says what it returns (a ``Returns:`` section, which libdoc
  also shows separately, or a sentence with "return").

``docs/keywords.html`` is generated with ``python -m robot.libdoc keywords.QwenServe docs/keywords.html``; a test
checks it is not older than the keyword list (regenerate it when this fails).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from robot.libdocpkg import LibraryDocumentation

ROOT = Path(__file__).parent.parent
DOCUMENTED_ONCE = {"daemon"}


def keywords():
    return LibraryDocumentation("keywords.QwenServe").keywords


def returns_something(kw) -> bool:
    ret = kw.args.return_type
    return ret is not None and str(ret) not in ("None", "")


def problems(kw) -> list[str]:
    doc = kw.doc or ""
    found = []
    if not doc.strip():
        return ["has no documentation"]
    if not re.search(r"^\s*Examples?:\s*$", doc, re.M):
        found.append("has no 'Example:' section")
    elif not re.search(r"^\s*\|.*\|\s*$", doc.split("Example", 1)[1], re.M):
        found.append("has an 'Example:' section without a table row (| Keyword | arg |)")
    for arg in kw.args:
        name = arg.name
        if name in DOCUMENTED_ONCE:
            continue
        if getattr(arg, "doc", ""):  # documented in an ``Args:`` section (Robot 7.5 parses it out of the doc)
            continue
        if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", doc):
            found.append(f"does not document its argument '{name}'")
    if returns_something(kw) and not getattr(kw.args, "return_doc", "") and not re.search(r"return", doc, re.I):
        found.append(f"returns {kw.args.return_type} but its documentation does not say what it returns")
    return found


ALL = keywords()


@pytest.mark.parametrize("kw", ALL, ids=[kw.name for kw in ALL])
def test_keyword_is_documented(kw):
    issues = problems(kw)
    assert not issues, f"Keyword '{kw.name}' " + "; ".join(issues) + f" (source: {kw.source}:{kw.lineno})"


def test_the_rule_catches_a_missing_example_argument_and_return():
    class Args(list):
        return_type = "dict"

    class Fake:
        name, doc, source, lineno = "Fake", "Does things.", "x", 1
        args = Args([type("A", (), {"name": "count"})()])

    assert problems(Fake) == [
        "has no 'Example:' section",
        "does not document its argument 'count'",
        "returns dict but its documentation does not say what it returns",
    ]


def test_generated_keyword_documentation_lists_every_keyword_and_no_machine_path(tmp_path):
    out = tmp_path / "keywords.html"
    proc = subprocess.run(
        [sys.executable, "-m", "keywords.keyword_docs", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = out.read_text(encoding="utf-8")
    missing = [kw.name for kw in ALL if kw.name not in html]
    assert not missing, f"the generated documentation lacks {missing}"
    assert str(ROOT) not in html, "the documentation names the folder of this checkout"
    assert '"source": "keywords/components/' in html or '"source":"keywords/components/' in html
