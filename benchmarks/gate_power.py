"""How often the performance gate raises a false alarm, and how often it catches a known regression.

Runs the gate (``keywords.measure.perf_gate``, the same engine as ``suites/loadtest/perf_gate.robot``) repeatedly:

* release against release (the candidate is the reference: every failure is a false alarm);
* release against each given candidate build (e.g. the seeded builds of ``python -m keywords.daemon.seeded
  make``: one 10 % slower on session creation and prompts, one that keeps 1 MB per session): every pass of a
  gated metric that the build regresses is a miss.

Usage::

    .venv/bin/python benchmarks/gate_power.py --repeats 10 [--blocks 3] [--candidate NAME=ENTRY ...]

Writes ``results/gate-power.json`` and prints, per metric, the rate of ``fail`` verdicts in each series, the
median estimate and the median smallest detectable change. Needs a quiet machine (nothing else running):
the figures describe the gate at the sample size used on that machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keywords.daemon import provision  # noqa: E402
from keywords.daemon.daemon_process import Daemon, DaemonSpec  # noqa: E402
from keywords.daemon.registry import Registry  # noqa: E402
from keywords.fakes import mock_control  # noqa: E402
from keywords.measure.perf_gate import METRIC_NAMES, GateResult, load_tolerances, run_gate  # noqa: E402
from keywords.traffic.client import DaemonClient  # noqa: E402


def gate_once(registry: Registry, reference: str, candidate: str, blocks: int, tolerances, out: Path) -> GateResult:
    """One gate run of ``candidate`` against ``reference`` (entry scripts)."""
    node = provision.check_node()
    sources = {"reference": provision.resolve_daemon(reference), "candidate": provision.resolve_daemon(candidate)}
    count = [0]

    def prepare(home):
        env, files, _control = mock_control.agent_env(home, chunks=3)
        return env, files

    def start(build: str):
        count[0] += 1
        spec = DaemonSpec(source=sources[build], node=node.path, flags={"max_sessions": 0}, prepare=prepare)
        daemon = Daemon(spec, registry, f"power-{count[0]}", out / f"daemon-{count[0]}")
        daemon.start()
        client = DaemonClient(daemon.base_url)
        daemon.on_stop(client.close)
        return daemon, client

    def stop(daemon):
        daemon.stop(grace_s=5.0)
        daemon.discard_home()

    return run_gate(
        start,
        stop,
        reference=reference,
        candidate=candidate,
        same_build=reference == candidate,
        tolerances=tolerances,
        blocks=blocks,
    )


def summarize(results: list[GateResult]) -> dict:
    """Per metric: share of fail verdicts, median estimate, median smallest detectable change; gate failures."""
    per_metric = {}
    for name in METRIC_NAMES:
        ests = [next(e for e in r.estimates if e.metric == name) for r in results]
        values = [e.estimate for e in ests if e.estimate is not None]
        mdes = [e.smallest_detectable for e in ests if e.smallest_detectable is not None]
        per_metric[name] = {
            "failRate": sum(e.verdict == "fail" for e in ests) / len(ests),
            "medianEstimate": statistics.median(values) if values else None,
            "medianSmallestDetectable": statistics.median(mdes) if mdes else None,
        }
    return {
        "runs": len(results),
        "gateFailRate": sum(not r.passed for r in results) / len(results),
        "medianWallS": statistics.median(r.wall_s for r in results),
        "metrics": per_metric,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/gate_power.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="gate runs per series (default 10)")
    parser.add_argument("--blocks", type=int, default=3, help="blocks of two pairs per gate run (default 3)")
    parser.add_argument("--reference", default="", help="reference entry script (default: the pinned release)")
    parser.add_argument("--candidate", action="append", default=[], help="NAME=ENTRY of a candidate build")
    parser.add_argument("--tolerances", default=str(ROOT / "resources" / "perf-gate.json"))
    parser.add_argument("--out", default=str(ROOT / "results" / "gate-power.json"))
    args = parser.parse_args(argv)
    reference = provision.resolve_daemon(args.reference or None).entry
    series = {"release-vs-release": reference}
    for item in args.candidate:
        name, _, entry = item.partition("=")
        series[name] = provision.resolve_daemon(entry).entry
    tolerances = load_tolerances(args.tolerances)
    registry = Registry()
    report = {"blocks": args.blocks, "repeats": args.repeats, "reference": reference, "series": {}}
    work = Path("/tmp") / f"gate-power-{int(time.time())}"
    try:
        for name, candidate in series.items():
            results = []
            for i in range(args.repeats):
                result = gate_once(registry, reference, candidate, args.blocks, tolerances, work / name / str(i))
                results.append(result)
                failed = ", ".join(e.metric for e in result.failed) or "none"
                print(f"{name} #{i + 1}: {'pass' if result.passed else 'FAIL'} ({failed}) in {result.wall_s:.0f} s")
            report["series"][name] = {"candidate": candidate, **summarize(results)}
    finally:
        registry.shutdown()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for name, data in report["series"].items():
        print(f"\n{name}: gate failed in {data['gateFailRate']:.0%} of {data['runs']} runs")
        for metric, fig in data["metrics"].items():
            est = fig["medianEstimate"]
            mde = fig["medianSmallestDetectable"]
            print(
                f"  {metric:24s} fail {fig['failRate']:5.0%}  estimate {'n/a' if est is None else f'{est:.3f}'}"
                f"  detects {'n/a' if mde is None else f'{mde:.3f}'}"
            )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
