"""Building the network of a ``pt.tl.Prism``: :class:`prismtools.models.PrismNet` from the model's registry."""

from __future__ import annotations

import torch


def models_module():
    """``prismtools.models``, with a clear error when it (or one of the names Prism needs) is missing."""
    try:
        from .. import models
    except ImportError as err:  # pragma: no cover - the package always ships models
        raise ImportError("prismtools.models could not be imported; Prism needs it (and torch).") from err
    missing = [n for n in ("PrismNet", "prism_loss") if not hasattr(models, n)]
    if missing:
        raise ImportError(f"prismtools.models does not provide {missing}; this installation is incomplete.")
    return models


def net_config(registry: dict) -> dict:
    """The ``PrismNet`` keyword arguments for a registry (as built by :class:`~prismtools.tl.Prism`)."""
    m = registry["model"]
    return {
        "n_tracks": len(registry["tracks"]),
        "n_covariates": len(registry["covariates"]),
        "d_model": int(m["d_model"]),
        "n_layers": int(m["n_layers"]),
        "n_strata": int(m["n_strata"]),
        "use_sequence": bool(registry["use_sequence"]),
        "use_tracks": registry["use_tracks"],
        "intervene": bool(m["intervene"]),
    }


def build_net(config: dict, seed: int) -> torch.nn.Module:
    """Construct ``PrismNet(**config)`` with weights initialised from ``seed`` (global RNG left untouched)."""
    models = models_module()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return models.PrismNet(**config)
