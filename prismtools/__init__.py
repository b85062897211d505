"""prismtools: predict gene expression from proximal DNA sequence and epigenomic tracks (Prism).

Submodules are imported lazily so ``import prismtools`` stays cheap; torch is imported only by model code.
"""

from __future__ import annotations

import importlib
import logging

from ._settings import settings

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_SUBMODULES = {"pp", "tl", "pl", "io", "datasets", "models"}
_LAZY_ATTRS = {"get_tracks": "prismtools._core"}

__all__ = ["pp", "tl", "pl", "io", "datasets", "settings", "get_tracks", "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
    raise AttributeError(f"module 'prismtools' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_LAZY_ATTRS))
