"""Regression metrics of predictions against observations: the one implementation used by ``tl.evaluate``,
``tl.ridge_baseline`` and ``pl.predicted_vs_observed``."""

from __future__ import annotations

import numpy as np

METRICS = ["n", "MSE", "MAE", "Pearson", "Spearman", "R2"]


def finite_pairs(pred, y) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``y`` as flat float64 arrays, keeping only the pairs where both are finite (NaN/inf dropped)."""
    pred, y = np.asarray(pred, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if pred.shape != y.shape:
        raise ValueError(f"predictions ({pred.size}) and observations ({y.size}) differ in length.")
    ok = np.isfinite(pred) & np.isfinite(y)
    return pred[ok], y[ok]


def regression_metrics(pred, y) -> dict[str, float]:
    """``n``, ``MSE``, ``MAE``, ``Pearson``, ``Spearman`` and ``R2`` (``1 - SS_res / SS_tot``) over finite pairs.

    ``n`` counts the pairs where both values are finite; the others are left out. Metrics that are undefined are
    NaN: all of them when ``n == 0``; ``R2`` when the observations are constant; ``Pearson`` and ``Spearman`` when
    ``n < 2`` or either side is constant.
    """
    from scipy import stats

    pred, y = finite_pairs(pred, y)
    n = int(len(y))
    out = {"n": n, "MSE": np.nan, "MAE": np.nan, "Pearson": np.nan, "Spearman": np.nan, "R2": np.nan}
    if n == 0:
        return out
    err = pred - y
    out["MSE"] = float(np.mean(err**2))
    out["MAE"] = float(np.mean(np.abs(err)))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot > 0:
        out["R2"] = 1.0 - float(np.sum(err**2)) / ss_tot
    if n > 1 and np.ptp(pred) > 0 and np.ptp(y) > 0:
        out["Pearson"] = float(stats.pearsonr(pred, y)[0])
        out["Spearman"] = float(stats.spearmanr(pred, y)[0])
    return out
