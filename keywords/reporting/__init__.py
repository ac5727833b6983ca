"""Reporting: snapshots, plots, comparison of a run with a saved baseline."""
