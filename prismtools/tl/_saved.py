"""Saving and loading a ``pt.tl.Prism``: weights, network config, history and registry (see ``_checkpoint``)."""

from __future__ import annotations

import os

import pandas as pd
from anndata import AnnData

from .._core import uns_safe
from ._checkpoint import CheckpointError, load_model, save_model
from ._network import build_net
from ._registry import SPLIT_KEY, match_adata

HISTORY_INT = ("step",)
NEEDED = ("sample", "tracks", "window", "use_sequence", "use_tracks", "covariates", "covariate_mean",
          "covariate_std", "model")


def save_prism(model, path: str | os.PathLike) -> None:
    """Write ``model`` to the directory ``path`` (``model.pt`` and ``registry.json``)."""
    hist = {c: model.history_[c].astype(float).tolist() for c in model.history_.columns}
    extra = {"best_step": model.best_step_, "is_trained": model.is_trained_, "precision": model.precision_}
    save_model(
        path, state_dict=model.module.state_dict(), config=dict(model.module.config), history=hist,
        registry=uns_safe({**model.registry, "state": extra}),
    )


def load_prism(cls, path: str | os.PathLike, adata: AnnData | None = None):
    """A ``cls`` (:class:`~prismtools.tl.Prism`) restored from ``path``, with ``adata`` checked and attached."""
    model_pt, reg = load_model(path)
    missing = [k for k in NEEDED if k not in reg]
    if missing:
        raise CheckpointError(f"The registry of {str(path)!r} lacks {missing}; the saved model is incomplete.")
    state = reg.pop("state", {}) or {}
    for k in ("format", "format_version", "prismtools_version"):
        reg.pop(k, None)
    obj = cls.__new__(cls)
    obj.registry = reg
    obj.adata = None
    obj.split_key = SPLIT_KEY
    obj._track_idx = []
    try:
        obj.module = build_net(model_pt["config"], reg["model"]["seed"])
        obj.module.load_state_dict(model_pt["state_dict"])
    except (RuntimeError, TypeError, KeyError) as err:
        raise CheckpointError(f"The weights in {str(path)!r} do not fit the saved network config: {err}") from err
    obj._reset_fit_state()
    hist = pd.DataFrame(model_pt.get("history") or {})
    if len(hist.columns):
        for c in HISTORY_INT:
            if c in hist:
                hist[c] = hist[c].astype(int)
        obj.history_ = hist
    obj.best_step_ = state.get("best_step")
    obj.is_trained_ = bool(state.get("is_trained", False))
    obj.precision_ = state.get("precision") or "auto"
    if adata is not None:
        obj._track_idx = match_adata(adata, reg)
        obj.adata = adata
    return obj
