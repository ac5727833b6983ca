"""Seeded copies of a daemon build: the whole install shared by hard links, only the patched chunk rewritten.

A copy mirrors the build's root (for the npm release, the install folder holding ``node_modules``; for a
local build, its package folder, or the folder above its outermost ``node_modules``): folders are made anew,
files are hard links to the originals (a symbolic link for a non-code file when hard links are impossible,
e.g. across file systems; a code file is then copied, because Node.js resolves a linked script to its real
path and would load the unpatched chunks next to it). The patched chunk is a new file. Next to the copy's
entry script lies :data:`MARKER` (``seeded-regression.json``), naming the patch, so that run metadata can
tell a seeded copy from the build it came from; the copy's ``package.json`` is left alone.

Every patch is checked against the base build before any copy is made. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from keywords.daemon import provision
from keywords.daemon.provision import DaemonSource
from keywords.daemon.seeded.patches import Located, PatchError, Selection, apply, locate, select
from keywords.errors import HarnessConfigError

MARKER = "seeded-regression.json"
DEFAULT_OUT = Path("results") / "seeded" / "builds"
_CODE_SUFFIXES = (".js", ".mjs", ".cjs", ".json", ".node", ".wasm")
_SKIP_DIRS = (".git",)


@dataclass(frozen=True)
class BaseBuild:
    """The build the copies are made from.

    Attributes:
        source: The daemon build (pinned release or local build).
        root: Folder mirrored by a copy.
        entry: The entry script (inside ``root``).
    """

    source: DaemonSource
    root: Path
    entry: Path

    @property
    def version(self) -> str:
        """The build's version from its ``package.json``."""
        return self.source.version

    @property
    def entry_dir(self) -> Path:
        """Folder of the entry script; patch files are relative to it."""
        return self.entry.parent


@dataclass
class LinkStats:
    """How a copy shares the files of its base.

    Attributes:
        hard_links: Files that are hard links to the base's files.
        symlinks: Files that are symbolic links to the base's files (hard links impossible).
        copied: Files copied (code files when hard links were impossible), the patched file not counted.
        links_kept: Symbolic links of the base recreated as they were.
    """

    hard_links: int = 0
    symlinks: int = 0
    copied: int = 0
    links_kept: int = 0


@dataclass
class SeededBuild:
    """One seeded copy of a build.

    Attributes:
        name: The patch's name.
        kind: ``slower``, ``leakier``, ``broken`` or ``unsafe``.
        description: What it breaks (parameter values filled in).
        params: The parameter values.
        entry: The copy's entry script (what ``DAEMON_ENTRY`` takes).
        folder: The copy's root folder.
        patched_file: The rewritten file, relative to the entry script's folder.
        relocated: The patch table's file name did not exist in the base; the file was found by its anchors.
        base_entry: The entry script of the base build.
        base_version: The base build's version.
        expected: Tests expected to catch it.
        stats: How the copy shares the base's files.
    """

    name: str
    kind: str
    description: str
    params: dict[str, int]
    entry: Path
    folder: Path
    patched_file: str
    relocated: bool
    base_entry: Path
    base_version: str
    expected: tuple[str, ...] = ()
    stats: LinkStats = field(default_factory=LinkStats)

    def figures(self) -> dict:
        """Figures of this copy: files shared and copied, and whether the patched file was relocated."""
        return {
            "hardLinks": self.stats.hard_links,
            "symlinks": self.stats.symlinks,
            "copiedFiles": self.stats.copied,
            "relocated": self.relocated,
        }

    def line(self) -> str:
        """One line: patch, kind, entry script."""
        return f"{self.name} ({self.kind}): {self.entry}"

    def marker(self) -> dict:
        """The content of the marker file (:data:`MARKER`)."""
        return {
            "seededRegression": True,
            "patch": self.name,
            "kind": self.kind,
            "description": self.description,
            "params": self.params,
            "patchedFile": self.patched_file,
            "relocated": self.relocated,
            "baseEntry": str(self.base_entry),
            "baseVersion": self.base_version,
        }


def base_build(entry: str | os.PathLike | None = None, *, install: bool = True) -> BaseBuild:
    """The build to copy: the pinned release (installed on first use) or a local build.

    Args:
        entry: A local build's entry script or package folder; empty for the pinned release.
        install: Install the pinned release when it is not cached yet.

    Raises:
        HarnessConfigError: the local build does not exist or is not a script.
        HarnessSetupError: the release is not installed and cannot be.
    """
    source = provision.local_source(str(entry)) if entry else provision.release_source(install=install)
    path = Path(source.entry)
    return BaseBuild(source, build_root(path), path)


def build_root(entry: Path) -> Path:
    """The folder a copy mirrors so that the entry script still finds its own files and its dependencies.

    Above the outermost ``node_modules`` that holds the entry script when there is one (the npm install);
    otherwise the nearest folder with a ``package.json`` (a local package); otherwise the script's folder.
    """
    entry = entry.absolute()
    outer = None
    for parent in entry.parents:
        if parent.name == "node_modules":
            outer = parent
    if outer is not None:
        return outer.parent
    for parent in entry.parents:
        if (parent / "package.json").is_file():
            return parent
    return entry.parent


def check_patches(base: BaseBuild, selections: Iterable[Selection]) -> dict[str, tuple[Located, str]]:
    """Locate and apply every patch in memory: name -> (where, patched text). Nothing is written.

    Raises:
        PatchError: a patch does not apply to this build.
    """
    done: dict[str, tuple[Located, str]] = {}
    for sel in selections:
        where = locate(sel.patch, base.entry_dir, base.version)
        text = where.path.read_text(encoding="utf-8")
        done[sel.name] = (where, apply(sel.patch, text, sel.values, version=base.version, relative=where.relative))
    return done


def make_builds(
    specs: Iterable[str] | Iterable[Selection] = (),
    *,
    base: BaseBuild | None = None,
    out: str | os.PathLike | None = None,
) -> list[SeededBuild]:
    """Make one seeded copy per patch (every patch when none is named).

    Args:
        specs: ``NAME`` or ``NAME:key=value,...`` texts, or :class:`Selection` objects.
        base: The build to copy (default: the pinned release).
        out: Folder for the copies (default ``results/seeded/builds``); one subfolder per patch.

    Returns:
        The copies, in the order given.

    Raises:
        PatchError: an unknown patch, a bad parameter, or a patch that does not apply (before anything is
            written).
        HarnessConfigError: ``out`` holds a folder of that name that is not a seeded copy.
    """
    items = list(specs)
    selections = items if items and all(isinstance(s, Selection) for s in items) else select(items)
    base = base or base_build()
    out_dir = (Path(out) if out else DEFAULT_OUT).absolute()  # DAEMON_ENTRY must not depend on Robot's cwd
    patched = check_patches(base, selections)
    for sel in selections:
        _check_target(out_dir / sel.name)
    builds = []
    for sel in selections:
        where, text = patched[sel.name]
        builds.append(_make_one(base, sel, where, text, out_dir / sel.name))
    return builds


def _check_target(folder: Path) -> None:
    if folder.exists() and not any(folder.rglob(MARKER)):
        raise HarnessConfigError(
            f"{folder} exists and is not a seeded copy (no {MARKER} in it); remove it or choose another --out."
        )


def _make_one(base: BaseBuild, sel: Selection, where: Located, text: str, folder: Path) -> SeededBuild:
    if folder.exists():
        shutil.rmtree(folder)
    root = base.root.absolute()
    patched = where.path.absolute()
    package_json = base.entry_dir.absolute() / "package.json"
    stats = link_tree(root, folder, skip={patched, package_json})
    (folder / patched.relative_to(root)).write_text(text, encoding="utf-8")
    entry = folder / base.entry.absolute().relative_to(root)
    _write_version(
        package_json, folder / package_json.relative_to(root), seeded_version(base.version, sel.name, sel.values)
    )
    build = SeededBuild(
        name=sel.name,
        kind=sel.patch.kind,
        description=sel.description,
        params=dict(sel.values),
        entry=entry,
        folder=folder,
        patched_file=where.relative,
        relocated=where.relocated,
        base_entry=base.entry,
        base_version=base.version,
        expected=sel.patch.expected,
        stats=stats,
    )
    (entry.parent / MARKER).write_text(json.dumps(build.marker(), indent=2) + "\n", encoding="utf-8")
    return build


def seeded_version(version: str, name: str, values: dict[str, int]) -> str:
    """The version a seeded copy reports: ``0.24.4+seeded-slow-prompt-post.delay-ms-200`` (semver build metadata)."""
    params = "".join(f".{key.replace('_', '-')}-{value}" for key, value in sorted(values.items()))
    return f"{version}+seeded-{name}{params}"


def _write_version(base_json: Path, copy_json: Path, version: str) -> None:
    """Write the copy's own ``package.json`` (the base's, with ``version``), by which reports name the build."""
    if not base_json.is_file():
        return
    meta = json.loads(base_json.read_text(encoding="utf-8"))
    meta["version"] = version
    copy_json.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def link_tree(src: Path, dst: Path, *, skip: Collection[Path] = ()) -> LinkStats:
    """Mirror ``src`` into ``dst``: new folders, files shared by hard link (see the module notes).

    Args:
        src: Folder to mirror.
        dst: New folder (must not exist).
        skip: Files of ``src`` (absolute) not to mirror: the ones the copy writes anew.
    """
    stats = LinkStats()
    src = src.absolute()
    dst.mkdir(parents=True)
    for here, dirs, files in os.walk(src, followlinks=False):
        rel = Path(here).relative_to(src)
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for d in list(dirs):
            path = Path(here) / d
            if path.is_symlink():
                os.symlink(os.readlink(path), dst / rel / d)
                stats.links_kept += 1
                dirs.remove(d)
            else:
                (dst / rel / d).mkdir()
        for name in files:
            path = Path(here) / name
            target = dst / rel / name
            if path in skip:
                continue
            if path.is_symlink():
                os.symlink(os.readlink(path), target)
                stats.links_kept += 1
                continue
            try:
                os.link(path, target)
                stats.hard_links += 1
            except OSError:
                if path.suffix in _CODE_SUFFIXES:
                    shutil.copy2(path, target)
                    stats.copied += 1
                else:
                    os.symlink(path, target)
                    stats.symlinks += 1
    return stats


def read_marker(entry: str | os.PathLike) -> dict | None:
    """The marker of a seeded copy whose entry script is ``entry``, or ``None`` for any other build."""
    path = Path(entry).parent / MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("seededRegression") is True else None


def describe(build: SeededBuild) -> str:
    """A multi-line account of a copy (for ``make``'s output)."""
    data = asdict(build.stats)
    shared = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in data.items() if v)
    return (
        f"{build.name} [{build.kind}] {build.description}\n"
        f"  patched {build.patched_file}{' (found by its anchors)' if build.relocated else ''}; shared: {shared}\n"
        f"  {build.entry}"
    )


__all__ = [
    "DEFAULT_OUT",
    "MARKER",
    "BaseBuild",
    "LinkStats",
    "PatchError",
    "SeededBuild",
    "base_build",
    "build_root",
    "check_patches",
    "link_tree",
    "make_builds",
    "read_marker",
]
