"""Every public keyword is documented: its arguments, every field of what it returns, and examples that are valid.

The rule (checked on the library as libdoc sees it):

- the documentation is not empty and has an ``Example:`` section with at least one Robot table row (``| ... |``);
- every argument is documented: in the ``Args:`` section (Robot Framework 7.5 moves it out of the text and shows
  it next to the argument in libdoc) or named in the text; ``daemon`` is exempt, as the library introduction
  documents it once for all keywords;
- a keyword whose return annotation is not ``None`` says what it returns (a ``Returns:`` section, which libdoc
  also shows separately, or a sentence with "return");
- a keyword that returns an object (a dataclass) lists every field of it, with its type and meaning, and of the
  objects those fields hold: the library completes ``Returns:`` with tables generated from the dataclasses
  (:func:`keywords.keyword_docs.with_returned_fields`), so each field needs its line in the class's
  ``Attributes:``; the hand-written part cuts no list off with "...";
- every row of every ``Example:`` is a valid call: the keyword exists (in the library, a standard library the
  suites use, RequestsLibrary or a resource file), the arguments fit its signature, and a written value of a
  typed argument converts (a mode that does not exist fails here);
- the examples of the keywords a scenario writer uses first (sessions, prompts, turns, events, flows, tables:
  :data:`RUN_SOURCES`) are run against the real daemon with the mock agent, so an example that expects what
  the daemon does not do fails (``test_the_examples_run``).

``docs/keywords.html`` is generated with ``python -m keywords.keyword_docs docs/keywords.html``; a test
checks it names every keyword and no folder of this machine.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from robot.libdocpkg import LibraryDocumentation
from robot.running.builder import ResourceFileBuilder

from keywords.keyword_docs import FIELDS_HEADING, attribute_docs, returned_classes, type_name, with_returned_fields
from keywords.library import QwenServe

ROOT = Path(__file__).parent.parent
DOCUMENTED_ONCE = {"daemon"}
OTHER_LIBRARIES = ("BuiltIn", "Collections", "String", "OperatingSystem", "Process", "RequestsLibrary")


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
BY_NAME = {kw.name: kw for kw in ALL}
LIBRARY = QwenServe()
METHODS = {kw.name: LIBRARY.keywords[re.sub(r"\W+", "_", kw.name.lower())] for kw in ALL}


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


# -- returned objects ------------------------------------------------------------------------------------------
RETURNING = [kw for kw in ALL if returned_classes(METHODS[kw.name])]


def field_problems(kw) -> list[str]:
    """What keeps ``kw``'s ``Returns:`` (as libdoc shows it) from listing every field of what it returns."""
    text = kw.args.return_doc or ""
    found = []
    for cls in returned_classes(METHODS[kw.name]):
        docs = attribute_docs(cls)
        if f"{FIELDS_HEADING} ``{cls.__name__}``:" not in text:
            found.append(f"lists no fields of {cls.__name__}")
        for f in dataclasses.fields(cls):
            if f.name.startswith("_"):
                continue
            if not docs.get(f.name):
                found.append(f"{cls.__name__}.{f.name} has no line in the class's Attributes:")
            hint = type_name(typing.get_type_hints(cls).get(f.name))
            if f"| ``{f.name}`` | ``{hint.replace('|', chr(92) + '|')}`` |" not in text:
                found.append(f"does not give {cls.__name__}.{f.name} with its type {hint}")
    written = text.split(f"{FIELDS_HEADING} ``", 1)[0]
    if re.search(r"\.\.\.(?!\])|…", written):
        found.append("cuts a list off with '...' in its Returns: text")
    return found


@pytest.mark.parametrize("kw", RETURNING, ids=[kw.name for kw in RETURNING])
def test_a_returned_object_has_every_field_with_its_type(kw):
    issues = field_problems(kw)
    assert not issues, f"Keyword '{kw.name}' " + "; ".join(issues[:10])


def test_no_hand_written_returns_text_cuts_a_list_off():
    cut = [kw.name for kw in ALL if re.search(r"\.\.\.(?!\])|…", (kw.args.return_doc or "").split(FIELDS_HEADING)[0])]
    assert not cut, f"these keywords cut a Returns: list off with '...': {cut}"


@dataclasses.dataclass
class Inner:
    """Inner.

    Attributes:
        depth: How deep, in metres.
    """

    depth: float | None


@dataclasses.dataclass
class Outer:
    """Outer.

    Attributes:
        items: Every one,
            in order.
    """

    items: list[Inner]
    count: int = 0


def outer_keyword() -> Outer:
    """Does it."""


def test_the_field_tables_come_from_the_dataclass_and_its_attributes():
    doc = with_returned_fields("Does it.\n\nReturns:\n    The thing.\n\nExample:\n    | Kw |", outer_keyword)
    assert "    | ``items`` | ``list[Inner]`` | Every one, in order. |" in doc
    assert "    | ``count`` | ``int`` | - |" in doc  # a field without its line is shown, and the test above fails
    assert "    | ``depth`` | ``float \\| None`` | How deep, in metres. |" in doc
    assert doc.index("Fields of ``Inner``") < doc.index("Example:")
    no_returns = with_returned_fields("Does it.\n\nExample:\n    | Kw |", outer_keyword)
    assert no_returns.index("Returns:\n    ``Outer``.") < no_returns.index("Example:")


# -- examples --------------------------------------------------------------------------------------------------
def _normal(name: str) -> str:
    return re.sub(r"[\s_]", "", name.lower())


def _other_keywords() -> set[str]:
    names = set()
    for library in OTHER_LIBRARIES:
        names |= {_normal(kw.name) for kw in LibraryDocumentation(library).keywords}
    for resource in (ROOT / "resources").glob("*.resource"):
        names |= {_normal(kw.name) for kw in ResourceFileBuilder().build(resource).keywords}
    return names


OURS = {_normal(kw.name): kw for kw in ALL}
OTHERS = _other_keywords()
SETTINGS = ("[teardown]", "[setup]", "suitesetup", "suiteteardown", "testsetup", "testteardown", "testtemplate")
CONTROL = ("VAR", "FOR", "END", "WHILE", "TRY", "EXCEPT", "FINALLY", "ELSE", "ELSE IF", "RETURN", "BREAK", "CONTINUE")
ASSIGN = re.compile(r"^[$@&]\{[^}]+\}\s*=?$")


def example_calls(doc: str) -> list[list[str]]:
    """The keyword calls of a documentation's ``Example:`` section: cells of each row, continuations joined,
    assignments, test names, section headers, variable rows and settings' names left out."""
    parts = re.split(r"^\s*Examples?:\s*$", doc, maxsplit=1, flags=re.M)
    calls: list[list[str]] = []
    section = "Test Cases"
    for line in (parts[1] if len(parts) > 1 else "").splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip() for c in line[1:-1].split(" | ")]
        header = re.fullmatch(r"\*\*\*\s*(.+?)\s*\*\*\*", cells[0])
        if header:
            section = header.group(1)
            continue
        if section == "Variables":
            continue
        indented = cells[0] == ""
        while cells and cells[0] == "":
            cells = cells[1:]
        if not cells:
            continue
        if cells[0] == "...":
            if calls:
                calls[-1] += cells[1:]
            continue
        if (
            section == "Test Cases"
            and not indented
            and len(cells) == 1
            and _normal(cells[0]) not in OURS.keys() | OTHERS
        ):
            continue  # a test's name
        if _normal(cells[0]) in SETTINGS:
            cells = cells[1:]
        if cells[0] in CONTROL:
            continue  # VAR, FOR, END... are Robot syntax, not keywords
        if cells[0] == "IF" and len(cells) > 2:
            cells = cells[2 : cells.index("ELSE")] if "ELSE" in cells else cells[2:]  # an inline IF's keyword
        while cells and ASSIGN.match(cells[0]):
            cells = cells[1:]
        if cells:
            calls.append(cells)
    return calls


def call_problems(cells: list[str]) -> list[str]:
    """What is wrong with one example call: an unknown keyword, arguments that do not fit, a bad written value."""
    name, args = cells[0], cells[1:]
    kw = OURS.get(_normal(name))
    if kw is None:
        return (
            [] if _normal(name) in OTHERS else [f"'{name}' is no keyword of the library, a suite library or a resource"]
        )
    spec = kw.args
    named_ok = {a.name for a in spec} - {spec.var_positional, spec.var_named}
    positional, named = [], {}
    if any(re.fullmatch(r"[@&]\{[^}]+\}", arg) for arg in args):
        return []  # a list or dictionary expanded into arguments: its length is not written
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and re.fullmatch(r"\w+", key) and (key in named_ok or spec.var_named):
            named[key] = value
        else:
            positional.append(arg)
    found = []
    most = None if spec.var_positional else len(spec.positional)
    if most is not None and len(positional) > most:
        found.append(f"'{name}' takes at most {most} positional arguments, the example gives {len(positional)}")
    given = set(named) | set(list(spec.positional)[: len(positional)])
    missing = [a for a in list(spec.positional)[: spec.minargs] if a not in given]
    if missing:
        found.append(f"'{name}' needs {', '.join(missing)}, which the example does not give")
    values = dict(zip(spec.positional, positional, strict=False)) | named
    for arg, value in values.items():
        info = spec.types.get(arg)
        if info is None or re.search(r"[$@&%]\{", value) or value == "...":
            continue
        try:
            info.convert(value, arg)
        except ValueError as exc:
            found.append(f"'{name}': {exc}")
    return found


EXAMPLES = [(kw.name, cells) for kw in ALL for cells in example_calls(kw.doc)]


def test_every_keyword_has_example_calls_to_check():
    without = [kw.name for kw in ALL if not example_calls(kw.doc)]
    assert not without, f"no call found in the Example: of {without}"


@pytest.mark.parametrize(("owner", "cells"), EXAMPLES, ids=[f"{o}: {' | '.join(c)[:60]}" for o, c in EXAMPLES])
def test_an_example_row_is_a_valid_call(owner, cells):
    issues = call_problems(cells)
    assert not issues, f"The example of '{owner}' has a row that cannot run: | {' | '.join(cells)} |: " + "; ".join(
        issues
    )


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["Turn Should End With", "${turn}", "session_dead"], "cannot be converted to 'completed', 'error'"),
        (["Run Concurrent Flows", "10", "chunkz=3"], "takes at most 1 positional arguments"),
        (["Turn Should End With"], "needs turn, outcome"),
        (["Open Sesion"], "'Open Sesion' is no keyword"),
    ],
)
def test_the_example_check_catches_a_wrong_example(cells, expected):
    assert any(expected in issue for issue in call_problems(cells)), call_problems(cells)


# -- examples that run -----------------------------------------------------------------------------------------
RUN_SOURCES = ("session_keywords.py", "event_keywords.py", "flow_keywords.py", "table_keywords.py")
"""The examples of these components' keywords run: sessions, prompts, turns, events, flows and table rows, the
keywords a scenario writer meets first, whose examples hold everything they need..."""
COSTLY_TAGS = {"load", "benchmark", "baseline", "permissions"}
"""...but not of those that run loads for many seconds, or that the permission suites run."""
PRELUDE = ["Start Daemon With Mock Agent    max_sessions=0", "${sid}    Open Session"]
SLOW = {"Run Sustained Load Row", "Run Permission Row", "Run Limit Row"}


BUILT_IN_VARIABLES = {"True", "False", "None", "EMPTY", "SPACE", "TEST NAME", "OUTPUT DIR"}


def runnable(kw) -> list[list[str]] | None:
    """The example's rows when every variable they use is the prelude's, assigned by an earlier row, a number
    or one of Robot's own (``${True}``...); ``None`` otherwise (the example needs context it does not show)."""
    if not str(kw.source).endswith(RUN_SOURCES) or COSTLY_TAGS & set(kw.tags) or kw.name in SLOW:
        return None
    parts = re.split(r"^\s*Examples?:\s*$", kw.doc, maxsplit=1, flags=re.M)
    if len(parts) < 2 or "***" in parts[1]:
        return None
    rows: list[list[str]] = []
    for line in parts[1].splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line[1:-1].split(" | ")]
            if cells[0] == "..." and rows:
                rows[-1] += cells[1:]
            elif cells[0] != "...":
                rows.append(cells)
    defined = {"sid"}
    for cells in rows:
        targets = []
        while cells[len(targets) :] and ASSIGN.match(cells[len(targets)]):
            targets.append(cells[len(targets)])
        for cell in cells[len(targets) :]:
            for used in re.findall(r"[$@&]\{([^}.\[]+)", cell):
                if used not in defined and used not in BUILT_IN_VARIABLES and not re.fullmatch(r"-?\d+(\.\d+)?", used):
                    return None
        defined |= {re.sub(r"^[$@&]\{|\}\s*=?$", "", c) for c in targets}
    return rows


RUNNABLE = {kw.name: runnable(kw) for kw in ALL}
RUNNABLE = {name: rows for name, rows in RUNNABLE.items() if rows}


def suite_of_examples(rows_by_keyword: dict[str, list[list[str]]]) -> str:
    lines = [
        "*** Settings ***",
        "Library    keywords.QwenServe",
        "Test Setup    Start The Prelude",
        "Test Teardown    Stop All Daemons",
        "",
        "*** Variables ***",
        "${SNAPSHOT_KIND}    smoke",
        "",
        "*** Test Cases ***",
    ]
    for name, rows in rows_by_keyword.items():
        lines.append(f"Example Of {name}")
        lines += ["    " + "    ".join(cell or "${EMPTY}" for cell in cells) for cells in rows]
    lines += ["", "*** Keywords ***", "Start The Prelude", "    " + PRELUDE[0], "    " + PRELUDE[1]]
    lines.append("    VAR    ${sid}    ${sid}    scope=TEST")
    return "\n".join(lines) + "\n"


def test_the_examples_of_the_first_keywords_a_scenario_writer_meets_are_runnable():
    for name in ("Turn From Stream", "Send Prompt", "Prompt And Wait", "Wait For Turn Chunks", "Read Events"):
        assert name in RUNNABLE, f"the example of {name} no longer runs on its own"


@pytest.mark.daemon
@pytest.mark.robot
@pytest.mark.slow
def test_the_examples_run(tmp_path):
    # Before, the example of Turn From Stream with crash-on-prompt was never run, and nothing showed that the
    # turn it reads ends ``error``, not ``session_died``.
    suite = tmp_path / "keyword_examples.robot"
    suite.write_text(suite_of_examples(RUNNABLE), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "robot", "--outputdir", str(tmp_path / "out"), "--console", "dotted", str(suite)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    if proc.returncode:
        from robot.api import ExecutionResult

        result = ExecutionResult(str(tmp_path / "out" / "output.xml"))
        failed = [f"{t.name}: {t.message[:300]}" for t in result.suite.all_tests if t.status == "FAIL"]
        pytest.fail(f"{len(failed)} keyword examples failed when run:\n" + "\n".join(failed))


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
    assert "Fields of ``FlowBatch``" in html or "Fields of <code>FlowBatch</code>" in html
