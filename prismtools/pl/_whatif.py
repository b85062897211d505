"""Figures for the what-if analyses (:func:`prismtools.tl.variant_effects`, :func:`prismtools.tl.perturb_tracks`)."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._figure import finish


def _table(df_or_adata, key: str) -> pd.DataFrame:
    if isinstance(df_or_adata, pd.DataFrame):
        return df_or_adata
    if key not in df_or_adata.uns:
        raise KeyError(f"adata.uns has no {key!r}; run the matching pt.tl function first (or pass key=).")
    return pd.DataFrame(df_or_adata.uns[key])


def _with_truth(df: pd.DataFrame, truth: pd.DataFrame | None, on: list[str]) -> pd.DataFrame:
    if truth is None:
        return df
    missing = set(on) | {"true_effect"}
    missing -= set(truth.columns)
    if missing:
        raise ValueError(f"truth lacks columns {sorted(missing)}.")
    out = df.merge(truth[[*on, "true_effect"]], on=on, how="left")
    out["true_effect"] = out["true_effect"].fillna(0.0)  # pairs absent from a truth table change nothing
    return out


def variant_effects(
    df_or_adata,
    *,
    key: str = "variant_effects",
    color: str = "gene",
    truth: pd.DataFrame | None = None,
    ax=None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Predicted variant effect against distance to the TSS (along the transcript).

    Parameters
    ----------
    df_or_adata
        The table from :func:`prismtools.tl.variant_effects` (``inplace=False``) or an AnnData holding it in
        ``uns[key]``.
    key
        ``key_added`` of the analysis (AnnData input).
    color
        ``"gene"`` (one colour per gene, no legend beyond 10 genes), ``"truth"`` (the true effect, needs
        ``truth``) or any numeric column of the table.
    truth
        Known true effects, e.g. ``SimulatedGenome.variant_truth``: columns ``variant_id``, ``gene_id`` and
        ``true_effect`` (pairs absent count as 0).
    ax, show, save
        As in scanpy.

    Returns
    -------
    The axes (when not shown).

    Examples
    --------
    A table as :func:`prismtools.tl.variant_effects` returns it (here written by hand), with a known truth:

    >>> import pandas as pd
    >>> import prismtools as pt
    >>> df = pd.DataFrame({"variant_id": ["v1", "v2", "v3"], "gene": ["G1", "G1", "G2"],
    ...                    "distance_to_tss": [-120, 15, 300], "effect": [-0.2, 0.05, 0.0]})
    >>> truth = pd.DataFrame({"variant_id": ["v1"], "gene_id": ["G1"], "true_effect": [-0.15]})
    >>> ax = pt.pl.variant_effects(df, color="truth", truth=truth, show=False)
    >>> ax.get_xlabel()
    'distance to TSS (bp, + = downstream)'
    """
    df = _table(df_or_adata, key)
    if truth is not None:
        df = _with_truth(df, truth.rename(columns={"gene_id": "gene"}), ["variant_id", "gene"])
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    x, y = df["distance_to_tss"].to_numpy(float), df["effect"].to_numpy(float)
    if color == "gene":
        genes = pd.Categorical(df["gene"])
        sc = ax.scatter(x, y, c=genes.codes, cmap="tab20", s=10, lw=0)
        if len(genes.categories) <= 10:
            for k, g in enumerate(genes.categories):
                ax.scatter([], [], color=sc.cmap(sc.norm(k)), s=10, label=str(g))
            ax.legend(fontsize=7, frameon=False, loc="best")
    else:
        col = "true_effect" if color == "truth" else color
        if col not in df:
            raise KeyError(f"color={color!r}: no column {col!r} in the table" + (" (pass truth=)" if color == "truth" else ""))
        v = df[col].to_numpy(float)
        lim = float(np.nanmax(np.abs(v))) or 1.0
        sc = ax.scatter(x, y, c=v, cmap="coolwarm", vmin=-lim, vmax=lim, s=10, lw=0)
        (fig or ax.figure).colorbar(sc, ax=ax, label="true effect" if color == "truth" else col)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel("distance to TSS (bp, + = downstream)")
    ax.set_ylabel("predicted effect (alt - ref)")
    ax.set_title(f"{df['variant_id'].nunique()} variants, {len(df)} variant-gene pairs", fontsize=9)
    return finish(fig or ax.figure, ax, show=show, save=save, default_name="variant_effects")


def perturbation(
    df_or_adata,
    *,
    key: str = "perturbation",
    truth: pd.DataFrame | None = None,
    n_top: int = 20,
    ax=None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Predicted change per perturbed region and gene (the ``n_top`` largest by size), with the truth beside it.

    Parameters
    ----------
    df_or_adata
        The table from :func:`prismtools.tl.perturb_tracks` or an AnnData holding it in ``uns[key]``.
    key
        ``key_added`` of the analysis (AnnData input).
    truth
        Known true changes, e.g. ``SimulatedGenome.perturbation_truth`` for one sample: ``region``, ``gene_id``,
        ``true_effect`` (pairs absent count as 0); drawn as black ticks.
    n_top
        Number of region-gene pairs shown.
    ax, show, save
        As in scanpy.

    Returns
    -------
    The axes (when not shown).

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> df = pd.DataFrame({"region": ["enh1", "enh1", "prom2"], "gene": ["G1", "G2", "G2"],
    ...                    "effect": [-0.3, -0.01, -0.6]})
    >>> truth = pd.DataFrame({"region": ["enh1", "prom2"], "gene_id": ["G1", "G2"], "true_effect": [-0.25, -0.5]})
    >>> ax = pt.pl.perturbation(df, truth=truth, n_top=3, show=False)
    >>> len(ax.get_yticklabels())
    3
    """
    df = _table(df_or_adata, key)
    if truth is not None:
        df = _with_truth(df, truth.rename(columns={"gene_id": "gene"}), ["region", "gene"])
    df = df.reindex(df["effect"].abs().sort_values(ascending=False).index[: int(n_top)])[::-1]
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 0.6 + 0.22 * len(df)))
    yy = np.arange(len(df))
    ax.barh(yy, df["effect"], color=np.where(df["effect"] < 0, "C0", "C3"), height=0.7, label="predicted")
    if "true_effect" in df:
        ax.scatter(df["true_effect"], yy, marker="|", color="k", s=80, zorder=3, label="true")
        ax.legend(fontsize=7, frameon=False, loc="best")
    ax.set_yticks(yy, [f"{r} -> {g}" for r, g in zip(df["region"], df["gene"])], fontsize=7)
    ax.axvline(0, color="0.6", lw=0.6)
    ax.set_xlabel("predicted change in expression")
    ax.set_title(f"perturbation: top {len(df)} region-gene pairs", fontsize=9)
    return finish(fig or ax.figure, ax, show=show, save=save, default_name="perturbation")
