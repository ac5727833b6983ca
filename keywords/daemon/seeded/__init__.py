"""Seeded regressions: patched copies of a real daemon build, each with one known regression.

* :mod:`~keywords.daemon.seeded.patches`: the patch table (name, kind, what it breaks, parameters, anchored
  edits, the tests expected to catch it);
* :mod:`~keywords.daemon.seeded.builder`: copies of a build that share every unchanged file by hard link and
  rewrite only the patched chunk (``python -m keywords.daemon.seeded make``);
* :mod:`~keywords.daemon.seeded.runner`: the pre-merge check against an unpatched control and each copy, and
  the table of which tests caught which regression (``python -m keywords.daemon.seeded check``).
"""
