"""Normalising signal tracks (log1p, z-score, quantile), lazily for store-backed data."""

from __future__ import annotations

import logging

import dask.array as da
import numpy as np
from anndata import AnnData

from .._core import TRACKS_KEY, prism_uns, resolve_tracks, set_track_table, track_table

logger = logging.getLogger(__name__)
METHODS = ("log1p", "zscore", "quantile")
_N_QUANTILES = 1001


def _fit_rows(adata: AnnData, fit_split: str | None) -> np.ndarray:
    if fit_split is None:
        return np.arange(adata.n_obs)
    if "split" not in adata.obs:
        raise ValueError("fit_split= needs obs['split']; call pt.pp.split_chromosomes first (or pass fit_split=None).")
    rows = np.flatnonzero((adata.obs["split"] == fit_split).to_numpy())
    if rows.size == 0:
        raise ValueError(f"No genes in split {fit_split!r}.")
    return rows


def normalize_tracks(
    adata: AnnData,
    *,
    method: str,
    tracks=None,
    fit_split: str | None = "train",
    seed: int = 0,
) -> None:
    """Normalise tracks: ``log1p``, per-track ``zscore``, or per-track ``quantile`` (empirical CDF to [0, 1]).

    Parameters
    ----------
    adata
        AnnData with ``obsm["tracks"]``. Dask-backed (store) tracks stay lazy: the transform is applied as chunks
        are read.
    method
        ``"log1p"`` (``log(1 + max(x, 0))``), ``"zscore"`` (per track, mean and SD over genes and positions) or
        ``"quantile"`` (per track, each value replaced by its quantile among the fitting genes' values).
    tracks
        Track names or indices to normalise (default all).
    fit_split
        Fit ``zscore``/``quantile`` statistics on genes of this split only (default ``"train"``, to keep test
        genes out of the statistics); ``None`` uses all genes. Falls back to all genes when there is no split.
    seed
        Seed for the subsample (at most 2,000 genes) used to estimate quantiles.

    Returns
    -------
    Nothing. Replaces the selected tracks in ``obsm["tracks"]``, appends ``method`` to their ``transform`` in
    ``uns["prism"]["tracks"]`` and stores fitted statistics in ``uns["prism"]["normalization"][track]``.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> pt.pp.normalize_tracks(adata, method="zscore", tracks=["DNase"])
    >>> adata.uns["prism"]["tracks"][["name", "transform"]]
          name transform
    0  H3K27ac
    1    DNase    zscore
    2   track2
    >>> train = (adata.obs["split"] == "train").to_numpy()
    >>> z = adata.obsm["tracks"][train, 1]
    >>> bool(abs(z.mean()) < 1e-5), round(float(z.std()), 3)  # statistics fitted on the training genes
    (True, 1.0)
    >>> list(adata.uns["prism"]["normalization"])
    ['DNase']
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if TRACKS_KEY not in adata.obsm:
        raise KeyError("adata.obsm['tracks'] is missing; add tracks first.")
    idx = resolve_tracks(adata, tracks)
    if fit_split is not None and "split" not in adata.obs:
        logger.info("no obs['split']; fitting %s statistics on all genes.", method)
        fit_split = None
    arr = adata.obsm[TRACKS_KEY]
    lazy = isinstance(arr, da.Array)
    tab = track_table(adata)
    norm = prism_uns(adata).setdefault("normalization", {})
    params = np.zeros((arr.shape[1], _N_QUANTILES if method == "quantile" else 2), dtype=np.float64)
    rows = _fit_rows(adata, fit_split)
    if method == "quantile" and rows.size > 2000:
        rows = np.sort(np.random.default_rng(seed).choice(rows, 2000, replace=False))
    for t in idx:
        name = tab.loc[t, "name"]
        if method == "log1p":
            norm[name] = {"method": method}
            continue
        sub = arr[rows, t, :]
        sub = np.asarray(sub.compute() if lazy else sub, dtype=np.float64)
        if method == "zscore":
            mu, sd = float(np.nanmean(sub)), float(np.nanstd(sub))
            sd = sd if sd > 0 else 1.0
            params[t] = (mu, sd)
            norm[name] = {"method": method, "mean": mu, "sd": sd, "fit_split": str(fit_split)}
        else:
            q = np.nanquantile(sub, np.linspace(0, 1, _N_QUANTILES))
            params[t] = q
            norm[name] = {"method": method, "quantiles": q, "fit_split": str(fit_split)}
    sel = np.zeros(arr.shape[1], dtype=bool)
    sel[idx] = True

    def _apply(block: np.ndarray, t_offset: int = 0) -> np.ndarray:
        out = block.astype(np.float32, copy=True)
        for j in range(block.shape[1]):
            t = t_offset + j
            if not sel[t]:
                continue
            x = out[:, j, :]
            if method == "log1p":
                out[:, j, :] = np.log1p(np.clip(x, 0, None))
            elif method == "zscore":
                out[:, j, :] = (x - params[t, 0]) / params[t, 1]
            else:
                q = params[t]
                # mid-rank of ties: average of left and right positions in the quantile grid
                lo = np.searchsorted(q, x, side="left")
                hi = np.searchsorted(q, x, side="right")
                out[:, j, :] = np.clip((lo + hi) / 2.0 - 0.5, 0, len(q) - 1) / (len(q) - 1)
                out[:, j, :][np.isnan(x)] = np.nan
        return out

    if lazy:
        starts = np.cumsum((0,) + arr.chunks[1][:-1])
        adata.obsm[TRACKS_KEY] = arr.map_blocks(
            lambda b, block_info=None: _apply(b, int(starts[block_info[0]["chunk-location"][1]])), dtype=np.float32
        )
    else:
        adata.obsm[TRACKS_KEY] = _apply(np.asarray(arr))
    for t in idx:
        prev = tab.loc[t, "transform"]
        tab.loc[t, "transform"] = f"{prev},{method}" if prev else method
    set_track_table(adata, tab)
    logger.info("normalised %d tracks with %s%s.", len(idx), method, " (lazily)" if lazy else "")
