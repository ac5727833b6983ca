"""``python -m keywords.compare BASELINE CURRENT``: compare a run's snapshot with a saved baseline.

The command's home is :mod:`keywords.reporting.baseline_diff`; this module keeps its documented name.
"""

from keywords.reporting.baseline_diff import main

if __name__ == "__main__":
    raise SystemExit(main())
