"""The per-stratum summary table of :meth:`prismtools.tl.Prism.stratum_effects`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._metrics import pearson


def strata_table(
    gene_gate: np.ndarray, stratum_pred: np.ndarray, pred: np.ndarray, track_mean: np.ndarray, track_names
) -> pd.DataFrame:
    """One row per stratum ``stratum_<k>``: gene counts, gate statistics, effects and gate/track correlations.

    Parameters
    ----------
    gene_gate
        Each gene's mean gate per stratum, (n_genes, n_strata).
    stratum_pred, pred
        Prediction under each stratum (n_genes, n_strata) and the plain prediction (n_genes,).
    track_mean
        Each gene's mean of each input track over the window, (n_genes, n_tracks).
    track_names
        Names of the input tracks (columns ``corr_<name>``).
    """
    n_genes, n_strata = gene_gate.shape
    top = gene_gate.argmax(axis=1)
    effect = stratum_pred - pred[:, None]
    table = pd.DataFrame(
        {
            "n_genes": np.bincount(top, minlength=n_strata).astype(int),
            "mean_gate": gene_gate.mean(axis=0),
            "sd_gate": gene_gate.std(axis=0, ddof=1) if n_genes > 1 else np.full(n_strata, np.nan),
            "mean_effect": effect.mean(axis=0),
            "mean_abs_effect": np.abs(effect).mean(axis=0),
        },
        index=pd.Index([f"stratum_{k}" for k in range(n_strata)], name="stratum"),
    )
    for t, name in enumerate(track_names):
        table[f"corr_{name}"] = [pearson(gene_gate[:, s], track_mean[:, t]) for s in range(n_strata)]
    return table
