"""``docs/ADDING-SCENARIOS.md`` cannot drift from the code: every command and every example line in it is run.

The guide is read as its reader follows it, on a fresh copy of the project (the files git would commit, without
``.venv`` or results): every ```` ```bash ```` block is run from the copy's folder, in order, starting with
``./harness setup``; every ```` ```row <table> ```` block is added to the end of that table's file first, as the
guide says. Each robot run must pass, and the rows it names must show what the guide promises: their verdict,
figures and (bursts) plots at the top level of their test in ``log.html``, the table's tag statistics in the
report and a ``scenarios.md`` that lists exactly the rows of that run. Without a daemon, the quick tests check
the guide's tables: every ```` ```table ```` excerpt is in its file, the column tables name every column as the
header spells it, the outcome, mode and glossary tables name every word the code knows, and each message of
"If you made a typo" is what a row with that cell gets.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from keywords.reporting import outcomes
from keywords.reporting.rows import RowError
from keywords.reporting.scenario_tables import TABLES
from mock_acp.directives import MOCK_MODES

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "ADDING-SCENARIOS.md"
TEXT = GUIDE.read_text(encoding="utf-8")
BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.M | re.S)
GOOD_ROWS = {
    "bursts": ["1", "1", "3", "0", "echo", "every prompt", "2000", "completes"],
    "sustained": ["prompts", "5", "5", "2", "3", "0", "0", "2000", "0", "5", "0"],
    "limits": ["--max-sessions", "3", "5 sessions at once", "completes"],
    "permissions": ["1", "1", "1", "allow", "0", "completes"],
}


def blocks(kind: str) -> list[tuple[str, str]]:
    """``(argument, body)`` of the guide's fenced blocks whose info string starts with ``kind``."""
    out = []
    for info, body in BLOCK.findall(TEXT):
        words = info.split()
        if words and words[0] == kind:
            out.append((" ".join(words[1:]), body))
    return out


def cells(line: str) -> list[str]:
    """A table line's cells (two or more spaces apart), without a trailing ``#`` comment."""
    return [c for c in re.split(r"\s{2,}", line.strip()) if c and not c.startswith("#")]


def section(title: str) -> str:
    match = re.search(rf"^## \d+\. {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.M | re.S)
    assert match, f"the guide has no section '{title}'"
    return match.group(1)


def markdown_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in ``text`` (each table's header row and separator left out)."""
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        separator = re.compile(r"^\|[-| ]+\|$")
        if not line.startswith("|") or separator.match(line):
            continue
        if i + 1 < len(lines) and separator.match(lines[i + 1]):
            continue  # a header row
        rows.append([c.strip() for c in line.strip()[1:-1].split(" | ")])
    return rows


def code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell.strip())
    return match.group(1) if match else cell.strip()


# -- quick checks: the guide's tables against the code ----------------------------------------------------------
@pytest.mark.parametrize(("table", "body"), blocks("table"), ids=[t for t, _ in blocks("table")])
def test_each_table_excerpt_is_what_its_file_holds(table, body):
    lines = [cells(line) for line in (ROOT / "suites" / "scenarios" / f"{table}.robot").read_text().splitlines()]
    for line in body.splitlines():
        assert cells(line) in lines, f"the guide shows a line that {table}.robot does not have: {line}"


def test_the_setup_comes_first_and_every_table_has_a_worked_example():
    commands = [c for _, body in blocks("bash") for c in body.splitlines() if c.strip()]
    assert commands[0] == "./harness setup", "the guide must start with the set-up of a fresh copy"
    assert {table for table, _ in blocks("row")} == set(TABLES), "every table needs a worked example row"
    failing = [line for table, body in blocks("row") for line in body.splitlines() if cells(line)[-1] != "completes"]
    assert any("ends with an error" in line or "session dies" in line for line in failing)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_column_table_names_the_columns_as_the_header_spells_them(name):
    titles = {"bursts": "The bursts table", "sustained": "The sustained table", "limits": "The limits table"}
    text = section(titles.get(name, "The permissions table"))
    named = [code(r[0]) for r in markdown_rows(text) if r[0].startswith("`")]
    assert [n for n in named if n in TABLES[name].headers] == TABLES[name].headers


def test_the_outcome_mode_and_glossary_tables_name_every_word_the_code_knows():
    expected = {code(r[0]).split(" ")[0] for r in markdown_rows(section("Expected outcomes"))}
    assert {o.split(" ")[0] for o in outcomes.OUTCOMES} <= expected
    modes = [code(r[0]) for r in markdown_rows(section("The pretend agent's modes")) if code(r[0]) in MOCK_MODES]
    assert sorted(modes) == sorted(MOCK_MODES)
    words = {code(r[0]) for r in markdown_rows(section("The daemon's words"))}
    assert set(outcomes.GLOSSARY) <= words


TYPOS = [r for r in markdown_rows(section("If you made a typo")) if len(r) == 4]


@pytest.mark.parametrize(("table", "column", "wrote", "message"), TYPOS, ids=[f"{r[0]} {r[1]}" for r in TYPOS])
def test_each_typo_gets_the_message_the_guide_shows(table, column, wrote, message):
    spec = TABLES[table]
    row = list(GOOD_ROWS[table])
    row[spec.headers.index(code(column))] = code(wrote)
    with pytest.raises(RowError) as caught:
        spec.parse("typo", row)
    assert str(caught.value) == code(message)


# -- the whole guide on a fresh copy ---------------------------------------------------------------------------
def fresh_copy(target: Path) -> Path:
    """The files git would commit (tracked, and new ones not ignored), copied without ``.venv`` or results."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def steps() -> list[tuple[str, str, str]]:
    """``(kind, argument, body)`` of the guide's row and bash blocks, in the guide's order."""
    return [
        (info.split()[0], " ".join(info.split()[1:]), body)
        for info, body in BLOCK.findall(TEXT)
        if info.split()[:1] in (["row"], ["bash"])
    ]


def check_run(copy: Path, command: list[str]) -> None:
    """What a robot run of the guide must leave: passed rows with their verdict, figures and plots at the top
    level of their test, the table's tag statistics, and a snapshot of exactly this run."""
    from robot.api import ExecutionResult

    out = copy / command[command.index("--outputdir") + 1]
    names = [command[i + 1] for i, word in enumerate(command) if word == "--test"]
    result = ExecutionResult(str(out / "output.xml"))
    tests = {t.name: t for t in result.suite.all_tests}
    for name in names or tests:
        test = tests[name]
        assert test.status == "PASS", f"{name}: {test.message}"
        row = test.body[0]
        assert row.name.startswith("Run ") and row.name.endswith(" Row"), (
            f"{name}: the row is not its test's first step"
        )
        messages = [m.message for m in row.body if type(m).__name__ == "Message"]
        assert any(m.startswith("PASS: ") for m in messages), f"{name}: no verdict at the top level of its test"
        assert any("<caption>Figures of" in m for m in messages), f"{name}: no figure table at the top level"
        if "table:bursts" in test.tags and "no prompt answered in full" not in test.message:
            assert any("<img" in m for m in messages), f"{name}: no plot at the top level of its test"
    stats = re.search(r'window\.output\["stats"\] = (.*?);\n', (out / "report.html").read_text(encoding="utf-8"))
    tags = {label for label in re.findall(r'"label":"([^"]+)"', stats.group(1))} if stats else set()
    table_tags = {t for t in tags if t.startswith("table:")}
    assert table_tags and "scenarios" not in tags, f"Statistics by Tag should list only the tables, got {tags}"
    snapshot = (out / "scenarios.md").read_text(encoding="utf-8")
    recorded = re.findall(r"^### (.+)$", snapshot, re.M)
    assert sorted(recorded) == sorted(names or tests), "the snapshot holds rows of another run"
    assert (out / "report.html").is_file() and (out / "log.html").is_file()


@pytest.mark.daemon
@pytest.mark.robot
@pytest.mark.slow
def test_the_guide_works_on_a_fresh_copy(tmp_path):
    # Before, the guide's first command failed on a fresh clone (.venv/bin/robot: No such file or directory).
    copy = fresh_copy(tmp_path / "harness")
    assert not (copy / ".venv").exists()
    for kind, argument, body in steps():
        if kind == "row":
            table = copy / "suites" / "scenarios" / f"{argument}.robot"
            text = table.read_text(encoding="utf-8")
            table.write_text(text.rstrip("\n") + "\n" + body, encoding="utf-8")
            continue
        for line in filter(None, (line.strip() for line in body.splitlines())):
            command = shlex.split(line)
            proc = subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, (
                f"`{line}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
            )
            if command[0].endswith("robot"):
                check_run(copy, command)
