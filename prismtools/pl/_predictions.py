"""Predicted versus observed expression, and training curves."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from ..tl._metrics import regression_metrics
from ._figure import finish


def predicted_vs_observed(
    adata: AnnData,
    *,
    pred_key: str = "prism_pred",
    sample: str | None = None,
    split: str | None = "test",
    ax=None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Scatter of predicted (``obs[pred_key]``) against observed expression (``X[:, sample]``), with r and MSE.

    Parameters
    ----------
    adata
        AnnData with predictions.
    pred_key
        obs column with predictions (e.g. ``"prism_pred"``).
    sample
        Biosample (default: the only one).
    split
        Genes of this ``obs["split"]`` value (``None``: all).
    ax, show, save
        As in scanpy.

    Returns
    -------
    The axes (when not shown).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=48, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1, use_sequence=False)
    >>> model.fit(max_steps=3, batch_size=8, progress=False)  # a few steps: an illustration only
    >>> model.predict(adata)  # obs["prism_pred"]
    >>> ax = pt.pl.predicted_vs_observed(adata, pred_key="prism_pred", split=None, show=False)
    """
    if pred_key not in adata.obs:
        raise KeyError(f"obs[{pred_key!r}] is missing; run model.predict(adata) first.")
    if sample is None:
        if adata.n_vars != 1:
            raise ValueError(f"pass sample= (one of {list(adata.var_names)}).")
        sample = adata.var_names[0]
    y = np.asarray(adata[:, sample].X).ravel()
    p = adata.obs[pred_key].to_numpy(dtype=float)
    rows = np.isfinite(y) & np.isfinite(p)
    if split is not None:
        rows &= (adata.obs["split"] == split).to_numpy()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(y[rows], p[rows], s=6, alpha=0.6, color="C0", rasterized=True)
    lo, hi = np.nanmin([y[rows].min(), p[rows].min()]), np.nanmax([y[rows].max(), p[rows].max()])
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls="--")
    m = regression_metrics(p[rows], y[rows])
    r, mse = m["Pearson"], m["MSE"]
    ax.set_xlabel(f"observed ({sample})")
    ax.set_ylabel(f"predicted ({pred_key})")
    ax.set_title(f"{split or 'all'} genes: n={int(rows.sum())}, r={r:.3f}, MSE={mse:.3f}", fontsize=9)
    return finish(fig or ax.figure, ax, show=show, save=save, default_name=f"predicted_vs_observed_{pred_key}")


def training_history(
    model_or_history,
    *,
    ax=None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Training loss and validation MSE against step (from ``model.history_`` or that DataFrame).

    Returns
    -------
    The axes (when not shown).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=48, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1, use_sequence=False)
    >>> model.fit(max_steps=3, batch_size=8, progress=False)  # a few steps: an illustration only
    >>> ax = pt.pl.training_history(model, show=False)  # or a DataFrame such as model.history_
    """
    hist = model_or_history if isinstance(model_or_history, pd.DataFrame) else getattr(model_or_history, "history_", None)
    if hist is None or len(hist) == 0:
        raise ValueError("No training history: fit the model first.")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    tr = hist.dropna(subset=["train_loss"]) if "train_loss" in hist else hist.iloc[0:0]
    ax.plot(tr["step"], tr["train_loss"], color="C0", lw=0.8, label="train loss")
    if "val_mse" in hist:
        va = hist.dropna(subset=["val_mse"])
        ax.plot(va["step"], va["val_mse"], "o-", color="C1", ms=3, label="validation MSE")
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    return finish(fig or ax.figure, ax, show=show, save=save, default_name="training_history")
