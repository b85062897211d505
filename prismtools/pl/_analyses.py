"""Figures of the paper's analyses: context length, signal ablation, attributions and a locus view."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.colors import ListedColormap

from .._core import SEQUENCE_KEY, TRACKS_KEY, bin_offsets, get_window, resolve_tracks, track_table
from ..tl._analyses import attribution_inputs, summarize_seeds
from ._figure import finish

logger = logging.getLogger(__name__)

ROLE_COLORS = {"foreground": "C3", "background": "C0", "all": "0.35", "none": "0.7", "sequence": "C2"}
#: A, C, G, T, N
BASE_COLORS = ["#2ca02c", "#1f77b4", "#ff7f0e", "#d62728", "#bbbbbb"]


def _results(df_or_adata, key: str) -> pd.DataFrame:
    if isinstance(df_or_adata, pd.DataFrame):
        return df_or_adata
    if isinstance(df_or_adata, AnnData):
        entry = df_or_adata.uns.get(key)
        if entry is None or "results" not in entry:
            raise KeyError(f"adata.uns[{key!r}]['results'] is missing; run `pt.tl.{key}(adata, ...)` first.")
        res = entry["results"]
        return res if isinstance(res, pd.DataFrame) else pd.DataFrame(res)
    raise TypeError(f"Expected a DataFrame or an AnnData, got {type(df_or_adata).__name__}.")


def _one_split(df: pd.DataFrame, split: str | None) -> tuple[pd.DataFrame, str | None]:
    if "split" not in df:
        return df, split
    present = list(dict.fromkeys(df["split"].astype(str)))
    if split is None:
        split = "test" if "test" in present else present[0]
    if split not in present:
        raise ValueError(f"split {split!r} is not in the results (splits: {present}).")
    return df[df["split"].astype(str) == split], split


def _metric(df: pd.DataFrame, metric: str) -> None:
    if metric not in df:
        raise KeyError(f"metric {metric!r} is not a column of the results; columns are {list(df.columns)}.")


def length_curve(
    df_or_adata,
    *,
    metric: str = "Pearson",
    key: str = "length_sweep",
    split: str | None = None,
    reference: float | None = 2_000,
    ax=None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Test performance against window length (mean +/- SD over seeds; single seeds as dots), log x axis.

    Parameters
    ----------
    df_or_adata
        The table returned by :func:`prismtools.tl.length_sweep`, or an AnnData holding it in ``uns[key]``.
    metric
        Column to plot (``MSE``, ``MAE``, ``Pearson``, ``Spearman``, ``R2``, ``val_MSE``, ...).
    key
        ``key_added`` of the sweep (AnnData input).
    split
        Split to plot when the table has several (default ``"test"``).
    reference
        Draw a dashed vertical line at this length (the paper's 2 kb); ``None`` for none.
    ax, show, save
        As in scanpy.

    Returns
    -------
    The axes (when not shown).

    Examples
    --------
    The results of :func:`prismtools.tl.length_sweep` (or ``adata`` holding them in ``uns["length_sweep"]``);
    here a small table written by hand:

    >>> import pandas as pd
    >>> import prismtools as pt
    >>> sweep = pd.DataFrame({"length": [1000, 2000, 5000] * 2, "seed": [0] * 3 + [1] * 3,
    ...                       "split": "test", "Pearson": [0.61, 0.66, 0.58, 0.63, 0.65, 0.55]})
    >>> ax = pt.pl.length_curve(sweep, metric="Pearson", show=False)
    >>> ax.get_xlabel()
    'window length'
    """
    df, split = _one_split(_results(df_or_adata, key), split)
    _metric(df, metric)
    summ = summarize_seeds(df, by=["length"], metrics=[metric]).sort_values("length")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.5))
    x = summ["length"].to_numpy(float)
    mean = summ[f"{metric}_mean"].to_numpy(float)
    sd = np.nan_to_num(summ[f"{metric}_sd"].to_numpy(float))
    ax.errorbar(x, mean, yerr=sd, marker="o", ms=4, capsize=3, color="C0", lw=1.2, label="mean +/- SD")
    if df["seed"].nunique() > 1:
        ax.scatter(df["length"], df[metric], s=8, color="C0", alpha=0.35, lw=0, label="seeds")
    if reference is not None and x.min() <= reference <= x.max():
        ax.axvline(reference, color="0.5", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xticks(x, [_bp_label(v) for v in x])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("window length")
    ax.set_ylabel(f"{metric}" + (f" ({split})" if split else ""))
    ax.set_title(f"context length: {df['seed'].nunique()} seed(s)", fontsize=9)
    return finish(fig or ax.figure, ax, show=show, save=save, default_name=f"length_curve_{metric}")


def _bp_label(v: float) -> str:
    """``500 bp``, ``2 kb``, ``1.5 Mb``."""
    for unit, scale in (("Mb", 1e6), ("kb", 1e3)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} bp"


_TRAINED_LABELS = {"none": "sequence only", "all": "all signals"}
_REMOVED_LABELS = {"none": "nothing removed", "background": "all background"}


def signal_ablation(
    df_or_adata,
    *,
    metric: str = "MSE",
    key: str = "signal_ablation",
    split: str | None = None,
    axes=None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Grouped bars (mean +/- SD over seeds) of the two parts of :func:`prismtools.tl.signal_ablation`.

    Left: models trained on each signal alone, on all signals and on the sequence alone. Right: the
    all-signals model with each signal removed at test time. Bars are coloured by role (foreground red,
    background blue, all signals dark grey, none light grey).

    Parameters
    ----------
    df_or_adata
        The ablation table, or an AnnData holding it in ``uns[key]``.
    metric
        Column to plot.
    key
        ``key_added`` of the ablation (AnnData input).
    split
        Split to plot when the table has several (default ``"test"``).
    axes
        Two axes to draw into (default: a new figure).
    show, save
        As in scanpy.

    Returns
    -------
    The two axes (when not shown).

    Examples
    --------
    The results of :func:`prismtools.tl.signal_ablation` (or ``adata`` holding them); here written by hand:

    >>> import pandas as pd
    >>> import prismtools as pt
    >>> ablation = pd.DataFrame({
    ...     "setting": ["trained_on"] * 3 + ["removed_at_test"] * 2,
    ...     "tracks": ["H3K27ac", "DNase", "all", "H3K27ac", "DNase"],
    ...     "role": ["foreground", "background", "all", "foreground", "background"],
    ...     "seed": 0, "split": "test", "MSE": [0.42, 0.61, 0.38, 0.55, 0.47]})
    >>> axes = pt.pl.signal_ablation(ablation, metric="MSE", show=False)
    >>> [ax.get_title() for ax in axes]  # doctest: +ELLIPSIS
    ['trained on', 'removed at test...']
    """
    df, split = _one_split(_results(df_or_adata, key), split)
    _metric(df, metric)
    removal = None
    if isinstance(df_or_adata, AnnData):
        removal = df_or_adata.uns[key].get("params", {}).get("removal")
    fig = None
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.5), sharey=True)
    if len(axes) != 2:
        raise ValueError(f"axes must be two axes, got {len(axes)}.")
    parts = [("trained_on", "trained on", _TRAINED_LABELS), ("removed_at_test", "removed at test", _REMOVED_LABELS)]
    for ax, (setting, title, names) in zip(axes, parts):
        sub = df[df["setting"] == setting]
        if sub.empty:
            ax.set_title(f"{title}: no rows", fontsize=9)
            continue
        summ = summarize_seeds(sub, by=["tracks", "role"], metrics=[metric])
        x = np.arange(len(summ))
        colors = [ROLE_COLORS.get(str(r), "0.5") for r in summ["role"]]
        ax.bar(x, summ[f"{metric}_mean"], yerr=np.nan_to_num(summ[f"{metric}_sd"].to_numpy(float)), color=colors,
               capsize=3, width=0.7, ecolor="0.2")
        labels = [names.get(str(t), str(t) if setting == "trained_on" else f"- {t}") for t in summ["tracks"]]
        ax.set_xticks(x, labels, rotation=30, ha="right")
        extra = f" ({removal})" if setting == "removed_at_test" and removal else ""
        ax.set_title(f"{title}{extra}", fontsize=10)
    axes[0].set_ylabel(f"{metric}" + (f" ({split})" if split else ""))
    (fig or axes[0].figure).tight_layout()
    return finish(fig or axes[0].figure, axes, show=show, save=save, default_name=f"signal_ablation_{metric}")


def _gene_rows(adata: AnnData, genes, split: str | None) -> np.ndarray:
    rows = np.ones(adata.n_obs, bool)
    if split is not None:
        rows &= (adata.obs["split"].astype(str) == split).to_numpy()
    if genes is not None:
        sel = np.zeros(adata.n_obs, bool)
        sel[adata.obs_names.get_indexer([genes] if isinstance(genes, str) else list(genes))] = True
        rows &= sel
    return rows


def attribution_profile(
    adata: AnnData,
    *,
    key: str = "attr",
    inputs: Sequence[str] | None = None,
    genes=None,
    split: str | None = None,
    absolute: bool = True,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Mean attribution against bp offset from the TSS, one panel per input (sequence, each track).

    Parameters
    ----------
    adata
        AnnData after :func:`prismtools.tl.attribute`.
    key
        ``key_added`` used there.
    inputs
        Inputs to show (``"sequence"`` and/or track names); default all.
    genes
        Restrict to these genes (obs names); genes without attributions (NaN) are always left out.
    split
        Restrict to genes of this ``obs["split"]``.
    absolute
        Average ``|attribution|`` (default) or the signed attribution.
    show, save
        As in scanpy.

    Returns
    -------
    The list of axes, one per input (when not shown). Each holds one line: x = bp offset (bin centres for
    binned tracks), y = the mean over genes.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=48, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1, use_sequence=False)
    >>> model.fit(max_steps=3, batch_size=8, progress=False)  # a few steps: an illustration only
    >>> pt.tl.attribute(model, adata, method="integrated_gradients", n_steps=4, key_added="attr")
    >>> axes = pt.pl.attribution_profile(adata, key="attr", show=False)
    """
    avail = attribution_inputs(adata, key)
    if inputs is not None:
        names = [a[0] for a in avail]
        unknown = [i for i in inputs if i not in names]
        if unknown:
            raise KeyError(f"inputs {unknown} have no attributions under {key!r}; available: {names}.")
        avail = [a for a in avail if a[0] in inputs]
    rows = _gene_rows(adata, genes, split)
    fig, axes = plt.subplots(len(avail), 1, figsize=(6, 1.6 * len(avail) + 0.6), sharex=True, squeeze=False)
    axes = list(axes[:, 0])
    for ax, (name, role, attr, off) in zip(axes, avail):
        a = attr[rows]
        a = a[np.isfinite(a).all(axis=1)]
        vals = np.abs(a) if absolute else a
        prof = vals.mean(axis=0) if len(vals) else np.full(len(off), np.nan)
        ax.plot(off, prof, color=ROLE_COLORS.get(role, "C0"), lw=1)
        ax.axvline(0, color="0.4", lw=0.6, ls=":")
        if not absolute:
            ax.axhline(0, color="0.6", lw=0.5)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.text(0.99, 0.9, f"n={len(a)}", transform=ax.transAxes, ha="right", va="top", fontsize=7, color="0.4")
    axes[-1].set_xlabel("bp from TSS")
    method = adata.uns[key]["params"].get("method", "")
    axes[0].set_title(f"{'mean |attribution|' if absolute else 'mean attribution'} ({method})", fontsize=10)
    fig.tight_layout()
    return finish(fig, axes, show=show, save=save, default_name=f"attribution_profile_{key}")


def _gene_index(adata: AnnData, gene) -> int:
    if isinstance(gene, (int, np.integer)):
        if not 0 <= int(gene) < adata.n_obs:
            raise IndexError(f"gene index {gene} out of range (n_genes = {adata.n_obs}).")
        return int(gene)
    if gene in adata.obs_names:
        return int(adata.obs_names.get_loc(gene))
    if "gene_name" in adata.obs:
        hits = np.flatnonzero(adata.obs["gene_name"].astype(str).to_numpy() == str(gene))
        if len(hits) == 1:
            return int(hits[0])
        if len(hits) > 1:
            raise KeyError(f"gene name {gene!r} is ambiguous ({list(adata.obs_names[hits])}); pass the gene id.")
    raise KeyError(f"gene {gene!r} is neither an obs name nor a gene_name.")


def _row(arr, i: int) -> np.ndarray:
    row = arr[i]
    if hasattr(row, "compute"):
        row = row.compute()
    return np.asarray(row)


def tracks(
    adata: AnnData,
    gene,
    *,
    tracks: Sequence[str] | None = None,
    attribution_key: str | None = None,
    show_sequence: bool | None = None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
):
    """Locus view of one gene: each track over the bp offset from the TSS (TSS marked at 0).

    Panels, top to bottom: the sequence as a colour strip (A green, C blue, G orange, T red, N grey; shown by
    default when the window is at most 1 kb), one filled step line per track, and, with ``attribution_key``,
    the attributions of that gene (sequence per base, each shown track per bin).

    Parameters
    ----------
    adata
        Gene-centric AnnData with ``obsm["tracks"]``.
    gene
        Gene id (obs name), gene symbol (``obs["gene_name"]``) or integer position.
    tracks
        Track names to show (default all).
    attribution_key
        ``key_added`` of :func:`prismtools.tl.attribute` to add the attribution panel.
    show_sequence
        Draw the sequence strip (default: when ``obsm["sequence"]`` exists and the window is <= 1,000 bp).
    show, save
        As in scanpy.

    Returns
    -------
    The list of axes (when not shown): [sequence strip], one per track, [attribution].

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=8, width=64)
    >>> axes = pt.pl.tracks(adata, adata.obs_names[0], show=False)  # a gene by name or position
    """
    if TRACKS_KEY not in adata.obsm:
        raise KeyError("adata.obsm['tracks'] is missing.")
    i = _gene_index(adata, gene)
    win = get_window(adata)
    idx = resolve_tracks(adata, tracks)
    tab = track_table(adata)
    x = bin_offsets(win).astype(float)
    values = _row(adata.obsm[TRACKS_KEY], i)[idx]
    if show_sequence is None:
        show_sequence = SEQUENCE_KEY in adata.obsm and win["width"] <= 1_000
    attr = None
    if attribution_key is not None:
        attr = {a[0]: (a[2][i], a[3]) for a in attribution_inputs(adata, attribution_key)}
    n_panels = len(idx) + bool(show_sequence) + (attr is not None)
    ratios = ([0.25] if show_sequence else []) + [1.0] * len(idx) + ([1.2] if attr is not None else [])
    fig, axes = plt.subplots(n_panels, 1, figsize=(7, 0.5 + sum(ratios) * 1.2), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": ratios})
    axes = list(axes[:, 0])
    k = 0
    half, width = win["width"] // 2, win["width"]
    if show_sequence:
        codes = _row(adata.obsm[SEQUENCE_KEY], i).astype(int)[None, :]
        axes[0].imshow(codes, aspect="auto", cmap=ListedColormap(BASE_COLORS), vmin=-0.5, vmax=4.5,
                       extent=(-half - 0.5, width - half - 0.5, 0, 1), interpolation="nearest")
        axes[0].set_yticks([])
        axes[0].set_ylabel("DNA", rotation=0, ha="right", va="center", fontsize=9)
        k = 1
    for j, t in enumerate(idx):
        ax = axes[k + j]
        color = ROLE_COLORS.get(str(tab["role"][t]), "C0")
        v = np.nan_to_num(values[j].astype(float))
        ax.fill_between(x, 0, v, step="post", color=color, alpha=0.35, lw=0)
        ax.plot(x, v, drawstyle="steps-post", color=color, lw=0.8)
        ax.set_ylabel(f"{tab['name'][t]}", rotation=0, ha="right", va="center", fontsize=9)
    if attr is not None:
        ax = axes[-1]
        shown = ["sequence"] + [str(tab["name"][t]) for t in idx]
        for name in shown:
            if name not in attr:
                continue
            a, off = attr[name]
            color = "C2" if name == "sequence" else f"C{(shown.index(name) + 3) % 10}"
            ax.plot(off, np.asarray(a, float), lw=0.8, color=color, label=name)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_ylabel("attribution", rotation=0, ha="right", va="center", fontsize=9)
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    for ax in axes:
        ax.axvline(0, color="k", lw=0.7, ls="--")
    axes[-1].set_xlim(-half, width - half)
    axes[-1].set_xlabel("bp from TSS")
    obs = adata.obs.iloc[i]
    name = f"{obs['gene_name']} ({adata.obs_names[i]})" if "gene_name" in adata.obs else str(adata.obs_names[i])
    where = ""
    if {"chrom", "tss", "strand"} <= set(adata.obs):
        where = f"  {obs['chrom']}:{int(obs['tss']):,} ({obs['strand']})"
    axes[0].set_title(f"{name}{where}", fontsize=10)
    fig.tight_layout()
    return finish(fig, axes, show=show, save=save, default_name=f"tracks_{adata.obs_names[i]}")
