"""The headline figure: what Prism's background strata do."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData

from ._figure import finish


def _strata_table(adata: AnnData, key: str) -> pd.DataFrame:
    results = adata.uns.get(f"{key}_stratum_effects")  # where stratum_effects writes; older files: uns[key]
    if results is None or "strata" not in results:
        results = adata.uns.get(key)
    if results is None or "strata" not in results:
        raise KeyError(
            f"adata.uns[{key + '_stratum_effects'!r}]['strata'] is missing; run "
            f"`model.stratum_effects(adata, key_added={key!r})` first."
        )
    tab = results["strata"]
    return tab if isinstance(tab, pd.DataFrame) else pd.DataFrame(tab)


def stratum_effects(
    adata: AnnData,
    *,
    key: str = "prism",
    split: str | None = None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Each stratum's gates, its effect on predictions, and how strata relate to the input tracks.

    Three panels: (1) per-gene mean gate of each stratum (box plots); (2) the stratum effect, i.e. the
    prediction under stratum k minus the plain prediction, per gene (box plots, with the backdoor-adjusted
    prediction's effect as the last box); (3) a heatmap of the correlation, across genes, between each stratum's
    mean gate and each input track's mean signal.

    Parameters
    ----------
    adata
        AnnData after :meth:`prismtools.tl.Prism.stratum_effects`.
    key
        ``key_added`` used there.
    split
        Restrict panels 1-2 to genes of this ``obs["split"]`` value.
    show, save
        As in scanpy: ``save=True`` writes ``figures/stratum_effects.png``; ``save="path.png"`` writes there.

    Returns
    -------
    The three axes (when not shown).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=48, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1, use_sequence=False)
    >>> model.fit(max_steps=3, batch_size=8, progress=False)  # a few steps: an illustration only
    >>> model.stratum_effects(adata)  # obsm["prism_gates"], obs["prism_do_pred"], uns["prism"]["strata"]
    >>> axes = pt.pl.stratum_effects(adata, show=False)
    >>> len(axes)
    3
    """
    tab = _strata_table(adata, key)
    for k in (f"{key}_gates", f"{key}_stratum_pred"):
        if k not in adata.obsm:
            raise KeyError(f"adata.obsm[{k!r}] is missing; run `model.stratum_effects(adata, key_added={key!r})`.")
    rows = np.ones(adata.n_obs, bool) if split is None else (adata.obs["split"] == split).to_numpy()
    gates = np.asarray(adata.obsm[f"{key}_gates"])[rows].mean(axis=2)  # genes x strata
    spred = np.asarray(adata.obsm[f"{key}_stratum_pred"])[rows]
    pred = adata.obs[f"{key}_pred"].to_numpy()[rows]
    n = gates.shape[1]
    labels = [str(x) for x in tab.index] if len(tab) == n else [f"stratum_{k}" for k in range(n)]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
    axes[0].boxplot([gates[:, k] for k in range(n)], tick_labels=labels, showfliers=False)
    axes[0].set_ylabel("mean gate per gene")
    axes[0].set_title("gates")
    effects = [spred[:, k] - pred for k in range(n)]
    elabels = list(labels)
    if f"{key}_do_pred" in adata.obs:
        effects.append(adata.obs[f"{key}_do_pred"].to_numpy()[rows] - pred)
        elabels.append("do (adjusted)")
    axes[1].boxplot(effects, tick_labels=elabels, showfliers=False)
    axes[1].axhline(0, color="0.5", lw=0.8, ls="--")
    axes[1].set_ylabel("prediction - plain prediction")
    axes[1].set_title("effect on predictions")
    ccols = [c for c in tab.columns if str(c).startswith("corr_")]
    if ccols:
        mat = tab[ccols].to_numpy(dtype=float)
        im = axes[2].imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        axes[2].set_xticks(range(len(ccols)), [c.removeprefix("corr_") for c in ccols], rotation=45, ha="right")
        axes[2].set_yticks(range(n), labels)
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                axes[2].text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=axes[2], label="Pearson r (gate, track)")
    axes[2].set_title("strata vs input tracks")
    fig.tight_layout()
    return finish(fig, axes, show=show, save=save, default_name="stratum_effects")
