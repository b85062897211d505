"""A ridge-regression baseline on TSS-aggregated signals and covariates (NumPy only, no torch)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import TRACKS_KEY, UNS_KEY, bin_offsets, covariate_names, get_window, resolve_tracks, track_table
from ._evaluate import metrics
from ._registry import (
    covariate_stats,
    get_split,
    get_targets,
    read_covariates,
    sample_index,
    select_covariates,
    standardise_covariates,
)

logger = logging.getLogger(__name__)


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def tss_signal(adata: AnnData, track_idx: Sequence[int], *, central_bp: int = 1000) -> np.ndarray:
    """Mean of each track over the bins overlapping ``[tss - central_bp/2, tss + central_bp/2)``, NaN -> 0.

    Streams over gene chunks when ``obsm["tracks"]`` is a dask array. Returns float64 (n_genes, n_tracks).
    """
    if not len(track_idx):
        return np.zeros((adata.n_obs, 0))
    win = get_window(adata)
    off = bin_offsets(win)
    half = central_bp / 2
    sel = np.flatnonzero((off + win["bin_size"] > -half) & (off < half))
    if len(sel) == 0:
        sel = np.arange(win["n_bins"])
    lo, hi = int(sel[0]), int(sel[-1]) + 1
    arr = adata.obsm[TRACKS_KEY]
    idx = list(track_idx)
    if hasattr(arr, "compute"):
        import dask.array as da

        return np.asarray(da.nan_to_num(arr[:, idx, lo:hi].astype(np.float64)).mean(axis=2).compute(), np.float64)
    return np.nan_to_num(np.asarray(arr[:, idx, lo:hi], np.float64)).mean(axis=2)


def _resolve_features(adata: AnnData, sample: str, features) -> tuple[list[int], list[str]]:
    items = [features] if isinstance(features, str) else list(features)
    tracks: list[int] = []
    covs: list[str] = []
    all_covs = covariate_names(adata) if "covariates" in adata.obsm else []
    for item in items:
        if item == "tracks":
            if TRACKS_KEY in adata.obsm:
                tracks += resolve_tracks(adata, None, sample=sample)
        elif item == "covariates":
            covs += select_covariates(adata, True)
        elif item in all_covs:
            covs.append(item)
        else:
            tracks += resolve_tracks(adata, [item], sample=sample)  # KeyError listing the tracks
    tracks = list(dict.fromkeys(tracks))
    covs = list(dict.fromkeys(covs))
    if not tracks and not covs:
        raise ValueError(f"No features selected by features={features!r} (no tracks or covariates found).")
    return tracks, covs


def _fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge on standardised ``x`` with an unpenalised intercept."""
    b0 = float(y.mean())
    gram = x.T @ x + alpha * np.eye(x.shape[1])
    w = np.linalg.solve(gram, x.T @ (y - b0)) if x.shape[1] else np.zeros(0)
    return w, b0


def ridge_baseline(
    adata: AnnData,
    *,
    sample: str,
    features: str | Sequence[str] = ("tracks", "covariates"),
    key_added: str = "ridge",
    alpha: float | Sequence[float] = 1.0,
    central_bp: int = 1000,
) -> None:
    """Ridge regression of expression on TSS-aggregated signals and covariates.

    Each track contributes one feature: its mean over the central ``central_bp`` (1 kb) around the TSS,
    NaN -> 0, transformed by ``log1p`` (sign-preserving, ``sign(x) * log1p(|x|)``, so normalised tracks with
    negative values stay finite). Features are standardised with the training genes' statistics (missing
    values -> the training mean). The model is fit on the ``train`` genes with a finite target and predicts
    every gene.

    Parameters
    ----------
    adata
        Gene-centric AnnData with ``X``, ``obs["split"]`` and ``obsm["tracks"]`` / ``obsm["covariates"]``.
    sample
        Biosample (``var`` name) whose expression is the target.
    features
        Any of ``"tracks"`` (all tracks of ``sample``), ``"covariates"`` (all covariates), or individual track or
        covariate names.
    key_added
        Prefix of the fields written.
    alpha
        Ridge penalty. A sequence of values is a grid: the value with the lowest MSE on the ``valid`` genes is
        used (then refit on ``train``).
    central_bp
        Width of the window around the TSS that tracks are averaged over.

    Returns
    -------
    Nothing. Writes ``obs[f"{key_added}_pred"]`` (float32, all genes) and ``uns[key_added]`` with ``params``
    (sample, features, alpha chosen, central_bp, n_train), ``coef`` (DataFrame: feature, coef on the
    standardised scale, plus ``mean`` and ``std`` used to standardise) and ``alphas`` (DataFrame: alpha,
    valid_mse; only when a grid was given).
    """
    if key_added == UNS_KEY:
        raise ValueError(f"key_added={UNS_KEY!r} would overwrite uns[{UNS_KEY!r}] (the data model); pick another key.")
    sample_index(adata, sample)
    y = get_targets(adata, sample).astype(np.float64)
    split = get_split(adata)
    track_idx, covs = _resolve_features(adata, sample, features)
    tab = track_table(adata)
    names = [f"tss_{tab['name'][i]}" for i in track_idx] + list(covs)
    signal = _signed_log1p(tss_signal(adata, track_idx, central_bp=central_bp))
    x = np.column_stack([signal, read_covariates(adata, covs).astype(np.float64)])
    train = np.flatnonzero((split == "train") & np.isfinite(y))
    valid = np.flatnonzero((split == "valid") & np.isfinite(y))
    if len(train) == 0:
        raise ValueError(f"No training genes with expression for {sample!r} (obs['split'] == 'train').")
    mean, std = covariate_stats(x[train])
    xs = standardise_covariates(x, mean, std, what="(ridge features)").astype(np.float64)
    grid = [float(alpha)] if np.isscalar(alpha) else [float(a) for a in alpha]
    if not grid or any(a < 0 for a in grid):
        raise ValueError(f"alpha must be >= 0 (or a non-empty sequence of such values), got {alpha!r}.")
    path = None
    chosen = grid[0]
    if len(grid) > 1:
        if len(valid) == 0:
            raise ValueError("A grid of alpha values needs 'valid' genes to choose from; pass a single alpha.")
        scores = []
        for a in grid:
            w, b0 = _fit(xs[train], y[train], a)
            scores.append(metrics(xs[valid] @ w + b0, y[valid])["MSE"])
        chosen = grid[int(np.nanargmin(scores))]
        path = pd.DataFrame({"alpha": grid, "valid_mse": scores})
        logger.info("ridge: alpha %g chosen on %d validation genes (MSE %.4f)", chosen, len(valid), min(scores))
    w, b0 = _fit(xs[train], y[train], chosen)
    adata.obs[f"{key_added}_pred"] = (xs @ w + b0).astype(np.float32)
    uns = {
        "params": {
            "sample": str(sample), "features": names, "alpha": chosen, "central_bp": int(central_bp),
            "n_train": int(len(train)), "intercept": b0,
        },
        "coef": pd.DataFrame({"coef": w, "mean": mean, "std": std}, index=pd.Index(names, name="feature")),
    }
    if path is not None:
        uns["alphas"] = path
    adata.uns[key_added] = uns
