"""Regression metrics of predictions against observations: the one implementation used by ``tl.evaluate``,
``tl.ridge_baseline``, ``pl.predicted_vs_observed``, Prism's validation and the stratum tables."""

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


def pearson(a, b) -> float:
    """Pearson r over the pairs where both values are finite (NaN for fewer than 2 pairs or a constant side)."""
    a, b = finite_pairs(a, b)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    with np.errstate(all="ignore"):
        return float(np.corrcoef(a, b)[0, 1])


def validation_metrics(pred, y) -> dict[str, float]:
    """``mse``, ``mae`` and ``pearson`` for model selection during training.

    Unlike :func:`regression_metrics`, a non-finite prediction is not left out: it makes every metric NaN, so a
    model that predicts NaN for some genes can never look best.
    """
    pred, y = np.asarray(pred, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if len(y) == 0 or not np.isfinite(pred).all():
        return {"mse": float("nan"), "mae": float("nan"), "pearson": float("nan")}
    m = regression_metrics(pred, y)
    return {"mse": m["MSE"], "mae": m["MAE"], "pearson": pearson(pred, y)}
