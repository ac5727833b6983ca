"""The shape of ``keywords/``: names a reader cannot confuse, modules of one concern, Robot only in its layer.

- No class name is defined twice under ``keywords/`` (the keyword documentation would show two types as one).
- No module stem is a prefix of another module's stem (``base`` / ``baseline_diff``, ``sse`` / ``sse_flood``),
  except a component ``X_keywords.py`` beside the model module ``X.py`` it fronts.
- No module is longer than :data:`MAX_LINES` lines, a guide for "one concern per module".
- Only the keyword layer (``components/``, ``library.py``, ``keyword_docs.py``) imports Robot Framework.

The allowance sets name what still breaks a rule today; each may only shrink: a test fails when one of its
entries no longer breaks the rule, so that the entry is removed with the fix.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "keywords"
MAX_LINES = 550
COMPONENT_SUFFIX = "_keywords"
ROBOT_LAYER = ("library.py", "keyword_docs.py")
ROBOT_PACKAGES = ("robot", "robotlibcore")

# Modules over MAX_LINES that wait for their split (each its own concern to separate); may only shrink.
LONG_MODULE_ALLOWANCE: set[str] = set()
# Stem pairs that break the prefix rule and wait for a rename; may only shrink.
PREFIX_ALLOWANCE: set[tuple[str, str]] = set()


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_no_class_name_is_defined_twice():
    where: dict[str, list[str]] = defaultdict(list)
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(f"{rel(path)}:{node.lineno}")
    twice = {name: places for name, places in where.items() if len(places) > 1}
    assert twice == {}, f"Expected every class name once under keywords/, but some are defined twice: {twice}."


def prefix_pairs(paths: list[str] | None = None) -> set[tuple[str, str]]:
    """``(shorter, longer)`` stems where one is a prefix of the other (or equal), the component exception aside."""
    stems: dict[str, list[str]] = defaultdict(list)
    for path in paths if paths is not None else [rel(p) for p in modules()]:
        stems[Path(path).stem].append(path)
    pairs = {(stem, stem) for stem, places in stems.items() if len(places) > 1}
    for short in stems:
        for long in stems:
            if long != short and long.startswith(short) and long != short + COMPONENT_SUFFIX:
                pairs.add((short, long))
    return pairs


def test_no_module_stem_is_a_prefix_of_another():
    found = prefix_pairs() - PREFIX_ALLOWANCE
    assert found == set(), (
        f"Expected no module stem under keywords/ to be a prefix of another (but for X_keywords beside X), "
        f"but found {sorted(found)}: rename one of each pair."
    )


def test_prefix_allowance_only_shrinks():
    fixed = PREFIX_ALLOWANCE - prefix_pairs()
    assert fixed == set(), f"These stems no longer break the prefix rule: remove {sorted(fixed)} from the allowance."


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_is_longer_than_the_guide():
    long = {rel(p): line_count(p) for p in modules() if line_count(p) > MAX_LINES}
    over = {name: n for name, n in long.items() if name not in LONG_MODULE_ALLOWANCE}
    assert over == {}, f"Expected every module under keywords/ to have at most {MAX_LINES} lines, but: {over}."


def test_long_module_allowance_only_shrinks():
    lengths = {rel(p): line_count(p) for p in modules()}
    fixed = {name: lengths.get(name) for name in LONG_MODULE_ALLOWANCE if lengths.get(name, 0) <= MAX_LINES}
    assert fixed == {}, (
        f"These modules are gone or within {MAX_LINES} lines now: remove them from the allowance: {fixed}."
    )


def robot_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{rel(path)}:{node.lineno}: {name}" for name in names if name.split(".")[0] in ROBOT_PACKAGES]
    return found


def test_only_the_keyword_layer_imports_robot_framework():
    offenders = [
        hit
        for path in modules()
        if not (rel(path).startswith("components/") or rel(path) in ROBOT_LAYER)
        for hit in robot_imports(path)
    ]
    assert offenders == [], f"Expected Robot Framework imports only in the keyword layer, but found {offenders}."


def test_the_checks_find_what_they_look_for():
    """The finders are not blind, so the rules above can fail: a Robot import and the broken names are seen."""
    assert robot_imports(PACKAGE / "components" / "component.py"), "component.py imports robot.api"
    assert prefix_pairs(["components/base.py", "reporting/baseline_diff.py", "components/baseline_keywords.py"]) == {
        ("base", "baseline_diff"),
        ("base", "baseline_keywords"),
    }
    assert prefix_pairs(["fakes/provider.py", "components/provider_keywords.py"]) == set()
    assert prefix_pairs(["history.py", "reporting/history.py"]) == {("history", "history")}
