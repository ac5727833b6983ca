"""The run history: every run's snapshots, metadata and test outcomes in one SQLite database.

One row per run (``runs``), one per process that wrote into it (``run_parts``: one ``main`` part, or one per
pabot process), its tests with their outcome (``tests``), each snapshot document as written (``snapshots``)
and every numeric figure of every scenario (``figures``: the series the trend page charts).

Safe when several processes write at once (pabot's processes, two runs on one shared folder): the database
is in WAL mode, each write is one ``BEGIN IMMEDIATE`` transaction (a busy database is waited for, within a
bound), and a run's tests, snapshots and figures go in with its final status in one transaction, so a run is
never half-written. A part is registered as ``running`` when its process starts; a part whose process died
(on this host) without finishing is marked ``interrupted`` the next time the database is opened, and a run
stopped by a signal is recorded as ``interrupted`` at its end.

The schema has a version (``PRAGMA user_version``) and a list of migrations applied in order; a database is
migrated, never dropped, and one written by a newer harness is refused.

Where the database is: ``results/history.sqlite`` (relative to the working folder), else the Robot variable
``${HISTORY_DB}`` or the environment variable ``QWEN_HARNESS_HISTORY`` (for a team's shared folder); ``NONE``
turns recording off. Nothing here imports Robot Framework.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from keywords.daemon.liveness import pid_alive
from keywords.errors import HarnessConfigError, HarnessError
from keywords.reporting import snapshot as snapshots
from keywords.reporting.run_records import (
    Point,
    Run,
    RunFacts,
    SeriesKey,
    TestOutcome,
    now_iso,
    numeric_figures,
    parameters_text,
)

DEFAULT_PATH = Path("results") / "history.sqlite"
ENV_VARIABLE = "QWEN_HARNESS_HISTORY"
ROBOT_VARIABLE = "${HISTORY_DB}"
OFF = "NONE"
BUSY_TIMEOUT_S = 30.0

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, the processes that wrote them, tests, snapshot documents, numeric figures.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_key TEXT NOT NULL UNIQUE,
        origin TEXT NOT NULL,
        name TEXT,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        git_commit TEXT,
        daemon_version TEXT,
        daemon_label TEXT,
        node_version TEXT,
        machine TEXT,
        robot_version TEXT,
        tags TEXT,
        metadata TEXT,
        passed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE run_parts (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        part TEXT NOT NULL,
        host TEXT,
        pid INTEGER,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        PRIMARY KEY (run_id, part)
    );
    CREATE TABLE tests (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        full_name TEXT NOT NULL,
        part TEXT NOT NULL,
        name TEXT NOT NULL,
        suite TEXT,
        status TEXT NOT NULL,
        duration_ms REAL,
        message TEXT,
        tags TEXT,
        PRIMARY KEY (run_id, full_name)
    );
    CREATE TABLE snapshots (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        kind TEXT NOT NULL,
        part TEXT NOT NULL,
        captured_at TEXT,
        document TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, part)
    );
    CREATE TABLE figures (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        kind TEXT NOT NULL,
        scenario TEXT NOT NULL,
        parameters TEXT NOT NULL,
        metric TEXT NOT NULL,
        status TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (run_id, kind, scenario, parameters, metric)
    );
    CREATE INDEX figures_series ON figures (kind, scenario, parameters, metric);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(HarnessError):
    """The history database cannot be used: not SQLite, written by a newer harness, or busy for too long."""


def database_path(variable: str | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the history goes: ``variable`` (``${HISTORY_DB}``), else ``$QWEN_HARNESS_HISTORY``, else the default.

    Returns:
        The path, or ``None`` when the chosen value is ``NONE`` (recording off).
    """
    environ = os.environ if environ is None else environ
    chosen = (variable or "").strip() or environ.get(ENV_VARIABLE, "").strip()
    if chosen.upper() == OFF:
        return None
    return Path(chosen) if chosen else DEFAULT_PATH


class HistoryStore:
    """The history database (open with :func:`open_store`, close with :meth:`close` or ``with``).

    Args:
        path: The SQLite file (created with its folder when missing).
        migrations: The schema's migrations (tests pass their own list).
    """

    def __init__(self, path: str | os.PathLike, migrations: Sequence[str] = MIGRATIONS) -> None:
        self.path = Path(path)
        self.migrations = tuple(migrations)
        if self.path.exists() and not self.path.is_file():
            raise HarnessConfigError(f"The history database {self.path} is not a file; give the path of a file.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise HistoryError(f"{self.path} is not a usable history database: {exc}.") from exc

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- schema ---------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The schema version of the database file."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> int:
        """Apply the migrations the database lacks, each in its own transaction; returns the new version.

        Raises:
            HistoryError: the database has a newer schema than this harness knows.
        """
        with self.transaction():
            current = self.version
            if current > len(self.migrations):
                raise HistoryError(
                    f"{self.path} has history schema version {current}, newer than this harness's "
                    f"{len(self.migrations)}: update the harness to read it."
                )
        while True:
            with self.transaction():
                current = self.version  # read again inside the lock: another process may have migrated
                if current >= len(self.migrations):
                    return current
                for statement in _statements(self.migrations[current]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {current + 1}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed at the end, rolled back on an error."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise HistoryError(
                        f"The history database {self.path} stayed locked for {BUSY_TIMEOUT_S:.0f} s."
                    ) from exc
                time.sleep(0.05)
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- writing --------------------------------------------------------------------------------
    def begin_part(self, run_key: str, part: str, facts: RunFacts, *, origin: str = "robot") -> int:
        """Register a process that starts writing a run (``running``); creates the run when it is new.

        Returns:
            The run's id.
        """
        self.mark_interrupted()
        with self.transaction() as db:
            run_id = self._upsert_run(db, run_key, origin, facts)
            db.execute(
                "INSERT OR REPLACE INTO run_parts (run_id, part, host, pid, status, started_at) "
                "VALUES (?, ?, ?, ?, 'running', ?)",
                (run_id, part, socket.gethostname(), os.getpid(), facts.started_at or now_iso()),
            )
            self._update_status(db, run_id)
        return run_id

    def finish_part(
        self,
        run_key: str,
        part: str,
        facts: RunFacts,
        tests: Iterable[TestOutcome],
        documents: Iterable[dict[str, Any]],
        *,
        interrupted: bool = False,
        origin: str = "robot",
    ) -> int:
        """Record a process's tests, snapshots and figures and end its part, all in one transaction.

        Args:
            run_key: The run's key.
            part: This process's part (``main`` or pabot's queue index).
            facts: The run's facts (they update those stored).
            tests: The tests this process ran.
            documents: The snapshot documents it wrote (``Snapshot.to_dict()`` or a loaded file).
            interrupted: The run was stopped (signal); else its status comes from its tests.
            origin: ``robot`` or ``import``.

        Returns:
            The run's id.
        """
        tests = list(tests)
        documents = [d for d in documents if isinstance(d, dict) and d.get("kind")]
        failed = any(t.status == "failed" for t in tests) or any(
            sc.get("status") == "failed" for d in documents for sc in d.get("scenarios", []) if isinstance(sc, dict)
        )
        status = "interrupted" if interrupted else ("failed" if failed else "passed")
        with self.transaction() as db:
            run_id = self._upsert_run(db, run_key, origin, facts)
            db.execute(
                "INSERT INTO run_parts (run_id, part, host, pid, status, started_at, ended_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, part) DO UPDATE SET "
                "status = excluded.status, ended_at = excluded.ended_at",
                (run_id, part, socket.gethostname(), os.getpid(), status, facts.started_at or now_iso(), now_iso()),
            )
            db.executemany(
                "INSERT OR REPLACE INTO tests (run_id, full_name, part, name, suite, status, duration_ms, message, "
                "tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        t.full_name,
                        part,
                        t.name,
                        t.suite,
                        t.status,
                        t.duration_ms,
                        (t.message or "")[:2000],
                        json.dumps(t.tags),
                    )
                    for t in tests
                ],
            )
            for doc in documents:
                self._add_document(db, run_id, part, doc)
            self._update_status(db, run_id)
        return run_id

    def _upsert_run(self, db: sqlite3.Connection, run_key: str, origin: str, facts: RunFacts) -> int:
        row = db.execute("SELECT id, started_at FROM runs WHERE run_key = ?", (run_key,)).fetchone()
        values = {
            "name": facts.name or None,
            "git_commit": facts.git_commit,
            "daemon_version": facts.daemon_version,
            "daemon_label": facts.daemon_label,
            "node_version": facts.node_version,
            "machine": facts.machine,
            "robot_version": facts.robot_version,
            "tags": json.dumps(facts.tags) if facts.tags else None,
            "metadata": json.dumps(facts.metadata) if facts.metadata else None,
        }
        if row is None:
            cur = db.execute(
                "INSERT INTO runs (run_key, origin, status, started_at, "
                + ", ".join(values)
                + ") VALUES (?, ?, 'running', ?, "
                + ", ".join("?" for _ in values)
                + ")",
                (run_key, origin, facts.started_at or now_iso(), *values.values()),
            )
            return int(cur.lastrowid)
        known = {k: v for k, v in values.items() if v is not None}
        if known:
            db.execute(
                "UPDATE runs SET " + ", ".join(f"{k} = ?" for k in known) + " WHERE id = ?", (*known.values(), row[0])
            )
        if facts.started_at and facts.started_at < row["started_at"]:
            db.execute("UPDATE runs SET started_at = ? WHERE id = ?", (facts.started_at, row[0]))
        return int(row[0])

    @staticmethod
    def _add_document(db: sqlite3.Connection, run_id: int, part: str, doc: dict[str, Any]) -> None:
        kind = str(doc["kind"])
        db.execute(
            "INSERT OR REPLACE INTO snapshots (run_id, kind, part, captured_at, document) VALUES (?, ?, ?, ?, ?)",
            (run_id, kind, part, doc.get("capturedAt"), snapshots.dumps(doc)),
        )
        rows = []
        for sc in doc.get("scenarios", []):
            if not isinstance(sc, dict) or not sc.get("name"):
                continue
            params = parameters_text(sc.get("parameters"))
            for metric, value in numeric_figures(sc.get("metrics")).items():
                rows.append((run_id, kind, str(sc["name"]), params, metric, str(sc.get("status", "passed")), value))
        db.executemany(
            "INSERT OR REPLACE INTO figures (run_id, kind, scenario, parameters, metric, status, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    @staticmethod
    def _update_status(db: sqlite3.Connection, run_id: int) -> None:
        parts = [r[0] for r in db.execute("SELECT status FROM run_parts WHERE run_id = ?", (run_id,))]
        status = next((s for s in ("interrupted", "running", "failed") if s in parts), "passed")
        counts = dict(db.execute("SELECT status, COUNT(*) FROM tests WHERE run_id = ? GROUP BY status", (run_id,)))
        ended = db.execute("SELECT MAX(ended_at) FROM run_parts WHERE run_id = ?", (run_id,)).fetchone()[0]
        db.execute(
            "UPDATE runs SET status = ?, ended_at = ?, passed = ?, failed = ?, skipped = ? WHERE id = ?",
            (
                status,
                None if status == "running" else ended,
                counts.get("passed", 0),
                counts.get("failed", 0),
                counts.get("skipped", 0),
                run_id,
            ),
        )

    def mark_interrupted(self) -> list[int]:
        """Mark ``running`` parts of this host whose process is gone as ``interrupted``; returns their runs."""
        host = socket.gethostname()
        rows = self.db.execute(
            "SELECT run_id, part, pid FROM run_parts WHERE status = 'running' AND host = ?", (host,)
        ).fetchall()
        dead = [r for r in rows if r["pid"] is None or not pid_alive(int(r["pid"]))]
        if not dead:
            return []
        with self.transaction() as db:
            for row in dead:
                db.execute(
                    "UPDATE run_parts SET status = 'interrupted' WHERE run_id = ? AND part = ? AND status = 'running'",
                    (row["run_id"], row["part"]),
                )
            for run_id in {r["run_id"] for r in dead}:
                self._update_status(db, run_id)
        return sorted({int(r["run_id"]) for r in dead})

    # -- reading --------------------------------------------------------------------------------
    def runs(self, *, last: int | None = None) -> list[Run]:
        """The runs in recording order (the ``last`` ones when given)."""
        rows = self.db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        if last is not None:
            rows = rows[-last:] if last > 0 else []
        return [_run(r) for r in rows]

    def run(self, run_key: str) -> Run | None:
        """The run with this key, or ``None``."""
        row = self.db.execute("SELECT * FROM runs WHERE run_key = ?", (run_key,)).fetchone()
        return _run(row) if row else None

    def series(self, run_ids: Iterable[int] | None = None) -> dict[SeriesKey, list[Point]]:
        """Every figure's values over the runs (those of passed scenarios), oldest first."""
        wanted = None if run_ids is None else set(run_ids)
        out: dict[SeriesKey, list[Point]] = {}
        for row in self.db.execute(
            "SELECT f.* FROM figures f JOIN runs r ON r.id = f.run_id "
            "WHERE f.status = 'passed' AND r.status IN ('passed', 'failed') "
            "ORDER BY f.kind, f.scenario, f.parameters, f.metric, f.run_id"
        ):
            if wanted is not None and row["run_id"] not in wanted:
                continue
            key = SeriesKey(row["kind"], row["scenario"], row["parameters"], row["metric"])
            out.setdefault(key, []).append(Point(int(row["run_id"]), float(row["value"])))
        return out

    def tests(self, run_ids: Iterable[int] | None = None) -> dict[str, dict[int, TestOutcome]]:
        """Each test's outcome per run: full name -> run id -> outcome."""
        wanted = None if run_ids is None else set(run_ids)
        out: dict[str, dict[int, TestOutcome]] = {}
        for row in self.db.execute("SELECT * FROM tests ORDER BY full_name, run_id"):
            if wanted is not None and row["run_id"] not in wanted:
                continue
            texts = {name: row[name] or "" for name in ("suite", "message")}
            outcome = _record(TestOutcome, row, **texts, tags=json.loads(row["tags"] or "[]"))
            out.setdefault(row["full_name"], {})[int(row["run_id"])] = outcome
        return out


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _record(cls: type, row: sqlite3.Row, **converted: Any) -> Any:
    """A ``cls`` record from a row: each field the column of its name, or its ``converted`` value where given."""
    return cls(**{f.name: converted[f.name] if f.name in converted else row[f.name] for f in fields(cls)})


def _run(row: sqlite3.Row) -> Run:
    counts = {name: int(row[name]) for name in ("id", "passed", "failed", "skipped")}
    return _record(Run, row, **counts, tags=json.loads(row["tags"] or "{}"))


def open_store(path: str | os.PathLike) -> HistoryStore:
    """Open (creating or migrating) the history database at ``path``."""
    return HistoryStore(path)
