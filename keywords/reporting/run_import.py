"""The run history's links to output folders: which run a process belongs to, and importing folders afterwards.

A run recorded at its end leaves ``history-run.json`` in its output folder, so that importing the folder later
does not record it twice; ``python -m keywords.history import`` records the output folders (``output.xml``,
snapshots, pabot's unmerged parts) of runs that were not recorded. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from keywords.errors import HarnessConfigError
from keywords.reporting import snapshot as snapshots
from keywords.reporting.run_records import OUTCOMES, RunFacts, TestOutcome, is_interrupted, iso_utc, now_iso
from keywords.reporting.run_store import HistoryStore

MARKER = "history-run.json"


# -- which run a process belongs to ---------------------------------------------------------------
def pabot_ancestor() -> psutil.Process | None:
    """The pabot process this process runs under, or ``None``."""
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process().parents():
            with contextlib.suppress(psutil.Error):
                args = proc.cmdline()
                if any(Path(a).name == "pabot" or a in ("pabot", "pabot.pabot") for a in args[:3]):
                    return proc
    return None


def run_key(pabot_part: str | None) -> str:
    """A new run's key; under pabot (``pabot_part`` set) the one key every process of that pabot run shares."""
    if pabot_part:
        parent = pabot_ancestor()
        if parent is not None:
            with contextlib.suppress(psutil.Error):
                return f"pabot-{socket.gethostname()}-{parent.pid}-{int(parent.create_time() * 1000)}"
    return f"robot-{uuid.uuid4().hex}"


def write_marker(folder: Path, key: str, database: Path) -> None:
    """Leave ``history-run.json`` in a run's output folder, so that importing the folder later skips the run."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(json.dumps({"runKey": key, "database": database.name}) + "\n", encoding="utf-8")


# -- importing folders ----------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import did with one folder.

    Attributes:
        folder: The folder.
        run_id: The run it was recorded as (or already was), ``None`` when it held nothing to import.
        imported: ``True`` when it was recorded now, ``False`` when it was there already or empty.
        note: What happened, in words.
        kinds: The snapshot kinds found.
        tests: Number of tests found in its ``output.xml``.
    """

    folder: Path
    run_id: int | None
    imported: bool
    note: str
    kinds: list[str] = field(default_factory=list)
    tests: int = 0

    def line(self) -> str:
        """One line: folder, run and what happened."""
        run = f"run #{self.run_id}" if self.run_id is not None else "no run"
        return f"{self.folder}: {run}, {self.note}"


def output_xml(path: Path) -> tuple[RunFacts, list[TestOutcome], bool]:
    """Facts, tests and whether the run was stopped, read from a Robot ``output.xml`` (schema 5, Robot 7)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise HarnessConfigError(f"Cannot read the Robot output {path}: {exc}.") from exc
    suite = root.find("suite")
    if root.tag != "robot" or suite is None:
        raise HarnessConfigError(f"{path} is not a Robot Framework output.xml (no <robot><suite>).")
    status = suite.find("status")
    started = (
        iso_utc(status.get("start") if status is not None else None) or iso_utc(root.get("generated")) or now_iso()
    )
    metadata = {m.get("name", ""): m.text or "" for m in suite.findall("meta")}
    facts = RunFacts.from_metadata(suite.get("name", ""), started, metadata)
    tests: list[TestOutcome] = []

    def walk(node: ET.Element, parents: list[str]) -> None:
        names = [*parents, node.get("name", "")]
        for test in node.findall("test"):
            st = test.find("status")
            elapsed = float(st.get("elapsed", "nan")) if st is not None else math.nan
            tests.append(
                TestOutcome(
                    full_name=".".join([*names, test.get("name", "")]),
                    name=test.get("name", ""),
                    suite=".".join(names),
                    status=OUTCOMES.get(st.get("status", "") if st is not None else "", "failed"),
                    duration_ms=elapsed * 1000 if math.isfinite(elapsed) else None,
                    message=(st.text or "") if st is not None else "",
                    tags=[t.text or "" for t in test.findall("tag")],
                )
            )
        for child in node.findall("suite"):
            walk(child, names)

    walk(suite, [])
    return facts, tests, is_interrupted(tests)


def snapshot_documents(folder: Path) -> list[dict[str, Any]]:
    """The merged snapshots (``<kind>.json``) directly in ``folder``, read with :func:`snapshot.load`."""
    docs = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".part.json") or path.name == MARKER:
            continue
        with contextlib.suppress(HarnessConfigError):
            doc = snapshots.load(path)
            if doc.get("kind"):
                docs.append(doc)
    return docs


def pabot_documents(folder: Path) -> list[dict[str, Any]]:
    """The snapshots of a pabot output folder whose parts were not merged yet (``pabot_results/*/*.part.json``)."""
    parts: dict[str, list[Path]] = {}
    for path in sorted((folder / "pabot_results").rglob("*.part.json")):
        parts.setdefault(path.name.split(".", 1)[0], []).append(path)
    merged = [snapshots.merge_parts(paths) for _kind, paths in sorted(parts.items())]
    return [doc for doc in merged if doc.get("kind")]


def recorded_markers(folder: Path) -> set[str]:
    """Run keys of the ``history-run.json`` markers under ``folder`` (a pabot run has one per process)."""
    keys = set()
    for marker in folder.rglob(MARKER):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            keys.add(str(json.loads(marker.read_text(encoding="utf-8"))["runKey"]))
    return keys


def import_folder(store: HistoryStore, folder: str | os.PathLike) -> ImportResult:
    """Record one output folder as a run: its ``output.xml`` (tests, metadata) and its merged snapshots.

    A folder a run's listener already recorded (its ``history-run.json`` names a run in the database) is not
    recorded twice, and importing a folder again finds the run it made the first time.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HarnessConfigError(f"Cannot import {folder}: it is not a folder. Give a Robot output folder.")
    for key in recorded_markers(folder):
        existing = store.run(key)
        if existing is not None:
            return ImportResult(folder, existing.id, False, "recorded at its end already")
    documents = snapshot_documents(folder) or pabot_documents(folder)
    out = folder / "output.xml"
    if out.is_file():
        facts, tests, stopped = output_xml(out)
    elif documents:
        facts, tests, stopped = _facts_of_snapshots(documents), [], False
    else:
        return ImportResult(folder, None, False, "no output.xml and no snapshot: nothing to import")
    digest = hashlib.sha256()
    digest.update(f"{facts.name}|{facts.started_at}".encode())
    for doc in documents:
        digest.update(f"|{doc.get('kind')}|{doc.get('capturedAt')}".encode())
    key = f"import-{digest.hexdigest()[:24]}"
    kinds_found = [str(d["kind"]) for d in documents]
    existing = store.run(key)
    if existing is not None:
        return ImportResult(folder, existing.id, False, "imported before", kinds_found, len(tests))
    run_id = store.finish_part(key, "main", facts, tests, documents, interrupted=stopped, origin="import")
    what = f"{len(tests)} tests, snapshots: {', '.join(kinds_found) or 'none'}"
    return ImportResult(folder, run_id, True, f"imported ({what})", kinds_found, len(tests))


def _facts_of_snapshots(documents: list[dict[str, Any]]) -> RunFacts:
    first = min(documents, key=lambda d: str(d.get("capturedAt") or ""))
    daemon = first.get("daemon") or {}
    plat = first.get("platform") or {}
    machine = " ".join(str(v) for v in (plat.get("os"), plat.get("arch"), plat.get("cpuModel")) if v) or None
    return RunFacts(
        name=", ".join(sorted({str(d["kind"]) for d in documents})),
        started_at=iso_utc(first.get("capturedAt")) or now_iso(),
        git_commit=first.get("gitCommit"),
        daemon_version=daemon.get("version"),
        daemon_label=daemon.get("label"),
        node_version=plat.get("nodeVersion"),
        machine=machine,
    )


def import_folders(store: HistoryStore, sources: Iterable[str | os.PathLike]) -> list[ImportResult]:
    """Import each source folder, and every output folder below it (oldest ``output.xml`` first).

    A folder with an ``output.xml`` is one run; a pabot output folder (merged ``output.xml`` plus
    ``pabot_results/``) is one run, its processes' folders are not imported again.
    """
    results = []
    for source in sources:
        source = Path(source)
        if not source.is_dir():
            raise HarnessConfigError(f"Cannot import {source}: it is not a folder. Give a Robot output folder.")
        folders = [source] if (source / "output.xml").is_file() or snapshot_documents(source) else []
        for out in sorted(source.rglob("output.xml"), key=lambda p: p.stat().st_mtime):
            folder = out.parent
            if folder == source or "pabot_results" in folder.relative_to(source).parts:
                continue
            if any(folder.is_relative_to(f) and f != source for f in folders):
                continue
            folders.append(folder)
        if not folders:
            results.append(ImportResult(source, None, False, "no output.xml and no snapshot: nothing to import"))
        results.extend(import_folder(store, folder) for folder in folders)
    return results
