"""The paper's analyses: context length sweep, signal ablation, seed summaries, attribution by distance.

Claim 1 (long context does not help beyond ~2 kb) is tested by :func:`length_sweep`; claim 2 (background
signals add little alone, yet a model trained on all signals leans on them) by :func:`signal_ablation`;
:func:`attribution_by_distance` summarises :func:`prismtools.tl.attribute` (how proximal is what a model uses).

This module imports no torch: the model (and torch) is imported when a sweep or an ablation trains one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import (
    COVARIATES_KEY,
    SEQUENCE_KEY,
    TRACKS_KEY,
    UNS_KEY,
    get_window,
    resolve_tracks,
    track_table,
    uns_safe,
)
from ._evaluate import METRICS, evaluate

logger = logging.getLogger(__name__)

#: Numeric result columns (everything else in a result table, except ``seed``, identifies a setting).
VALUE_COLUMNS = [*METRICS, "val_MSE", "best_step", "n_params", "seconds"]
_RESERVED = ("sample", "seed")


# ---------------------------------------------------------------------------------------------- helpers


_clean = uns_safe


def _seeds(seeds) -> list[int]:
    if seeds is None:
        from .._settings import settings

        seeds = (settings.seed,)
    seeds = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=(0,).")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds contains duplicates: {seeds}.")
    return [int(s) for s in seeds]


def _check_model_kwargs(model_kwargs: dict, extra: Sequence[str] = ()) -> None:
    bad = [k for k in (*_RESERVED, *extra) if k in model_kwargs]
    if bad:
        raise TypeError(f"{bad} are set by the analysis itself; do not pass them as model arguments.")


def _working_copy(adata: AnnData, width: int | None = None) -> AnnData:
    """A light AnnData sharing ``X`` and the ``obsm`` arrays with ``adata`` (optionally centre-cropped).

    ``obs`` and ``uns["prism"]`` are copied, so predictions written by the analysis never reach ``adata``;
    the (possibly very long, possibly lazy) sequence and tracks are sliced, never copied.
    """
    from ..pp._window import crop_window

    obsm = {k: adata.obsm[k] for k in (SEQUENCE_KEY, TRACKS_KEY, COVARIATES_KEY) if k in adata.obsm}
    sub = AnnData(X=adata.X, obs=adata.obs.copy(), var=adata.var.copy(), uns={UNS_KEY: dict(adata.uns[UNS_KEY])})
    for k, v in obsm.items():
        sub.obsm[k] = v
    if width is not None and width != get_window(adata)["width"]:
        crop_window(sub, width)
    return sub


def _score(model, sub: AnnData, sample: str, split, *, remove_tracks=None, removal: str = "mean") -> pd.DataFrame:
    """Predict on ``sub`` and evaluate: one row per split, with a ``split`` column."""
    model.predict(sub, key_added="_analysis", remove_tracks=remove_tracks, removal=removal)
    res = evaluate(sub, pred_key="_analysis_pred", sample=sample, split=split)
    return res.reset_index()


def _fit_info(model) -> dict:
    training = model.registry.get("training", {})
    best = training.get("best_val_mse")
    return {
        "val_MSE": float(best) if best is not None else np.nan,
        "best_step": int(model.best_step_) if model.best_step_ is not None else -1,
        "n_params": int(model.n_params),
        "seconds": float(model.fit_time_.get("seconds", np.nan)),
    }


def _fit(sub: AnnData, *, sample: str, seed: int, fit_kwargs: dict, model_kwargs: dict, run: str, tracks=None):
    """Build and train one model; a ``checkpoint_dir`` in ``fit_kwargs`` gets one sub-directory per ``run``."""
    from ._prism import Prism

    kwargs = dict(fit_kwargs)
    if kwargs.get("checkpoint_dir") is not None:
        kwargs["checkpoint_dir"] = Path(kwargs["checkpoint_dir"]) / run
    model = Prism(sub, sample=sample, tracks=tracks, seed=seed, **model_kwargs)
    model.fit(**kwargs)
    return model


def summarize_seeds(df: pd.DataFrame, *, by: str | Sequence[str] | None = None, metrics=None) -> pd.DataFrame:
    """Mean and standard deviation over seeds of a per-seed result table.

    Parameters
    ----------
    df
        A long table with a ``seed`` column, e.g. from :func:`length_sweep` or :func:`signal_ablation`.
    by
        Columns identifying a setting (default: every column that is neither ``seed`` nor a result column
        such as ``n``, ``MSE``, ``MAE``, ``Pearson``, ``Spearman``, ``R2``, ``val_MSE``, ``best_step``,
        ``n_params``, ``seconds``).
    metrics
        Columns to summarise (default: the result columns present, except ``n``).

    Returns
    -------
    One row per setting, in order of first appearance: the ``by`` columns, ``n_seeds``, ``n`` (the smallest
    number of genes scored, if ``n`` is present) and ``<metric>_mean``, ``<metric>_sd`` (sample standard
    deviation, ``ddof=1``; NaN with a single seed) for every metric.

    Examples
    --------
    >>> import pandas as pd
    >>> import prismtools as pt
    >>> runs = pd.DataFrame({"length": [32, 32, 64, 64], "seed": [0, 1, 0, 1], "MSE": [1.0, 1.2, 0.8, 0.6]})
    >>> pt.tl.summarize_seeds(runs).round(3)
       length  n_seeds  MSE_mean  MSE_sd
    0      32        2       1.1   0.141
    1      64        2       0.7   0.141
    """
    if "seed" not in df:
        raise KeyError("df has no 'seed' column; pass a per-seed table from length_sweep or signal_ablation.")
    if by is None:
        by = [c for c in df.columns if c != "seed" and c not in VALUE_COLUMNS]
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by if c not in df]
    if missing:
        raise KeyError(f"Columns {missing} are not in df; columns are {list(df.columns)}.")
    if metrics is None:
        metrics = [c for c in VALUE_COLUMNS if c in df and c != "n"]
    rows = []
    groups = df.groupby(by, sort=False, dropna=False) if by else [((), df)]
    for keys, g in groups:
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(by, keys))
        row["n_seeds"] = int(g["seed"].nunique())
        if "n" in g:
            row["n"] = int(g["n"].min())
        for m in metrics:
            vals = pd.to_numeric(g[m], errors="coerce").to_numpy(np.float64)
            vals = vals[np.isfinite(vals)]
            row[f"{m}_mean"] = float(vals.mean()) if len(vals) else np.nan
            row[f"{m}_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- claim 1


def length_sweep(
    adata: AnnData,
    *,
    sample: str,
    lengths: Sequence[int],
    seeds: int | Sequence[int] | None = None,
    split: str | Sequence[str] = "test",
    fit_kwargs: dict | None = None,
    key_added: str = "length_sweep",
    **model_kwargs,
) -> pd.DataFrame:
    """Train the same model on centre crops of a long window and score each (claim 1 of the paper).

    For every length ``L`` the sequence and tracks are cropped to ``[tss - L/2, tss + L/2)`` (lazily: nothing
    is copied, see :func:`prismtools.pp.crop_window`), and for every seed a :class:`~prismtools.tl.Prism` is
    built with ``**model_kwargs``, trained with ``**fit_kwargs`` and evaluated with
    :func:`~prismtools.tl.evaluate`. ``adata`` itself is left as it is (predictions go to a working copy).

    Parameters
    ----------
    adata
        Gene-centric AnnData with a window at least as long as the longest length.
    sample
        Biosample (``var`` name) whose expression is the target.
    lengths
        Window lengths in bp, e.g. ``[500, 1_000, 2_000, 10_000, 50_000, 200_000]``. Each must be even, at most
        the stored width, with ``L/2`` a multiple of the bin size. (A Prism with strata needs ``L >= 32`` bp
        at bin size 1 for its confounder encoder's pooling.)
    seeds
        Model seeds; one model per length and seed. ``None``: ``(pt.settings.seed,)``.
    split
        Split(s) scored (one row each).
    fit_kwargs
        Passed to :meth:`Prism.fit` (e.g. ``{"max_steps": 2000, "device": "cuda"}``). A ``checkpoint_dir``
        gets one sub-directory per model, ``length_<L>_seed_<s>`` (so ``resume=True`` resumes each).
    key_added
        Key in ``adata.uns``.
    **model_kwargs
        Passed to :class:`~prismtools.tl.Prism` (e.g. ``alpha=0``, ``d_model=128``, ``tracks=[...]``,
        ``use_sequence=False``); not ``sample`` or ``seed``.

    Returns
    -------
    The per-seed long table, one row per length, seed and split, with columns ``length``, ``split``, ``seed``,
    ``n``, ``MSE``, ``MAE``, ``Pearson``, ``Spearman``, ``R2`` (see :func:`~prismtools.tl.evaluate`),
    ``val_MSE`` (best validation MSE), ``best_step``, ``n_params`` and ``seconds`` (training time).
    :func:`summarize_seeds` gives mean and SD over seeds.

    Also writes ``adata.uns[key_added]``, a dict with ``params`` (sample, lengths, seeds, split, fit_kwargs,
    model_kwargs, stored width and bin size), ``results`` (the returned table) and ``summary``
    (``summarize_seeds(results)``: one row per length and split).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> fit = {"max_steps": 3, "batch_size": 8, "warmup_steps": 1, "progress": False}
    >>> df = pt.tl.length_sweep(adata, sample="toy", lengths=[32, 64], seeds=[0], fit_kwargs=fit,
    ...                         d_model=8, n_layers=1)
    >>> df[["length", "split", "seed"]]
       length split  seed
    0      32  test     0
    1      64  test     0
    >>> list(adata.uns["length_sweep"])
    ['params', 'results', 'summary']
    """
    _check_model_kwargs(model_kwargs)
    fit_kwargs = dict(fit_kwargs or {})
    seeds = _seeds(seeds)
    win = get_window(adata)
    lengths = list(dict.fromkeys(int(x) for x in lengths))
    if not lengths:
        raise ValueError("lengths is empty.")
    bad = [x for x in lengths if x <= 0 or x % 2 or x > win["width"] or (x // 2) % win["bin_size"]]
    if bad:
        raise ValueError(
            f"Cannot crop the stored window (width {win['width']}, bin_size {win['bin_size']}) to lengths {bad}: "
            "each length must be even, at most the stored width, with length/2 a multiple of the bin size."
        )
    parts = []
    t0 = time.perf_counter()
    for length in lengths:
        sub = _working_copy(adata, length)
        for seed in seeds:
            logger.info("length_sweep: length %d bp, seed %d", length, seed)
            model = _fit(sub, sample=sample, seed=seed, fit_kwargs=fit_kwargs, model_kwargs=model_kwargs,
                         run=f"length_{length}_seed_{seed}")
            res = _score(model, sub, sample, split)
            res.insert(0, "length", length)
            res.insert(2, "seed", seed)
            for k, v in _fit_info(model).items():
                res[k] = v
            parts.append(res)
    df = pd.concat(parts, ignore_index=True)
    df["length"] = df["length"].astype(int)
    df["seed"] = df["seed"].astype(int)
    logger.info("length_sweep: %d models in %.1f s", len(lengths) * len(seeds), time.perf_counter() - t0)
    adata.uns[key_added] = {
        "params": _clean({
            "sample": sample, "lengths": lengths, "seeds": seeds, "split": split, "fit_kwargs": fit_kwargs,
            "model_kwargs": model_kwargs, "stored_width": win["width"], "bin_size": win["bin_size"],
        }),
        "results": df,
        "summary": summarize_seeds(df),
    }
    return df


# ---------------------------------------------------------------------------------------------- claim 2


def signal_ablation(
    adata: AnnData,
    *,
    sample: str,
    tracks=None,
    seeds: int | Sequence[int] | None = None,
    removal: str = "mean",
    split: str | Sequence[str] = "test",
    fit_kwargs: dict | None = None,
    key_added: str = "signal_ablation",
    **model_kwargs,
) -> pd.DataFrame:
    """Which signals a model needs, and which it leans on (claim 2 of the paper).

    Two parts, per seed:

    ``trained_on``
        A model trained on each signal alone, on all signals (``tracks="all"``) and, when the sequence is
        used (``use_sequence=True``, the default), on the sequence alone (``tracks="none"``).
    ``removed_at_test``
        The model trained on all signals (the very model of the ``trained_on``/``all`` row), evaluated with
        nothing removed (``tracks="none"``: equal to the ``all`` row), with each signal removed, and with all
        background signals removed together (``tracks="background"``, when there are two or more).

    Parameters
    ----------
    adata
        Gene-centric AnnData (see :class:`~prismtools.tl.Prism`).
    sample
        Biosample whose expression is the target.
    tracks
        Signals to ablate (names); default all tracks of ``sample``.
    seeds
        Model seeds (one model each). ``None``: ``(pt.settings.seed,)``.
    removal
        How a signal is removed at test time: ``"mean"`` (default) replaces it by its per-position mean over
        the training genes (the "average gene"; the input stays in distribution, so a drop in performance
        measures reliance on the gene-specific signal), ``"zero"`` sets it to 0 (signal switched off; also
        measures the shift to an input never seen in training).
    split
        Split(s) scored (one row each).
    fit_kwargs
        Passed to :meth:`Prism.fit`. A ``checkpoint_dir`` gets one sub-directory per model,
        ``trained_on_<tracks>_seed_<s>``.
    key_added
        Key in ``adata.uns``.
    **model_kwargs
        Passed to :class:`~prismtools.tl.Prism` (e.g. ``alpha=0`` for the concatenation baseline); not
        ``sample`` or ``seed``.

    Returns
    -------
    Long table with one row per setting, signal set, seed and split: ``setting`` (``"trained_on"`` or
    ``"removed_at_test"``), ``tracks`` (a track name, ``"all"``, ``"none"`` or ``"background"``), ``role``
    (the track's role, or ``"all"``/``"none"``/``"background"``), ``split``, ``seed``, ``n``, ``MSE``, ``MAE``,
    ``Pearson``, ``Spearman``, ``R2``.

    Also writes ``adata.uns[key_added]``: ``params`` (sample, tracks, roles, seeds, removal, split,
    fit_kwargs, model_kwargs), ``results`` (the returned table) and ``summary`` (:func:`summarize_seeds`).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64, n_tracks=2)
    >>> fit = {"max_steps": 3, "batch_size": 8, "warmup_steps": 1, "progress": False}
    >>> df = pt.tl.signal_ablation(adata, sample="toy", seeds=[0], fit_kwargs=fit, d_model=8, n_layers=1)
    >>> df[["setting", "tracks"]]
               setting   tracks
    0       trained_on  H3K27ac
    1       trained_on    DNase
    2       trained_on      all
    3       trained_on     none
    4  removed_at_test     none
    5  removed_at_test  H3K27ac
    6  removed_at_test    DNase
    """
    _check_model_kwargs(model_kwargs)
    if removal not in ("mean", "zero"):
        raise ValueError(f"removal must be 'mean' or 'zero', got {removal!r}.")
    fit_kwargs = dict(fit_kwargs or {})
    seeds = _seeds(seeds)
    tab = track_table(adata)
    idx = resolve_tracks(adata, tracks, sample=sample)
    if not idx:
        raise ValueError(f"No tracks to ablate for sample {sample!r}.")
    names = [str(tab["name"][i]) for i in idx]
    roles = {n: str(tab["role"][i]) for n, i in zip(names, idx)}
    background = [n for n in names if roles[n] == "background"]
    trained = [(n, [n], roles[n]) for n in names] if len(names) > 1 else []
    trained.append(("all", names, "all"))
    if model_kwargs.get("use_sequence", True):
        trained.append(("none", [], "none"))
    removed = [("none", [], "none")] + [(n, [n], roles[n]) for n in names]
    if len(background) >= 2:
        removed.append(("background", background, "background"))
    sub = _working_copy(adata)
    parts = []

    def add(res, setting, label, role, seed):
        res.insert(0, "setting", setting)
        res.insert(1, "tracks", label)
        res.insert(2, "role", role)
        res.insert(4, "seed", seed)
        parts.append(res)

    t0 = time.perf_counter()
    for seed in seeds:
        for label, use, role in trained:
            logger.info("signal_ablation: seed %d, trained on %s", seed, label)
            model = _fit(sub, sample=sample, seed=seed, fit_kwargs=fit_kwargs, model_kwargs=model_kwargs,
                         tracks=use, run=f"trained_on_{label}_seed_{seed}")
            add(_score(model, sub, sample, split), "trained_on", label, role, seed)
            if label == "all":
                for rlabel, rm, rrole in removed:
                    res = _score(model, sub, sample, split, remove_tracks=rm, removal=removal)
                    add(res, "removed_at_test", rlabel, rrole, seed)
    df = pd.concat(parts, ignore_index=True)
    df["seed"] = df["seed"].astype(int)
    order = {"trained_on": 0, "removed_at_test": 1}
    df = df.sort_values("setting", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    logger.info("signal_ablation: %d models in %.1f s", len(trained) * len(seeds), time.perf_counter() - t0)
    adata.uns[key_added] = {
        "params": _clean({
            "sample": sample, "tracks": names, "roles": [roles[n] for n in names], "seeds": seeds,
            "removal": removal, "split": split, "fit_kwargs": fit_kwargs, "model_kwargs": model_kwargs,
        }),
        "results": df,
        "summary": summarize_seeds(df),
    }
    return df


# ---------------------------------------------------------------------------------------------- attribution


def attribution_inputs(adata: AnnData, key: str = "attr") -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(name, role, attributions (genes x positions), bp offset of each position)`` for every input of an
    attribution written by :func:`prismtools.tl.attribute`. Offsets are bin centres for binned tracks."""
    if key not in adata.uns or "params" not in adata.uns[key]:
        raise KeyError(
            f"adata.uns[{key!r}]['params'] is missing; run `pt.tl.attribute(model, adata, key_added={key!r})`."
        )
    p = adata.uns[key]["params"]
    width, bin_size = int(p["width"]), int(p["bin_size"])
    out = []
    if f"{key}_sequence" in adata.obsm:
        out.append(("sequence", "sequence", np.asarray(adata.obsm[f"{key}_sequence"], np.float64),
                    np.arange(width, dtype=np.float64) - width // 2))
    if f"{key}_tracks" in adata.obsm:
        arr = np.asarray(adata.obsm[f"{key}_tracks"], np.float64)
        names = list(p.get("tracks") or [f"track{i}" for i in range(arr.shape[1])])
        roles = list(p.get("roles") or [""] * len(names))
        off = np.arange(arr.shape[2], dtype=np.float64) * bin_size - width // 2 + (bin_size - 1) / 2
        for t, (name, role) in enumerate(zip(names, roles)):
            out.append((str(name), str(role), arr[:, t, :], off))
    if not out:
        raise KeyError(f"No attributions found: adata.obsm has neither {key}_sequence nor {key}_tracks.")
    return out


def _distance_edges(max_dist: float, bins) -> np.ndarray:
    if bins is None:
        k = int(math.ceil(math.log2(max_dist + 1))) if max_dist >= 1 else 0
        edges = np.array([0.0] + [2.0**i for i in range(k + 1)])
    else:
        edges = np.unique(np.asarray(bins, dtype=np.float64))
        if len(edges) < 2 or edges[0] < 0:
            raise ValueError(f"bins must be at least two non-negative bin edges in bp, got {bins!r}.")
        if edges[0] > 0:
            edges = np.r_[0.0, edges]
    if edges[-1] <= max_dist:
        edges = np.r_[edges, math.floor(max_dist) + 1.0]  # everything lies in some bin
    return edges


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def attribution_by_distance(adata: AnnData, *, key: str = "attr", bins: Sequence[float] | None = None) -> pd.DataFrame:
    """How much of each input's attribution lies at each distance from the TSS.

    For every input (the sequence and each track) and every gene with attributions, the absolute
    attributions are summed in distance bins (``|bp offset|`` from the TSS; bin centres for binned tracks)
    and divided by the gene's total, then averaged over genes: the fraction of what the model uses that
    lies in each distance bin.

    Parameters
    ----------
    adata
        AnnData after :func:`prismtools.tl.attribute`.
    key
        ``key_added`` used there.
    bins
        Edges of the distance bins in bp (``[lo, hi)``), e.g. ``[0, 100, 1000, 10000]``; ``0`` is prepended when
        missing and a last bin is added for positions beyond the last edge, so every position is counted.
        Default: log-spaced, ``0, 1, 2, 4, 8, ...`` up to past the half-width.

    Returns
    -------
    Long table, one row per input and distance bin: ``input`` (``"sequence"`` or the track name), ``role``
    (``"sequence"`` or the track's role), ``bin`` (label ``"lo-hi"``), ``dist_lo``, ``dist_hi`` (bp),
    ``n_positions`` (positions of the window in the bin), ``n_genes`` (genes with non-zero finite
    attributions), ``fraction`` (mean over genes of the gene's fraction of total ``|attribution|`` in the bin;
    sums to 1 over the bins of an input), ``fraction_sd`` (its SD over genes), ``cumulative`` (cumulative
    ``fraction`` from the TSS outwards) and ``mean_abs`` (mean ``|attribution|`` per position in the bin,
    averaged over genes). Also written to ``adata.uns[f"{key}_by_distance"]``.

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1)
    >>> model.fit(max_steps=3, batch_size=8, warmup_steps=1, progress=False)
    >>> pt.tl.attribute(model, adata, genes=adata.obs_names[:4], n_steps=4)
    >>> dist = pt.tl.attribution_by_distance(adata, bins=[0, 8, 16])
    >>> dist["bin"].unique().tolist()
    ['0-8', '8-16', '16-33']
    >>> dist.groupby("input", sort=False)["fraction"].sum().round(6)
    input
    sequence    1.0
    H3K27ac     1.0
    DNase       1.0
    track2      1.0
    Name: fraction, dtype: float64
    """
    inputs = attribution_inputs(adata, key)
    max_dist = max(float(np.abs(off).max()) for *_, off in inputs)
    edges = _distance_edges(max_dist, bins)
    labels = [f"{_num(lo)}-{_num(hi)}" for lo, hi in zip(edges[:-1], edges[1:])]
    nb = len(edges) - 1
    rows = []
    for name, role, attr, off in inputs:
        which = np.clip(np.searchsorted(edges, np.abs(off), side="right") - 1, 0, nb - 1)
        member = np.zeros((len(off), nb))
        member[np.arange(len(off)), which] = 1.0
        a = np.abs(attr)
        total = a.sum(axis=1)
        ok = np.isfinite(a).all(axis=1) & (total > 0)
        if not ok.any():
            logger.warning("attribution_by_distance: no gene has finite, non-zero attributions for %r.", name)
        per_bin = a[ok] @ member  # genes x bins
        frac = per_bin / total[ok, None]
        counts = member.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_abs = (per_bin / counts).mean(axis=0) if ok.any() else np.full(nb, np.nan)
        fraction = frac.mean(axis=0) if ok.any() else np.full(nb, np.nan)
        fraction_sd = frac.std(axis=0, ddof=1) if ok.sum() > 1 else np.full(nb, np.nan)
        for b in range(nb):
            rows.append({
                "input": name, "role": role, "bin": labels[b], "dist_lo": edges[b], "dist_hi": edges[b + 1],
                "n_positions": int(counts[b]), "n_genes": int(ok.sum()), "fraction": fraction[b],
                "fraction_sd": fraction_sd[b], "mean_abs": mean_abs[b] if counts[b] else np.nan,
            })
    df = pd.DataFrame(rows)
    df["cumulative"] = df.groupby("input", sort=False)["fraction"].cumsum()
    df = df[["input", "role", "bin", "dist_lo", "dist_hi", "n_positions", "n_genes", "fraction", "fraction_sd",
             "cumulative", "mean_abs"]]
    adata.uns[f"{key}_by_distance"] = df
    return df
