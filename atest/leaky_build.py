"""A copy of the pinned daemon release that keeps a buffer per created session (test tooling, not a daemon).

``make(dest, kib)`` links the release's ``node_modules`` into ``dest`` (hard links where the file system
allows, else copies) and patches only the chunk that holds the ``POST /session`` route: every request to it pushes a
``kib`` KiB buffer, filled so that its pages are resident, onto a global array that nothing ever frees; its
``package.json`` version gets ``+session-leak-<kib>KiB``, by which reports name the build. The churn soak must
call such a build ``leak``. (``atest/slow_build.py`` makes its slower build the same way.)

    python atest/leaky_build.py DEST [KIB]    # prints the copy's entry script
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keywords.daemon.provision import release_source  # noqa: E402

ROUTE = 'app.post("/session", mutate(), async (req, res) => {'


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make(dest: Path, kib: int = 512) -> Path:
    """Build the leaking copy under ``dest`` and return its entry script.

    Raises:
        RuntimeError: the release has no ``POST /session`` route where this tool expects it.
    """
    entry = Path(release_source(install=True).entry)
    package = entry.parent
    modules = package.parent.parent  # <cache>/node_modules, with the package's optional dependencies
    copied = Path(dest) / "node_modules"
    if copied.exists():
        shutil.rmtree(copied)
    shutil.copytree(modules, copied, copy_function=_link_or_copy, symlinks=True)
    target = copied / package.relative_to(modules)
    for chunk in sorted((target / "chunks").glob("*.js")):
        text = chunk.read_text(encoding="utf-8")
        if ROUTE in text:
            leak = f"(globalThis.__harnessLeak ||= []).push(Buffer.alloc({kib * 1024}, 7));"
            chunk.unlink()  # a hard link: never write through it into the release
            chunk.write_text(text.replace(ROUTE, ROUTE + "\n    " + leak, 1), encoding="utf-8")
            package_json = target / "package.json"
            meta = json.loads(package_json.read_text(encoding="utf-8"))
            meta["version"] = f"{meta['version']}+session-leak-{kib}KiB"  # what reports name the build by
            package_json.unlink()
            package_json.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            return target / entry.name
    raise RuntimeError(f"No chunk of {package} holds the POST /session route; the leaking build cannot be made.")


if __name__ == "__main__":
    print(make(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 512))
