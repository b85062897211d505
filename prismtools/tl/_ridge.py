"""A ridge-regression baseline on TSS-aggregated signals and covariates (NumPy only, no torch)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import TRACKS_KEY, UNS_KEY, bin_offsets, covariate_names, get_window, resolve_tracks, track_table
from ._metrics import regression_metrics
from ._registry import (
    SPLIT_KEY,
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


#: track-table transforms after which a track is already on a log scale
_LOG_SCALE = ("log1p", "log10p1", "log")


def _already_scaled(transform: str) -> str | None:
    """The first log transform in a track's recorded chain (``"log1p"``, ``"log10p1,zscore"``, ...), or ``None``
    when the track was never log-transformed."""
    steps = [t.strip() for t in str(transform or "").split(",") if t.strip()]
    return next((t for t in steps if t in _LOG_SCALE), None)


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
    log1p: bool | None = None,
    split_key: str = SPLIT_KEY,
) -> None:
    """Ridge regression of expression on TSS-aggregated signals and covariates.

    Each track contributes one feature: its mean over the central ``central_bp`` (1 kb) around the TSS,
    NaN -> 0, transformed by ``log1p`` (sign-preserving, ``sign(x) * log1p(|x|)``, so normalised tracks with
    negative values stay finite) unless the track table (``uns["prism"]["tracks"]["transform"]``) records that the
    track was already log-transformed (``log1p`` from :func:`prismtools.pp.normalize_tracks`, ``log10p1`` from
    :func:`prismtools.pp.add_hic`, alone or followed by ``zscore``/``quantile``): those enter as they are, so the
    baseline is never handicapped by a double log. Features are standardised with the training genes' statistics (missing
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
    log1p
        ``None`` (default): the signed log1p for raw tracks only, as above. ``True``: for every track; ``False``:
        for none.
    split_key
        obs column with the ``train``/``valid``/``test`` labels.

    Returns
    -------
    Nothing. Writes ``obs[f"{key_added}_pred"]`` (float32, all genes) and ``uns[key_added]`` with ``params``
    (sample, features, alpha chosen, central_bp, n_train, intercept, split_key, ``track_transform``: per track, the
    transform applied to its feature, ``"signed_log1p"`` or ``"none (already <transform>)"``), ``coef`` (DataFrame: feature, coef on the
    standardised scale, plus ``mean`` and ``std`` used to standardise) and ``alphas`` (DataFrame: alpha,
    valid_mse; only when a grid was given).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=64, width=64)
    >>> pt.tl.ridge_baseline(adata, sample="toy", alpha=[0.1, 1.0, 10.0])
    >>> adata.obs["ridge_pred"].dtype
    dtype('float32')
    >>> adata.uns["ridge"]["coef"].index.tolist()
    ['tss_H3K27ac', 'tss_DNase', 'tss_track2', 'cov0', 'cov1']
    >>> adata.uns["ridge"]["alphas"]["alpha"].tolist()
    [0.1, 1.0, 10.0]
    """
    if key_added == UNS_KEY:
        raise ValueError(f"key_added={UNS_KEY!r} would overwrite uns[{UNS_KEY!r}] (the data model); pick another key.")
    sample_index(adata, sample)
    y = get_targets(adata, sample).astype(np.float64)
    split = get_split(adata, split_key)
    if isinstance(central_bp, (bool, np.bool_)) or not float(central_bp) > 0 or float(central_bp) != int(central_bp):
        raise ValueError(f"central_bp must be a positive whole number of bp, got {central_bp!r}.")
    track_idx, covs = _resolve_features(adata, sample, features)
    tab = track_table(adata)
    names = [f"tss_{tab['name'][i]}" for i in track_idx] + list(covs)
    signal = tss_signal(adata, track_idx, central_bp=int(central_bp))
    track_transform = {}
    for j, t in enumerate(track_idx):
        done = _already_scaled(tab["transform"][t]) if "transform" in tab else None
        if log1p is True or (log1p is None and done is None):
            signal[:, j] = _signed_log1p(signal[:, j])
            track_transform[str(tab["name"][t])] = "signed_log1p"
        else:
            track_transform[str(tab["name"][t])] = f"none (already {done})" if done else "none"
    if log1p is None and any(v != "signed_log1p" for v in track_transform.values()):
        logger.info("ridge: features of tracks already transformed enter as they are: %s",
                    {k: v for k, v in track_transform.items() if v != "signed_log1p"})
    x = np.column_stack([signal, read_covariates(adata, covs).astype(np.float64)])
    train = np.flatnonzero((split == "train") & np.isfinite(y))
    valid = np.flatnonzero((split == "valid") & np.isfinite(y))
    if len(train) == 0:
        raise ValueError(f"No training genes with expression for {sample!r} (obs[{split_key!r}] == 'train').")
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
            scores.append(regression_metrics(xs[valid] @ w + b0, y[valid])["MSE"])
        chosen = grid[int(np.nanargmin(scores))]
        path = pd.DataFrame({"alpha": grid, "valid_mse": scores})
        logger.info("ridge: alpha %g chosen on %d validation genes (MSE %.4f)", chosen, len(valid), min(scores))
    w, b0 = _fit(xs[train], y[train], chosen)
    adata.obs[f"{key_added}_pred"] = (xs @ w + b0).astype(np.float32)
    uns = {
        "params": {
            "sample": str(sample), "features": names, "alpha": chosen, "central_bp": int(central_bp),
            "n_train": int(len(train)), "intercept": b0, "split_key": str(split_key),
            "track_transform": track_transform,
        },
        "coef": pd.DataFrame({"coef": w, "mean": mean, "std": std}, index=pd.Index(names, name="feature")),
    }
    if path is not None:
        uns["alphas"] = path
    adata.uns[key_added] = uns
