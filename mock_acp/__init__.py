"""Mock ACP agent run by the `qwen serve` daemon under test (via ``QWEN_CLI_ENTRY=LAUNCHER``)."""

from pathlib import Path

_HERE = Path(__file__).resolve().parent

LAUNCHER = _HERE / "launcher.cjs"
"""Node launcher to set as the daemon's ``QWEN_CLI_ENTRY``."""

AGENT = _HERE / "agent.py"
"""The stdlib-only Python agent the launcher runs."""

__all__ = ["AGENT", "LAUNCHER"]
