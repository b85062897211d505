"""The learned background states: :meth:`prismtools.tl.Prism.stratum_effects` and its per-stratum table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import uns_safe
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


def write_stratum_effects(model, adata: AnnData | None, *, key_added: str, batch_size: int | None) -> None:
    """The work of :meth:`prismtools.tl.Prism.stratum_effects` (its docstring lists the fields written)."""
    if not model.intervene:
        raise ValueError(
            "stratum_effects needs a model with strata (alpha > 0 and tracks); this is the concatenation "
            "baseline (alpha=0), which learns no gates."
        )
    outputs = ("pred", "pred_do", "gates", "stratum_pred", "embedding")
    adata, out = model._infer(adata, batch_size, outputs, track_means=True)
    n_strata = model.registry["model"]["n_strata"]
    names = [f"stratum_{k}" for k in range(n_strata)]
    pred = out["pred"].reshape(-1)
    gates = out["gates"].reshape(adata.n_obs, n_strata, -1)
    spred = out["stratum_pred"].reshape(adata.n_obs, n_strata)
    gene_gate = gates.mean(axis=2)
    top = gene_gate.argmax(axis=1)
    k = key_added
    adata.obs[f"{k}_pred"] = pred
    adata.obs[f"{k}_do_pred"] = out["pred_do"].reshape(-1)
    adata.obs[f"{k}_stratum"] = pd.Categorical.from_codes(top, categories=names)
    adata.obsm[f"{k}_gates"] = gates.astype(np.float32)
    adata.obsm[f"{k}_stratum_pred"] = spred.astype(np.float32)
    adata.obsm[f"X_{k}"] = out["embedding"].reshape(adata.n_obs, -1).astype(np.float32)
    table = strata_table(gene_gate, spred, pred, out["track_mean"].reshape(adata.n_obs, -1), model.tracks)
    counts = table["n_genes"].to_numpy()
    adata.uns[f"{k}_stratum_effects"] = {
        "params": uns_safe({
            "sample": model.sample, "tracks": model.tracks, "n_strata": n_strata, "alpha": model.alpha,
            "beta": model.beta, "d_model": model.registry["model"]["d_model"],
            "best_step": model.best_step_ if model.best_step_ is not None else -1,
            "obs": [f"{k}_pred", f"{k}_do_pred", f"{k}_stratum"],
            "obsm": [f"{k}_gates", f"{k}_stratum_pred", f"X_{k}"], "uns": f"{k}_stratum_effects",
        }),
        "strata": table,
        "n_genes_by_stratum": {n: int(c) for n, c in zip(names, counts)},
    }
