"""What a model reads from an AnnData (sample, tracks, window, covariates), and checking another AnnData against it.

No torch here: the registry is plain JSON-able data, written next to the weights by ``Prism.save``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np
from anndata import AnnData

from .._core import (
    COVARIATES_KEY,
    SEQUENCE_KEY,
    TRACKS_KEY,
    covariate_names,
    get_window,
    resolve_tracks,
    track_table,
)

logger = logging.getLogger(__name__)

SPLIT_KEY = "split"


def sample_index(adata: AnnData, sample: str) -> int:
    """Column of ``adata.X`` holding ``sample``; a clear error listing the samples otherwise."""
    names = [str(s) for s in adata.var_names]
    if str(sample) not in names:
        raise KeyError(f"Sample {sample!r} is not in adata.var; available samples: {names}.")
    return names.index(str(sample))


def get_targets(adata: AnnData, sample: str) -> np.ndarray:
    """Expression of ``sample`` for every gene, float32 (NaN where unmeasured)."""
    j = sample_index(adata, sample)
    x = adata.X
    if x is None:
        raise ValueError("adata.X is empty; add expression with `pt.pp.add_expression`.")
    col = x[:, j]
    if hasattr(col, "toarray"):
        col = col.toarray()
    elif hasattr(col, "compute"):
        col = col.compute()
    return np.asarray(col, dtype=np.float32).reshape(-1)


def get_split(adata: AnnData, key: str = SPLIT_KEY) -> np.ndarray:
    """``obs[key]`` as an array of strings (``""`` for unassigned genes)."""
    if key not in adata.obs:
        raise KeyError(
            f"adata.obs[{key!r}] is missing: assign train/valid/test genes first, e.g. "
            "`pt.pp.split_chromosomes(adata, test=['chrX', 'chr22'], valid='chr3')` or `pt.pp.split_folds`."
        )
    col = adata.obs[key]
    return np.where(col.isna().to_numpy(), "", col.astype(str).to_numpy())


def training_genes(adata: AnnData, sample: str, split_key: str = SPLIT_KEY) -> tuple[np.ndarray, ...]:
    """Targets of ``sample`` and the train / valid genes with a measured target; NaN targets counted and logged.

    Returns ``(y, train_genes, valid_genes, n_dropped)``. No training gene is a :class:`ValueError`; no
    validation gene a warning (the last weights are then kept).
    """
    y = get_targets(adata, sample)
    split = get_split(adata, split_key)
    finite = np.isfinite(y)
    is_train, is_valid = split == "train", split == "valid"
    n_nan_train, n_nan_valid = int((is_train & ~finite).sum()), int((is_valid & ~finite).sum())
    if n_nan_train or n_nan_valid:
        logger.warning(
            "Dropped %d genes with NaN expression for sample %r (%d train, %d valid).",
            n_nan_train + n_nan_valid, sample, n_nan_train, n_nan_valid,
        )
    train_genes, valid_genes = np.flatnonzero(is_train & finite), np.flatnonzero(is_valid & finite)
    if len(train_genes) == 0:
        raise ValueError(
            f"No training genes: obs[{split_key!r}] has {int(is_train.sum())} 'train' genes, "
            f"{n_nan_train} of them without expression for sample {sample!r}. "
            "Check the split (e.g. `pt.pp.split_chromosomes`) and adata.X."
        )
    if len(valid_genes) == 0:
        logger.warning(
            f"No validation genes (obs[{split_key!r}] == 'valid'): no model selection; the last weights are kept."
        )
    return y, train_genes, valid_genes, n_nan_train + n_nan_valid


def select_covariates(adata: AnnData, covariates: bool | str | Sequence[str]) -> list[str]:
    """Names of the covariates to use: ``True`` all, ``False`` none, or an explicit list."""
    if covariates is False or covariates is None:
        return []
    if COVARIATES_KEY not in adata.obsm:
        if covariates is True:
            return []
        raise KeyError("adata.obsm['covariates'] is missing; add covariates with `pt.pp.add_covariates`.")
    n = adata.obsm[COVARIATES_KEY].shape[1]
    names = covariate_names(adata) or [f"covariate_{i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(
            f"uns['prism']['covariates'] names {len(names)} covariates but obsm['covariates'] has {n} columns."
        )
    if covariates is True:
        return names
    wanted = [covariates] if isinstance(covariates, str) else list(covariates)
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise KeyError(f"Covariates {unknown} do not exist. Available covariates: {names}.")
    return wanted


def covariate_columns(adata: AnnData, names: Sequence[str]) -> list[int]:
    """Column indices of ``names`` in ``obsm["covariates"]`` (names must exist)."""
    if not names:
        return []
    n = adata.obsm[COVARIATES_KEY].shape[1]
    have = covariate_names(adata) or [f"covariate_{i}" for i in range(n)]
    return [have.index(c) for c in names]


def read_covariates(adata: AnnData, names: Sequence[str]) -> np.ndarray:
    """The (small) covariate matrix of the named covariates, float32 (n_genes, n_names)."""
    if not names:
        return np.zeros((adata.n_obs, 0), dtype=np.float32)
    cols = covariate_columns(adata, names)
    arr = adata.obsm[COVARIATES_KEY]
    if hasattr(arr, "compute"):
        arr = arr[:, cols].compute()
    else:
        arr = np.asarray(arr)[:, cols]
    return np.asarray(arr, dtype=np.float32)


def covariate_stats(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per column, ignoring NaN; std 0/NaN -> 1, mean NaN -> 0."""
    if cov.shape[1] == 0:
        return np.zeros(0, np.float64), np.ones(0, np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(cov.astype(np.float64), axis=0)
        std = np.nanstd(cov.astype(np.float64), axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return mean, std


def standardise_covariates(cov: np.ndarray, mean, std, *, what: str = "") -> np.ndarray:
    """``(cov - mean) / std`` as float32 with NaN -> 0 (counted and logged)."""
    out = ((cov.astype(np.float64) - np.asarray(mean)) / np.asarray(std)).astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        logger.warning(
            "%d covariate values (in %d genes)%s are missing; set to 0 (the training mean) after standardising.",
            int(bad.sum()), int(bad.any(axis=1).sum()), f" {what}" if what else "",
        )
        out[bad] = 0.0
    return out


def build_registry(
    adata: AnnData,
    *,
    sample: str,
    tracks=None,
    use_sequence: bool = True,
    covariates: bool | Sequence[str] = True,
) -> dict:
    """Validate ``adata`` for a model of ``sample`` and record the fields the model reads.

    Returns a JSON-able dict: ``sample``, ``tracks`` (list of ``{"name", "sample", "role", "kind"}`` in input
    order), ``window`` (``width``, ``bin_size``), ``use_sequence``, ``use_tracks`` and ``covariates`` (names).
    """
    sample = str(sample)
    sample_index(adata, sample)
    if tracks is None and TRACKS_KEY not in adata.obsm:
        idx = []  # no tracks at all: a sequence-only model
    else:
        idx = resolve_tracks(adata, tracks, sample=sample)
    use_tracks = len(idx) > 0
    if not use_sequence and not use_tracks:
        raise ValueError(
            "The model has no inputs: use_sequence=False and no tracks were selected. Pass tracks (or "
            "tracks=None for all tracks of the sample) for a signals-only model, or use_sequence=True."
        )
    win = get_window(adata)
    if use_sequence:
        if SEQUENCE_KEY not in adata.obsm:
            raise KeyError("adata.obsm['sequence'] is missing; add it with `pt.pp.add_sequence`.")
        if adata.obsm[SEQUENCE_KEY].shape[1] != win["width"]:
            raise ValueError(
                f"obsm['sequence'] has {adata.obsm[SEQUENCE_KEY].shape[1]} positions but the window width is "
                f"{win['width']}."
            )
    if use_tracks:
        if TRACKS_KEY not in adata.obsm:
            raise KeyError("adata.obsm['tracks'] is missing; add tracks with `pt.pp.add_track` / `pt.pp.add_hic`.")
        if adata.obsm[TRACKS_KEY].shape[2] != win["n_bins"]:
            raise ValueError(
                f"obsm['tracks'] has {adata.obsm[TRACKS_KEY].shape[2]} bins but the window has {win['n_bins']} "
                f"(width {win['width']}, bin_size {win['bin_size']})."
            )
    tab = track_table(adata)
    rows = [
        {k: str(tab[k].iloc[i]) for k in ("name", "sample", "role", "kind")} for i in idx
    ]
    names = [r["name"] for r in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"Selected tracks have duplicate names {names}; tracks are matched by name.")
    return {
        "sample": sample,
        "tracks": rows,
        "window": {"width": int(win["width"]), "bin_size": int(win["bin_size"])},
        "use_sequence": bool(use_sequence),
        "use_tracks": bool(use_tracks),
        "covariates": select_covariates(adata, covariates),
    }


def match_adata(adata: AnnData, registry: dict, sample: str | None = None) -> list[int]:
    """Check that ``adata`` provides what a model was trained on; return the track indices to read.

    With ``sample`` (another biosample), the model's tracks of its own biosample are taken from ``sample``'s
    tracks of the same names, roles and kinds (cross-biosample prediction); other tracks are matched as usual.

    Raises
    ------
    ValueError
        Naming every difference (window, sequence, tracks, covariates).
    """
    problems: list[str] = []
    win = get_window(adata, required=False)
    want = registry["window"]
    if win is None:
        problems.append(f"window: adata has no uns['prism']['window']; the model needs {want}")
    elif (win["width"], win["bin_size"]) != (want["width"], want["bin_size"]):
        problems.append(
            f"window: adata has width={win['width']}, bin_size={win['bin_size']}; the model was trained with "
            f"width={want['width']}, bin_size={want['bin_size']} (see `pt.pp.crop_window`)"
        )
    if registry["use_sequence"]:
        seq = adata.obsm.get(SEQUENCE_KEY)
        if seq is None:
            problems.append("sequence: adata.obsm['sequence'] is missing")
        elif seq.shape[1] != want["width"]:
            problems.append(f"sequence: obsm['sequence'] has {seq.shape[1]} positions, the model needs {want['width']}")
    idx: list[int] = []
    if registry["use_tracks"]:
        if TRACKS_KEY not in adata.obsm:
            problems.append("tracks: adata.obsm['tracks'] is missing")
        else:
            tab = track_table(adata)
            n_bins = want["width"] // want["bin_size"]
            if adata.obsm[TRACKS_KEY].shape[2] != n_bins:
                problems.append(
                    f"tracks: obsm['tracks'] has {adata.obsm[TRACKS_KEY].shape[2]} bins, the model needs {n_bins}"
                )
            missing, wrong = [], []
            swap = sample is not None and str(sample) != registry["sample"]
            for t in registry["tracks"]:
                hits = [i for i, n in enumerate(tab["name"]) if n == t["name"]]
                if swap and t["sample"] == registry["sample"]:
                    hits = [i for i in hits if tab["sample"][i] == str(sample)]
                    if len(hits) != 1:
                        missing.append(f"{t['name']} (of sample {sample!r})")
                        continue
                elif len(hits) > 1:
                    hits = [i for i in hits if tab["sample"][i] == t["sample"]] or hits[:0]
                if len(hits) != 1:
                    missing.append(t["name"])
                    continue
                i = hits[0]
                if (tab["role"][i], tab["kind"][i]) != (t["role"], t["kind"]):
                    wrong.append(
                        f"{t['name']!r} is role={tab['role'][i]}, kind={tab['kind'][i]} in adata but "
                        f"role={t['role']}, kind={t['kind']} in the model"
                    )
                idx.append(i)
            if missing:
                problems.append(
                    f"tracks: {missing} not found (unambiguously) in adata; adata has tracks {list(tab['name'])}"
                )
            if wrong:
                problems.append("tracks: " + "; ".join(wrong))
    if registry["covariates"]:
        if COVARIATES_KEY not in adata.obsm:
            problems.append(
                f"covariates: adata.obsm['covariates'] is missing; the model needs {registry['covariates']}"
            )
        else:
            n = adata.obsm[COVARIATES_KEY].shape[1]
            have = covariate_names(adata) or [f"covariate_{i}" for i in range(n)]
            missing = [c for c in registry["covariates"] if c not in have]
            if missing:
                problems.append(f"covariates: {missing} missing; adata has {have}")
    if problems:
        raise ValueError("This AnnData does not match the model:\n  - " + "\n  - ".join(problems))
    return idx


def stats_genes(adata: AnnData, sample: str, split_key: str = SPLIT_KEY) -> np.ndarray:
    """Genes used for covariate statistics before fitting: the training genes if a split exists, else all."""
    y = get_targets(adata, sample)
    if split_key in adata.obs:
        rows = np.flatnonzero((get_split(adata, split_key) == "train") & np.isfinite(y))
        if len(rows):
            return rows
    return np.arange(adata.n_obs)


def model_registry(
    adata: AnnData, *, sample, tracks, n_strata, alpha, beta, d_model, n_layers, use_sequence, covariates, seed,
    split_key: str = SPLIT_KEY,
) -> dict:
    """The registry of a new :class:`~prismtools.tl.Prism` (arguments checked as its constructor documents).

    :func:`build_registry` plus ``model`` (the model settings; ``alpha`` is 0 and ``intervene`` ``False`` when
    no tracks are selected) and ``covariate_mean``/``covariate_std`` over :func:`stats_genes`.
    """
    for name, val, low in (("n_strata", n_strata, 1), ("d_model", d_model, 1), ("n_layers", n_layers, 1)):
        if int(val) != val or val < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {val!r}.")
    for name, val in (("alpha", alpha), ("beta", beta)):
        if not (float(val) >= 0 and math.isfinite(float(val))):
            raise ValueError(f"{name} must be a finite number >= 0, got {val!r}.")
    reg = build_registry(adata, sample=sample, tracks=tracks, use_sequence=use_sequence, covariates=covariates)
    intervene = float(alpha) > 0
    if intervene and not reg["use_tracks"]:
        logger.warning(
            "No tracks selected: a sequence-only model has no signals to learn strata from; "
            "building the plain model (as alpha=0)."
        )
        intervene = False
    reg["model"] = {
        "n_strata": int(n_strata), "alpha": float(alpha) if intervene else 0.0, "beta": float(beta),
        "d_model": int(d_model), "n_layers": int(n_layers), "intervene": intervene, "seed": int(seed),
    }
    cov = read_covariates(adata, reg["covariates"])
    mean, std = covariate_stats(cov[stats_genes(adata, reg["sample"], split_key)])
    reg["covariate_mean"], reg["covariate_std"] = mean.tolist(), std.tolist()
    return reg
