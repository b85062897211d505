"""Tools: the Prism model (``Prism``), evaluation metrics and a ridge baseline.

``evaluate`` and ``ridge_baseline`` need only NumPy/SciPy; ``Prism`` (and torch) is imported on first access.
"""

from __future__ import annotations

import importlib

from ._evaluate import evaluate
from ._ridge import ridge_baseline

_LAZY = {"Prism": "._prism", "CheckpointError": "._checkpoint"}

__all__ = ["Prism", "evaluate", "ridge_baseline", "CheckpointError"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prismtools.tl' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
