"""A slower daemon build for the history test: a copy of the pinned release with a delay in its prompt route.

The copy is made of hard links (a real copy across file systems) in a folder of the test, so nothing under the
cache changes; only the chunk that holds the ``POST /session/:id/prompt`` handler is written anew, with an
``await`` of ``delay_ms`` at the start of the handler, and ``package.json`` with the version
``<release>+prompt-delay-<delay_ms>ms``, by which reports name the build. Every prompt is then accepted
that much later, so the turn times of a run against it step up; everything else (boot, stop, health) is
the release's. The other packages next to the release (``sharp`` and its binaries) are linked, not copied.

    python atest/slow_build.py DEST [DELAY_MS]    # prints the copy's entry script
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keywords.daemon.provision import PACKAGE, release_source  # noqa: E402

ANCHOR = '"POST /session/:id/prompt",\n      async (req, res, sessionId, runtime, onPromptAdmitted) => {\n'


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make(dest: Path, delay_ms: int = 300) -> Path:
    """Make the slower copy under ``dest`` and return its entry script (``cli-entry.js``)."""
    release = Path(release_source().entry).parent
    modules = release.parents[1]
    target_modules = dest / "node_modules"
    target = target_modules / PACKAGE
    if target.exists():
        shutil.rmtree(target)
    target_modules.mkdir(parents=True, exist_ok=True)
    for entry in modules.iterdir():
        if entry.name != PACKAGE.split("/")[0] and not (target_modules / entry.name).exists():
            (target_modules / entry.name).symlink_to(entry)
    shutil.copytree(release, target, symlinks=True, copy_function=_link_or_copy)
    routes = [p for p in sorted((target / "chunks").glob("*.js")) if ANCHOR in p.read_text(encoding="utf-8")]
    if len(routes) != 1:
        raise RuntimeError(f"expected one chunk with the prompt route of {PACKAGE}, found {len(routes)}")
    text = routes[0].read_text(encoding="utf-8")
    delay = f"        await new Promise((resolve) => setTimeout(resolve, {int(delay_ms)}));\n"
    routes[0].unlink()  # a new file: the hard link to the cached release stays as it was
    routes[0].write_text(text.replace(ANCHOR, ANCHOR + delay, 1), encoding="utf-8")
    package = target / "package.json"
    meta = json.loads(package.read_text(encoding="utf-8"))
    meta["version"] = f"{meta['version']}+prompt-delay-{int(delay_ms)}ms"  # what reports name the build by
    package.unlink()
    package.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return target / "cli-entry.js"


if __name__ == "__main__":
    print(make(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300))
