"""qwen serve harness: a Robot Framework keyword library (``keywords.QwenServe``) and its model layer.

Only ``keywords.library`` and ``keywords.components`` import Robot Framework; the rest is plain Python.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "QwenServe":
        from keywords.library import QwenServe

        return QwenServe
    raise AttributeError(name)
