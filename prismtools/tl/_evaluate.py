"""Regression metrics of per-gene predictions against observed expression, per split."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from ._metrics import METRICS, regression_metrics
from ._registry import SPLIT_KEY, get_split, get_targets

logger = logging.getLogger(__name__)

#: the metrics of :func:`evaluate` (kept here for existing imports; defined in ``tl._metrics``)
metrics = regression_metrics


def _resolve_pred_key(adata: AnnData, pred_key: str) -> str:
    key = pred_key
    if key not in adata.obs and f"{key}_pred" in adata.obs:
        key = f"{key}_pred"
    if key not in adata.obs:
        cands = [c for c in adata.obs.columns if str(c).endswith("_pred")]
        raise KeyError(f"adata.obs[{pred_key!r}] does not exist; prediction columns present: {cands}.")
    return key


def evaluate(
    adata: AnnData,
    *,
    pred_key: str | Sequence[str],
    sample: str,
    split: str | Sequence[str] | None = "test",
    split_key: str = SPLIT_KEY,
) -> pd.DataFrame:
    """Compare predictions in ``obs`` with the observed expression of ``sample``.

    Parameters
    ----------
    adata
        Gene-centric AnnData with ``X`` and ``obs["split"]``.
    pred_key
        obs column with predictions, e.g. ``"prism_pred"`` (``"prism"`` also finds ``"prism_pred"``). A list of
        columns (e.g. the predictions of one model trained with several seeds,
        ``["prism_s0_pred", "prism_s1_pred"]``) is scored column by column and summarised as mean and
        standard deviation across the columns, as in the paper's tables.

    sample
        The biosample (``var`` name) whose expression is the truth.
    split
        Split(s) of ``obs[split_key]`` to score, one row each; ``None`` scores all genes (row ``"all"``).
    split_key
        obs column holding the ``train``/``valid``/``test`` labels (default ``"split"``, as written by
        :func:`prismtools.pp.split_chromosomes`).

    Returns
    -------
    DataFrame indexed by split.

    With one ``pred_key`` (a string or a one-element list): columns ``n`` (genes with both a finite
    prediction and a finite observation), ``MSE``, ``MAE``, ``Pearson``, ``Spearman`` and ``R2`` (coefficient
    of determination, ``1 - SS_res / SS_tot``). Metrics are NaN where undefined (no genes, constant values).

    With several keys: ``n_keys`` (number of prediction columns), ``n`` (the smallest ``n`` among them), then
    ``MSE_mean``, ``MSE_sd``, ``MAE_mean``, ``MAE_sd``, ... for every metric: mean and sample standard
    deviation (``ddof=1``) across the columns.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=64, width=64)
    >>> pt.tl.ridge_baseline(adata, sample="toy")
    >>> res = pt.tl.evaluate(adata, pred_key="ridge_pred", sample="toy", split=["valid", "test"])
    >>> list(res.index), list(res.columns)
    (['valid', 'test'], ['n', 'MSE', 'MAE', 'Pearson', 'Spearman', 'R2'])

    Several prediction columns (e.g. seeds, or models) are summarised as mean and SD across them:

    >>> adata.obs["zero_pred"] = 0.0
    >>> pt.tl.evaluate(adata, pred_key=["ridge_pred", "zero_pred"], sample="toy").columns[:4].tolist()
    ['n_keys', 'n', 'MSE_mean', 'MSE_sd']
    """
    if not isinstance(pred_key, str):
        keys = list(pred_key)
        if not keys:
            raise ValueError("pred_key is an empty list; pass one or more obs columns with predictions.")
        if len(keys) == 1:
            return evaluate(adata, pred_key=keys[0], sample=sample, split=split, split_key=split_key)
        for k in keys:
            _resolve_pred_key(adata, k)  # fail early, naming the missing column
        tables = [evaluate(adata, pred_key=k, sample=sample, split=split, split_key=split_key) for k in keys]
        stacked = np.stack([t[METRICS].to_numpy(np.float64) for t in tables])  # keys x splits x metrics
        out = pd.DataFrame(index=tables[0].index)
        out["n_keys"] = len(keys)
        out["n"] = stacked[:, :, 0].min(axis=0).astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            for j, m in enumerate(METRICS[1:], start=1):
                out[f"{m}_mean"] = np.nanmean(stacked[:, :, j], axis=0)
                out[f"{m}_sd"] = np.nanstd(stacked[:, :, j], axis=0, ddof=1)
        return out
    key = _resolve_pred_key(adata, pred_key)
    pred = pd.to_numeric(adata.obs[key], errors="coerce").to_numpy(np.float64)
    y = get_targets(adata, sample).astype(np.float64)
    rows = {}
    if split is None:
        rows["all"] = regression_metrics(pred, y)
    else:
        labels = get_split(adata, split_key)
        for s in [split] if isinstance(split, str) else list(split):
            mask = labels == str(s)
            if not mask.any():
                logger.warning("No genes in split %r (splits present: %s).", s, sorted(set(labels) - {""}))
            rows[str(s)] = regression_metrics(pred[mask], y[mask])
    out = pd.DataFrame.from_dict(rows, orient="index")[METRICS]
    out["n"] = out["n"].astype(int)
    out.index.name = "split"
    return out
