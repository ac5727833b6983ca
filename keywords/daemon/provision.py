"""Where the daemon under test comes from: the pinned npm release (cached) or a local build.

The release is installed by npm from the committed ``keywords/daemon/pin/package-lock.json``, so every tarball is
checked against the lockfile's integrity hashes; the install fails if npm had to change the lockfile.
(``npm ci`` itself refuses this package's lockfile because of its empty-version optional dependencies.)
Installs go to a per-version cache folder, under an exclusive file lock so that parallel runs (pabot) install
once. ``python -m keywords.daemon.provision`` installs ahead of time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from keywords.errors import HarnessConfigError, HarnessSetupError

PIN_DIR = Path(__file__).with_name("pin")
PACKAGE = "@qwen-code/qwen-code"
ENTRY_ENV = "QWEN_SERVE_ENTRY"
CACHE_ENV = "QWEN_HARNESS_CACHE"
MIN_NODE = (20, 0)
WANTED_NODE = (22, 0)


@dataclass(frozen=True)
class NodeInfo:
    """The Node.js that runs the daemon."""

    path: str
    version: str
    major: int
    warning: str | None


@dataclass(frozen=True)
class DaemonSource:
    """One daemon build to test.

    Attributes:
        kind: ``release`` (pinned npm release) or ``local`` (a build the user pointed at).
        entry: Absolute path of the entry script run as ``node <entry> serve``.
        version: Version from the build's ``package.json`` (``unknown`` when absent).
        label: Human description for reports, e.g. ``release 0.24.4`` or ``local build /src/dist/cli.js``.
    """

    kind: str
    entry: str
    version: str
    label: str


def pinned_version() -> str:
    """The exact release version pinned in ``keywords/daemon/pin/package.json``."""
    return json.loads((PIN_DIR / "package.json").read_text())["dependencies"][PACKAGE]


def cache_root() -> Path:
    """Cache folder for daemon installs (``$QWEN_HARNESS_CACHE`` or ``~/.cache/qwen-serve-harness``)."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "qwen-serve-harness"
    )
    return Path(base)


def check_node() -> NodeInfo:
    """Find Node.js and check its version.

    Raises:
        HarnessSetupError: Node.js is missing, does not run, or is older than 20.
    """
    node = shutil.which("node")
    if node is None:
        raise HarnessSetupError(
            "Node.js was not found on PATH. The qwen serve daemon is a Node.js program: install Node.js 22 "
            "(20 works with a warning) and make sure `node --version` runs in this shell."
        )
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HarnessSetupError(f"`{node} --version` failed ({exc}); reinstall Node.js.") from exc
    version = out.stdout.strip()
    match = re.match(r"v?(\d+)\.(\d+)", version)
    if not match:
        raise HarnessSetupError(f"`{node} --version` printed {version!r}, which is not a Node.js version.")
    major_minor = (int(match.group(1)), int(match.group(2)))
    if major_minor < MIN_NODE:
        raise HarnessSetupError(
            f"Node.js {version} at {node} is too old: the daemon needs Node.js 20 or newer (22 recommended)."
        )
    warning = None
    if major_minor < WANTED_NODE:
        warning = (
            f"Node.js {version}: {PACKAGE} asks for Node.js >= 22; running on {version} anyway "
            "(the daemon works on 20, figures may differ from 22)."
        )
    return NodeInfo(path=node, version=version, major=major_minor[0], warning=warning)


def resolve_daemon(entry: str | None = None, *, install: bool = True, log=None) -> DaemonSource:
    """Decide which daemon build to run.

    Args:
        entry: Path of a local build's entry script (``dist/cli.js`` or ``cli-entry.js``). When empty, the
            ``QWEN_SERVE_ENTRY`` environment variable is used; when that is empty too, the pinned release.
        install: Install the pinned release when it is not cached yet.
        log: Callable receiving progress lines (defaults to stderr).

    Raises:
        HarnessConfigError: The local build path does not exist or is not a script.
        HarnessSetupError: npm is missing or the install failed.
    """
    entry = entry or os.environ.get(ENTRY_ENV) or None
    if entry:
        return local_source(entry)
    return release_source(install=install, log=log)


def local_source(entry: str) -> DaemonSource:
    """A local daemon build, validated before anything runs."""
    path = Path(entry).expanduser()
    if not path.exists():
        raise HarnessConfigError(
            f"The daemon build {entry!r} (from the DAEMON_ENTRY variable or ${ENTRY_ENV}) does not exist. "
            "Point it at the entry script of your build, e.g. <qwen-code checkout>/dist/cli.js, "
            "or leave it empty to test the pinned release."
        )
    if path.is_dir():
        for candidate in ("cli-entry.js", "dist/cli.js", "cli.js"):
            if (path / candidate).is_file():
                path = path / candidate
                break
        else:
            raise HarnessConfigError(
                f"The daemon build {entry!r} is a folder without cli-entry.js, dist/cli.js or cli.js; "
                "point DAEMON_ENTRY at the entry script itself."
            )
    if path.suffix not in (".js", ".mjs", ".cjs"):
        raise HarnessConfigError(
            f"The daemon build {entry!r} is not a JavaScript entry script (.js/.mjs/.cjs); "
            "point DAEMON_ENTRY at e.g. dist/cli.js of your qwen-code build."
        )
    path = path.resolve()
    return DaemonSource("local", str(path), _version_near(path), f"local build {path}")


def _version_near(path: Path) -> str:
    for parent in [path.parent, *path.parents][:4]:
        pkg = parent / "package.json"
        if pkg.is_file():
            with contextlib.suppress(ValueError, OSError):
                return str(json.loads(pkg.read_text()).get("version", "unknown"))
    return "unknown"


def release_dir() -> Path:
    """Cache folder of the pinned release (keyed by version and lockfile hash)."""
    lock_hash = hashlib.sha256((PIN_DIR / "package-lock.json").read_bytes()).hexdigest()[:12]
    return cache_root() / "daemon" / f"{pinned_version()}-{lock_hash}"


def release_source(*, install: bool = True, log=None) -> DaemonSource:
    """The pinned release, installed into the cache first when needed."""
    target = release_dir()
    entry = target / "node_modules" / PACKAGE / "cli-entry.js"
    if not (target / ".complete").is_file():
        if not install:
            raise HarnessSetupError(f"{PACKAGE}@{pinned_version()} is not installed in {target}.")
        install_release(target, log=log)
    return DaemonSource("release", str(entry), pinned_version(), f"release {pinned_version()} (npm, pinned)")


def install_release(target: Path, *, log=None) -> None:
    """Install the pinned release into ``target`` with npm under an exclusive lock."""
    log = log or (lambda line: print(line, file=sys.__stderr__, flush=True))
    npm = shutil.which("npm")
    if npm is None:
        raise HarnessSetupError(
            f"npm was not found on PATH; it is needed once to install {PACKAGE}@{pinned_version()}. "
            "Install npm (it ships with Node.js), or set QWEN_SERVE_ENTRY to a local daemon build."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").is_file():
            return
        log(f"[qwen-serve-harness] installing {PACKAGE}@{pinned_version()} into {target} (first use) ...")
        staging = target.parent / f"{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(PIN_DIR / name, staging / name)
        lock_before = (staging / "package-lock.json").read_bytes()
        cmd = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            done = subprocess.run(cmd, cwd=staging, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessSetupError(f"`npm install` for {PACKAGE} took over 600 s in {staging}.") from exc
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise HarnessSetupError(
                f"Installing {PACKAGE}@{pinned_version()} failed (`npm install`, exit {done.returncode}). "
                f"Check the npm registry is reachable. npm said:\n{tail}"
            )
        if (staging / "package-lock.json").read_bytes() != lock_before:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessSetupError(
                "npm changed the pinned lockfile while installing, so the install is not the pinned one; "
                "refusing it. Regenerate keywords/daemon/pin/package-lock.json on purpose if the pin moved."
            )
        installed = json.loads((staging / "node_modules" / PACKAGE / "package.json").read_text())["version"]
        if installed != pinned_version():
            raise HarnessSetupError(f"npm installed {PACKAGE}@{installed}, expected {pinned_version()}.")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        (target / ".complete").write_text(installed + "\n")
        log(f"[qwen-serve-harness] installed {PACKAGE}@{installed}")


def main() -> int:
    """``python -m keywords.daemon.provision``: check Node.js and install the pinned daemon release."""
    try:
        node = check_node()
        source = resolve_daemon()
    except (HarnessSetupError, HarnessConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if node.warning:
        print(f"warning: {node.warning}", file=sys.stderr)
    print(f"daemon: {source.label} -> {source.entry}\nnode: {node.version} ({node.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
