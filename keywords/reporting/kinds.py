"""The one registry of snapshot kinds: name -> Markdown title -> JSON Schema, and the check of a snapshot.

A suite records its scenarios into one kind (``results/<kind>.json`` and ``.md``); each kind has a JSON Schema
(draft 2020-12) in ``keywords/reporting/schemas/<kind>.schema.json`` built on the shared envelope
(``envelope.schema.json``: version, kind, capturedAt, gitCommit, platform, daemon, method, scenarios with
name, status, durationMs, error?, parameters?, metrics; figure keys camelCase at every depth).

:func:`problems` checks a snapshot document against its kind's schema (``jsonschema``, a development
dependency, imported only there) and says, for each problem, the scenario and key. Nothing here imports Robot
Framework.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from keywords.errors import HarnessConfigError

SCHEMAS = Path(__file__).parent / "schemas"
ENVELOPE = SCHEMAS / "envelope.schema.json"


@dataclass(frozen=True)
class Kind:
    """One snapshot kind.

    Attributes:
        name: File base name (``loadtest-report`` -> ``loadtest-report.json``) and the ``kind`` field.
        title: Title of the Markdown snapshot.
        recorded_by: Which suites record it (for the documentation).
    """

    name: str
    title: str
    recorded_by: str

    @property
    def schema_path(self) -> Path:
        """``keywords/reporting/schemas/<name>.schema.json``."""
        return SCHEMAS / f"{self.name}.schema.json"


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("loadtest-report", "qwen serve daemon — connection stress test report", "suites/loadtest"),
        Kind("limits", "qwen serve daemon — limits and failure paths", "suites/limits"),
        Kind("perf-baseline", "qwen serve daemon — baseline", "suites/baseline"),
        Kind("daemon-vs-cli-benchmark", "qwen daemon vs CLI — performance benchmark", "suites/benchmark"),
        Kind(
            "build-comparison",
            "qwen serve daemon — A/B build comparison",
            "suites/benchmark/compare_builds.robot",
        ),
        Kind("scenarios", "qwen serve daemon — scenario table", "suites/scenarios"),
        Kind("smoke", "qwen serve daemon — smoke test", "suites/smoke.robot"),
        Kind("permissions", "qwen serve daemon — permission requests and their mediation", "suites/permissions"),
        Kind(
            "restore", "qwen serve daemon — session restore, crash durability and the /acp transport", "suites/restore"
        ),
        Kind("capacity", "qwen serve daemon — capacity search", "suites/capacity"),
        Kind("soak", "qwen serve daemon — soak with a leak verdict", "suites/soak"),
    )
}


def get(name: Any) -> Kind:
    """The registered kind called ``name``.

    Raises:
        HarnessConfigError: ``name`` is not a registered kind (the message lists them).
    """
    if not isinstance(name, str) or name not in KINDS:
        raise HarnessConfigError(
            f"The snapshot kind must be one of {', '.join(KINDS)}; got {name!r}. "
            "Add a new kind to keywords/reporting/kinds.py with its schema."
        )
    return KINDS[name]


def title(name: str) -> str:
    """Markdown title of a kind (the name itself for a kind that is not registered, e.g. in an old file)."""
    return KINDS[name].title if name in KINDS else name


def kind_of_file(path: str | Path) -> str | None:
    """The kind a snapshot file's name says: ``<kind>.json`` or ``<kind>.<part>.part.json``; ``None`` if none."""
    stem = Path(path).name.split(".", 1)[0]
    return stem if stem in KINDS else None


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a registered kind (parsed)."""
    return json.loads(get(name).schema_path.read_text(encoding="utf-8"))


@cache
def _validator(name: str):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    envelope = json.loads(ENVELOPE.read_text(encoding="utf-8"))
    registry = Registry().with_resource(envelope["$id"], Resource.from_contents(envelope))
    return Draft202012Validator(schema(name), registry=registry)


@dataclass(frozen=True)
class Problem:
    """One way a snapshot breaks its kind's schema.

    Attributes:
        scenario: Name of the scenario it is in (``None`` for the envelope).
        key: Dotted path of the key inside the scenario (or the envelope), e.g. ``metrics.harness_cpu``.
        message: What is wrong (the schema's words).
    """

    scenario: str | None
    key: str
    message: str

    def line(self) -> str:
        """``scenario 'x', key metrics.late_ms: 'late_ms' does not match ...``."""
        where = f"scenario {self.scenario!r}, " if self.scenario is not None else ""
        return f"{where}key {self.key or '(top level)'}: {self.message}"


def problems(doc: Any, kind: str | None = None) -> list[Problem]:
    """Every way ``doc`` breaks the schema of its kind (``kind``, else its ``kind`` field).

    Raises:
        HarnessConfigError: the kind is not registered.
    """
    name = kind or (doc.get("kind") if isinstance(doc, dict) else None)
    validator = _validator(get(name).name)
    found = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        scenario = None
        if len(path) >= 2 and path[0] == "scenarios" and isinstance(path[1], int):
            items = doc.get("scenarios") or []
            entry = items[path[1]] if path[1] < len(items) else None
            scenario = entry.get("name", f"#{path[1]}") if isinstance(entry, dict) else f"#{path[1]}"
            path = path[2:]
        key = ".".join(str(p) for p in path)
        if "propertyNames" in error.absolute_schema_path:
            key = f"{key}.{error.instance}" if key else str(error.instance)
            message = f"key {error.instance!r} is not camelCase (e.g. lateMs, peakRssMB, p99)"
        else:
            message = error.message
        found.append(Problem(scenario, key, message))
    return found
