"""prismtools: predict gene expression from proximal DNA sequence and epigenomic tracks (Prism).

Submodules are imported lazily so ``import prismtools`` stays cheap; torch is imported only by model code.
"""

from __future__ import annotations

import importlib

from ._settings import settings

__version__ = "0.1.0"

# The package logger has its own stderr handler (installed by ._settings, scanpy-style) so that warnings reach the
# user in notebooks and scripts; it stays silent when the user configured logging. The root logger is never touched.

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
