"""Seeded regressions without a daemon: the patch table against the pinned build, anchors that no longer fit,
copies that share their files, and the table of which tests caught what."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from keywords.daemon import provision
from keywords.daemon.provision import DaemonSource
from keywords.daemon.seeded import builder, runner
from keywords.daemon.seeded.patches import (
    BY_NAME,
    KINDS,
    PATCHES,
    RESERVED_NAMES,
    Edit,
    Param,
    Patch,
    PatchError,
    Selection,
    apply,
    locate,
    select,
)
from keywords.errors import HarnessConfigError, HarnessError, HarnessSetupError

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@pytest.fixture(scope="module")
def pinned() -> builder.BaseBuild:
    try:
        return builder.base_build(install=False)
    except HarnessSetupError as exc:
        pytest.skip(f"the pinned release is not installed ({exc}); run ./harness setup")


def fake_build(tmp_path: Path, chunks: dict[str, str], version: str = "9.9.9") -> builder.BaseBuild:
    """A tiny npm-style install: node_modules/@qwen-code/qwen-code/{cli-entry.js, package.json, chunks/...}."""
    pkg = tmp_path / "base" / "node_modules" / "@qwen-code" / "qwen-code"
    (pkg / "chunks").mkdir(parents=True)
    (pkg / "vendor").mkdir()
    (pkg / "cli-entry.js").write_text("import './chunks/a.js';\n")
    (pkg / "package.json").write_text(json.dumps({"name": "@qwen-code/qwen-code", "version": version}))
    (pkg / "vendor" / "rg").write_bytes(b"\x7fELF binary")
    for name, text in chunks.items():
        (pkg / "chunks" / name).write_text(text)
    dep = tmp_path / "base" / "node_modules" / "dep"
    dep.mkdir()
    (dep / "index.js").write_text("export default 1;\n")
    (tmp_path / "base" / "node_modules" / ".bin").mkdir()
    os.symlink("../dep/index.js", tmp_path / "base" / "node_modules" / ".bin" / "dep")
    entry = pkg / "cli-entry.js"
    source = DaemonSource("local", str(entry), version, f"local build {entry}")
    return builder.BaseBuild(source, builder.build_root(entry), entry)


def one_patch(anchor: str = "const limit = a >= b;", file: str = "chunks/a.js", **kw) -> Patch:
    return Patch(
        name=kw.pop("name", "cap-off-by-one"),
        kind="broken",
        description="a cap off by one",
        file=file,
        edits=kw.pop("edits", (Edit(anchor, anchor.replace(">=", ">")),)),
        **kw,
    )


# -- the table against the pinned release ---------------------------------------------------------------
def test_every_anchor_occurs_exactly_once_in_its_named_chunk_of_the_pinned_build(pinned):
    assert pinned.version == provision.pinned_version()
    for patch in PATCHES:
        path = pinned.entry_dir / patch.file
        assert path.is_file(), f"{patch.name}: {patch.file} is missing from {pinned.version}"
        text = path.read_text(encoding="utf-8")
        for edit in patch.edits:
            assert text.count(edit.anchor) == 1, f"{patch.name}: anchor {edit.anchor[:60]!r} not unique"
        patched = apply(patch, text, patch.values(), version=pinned.version, relative=patch.file)
        assert patched != text
        assert "{{" not in patched.replace(text, ""), f"{patch.name}: a placeholder was left unfilled"
        assert len(patched) - len(text) < 600, f"{patch.name} is not a small edit"


def test_check_patches_applies_every_patch_to_the_pinned_build(pinned):
    done = builder.check_patches(pinned, select())
    assert sorted(done) == sorted(BY_NAME)
    assert not any(where.relocated for where, _text in done.values())


def test_the_table_covers_every_kind_of_regression_asked_for():
    assert len(PATCHES) >= 12
    assert len({p.name for p in PATCHES}) == len(PATCHES)
    kinds = {p.kind for p in PATCHES}
    assert kinds == set(KINDS)
    for patch in PATCHES:
        assert patch.name not in RESERVED_NAMES and re.fullmatch(r"[a-z0-9-]+", patch.name)
        assert patch.edits and patch.description
        assert patch.expected or patch.note, f"{patch.name}: say which tests catch it, or why none does"
        used = {m for e in patch.edits for m in PLACEHOLDER.findall(e.replacement)} | set(
            PLACEHOLDER.findall(patch.description)
        )
        assert used == {p.name for p in patch.params}, f"{patch.name}: parameters and placeholders differ"
        for param in patch.params:
            assert param.low <= param.default <= param.high
        assert "{{" not in patch.describe()


def test_expected_catchers_are_tests_of_the_pre_merge_check():
    names = set()
    for suite in (ROOT / "suites").rglob("*.robot"):
        section = None
        for line in suite.read_text(encoding="utf-8").splitlines():
            if line.startswith("***"):
                section = re.match(r"\*+\s*([^*]*?)\s*\*", line).group(1).lower()
            elif section == "test cases" and line and not line[0].isspace() and not line.startswith("#"):
                names.add(re.split(r"\s{2,}|\t", line.strip())[0])
    for patch in PATCHES:
        for test in patch.expected:
            assert test in names, f"{patch.name} expects {test!r}, which is no test in suites/"


# -- anchors that no longer fit ------------------------------------------------------------------------
def test_a_missing_anchor_fails_naming_the_patch_the_file_and_the_anchor(tmp_path):
    base = fake_build(tmp_path, {"a.js": "const limit = a > b;\n"})
    with pytest.raises(PatchError) as err:
        builder.check_patches(base, [Selection(one_patch())])
    assert str(err.value) == (
        "patch cap-off-by-one no longer applies to 9.9.9: anchor `const limit = a >= b;` found 0 times in "
        "chunks/a.js (it must occur exactly once)."
    )
    assert isinstance(err.value, HarnessConfigError) and isinstance(err.value, HarnessError)


def test_a_doubled_anchor_fails_too(tmp_path):
    base = fake_build(tmp_path, {"a.js": "const limit = a >= b;\nconst limit = a >= b;\n"})
    with pytest.raises(PatchError, match=r"anchor `const limit = a >= b;` found 2 times in chunks/a\.js"):
        builder.check_patches(base, [Selection(one_patch())])


def test_every_edit_is_checked_on_the_unpatched_text_and_overlaps_are_refused():
    patch = one_patch(edits=(Edit("a >= b", "a > b"), Edit("b;", "c;")))
    with pytest.raises(PatchError, match="overlap"):
        apply(patch, "x = a >= b;", {}, version="1", relative="f.js")
    ok = one_patch(edits=(Edit("a >= b", "a > b"), Edit("tail", "end")))
    assert apply(ok, "x = a >= b; tail", {}, version="1", relative="f.js") == "x = a > b; end"


def test_a_renamed_chunk_is_found_by_its_anchors_or_the_build_fails(tmp_path):
    base = fake_build(tmp_path, {"b-NEWHASH.js": "const limit = a >= b;\n", "c.js": "other\n"})
    where = locate(one_patch(), base.entry_dir, base.version)
    assert where.relocated and where.relative == "chunks/b-NEWHASH.js"
    (base.entry_dir / "chunks" / "d.js").write_text("const limit = a >= b;\n")
    with pytest.raises(PatchError, match=r"chunks/a\.js does not exist, and 2 files under chunks/\*\.js hold"):
        locate(one_patch(), base.entry_dir, base.version)


def test_nothing_is_written_when_one_patch_does_not_apply(tmp_path):
    base = fake_build(tmp_path, {"a.js": "const limit = a >= b;\n"})
    good, bad = one_patch(), one_patch(anchor="not there", name="gone")
    out = tmp_path / "out"
    with pytest.raises(PatchError, match="patch gone no longer applies"):
        builder.make_builds([Selection(good), Selection(bad)], base=base, out=out)
    assert not out.exists()


# -- parameters and names -------------------------------------------------------------------------------
def test_names_carry_parameters_checked_against_their_ranges():
    (sel,) = select(["leak-per-session:mb=4"])
    assert sel.values == {"mb": 4} and "4 MB" in sel.description
    assert [s.name for s in select()] == [p.name for p in PATCHES]
    assert select(["slow-prompt-post"])[0].values == {"delay_ms": 200}
    with pytest.raises(PatchError, match=r"leak-per-session parameter mb must be a whole number from 1 to 1024 MB"):
        select(["leak-per-session:mb=0"])
    with pytest.raises(PatchError, match=r"Unknown parameter of patch leak-per-session 'size'; known: mb"):
        select(["leak-per-session:size=2"])
    with pytest.raises(PatchError, match=r"Unknown patch 'no-such'; known: slow-prompt-post"):
        select(["no-such"])
    with pytest.raises(PatchError, match="key=value"):
        select(["leak-per-session:4"])
    with pytest.raises(PatchError, match="given twice"):
        select(["leak-per-session", "leak-per-session:mb=2"])
    with pytest.raises(PatchError, match="takes no parameters"):
        select(["replay-off-by-one:every=2"])


def test_parameter_values_reach_the_javascript(tmp_path):
    patch = one_patch(
        anchor="run();",
        edits=(Edit("run();", "await sleep({{delay_ms}}); run();"),),
        params=(Param("delay_ms", 5, 1, 100, "ms"),),
    )
    base = fake_build(tmp_path, {"a.js": "run();\n"})
    (build,) = builder.make_builds([Selection(patch, patch.values({"delay_ms": "42"}))], base=base, out=tmp_path / "o")
    assert (build.entry.parent / "chunks" / "a.js").read_text() == "await sleep(42); run();\n"
    assert build.params == {"delay_ms": 42}


# -- the copy ------------------------------------------------------------------------------------------
def test_a_copy_shares_every_unchanged_file_and_rewrites_only_the_patched_one(tmp_path):
    base = fake_build(tmp_path, {"a.js": "const limit = a >= b;\n", "b.js": "untouched\n"})
    (build,) = builder.make_builds([Selection(one_patch())], base=base, out=tmp_path / "out")
    pkg = base.entry_dir
    copy = build.entry.parent
    assert build.entry == tmp_path / "out" / "cap-off-by-one" / pkg.relative_to(base.root) / "cli-entry.js"
    for rel in ("cli-entry.js", "chunks/b.js", "vendor/rg"):
        assert os.path.samefile(pkg / rel, copy / rel), rel
    assert not os.path.samefile(pkg / "package.json", copy / "package.json"), "its version is the copy's own"
    assert os.path.samefile(base.root / "node_modules/dep/index.js", build.folder / "node_modules/dep/index.js")
    assert not os.path.samefile(pkg / "chunks/a.js", copy / "chunks/a.js")
    assert (copy / "chunks/a.js").read_text() == "const limit = a > b;\n"
    assert (pkg / "chunks/a.js").read_text() == "const limit = a >= b;\n", "the base build must stay unpatched"
    assert os.readlink(build.folder / "node_modules/.bin/dep") == "../dep/index.js"
    assert build.stats.hard_links == 4 and build.stats.links_kept == 1 and build.stats.copied == 0
    assert json.loads((copy / "package.json").read_text())["version"] == "9.9.9+seeded-cap-off-by-one"
    assert json.loads((pkg / "package.json").read_text())["version"] == "9.9.9", "the base build keeps its version"
    marker = builder.read_marker(build.entry)
    assert marker is not None and marker["patch"] == "cap-off-by-one" and marker["kind"] == "broken"
    assert marker["baseVersion"] == "9.9.9" and marker["patchedFile"] == "chunks/a.js"
    assert builder.read_marker(base.entry) is None
    # made again: replaced, not refused
    (again,) = builder.make_builds([Selection(one_patch())], base=base, out=tmp_path / "out")
    assert again.entry == build.entry


def test_without_hard_links_code_is_copied_and_the_rest_symlinked(tmp_path, monkeypatch):
    base = fake_build(tmp_path, {"a.js": "const limit = a >= b;\n", "b.js": "untouched\n"})

    def no_link(*_args, **_kw):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(builder.os, "link", no_link)
    (build,) = builder.make_builds([Selection(one_patch())], base=base, out=tmp_path / "out")
    copy = build.entry.parent
    assert not (copy / "chunks/b.js").is_symlink() and (copy / "chunks/b.js").read_text() == "untouched\n"
    assert (copy / "vendor/rg").is_symlink() and os.path.samefile(copy / "vendor/rg", base.entry_dir / "vendor/rg")
    assert build.stats.hard_links == 0 and build.stats.symlinks == 1 and build.stats.copied == 3


def test_a_folder_that_is_not_a_seeded_copy_is_never_replaced(tmp_path):
    base = fake_build(tmp_path, {"a.js": "const limit = a >= b;\n"})
    (tmp_path / "out" / "cap-off-by-one").mkdir(parents=True)
    (tmp_path / "out" / "cap-off-by-one" / "mine.txt").write_text("keep me")
    with pytest.raises(HarnessConfigError, match="is not a seeded copy"):
        builder.make_builds([Selection(one_patch())], base=base, out=tmp_path / "out")
    assert (tmp_path / "out" / "cap-off-by-one" / "mine.txt").read_text() == "keep me"


def test_a_copy_of_the_pinned_release_runs_from_its_own_folder(pinned, tmp_path):
    (build,) = builder.make_builds(["replay-off-by-one"], base=pinned, out=tmp_path)
    copy, pkg = build.entry.parent, pinned.entry_dir
    assert os.path.samefile(copy / "cli.js", pkg / "cli.js")
    assert os.path.samefile(copy / "chunks" / "server-5R5R5J4B.js", pkg / "chunks" / "server-5R5R5J4B.js")
    assert not os.path.samefile(copy / build.patched_file, pkg / build.patched_file)
    assert "opts.lastEventId + 1;" in (copy / build.patched_file).read_text()
    assert build.stats.copied == 0 and build.stats.hard_links > 1000
    local = provision.local_source(str(build.entry))
    assert local.entry == str(build.entry.resolve()) and local.version == f"{pinned.version}+seeded-replay-off-by-one"


def test_the_entry_of_a_copy_is_absolute_even_for_a_relative_out_folder(tmp_path, monkeypatch):
    base = fake_build(tmp_path, {"a.js": "const limit = a >= b;\n"})
    monkeypatch.chdir(tmp_path)
    (build,) = builder.make_builds([Selection(one_patch())], base=base, out="rel/out")
    assert build.entry.is_absolute() and build.entry.is_file()
    assert build.folder == tmp_path / "rel" / "out" / "cap-off-by-one"


def test_the_base_of_a_local_build_is_its_package_folder(tmp_path):
    pkg = tmp_path / "checkout"
    (pkg / "dist").mkdir(parents=True)
    (pkg / "package.json").write_text("{}")
    (pkg / "dist" / "cli.js").write_text("")
    assert builder.build_root(pkg / "dist" / "cli.js") == pkg
    assert builder.build_root(tmp_path / "lone" / "cli.js") == tmp_path / "lone"


# -- the runner and its table ---------------------------------------------------------------------------
OUTPUT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<robot generator="Robot 7.3" rpa="false" schemaversion="5">
<suite id="s1" name="Suites">
<suite id="s1-s1" name="Caps">
<test id="s1-s1-t1" name="Session Cap Gives 503">
<kw name="Open Session Should Fail"><status status="FAIL">inner</status></kw>
<status status="FAIL" start="2026-01-01T00:00:00" elapsed="1.0">Expected 503, got 200.
detail line</status>
</test>
<test id="s1-s1-t2" name="Pending Prompt Queue Full"><status status="PASS"/></test>
<status status="FAIL"/>
</suite>
<suite id="s1-s2" name="Sse">
<test id="s1-s2-t1" name="Reconnect"><status status="{reconnect}"/></test>
<status status="PASS"/>
</suite>
<status status="FAIL"/>
</suite>
</robot>
"""


def test_output_xml_gives_every_test_with_its_suite_status_and_first_message_line(tmp_path):
    path = tmp_path / "output.xml"
    path.write_text(OUTPUT_XML.replace("{reconnect}", "PASS"))
    tests = runner.read_output(path)
    assert [(t.suite, t.name, t.status) for t in tests] == [
        ("Suites.Caps", "Session Cap Gives 503", "FAIL"),
        ("Suites.Caps", "Pending Prompt Queue Full", "PASS"),
        ("Suites.Sse", "Reconnect", "PASS"),
    ]
    assert tests[0].message == "Expected 503, got 200."


def fake_robot(fail: dict[str, str], calls: list[list[str]]):
    """A runner that writes an output.xml per run: the run whose entry contains a key gets that status."""

    def run(argv: list[str], console: Path, _timeout: float) -> int | None:
        calls.append(argv)
        entry = argv[argv.index("--variable") + 1].split(":", 1)[1]
        status = next((v for k, v in fail.items() if k in entry), "PASS")
        if status == "TIMEOUT":
            return None
        out = Path(argv[argv.index("--outputdir") + 1])
        xml = OUTPUT_XML.replace('status="FAIL" start', 'status="PASS" start').replace("{reconnect}", status)
        (out / "output.xml").write_text(xml)
        console.write_text("console")
        return 1 if status == "FAIL" else 0

    return run


def seeded_builds(tmp_path: Path) -> tuple[builder.BaseBuild, list[builder.SeededBuild]]:
    base = fake_build(tmp_path, {"a.js": "const limit = a >= b;\nrun();\n"})
    patches = [
        one_patch(name="caught-one", expected=("Reconnect",)),
        one_patch(anchor="run();", name="missed-one", edits=(Edit("run();", "run(); run();"),), note="no gate"),
    ]
    return base, builder.make_builds([Selection(p) for p in patches], base=base, out=tmp_path / "builds")


def test_the_table_says_which_tests_caught_which_patch(tmp_path):
    base, builds = seeded_builds(tmp_path)
    calls: list[list[str]] = []
    lines: list[str] = []
    table = runner.check_all(
        base, builds, results=tmp_path / "seeded", runner=fake_robot({"caught-one": "FAIL"}, calls), log=lines.append
    )
    assert [c[c.index("--outputdir") + 1] for c in calls] == [
        str(tmp_path / "seeded" / n) for n in ("control", "caught-one", "missed-one")
    ]
    assert calls[0][calls[0].index("--variable") + 1] == f"DAEMON_ENTRY:{base.entry}"
    assert calls[1][calls[1].index("--variable") + 1] == f"DAEMON_ENTRY:{builds[0].entry}"
    assert f"REFERENCE_ENTRY:{base.entry}" in calls[1], "the performance gate compares with the unpatched base"
    assert calls[1][-3:] == ["--include", "loadtest", "suites/"]
    caught, missed = table.rows
    assert caught.caught is True and caught.failed_names == ["Reconnect"] and caught.missed == []
    assert missed.caught is False and missed.failed_names == []
    assert table.trustworthy and table.exit_code() == 1
    assert table.figures() == {"patchesRun": 2, "caught": 1, "notCaught": 1, "runErrors": 0, "controlPassed": True}
    md = (tmp_path / "seeded" / "table.md").read_text()
    assert "| patch | kind | what it breaks | caught | by which tests | wall time |" in md
    assert re.search(r"\| caught-one \| broken \| a cap off by one \| yes \| Reconnect \| \d+ s \|", md)
    assert re.search(r"\| missed-one \| broken \| a cap off by one \| no \| - \| \d+ s \|", md)
    assert re.search(r"\| control \| control \| unpatched build \| passed \| - \|", md)
    doc = json.loads((tmp_path / "seeded" / "table.json").read_text())
    assert doc["patches"][0]["caughtBy"] == ["Reconnect"] and doc["patches"][1]["caught"] is False
    assert doc["control"]["testsRun"] == 3 and doc["trustworthy"] is True
    assert "caught-one: caught by 1: Reconnect" in "\n".join(lines)
    assert "missed-one" in table.to_console() and "NO" in table.to_console()


def test_expected_only_runs_each_copy_on_its_expected_tests_and_the_control_on_all_of_them(tmp_path):
    base, builds = seeded_builds(tmp_path)
    calls: list[list[str]] = []
    table = runner.check_all(
        base,
        builds,
        results=tmp_path / "seeded",
        expected_only=True,
        runner=fake_robot({"caught-one": "FAIL"}, calls),
        log=lambda _line: None,
    )
    control, caught, missed = calls
    assert control[-5:] == ["--include", "loadtest", "--test", "Reconnect", "suites/"]
    assert caught[-5:] == ["--include", "loadtest", "--test", "Reconnect", "suites/"]
    assert missed[-3:] == ["--include", "loadtest", "suites/"], "a patch no test is expected to catch adds no --test"
    assert table.rows[0].caught is True
    assert "--test <each expected test>" in (tmp_path / "seeded" / "table.md").read_text()


def test_a_failing_control_stops_the_run_and_says_the_check_is_not_trustworthy(tmp_path):
    base, builds = seeded_builds(tmp_path)
    calls: list[list[str]] = []
    fail_control = {str(base.entry): "FAIL"}
    table = runner.check_all(
        base, builds, results=tmp_path / "seeded", runner=fake_robot(fail_control, calls), log=lambda _line: None
    )
    assert len(calls) == 1 and table.rows == []
    assert not table.trustworthy and table.exit_code() == 2
    md = (tmp_path / "seeded" / "table.md").read_text()
    assert "The check is not trustworthy on this machine" in md and "Reconnect" in md
    assert json.loads((tmp_path / "seeded" / "table.json").read_text())["stopped"] == "the control run failed"


def test_a_run_without_a_result_is_an_error_not_a_catch(tmp_path):
    base, builds = seeded_builds(tmp_path)
    table = runner.check_all(
        base,
        builds,
        results=tmp_path / "seeded",
        control=False,
        log=lambda _line: None,
        runner=fake_robot({"caught-one": "TIMEOUT"}, []),
    )
    timed_out = table.rows[0]
    assert timed_out.caught is None and "timed out" in timed_out.error
    assert timed_out.figures() == {
        "caught": None,
        "failedTests": None,
        "testsRun": None,
        "wallS": round(timed_out.wall_s, 1),
    }
    assert table.exit_code() == 2 and "skipped on request" in table.headline()
    assert "| caught-one | broken | a cap off by one | run failed | timed out after" in table.to_markdown()


def test_robot_usage_errors_are_errors(tmp_path):
    def usage_error(argv, console, _timeout):
        console.write_text("[ ERROR ] bad option")
        return 252

    out = runner.run_check("x", "e.js", tmp_path / "x", kind="broken", description="d", runner=usage_error)
    assert out.caught is None and "robot exited 252" in out.error


def test_with_confirm_only_a_test_failing_twice_is_a_catch(tmp_path):
    base, builds = seeded_builds(tmp_path)
    calls: list[list[str]] = []
    first = fake_robot({"caught-one": "FAIL", "missed-one": "FAIL"}, calls)

    def robot(argv, console, timeout):
        if "--rerunfailed" not in argv:
            return first(argv, console, timeout)
        calls.append(argv)
        # the re-run: caught-one fails again, missed-one passes (a flaky failure)
        status = "FAIL" if "caught-one" in argv[argv.index("--variable") + 1] else "PASS"
        out = Path(argv[argv.index("--outputdir") + 1])
        (out / "output.xml").write_text(
            f'<robot><suite name="Suites"><suite name="Sse"><test name="Reconnect"><status status="{status}"/>'
            "</test></suite></suite></robot>"
        )
        return 1 if status == "FAIL" else 0

    table = runner.check_all(
        base, builds, results=tmp_path / "seeded", confirm=True, runner=robot, log=lambda _line: None
    )
    reruns = [c for c in calls if "--rerunfailed" in c]
    assert len(reruns) == 2, "the control is never re-run; each patch run with failures is re-run once"
    assert reruns[0][reruns[0].index("--rerunfailed") + 1] == str(tmp_path / "seeded" / "caught-one" / "output.xml")
    assert reruns[0][reruns[0].index("--outputdir") + 1] == str(tmp_path / "seeded" / "caught-one" / "confirm")
    confirmed, flaky = table.rows
    assert confirmed.caught is True and confirmed.confirmed == ["Reconnect"] and confirmed.once == []
    assert flaky.caught is False and flaky.once == ["Reconnect"]
    assert "| missed-one | broken | a cap off by one | no | Reconnect (once) |" in table.to_markdown()
    assert "failed once, passed on the re-run" in flaky.line()
    assert table.exit_code() == 1
    doc = table.to_json()["patches"]
    assert doc[0]["caughtBy"] == ["Reconnect"] and doc[1]["caughtBy"] == [] and doc[1]["failedOnce"] == ["Reconnect"]


def test_a_copy_names_its_patch_and_parameters_in_its_version():
    assert builder.seeded_version("0.24.4", "slow-prompt-post", {"delay_ms": 200}) == (
        "0.24.4+seeded-slow-prompt-post.delay-ms-200"
    )
    assert builder.seeded_version("1.0.0", "replay-off-by-one", {}) == "1.0.0+seeded-replay-off-by-one"


def test_against_the_pinned_release_the_gate_keeps_its_default_reference(tmp_path):
    base, builds = seeded_builds(tmp_path)
    release = builder.BaseBuild(dataclasses.replace(base.source, kind="release"), base.root, base.entry)
    calls: list[list[str]] = []
    runner.check_all(release, builds[:1], results=tmp_path / "seeded", runner=fake_robot({}, calls), log=print)
    assert not any(arg.startswith("REFERENCE_ENTRY:") for call in calls for arg in call), (
        "the gate names the pinned release as such only when it picks it itself"
    )
