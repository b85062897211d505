"""Tools: the Prism model (``Prism``), evaluation metrics, a ridge baseline and the paper's analyses.

``evaluate``, ``ridge_baseline``, ``summarize_seeds`` and ``attribution_by_distance`` need only NumPy/SciPy;
``length_sweep`` and ``signal_ablation`` import torch only when they train a model; ``Prism`` and ``attribute``
(and torch) are imported on first access.
"""

from __future__ import annotations

import importlib

from ._analyses import attribution_by_distance, length_sweep, signal_ablation, summarize_seeds
from ._evaluate import evaluate
from ._ridge import ridge_baseline
from ._whatif import perturb_tracks, variant_effects

_LAZY = {"Prism": "._prism", "CheckpointError": "._checkpoint", "attribute": "._attribution"}

__all__ = [
    "Prism",
    "evaluate",
    "ridge_baseline",
    "CheckpointError",
    "length_sweep",
    "signal_ablation",
    "summarize_seeds",
    "attribute",
    "attribution_by_distance",
    "variant_effects",
    "perturb_tracks",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prismtools.tl' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
